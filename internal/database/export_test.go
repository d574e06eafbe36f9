package database

import (
	"context"
	"io/fs"

	"github.com/uptrace/bun/migrate"
)

// MigrateFrom applies the migrations in fsys (a prefix of the real set, for
// upgrade tests) as Migrate would.
func (d *DB) MigrateFrom(ctx context.Context, fsys fs.FS) error {
	ms := migrate.NewMigrations()
	if err := ms.Discover(fsys); err != nil {
		return err
	}
	m := migrate.NewMigrator(d.DB, ms, migrate.WithTemplateData(d.templateData()), migrate.WithMarkAppliedOnSuccess(true))
	if err := m.Init(ctx); err != nil {
		return err
	}
	_, err := m.Migrate(ctx)
	return err
}
