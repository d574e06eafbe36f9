package broker

import (
	"bytes"
	"context"
	"sync"
)

// memory is the in-process broker: Publish copies the payload into each
// subscriber's buffer before it returns. It starts no goroutines.
type memory struct {
	opts   Options
	mu     sync.RWMutex
	topics map[string]*topic
	closed bool
}

// NewMemory returns an in-process broker, for a single instance.
func NewMemory(opts Options) Broker {
	return &memory{opts: opts.withDefaults(), topics: make(map[string]*topic)}
}

func (b *memory) Publish(ctx context.Context, name string, payload []byte) error {
	if name == "" {
		return ErrNoTopic
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return ErrClosed
	}
	t := b.topics[name]
	if t == nil {
		return nil
	}
	m := Message{Topic: name, Payload: bytes.Clone(payload), Seq: seq.Add(1)}
	for s := range t.subs {
		s.send(m)
	}
	return nil
}

func (b *memory) PublishMany(ctx context.Context, msgs []Message) error {
	for _, m := range msgs {
		if m.Topic == "" {
			return ErrNoTopic
		}
	}
	for _, m := range msgs {
		if err := b.Publish(ctx, m.Topic, m.Payload); err != nil {
			return err
		}
	}
	return nil
}

func (b *memory) Subscribe(ctx context.Context, topics ...string) (<-chan Message, error) {
	r := newChanReceiver(b.opts.Buffer)
	if err := b.SubscribeTo(ctx, r, topics...); err != nil {
		return nil, err
	}
	return r.ch, nil
}

func (b *memory) SubscribeTo(ctx context.Context, r Receiver, topics ...string) error {
	names, err := uniqueTopics(topics)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s := newSub(names, r)
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
	}
	b.mu.Unlock()
	s.watch(ctx, func() { b.remove(s) })
	return nil
}

func (b *memory) remove(s *sub) {
	b.mu.Lock()
	for _, name := range s.topics {
		if t := b.topics[name]; t != nil {
			delete(t.subs, s)
			if len(t.subs) == 0 {
				delete(b.topics, name)
			}
		}
	}
	b.mu.Unlock()
	s.close()
}

func (b *memory) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	subs := allSubs(b.topics)
	b.topics = make(map[string]*topic)
	b.mu.Unlock()
	for s := range subs {
		s.close()
	}
	return nil
}

func allSubs(topics map[string]*topic) map[*sub]struct{} {
	out := make(map[*sub]struct{})
	for _, t := range topics {
		for s := range t.subs {
			out[s] = struct{}{}
		}
	}
	return out
}
