// Package wsgql is a GraphQL-over-WebSocket transport for gqlgen's
// handler.Server, built for many idle sockets: one socket per phone, most of
// them quiet for hours.
//
// It speaks graphql-transport-ws (the graphql-ws library's protocol) and the
// legacy graphql-ws (subscriptions-transport-ws) protocol; a client that asks
// for neither gets the legacy one, as with gqlgen's own transport. Operations
// run through the executor as gqlgen's transport runs them
// (CreateOperationContext, DispatchOperation), so extensions, error
// presenters and response middleware apply unchanged.
//
// What an idle socket costs:
//   - one goroutine, the reader, blocked in a read with a small buffer;
//     messages are written under a per-socket lock with a write deadline by
//     whichever goroutine has something to send, with write buffers from a
//     shared pool (gorilla/websocket's WriteBufferPool);
//   - no keep-alive goroutine or ticker: one timer wheel per Transport pings
//     every socket once per KeepAlive and closes a socket that has sent
//     nothing for two intervals;
//   - no goroutine per subscription when the resolver drives its stream (see
//     Stream): the transport reads the resolver's channel only when told a
//     value is there. A subscription whose resolver does not, and every query
//     or mutation, gets a goroutine while it runs, as in gqlgen.
//
// A socket whose peer reads too slowly has a bounded send buffer (SendBuffer
// bytes waiting behind the message being written); past it the socket is
// closed with CloseSlow (4410): the client reconnects and refetches, as
// messages were dropped. A write that takes longer than WriteTimeout closes
// the connection.
package wsgql

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/gorilla/websocket"
)

// Close codes: graphql-transport-ws's, and CloseSlow of our own.
const (
	CloseNormal       = 1000
	CloseGoingAway    = 1001
	CloseInternal     = 1011
	CloseBadRequest   = 4400 // a message the protocol does not allow
	CloseUnauthorized = 4401 // subscribe before connection_ack
	CloseForbidden    = 4403 // connection_init refused (bad or expired token)
	CloseInitTimeout  = 4408 // no connection_init in time
	CloseDuplicateID  = 4409 // subscribe with the id of a running operation
	CloseSlow         = 4410 // the send buffer overflowed: reconnect and refetch
	CloseTooManyInits = 4429 // a second connection_init
)

// Subprotocols.
const (
	GraphQLTransportWS = "graphql-transport-ws"
	GraphQLWS          = "graphql-ws" // legacy subscriptions-transport-ws
)

// Options configure a Transport. Zero values take the defaults.
type Options struct {
	// InitFunc authenticates connection_init. It returns the connection's
	// context, which its operations run in; when that context ends (a token
	// expires, a session is revoked) the socket closes with 1000 and the
	// reason set by WithCloseReason. An error refuses the socket: a
	// *CloseError chooses the close code, any other error closes with 4403.
	InitFunc func(ctx context.Context, payload InitPayload) (context.Context, error)
	// InitTimeout bounds the wait for connection_init (default 10 s); past
	// it the socket closes with 4408.
	InitTimeout time.Duration
	// KeepAlive is how often a socket is pinged (default 25 s): `ping` on
	// graphql-transport-ws, `ka` plus a WebSocket ping frame on graphql-ws.
	// A socket that sent nothing, not even a pong, for two intervals is
	// closed.
	KeepAlive time.Duration
	// WriteTimeout bounds one message's write (default 10 s).
	WriteTimeout time.Duration
	// ReadLimit caps a client message (default 1 MiB); a larger one closes
	// the socket with 1009.
	ReadLimit int64
	// SendBuffer caps the bytes waiting behind the message being written
	// (default 1 MiB); past it the socket closes with 4410.
	SendBuffer int
	// AllowedOrigins are extra Origin patterns (path.Match globs on the
	// origin's host, or on scheme://host when the pattern has "://"). A
	// request without Origin, or from the request's own host, is allowed.
	AllowedOrigins []string
	// ReadBufferSize is the per-socket read buffer (default 1 KiB): it is
	// held for the socket's life, so it stays small; larger messages are
	// read through it.
	ReadBufferSize int
}

// CloseError refuses connection_init with a close code.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return e.Reason }

// InitPayload is connection_init's payload.
type InitPayload map[string]any

