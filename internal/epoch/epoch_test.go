package epoch_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"channelhub/internal/database"
	"channelhub/internal/database/dbtest"
	"channelhub/internal/epoch"
)

// A Watcher answers from memory until a bump in this process, or Changed
// (another instance's announcement), or its maximum age.
func TestWatcher(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		w := epoch.NewWatcher(db, epoch.Catalog, 300*time.Millisecond, time.Minute)
		defer w.Close()
		announced := 0
		w.Announce = func() { announced++ }
		start, err := w.Read(ctx)
		require.NoError(t, err)

		// A write that bypasses Bump stays unseen until the maximum age.
		_, err = db.NewUpdate().Table("cache_epochs").Set("epoch = epoch + 1").Where("name = ?", epoch.Catalog).Exec(ctx)
		require.NoError(t, err)
		n, err := w.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, start, n, "answered from memory")
		time.Sleep(300 * time.Millisecond)
		n, err = w.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, start+1, n, "read again after its maximum age")

		// A bump is seen as soon as it commits.
		require.NoError(t, db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return epoch.Bump(ctx, tx, epoch.Catalog)
		}))
		n, err = w.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, start+2, n)
		require.Equal(t, 1, announced)

		// Changed (another instance announced a bump) makes it read again too.
		_, err = db.NewUpdate().Table("cache_epochs").Set("epoch = epoch + 1").Where("name = ?", epoch.Catalog).Exec(ctx)
		require.NoError(t, err)
		w.Changed()
		n, err = w.Read(ctx)
		require.NoError(t, err)
		require.Equal(t, start+3, n)
	})
}
