package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"

	"channelhub/internal/auth"
	"channelhub/internal/broker"
	"channelhub/internal/database"
	"channelhub/internal/wsgql"
)

// Subscriber is what subscriptions need of the broker.
type Subscriber interface {
	SubscribeTo(ctx context.Context, r broker.Receiver, topics ...string) error
}

// MaxSubscriptions caps the subscriptions of one socket.
const MaxSubscriptions = 100

// followBuffer is how many messages a subscription holds while its reader
// (the socket) is slow; beyond it they are dropped for one Gap.
const followBuffer = 16

var errTooManySubscriptions = errors.New("graph: too many subscriptions on one connection")

type subCountKey struct{}

// follow subscribes to topics and turns each message into a value with next,
// read after the change committed. next answers ok=false to skip a message
// and an error to end the subscription (the object left the viewer's scope).
//
// An idle subscription costs no goroutine: one starts when a message
// arrives and ends when the queue is empty, and the WebSocket transport
// reads out only when told a value is there (wsgql.Stream), so it holds
// none either. Subscriptions of this process
// that would read the same thing for the same delivery share one call of
// next: the same root field and arguments, for viewers who see the same rows
// (sharer). Ten phones following one order cost one read per change.
func follow[T any](ctx context.Context, b Subscriber, topics []string, next func(m broker.Message) (T, bool, error)) (<-chan T, error) {
	count, _ := ctx.Value(subCountKey{}).(*atomic.Int32)
	if count != nil && count.Add(1) > MaxSubscriptions {
		count.Add(-1)
		return nil, errTooManySubscriptions
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &follower[T]{ctx: ctx, cancel: cancel, next: next, who: sharer(ctx), out: make(chan T, 1), count: count}
	stream := wsgql.StreamFrom(ctx)
	if stream != nil {
		f.ready = stream.Ready
	}
	if err := b.SubscribeTo(ctx, f, topics...); err != nil {
		f.mu.Lock()
		f.finish()
		f.mu.Unlock()
		return nil, err
	}
	if stream != nil {
		stream.Push()
	}
	return f.out, nil
}

// follower is one subscription's queue between the broker and gqlgen.
type follower[T any] struct {
	ctx    context.Context
	cancel context.CancelFunc
	next   func(m broker.Message) (T, bool, error)
	who    string
	out    chan T
	count  *atomic.Int32
	ready  func() // after each send on out and after closing it (wsgql.Stream), if set

	mu       sync.Mutex
	queue    []broker.Message // at most followBuffer, then one Gap
	gapped   bool             // the last queued is an overflow Gap
	running  bool             // a drain goroutine owns the queue and sends on out
	ended    bool             // the broker ended the subscription
	finished bool             // out is closed
}

// Deliver queues m and starts a drain unless one runs. It never blocks.
func (f *follower[T]) Deliver(m broker.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.finished:
		return
	case len(f.queue) < followBuffer:
		f.queue = append(f.queue, m)
		f.gapped = false
	case !f.gapped:
		f.queue = append(f.queue, broker.Message{Gap: true})
		f.gapped = true
	}
	if !f.running {
		f.running = true
		go f.drain()
	}
}

// End: out closes once the queue is drained.
func (f *follower[T]) End() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = true
	if !f.running {
		f.finish()
	}
}

// finish closes out and gives the socket's slot back; f.mu is held and no
// drain runs.
func (f *follower[T]) finish() {
	if f.finished {
		return
	}
	f.finished = true
	f.queue = nil
	close(f.out)
	f.notify()
	f.cancel()
	if f.count != nil {
		f.count.Add(-1)
	}
}

// drain reads and sends the queued messages in order, then exits.
func (f *follower[T]) drain() {
	for {
		f.mu.Lock()
		if len(f.queue) == 0 || f.ctx.Err() != nil {
			f.running = false
			f.queue = nil // an idle subscription holds no buffer
			if f.ended || f.ctx.Err() != nil {
				f.finish()
			}
			f.mu.Unlock()
			return
		}
		m := f.queue[0]
		f.queue = f.queue[1:]
		f.gapped = f.gapped && len(f.queue) > 0
		f.mu.Unlock()

		v, ok, err := shareRead(f.ctx, m, f.who, f.next)
		if err != nil {
			f.mu.Lock()
			f.running = false
			f.finish() // the broker's End comes later and finds out closed
			f.mu.Unlock()
			return
		}
		if !ok {
			continue
		}
		select {
		case f.out <- v:
			f.notify()
		case <-f.ctx.Done():
		}
	}
}

// notify tells the transport that out has a value or is closed; it never
// blocks.
func (f *follower[T]) notify() {
	if f.ready != nil {
		f.ready()
	}
}

// shareRead is next(m), or the result of the same read another subscription
// made for this delivery.
func shareRead[T any](ctx context.Context, m broker.Message, who string, next func(m broker.Message) (T, bool, error)) (T, bool, error) {
	if m.Seq == 0 || who == "" {
		return next(m)
	}
	v, ok, err := reads.do(readKey{seq: m.Seq, who: who}, func() (any, bool, error) { return next(m) })
	if err != nil && ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return next(m) // the socket that read went away meanwhile, this one did not
	}
	t, _ := v.(T)
	return t, ok, err
}

