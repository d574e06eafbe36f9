package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/database"
)

// Business errors of signing in; the graph layer maps each to an AuthErrorCode.
var (
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	ErrTooManyAttempts    = errors.New("auth: too many attempts")
	ErrAccountLocked      = errors.New("auth: account locked")
	ErrAppNotAllowed      = errors.New("auth: app not allowed")
	ErrAccountDisabled    = errors.New("auth: account disabled")
	ErrRefreshInvalid     = errors.New("auth: refresh token invalid")
	ErrRefreshReused      = errors.New("auth: refresh token reused")
	ErrPasswordIncorrect  = errors.New("auth: current password incorrect")
	ErrInvalidInput       = errors.New("auth: invalid input")
)

// RetryError says when a throttled login may be tried again.
type RetryError struct {
	Err        error
	RetryAfter time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// Config tunes sessions and login throttling.
type Config struct {
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// SlowAfter failures for one phone, each further attempt must wait twice as
	// long as the one before (1 s, 2 s, ... up to a minute); LockAfter failures
	// lock the phone for LockFor.
	SlowAfter int
	LockAfter int
	LockFor   time.Duration
	// SessionCacheTTL is how long a passed session check is trusted without
	// reading the database again; 0 checks every request.
	SessionCacheTTL time.Duration
	Now             func() time.Time
}

func (c *Config) defaults() {
	if c.AccessTTL == 0 {
		c.AccessTTL = 15 * time.Minute
	}
	if c.RefreshTTL == 0 {
		c.RefreshTTL = 30 * 24 * time.Hour
	}
	if c.SlowAfter == 0 {
		c.SlowAfter = 5
	}
	if c.LockAfter == 0 {
		c.LockAfter = 10
	}
	if c.LockFor == 0 {
		c.LockFor = 15 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Service signs users in and checks their tokens.
type Service struct {
	db       *database.DB
	keys     *KeySet
	hasher   *PasswordHasher
	cfg      Config
	sessions *sessionCache
	// Announce, when set, tells the other instances that sessions may have
	// ended (SessionsChanged calls it); they call ForgetSessions.
	Announce func()
}

// NewService returns a Service; zero Config fields take defaults.
func NewService(db *database.DB, keys *KeySet, hasher *PasswordHasher, cfg Config) *Service {
	cfg.defaults()
	return &Service{db: db, keys: keys, hasher: hasher, cfg: cfg, sessions: newSessionCache(cfg.SessionCacheTTL)}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// Session is what a successful login or refresh hands the client.
type Session struct {
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
	Principal        Principal
}

// credentials is the slice of a user row that signing in needs.
type credentials struct {
	ID             uuid.UUID `bun:"id"`
	PartyID        uuid.UUID `bun:"party_id"`
	Phone          string    `bun:"phone"`
	Roles          []Role    `bun:"roles"`
	PasswordHash   string    `bun:"password_hash"`
	Status         string    `bun:"status"`
	SessionVersion int64     `bun:"session_version"`
	PartyStatus    string    `bun:"party_status"`
	PartyPath      string    `bun:"party_path"`
}

func (c *credentials) active() bool { return c.Status == "ACTIVE" && c.PartyStatus == "ACTIVE" }

func (s *Service) loadCredentials(ctx context.Context, db bun.IDB, where string, arg any) (*credentials, error) {
	c := new(credentials)
	err := db.NewSelect().TableExpr("users AS u").Join("JOIN parties AS p ON p.id = u.party_id").
		ColumnExpr("u.id, u.party_id, u.phone, u.roles, u.password_hash, u.status, u.session_version, p.status AS party_status, p.path AS party_path").
		Where(where, arg).Scan(ctx, c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: load user: %w", err)
	}
	return c, nil
}

// Login checks phone and password for app and opens a session. Unknown phones
// and wrong passwords answer alike, in time too, and count against the phone.
func (s *Service) Login(ctx context.Context, phone, password string, app App) (*Session, error) {
	if !app.Valid() || !ValidPhone(phone) || len(password) > 512 {
		return nil, ErrInvalidInput
	}
	now := s.now()
	attempt, err := s.reserveAttempt(ctx, phone, now)
	if err != nil {
		return nil, err
	}
	c, err := s.loadCredentials(ctx, s.db, "u.phone = ?", phone)
	if err != nil {
		return nil, err
	}
	if c == nil {
		s.hasher.VerifyDummy(password)
		return nil, attempt.failed()
	}
	if !s.hasher.Verify(password, c.PasswordHash) {
		return nil, attempt.failed()
	}
	if err := s.clearAttempts(ctx, phone); err != nil {
		return nil, err
	}
	if !c.active() {
		return nil, ErrAccountDisabled
	}
	roles := RolesFor(app, c.Roles)
	if len(roles) == 0 {
		return nil, ErrAppNotAllowed
	}
	var sess *Session
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		sid := uuid.Must(uuid.NewV7())
		if _, err := tx.NewInsert().Table("sessions").Model(&map[string]any{
			"id": sid, "user_id": c.ID, "app": string(app), "created_at": now, "refreshed_at": now,
			"expires_at": now.Add(s.cfg.RefreshTTL), "revoke_reason": "",
		}).Exec(ctx); err != nil {
			return fmt.Errorf("auth: insert session: %w", err)
		}
		sess, err = s.issue(ctx, tx, c, sid, app, roles, now)
		return err
	})
	return sess, err
}

// issue writes a fresh refresh token for session sid and signs an access token.
func (s *Service) issue(ctx context.Context, tx bun.IDB, c *credentials, sid uuid.UUID, app App, roles []Role, now time.Time) (*Session, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("auth: random: %w", err)
	}
	refresh := base64.RawURLEncoding.EncodeToString(raw)
	refreshExp := now.Add(s.cfg.RefreshTTL)
	if _, err := tx.NewInsert().Table("refresh_tokens").Model(&map[string]any{
		"id": uuid.Must(uuid.NewV7()), "session_id": sid, "token_hash": hashToken(refresh),
		"created_at": now, "expires_at": refreshExp,
	}).Exec(ctx); err != nil {
		return nil, fmt.Errorf("auth: insert refresh token: %w", err)
	}
	p := Principal{UserID: c.ID, PartyID: c.PartyID, PartyPath: c.PartyPath, SessionID: sid, Roles: roles, App: app, SessionVersion: c.SessionVersion}
	exp := now.Add(s.cfg.AccessTTL)
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	access, err := s.keys.SignAccess(AccessClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: c.ID.String(), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp)},
		PartyID:          c.PartyID.String(), Roles: names, App: string(app), SessionVersion: c.SessionVersion, Family: sid.String(),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: sign: %w", err)
	}
	return &Session{AccessToken: access, AccessExpiresAt: exp, RefreshToken: refresh, RefreshExpiresAt: refreshExp, Principal: p}, nil
}

