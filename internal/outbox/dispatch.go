package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/database"
)

// Handler takes one event. An error (or a panic) means "try again later";
// handlers must tolerate seeing an event twice (delivery is at least once).
type Handler func(ctx context.Context, e *Event) error

// BatchHandler takes a whole claimed batch at once, so it can spend one round
// trip on many events; it answers one error per event (nil: handled). A
// panic, or an answer of the wrong length, fails every event of the batch.
type BatchHandler func(ctx context.Context, events []*Event) []error

// Dispatcher claims pending events in batches, hands them to every batch
// handler and then each to every handler, retries failures with backoff and
// parks an event after MaxAttempts. On PostgreSQL any number of instances may
// run one: claims skip rows another instance holds and lease them for Lease.
// The instance whose request committed an event calls Wake, so the poll only
// picks up what other writers (background jobs, an instance that died) left.
// No NOTIFY: PostgreSQL serialises every notifying commit on one cluster-wide
// lock held through the WAL flush, which capped order throughput.
type Dispatcher struct {
	DB          *database.DB
	Batches     []BatchHandler // run first: real-time publishing must not wait behind slower handlers
	Handlers    []Handler
	Log         *slog.Logger
	Batch       int           // events per claim (100)
	MaxAttempts int           // then parked (10)
	Lease       time.Duration // a claimed event is invisible to others this long (30 s)
	Poll        time.Duration // idle wait between claims (100 ms)
	Retention   time.Duration // delivered events are kept this long (7 days)
	Now         func() time.Time
	// Observe, when set, is told of each outcome: "delivered", "retry" or "parked".
	Observe func(outcome string)

	wakeOnce sync.Once
	wake     chan struct{}
}

func (d *Dispatcher) defaults() {
	if d.Batch == 0 {
		d.Batch = 100
	}
	if d.MaxAttempts == 0 {
		d.MaxAttempts = 10
	}
	if d.Lease == 0 {
		d.Lease = 30 * time.Second
	}
	if d.Poll == 0 {
		d.Poll = 100 * time.Millisecond
	}
	if d.Retention == 0 {
		d.Retention = 7 * 24 * time.Hour
	}
	if d.Now == nil {
		d.Now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
}

func (d *Dispatcher) wakes() chan struct{} {
	d.wakeOnce.Do(func() { d.wake = make(chan struct{}, 1) })
	return d.wake
}

// Wake makes a waiting Run claim at once instead of at its next poll.
func (d *Dispatcher) Wake() {
	select {
	case d.wakes() <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	d.defaults()
	clean := time.NewTicker(time.Hour)
	defer clean.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n, err := d.Once(ctx)
		if err != nil && ctx.Err() == nil {
			d.Log.ErrorContext(ctx, "outbox: dispatch", "err", err)
		}
		wait := d.Poll
		if n == d.Batch {
			wait = 0 // more may be waiting
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-clean.C:
			if _, err := d.Clean(ctx); err != nil && ctx.Err() == nil {
				d.Log.ErrorContext(ctx, "outbox: clean", "err", err)
			}
		case <-d.wakes():
		case <-timer.C:
		}
	}
}

// Once claims one batch and dispatches it; it returns how many it claimed.
func (d *Dispatcher) Once(ctx context.Context) (int, error) {
	d.defaults()
	events, err := d.claim(ctx)
	if err != nil {
		return 0, err
	}
	var delivered []uuid.UUID
	errs := d.handleBatch(ctx, events)
	for i, e := range events {
		if ctx.Err() != nil {
			break
		}
		err := errors.Join(errs[i], d.handle(ctx, e))
		if ctx.Err() != nil {
			break // the lease runs out and another claim retries what is left
		}
		if err == nil {
			delivered = append(delivered, e.ID)
			continue
		}
		if err := d.settle(ctx, e, err); err != nil {
			return len(events), err
		}
	}
	// One statement (one commit) for the batch's deliveries, not one per event.
	if len(delivered) > 0 {
		if _, err := d.DB.NewUpdate().Model((*Event)(nil)).Set("delivered_at = ?, last_error = ''", d.Now()).
			Where("id IN (?)", bun.List(delivered)).Exec(context.WithoutCancel(ctx)); err != nil {
			return len(events), fmt.Errorf("outbox: settle: %w", err)
		}
		if d.Observe != nil {
			for range delivered {
				d.Observe("delivered")
			}
		}
	}
	return len(events), ctx.Err()
}

// claim leases a batch of due events: each claim counts as an attempt.
func (d *Dispatcher) claim(ctx context.Context) ([]*Event, error) {
	now := d.Now()
	pick := d.DB.NewSelect().Model((*Event)(nil)).Column("oe.id").
		Where("oe.delivered_at IS NULL AND oe.parked_at IS NULL AND oe.next_attempt_at <= ?", now).
		OrderExpr("oe.next_attempt_at, oe.id").Limit(int64(d.Batch))
	if d.DB.IsPostgres() {
		pick = pick.For("UPDATE SKIP LOCKED")
	}
	var events []*Event
	err := d.DB.NewRaw(`UPDATE outbox_events SET attempts = attempts + 1, next_attempt_at = ? WHERE id IN (?) RETURNING *`,
		now.Add(d.Lease), pick).Scan(ctx, &events)
	if err != nil {
		return nil, fmt.Errorf("outbox: claim: %w", err)
	}
	// RETURNING gives no order: deliver in commit order, as written.
	sortEvents(events)
	return events, nil
}

// handleBatch runs the batch handlers; its answer has one error per event.
func (d *Dispatcher) handleBatch(ctx context.Context, events []*Event) []error {
	errs := make([]error, len(events))
	for _, h := range d.Batches {
		res, err := runBatch(ctx, h, events)
		for i := range events {
			if err != nil {
				errs[i] = errors.Join(errs[i], err)
			} else {
				errs[i] = errors.Join(errs[i], res[i])
			}
		}
	}
	return errs
}

func runBatch(ctx context.Context, h BatchHandler, events []*Event) (res []error, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("outbox: batch handler panicked: %v", r)
		}
	}()
	if len(events) == 0 {
		return nil, nil
	}
	res = h(ctx, events)
	if len(res) != len(events) {
		return nil, fmt.Errorf("outbox: batch handler answered %d results for %d events", len(res), len(events))
	}
	return res, nil
}

