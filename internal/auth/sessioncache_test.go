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
	sid, uid, pid := uuid.New(), uuid.New(), uuid.New()
	t0 := time.Now()
	entry := func(at time.Time, gen uint64) cachedSession {
		return cachedSession{userID: uid, partyID: pid, version: 3, partyPath: "/hq/d/", at: at, gen: gen}
	}

	c.put(sid, entry(t0, c.gen.Load()))
	path, ok := c.get(sid, uid, pid, 3, t0.Add(900*time.Millisecond))
	require.True(t, ok)
	require.Equal(t, "/hq/d/", path)

	_, ok = c.get(sid, uid, pid, 3, t0.Add(time.Second))
	require.False(t, ok, "older than the TTL")
	_, ok = c.get(sid, uid, pid, 4, t0)
	require.False(t, ok, "another session version")
	_, ok = c.get(sid, uuid.New(), pid, 3, t0)
	require.False(t, ok, "another user")
	_, ok = c.get(uuid.New(), uid, pid, 3, t0)
	require.False(t, ok, "another session")

	c.clear()
	_, ok = c.get(sid, uid, pid, 3, t0)
	require.False(t, ok, "cleared")

	// A check read before a clear is not kept after it.
	gen := c.gen.Load()
	c.clear()
	c.put(sid, entry(t0, gen))
	_, ok = c.get(sid, uid, pid, 3, t0)
	require.False(t, ok, "read under an older generation")

	// Expired entries are dropped as new ones come in.
	c.put(sid, entry(t0, c.gen.Load()))
	other := uuid.New()
	c.put(other, cachedSession{userID: uid, partyID: pid, at: t0.Add(2 * time.Second), gen: c.gen.Load()})
	require.Len(t, c.m, 1)

	off := newSessionCache(0)
	off.put(sid, entry(t0, off.gen.Load()))
	_, ok = off.get(sid, uid, pid, 3, t0)
	require.False(t, ok, "TTL 0 keeps nothing")
}
