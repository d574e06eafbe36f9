package auth

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// sessionCache remembers for a moment that a session passed Authenticate's
// database check, so a phone's burst of requests costs one check, not one
// each. A change that may end sessions (logout, password, user or party
// status) clears it on this instance at once and, through Announce, on the
// others; the TTL bounds how long an instance that missed the announcement
// can keep trusting a session.
type sessionCache struct {
	ttl time.Duration
	gen atomic.Uint64 // advanced by every clear; an answer read under an older one is not kept

	mu    sync.RWMutex
	m     map[uuid.UUID]cachedSession
	swept time.Time
}

// cachedSession is what the check established, for one session ID.
type cachedSession struct {
	userID, partyID uuid.UUID
	version         int64
	partyPath       string
	at              time.Time
	gen             uint64
}

func newSessionCache(ttl time.Duration) *sessionCache {
	return &sessionCache{ttl: ttl, m: map[uuid.UUID]cachedSession{}}
}

// get returns the party path of a session checked less than ttl ago for the
// same user, party and session version.
func (c *sessionCache) get(sid, uid, pid uuid.UUID, version int64, now time.Time) (string, bool) {
	if c.ttl <= 0 {
		return "", false
	}
	c.mu.RLock()
	e, ok := c.m[sid]
	c.mu.RUnlock()
	if !ok || e.gen != c.gen.Load() || now.Sub(e.at) >= c.ttl || now.Before(e.at) ||
		e.userID != uid || e.partyID != pid || e.version != version {
		return "", false
	}
	return e.partyPath, true
}

// put keeps a check read under generation gen, unless a clear came since.
func (c *sessionCache) put(sid uuid.UUID, e cachedSession) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.gen != c.gen.Load() {
		return
	}
	if e.at.Sub(c.swept) >= c.ttl { // drop what expired, at most once per TTL
		for k, v := range c.m {
			if e.at.Sub(v.at) >= c.ttl {
				delete(c.m, k)
			}
		}
		c.swept = e.at
	}
	c.m[sid] = e
}

// clear forgets every session check.
func (c *sessionCache) clear() {
	c.mu.Lock()
	c.gen.Add(1)
	clear(c.m)
	c.mu.Unlock()
}

// SessionsChanged is called after a commit that may have ended sessions: it
// clears this instance's session checks and announces the change to the others.
func (s *Service) SessionsChanged() {
	s.sessions.clear()
	if s.Announce != nil {
		s.Announce()
	}
}

// ForgetSessions clears this instance's session checks, on another
// instance's announcement.
func (s *Service) ForgetSessions() { s.sessions.clear() }
