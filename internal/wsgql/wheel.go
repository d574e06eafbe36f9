package wsgql

import (
	"sync"
	"time"
)

// wheelSlots divides a keep-alive interval: a socket is visited once per lap,
// in the slot of the tick it was added in, so the pings of sockets that
// opened at different moments spread over the interval.
const wheelSlots = 32

// wheel is the keep-alive timer of every socket of one Transport: one
// goroutine ticking while any socket is open, instead of a ticker and a
// goroutine per socket. Each slot is an intrusive list of conns.
type wheel struct {
	every time.Duration

	mu      sync.Mutex
	slots   [wheelSlots]*conn
	pos     int
	n       int
	running bool
}

// add puts c in the current slot: its first beat comes one lap later.
func (w *wheel) add(c *conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.wslot >= 0 {
		return
	}
	c.wslot = w.pos
	c.wprev, c.wnext = nil, w.slots[w.pos]
	if c.wnext != nil {
		c.wnext.wprev = c
	}
	w.slots[w.pos] = c
	w.n++
	if !w.running {
		w.running = true
		go w.run()
	}
}

func (w *wheel) remove(c *conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c.wslot < 0 {
		return
	}
	if c.wprev != nil {
		c.wprev.wnext = c.wnext
	} else {
		w.slots[c.wslot] = c.wnext
	}
	if c.wnext != nil {
		c.wnext.wprev = c.wprev
	}
	c.wprev, c.wnext, c.wslot = nil, nil, -1
	w.n--
}

func (w *wheel) run() {
	t := time.NewTicker(max(w.every/wheelSlots, time.Millisecond))
	defer t.Stop()
	var due []*conn
	for now := range t.C {
		w.mu.Lock()
		if w.n == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		w.pos = (w.pos + 1) % wheelSlots
		for c := w.slots[w.pos]; c != nil; c = c.wnext {
			due = append(due, c)
		}
		w.mu.Unlock()
		for _, c := range due {
			c.beat(now)
		}
		clear(due)
		due = due[:0]
	}
}
