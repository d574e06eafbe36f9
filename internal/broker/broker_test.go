package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"channelhub/internal/database/dbtest"
)

const wait = 5 * time.Second // upper bound of every wait in these tests

// fixture opens brokers of one implementation; each is closed at cleanup.
type fixture struct {
	open func(t *testing.T, opts Options) Broker
	// numsub is the Redis-side subscriber count of a topic; nil in memory.
	numsub func(t *testing.T, b Broker, topic string) int64
}

func memoryFixture() fixture {
	return fixture{open: func(t *testing.T, opts Options) Broker {
		b := NewMemory(opts)
		t.Cleanup(func() { _ = b.Close() })
		return b
	}}
}

// redisURL returns the test Redis, skips without one, and fails without one
// when services are required.
func redisURL(tb testing.TB) string {
	url := os.Getenv(dbtest.RedisEnv)
	if url == "" {
		if os.Getenv(dbtest.RequireEnv) == "1" {
			tb.Fatalf("%s is not set and %s=1", dbtest.RedisEnv, dbtest.RequireEnv)
		}
		tb.Skipf("%s is not set", dbtest.RedisEnv)
	}
	return url
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// newClient returns a client whose connections carry name in CLIENT LIST.
func newClient(tb testing.TB, url, name string) *redis.Client {
	opt, err := redis.ParseURL(url)
	require.NoError(tb, err)
	opt.ClientName = name
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	require.NoError(tb, c.Ping(ctx).Err())
	return c
}

func redisFixture(t *testing.T) fixture {
	url := redisURL(t)
	client := newClient(t, url, randomName("chtest-broker-"))
	admin := newClient(t, url, randomName("chtest-admin-"))
	return fixture{
		open: func(t *testing.T, opts Options) Broker {
			b, err := NewRedis(client, randomName("chtest:")+":", opts)
			require.NoError(t, err)
			t.Cleanup(func() { _ = b.Close() })
			return b
		},
		numsub: func(t *testing.T, b Broker, topic string) int64 {
			ch := b.(*redisBroker).prefix + topic
			n, err := admin.PubSubNumSub(context.Background(), ch).Result()
			require.NoError(t, err)
			return n[ch]
		},
	}
}

func TestMemory(t *testing.T) { contract(t, memoryFixture()) }

func TestRedis(t *testing.T) { contract(t, redisFixture(t)) }

// contract is the behaviour both brokers keep.
func contract(t *testing.T, f fixture) {
	t.Run("topics", func(t *testing.T) {
		b := f.open(t, Options{})
		ctx := t.Context()
		ab, err := b.Subscribe(ctx, "a", "b", "a")
		require.NoError(t, err)
		onlyB, err := b.Subscribe(ctx, "b")
		require.NoError(t, err)
		publish(t, b, "a", "a1")
		publish(t, b, "c", "c1")
		publish(t, b, "b", "b1")
		require.Equal(t, msg("a", "a1"), recv(t, ab))
		require.Equal(t, msg("b", "b1"), recv(t, ab), "c1 is not delivered, a1 only once")
		require.Equal(t, msg("b", "b1"), recv(t, onlyB))

		_, err = b.Subscribe(ctx)
		require.ErrorIs(t, err, ErrNoTopic)
		_, err = b.Subscribe(ctx, "a", "")
		require.ErrorIs(t, err, ErrNoTopic)
		require.ErrorIs(t, b.Publish(ctx, "", nil), ErrNoTopic)
		done, cancel := context.WithCancel(ctx)
		cancel()
		_, err = b.Subscribe(done, "a")
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("publish many", func(t *testing.T) {
		b := f.open(t, Options{})
		ctx := t.Context()
		ab, err := b.Subscribe(ctx, "a", "b")
		require.NoError(t, err)
		onlyB, err := b.Subscribe(ctx, "b")
		require.NoError(t, err)
		require.NoError(t, b.PublishMany(ctx, nil))
		require.NoError(t, b.PublishMany(ctx, []Message{
			{Topic: "a", Payload: []byte("a1")}, {Topic: "c", Payload: []byte("c1")},
			{Topic: "b", Payload: []byte("b1")}, {Topic: "a", Payload: []byte("a2")},
		}))
		require.Equal(t, msg("a", "a1"), recv(t, ab))
		require.Equal(t, msg("b", "b1"), recv(t, ab), "in order, c1 to no one")
		require.Equal(t, msg("a", "a2"), recv(t, ab))
		require.Equal(t, msg("b", "b1"), recv(t, onlyB))
		require.ErrorIs(t, b.PublishMany(ctx, []Message{{Topic: "a", Payload: []byte("x")}, {Payload: []byte("y")}}), ErrNoTopic)
		publish(t, b, "b", "b2")
		require.Equal(t, msg("b", "b2"), recv(t, onlyB), "a refused batch sends nothing")
		require.NoError(t, b.Close())
		require.ErrorIs(t, b.PublishMany(ctx, []Message{{Topic: "a"}}), ErrClosed)
	})

	t.Run("many subscribers on one topic", func(t *testing.T) {
		b := f.open(t, Options{})
		var chans []<-chan Message
		for range 200 {
			ch, err := b.Subscribe(t.Context(), "t")
			require.NoError(t, err)
			chans = append(chans, ch)
		}
		if f.numsub != nil {
			require.EqualValues(t, 1, f.numsub(t, b, "t"), "one Redis subscription for all local subscribers")
		}
		for i := range 5 {
			publish(t, b, "t", strconv.Itoa(i))
		}
		seqs := map[uint64]bool{}
		for i, ch := range chans[:2] {
			for range 5 {
				select {
				case m := <-ch:
					seqs[m.Seq] = true
				case <-time.After(wait):
					t.Fatal("no message in time")
				}
			}
			require.Len(t, seqs, 5, "receiver %d: one Seq per published message, shared by its receivers", i)
		}
		for _, ch := range chans[2:] {
			for i := range 5 {
				require.Equal(t, msg("t", strconv.Itoa(i)), recv(t, ch))
			}
		}
	})

	t.Run("cancel unsubscribes", func(t *testing.T) {
		base := runtime.NumGoroutine()
		b := f.open(t, Options{})
		ctx1, cancel1 := context.WithCancel(t.Context())
		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		ch1, err := b.Subscribe(ctx1, "t")
		require.NoError(t, err)
		ch2, err := b.Subscribe(ctx2, "t", "u")
		require.NoError(t, err)
		cancel1()
		closed(t, ch1)
		publish(t, b, "t", "x")
		require.Equal(t, msg("t", "x"), recv(t, ch2), "the other subscriber keeps receiving")
		cancel2()
		closed(t, ch2)
		publish(t, b, "t", "y")
		noLeaks(t, f, b, "t", "u")
		require.NoError(t, b.Close())
		goroutinesBackTo(t, base)
	})

	t.Run("resubscribe right after the last subscriber left", func(t *testing.T) {
		b := f.open(t, Options{})
		for i := range 50 {
			ctx, cancel := context.WithCancel(t.Context())
			ch, err := b.Subscribe(ctx, "t")
			require.NoError(t, err)
			publish(t, b, "t", strconv.Itoa(i))
			require.Equal(t, msg("t", strconv.Itoa(i)), recv(t, ch))
			cancel() // the UNSUBSCRIBE may still be in flight when the next SUBSCRIBE goes out
		}
		noLeaks(t, f, b, "t")
	})

	t.Run("close", func(t *testing.T) {
		base := runtime.NumGoroutine()
		b := f.open(t, Options{})
		ch1, err := b.Subscribe(t.Context(), "t")
		require.NoError(t, err)
		ch2, err := b.Subscribe(t.Context(), "t", "u")
		require.NoError(t, err)
		require.NoError(t, b.Close())
		closed(t, ch1)
		closed(t, ch2)
		_, err = b.Subscribe(t.Context(), "t")
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, b.Publish(t.Context(), "t", nil), ErrClosed)
		require.NoError(t, b.Close(), "Close twice")
		noLeaks(t, f, b, "t", "u")
		goroutinesBackTo(t, base)
	})

	t.Run("slow subscriber gets a gap and blocks no one", func(t *testing.T) {
		b := f.open(t, Options{Buffer: 4})
		slow, err := b.Subscribe(t.Context(), "t")
		require.NoError(t, err)
		fast, err := b.Subscribe(t.Context(), "t")
		require.NoError(t, err)
		// fast receives each message while slow reads nothing.
		for i := range 10 {
			publish(t, b, "t", strconv.Itoa(i))
			require.Equal(t, msg("t", strconv.Itoa(i)), recv(t, fast))
		}
		for i := range 4 {
			require.Equal(t, msg("t", strconv.Itoa(i)), recv(t, slow))
		}
		require.Equal(t, Message{Gap: true}, recv(t, slow), "a gap right after the last message kept")
		select {
		case m := <-slow:
			t.Fatalf("unexpected %+v", m)
		default:
		}
		publish(t, b, "t", "later")
		require.Equal(t, msg("t", "later"), recv(t, slow))
	})

	t.Run("receiver", func(t *testing.T) {
		b := f.open(t, Options{})
		ctx, cancel := context.WithCancel(t.Context())
		r := &recording{ended: make(chan struct{})}
		require.NoError(t, b.SubscribeTo(ctx, r, "t", "u"))
		publish(t, b, "t", "1")
		publish(t, b, "u", "2")
		publish(t, b, "v", "3")
		waitFor(t, "two deliveries", func() bool { return len(r.got()) == 2 })
		got := r.got()
		require.Equal(t, []string{"t:1", "u:2"}, []string{got[0].Topic + ":" + string(got[0].Payload), got[1].Topic + ":" + string(got[1].Payload)})
		require.NotZero(t, got[0].Seq)
		cancel()
		select {
		case <-r.ended:
		case <-time.After(wait):
			t.Fatal("End not called after ctx ended")
		}
		publish(t, b, "t", "after")
		time.Sleep(50 * time.Millisecond)
		require.Len(t, r.got(), 2, "nothing after End")
		noLeaks(t, f, b, "t", "u")

		r2 := &recording{ended: make(chan struct{})}
		require.NoError(t, b.SubscribeTo(t.Context(), r2, "t"))
		require.NoError(t, b.Close())
		select {
		case <-r2.ended:
		case <-time.After(wait):
			t.Fatal("End not called at Close")
		}
	})

	t.Run("order per topic per publisher", func(t *testing.T) {
		const publishers, each = 4, 200
		b := f.open(t, Options{Buffer: publishers * each})
		ch, err := b.Subscribe(t.Context(), "t")
		require.NoError(t, err)
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				for i := range each {
					if err := b.Publish(t.Context(), "t", fmt.Appendf(nil, "%d/%d", p, i)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		next := make([]int, publishers)
		for range publishers * each {
			m := recv(t, ch)
			require.False(t, m.Gap)
			p, i, _ := strings.Cut(string(m.Payload), "/")
			pn, _ := strconv.Atoi(p)
			in, _ := strconv.Atoi(i)
			require.Equal(t, next[pn], in, "publisher %d out of order", pn)
			next[pn]++
		}
		wg.Wait()
	})

	t.Run("concurrent subscribe, publish, cancel", func(t *testing.T) {
		base := runtime.NumGoroutine()
		b := f.open(t, Options{Buffer: 8})
		topics := []string{"t0", "t1", "t2", "t3", "t4"}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := b.Publish(t.Context(), topics[i%len(topics)], []byte("x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
		var subs sync.WaitGroup
		for g := range 20 {
			subs.Go(func() {
				for i := range 20 {
					ctx, cancel := context.WithCancel(t.Context())
					ch, err := b.Subscribe(ctx, topics[(g+i)%5], topics[(g+2*i)%5])
					if err != nil {
						cancel()
						t.Error(err)
						return
					}
					select { // read a little, or not at all
					case <-ch:
					case <-time.After(time.Millisecond):
					}
					cancel()
					for range ch { // drained and closed
					}
				}
			})
		}
		subs.Wait()
		close(stop)
		wg.Wait()
		noLeaks(t, f, b, topics...)
		require.NoError(t, b.Close())
		goroutinesBackTo(t, base)
	})
}

// TestRedisReconnect kills the broker's pub/sub connection: the subscriber
// gets a Gap once the topic is subscribed again, then later messages.
func TestRedisReconnect(t *testing.T) {
	url := redisURL(t)
	name := randomName("chtest-reconnect-")
	client := newClient(t, url, name)
	admin := newClient(t, url, randomName("chtest-admin-"))
	prefix := randomName("chtest:") + ":"
	b, err := NewRedis(client, prefix, Options{})
	require.NoError(t, err)
	defer b.Close()
	ch, err := b.Subscribe(t.Context(), "t", "u")
	require.NoError(t, err)
	publish(t, b, "t", "before")
	require.Equal(t, msg("t", "before"), recv(t, ch))

	killed := killPubSub(t, admin, name)
	require.Equal(t, 1, killed, "exactly the broker's one pub/sub connection")

	gaps := map[string]bool{}
	for range 2 {
		m := recv(t, ch)
		require.True(t, m.Gap, "got %+v", m)
		gaps[m.Topic] = true
	}
	require.Equal(t, map[string]bool{"t": true, "u": true}, gaps)
	publish(t, b, "t", "after")
	require.Equal(t, msg("t", "after"), recv(t, ch))
	n, err := admin.PubSubNumSub(t.Context(), prefix+"t").Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n[prefix+"t"])

	require.NoError(t, b.Close())
	closed(t, ch)
	waitFor(t, "NUMSUB 0 after Close", func() bool {
		n, err := admin.PubSubNumSub(context.Background(), prefix+"t").Result()
		return err == nil && n[prefix+"t"] == 0
	})
}

// TestRedisSilentDrop freezes the broker's connection without closing it,
// as a NAT that forgets it would: the PING health check must notice, and the
// subscriber gets a Gap and then later messages.
func TestRedisSilentDrop(t *testing.T) {
	url := redisURL(t)
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	px := newProxy(t, opt.Addr)
	opt.Addr = px.addr
	client := redis.NewClient(opt)
	defer client.Close()
	prefix := randomName("chtest:") + ":"
	b, err := newRedis(client, prefix, Options{}, health{pingEvery: 50 * time.Millisecond, readTimeout: 300 * time.Millisecond})
	require.NoError(t, err)
	defer b.Close()
	other, err := NewRedis(newClient(t, url, randomName("chtest-pub-")), prefix, Options{})
	require.NoError(t, err)
	defer other.Close()

	ch, err := b.Subscribe(t.Context(), "t")
	require.NoError(t, err)
	publish(t, other, "t", "before")
	require.Equal(t, msg("t", "before"), recv(t, ch))
	px.freeze()
	publish(t, other, "t", "lost")
	require.Equal(t, Message{Topic: "t", Gap: true}, recv(t, ch))
	publish(t, other, "t", "after")
	require.Equal(t, msg("t", "after"), recv(t, ch))
}

// proxy forwards TCP to Redis; freeze makes the current connections swallow
// everything in both directions while staying open.
type proxy struct {
	addr  string
	mu    sync.Mutex
	gates []*gate
}

type gate struct {
	mu     sync.Mutex
	frozen bool
}

func (g *gate) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		g.mu.Lock()
		frozen := g.frozen
		g.mu.Unlock()
		if !frozen {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var connsMu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		connsMu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		connsMu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("tcp", target, wait)
			if err != nil {
				_ = in.Close()
				continue
			}
			connsMu.Lock()
			conns = append(conns, in, out)
			connsMu.Unlock()
			g := &gate{}
			p.mu.Lock()
			p.gates = append(p.gates, g)
			p.mu.Unlock()
			for _, pair := range [][2]net.Conn{{in, out}, {out, in}} {
				wg.Go(func() {
					g.copy(pair[0], pair[1])
					_ = in.Close()
					_ = out.Close()
				})
			}
		}
	})
	return p
}

func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.gates {
		g.mu.Lock()
		g.frozen = true
		g.mu.Unlock()
	}
}

// killPubSub kills the pub/sub connections named name and returns how many.
func killPubSub(t *testing.T, admin *redis.Client, name string) int {
	list, err := admin.Do(t.Context(), "CLIENT", "LIST", "TYPE", "pubsub").Text()
	require.NoError(t, err)
	killed := 0
	for line := range strings.SplitSeq(strings.TrimSpace(list), "\n") {
		fields := map[string]string{}
		for f := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		if fields["name"] != name {
			continue
		}
		require.NoError(t, admin.Do(t.Context(), "CLIENT", "KILL", "ID", fields["id"]).Err())
		killed++
	}
	return killed
}

// TestRedisTwoInstances: what one API instance publishes, another delivers.
func TestRedisTwoInstances(t *testing.T) {
	url := redisURL(t)
	prefix := randomName("chtest:") + ":"
	a, err := NewRedis(newClient(t, url, randomName("chtest-a-")), prefix, Options{})
	require.NoError(t, err)
	defer a.Close()
	b, err := NewRedis(newClient(t, url, randomName("chtest-b-")), prefix, Options{})
	require.NoError(t, err)
	defer b.Close()
	onB, err := b.Subscribe(t.Context(), "order/1")
	require.NoError(t, err)
	onA, err := a.Subscribe(t.Context(), "order/1")
	require.NoError(t, err)
	publish(t, a, "order/1", "shipped")
	require.Equal(t, msg("order/1", "shipped"), recv(t, onB))
	require.Equal(t, msg("order/1", "shipped"), recv(t, onA))
}

// BenchmarkIdleSubscriptions reports the heap held per idle subscription:
// 10,000 subscriptions, each with its own context, on 1,000 topics.
func BenchmarkIdleSubscriptions(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchIdle(b, NewMemory(Options{})) })
	b.Run("redis", func(b *testing.B) {
		url := redisURL(b)
		br, err := NewRedis(newClient(b, url, randomName("chtest-bench-")), randomName("chtest:")+":", Options{})
		require.NoError(b, err)
		benchIdle(b, br)
	})
}

