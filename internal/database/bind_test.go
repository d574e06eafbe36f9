package database_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"channelhub/internal/database"
	"channelhub/internal/database/dbtest"
)

type probe struct {
	bun.BaseModel `bun:"table:bind_probe,alias:bp"`
	ID            uuid.UUID `bun:"id,pk"`
	Name          string    `bun:"name"`
	N             int64     `bun:"n"`
}

// A bound statement answers what the same statement with inlined values
// does, call after call with other values; on PostgreSQL its text carries
// $n parameters only, so one prepared statement serves every call.
func TestScanBound(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx := context.Background()
		typ := "TEXT"
		if db.IsPostgres() {
			typ = "uuid"
		}
		_, err := db.ExecContext(ctx, "CREATE TABLE bind_probe (id "+typ+" PRIMARY KEY, name TEXT NOT NULL, n BIGINT NOT NULL)")
		require.NoError(t, err)
		var rows []probe
		for i := range 6 {
			rows = append(rows, probe{ID: uuid.Must(uuid.NewV7()), Name: string(rune('a' + i%2)), N: int64(i)})
		}
		_, err = db.NewInsert().Model(&rows).Exec(ctx)
		require.NoError(t, err)

		query := func(name string, min int64, ids []uuid.UUID) (*database.Binds, *bun.SelectQuery, *[]probe) {
			b := db.Binds()
			var got []probe
			return b, db.NewSelect().Model(&got).Where("bp.id IN (?)", b.UUIDs(ids)).
				Where("bp.name = ? AND ? <= bp.n", b.Vs([]any{name, min})...).Where("? = ?", bun.Ident("bp.name"), b.V(name)).OrderExpr("bp.n"), &got
		}
		if db.IsPostgres() {
			var mode string
			require.NoError(t, db.NewRaw("SHOW plan_cache_mode").Scan(ctx, &mode))
			require.Equal(t, "force_generic_plan", mode, "a bound statement is planned once per connection")
		}
		var text string
		for _, c := range []struct {
			name string
			min  int64
			ids  []uuid.UUID
			want []int64
		}{
			{"a", 0, []uuid.UUID{rows[0].ID, rows[1].ID, rows[2].ID}, []int64{0, 2}},
			{"b", 2, []uuid.UUID{rows[1].ID, rows[3].ID, rows[5].ID}, []int64{3, 5}},
			{"a", 5, []uuid.UUID{rows[0].ID, rows[4].ID}, nil},
			{"b", 0, []uuid.UUID{uuid.Must(uuid.NewV7())}, nil},
		} {
			b, q, got := query(c.name, c.min, c.ids)
			require.NoError(t, db.ScanBound(ctx, q, b))
			var ns []int64
			for _, r := range *got {
				ns = append(ns, r.N)
			}
			require.Equal(t, c.want, ns, c)
			if db.IsPostgres() {
				require.NotContains(t, q.String(), c.ids[0].String(), "values travel as parameters")
				if text != "" {
					require.Equal(t, text, q.String(), "one text for every call")
				}
				text = q.String()
			}
			var into []probe // an explicit destination
			b, q, _ = query(c.name, c.min, c.ids)
			require.NoError(t, db.ScanBound(ctx, q, b, &into))
			require.Len(t, into, len(c.want))
		}
	})
}