// Authorization is the payload's Authorization (or authorization) string.
func (p InitPayload) Authorization() string {
	for _, k := range []string{"Authorization", "authorization"} {
		if s, _ := p[k].(string); s != "" {
			return s
		}
	}
	return ""
}

type closeReasonKey struct{}

// WithCloseReason sets the reason a socket gives (in its close frame, and in
// connection_error on graphql-ws) when its connection context ends.
func WithCloseReason(ctx context.Context, reason string) context.Context {
	return context.WithValue(ctx, closeReasonKey{}, reason)
}

// Transport is the WebSocket transport: a graphql.Transport for
// handler.Server.AddTransport.
type Transport struct {
	o     Options
	up    websocket.Upgrader
	wheel *wheel
	open  atomic.Int64
	slow  atomic.Uint64
}

var _ graphql.Transport = (*Transport)(nil)

// New returns a Transport with o's settings.
func New(o Options) *Transport {
	if o.InitTimeout <= 0 {
		o.InitTimeout = 10 * time.Second
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 25 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = 1 << 20
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = 1 << 20
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 1024
	}
	t := &Transport{o: o}
	t.up = websocket.Upgrader{
		ReadBufferSize:  o.ReadBufferSize,
		WriteBufferPool: &sync.Pool{},
		Subprotocols:    []string{GraphQLTransportWS, GraphQLWS},
		CheckOrigin:     func(r *http.Request) bool { return originAllowed(r, o.AllowedOrigins) },
	}
	t.wheel = &wheel{every: o.KeepAlive}
	return t
}

// Open is the number of open sockets.
func (t *Transport) Open() int64 { return t.open.Load() }

// SlowClosed is the number of sockets closed with CloseSlow so far.
func (t *Transport) SlowClosed() uint64 { return t.slow.Load() }

// Supports answers requests that ask for an upgrade.
func (t *Transport) Supports(r *http.Request) bool { return r.Header.Get("Upgrade") != "" }

// Do upgrades the request and serves the socket in a goroutine of its own;
// it returns at once, so the request's own goroutine and buffers go. The
// connection's context keeps the request's values, not its cancellation.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	if _, ok := w.(http.Hijacker); !ok {
		w = hijacker{w}
	}
	ws, err := t.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	ws.SetReadLimit(t.o.ReadLimit)
	c := &conn{t: t, ws: ws, exec: exec, legacy: ws.Subprotocol() != GraphQLTransportWS, wslot: -1}
	c.seen.Store(time.Now().UnixNano())
	ws.SetPongHandler(func(string) error {
		c.seen.Store(time.Now().UnixNano())
		return nil
	})
	c.ctx, c.cancel = context.WithCancel(context.WithoutCancel(r.Context()))
	t.open.Add(1)
	_ = ws.NetConn().SetReadDeadline(time.Now().Add(t.o.InitTimeout))
	c.serve(true)
}

// hijacker reaches a wrapped ResponseWriter's connection.
type hijacker struct{ http.ResponseWriter }

func (h hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}

func (h hijacker) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// originAllowed follows coder/websocket's rule, which gqlgen's transport used.
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(r.Host, u.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, err := path.Match(strings.ToLower(p), strings.ToLower(target)); err == nil && ok {
			return true
		}
	}
	return false
}

// inMsg is a client message of either protocol.
type inMsg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
}

// frame encodes a server message.
func frame(typ, id string, payload []byte) []byte {
	b := make([]byte, 0, len(payload)+len(id)+48)
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if id != "" {
		q, _ := json.Marshal(id)
		b = append(b, `,"id":`...)
		b = append(b, q...)
	}
	if len(payload) > 0 {
		b = append(b, `,"payload":`...)
		b = append(b, payload...)
	}
	return append(b, '}')
}

var (
	pingFrame = frame("ping", "", nil)
	kaFrame   = frame("ka", "", nil)
)

// conn is one socket.
type conn struct {
	t      *Transport
	ws     *websocket.Conn
	exec   graphql.GraphExecutor
	legacy bool

	ctx       context.Context    // before init the base; after, InitFunc's
	cancel    context.CancelFunc // ends the base, so every operation
	stopAfter func() bool        // stops the session-end callback
	inited    bool               // reader only

	seen atomic.Int64 // UnixNano of the last frame read

	// the keep-alive wheel's links, guarded by the wheel's lock
	wprev, wnext *conn
	wslot        int

	mu       sync.Mutex
	ops      map[string]*operation
	queue    [][]byte // messages waiting for the writer
	queued   int      // their bytes
	flushing bool     // a goroutine is writing the queue
	closing  int      // a close code: the close frame goes after the queue
	reason   string
	closed   bool // the close frame is written or the socket is gone: no more writes
}

