package wsgql_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"channelhub/internal/wsgql"
)

var schema = gqlparser.MustLoadSchema(&ast.Source{Input: `
	type Query { hello: String! }
	type Subscription {
		ticks: String!   # driven by the hub through wsgql.Stream
		pulled: String!  # read by a goroutine: the resolver does not Push
	}
`})

type ctxKey struct{}

// hub feeds the test subscriptions.
type hub struct {
	mu   sync.Mutex
	subs map[*sub]struct{}
}

type sub struct {
	ctx   context.Context
	ch    chan json.RawMessage
	ready func()
	field string
}

func (h *hub) add(ctx context.Context, field string, push bool) *sub {
	s := &sub{ctx: ctx, ch: make(chan json.RawMessage, 1), ready: func() {}, field: field}
	if st := wsgql.StreamFrom(ctx); st != nil && push {
		s.ready = st.Ready
		st.Push()
	}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	context.AfterFunc(ctx, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	})
	return s
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// emit sends v to every subscription, as a follower would: a send, then Ready.
func (h *hub) emit(v string) {
	h.mu.Lock()
	subs := make([]*sub, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	b, _ := json.Marshal(v)
	for _, s := range subs {
		select {
		case s.ch <- b:
			s.ready()
		case <-s.ctx.Done():
		}
	}
}

// end closes every subscription's channel.
func (h *hub) end() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		close(s.ch)
		s.ready()
		delete(h.subs, s)
	}
}

type testServer struct {
	url string
	hub *hub
	t   *wsgql.Transport
}

func start(t *testing.T, o wsgql.Options) *testServer {
	t.Helper()
	h := &hub{subs: map[*sub]struct{}{}}
	es := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 1, true
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			oc := graphql.GetOperationContext(ctx)
			if oc.Operation.Operation != ast.Subscription {
				who, _ := ctx.Value(ctxKey{}).(string)
				b, _ := json.Marshal(map[string]string{"hello": who})
				return graphql.OneShot(&graphql.Response{Data: b})
			}
			field := oc.Operation.SelectionSet[0].(*ast.Field).Name
			s := h.add(ctx, field, field == "ticks")
			return func(ctx context.Context) *graphql.Response {
				select {
				case v, ok := <-s.ch:
					if !ok {
						return nil
					}
					return &graphql.Response{Data: json.RawMessage(fmt.Sprintf(`{%q:%s}`, field, v))}
				case <-ctx.Done():
					return nil
				}
			}
		},
	}
	srv := handler.New(es)
	if o.InitFunc == nil {
		o.InitFunc = func(ctx context.Context, p wsgql.InitPayload) (context.Context, error) {
			if p.Authorization() != "ok" {
				return nil, errors.New("no")
			}
			return context.WithValue(ctx, ctxKey{}, "world"), nil
		}
	}
	tr := wsgql.New(o)
	srv.AddTransport(tr)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &testServer{url: "ws" + strings.TrimPrefix(hs.URL, "http"), hub: h, t: tr}
}

type client struct {
	t *testing.T
	c *websocket.Conn
}

func (s *testServer) dial(t *testing.T, protocols ...string) *client {
	t.Helper()
	return s.dialWith(t, websocket.DefaultDialer, http.Header{}, protocols...)
}

func (s *testServer) dialWith(t *testing.T, d *websocket.Dialer, h http.Header, protocols ...string) *client {
	t.Helper()
	d2 := *d
	d2.Subprotocols = protocols
	c, _, err := d2.Dial(s.url, h)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, c: c}
}

func (c *client) send(m map[string]any) {
	c.t.Helper()
	require.NoError(c.t, c.c.WriteJSON(m))
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	require.NoError(c.t, c.c.WriteMessage(websocket.TextMessage, []byte(s)))
}

type msg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

func (c *client) read(d time.Duration) (msg, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	var m msg
	_, b, err := c.c.ReadMessage()
	if err != nil {
		return m, err
	}
	require.NoError(c.t, json.Unmarshal(b, &m), "%s", b)
	return m, nil
}

