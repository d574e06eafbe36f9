package broker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bounds on a command write and on the wait between failed reconnects.
const (
	writeTimeout = 5 * time.Second
	maxBackoff   = 2 * time.Second
)

// health: a PING every pingEvery keeps replies flowing on an idle connection,
// so no reply (not even the PONG) for readTimeout means the connection is dead
// even if TCP did not notice (a NAT or load balancer dropped it).
type health struct{ pingEvery, readTimeout time.Duration }

var defaultHealth = health{pingEvery: 3 * time.Second, readTimeout: 10 * time.Second}

// redisBroker multiplexes every local subscription over ONE pub/sub
// connection: a topic is SUBSCRIBEd when its first local subscriber arrives
// and UNSUBSCRIBEd when its last one leaves; one reader goroutine fans
// messages out to local subscribers.
//
// Reconnects are handled here rather than left to go-redis: after any error
// the reader drops the whole redis.PubSub and builds a new one, SUBSCRIBEs
// every live topic and sends each topic's subscribers a Gap once Redis
// confirms it. Owning the connection keeps the per-topic reply counting exact
// (a reply always belongs to the current connection).
type redisBroker struct {
	client *redis.Client
	prefix string
	opts   Options
	health health

	mu     sync.RWMutex
	topics map[string]*topic
	cmds   []command // for ps, written in order by the writer goroutine
	ps     *redis.PubSub
	closed bool

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

type command struct {
	unsubscribe bool
	topic       string
}

// NewRedis returns a broker on Redis pub/sub. Topic t is the Redis channel
// prefix+t; prefix namespaces deployments (and tests). It starts two
// goroutines (reader and writer), ended by Close.
func NewRedis(client *redis.Client, prefix string, opts Options) (Broker, error) {
	b, err := newRedis(client, prefix, opts, defaultHealth)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func newRedis(client *redis.Client, prefix string, opts Options, h health) (*redisBroker, error) {
	if client == nil {
		return nil, errors.New("broker: nil redis client")
	}
	b := &redisBroker{
		client: client,
		prefix: prefix,
		opts:   opts.withDefaults(),
		health: h,
		topics: make(map[string]*topic),
		ps:     client.Subscribe(context.Background()), // connects lazily
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	b.wg.Add(2)
	go b.read()
	go b.write()
	return b, nil
}

func (b *redisBroker) Publish(ctx context.Context, name string, payload []byte) error {
	if name == "" {
		return ErrNoTopic
	}
	select {
	case <-b.done:
		return ErrClosed
	default:
	}
	return b.client.Publish(ctx, b.prefix+name, payload).Err()
}

func (b *redisBroker) PublishMany(ctx context.Context, msgs []Message) error {
	for _, m := range msgs {
		if m.Topic == "" {
			return ErrNoTopic
		}
	}
	select {
	case <-b.done:
		return ErrClosed
	default:
	}
	if len(msgs) == 0 {
		return nil
	}
	_, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range msgs {
			p.Publish(ctx, b.prefix+m.Topic, m.Payload)
		}
		return nil
	})
	return err
}

func (b *redisBroker) Subscribe(ctx context.Context, topics ...string) (<-chan Message, error) {
	r := newChanReceiver(b.opts.Buffer)
	if err := b.SubscribeTo(ctx, r, topics...); err != nil {
		return nil, err
	}
	return r.ch, nil
}

func (b *redisBroker) SubscribeTo(ctx context.Context, r Receiver, topics ...string) error {
	names, err := uniqueTopics(topics)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := newSub(names, r)
	var waits []chan struct{}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	for _, name := range names {
		t := b.topics[name]
		if t == nil {
			t = newTopic()
			b.topics[name] = t
		}
		t.subs[s] = struct{}{}
		if !t.want {
			t.want = true
			t.pending++
			b.cmds = append(b.cmds, command{topic: name})
		}
		if !t.confirmed {
			waits = append(waits, t.ready)
		}
	}
	b.mu.Unlock()
	b.wake()

	timer := time.NewTimer(b.opts.SubscribeTimeout)
	defer timer.Stop()
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			b.remove(s)
			return ctx.Err()
		case <-b.done:
			b.remove(s)
			return ErrClosed
		case <-timer.C:
			b.remove(s)
			return ErrNotReady
		}
	}
	s.watch(ctx, func() { b.remove(s) })
	return nil
}

func (b *redisBroker) remove(s *sub) {
	b.mu.Lock()
	for _, name := range s.topics {
		t := b.topics[name]
		if t == nil {
			continue
		}
		delete(t.subs, s)
		if len(t.subs) == 0 && t.want {
			t.want = false
			if t.confirmed {
				t.confirmed = false
				t.ready = make(chan struct{})
			}
			t.pending++
			b.cmds = append(b.cmds, command{unsubscribe: true, topic: name})
		}
	}
	b.mu.Unlock()
	b.wake()
	s.close()
}

