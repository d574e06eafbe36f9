package auth

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestSessionCache(t *testing.T) {
	t.Parallel()
	c := newSessionCache(time.Second)
	t0 := time.Now()
	p := Principal{UserID: uuid.New(), PartyID: uuid.New(), PartyPath: "/hq/d/", Roles: []Role{RoleDistributorAdmin}, ExpiresAt: t0.Add(time.Hour)}
	entry := func(at time.Time, gen uint64) cachedSession { return cachedSession{p: p, at: at, gen: gen} }

	c.put("tok", entry(t0, c.gen.Load()))
	got, ok := c.get("tok", t0.Add(900*time.Millisecond))
	require.True(t, ok)
	require.Equal(t, p, got)
	got.Roles[0] = RoleHQAdmin // a caller's principal is its own
	got, _ = c.get("tok", t0)
	require.Equal(t, RoleDistributorAdmin, got.Roles[0])

	_, ok = c.get("tok", t0.Add(time.Second))
	require.False(t, ok, "older than the TTL")
	_, ok = c.get("tok", t0.Add(-time.Millisecond))
	require.False(t, ok, "a clock that went back")
	_, ok = c.get("other", t0)
	require.False(t, ok, "another token")

	short := p
	short.ExpiresAt = t0.Add(500 * time.Millisecond)
	c.put("short", cachedSession{p: short, at: t0, gen: c.gen.Load()})
	_, ok = c.get("short", t0.Add(400*time.Millisecond))
	require.True(t, ok)
	_, ok = c.get("short", t0.Add(500*time.Millisecond))
	require.False(t, ok, "the token expired")

	c.clear()
	_, ok = c.get("tok", t0)
	require.False(t, ok, "cleared")

	// A check read before a clear is not kept after it.
	gen := c.gen.Load()
	c.clear()
	c.put("tok", entry(t0, gen))
	_, ok = c.get("tok", t0)
	require.False(t, ok, "read under an older generation")

	// Expired entries are dropped as new ones come in.
	c.put("tok", entry(t0, c.gen.Load()))
	c.put("later", entry(t0.Add(2*time.Second), c.gen.Load()))
	require.Len(t, c.m, 1)

	off := newSessionCache(0)
	off.put("tok", entry(t0, off.gen.Load()))
	_, ok = off.get("tok", t0)
	require.False(t, ok, "TTL 0 keeps nothing")
}