func (c *client) next() msg {
	c.t.Helper()
	m, err := c.read(5 * time.Second)
	require.NoError(c.t, err)
	return m
}

// closed reads until the socket closes and returns the close code.
func (c *client) closed() (int, string) {
	c.t.Helper()
	for {
		_, err := c.read(10 * time.Second)
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(c.t, err, &ce)
		return ce.Code, ce.Text
	}
}

func (c *client) init() {
	c.t.Helper()
	c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "ok"}})
	require.Equal(c.t, "connection_ack", c.next().Type)
}

func TestTransportWSProtocol(t *testing.T) {
	s := start(t, wsgql.Options{})
	c := s.dial(t, wsgql.GraphQLTransportWS)
	require.Equal(t, wsgql.GraphQLTransportWS, c.c.Subprotocol())
	c.send(map[string]any{"type": "ping"})
	require.Equal(t, "pong", c.next().Type, "a ping is answered even before init")
	c.init()

	c.send(map[string]any{"id": "q", "type": "subscribe", "payload": map[string]any{"query": "{ hello }"}})
	m := c.next()
	require.Equal(t, msg{Type: "next", ID: "q", Payload: json.RawMessage(`{"data":{"hello":"world"}}`)}, m)
	require.Equal(t, msg{Type: "complete", ID: "q"}, c.next())

	c.send(map[string]any{"id": "bad", "type": "subscribe", "payload": map[string]any{"query": "{ nope }"}})
	m = c.next()
	require.Equal(t, "error", m.Type, "a validation error is an error message, which ends the operation")
	require.Contains(t, string(m.Payload), "nope")

	c.send(map[string]any{"id": "t", "type": "subscribe", "payload": map[string]any{"query": "subscription { ticks }"}})
	require.Eventually(t, func() bool { return s.hub.count() == 1 }, 5*time.Second, time.Millisecond)
	s.hub.emit("a")
	s.hub.emit("b")
	require.JSONEq(t, `{"data":{"ticks":"a"}}`, string(c.next().Payload))
	require.JSONEq(t, `{"data":{"ticks":"b"}}`, string(c.next().Payload))
	c.send(map[string]any{"id": "t", "type": "complete"})
	require.Eventually(t, func() bool { return s.hub.count() == 0 }, 5*time.Second, time.Millisecond,
		"complete from the client ends the resolver's context")
	_, err := c.read(200 * time.Millisecond)
	require.Error(t, err, "graphql-transport-ws does not answer complete with complete")
}

func TestTransportWSServerCompletes(t *testing.T) {
	s := start(t, wsgql.Options{})
	c := s.dial(t, wsgql.GraphQLTransportWS)
	c.init()
	c.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { ticks }"}})
	c.send(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{"query": "subscription { pulled }"}})
	require.Eventually(t, func() bool { return s.hub.count() == 2 }, 5*time.Second, time.Millisecond)
	s.hub.emit("x")
	got := map[string]string{}
	for range 2 {
		m := c.next()
		got[m.ID] = m.Type + " " + string(m.Payload)
	}
	require.Equal(t, map[string]string{"1": `next {"data":{"ticks":"x"}}`, "2": `next {"data":{"pulled":"x"}}`}, got)
	s.hub.end()
	got = map[string]string{}
	for range 2 {
		m := c.next()
		got[m.ID] = m.Type
	}
	require.Equal(t, map[string]string{"1": "complete", "2": "complete"}, got, "a closed stream completes, pushed or pulled")
}

