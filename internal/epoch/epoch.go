// Package epoch keeps counters that change whenever what a cache holds may
// have changed. Writers bump a counter in the same transaction as their
// change; readers put the counter into their cache keys, so a committed
// change is never hidden behind a cached answer.
package epoch

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
)

// Catalog covers everything a buyer's catalogue and prices depend on: SKUs,
// categories, products, authorisation rules, price lists, promotions, party
// attributes and status, and salesman assignments.
const Catalog = "catalog"

// Bump advances counter name inside the caller's transaction.
func Bump(ctx context.Context, db bun.IDB, name string) error {
	if _, err := db.NewUpdate().Table("cache_epochs").Set("epoch = epoch + 1").Where("name = ?", name).Exec(ctx); err != nil {
		return fmt.Errorf("epoch: bump %s: %w", name, err)
	}
	return nil
}

// Read returns counter name.
func Read(ctx context.Context, db bun.IDB, name string) (int64, error) {
	var n int64
	if err := db.NewSelect().Table("cache_epochs").Column("epoch").Where("name = ?", name).Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("epoch: read %s: %w", name, err)
	}
	return n, nil
}