// serve is the socket's reader. The request's goroutine reads until
// connection_init has been answered (InitFunc's work grows a stack), then
// hands over to a fresh goroutine, the socket's only one while idle.
func (c *conn) serve(handshake bool) {
	for {
		if handshake && c.inited {
			go c.serve(false)
			return
		}
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case !c.inited && errors.As(err, &ne) && ne.Timeout() && !c.isClosing():
				c.close(CloseInitTimeout, "Connection initialisation timeout")
			case errors.Is(err, websocket.ErrReadLimit):
				// gorilla has sent 1009. Read on for a moment, so the peer's
				// oversized message lands and it reads the close frame
				// rather than a reset.
				c.mu.Lock()
				c.closed = true
				c.mu.Unlock()
				c.cancel()
				nc := c.ws.NetConn()
				_ = nc.SetReadDeadline(time.Now().Add(closeWait))
				_, _ = io.CopyN(io.Discard, nc, 2*c.t.o.ReadLimit)
			}
			c.teardown()
			return
		}
		c.seen.Store(time.Now().UnixNano())
		if c.isClosing() {
			continue // waiting for the peer's close frame
		}
		var m inMsg
		if err := json.Unmarshal(b, &m); err != nil || m.Type == "" {
			c.close(CloseBadRequest, "Invalid message received")
			continue
		}
		c.handle(m)
	}
}

func (c *conn) handle(m inMsg) {
	switch m.Type {
	case "connection_init":
		if c.inited {
			c.close(CloseTooManyInits, "Too many initialisation requests")
			return
		}
		c.init(m.Payload)
	case "ping":
		if !c.legacy {
			c.send(frame("pong", "", m.Payload))
			return
		}
		c.close(CloseBadRequest, "Invalid message received")
	case "pong":
		if c.legacy {
			c.close(CloseBadRequest, "Invalid message received")
		}
	case "subscribe", "start":
		if (m.Type == "start") != c.legacy || m.ID == "" {
			c.close(CloseBadRequest, "Invalid message received")
			return
		}
		if !c.inited {
			c.close(CloseUnauthorized, "Unauthorized")
			return
		}
		c.start(m)
	case "complete", "stop":
		if (m.Type == "stop") != c.legacy || m.ID == "" {
			c.close(CloseBadRequest, "Invalid message received")
			return
		}
		c.mu.Lock()
		op := c.ops[m.ID]
		c.mu.Unlock()
		if op != nil {
			op.finish(c.legacy) // graphql-ws answers stop with complete; graphql-transport-ws does not
		}
	case "connection_terminate":
		if !c.legacy {
			c.close(CloseBadRequest, "Invalid message received")
			return
		}
		c.close(CloseNormal, "terminated")
	default:
		c.close(CloseBadRequest, "Invalid message received")
	}
}

// init runs InitFunc on connection_init's payload: an object, or none.
func (c *conn) init(raw json.RawMessage) {
	payload := InitPayload{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &payload); err != nil {
			c.close(CloseBadRequest, "Invalid connection_init payload")
			return
		}
	}
	ctx := c.ctx
	if c.t.o.InitFunc != nil {
		var err error
		ctx, err = c.t.o.InitFunc(c.ctx, payload)
		if err != nil {
			code, reason := CloseForbidden, "Forbidden"
			var ce *CloseError
			if errors.As(err, &ce) {
				code, reason = ce.Code, ce.Reason
			}
			if c.legacy {
				c.connectionError(reason)
			}
			c.close(code, reason)
			return
		}
	}
	c.inited = true
	c.ctx = ctx
	_ = c.ws.NetConn().SetReadDeadline(time.Time{})
	c.send(frame("connection_ack", "", nil))
	if c.legacy {
		c.send(kaFrame)
	}
	c.stopAfter = context.AfterFunc(ctx, c.sessionEnded)
	c.t.wheel.add(c)
}

// sessionEnded closes the socket when its connection context ends.
func (c *conn) sessionEnded() {
	reason, _ := c.ctx.Value(closeReasonKey{}).(string)
	if reason == "" {
		reason = "terminated"
	}
	if c.legacy {
		c.connectionError(reason)
	}
	c.close(CloseNormal, reason)
}