func TestTransportWSCloseCodes(t *testing.T) {
	s := start(t, wsgql.Options{InitTimeout: 300 * time.Millisecond})
	cases := []struct {
		name string
		do   func(c *client)
		code int
	}{
		{"subscribe before init", func(c *client) {
			c.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ hello }"}})
		}, wsgql.CloseUnauthorized},
		{"refused init", func(c *client) {
			c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "bad"}})
		}, wsgql.CloseForbidden},
		{"malformed init", func(c *client) { c.sendRaw(`{"type":"connection_init","payload":"nope"`) }, wsgql.CloseBadRequest},
		{"init payload not an object", func(c *client) { c.sendRaw(`{"type":"connection_init","payload":"nope"}`) }, wsgql.CloseBadRequest},
		{"no init in time", func(c *client) {}, wsgql.CloseInitTimeout},
		{"second init", func(c *client) {
			c.init()
			c.send(map[string]any{"type": "connection_init"})
		}, wsgql.CloseTooManyInits},
		{"duplicate id", func(c *client) {
			c.init()
			c.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { ticks }"}})
			c.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { ticks }"}})
		}, wsgql.CloseDuplicateID},
		{"unknown type", func(c *client) { c.init(); c.send(map[string]any{"type": "hello"}) }, wsgql.CloseBadRequest},
		{"legacy type", func(c *client) { c.init(); c.send(map[string]any{"id": "1", "type": "start"}) }, wsgql.CloseBadRequest},
		{"bad subscribe payload", func(c *client) {
			c.init()
			c.send(map[string]any{"id": "1", "type": "subscribe", "payload": "{ hello }"})
		}, wsgql.CloseBadRequest},
		{"not json", func(c *client) { c.sendRaw("hello") }, wsgql.CloseBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.dial(t, wsgql.GraphQLTransportWS)
			tc.do(c)
			code, _ := c.closed()
			require.Equal(t, tc.code, code)
		})
	}
	require.Eventually(t, func() bool { return s.t.Open() == 0 }, 5*time.Second, 10*time.Millisecond, "every socket closed")
}

func TestTransportInitCloseError(t *testing.T) {
	s := start(t, wsgql.Options{InitFunc: func(ctx context.Context, p wsgql.InitPayload) (context.Context, error) {
		return nil, &wsgql.CloseError{Code: wsgql.CloseInternal, Reason: "try again"}
	}})
	c := s.dial(t, wsgql.GraphQLTransportWS)
	c.send(map[string]any{"type": "connection_init"})
	code, reason := c.closed()
	require.Equal(t, wsgql.CloseInternal, code)
	require.Equal(t, "try again", reason)
}

func TestLegacyProtocol(t *testing.T) {
	s := start(t, wsgql.Options{})
	for _, protocols := range [][]string{{wsgql.GraphQLWS}, nil} {
		c := s.dial(t, protocols...)
		require.Equal(t, strings.Join(protocols, ""), c.c.Subprotocol(), "no subprotocol is the legacy one")
		c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "ok"}})
		require.Equal(t, "connection_ack", c.next().Type)
		require.Equal(t, "ka", c.next().Type)
		c.send(map[string]any{"id": "q", "type": "start", "payload": map[string]any{"query": "{ hello }"}})
		require.Equal(t, msg{Type: "data", ID: "q", Payload: json.RawMessage(`{"data":{"hello":"world"}}`)}, c.next())
		require.Equal(t, msg{Type: "complete", ID: "q"}, c.next())
		c.send(map[string]any{"id": "t", "type": "start", "payload": map[string]any{"query": "subscription { ticks }"}})
		require.Eventually(t, func() bool { return s.hub.count() == 1 }, 5*time.Second, time.Millisecond)
		s.hub.emit("a")
		require.Equal(t, msg{Type: "data", ID: "t", Payload: json.RawMessage(`{"data":{"ticks":"a"}}`)}, c.next())
		c.send(map[string]any{"id": "t", "type": "stop"})
		require.Equal(t, msg{Type: "complete", ID: "t"}, c.next(), "graphql-ws answers stop with complete")
		require.Eventually(t, func() bool { return s.hub.count() == 0 }, 5*time.Second, time.Millisecond)
		c.send(map[string]any{"type": "connection_terminate"})
		code, _ := c.closed()
		require.Equal(t, wsgql.CloseNormal, code)
	}

	c := s.dial(t, wsgql.GraphQLWS)
	c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "bad"}})
	m := c.next()
	require.Equal(t, "connection_error", m.Type, "graphql-ws hears why before the close")
	code, _ := c.closed()
	require.Equal(t, wsgql.CloseForbidden, code)
}