func hashToken(t string) string {
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:])
}

type attemptRow struct {
	Failures      int        `bun:"failures"`
	NextAttemptAt *time.Time `bun:"next_attempt_at"`
	LockedUntil   *time.Time `bun:"locked_until"`
}

// attempt is one password check reserved against a phone's budget.
type attempt struct {
	locks bool
	retry time.Duration
}

// failed is the answer to a wrong password on this attempt.
func (a attempt) failed() error {
	if a.locks {
		return &RetryError{Err: ErrAccountLocked, RetryAfter: a.retry}
	}
	return ErrInvalidCredentials
}

// reserveAttempt counts a password check against phone before it happens,
// with a compare-and-set on the failure count, so a burst of concurrent
// guesses cannot all slip past the slow-down: a caller that loses the race
// is told to wait. A later success clears the count.
func (s *Service) reserveAttempt(ctx context.Context, phone string, now time.Time) (attempt, error) {
	var a attemptRow
	err := s.db.NewSelect().Table("login_attempts").Column("failures", "next_attempt_at", "locked_until").
		Where("phone = ?", phone).Scan(ctx, &a)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return attempt{}, fmt.Errorf("auth: load attempts: %w", err)
	}
	failures := a.Failures
	if a.LockedUntil != nil {
		if now.Before(*a.LockedUntil) {
			return attempt{}, &RetryError{Err: ErrAccountLocked, RetryAfter: a.LockedUntil.Sub(now)}
		}
		failures = 0 // the lock has run out: a fresh start
	} else if a.NextAttemptAt != nil && now.Before(*a.NextAttemptAt) {
		return attempt{}, &RetryError{Err: ErrTooManyAttempts, RetryAfter: a.NextAttemptAt.Sub(now)}
	}
	next := failures + 1
	var nextAt, lockedUntil *time.Time
	if next >= s.cfg.SlowAfter {
		t := now.Add(s.backoff(next))
		nextAt = &t
	}
	if next >= s.cfg.LockAfter {
		t := now.Add(s.cfg.LockFor)
		lockedUntil, nextAt = &t, nil
	}
	var res sql.Result
	if exists {
		res, err = s.db.NewUpdate().Table("login_attempts").
			Set("failures = ?", next).Set("last_failure_at = ?", now).
			Set("next_attempt_at = ?", nextAt).Set("locked_until = ?", lockedUntil).
			Where("phone = ? AND failures = ?", phone, a.Failures).Exec(ctx)
	} else {
		res, err = s.db.NewRaw(`INSERT INTO login_attempts (phone, failures, last_failure_at, next_attempt_at, locked_until)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (phone) DO NOTHING`, phone, next, now, nextAt, lockedUntil).Exec(ctx)
	}
	if err != nil {
		return attempt{}, fmt.Errorf("auth: reserve attempt: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return attempt{}, &RetryError{Err: ErrTooManyAttempts, RetryAfter: time.Second}
	}
	return attempt{locks: lockedUntil != nil, retry: s.cfg.LockFor}, nil
}

