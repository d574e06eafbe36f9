package database_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"channelhub/internal/database"
	"channelhub/internal/database/dbtest"
)

// schemaOf lists "table.column" and "index table.name" entries of the migrated schema.
func schemaOf(t *testing.T, db *database.DB) []string {
	ctx := context.Background()
	var out []string
	var rows []struct {
		Table  string `bun:"t"`
		Column string `bun:"c"`
	}
	if db.IsPostgres() {
		require.NoError(t, db.NewRaw(`SELECT table_name AS t, column_name AS c FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name NOT LIKE 'bun_%'`).Scan(ctx, &rows))
		for _, r := range rows {
			out = append(out, r.Table+"."+r.Column)
		}
		rows = nil
		require.NoError(t, db.NewRaw(`SELECT tablename AS t, indexname AS c FROM pg_indexes
			WHERE schemaname = 'public' AND tablename NOT LIKE 'bun_%' AND indexname NOT LIKE '%_pkey'`).Scan(ctx, &rows))
	} else {
		require.NoError(t, db.NewRaw(`SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p
			WHERE m.type = 'table' AND m.name NOT LIKE 'bun_%' AND m.name NOT LIKE 'sqlite_%'`).Scan(ctx, &rows))
		for _, r := range rows {
			out = append(out, r.Table+"."+r.Column)
		}
		rows = nil
		require.NoError(t, db.NewRaw(`SELECT tbl_name AS t, name AS c FROM sqlite_master
			WHERE type = 'index' AND tbl_name NOT LIKE 'bun_%' AND name NOT LIKE 'sqlite_autoindex_%'`).Scan(ctx, &rows))
	}
	for _, r := range rows {
		out = append(out, "index "+r.Table+"."+r.Column)
	}
	sort.Strings(out)
	return out
}

func TestDialectsHaveTheSameSchema(t *testing.T) {
	schemas := map[string][]string{}
	for _, b := range dbtest.Backends(t) {
		schemas[b.Name] = schemaOf(t, dbtest.Open(t, b))
	}
	require.Contains(t, schemas[database.SQLite], "parties.path")
	require.Contains(t, schemas[database.SQLite], "index users.users_phone_key")
	if pg, ok := schemas[database.Postgres]; ok {
		require.Equal(t, schemas[database.SQLite], pg)
	} else {
		t.Log("PostgreSQL not configured: compared SQLite only")
	}
}

func TestMigrateTwiceAppliesNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		applied, err := db.Migrate(context.Background())
		require.NoError(t, err)
		require.Empty(t, applied)
	})
}

func TestOpenRejectsUnreachablePostgresWithoutLeakingPassword(t *testing.T) {
	t.Parallel()
	_, err := database.Open(context.Background(), "postgres://u:sup3rsecret@127.0.0.1:1/x?connect_timeout=1")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "sup3rsecret")
}

func TestOpenCreatesSQLiteDirectory(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir", "x.db")
	db, err := database.Open(context.Background(), "sqlite:"+path)
	require.NoError(t, err)
	defer db.Close()
	_, err = os.Stat(path)
	require.NoError(t, err)
}

// Instances starting together must wait for one another, not fail.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends(t) {
		if b.Name != database.Postgres {
			continue
		}
		dsn := b.DSN(t)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				db, err := database.Open(context.Background(), dsn)
				if err != nil {
					errs <- err
					return
				}
				defer db.Close()
				_, err = db.Migrate(context.Background())
				errs <- err
			}()
		}
		for range 4 {
			require.NoError(t, <-errs)
		}
	}
}

// Connections freed after a burst stay open for the next one: closing them
// would make PostgreSQL start a backend process per request under load.
func TestPoolKeepsConnectionsAfterBurst(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends(t) {
		if b.Name != database.Postgres {
			continue
		}
		db, err := database.Open(context.Background(), b.DSN(t))
		require.NoError(t, err)
		defer db.Close()
		db.SetPoolSize(32)
		ctx := context.Background()
		var conns []bun.Conn
		for range 32 {
			c, err := db.Conn(ctx)
			require.NoError(t, err)
			conns = append(conns, c)
		}
		for _, c := range conns {
			require.NoError(t, c.Close())
		}
		st := db.Stats()
		require.Zero(t, st.MaxIdleClosed, "connections closed on release")
		require.Equal(t, 32, st.Idle)
	}
}