func (c *conn) connectionError(msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	c.send(frame("connection_error", "", b))
}

// beat is the wheel's call, once per KeepAlive; it never blocks.
func (c *conn) beat(now time.Time) {
	if now.UnixNano()-c.seen.Load() > int64(2*c.t.o.KeepAlive) {
		go c.close(CloseGoingAway, "keep-alive timeout")
		return
	}
	f := pingFrame
	if c.legacy {
		f = kaFrame
	}
	flush := c.enqueue(f)
	if flush || c.legacy {
		go func() {
			if flush {
				c.flush()
			}
			if c.legacy { // graphql-ws clients do not answer ka; every client answers a ping frame
				_ = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.t.o.WriteTimeout))
			}
		}()
	}
}

// send queues a message and, unless a write is under way, writes it (and
// whatever queues meanwhile) in this goroutine.
func (c *conn) send(b []byte) {
	if c.enqueue(b) {
		c.flush()
	}
}

// enqueue queues b and reports whether the caller must flush.
func (c *conn) enqueue(b []byte) bool {
	c.mu.Lock()
	flush, slow := c.enqueueLocked(b)
	c.mu.Unlock()
	if slow {
		c.cancel()
	}
	return flush
}

// enqueueLocked queues b; flush: the caller must write the queue (no write
// is under way); slow: the send buffer overflowed and the socket is closing
// with CloseSlow (the caller cancels its context outside the lock).
func (c *conn) enqueueLocked(b []byte) (flush, slow bool) {
	if c.closing != 0 || c.closed {
		return false, false
	}
	if c.flushing && c.queued+len(b) > c.t.o.SendBuffer {
		c.closing, c.reason = CloseSlow, "too slow: reconnect and refetch"
		c.queue, c.queued = nil, 0
		c.t.slow.Add(1)
		return false, true
	}
	c.queue = append(c.queue, b)
	c.queued += len(b)
	if c.flushing {
		return false, false
	}
	c.flushing = true
	return true, false
}

// flush writes the queue, then the close frame if the socket is closing.
// One goroutine flushes at a time (c.flushing).
func (c *conn) flush() {
	for {
		c.mu.Lock()
		if c.closed {
			c.flushing, c.queue, c.queued = false, nil, 0
			c.mu.Unlock()
			return
		}
		if len(c.queue) == 0 {
			if c.closing == 0 {
				c.flushing, c.queue = false, nil
				c.mu.Unlock()
				return
			}
			code, reason := c.closing, c.reason
			c.closed = true
			c.flushing = false
			c.mu.Unlock()
			c.writeClose(code, reason)
			return
		}
		b := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.queued -= len(b)
		c.mu.Unlock()

		_ = c.ws.SetWriteDeadline(time.Now().Add(c.t.o.WriteTimeout))
		if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
			c.mu.Lock()
			c.closed, c.flushing, c.queue, c.queued = true, false, nil, 0
			c.mu.Unlock()
			_ = c.ws.NetConn().Close() // the reader ends and tears down
			return
		}
	}
}

// closeWait bounds the wait for the peer's close frame after ours.
const closeWait = 2 * time.Second

func (c *conn) writeClose(code int, reason string) {
	if len(reason) > 120 {
		reason = reason[:120]
	}
	err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	if err != nil {
		_ = c.ws.NetConn().Close()
		return
	}
	_ = c.ws.NetConn().SetReadDeadline(time.Now().Add(closeWait))
}

// close ends the socket's operations and sends a close frame after what is
// queued; the reader then waits for the peer's close frame.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closing != 0 || c.closed {
		c.mu.Unlock()
		return
	}
	c.closing, c.reason = code, reason
	flush := !c.flushing
	c.flushing = true
	c.mu.Unlock()
	c.cancel()
	if flush {
		c.flush()
	}
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing != 0 || c.closed
}

// teardown runs once, when the reader ends.
func (c *conn) teardown() {
	c.mu.Lock()
	c.closed, c.queue, c.queued, c.ops = true, nil, 0, nil
	c.mu.Unlock()
	if c.stopAfter != nil {
		c.stopAfter()
	}
	c.cancel()
	c.t.wheel.remove(c)
	_ = c.ws.NetConn().Close()
	c.t.open.Add(-1)
}
