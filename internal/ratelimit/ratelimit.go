// Package ratelimit caps how often one key (a user, an IP) may act: in Redis
// when it is configured, so every instance shares the count, and in-process
// otherwise. Both follow the same contract test.
package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is Rate events per Period, with bursts up to Burst.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// PerMinute allows n events a minute with bursts of burst.
func PerMinute(n, burst int) Limit { return Limit{Rate: n, Period: time.Minute, Burst: burst} }

// Limiter answers whether key may act now, and if not, when.
type Limiter interface {
	Allow(ctx context.Context, key string, l Limit) (ok bool, retryAfter time.Duration, err error)
}

// Redis is a Limiter shared by every instance (GCRA in one Lua call).
type Redis struct {
	l      *redis_rate.Limiter
	prefix string
}

// NewRedis returns a Redis limiter whose keys start with prefix.
func NewRedis(c *redis.Client, prefix string) *Redis {
	return &Redis{l: redis_rate.NewLimiter(c), prefix: prefix}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string, l Limit) (bool, time.Duration, error) {
	res, err := r.l.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Period: l.Period, Burst: l.Burst})
	if err != nil {
		return false, 0, fmt.Errorf("ratelimit: %w", err)
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, res.RetryAfter, nil
}

// Memory is an in-process Limiter: one token bucket per key, the least
// recently used keys forgotten beyond a bound.
type Memory struct {
	mu      sync.Mutex
	buckets *lru.Cache[string, *rate.Limiter]
	now     func() time.Time
}

// NewMemory keeps at most size keys.
func NewMemory(size int) *Memory {
	c, _ := lru.New[string, *rate.Limiter](size) // only fails for size <= 0
	return &Memory{buckets: c, now: time.Now}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string, l Limit) (bool, time.Duration, error) {
	k := fmt.Sprintf("%s|%d/%s/%d", key, l.Rate, l.Period, l.Burst)
	m.mu.Lock()
	b, ok := m.buckets.Get(k)
	if !ok {
		b = rate.NewLimiter(rate.Every(l.Period/time.Duration(l.Rate)), l.Burst)
		m.buckets.Add(k, b)
	}
	m.mu.Unlock()
	now := m.now()
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d, nil
	}
	return true, 0, nil
}
