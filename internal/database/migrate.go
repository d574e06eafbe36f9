package database

import (
	"context"
	"fmt"

	"github.com/uptrace/bun/migrate"

	"channelhub/migrations"
)

// templateData gives each migration the column types of the dialect at hand.
type templateData struct {
	Dialect string
	UUID    string
	Time    string
	Float   string
}

func (d *DB) templateData() templateData {
	if d.IsPostgres() {
		return templateData{Dialect: Postgres, UUID: "uuid", Time: "timestamptz", Float: "double precision"}
	}
	return templateData{Dialect: SQLite, UUID: "TEXT", Time: "TIMESTAMP", Float: "REAL"}
}

// migrationLock is the PostgreSQL advisory lock key taken while migrating.
const migrationLock = 0x6368686d6967 // "chhmig"

// Migrate applies every pending migration. On PostgreSQL it holds an advisory
// lock meanwhile, so several instances starting together wait for one another
// instead of failing, and a crash leaves no stale lock behind (the lock dies
// with its connection). SQLite serves one instance and needs none.
func (d *DB) Migrate(ctx context.Context) (applied []string, err error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(migrations.FS); err != nil {
		return nil, fmt.Errorf("database: discover migrations: %w", err)
	}
	if d.IsPostgres() {
		conn, err := d.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("database: migration lock: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", migrationLock); err != nil {
			return nil, fmt.Errorf("database: migration lock: %w", err)
		}
		defer func() {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", migrationLock)
		}()
	}
	m := migrate.NewMigrator(d.DB, ms, migrate.WithTemplateData(d.templateData()), migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("database: init migrations: %w", err)
	}
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("database: migrate: %w", err)
	}
	for _, mig := range group.Migrations {
		applied = append(applied, mig.Name)
	}
	return applied, nil
}
