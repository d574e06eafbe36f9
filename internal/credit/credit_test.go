package credit_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/credit"
	"channelhub/internal/database"
	"channelhub/internal/database/dbtest"
	"channelhub/internal/seed"
)

// A limit change waits for one in progress on the same line and sets the
// limit from where that one left it: two approvals in a row leave the second
// limit, not the sum of both changes.
func TestSetLimitWaitsForTheLine(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		_, err := seed.Demo(ctx, db, auth.NewPasswordHasher(auth.FastPasswordParams()))
		require.NoError(t, err)
		var hq, d1 uuid.UUID
		require.NoError(t, db.NewRaw(`SELECT id FROM parties WHERE code = 'HQ-ZJ'`).Scan(ctx, &hq))
		require.NoError(t, db.NewRaw(`SELECT id FROM parties WHERE code = 'D-0001'`).Scan(ctx, &d1))
		l := credit.Ledger{Now: func() time.Time { return time.Now().UTC() }}
		limit := func() int64 {
			var v int64
			require.NoError(t, db.NewRaw(`SELECT credit_limit FROM credit_accounts WHERE buyer_party_id = ? AND seller_party_id = ?`, d1, hq).Scan(ctx, &v))
			return v
		}
		was := limit()

		first, err := db.BeginTx(ctx, &sql.TxOptions{})
		require.NoError(t, err)
		_, err = l.SetLimit(ctx, first, d1, hq, was+100_00, credit.Source{Type: "TEST", ID: "first"})
		require.NoError(t, err)
		second := make(chan error, 1)
		go func() {
			second <- db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				_, err := l.SetLimit(ctx, tx, d1, hq, was+300_00, credit.Source{Type: "TEST", ID: "second"})
				return err
			})
		}()
		select {
		case err := <-second:
			t.Fatalf("the second change did not wait for the first: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		require.NoError(t, first.Commit())
		select {
		case err := <-second:
			require.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Fatal("the second change never finished")
		}
		require.Equal(t, was+300_00, limit(), "the second approval's limit")
		var deltas []int64
		require.NoError(t, db.NewRaw(`SELECT amount FROM credit_entries WHERE source_type = 'TEST' ORDER BY source_id`).Scan(ctx, &deltas))
		require.Equal(t, []int64{100_00, 200_00}, deltas, "each entry the change from the limit before it")
	})
}
