// Package epoch keeps counters that change whenever what a cache holds may
// have changed. Writers bump a counter in the same transaction as their
// change; readers put the counter into their cache keys, so a committed
// change is never hidden behind a cached answer.
package epoch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"
)

// Catalog covers everything a buyer's catalogue and prices depend on: SKUs,
// categories, products, authorisation rules, price lists, promotions, party
// attributes and status, and salesman assignments.
const Catalog = "catalog"

// Bump advances counter name inside the caller's transaction. Watchers of
// it read the database from now on until well after the commit.
func Bump(ctx context.Context, db bun.IDB, name string) error {
	changing(name)
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

// Watcher answers Read from memory between changes, so a cached answer does
// not cost a statement for its key. A Bump anywhere in this process marks
// every Watcher of its counter changed before the bump commits; a changed
// Watcher reads the database on every call for dirtyFor (longer than any
// transaction that bumps), so the commit is seen at once. Other instances
// learn of a bump through Announce, which the server wires to its broker, and
// any value is read again after maxAge, which bounds an instance that missed
// an announcement.
type Watcher struct {
	db               bun.IDB
	name             string
	maxAge, dirtyFor time.Duration
	// Announce, when set, tells the other instances that the counter is
	// about to change; they call Changed.
	Announce func()

	mu         sync.Mutex
	val        int64
	readAt     time.Time
	dirtyUntil time.Time
}

var (
	watchersMu sync.Mutex
	watchers   = map[*Watcher]struct{}{}
)

// NewWatcher watches counter name; Close stops it.
func NewWatcher(db bun.IDB, name string, maxAge, dirtyFor time.Duration) *Watcher {
	w := &Watcher{db: db, name: name, maxAge: maxAge, dirtyFor: dirtyFor}
	watchersMu.Lock()
	watchers[w] = struct{}{}
	watchersMu.Unlock()
	return w
}

// Close stops w hearing this process's bumps.
func (w *Watcher) Close() {
	watchersMu.Lock()
	delete(watchers, w)
	watchersMu.Unlock()
}

// Read returns the counter, from memory when it is known not to have changed.
func (w *Watcher) Read(ctx context.Context) (int64, error) {
	now := time.Now()
	w.mu.Lock()
	if now.Before(w.dirtyUntil) || w.readAt.IsZero() || now.Sub(w.readAt) >= w.maxAge || now.Before(w.readAt) {
		w.mu.Unlock()
		n, err := Read(ctx, w.db, w.name)
		if err != nil {
			return 0, err
		}
		w.mu.Lock()
		w.val, w.readAt = n, now
		w.mu.Unlock()
		return n, nil
	}
	n := w.val
	w.mu.Unlock()
	return n, nil
}

// Changed makes w read the database for the next dirtyFor.
func (w *Watcher) Changed() {
	w.mu.Lock()
	w.dirtyUntil = time.Now().Add(w.dirtyFor)
	w.mu.Unlock()
}

// changing marks this process's watchers of name changed and announces it.
func changing(name string) {
	watchersMu.Lock()
	var ws []*Watcher
	for w := range watchers {
		if w.name == name {
			ws = append(ws, w)
		}
	}
	watchersMu.Unlock()
	for _, w := range ws {
		w.Changed()
		if w.Announce != nil {
			w.Announce()
		}
	}
}
