package graph

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
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

// responseCache answers repeated catalogue reads without running them. The key
// holds the caller's user, session and session version, the document and its
// variables, and the catalogue epoch, which every change to SKUs, rules,
// prices, promotions, party attributes or assignments bumps in its own
// transaction. Entries live for ttl at most, which bounds how late a price
// list or promotion starting or ending by the clock shows up.
type responseCache struct {
	epoch func(context.Context) (int64, error)
	lru   *expirable.LRU[[32]byte, json.RawMessage]
}

func newResponseCache(epoch func(context.Context) (int64, error), size int, ttl time.Duration) responseCache {
	return responseCache{epoch: epoch, lru: expirable.NewLRU[[32]byte, json.RawMessage](size, nil, ttl)}
}

func (responseCache) ExtensionName() string                   { return "ResponseCache" }
func (responseCache) Validate(graphql.ExecutableSchema) error { return nil }

func (c responseCache) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	p, err := auth.FromContext(ctx)
	if err != nil || oc.Operation == nil || oc.Operation.Operation != ast.Query || !onlyCachedRoots(oc.Operation.SelectionSet, oc.Doc.Fragments) {
		return next(ctx)
	}
	ep, err := c.epoch(ctx)
	if err != nil {
		return next(ctx) // no epoch, no cache: answer fresh
	}
	vars, err := json.Marshal(oc.Variables)
	if err != nil {
		return next(ctx)
	}
	h := sha256.New()
	h.Write(p.UserID[:])
	h.Write(p.SessionID[:])
	_ = binary.Write(h, binary.BigEndian, [2]int64{p.SessionVersion, ep})
	h.Write([]byte(oc.OperationName + "\x00" + oc.RawQuery + "\x00"))
	h.Write(vars)
	var key [32]byte
	copy(key[:], h.Sum(nil))
	if data, ok := c.lru.Get(key); ok {
		return &graphql.Response{Data: data}
	}
	resp := next(ctx)
	if resp != nil && len(resp.Errors) == 0 && len(resp.Data) > 0 {
		c.lru.Add(key, resp.Data)
	}
	return resp
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
