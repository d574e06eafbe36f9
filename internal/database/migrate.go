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

// Migrate applies every pending migration under the migrator's lock, so several
// instances starting at once apply each migration exactly once.
func (d *DB) Migrate(ctx context.Context) (applied []string, err error) {
	ms := migrate.NewMigrations()
	if err := ms.Discover(migrations.FS); err != nil {
		return nil, fmt.Errorf("database: discover migrations: %w", err)
	}
	m := migrate.NewMigrator(d.DB, ms, migrate.WithTemplateData(d.templateData()), migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("database: init migrations: %w", err)
	}
	if err := m.Lock(ctx); err != nil {
		return nil, fmt.Errorf("database: lock migrations: %w", err)
	}
	defer func() {
		if uerr := m.Unlock(ctx); uerr != nil && err == nil {
			err = fmt.Errorf("database: unlock migrations: %w", uerr)
		}
	}()
	group, err := m.Migrate(ctx)
	if err != nil {
		return nil, fmt.Errorf("database: migrate: %w", err)
	}
	for _, mig := range group.Migrations {
		applied = append(applied, mig.Name)
	}
	return applied, nil
}
