package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"channelhub/internal/database"
	"channelhub/internal/database/dbtest"
	"channelhub/internal/outbox"
)

func addEvents(t *testing.T, db *database.DB, n int, at time.Time) []*outbox.Event {
	t.Helper()
	var evs []*outbox.Event
	for i := range n {
		e, err := outbox.New("test:"+fmt.Sprint(i%3), "Test", fmt.Sprint(i), "test.happened", map[string]int{"i": i}, at)
		require.NoError(t, err)
		evs = append(evs, e)
	}
	require.NoError(t, outbox.Add(context.Background(), db, evs...))
	return evs
}

// recorder is a handler that remembers what it saw and fails as told.
type recorder struct {
	mu   sync.Mutex
	seen map[uuid.UUID]int
	fail func(e *outbox.Event) error
}

func (r *recorder) handle(_ context.Context, e *outbox.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[uuid.UUID]int{}
	}
	r.seen[e.ID]++
	if r.fail != nil {
		return r.fail(e)
	}
	return nil
}

func state(t *testing.T, db *database.DB, id uuid.UUID) *outbox.Event {
	t.Helper()
	e := new(outbox.Event)
	require.NoError(t, db.NewSelect().Model(e).Where("id = ?", id).Scan(context.Background()))
	return e
}

func TestDispatchDeliversInOrderOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		now := time.Now().UTC().Truncate(time.Microsecond)
		evs := addEvents(t, db, 7, now.Add(-time.Second))
		var order []string
		d := &outbox.Dispatcher{DB: db, Batch: 5, Handlers: []outbox.Handler{func(_ context.Context, e *outbox.Event) error {
			order = append(order, e.AggregateID)
			return nil
		}}}
		n, err := d.Once(context.Background())
		require.NoError(t, err)
		require.Equal(t, 5, n)
		n, err = d.Once(context.Background())
		require.NoError(t, err)
		require.Equal(t, 2, n)
		n, err = d.Once(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "delivered events are not claimed again")
		require.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6"}, order)
		require.NotNil(t, state(t, db, evs[0].ID).DeliveredAt)
	})
}

func TestDispatchRetriesAndParks(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		clock := time.Now().UTC().Truncate(time.Microsecond)
		evs := addEvents(t, db, 2, clock.Add(-time.Second))
		panicky := evs[1].ID
		rec := &recorder{fail: func(e *outbox.Event) error {
			if e.ID == panicky {
				panic("handler bug")
			}
			return errors.New("downstream down")
		}}
		var outcomes []string
		d := &outbox.Dispatcher{DB: db, MaxAttempts: 3, Handlers: []outbox.Handler{rec.handle},
			Now: func() time.Time { return clock }, Observe: func(o string) { outcomes = append(outcomes, o) }}
		for attempt := 1; attempt <= 3; attempt++ {
			n, err := d.Once(context.Background())
			require.NoError(t, err, "a failing or panicking handler does not stop the dispatcher")
			require.Equal(t, 2, n)
			e := state(t, db, evs[0].ID)
			require.Equal(t, attempt, e.Attempts)
			require.Equal(t, "downstream down", e.LastError)
			n, err = d.Once(context.Background())
			require.NoError(t, err)
			require.Zero(t, n, "not due before its backoff")
			clock = clock.Add(outbox.Backoff(attempt) + time.Millisecond)
		}
		require.Equal(t, []string{"retry", "retry", "retry", "retry", "parked", "parked"}, outcomes)
		require.NotNil(t, state(t, db, evs[0].ID).ParkedAt)
		require.Contains(t, state(t, db, panicky).LastError, "handler bug")
		parked, err := outbox.Parked(context.Background(), db, 10)
		require.NoError(t, err)
		require.Len(t, parked, 2)
		n, err := outbox.CountParked(context.Background(), db)
		require.NoError(t, err)
		require.Equal(t, 2, n)

		// an HQ admin puts one back; the downstream has recovered
		ok, err := outbox.Retry(context.Background(), db, evs[0].ID, clock)
		require.NoError(t, err)
		require.True(t, ok)
		rec.fail = nil
		claimed, err := d.Once(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, claimed)
		require.NotNil(t, state(t, db, evs[0].ID).DeliveredAt)

		// retention
		d.Retention = time.Hour
		clock = clock.Add(2 * time.Hour)
		gone, err := d.Clean(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 1, gone)
	})
}

// Several dispatchers on one PostgreSQL never hand one event to two of them
// in one round (SKIP LOCKED and the lease).
func TestDispatchConcurrentClaims(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		if !db.IsPostgres() {
			t.Skip("SQLite runs one dispatcher per process")
		}
		addEvents(t, db, 300, time.Now().UTC().Add(-time.Second))
		rec := &recorder{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				d := &outbox.Dispatcher{DB: db, Batch: 20, Handlers: []outbox.Handler{rec.handle}}
				for range 100 {
					if n, err := d.Once(context.Background()); err != nil || n == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		require.Len(t, rec.seen, 300)
		for id, n := range rec.seen {
			require.Equal(t, 1, n, "event %s delivered %d times", id, n)
		}
	})
}

