package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/google/uuid"

	"channelhub/internal/auth"
	"channelhub/internal/broker"
)

// Subscriber is what subscriptions need of the broker.
type Subscriber interface {
	Subscribe(ctx context.Context, topics ...string) (<-chan broker.Message, error)
}

// MaxSubscriptions caps the subscriptions of one socket.
const MaxSubscriptions = 100

var errTooManySubscriptions = errors.New("graph: too many subscriptions on one connection")

type subCountKey struct{}

// follow subscribes to topics and turns each message into a value with next,
// read after the change committed. next answers ok=false to skip a message
// and an error to end the subscription (the object left the viewer's scope).
//
// Subscriptions of this process that would read the same thing for the same
// delivery share one call of next: the same root field and arguments, for
// viewers who see the same rows (sharer). Ten phones following one order
// cost one read per change, not ten.
func follow[T any](ctx context.Context, b Subscriber, topics []string, next func(m broker.Message) (T, bool, error)) (<-chan T, error) {
	count, _ := ctx.Value(subCountKey{}).(*atomic.Int32)
	if count != nil && count.Add(1) > MaxSubscriptions {
		count.Add(-1)
		return nil, errTooManySubscriptions
	}
	release := func() {
		if count != nil {
			count.Add(-1)
		}
	}
	msgs, err := b.Subscribe(ctx, topics...)
	if err != nil {
		release()
		return nil, err
	}
	who := sharer(ctx)
	out := make(chan T, 1)
	go func() {
		defer close(out)
		defer release()
		for m := range msgs {
			v, ok, err := shareRead(ctx, m, who, next)
			if err != nil {
				return
			}
			if !ok {
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
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
// interval, the session is revoked or the user disabled. Timers, not a
// goroutine per socket: ten thousand idle phones must stay cheap.
func liveSession(ctx context.Context, a *auth.Service, p auth.Principal, token string, every time.Duration) context.Context {
	ctx = context.WithValue(ctx, subCountKey{}, new(atomic.Int32))
	ctx = transport.AppendCloseReason(ctx, "session ended: sign in again and resubscribe")
	var cancel context.CancelFunc
	if p.ExpiresAt.IsZero() {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithDeadline(ctx, p.ExpiresAt)
	}
	var t *time.Timer
	t = time.AfterFunc(time.Duration(math.MaxInt64), func() {
		if ctx.Err() != nil {
			return
		}
		if _, err := a.Authenticate(ctx, token); errors.Is(err, auth.ErrUnauthenticated) {
			cancel()
			return
		}
		t.Reset(every)
	})
	t.Reset(every) // armed once t is set, which the callback reads
	context.AfterFunc(ctx, func() {
		t.Stop()
		cancel()
	})
	return ctx
}