func (b *redisBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.done)
	ps := b.ps
	subs := allSubs(b.topics)
	b.topics = make(map[string]*topic)
	b.mu.Unlock()
	_ = ps.Close() // Redis drops the connection's subscriptions with it
	b.wg.Wait()
	for s := range subs {
		s.close()
	}
	return nil
}

func (b *redisBroker) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// read is the only reader of the pub/sub connection.
func (b *redisBroker) read() {
	defer b.wg.Done()
	fails := 0
	for {
		b.mu.RLock()
		ps := b.ps
		b.mu.RUnlock()
		msg, err := ps.ReceiveTimeout(context.Background(), b.health.readTimeout)
		if err != nil {
			if fails > 0 && !b.sleep(min(maxBackoff, 50*time.Millisecond<<min(fails, 6))) {
				return
			}
			fails++
			if !b.rebuild(ps) {
				return
			}
			continue
		}
		fails = 0
		switch m := msg.(type) {
		case *redis.Message:
			b.deliver(m)
		case *redis.Subscription:
			if !b.ack(m) {
				_ = ps.Close() // a reply we did not ask for: go-redis reconnected on its own
			}
		}
	}
}

func (b *redisBroker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.done:
		return false
	}
}

// rebuild replaces the pub/sub connection and resubscribes every live topic.
// Messages sent meanwhile are lost, so each topic that was confirmed gets a
// Gap once Redis confirms it again.
func (b *redisBroker) rebuild(old *redis.PubSub) bool {
	_ = old.Close()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.ps = b.client.Subscribe(context.Background())
	b.cmds = nil
	for name, t := range b.topics {
		if len(t.subs) == 0 {
			delete(b.topics, name)
			continue
		}
		if t.confirmed {
			t.confirmed = false
			t.gapOnConfirm = true
			t.ready = make(chan struct{})
		}
		t.pending = 1
		b.cmds = append(b.cmds, command{topic: name})
	}
	b.wake()
	return true
}

// ack counts a SUBSCRIBE/UNSUBSCRIBE reply. Redis answers each command once
// per channel and in order, so the reply that brings pending to 0 answers the
// last command sent. It reports false for an unexpected reply.
func (b *redisBroker) ack(m *redis.Subscription) bool {
	name, ok := strings.CutPrefix(m.Channel, b.prefix)
	if !ok {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.topics[name]
	if t == nil || t.pending == 0 {
		return m.Kind != "subscribe"
	}
	t.pending--
	if t.pending > 0 {
		return true
	}
	switch {
	case t.want && m.Kind == "subscribe" && !t.confirmed:
		t.confirmed = true
		close(t.ready)
		if t.gapOnConfirm {
			t.gapOnConfirm = false
			for s := range t.subs {
				s.send(Message{Topic: name, Gap: true})
			}
		}
	case !t.want && len(t.subs) == 0:
		delete(b.topics, name)
	}
	return true
}

func (b *redisBroker) deliver(m *redis.Message) {
	name, ok := strings.CutPrefix(m.Channel, b.prefix)
	if !ok {
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	t := b.topics[name]
	if t == nil || len(t.subs) == 0 {
		return
	}
	msg := Message{Topic: name, Payload: []byte(m.Payload), Seq: seq.Add(1)}
	for s := range t.subs {
		s.send(msg)
	}
}

// write sends queued (UN)SUBSCRIBE commands in order, batching runs of the
// same kind, and PINGs so that read notices a dead connection.
func (b *redisBroker) write() {
	defer b.wg.Done()
	tick := time.NewTicker(b.health.pingEvery)
	defer tick.Stop()
	for {
		ping := false
		select {
		case <-b.done:
			return
		case <-b.kick:
		case <-tick.C:
			ping = true
		}
		b.mu.Lock()
		cmds, ps := b.cmds, b.ps
		b.cmds = nil
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err := b.flush(ctx, ps, cmds)
		if err == nil && ping {
			err = ps.Ping(ctx)
		}
		cancel()
		if err != nil {
			_ = ps.Close() // read sees the error and rebuilds
		}
	}
}

func (b *redisBroker) flush(ctx context.Context, ps *redis.PubSub, cmds []command) error {
	for len(cmds) > 0 {
		n := 1
		for n < len(cmds) && cmds[n].unsubscribe == cmds[0].unsubscribe {
			n++
		}
		channels := make([]string, n)
		for i, c := range cmds[:n] {
			channels[i] = b.prefix + c.topic
		}
		var err error
		if cmds[0].unsubscribe {
			err = ps.Unsubscribe(ctx, channels...)
		} else {
			err = ps.Subscribe(ctx, channels...)
		}
		if err != nil {
			return err
		}
		cmds = cmds[n:]
	}
	return nil
}
