package wsgql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Stream is the transport's side of a subscription being resolved; a
// resolver finds it with StreamFrom while it runs.
//
// A resolver that calls Push drives its stream: it calls Ready once after
// each value it sends on the channel it returns, and once after closing the
// channel. The transport then reads the channel exactly once per Ready, so a
// read never waits and an idle subscription holds no goroutine. Ready may be
// called before Push (it counts), and from any goroutine; it never blocks.
// A resolver that does not call Push is read by a goroutine of its own, as
// in gqlgen's transport.
type Stream interface {
	Push()
	Ready()
}

type streamKey struct{}

// StreamFrom returns the Stream of the subscription resolved in ctx, or nil
// outside this transport.
func StreamFrom(ctx context.Context) Stream {
	op, _ := ctx.Value(streamKey{}).(*operation)
	if op == nil {
		return nil
	}
	return op
}

// operation is one subscribe (graphql-transport-ws) or start (graphql-ws).
type operation struct {
	c      *conn
	id     string
	cancel context.CancelFunc

	mu        sync.Mutex
	rc        *graphql.OperationContext
	responses graphql.ResponseHandler // set once dispatched
	ctx       context.Context         // for responses
	push      bool                    // the resolver calls Ready
	pending   int                     // Ready calls not yet read
	pumping   bool                    // a goroutine reads and sends
	done      bool                    // completed or stopped: nothing more is sent
}

// start runs a subscribe/start message. The reader only registers the
// operation (so a complete or stop that follows finds it); parsing,
// validation and dispatch run in a goroutine of the operation's, which ends
// once the resolver has returned (push streams) or once the operation ends.
// The reader's own stack stays small: it is what an idle socket keeps.
func (c *conn) start(m inMsg) {
	begin := graphql.Now()
	c.mu.Lock()
	old := c.ops[m.ID]
	c.mu.Unlock()
	if old != nil {
		if !c.legacy {
			c.close(CloseDuplicateID, "Subscriber for "+m.ID+" already exists")
			return
		}
		old.finish(false) // graphql-ws: a start with a running id replaces it
	}
	op := &operation{c: c, id: m.ID}
	ctx := context.WithValue(graphql.StartOperationTrace(c.ctx), streamKey{}, op)
	ctx, op.cancel = context.WithCancel(ctx)
	c.mu.Lock()
	if c.ops == nil {
		c.ops = map[string]*operation{}
	}
	c.ops[m.ID] = op
	c.mu.Unlock()
	go op.start(ctx, begin, m.Payload)
}

func (op *operation) start(ctx context.Context, begin time.Time, payload json.RawMessage) {
	defer op.recover(ctx)
	c := op.c
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil || len(payload) == 0 {
		if !c.legacy {
			op.end()
			c.close(CloseBadRequest, "Invalid subscribe payload")
			return
		}
		op.fail(gqlerror.List{{Message: "invalid json"}})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: begin, End: graphql.Now()}
	rc, errs := c.exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			op.fail(resp.Errors)
			return
		}
		if op.emit(resp) {
			op.finish(true)
		}
		return
	}
	op.mu.Lock()
	op.rc = rc
	op.mu.Unlock()
	op.run(graphql.WithOperationContext(ctx, rc))
}

// run dispatches the operation. A push stream is then read by pump on
// Ready; anything else is read here until it ends.
func (op *operation) run(ctx context.Context) {
	defer op.recover(ctx)
	responses, ctx := op.c.exec.DispatchOperation(ctx, op.rc)
	op.mu.Lock()
	op.responses, op.ctx = responses, ctx
	if op.push {
		pump := op.pending > 0 && !op.pumping && !op.done
		op.pumping = op.pumping || pump
		op.mu.Unlock()
		if pump {
			op.pump()
		}
		return
	}
	op.mu.Unlock()
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		if !op.emit(resp) {
			return
		}
	}
	op.finish(true)
}

// Push: see Stream.
func (op *operation) Push() {
	op.mu.Lock()
	op.push = true
	op.mu.Unlock()
}

// Ready: see Stream.
func (op *operation) Ready() {
	op.mu.Lock()
	if op.done {
		op.mu.Unlock()
		return
	}
	op.pending++
	if op.responses == nil || !op.push || op.pumping {
		op.mu.Unlock()
		return
	}
	op.pumping = true
	op.mu.Unlock()
	go op.pump()
}

// pump reads one response per pending Ready and sends it; it ends when none
// is pending, so it runs only while messages wait.
func (op *operation) pump() {
	defer op.recover(op.ctx)
	for {
		op.mu.Lock()
		if op.done || op.pending == 0 {
			op.pumping = false
			op.mu.Unlock()
			return
		}
		op.pending--
		op.mu.Unlock()
		resp := op.responses(op.ctx)
		if resp == nil {
			op.finish(true)
			return
		}
		if !op.emit(resp) {
			return
		}
	}
}

// recover turns a panic in the operation into an error message that ends it.
func (op *operation) recover(ctx context.Context) {
	r := recover()
	if r == nil {
		return
	}
	op.mu.Lock()
	rc := op.rc
	op.mu.Unlock()
	var err error
	if rc != nil {
		err = rc.Recover(ctx, r)
	} else {
		err = graphql.DefaultRecover(ctx, r)
	}
	var gerr *gqlerror.Error
	if !errors.As(err, &gerr) {
		gerr = &gqlerror.Error{}
		if err != nil {
			gerr.Message = err.Error()
		}
	}
	op.mu.Lock()
	op.pumping = false
	op.mu.Unlock()
	op.fail(gqlerror.List{gerr})
}

// emit sends one response unless the operation is over; false: it is.
func (op *operation) emit(resp *graphql.Response) bool {
	b, err := json.Marshal(resp)
	if err != nil {
		op.fail(gqlerror.List{{Message: err.Error()}})
		return false
	}
	typ := "next"
	if op.c.legacy {
		typ = "data"
	}
	f := frame(typ, op.id, b)
	op.mu.Lock()
	if op.done {
		op.mu.Unlock()
		return false
	}
	flush := op.c.enqueue(f)
	op.mu.Unlock()
	if flush {
		go op.c.flush() // never here: a slow peer must not stop this stream's reads, only fill the send buffer
	}
	return true
}

// finish ends the operation once: complete is sent if asked, its context
// ends and the id is free again.
func (op *operation) finish(complete bool) {
	op.mu.Lock()
	if op.done {
		op.mu.Unlock()
		return
	}
	op.done = true
	flush := complete && op.c.enqueue(frame("complete", op.id, nil))
	op.mu.Unlock()
	op.end()
	if flush {
		go op.c.flush()
	}
}

// fail ends the operation with an error message (and complete on graphql-ws,
// whose error does not end an operation).
func (op *operation) fail(errs gqlerror.List) {
	op.mu.Lock()
	if op.done {
		op.mu.Unlock()
		return
	}
	op.done = true
	flush := op.c.enqueue(errorFrame(op.id, errs))
	if op.c.legacy {
		flush = op.c.enqueue(frame("complete", op.id, nil)) || flush
	}
	op.mu.Unlock()
	op.end()
	if flush {
		go op.c.flush()
	}
}

func (op *operation) end() {
	op.cancel()
	c := op.c
	c.mu.Lock()
	if c.ops[op.id] == op {
		delete(c.ops, op.id)
	}
	c.mu.Unlock()
}

func errorFrame(id string, errs gqlerror.List) []byte {
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"internal error"}]`)
	}
	return frame("error", id, b)
}