func (s *Service) clearAttempts(ctx context.Context, phone string) error {
	if _, err := s.db.NewDelete().Table("login_attempts").Where("phone = ?", phone).Exec(ctx); err != nil {
		return fmt.Errorf("auth: clear attempts: %w", err)
	}
	return nil
}

// backoff is the wait after the failures-th failure: 1 s at SlowAfter, doubling, at most a minute.
func (s *Service) backoff(failures int) time.Duration {
	d := time.Duration(math.Pow(2, float64(min(failures-s.cfg.SlowAfter, 6)))) * time.Second
	return min(d, time.Minute)
}

type refreshRow struct {
	ID         uuid.UUID  `bun:"id"`
	SessionID  uuid.UUID  `bun:"session_id"`
	ExpiresAt  time.Time  `bun:"expires_at"`
	UsedAt     *time.Time `bun:"used_at"`
	UserID     uuid.UUID  `bun:"user_id"`
	App        App        `bun:"app"`
	RevokedAt  *time.Time `bun:"revoked_at"`
	SessionExp time.Time  `bun:"session_expires_at"`
}

func (s *Service) loadRefresh(ctx context.Context, db bun.IDB, token string) (*refreshRow, error) {
	if token == "" || len(token) > 128 {
		return nil, ErrRefreshInvalid
	}
	r := new(refreshRow)
	err := db.NewSelect().TableExpr("refresh_tokens AS rt").Join("JOIN sessions AS s ON s.id = rt.session_id").
		ColumnExpr("rt.id, rt.session_id, rt.expires_at, rt.used_at, s.user_id, s.app, s.revoked_at, s.expires_at AS session_expires_at").
		Where("rt.token_hash = ?", hashToken(token)).Scan(ctx, r)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrRefreshInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("auth: load refresh token: %w", err)
	}
	return r, nil
}

func revokeSession(ctx context.Context, db bun.IDB, sid uuid.UUID, now time.Time, reason string) error {
	_, err := db.NewUpdate().Table("sessions").Set("revoked_at = ?", now).Set("revoke_reason = ?", reason).
		Where("id = ? AND revoked_at IS NULL", sid).Exec(ctx)
	if err != nil {
		return fmt.Errorf("auth: revoke session: %w", err)
	}
	// A device registered for pushes goes with the session it signed in with.
	if _, err := db.NewDelete().Table("device_tokens").Where("session_id = ?", sid).Exec(ctx); err != nil {
		return fmt.Errorf("auth: drop device tokens: %w", err)
	}
	return nil
}