// Batch handlers see the whole claimed batch before the per-event handlers
// run; an event fails when either fails, and a panicking batch handler fails
// the batch, which is retried, without stopping the dispatcher.
func TestDispatchBatchHandlers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		clock := time.Now().UTC().Truncate(time.Microsecond)
		evs := addEvents(t, db, 4, clock.Add(-time.Second))
		var calls [][]string
		var steps []string
		mode := "fail-second"
		batch := func(_ context.Context, events []*outbox.Event) []error {
			var ids []string
			for _, e := range events {
				ids = append(ids, e.AggregateID)
			}
			calls = append(calls, ids)
			steps = append(steps, "batch")
			switch mode {
			case "panic":
				panic("publisher bug")
			case "short":
				return nil
			}
			errs := make([]error, len(events))
			for i, e := range events {
				if mode == "fail-second" && e.ID == evs[1].ID {
					errs[i] = errors.New("broker down")
				}
			}
			return errs
		}
		rec := &recorder{}
		d := &outbox.Dispatcher{DB: db, Now: func() time.Time { return clock },
			Batches: []outbox.BatchHandler{batch},
			Handlers: []outbox.Handler{func(ctx context.Context, e *outbox.Event) error {
				steps = append(steps, "event")
				return rec.handle(ctx, e)
			}}}
		n, err := d.Once(context.Background())
		require.NoError(t, err)
		require.Equal(t, 4, n)
		require.Equal(t, [][]string{{"0", "1", "2", "3"}}, calls, "one call, in commit order")
		require.Equal(t, []string{"batch", "event", "event", "event", "event"}, steps)
		require.NotNil(t, state(t, db, evs[0].ID).DeliveredAt)
		failed := state(t, db, evs[1].ID)
		require.Nil(t, failed.DeliveredAt)
		require.Equal(t, "broker down", failed.LastError)

		for _, m := range []string{"panic", "short"} {
			mode = m
			clock = clock.Add(outbox.Backoff(failed.Attempts) + time.Millisecond)
			n, err = d.Once(context.Background())
			require.NoError(t, err, "%s: the dispatcher lives on", m)
			require.Equal(t, 1, n)
			failed = state(t, db, evs[1].ID)
			require.Nil(t, failed.DeliveredAt, m)
		}
		require.Contains(t, failed.LastError, "answered 0 results for 1 events")
		mode = "ok"
		clock = clock.Add(outbox.Backoff(failed.Attempts) + time.Millisecond)
		n, err = d.Once(context.Background())
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.NotNil(t, state(t, db, evs[1].ID).DeliveredAt)
		require.Equal(t, 4, state(t, db, evs[1].ID).Attempts)
		require.Equal(t, 4, rec.seen[evs[1].ID], "at least once: the event handlers ran on every attempt")
	})
}

// Wake after a commit makes a waiting dispatcher deliver at once, long
// before its (here one minute) poll; without it the event waits.
func TestDispatchWakesOnCommit(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db *database.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		delivered := make(chan uuid.UUID, 10)
		d := &outbox.Dispatcher{DB: db, Poll: time.Minute,
			Handlers: []outbox.Handler{func(_ context.Context, e *outbox.Event) error {
				delivered <- e.ID
				return nil
			}}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			d.Run(ctx)
		}()
		defer func() {
			cancel()
			<-done
		}()
		add := func(i int) *outbox.Event {
			tx, err := db.BeginTx(ctx, nil)
			require.NoError(t, err)
			e, err := outbox.New("test:wake", "Test", fmt.Sprint(i), "test.happened", map[string]int{"i": i}, time.Now().UTC().Add(-time.Second))
			require.NoError(t, err)
			require.NoError(t, outbox.Add(ctx, tx, e))
			require.NoError(t, tx.Commit())
			return e
		}
		// The first claim runs at once; after it the dispatcher sleeps.
		time.Sleep(200 * time.Millisecond)
		add(-1)
		select {
		case <-delivered:
			t.Fatal("an event was delivered without a wake, before the poll")
		case <-time.After(300 * time.Millisecond):
		}
		d.Wake()
		select {
		case <-delivered:
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting event was not delivered after Wake")
		}
		for i := range 3 {
			e := add(i)
			d.Wake()
			select {
			case id := <-delivered:
				require.Equal(t, e.ID, id)
			case <-time.After(5 * time.Second):
				t.Fatalf("event %d not delivered within 5 s of Wake", i)
			}
		}
	})
}