// sharer names the read a subscription makes for each message: its root
// field and arguments and whom it reads for. Order reads are scoped by
// order.scope (party.Scope), which reads only the roles, the party and its
// path, and for salesmen the user; any other read is shared only by one user
// signed in with the same roles.
func sharer(ctx context.Context) string {
	fc := graphql.GetFieldContext(ctx)
	p, err := auth.FromContext(ctx)
	if fc == nil || fc.Field.Field == nil || err != nil {
		return ""
	}
	roles := slices.Clone(p.Roles)
	slices.Sort(roles)
	var who string
	switch fc.Field.Name {
	case "orderUpdated", "myOrdersUpdated":
		who = fmt.Sprint(roles, p.PartyID, p.PartyPath)
		if p.Has(auth.RoleSalesman) {
			who += " " + p.UserID.String()
		}
	default:
		who = fmt.Sprint(roles, p.PartyID, p.PartyPath, p.UserID)
	}
	return fmt.Sprint(fc.Field.Name, fc.Args, who)
}

// reads holds the reads of recent deliveries, for shareRead.
var reads = &memo{calls: map[readKey]*readCall{}}

// readTTL bounds how long a read is kept for subscriptions that come to its
// delivery late; a later one reads afresh.
const readTTL = 5 * time.Second

type readKey struct {
	seq uint64
	who string
}

type readCall struct {
	done chan struct{}
	at   time.Time
	v    any
	ok   bool
	err  error
}

type memo struct {
	mu    sync.Mutex
	calls map[readKey]*readCall
	swept time.Time
}

// do runs read once per key; callers of a key in flight wait for its result.
func (m *memo) do(k readKey, read func() (any, bool, error)) (any, bool, error) {
	now := time.Now()
	m.mu.Lock()
	if now.Sub(m.swept) > readTTL {
		for k, c := range m.calls {
			if now.Sub(c.at) > readTTL {
				delete(m.calls, k)
			}
		}
		m.swept = now
	}
	c, found := m.calls[k]
	if !found {
		c = &readCall{done: make(chan struct{}), at: now}
		m.calls[k] = c
	}
	m.mu.Unlock()
	if !found {
		func() {
			defer close(c.done) // even if read panics: waiters must not hang
			c.err = errors.New("graph: shared read failed")
			c.v, c.ok, c.err = read()
		}()
	} else {
		<-c.done
	}
	return c.v, c.ok, c.err
}

// orderOf reads the order id of an order event's payload.
func orderOf(m broker.Message) (uuid.UUID, bool) {
	var p struct {
		OrderID uuid.UUID `json:"orderId"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.OrderID == uuid.Nil {
		return uuid.Nil, false
	}
	return p.OrderID, true
}

// liveSession bounds a socket by its access token and session: the
// connection's context ends when the token expires or, checked every
// interval, the session is revoked or the user disabled. The sockets of one
// instance are checked together (sessionWatch), not one query each.
func liveSession(ctx context.Context, a *auth.Service, p auth.Principal, every time.Duration) context.Context {
	ctx = context.WithValue(ctx, subCountKey{}, new(atomic.Int32))
	ctx = wsgql.WithCloseReason(ctx, "session ended: sign in again and resubscribe")
	var cancel context.CancelFunc
	if p.ExpiresAt.IsZero() {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithDeadline(ctx, p.ExpiresAt)
	}
	s := &liveSocket{p: p, cancel: cancel}
	w := watchFor(a, every)
	w.add(s)
	context.AfterFunc(ctx, func() {
		w.remove(s)
		cancel()
	})
	return ctx
}

type liveSocket struct {
	p      auth.Principal
	cancel context.CancelFunc
}

// sessionWatch re-checks the sessions of one auth service's open sockets
// every interval, in one query per 1,000 (auth.Service.Live): ten thousand
// idle phones cost a few queries every 30 s, not 333 a second. Its goroutine
// runs while sockets are open.
type sessionWatch struct {
	a     *auth.Service
	every time.Duration

	mu      sync.Mutex
	sockets map[*liveSocket]struct{}
	running bool
}

type watchKey struct {
	a     *auth.Service
	every time.Duration
}

var watches sync.Map // watchKey → *sessionWatch

func watchFor(a *auth.Service, every time.Duration) *sessionWatch {
	k := watchKey{a, every}
	if w, ok := watches.Load(k); ok {
		return w.(*sessionWatch)
	}
	w, _ := watches.LoadOrStore(k, &sessionWatch{a: a, every: every, sockets: map[*liveSocket]struct{}{}})
	return w.(*sessionWatch)
}

func (w *sessionWatch) add(s *liveSocket) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sockets[s] = struct{}{}
	if !w.running {
		w.running = true
		go w.run()
	}
}

func (w *sessionWatch) remove(s *liveSocket) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.sockets, s)
}

func (w *sessionWatch) run() {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for range t.C {
		w.mu.Lock()
		if len(w.sockets) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		sockets := make([]*liveSocket, 0, len(w.sockets))
		ps := make([]auth.Principal, 0, len(w.sockets))
		for s := range w.sockets {
			sockets = append(sockets, s)
			ps = append(ps, s.p)
		}
		w.mu.Unlock()
		ctx, cancel := context.WithTimeout(database.Uncounted(context.Background()), w.every)
		live, err := w.a.Live(ctx, ps)
		cancel()
		if err != nil {
			continue // the database is unreachable: keep the sockets, try again next time
		}
		for _, s := range sockets {
			if !live[s.p.SessionID] {
				s.cancel()
			}
		}
	}
}
