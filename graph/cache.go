package graph

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/redis/go-redis/v9"
	"github.com/vektah/gqlparser/v2/ast"
)

// newQueryCache keeps parsed documents, so a repeated query skips parsing and validation.
func newQueryCache() graphql.Cache[*ast.QueryDocument] { return lru.New[*ast.QueryDocument](1000) }

// NewAPQMemoryCache is the in-process store of automatic persisted queries.
func NewAPQMemoryCache() graphql.Cache[string] { return lru.New[string](1000) }

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

// redisAPQ shares automatic persisted queries between instances through Redis.
type redisAPQ struct {
	c      *redis.Client
	prefix string
	ttl    time.Duration
}

// NewAPQRedisCache stores persisted queries in Redis under prefix+"apq:", for a day after last registration.
func NewAPQRedisCache(c *redis.Client, prefix string) graphql.Cache[string] {
	return redisAPQ{c: c, prefix: prefix + "apq:", ttl: 24 * time.Hour}
}

func (r redisAPQ) Get(ctx context.Context, key string) (string, bool) {
	s, err := r.c.Get(ctx, r.prefix+key).Result()
	return s, err == nil
}

func (r redisAPQ) Add(ctx context.Context, key, value string) {
	_ = r.c.Set(ctx, r.prefix+key, value, r.ttl).Err() // a lost entry only costs the client one resend
}
