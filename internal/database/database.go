// Package database opens bun on PostgreSQL or SQLite and applies the migrations.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/sqliteshim"
	"github.com/uptrace/bun/schema"
)

// Dialect names as used by the migration templates.
const (
	Postgres = "pg"
	SQLite   = "sqlite"
)

// DB is bun's handle plus what the rest of the program needs to know about it.
type DB struct {
	*bun.DB
	DialectName string
	queries     atomic.Int64
}

// Queries reports how many SQL statements this handle has run; tests use it to
// prove that a page costs a constant number of queries.
func (d *DB) Queries() int64 { return d.queries.Load() }

// IsPostgres tells callers when a PostgreSQL-only clause (row locks) applies.
func (d *DB) IsPostgres() bool { return d.DialectName == Postgres }

// Open connects to dsn: a postgres:// URL, or an SQLite file path (optionally
// prefixed with "sqlite:"). SQLite runs with WAL, a busy timeout, foreign keys
// on and immediate write transactions, so concurrent writers queue rather than fail.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var (
		sqldb   *sql.DB
		dialect schema.Dialect
		name    string
		err     error
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		name = Postgres
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("database: parse postgres url: %w", redact(err, dsn))
		}
		// bun writes the arguments into the SQL text, so every statement is
		// new to pgx: its default mode would prepare (one more round trip and
		// parse) and cache each of them. The simple protocol sends it once.
		if !strings.Contains(dsn, "default_query_exec_mode=") {
			cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		}
		// Only QueryCached's statements are prepared, and they are prepared
		// because they run on every request: plan each once, not per call as
		// PostgreSQL otherwise keeps doing when it guesses a custom plan is cheaper.
		if _, set := cfg.RuntimeParams["plan_cache_mode"]; !set {
			cfg.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
		}
		sqldb = stdlib.OpenDB(*cfg)
		setPoolSize(sqldb, 40)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		dialect = pgdialect.New()
	default:
		name = SQLite
		path := strings.TrimPrefix(dsn, "sqlite:")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("database: create directory for sqlite: %w", err)
			}
		}
		sqldb, err = sql.Open(sqliteshim.ShimName, "file:"+path+
			"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("database: open sqlite: %w", err)
		}
		sqldb.SetMaxOpenConns(8)
		dialect = sqlitedialect.New()
	}
	d := &DB{DialectName: name}
	d.DB = bun.NewDB(sqldb, dialect).WithQueryHook(counter{&d.queries})
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.PingContext(pingCtx); err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("database: connect %s: %w", name, redact(err, dsn))
	}
	return d, nil
}

// SetPoolSize caps the connections to PostgreSQL at n and keeps all of them
// when idle.
func (d *DB) SetPoolSize(n int) { setPoolSize(d.DB.DB, n) }

// setPoolSize keeps as many idle connections as open ones: a pool that closes
// those above a lower idle cap makes PostgreSQL start a backend process for
// nearly every request once more requests run at once than the cap.
func setPoolSize(db *sql.DB, n int) {
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
}

// redact keeps a DSN's password out of an error message.
func redact(err error, dsn string) error {
	msg := err.Error()
	if i := strings.Index(dsn, "://"); i >= 0 {
		if j := strings.Index(dsn[i+3:], "@"); j >= 0 {
			if k := strings.Index(dsn[i+3:i+3+j], ":"); k >= 0 {
				pw := dsn[i+3+k+1 : i+3+j]
				if pw != "" {
					msg = strings.ReplaceAll(msg, pw, "***")
				}
			}
		}
	}
	return errors.New(msg)
}

type counter struct{ n *atomic.Int64 }

func (c counter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	if ctx.Value(uncountedKey{}) == nil {
		c.n.Add(1)
	}
	return ctx
}

type uncountedKey struct{}

// Uncounted marks ctx's queries as background work that Queries leaves out,
// so a request's count is not disturbed by a poller running beside it.
func Uncounted(ctx context.Context) context.Context {
	return context.WithValue(ctx, uncountedKey{}, true)
}

func (counter) AfterQuery(context.Context, *bun.QueryEvent) {}

// IsUniqueViolation reports whether err came from a unique constraint, on either dialect.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "UNIQUE constraint failed")
}

// IsForeignKeyViolation reports whether err came from a foreign key constraint.
func IsForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23503") || strings.Contains(msg, "FOREIGN KEY constraint failed")
}

// IsCheckViolation reports whether err came from a CHECK constraint.
func IsCheckViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLSTATE 23514") || strings.Contains(msg, "CHECK constraint failed")
}

// IsDeadlock reports whether PostgreSQL aborted err's transaction to break a deadlock.
func IsDeadlock(err error) bool {
	return err != nil && strings.Contains(err.Error(), "SQLSTATE 40P01")
}

// ExecFormatted runs a statement whose values bun has already inlined (a
// query's String()), as it is and in one round trip, counted like any other.
func (d *DB) ExecFormatted(ctx context.Context, query string) (sql.Result, error) {
	if ctx.Value(uncountedKey{}) == nil {
		d.queries.Add(1)
	}
	return d.DB.DB.ExecContext(ctx, query)
}

// QueryCached runs a PostgreSQL statement with $n placeholders for args, as a
// prepared statement kept on each connection: a hot lookup then skips
// PostgreSQL's planning, which costs more than the lookup itself. Counted
// like any other. PostgreSQL only.
func (d *DB) QueryCached(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if ctx.Value(uncountedKey{}) == nil {
		d.queries.Add(1)
	}
	return d.DB.DB.QueryContext(ctx, query, append([]any{pgx.QueryExecModeCacheStatement}, args...)...)
}

// QueryRowFormatted is ExecFormatted for a statement that returns a row.
func (d *DB) QueryRowFormatted(ctx context.Context, query string) *sql.Row {
	if ctx.Value(uncountedKey{}) == nil {
		d.queries.Add(1)
	}
	return d.DB.DB.QueryRowContext(ctx, query)
}
