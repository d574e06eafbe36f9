package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func limiters(t *testing.T) map[string]Limiter {
	out := map[string]Limiter{"memory": NewMemory(100)}
	url := os.Getenv("CHANNELHUB_TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CHANNELHUB_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("CHANNELHUB_TEST_REDIS_URL is not set")
		}
		return out
	}
	opt, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	out["redis"] = NewRedis(c, "test:"+hex.EncodeToString(b)+":")
	return out
}

// The contract both limiters keep: a burst passes, the next is refused with a
// retry hint, and keys do not share a budget.
func TestLimiterContract(t *testing.T) {
	t.Parallel()
	for name, l := range limiters(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			lim := PerMinute(60, 3)
			for i := range 3 {
				ok, _, err := l.Allow(ctx, "a", lim)
				require.NoError(t, err)
				require.True(t, ok, "burst request %d", i)
			}
			ok, retry, err := l.Allow(ctx, "a", lim)
			require.NoError(t, err)
			require.False(t, ok)
			require.Greater(t, retry, time.Duration(0))
			require.LessOrEqual(t, retry, 2*time.Second)
			ok, _, err = l.Allow(ctx, "b", lim)
			require.NoError(t, err)
			require.True(t, ok, "another key has its own budget")
		})
	}
}

func TestMemoryRefills(t *testing.T) {
	t.Parallel()
	m := NewMemory(10)
	now := time.Now()
	m.now = func() time.Time { return now }
	lim := PerMinute(60, 1)
	ok, _, _ := m.Allow(context.Background(), "k", lim)
	require.True(t, ok)
	ok, _, _ = m.Allow(context.Background(), "k", lim)
	require.False(t, ok)
	now = now.Add(time.Second)
	ok, _, _ = m.Allow(context.Background(), "k", lim)
	require.True(t, ok)
}
