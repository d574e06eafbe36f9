package graph

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/vektah/gqlparser/v2/ast"

	"channelhub/internal/auth"
)

// cachedRoots are the root fields whose answers depend only on the caller and
// on data covered by the catalogue epoch; an operation made of nothing else
// may be answered from the response cache.
var cachedRoots = map[string]bool{"catalog": true, "sku": true, "categories": true, "runningPromotions": true, "__typename": true}

// Bounds of the response cache: no single answer above maxCachedBytes is
// kept, and all kept answers together stay under cacheBudget bytes.
const (
	maxCachedBytes = 256 << 10
	cacheBudget    = 64 << 20
)

// responseCache answers repeated catalogue reads without running them. The key
// holds the caller's user, session and session version, the document and its
// variables, and the catalogue epoch, which every change to SKUs, rules,
// prices, promotions, party attributes or assignments bumps in its own
// transaction. Entries live for ttl at most, which bounds how late a price
// list or promotion starting or ending by the clock shows up.
type responseCache struct {
	epoch func(context.Context) (int64, error)
	lru   *expirable.LRU[[32]byte, json.RawMessage]
	mu    *sync.Mutex   // makes peek-then-add one step
	bytes *atomic.Int64 // held by lru; expiry updates it from the lru's own goroutine
}

func newResponseCache(epoch func(context.Context) (int64, error), ttl time.Duration) responseCache {
	c := responseCache{epoch: epoch, mu: &sync.Mutex{}, bytes: &atomic.Int64{}}
	c.lru = expirable.NewLRU[[32]byte, json.RawMessage](0, func(_ [32]byte, v json.RawMessage) {
		c.bytes.Add(-int64(len(v)))
	}, ttl)
	return c
}

func (responseCache) ExtensionName() string                   { return "ResponseCache" }
func (responseCache) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation answers a hit with one response, as every transport
// expects of a query, and stores the first complete answer of a miss.
func (c responseCache) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	key, ok := c.key(ctx)
	if !ok {
		return next(ctx)
	}
	if data, hit := c.lru.Get(key); hit {
		return graphql.OneShot(&graphql.Response{Data: data})
	}
	rh := next(ctx)
	first := true
	return func(ctx context.Context) *graphql.Response {
		resp := rh(ctx)
		if first && resp != nil && resp.HasNext == nil && len(resp.Errors) == 0 && len(resp.Data) > 0 && len(resp.Data) <= maxCachedBytes {
			c.store(key, bytes.Clone(resp.Data))
		}
		first = false
		return resp
	}
}

func (c responseCache) store(key [32]byte, data json.RawMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.lru.Peek(key); ok {
		return
	}
	c.lru.Add(key, data)
	c.bytes.Add(int64(len(data)))
	for c.bytes.Load() > cacheBudget {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// key is the cache key of the operation in ctx, if it may be cached at all.
func (c responseCache) key(ctx context.Context) ([32]byte, bool) {
	var key [32]byte
	if !graphql.HasOperationContext(ctx) {
		return key, false
	}
	oc := graphql.GetOperationContext(ctx)
	p, err := auth.FromContext(ctx)
	if err != nil || oc.Operation == nil || oc.Operation.Operation != ast.Query || !onlyCachedRoots(oc.Operation.SelectionSet, oc.Doc.Fragments) ||
		!readsData(oc.Operation.SelectionSet, oc.Doc.Fragments) {
		return key, false
	}
	ep, err := c.epoch(ctx)
	if err != nil {
		return key, false // no epoch, no cache: answer fresh
	}
	vars, err := json.Marshal(oc.Variables)
	if err != nil {
		return key, false
	}
	h := sha256.New()
	h.Write(p.UserID[:])
	h.Write(p.SessionID[:])
	_ = binary.Write(h, binary.BigEndian, [2]int64{p.SessionVersion, ep})
	h.Write([]byte(oc.OperationName + "\x00" + oc.RawQuery + "\x00"))
	h.Write(vars)
	copy(key[:], h.Sum(nil))
	return key, true
}

// readsData reports whether a selection asks for more than __typename, which
// costs nothing to answer and is not worth the epoch's read.
func readsData(set ast.SelectionSet, frags ast.FragmentDefinitionList) bool {
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if s.Name != "__typename" {
				return true
			}
		case *ast.InlineFragment:
			if readsData(s.SelectionSet, frags) {
				return true
			}
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil && readsData(f.SelectionSet, frags) {
				return true
			}
		}
	}
	return false
}

func onlyCachedRoots(set ast.SelectionSet, frags ast.FragmentDefinitionList) bool {
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if !cachedRoots[s.Name] {
				return false
			}
		case *ast.InlineFragment:
			if !onlyCachedRoots(s.SelectionSet, frags) {
				return false
			}
		case *ast.FragmentSpread:
			f := frags.ForName(s.Name)
			if f == nil || !onlyCachedRoots(f.SelectionSet, frags) {
				return false
			}
		}
	}
	return true
}