func benchIdle(b *testing.B, br Broker) {
	defer br.Close()
	const subs, topics = 10_000, 1_000
	var perSub float64
	for range b.N {
		ctxs := make([]context.Context, subs)
		cancels := make([]context.CancelFunc, subs)
		for i := range ctxs {
			ctxs[i], cancels[i] = context.WithCancel(context.Background())
		}
		chans := make([]<-chan Message, subs)
		before := heap()
		for i := range subs {
			ch, err := br.Subscribe(ctxs[i], "topic-"+strconv.Itoa(i%topics))
			require.NoError(b, err)
			chans[i] = ch
		}
		after := heap()
		perSub += float64(after-before) / subs
		for i := range subs {
			cancels[i]()
			for range chans[i] {
			}
		}
	}
	b.ReportMetric(perSub/float64(b.N), "B/sub")
}

func heap() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func msg(topic, payload string) Message {
	return Message{Topic: topic, Payload: []byte(payload)}
}

func publish(t *testing.T, b Broker, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	require.NoError(t, b.Publish(ctx, topic, []byte(payload)))
}

// recv returns the next message, its Seq checked and cleared.
func recv(t *testing.T, ch <-chan Message) Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "channel closed")
		require.Equal(t, m.Gap, m.Seq == 0, "a Seq on every message but a Gap: %+v", m)
		m.Seq = 0
		return m
	case <-time.After(wait):
		t.Fatal("no message in time")
		return Message{}
	}
}