// The connection's context ends (a token expired, a session was revoked):
// the socket closes with 1000 and the reason.
func TestSessionEndCloses(t *testing.T) {
	ends := make(chan context.CancelFunc, 2)
	s := start(t, wsgql.Options{InitFunc: func(ctx context.Context, _ wsgql.InitPayload) (context.Context, error) {
		ctx, cancel := context.WithCancel(wsgql.WithCloseReason(ctx, "session ended"))
		ends <- cancel
		return ctx, nil
	}})
	c := s.dial(t, wsgql.GraphQLTransportWS)
	c.init()
	c.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { ticks }"}})
	require.Eventually(t, func() bool { return s.hub.count() == 1 }, 5*time.Second, time.Millisecond)
	(<-ends)()
	code, reason := c.closed()
	require.Equal(t, wsgql.CloseNormal, code)
	require.Equal(t, "session ended", reason)
	require.Eventually(t, func() bool { return s.hub.count() == 0 }, 5*time.Second, time.Millisecond)

	l := s.dial(t, wsgql.GraphQLWS)
	l.init()
	require.Equal(t, "ka", l.next().Type)
	(<-ends)()
	m := l.next()
	require.Equal(t, "connection_error", m.Type)
	require.JSONEq(t, `{"message":"session ended"}`, string(m.Payload))
	code, _ = l.closed()
	require.Equal(t, wsgql.CloseNormal, code)
}

// Keep-alive: the shared wheel pings every socket once per interval; a
// socket that answers stays, one that sends nothing for two intervals goes.
func TestKeepAlive(t *testing.T) {
	s := start(t, wsgql.Options{KeepAlive: 150 * time.Millisecond})
	silent := s.dial(t, wsgql.GraphQLTransportWS)
	silent.init()
	live := s.dial(t, wsgql.GraphQLTransportWS)
	live.init()
	legacy := s.dial(t, wsgql.GraphQLWS)
	legacy.init()
	require.Equal(t, "ka", legacy.next().Type)

	var wg sync.WaitGroup
	wg.Go(func() { // gorilla answers WebSocket pings while reading
		kas := 0
		for {
			m, err := legacy.read(time.Second)
			if err != nil {
				require.GreaterOrEqual(t, kas, 3, "%v", err)
				return
			}
			require.Equal(t, "ka", m.Type)
			if kas++; kas == 5 {
				return
			}
		}
	})
	pings := 0
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		m, err := live.read(time.Second)
		require.NoError(t, err)
		require.Equal(t, "ping", m.Type)
		pings++
		live.send(map[string]any{"type": "pong"})
	}
	require.GreaterOrEqual(t, pings, 4)
	wg.Wait()

	code, reason := silent.closed()
	require.Equal(t, wsgql.CloseGoingAway, code, reason)
	require.Eventually(t, func() bool { return s.t.Open() == 2 }, 5*time.Second, 10*time.Millisecond, "the answering sockets stay")
}

func TestReadLimit(t *testing.T) {
	s := start(t, wsgql.Options{ReadLimit: 1 << 10})
	c := s.dial(t, wsgql.GraphQLTransportWS)
	c.init()
	c.sendRaw(`{"type":"subscribe","id":"1","payload":{"query":"` + strings.Repeat(" ", 1<<10) + `{ hello }"}}`)
	code, _ := c.closed()
	require.Equal(t, websocket.CloseMessageTooBig, code)
}