func (d *Dispatcher) handle(ctx context.Context, e *Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("outbox: handler panicked: %v", r)
		}
	}()
	var errs []error
	for _, h := range d.Handlers {
		if err := h(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// settle records a failure: retried after a backoff, or parked.
func (d *Dispatcher) settle(ctx context.Context, e *Event, herr error) error {
	now := d.Now()
	q := d.DB.NewUpdate().Model((*Event)(nil)).Where("id = ?", e.ID)
	var outcome string
	switch {
	case e.Attempts >= d.MaxAttempts:
		outcome = "parked"
		q = q.Set("parked_at = ?, last_error = ?", now, truncate(herr.Error()))
		d.Log.ErrorContext(ctx, "outbox: event parked", "id", e.ID, "type", e.Type, "attempts", e.Attempts, "err", herr)
	default:
		outcome = "retry"
		q = q.Set("next_attempt_at = ?, last_error = ?", now.Add(Backoff(e.Attempts)), truncate(herr.Error()))
		d.Log.WarnContext(ctx, "outbox: event failed, will retry", "id", e.ID, "type", e.Type, "attempts", e.Attempts, "err", herr)
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("outbox: settle: %w", err)
	}
	if d.Observe != nil {
		d.Observe(outcome)
	}
	return nil
}

// Backoff is the wait before attempt n+1: 1 s doubling, at most 10 min.
func Backoff(attempts int) time.Duration {
	d := time.Second << min(attempts-1, 10)
	return min(d, 10*time.Minute)
}

func truncate(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}

// Clean deletes delivered events older than the retention, in bounded batches.
func (d *Dispatcher) Clean(ctx context.Context) (int64, error) {
	d.defaults()
	var total int64
	for range 100 {
		old := d.DB.NewSelect().Model((*Event)(nil)).Column("oe.id").
			Where("oe.delivered_at < ?", d.Now().Add(-d.Retention)).Limit(1000)
		res, err := d.DB.NewDelete().Model((*Event)(nil)).Where("id IN (?)", old).Exec(ctx)
		if err != nil {
			return total, fmt.Errorf("outbox: clean: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		if n < 1000 {
			break
		}
	}
	return total, nil
}

// Parked lists parked events, newest first (at most limit), for HQ admins.
func Parked(ctx context.Context, db bun.IDB, limit int) ([]*Event, error) {
	var out []*Event
	if err := db.NewSelect().Model(&out).Where("oe.parked_at IS NOT NULL").OrderExpr("oe.parked_at DESC, oe.id DESC").
		Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("outbox: parked: %w", err)
	}
	return out, nil
}

// CountParked counts parked events, for /metrics.
func CountParked(ctx context.Context, db bun.IDB) (int, error) {
	n, err := db.NewSelect().Model((*Event)(nil)).Where("oe.parked_at IS NOT NULL").Count(ctx)
	return int(n), err
}

// Retry puts a parked event back in the queue with a fresh count of attempts.
func Retry(ctx context.Context, db bun.IDB, id any, now time.Time) (bool, error) {
	res, err := db.NewUpdate().Model((*Event)(nil)).Set("parked_at = NULL, attempts = 0, next_attempt_at = ?", now).
		Where("id = ? AND parked_at IS NOT NULL", id).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("outbox: retry: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

func sortEvents(events []*Event) {
	slices.SortFunc(events, func(a, b *Event) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
}