// recording is a Receiver that keeps what it got and fails on misuse.
type recording struct {
	mu     sync.Mutex
	msgs   []Message
	done   bool
	ended  chan struct{}
	misuse string
}

func (r *recording) Deliver(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		r.misuse = "Deliver after End"
	}
	r.msgs = append(r.msgs, m)
}

func (r *recording) End() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		r.misuse = "End twice"
		return
	}
	r.done = true
	close(r.ended)
}

func (r *recording) got() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.misuse != "" {
		panic(r.misuse)
	}
	return slices.Clone(r.msgs)
}

// closed drains ch and fails unless it is closed in time.
func closed(t *testing.T, ch <-chan Message) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel not closed in time")
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noLeaks checks that no topic is left, locally or on Redis.
func noLeaks(t *testing.T, f fixture, b Broker, topics ...string) {
	t.Helper()
	waitFor(t, "local topics to be released", func() bool { return localTopics(b) == 0 })
	if f.numsub == nil {
		return
	}
	for _, topic := range topics {
		waitFor(t, "NUMSUB "+topic+" to be 0", func() bool { return f.numsub(t, b, topic) == 0 })
	}
}

func localTopics(b Broker) int {
	switch b := b.(type) {
	case *memory:
		b.mu.RLock()
		defer b.mu.RUnlock()
		return len(b.topics)
	case *redisBroker:
		b.mu.RLock()
		defer b.mu.RUnlock()
		return len(b.topics)
	}
	panic("unknown broker")
}

func goroutinesBackTo(t *testing.T, base int) {
	t.Helper()
	waitFor(t, "goroutines back to "+strconv.Itoa(base), func() bool { return runtime.NumGoroutine() <= base })
}