// Refresh trades a refresh token for a new session state. Each token works
// once: a second use means it was stolen or replayed, so the whole session ends.
func (s *Service) Refresh(ctx context.Context, token string) (*Session, error) {
	now := s.now()
	var (
		sess   *Session
		reject error // commits the revocation, then refuses
	)
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		r, err := s.loadRefresh(ctx, tx, token)
		if err != nil {
			return err
		}
		if r.UsedAt != nil {
			reject = ErrRefreshReused
			return revokeSession(ctx, tx, r.SessionID, now, "refresh token reused")
		}
		if r.RevokedAt != nil || !now.Before(r.ExpiresAt) || !now.Before(r.SessionExp) {
			return ErrRefreshInvalid
		}
		res, err := tx.NewUpdate().Table("refresh_tokens").Set("used_at = ?", now).Where("id = ? AND used_at IS NULL", r.ID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("auth: use refresh token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			reject = ErrRefreshReused
			return revokeSession(ctx, tx, r.SessionID, now, "refresh token reused")
		}
		c, err := s.loadCredentials(ctx, tx, "u.id = ?", r.UserID)
		if err != nil {
			return err
		}
		if c == nil || !c.active() {
			reject = ErrAccountDisabled
			return revokeSession(ctx, tx, r.SessionID, now, "account disabled")
		}
		roles := RolesFor(r.App, c.Roles)
		if len(roles) == 0 {
			reject = ErrAppNotAllowed
			return revokeSession(ctx, tx, r.SessionID, now, "app no longer allowed")
		}
		if _, err := tx.NewUpdate().Table("sessions").Set("refreshed_at = ?", now).Where("id = ?", r.SessionID).Exec(ctx); err != nil {
			return fmt.Errorf("auth: touch session: %w", err)
		}
		sess, err = s.issue(ctx, tx, c, r.SessionID, r.App, roles, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if reject != nil {
		s.SessionsChanged()
		return nil, reject
	}
	return sess, nil
}

// Logout ends the session the refresh token belongs to. Ending an ended session is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	r, err := s.loadRefresh(ctx, s.db, token)
	if err != nil {
		return err
	}
	if err := revokeSession(ctx, s.db, r.SessionID, s.now(), "logout"); err != nil {
		return err
	}
	s.SessionsChanged()
	return nil
}

// ChangePassword sets the principal's new password, ends every session of the
// user and opens a new one for the calling app.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) (*Session, error) {
	if p.UserID == uuid.Nil {
		return nil, ErrUnauthenticated
	}
	if err := CheckPasswordPolicy(next); err != nil {
		return nil, err
	}
	c, err := s.loadCredentials(ctx, s.db, "u.id = ?", p.UserID)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, ErrUnauthenticated
	}
	// A stolen access token must not become an unlimited password oracle.
	attempt, err := s.reserveAttempt(ctx, c.Phone, s.now())
	if err != nil {
		return nil, err
	}
	if len(current) > 512 || !s.hasher.Verify(current, c.PasswordHash) {
		if attempt.locks {
			return nil, attempt.failed()
		}
		return nil, ErrPasswordIncorrect
	}
	if err := s.clearAttempts(ctx, c.Phone); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(next)
	if err != nil {
		return nil, fmt.Errorf("auth: hash: %w", err)
	}
	now := s.now()
	var sess *Session
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Table("users").Set("password_hash = ?", hash).Set("password_changed_at = ?", now).
			Set("updated_at = ?", now).Set("session_version = session_version + 1").
			Where("id = ? AND session_version = ?", c.ID, c.SessionVersion).Exec(ctx)
		if err != nil {
			return fmt.Errorf("auth: update password: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrUnauthenticated // the session changed under us
		}
		if _, err := tx.NewUpdate().Table("sessions").Set("revoked_at = ?", now).Set("revoke_reason = ?", "password changed").
			Where("user_id = ? AND revoked_at IS NULL", c.ID).Exec(ctx); err != nil {
			return fmt.Errorf("auth: end sessions: %w", err)
		}
		c.SessionVersion++
		sid := uuid.Must(uuid.NewV7())
		if _, err := tx.NewInsert().Table("sessions").Model(&map[string]any{
			"id": sid, "user_id": c.ID, "app": string(p.App), "created_at": now, "refreshed_at": now,
			"expires_at": now.Add(s.cfg.RefreshTTL), "revoke_reason": "",
		}).Exec(ctx); err != nil {
			return fmt.Errorf("auth: insert session: %w", err)
		}
		sess, err = s.issue(ctx, tx, c, sid, p.App, RolesFor(p.App, c.Roles), now)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.SessionsChanged()
	return sess, nil
}

