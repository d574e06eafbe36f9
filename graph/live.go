package graph

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"sync/atomic"
	"time"

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
	out := make(chan T, 1)
	go func() {
		defer close(out)
		defer release()
		for m := range msgs {
			v, ok, err := next(m)
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