// A client that stops reading: the server's send buffer fills to its bound,
// then the socket closes with 4410 (refetch) instead of growing.
func TestSlowReaderClosed(t *testing.T) {
	s := start(t, wsgql.Options{SendBuffer: 256 << 10, WriteTimeout: 30 * time.Second})
	d := *websocket.DefaultDialer
	d.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(16 << 10) // a phone on a bad network
		}
		return c, err
	}
	c := s.dialWith(t, &d, http.Header{}, wsgql.GraphQLTransportWS)
	c.init()
	c.send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { ticks }"}})
	c.send(map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{"query": "subscription { ticks }"}})
	require.Eventually(t, func() bool { return s.hub.count() == 2 }, 5*time.Second, time.Millisecond)
	big := strings.Repeat("x", 64<<10)
	for i := 0; i < 500 && s.t.SlowClosed() == 0; i++ {
		s.hub.emit(big)
	}
	require.EqualValues(t, 1, s.t.SlowClosed(), "the send buffer overflowed")
	require.Eventually(t, func() bool { return s.hub.count() == 0 }, 5*time.Second, time.Millisecond, "its subscriptions ended")
	nexts := 0
	for {
		m, err := c.read(10 * time.Second)
		if err != nil {
			var ce *websocket.CloseError
			require.ErrorAs(t, err, &ce)
			require.Equal(t, wsgql.CloseSlow, ce.Code)
			break
		}
		require.Equal(t, "next", m.Type)
		nexts++
	}
	require.Positive(t, nexts, "what was written before arrives first")
	require.Eventually(t, func() bool { return s.t.Open() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestOrigins(t *testing.T) {
	s := start(t, wsgql.Options{AllowedOrigins: []string{"https://*.example.com"}})
	for origin, ok := range map[string]bool{"": true, "https://app.example.com": true, "http://app.example.com": false, "https://evil.test": false} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		d := *websocket.DefaultDialer
		d.Subprotocols = []string{wsgql.GraphQLTransportWS}
		c, resp, err := d.Dial(s.url, h)
		if ok {
			require.NoError(t, err, origin)
			_ = c.Close()
		} else {
			require.Error(t, err, origin)
			require.Equal(t, http.StatusForbidden, resp.StatusCode, origin)
		}
	}
}

// goroutinesIn counts the goroutines whose stack mentions fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 16<<20)
	n := 0
	for g := range strings.SplitSeq(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// An idle socket holds one goroutine, its reader, however many pushed
// subscriptions it has; a message borrows one while it is sent.
func TestOneGoroutinePerIdleSocket(t *testing.T) {
	s := start(t, wsgql.Options{})
	const sockets, subs = 20, 5
	clients := make([]*client, sockets)
	for i := range clients {
		c := s.dial(t, wsgql.GraphQLTransportWS)
		c.init()
		for j := range subs {
			c.send(map[string]any{"id": fmt.Sprint(j), "type": "subscribe", "payload": map[string]any{"query": "subscription { ticks }"}})
		}
		clients[i] = c
	}
	require.Eventually(t, func() bool { return s.hub.count() == sockets*subs }, 5*time.Second, time.Millisecond)
	s.hub.emit("hi")
	for _, c := range clients {
		for range subs {
			require.Equal(t, "next", c.next().Type)
		}
	}
	require.Eventually(t, func() bool {
		return goroutinesIn("wsgql.(*conn).serve") == sockets && goroutinesIn("wsgql.(*operation)") == 0 &&
			goroutinesIn("wsgql.(*conn).flush") == 0
	}, 5*time.Second, 10*time.Millisecond, "readers %d, operations %d", goroutinesIn("wsgql.(*conn).serve"), goroutinesIn("wsgql.(*operation)"))
	require.Eventually(t, func() bool { return goroutinesIn("wsgql.(*wheel).run") == 1 }, 5*time.Second, 10*time.Millisecond,
		"one keep-alive goroutine for all sockets (earlier tests' wheels stop at their next tick)")
	require.Equal(t, int64(sockets), s.t.Open())
	for _, c := range clients {
		_ = c.c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	}
	require.Eventually(t, func() bool {
		return s.t.Open() == 0 && s.hub.count() == 0 && goroutinesIn("wsgql.(*wheel).run") == 0
	}, 5*time.Second, 10*time.Millisecond, "closed sockets end their subscriptions, and the wheel stops")
}
