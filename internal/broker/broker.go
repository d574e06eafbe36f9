// Package broker carries real-time events from the outbox dispatcher (on any
// instance) to GraphQL subscriptions (on every instance).
//
// Two implementations keep one contract: NewRedis (Redis pub/sub, for several
// API instances) and NewMemory (in-process, the embedded default).
//
// Delivery is at most once per subscriber. Whenever something may have been
// lost, the subscriber gets a Message with Gap set and should refetch state.
// Every subscriber has a bounded buffer; publishers never wait for readers.
package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Message is one event of a topic, or a Gap notice.
type Message struct {
	Topic string
	// Payload is shared by every receiver of the message: do not modify it.
	Payload []byte
	// Gap: messages may have been lost; refetch state. Payload is empty.
	// Topic names the affected topic after a Redis reconnect. It is empty after
	// this subscriber's buffer overflowed: any of its topics may have lost
	// messages.
	Gap bool
	// Seq names one delivery in this process: every local receiver of one
	// published message sees the same Seq, so they can share the work it
	// causes (one read after commit, not one per subscriber). Zero on a Gap.
	Seq uint64
}

// seq numbers deliveries process-wide, so two brokers in one process (tests
// run several instances) never share a Seq.
var seq atomic.Uint64

// Broker publishes messages to topics and subscribes to them.
type Broker interface {
	// Publish sends payload to the current subscribers of topic, on every
	// instance for Redis. It never waits for a slow subscriber.
	Publish(ctx context.Context, topic string, payload []byte) error
	// PublishMany publishes each message's Payload to its Topic, in order,
	// as Publish would; Redis sends them all in one round trip. On an error
	// any of them may have been sent.
	PublishMany(ctx context.Context, msgs []Message) error
	// Subscribe returns once the subscription is live, so a message published
	// after it returns is delivered (or announced by a Gap). Messages of the
	// topics arrive on the channel until ctx ends or Close; then it is closed.
	Subscribe(ctx context.Context, topics ...string) (<-chan Message, error)
	// SubscribeTo is Subscribe for a Receiver instead of a channel: no
	// buffer, and no goroutine needed on the reader's side while idle. After
	// an error End may or may not have been called.
	SubscribeTo(ctx context.Context, r Receiver, topics ...string) error
	// Close ends every subscription and releases the connection.
	Close() error
}

// Receiver takes a subscription's messages as they arrive.
type Receiver interface {
	// Deliver is called for each message, never concurrently for one
	// receiver, and must not block: publishers and the Redis reader wait.
	Deliver(m Message)
	// End is called once when the subscription ends (ctx or Close), after
	// the last Deliver.
	End()
}

// Options tune a broker. The zero value is usable.
type Options struct {
	// Buffer is the number of messages held for each subscriber (default 16).
	// When it is full, further messages are dropped and one Gap is queued in
	// a slot kept for it, right after the last message kept.
	Buffer int
	// SubscribeTimeout bounds how long Subscribe waits for Redis to confirm
	// (default 5s). The in-process broker ignores it.
	SubscribeTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Buffer <= 0 {
		o.Buffer = 16
	}
	if o.SubscribeTimeout <= 0 {
		o.SubscribeTimeout = 5 * time.Second
	}
	return o
}

// Errors returned by brokers.
var (
	ErrClosed   = errors.New("broker: closed")
	ErrNoTopic  = errors.New("broker: empty topic")
	ErrNotReady = errors.New("broker: subscription not confirmed in time")
)

// uniqueTopics checks topics and drops duplicates, so a subscriber is
// registered once per topic.
func uniqueTopics(topics []string) ([]string, error) {
	if len(topics) == 0 {
		return nil, ErrNoTopic
	}
	out := make([]string, 0, len(topics))
	for _, t := range topics {
		if t == "" {
			return nil, ErrNoTopic
		}
		dup := false
		for _, o := range out {
			dup = dup || o == t
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out, nil
}

// topic is the local fan-out list of one topic. The Redis fields track the
// state of its SUBSCRIBE on the current pub/sub connection.
type topic struct {
	subs map[*sub]struct{}

	want         bool          // last command sent was SUBSCRIBE
	pending      int           // SUBSCRIBE/UNSUBSCRIBE replies still due
	confirmed    bool          // Redis confirmed the subscription
	gapOnConfirm bool          // the connection was replaced: Gap when confirmed
	ready        chan struct{} // closed when confirmed
}

func newTopic() *topic {
	return &topic{subs: make(map[*sub]struct{}), ready: make(chan struct{})}
}

// sub is one subscriber: its receiver, and whether it has ended.
type sub struct {
	mu     sync.Mutex
	r      Receiver
	closed bool
	stop   func() bool // unregisters the ctx callback
	topics []string
}

func newSub(topics []string, r Receiver) *sub {
	return &sub{r: r, topics: topics}
}

// send hands m to the receiver unless the subscription ended.
func (s *sub) send(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.r.Deliver(m)
	}
}

// watch ends the subscription when ctx ends.
func (s *sub) watch(ctx context.Context, remove func()) {
	stop := context.AfterFunc(ctx, remove)
	s.mu.Lock()
	closed := s.closed
	s.stop = stop
	s.mu.Unlock()
	if closed {
		stop()
	}
}

func (s *sub) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.r.End()
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// chanReceiver is Subscribe's receiver. ch has room for max messages plus
// one Gap, so an overflow is always announced without waiting for the
// reader and without a goroutine per subscriber.
type chanReceiver struct {
	ch     chan Message
	max    int
	gapped bool // the last item queued is an overflow Gap
}

func newChanReceiver(buffer int) *chanReceiver {
	return &chanReceiver{ch: make(chan Message, buffer+1), max: buffer}
}

// Deliver queues m, or drops it and queues a Gap when the buffer is full.
// It never blocks: the sub's lock serialises senders and the reader only
// empties ch.
func (c *chanReceiver) Deliver(m Message) {
	if len(c.ch) < c.max {
		c.ch <- m
		c.gapped = false
		return
	}
	if !c.gapped {
		select {
		case c.ch <- Message{Gap: true}:
			c.gapped = true
		default: // unreachable: the spare slot is free unless gapped
		}
	}
}

func (c *chanReceiver) End() { close(c.ch) }