// Authenticate turns an access token into a Principal. Beyond the signature
// and expiry it checks, in one query, that the user is active, the party
// active, the session open and the session version current, so disabling a
// user or suspending a party takes effect at once (on another instance within
// SessionCacheTTL should it miss the announcement). A token that passed is
// trusted, until it expires, for SessionCacheTTL.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	now := s.cfg.Now()
	if p, ok := s.sessions.get(token, now); ok {
		return p, nil
	}
	gen := s.sessions.gen.Load() // before the reads: a clear during them must win
	claims, err := s.keys.ParseAccess(token, now)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	uid, err1 := uuid.Parse(claims.Subject)
	pid, err2 := uuid.Parse(claims.PartyID)
	sid, err3 := uuid.Parse(claims.Family)
	app := App(claims.App)
	if err := errors.Join(err1, err2, err3); err != nil || !app.Valid() || claims.ExpiresAt == nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, ErrTokenInvalid)
	}
	path, err := s.checkSession(ctx, uid, pid, sid, claims.SessionVersion)
	if err != nil {
		return Principal{}, err
	}
	roles := make([]Role, 0, len(claims.Roles))
	for _, r := range claims.Roles {
		if Role(r).Valid() && slices.Contains(appRoles[app], Role(r)) {
			roles = append(roles, Role(r))
		}
	}
	p := Principal{UserID: uid, PartyID: pid, PartyPath: path, SessionID: sid, Roles: roles, App: app,
		SessionVersion: claims.SessionVersion, ExpiresAt: claims.ExpiresAt.Time}
	s.sessions.put(token, cachedSession{p: p, at: now, gen: gen})
	return p, nil
}

// checkSession reads, in one query, whether the user and the party are
// active, the session open and the version current, and the party's path.
func (s *Service) checkSession(ctx context.Context, uid, pid, sid uuid.UUID, version int64) (string, error) {
	var rows []struct {
		SessionVersion int64      `bun:"session_version"`
		Status         string     `bun:"status"`
		PartyStatus    string     `bun:"party_status"`
		PartyPath      string     `bun:"party_path"`
		RevokedAt      *time.Time `bun:"revoked_at"`
	}
	b := s.db.Binds() // every token once a second: planned once per connection
	q := s.db.NewSelect().TableExpr("users AS u").
		Join("JOIN parties AS p ON p.id = u.party_id").
		Join("JOIN sessions AS s ON s.id = ? AND s.user_id = u.id", b.V(sid)).
		ColumnExpr("u.session_version, u.status, p.status AS party_status, p.path AS party_path, s.revoked_at").
		Where("u.id = ? AND u.party_id = ?", b.V(uid), b.V(pid))
	if err := s.db.ScanBound(ctx, q, b, &rows); err != nil {
		return "", fmt.Errorf("auth: check session: %w", err)
	}
	if len(rows) == 0 {
		return "", ErrUnauthenticated
	}
	row := rows[0]
	if row.SessionVersion != version || row.Status != "ACTIVE" || row.PartyStatus != "ACTIVE" || row.RevokedAt != nil {
		return "", ErrUnauthenticated
	}
	return row.PartyPath, nil
}

// Sweep deletes what sign-in leaves behind once it can matter no more: failure
// counts idle for a day and not locked, and sessions (with their refresh
// tokens) that expired or were revoked more than a week ago. It deletes at
// most limit sessions per call, so a sweep never holds the database for long.
func (s *Service) Sweep(ctx context.Context, limit int) (attempts, sessions int64, err error) {
	now := s.now()
	res, err := s.db.NewDelete().Table("login_attempts").
		Where("last_failure_at < ? AND (locked_until IS NULL OR locked_until < ?)", now.Add(-24*time.Hour), now).Exec(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("auth: sweep attempts: %w", err)
	}
	attempts, _ = res.RowsAffected()
	var ids []uuid.UUID
	cutoff := now.Add(-7 * 24 * time.Hour)
	if err := s.db.NewSelect().Table("sessions").Column("id").
		Where("expires_at < ? OR revoked_at < ?", cutoff, cutoff).Limit(int64(limit)).Scan(ctx, &ids); err != nil {
		return attempts, 0, fmt.Errorf("auth: sweep sessions: %w", err)
	}
	if len(ids) == 0 {
		return attempts, 0, nil
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewDelete().Table("refresh_tokens").Where("session_id IN (?)", bun.List(ids)).Exec(ctx); err != nil {
			return err
		}
		res, err := tx.NewDelete().Table("sessions").Where("id IN (?)", bun.List(ids)).Exec(ctx)
		if err == nil {
			sessions, _ = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return attempts, 0, fmt.Errorf("auth: sweep sessions: %w", err)
	}
	return attempts, sessions, nil
}
