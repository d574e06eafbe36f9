package auth

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// sessionCache remembers for a moment that an access token passed
// Authenticate (its signature and its session's database check), so a
// phone's burst of requests costs one check, not one each. A change that may
// end sessions (logout, password, user or party status) clears it on this
// instance at once and, through Announce, on the others; the TTL bounds how
// long an instance that missed the announcement can keep trusting a session.
type sessionCache struct {
	ttl time.Duration
	gen atomic.Uint64 // advanced by every clear; an answer read under an older one is not kept

	mu    sync.RWMutex
	m     map[string]cachedSession // by access token
	swept time.Time
}

// cachedSession is what Authenticate established for one access token.
type cachedSession struct {
	p   Principal
	at  time.Time
	gen uint64
}

func newSessionCache(ttl time.Duration) *sessionCache {
	return &sessionCache{ttl: ttl, m: map[string]cachedSession{}}
}

// get returns the principal of a token authenticated less than ttl ago and
// not expired since.
func (c *sessionCache) get(token string, now time.Time) (Principal, bool) {
	if c.ttl <= 0 {
		return Principal{}, false
	}
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	if !ok || e.gen != c.gen.Load() || now.Sub(e.at) >= c.ttl || now.Before(e.at) || !now.Before(e.p.ExpiresAt) {
		return Principal{}, false
	}
	p := e.p
	p.Roles = slices.Clone(p.Roles) // callers own their principal
	return p, true
}

// put keeps a principal authenticated under generation gen, unless a clear
// came since.
func (c *sessionCache) put(token string, e cachedSession) {
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
	e.p.Roles = slices.Clone(e.p.Roles)
	c.m[token] = e
}

// clear forgets every authenticated token.
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
