// Package apitest starts the whole server in-process for tests: once on
// SQLite, and again on PostgreSQL and Redis when the test variables name them.
// Tests talk to it over real HTTP, so directives, dataloaders and the error
// presenter run exactly as in production.
package apitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"channelhub/internal/auth"
	"channelhub/internal/config"
	"channelhub/internal/database/dbtest"
	"channelhub/internal/seed"
	"channelhub/internal/server"
)

// Env is one running server with the demo channel seeded.
type Env struct {
	T       testing.TB
	Backend string
	Server  *server.Server
	URL     string
	Clock   *Clock
	logs    *lockedWriter
	vars    map[string]string
	prefix  string
}

// LogText returns everything the server has logged so far.
func (e *Env) LogText() string {
	e.logs.mu.Lock()
	defer e.logs.mu.Unlock()
	return e.logs.buf.String()
}

// Clock is a test clock the auth service reads; Advance moves it forward.
type Clock struct{ offset atomic.Int64 }

// Now is the wall clock plus the offset.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// Options adjust one Env.
type Options struct {
	Env  map[string]string // extra CHANNELHUB_* variables
	Auth auth.Config
	// Peer, when set, makes this server a second instance beside Peer: the
	// same database, data directory (signing keys) and Redis namespace.
	Peer *Env
	// SteadyBatches widens the loaders' gathering window and checks the
	// session on every request, so a test counting statements sees whole
	// batches even on a busy machine, and the session check every time.
	SteadyBatches bool
}

// Each runs fn against every configured backend, each with its own database.
func Each(t *testing.T, opt Options, fn func(t *testing.T, e *Env)) {
	t.Helper()
	for _, b := range dbtest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, Start(t, b, opt))
		})
	}
}

// EachPair runs fn against two instances (b is a's Peer, both with opt) on
// every configured backend that several processes can share: one database,
// one Redis. SQLite, owned by one process, is left out.
func EachPair(t *testing.T, opt Options, fn func(t *testing.T, a, b *Env)) {
	t.Helper()
	for _, b := range dbtest.Backends(t) {
		if b.Name == "sqlite" {
			continue
		}
		t.Run(b.Name, func(t *testing.T) {
			a := Start(t, b, opt)
			peer := opt
			peer.Peer = a
			fn(t, a, Start(t, b, peer))
		})
	}
}

// Start runs one server on backend b, stopped at cleanup.
func Start(t testing.TB, b dbtest.Backend, opt Options) *Env {
	t.Helper()
	vars := map[string]string{
		"CHANNELHUB_ENV":          "development",
		"CHANNELHUB_DATA_DIR":     t.TempDir(),
		"CHANNELHUB_DATABASE_URL": "",
		"CHANNELHUB_SEED_DEMO":    "true",
		// Every test signs in from 127.0.0.1; only the rate limit test sets real limits.
		"CHANNELHUB_RATE_LOGIN_PER_MINUTE":     "1000000",
		"CHANNELHUB_RATE_MUTATIONS_PER_MINUTE": "1000000",
		// Packages test in parallel against one PostgreSQL (max_connections 100).
		"CHANNELHUB_DATABASE_MAX_CONNS": "20",
	}
	if b.Name != "sqlite" {
		if r := os.Getenv(dbtest.RedisEnv); r != "" {
			vars["CHANNELHUB_REDIS_URL"] = r
		} else if os.Getenv(dbtest.RequireEnv) == "1" {
			t.Fatalf("%s is not set and %s=1", dbtest.RedisEnv, dbtest.RequireEnv)
		}
	}
	prefix := "test:" + randomHex() + ":"
	if opt.Peer == nil {
		vars["CHANNELHUB_DATABASE_URL"] = b.DSN(t)
	} else {
		for _, k := range []string{"CHANNELHUB_DATA_DIR", "CHANNELHUB_DATABASE_URL", "CHANNELHUB_REDIS_URL"} {
			vars[k] = opt.Peer.vars[k]
		}
		prefix = opt.Peer.prefix
	}
	if opt.SteadyBatches {
		vars["CHANNELHUB_BATCH_WAIT"] = "30ms"
		vars["CHANNELHUB_SESSION_CACHE_TTL"] = "0"
	}
	for k, v := range opt.Env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	clock := &Clock{}
	ac := opt.Auth
	ac.Now = clock.Now
	logs := &lockedWriter{}
	srv, err := server.New(context.Background(), cfg, server.Deps{
		Log:            slog.New(slog.NewJSONHandler(logs, nil)),
		PasswordParams: auth.FastPasswordParams(),
		Auth:           ac,
		RedisPrefix:    prefix,
	})
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	hs := httptest.NewServer(srv.Handler)
	bg, stop := context.WithCancel(context.Background())
	srv.Background(bg)
	t.Cleanup(func() {
		stop()
		hs.Close()
		srv.Close()
	})
	return &Env{T: t, Backend: b.Name, Server: srv, URL: hs.URL, Clock: clock, logs: logs, vars: vars, prefix: prefix}
}

type lockedWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Response is a decoded GraphQL answer.
type Response struct {
	Status int
	Data   json.RawMessage
	Errors []Error
}

// Error is one top-level GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Codes lists the codes of all top-level errors.
func (r Response) Codes() []string {
	out := make([]string, len(r.Errors))
	for i, e := range r.Errors {
		out[i] = e.Code()
	}
	return out
}

// Decode unmarshals Data into v, failing the test on error.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode %s: %v", r.Data, err)
	}
}

// Query posts a GraphQL request with an optional bearer token.
func (e *Env) Query(token, query string, vars map[string]any) Response {
	e.T.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return e.Post(token, body)
}

// Post sends a raw body to /graphql.
func (e *Env) Post(token string, body []byte) Response {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.Do(req)
}

// Do sends req and decodes the GraphQL answer.
func (e *Env) Do(req *http.Request) Response {
	e.T.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatalf("request: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out Response
	if err := json.Unmarshal(raw, &out); err != nil {
		e.T.Fatalf("status %d, body not JSON: %s", resp.StatusCode, raw)
	}
	out.Status = resp.StatusCode
	return out
}

const loginQuery = `mutation($in: AuthLoginInput!) { authLogin(input: $in) {
	session { accessToken refreshToken } errors { code message retryAfterSeconds } } }`

// Session is a signed-in demo user.
type Session struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
}

// Login signs in a demo user and fails the test if that does not work.
func (e *Env) Login(phone string, app auth.App) Session {
	e.T.Helper()
	r := e.Query("", loginQuery, map[string]any{"in": map[string]any{"phone": phone, "password": seed.DemoPassword, "app": app}})
	var d struct {
		AuthLogin struct {
			Session *Session
			Errors  []struct{ Code string }
		}
	}
	r.Decode(e.T, &d)
	if d.AuthLogin.Session == nil {
		e.T.Fatalf("login %s to %s failed: %s %v", phone, app, r.Data, r.Errors)
	}
	return *d.AuthLogin.Session
}

// Demo phones by role, for tests that need "a user with role R".
var Demo = map[auth.Role]struct {
	Phone string
	App   auth.App
}{
	auth.RoleHQAdmin:          {"13800000000", auth.AppConsole},
	auth.RoleSalesOps:         {"13800000041", auth.AppConsole},
	auth.RoleFinance:          {"13800000031", auth.AppConsole},
	auth.RoleGoodsControl:     {"13800000051", auth.AppConsole},
	auth.RoleBranchManager:    {"13800000061", auth.AppConsole},
	auth.RoleDistributorAdmin: {"13800000001", auth.AppDistributor},
	auth.RoleDistributorStaff: {"13800000005", auth.AppDistributor},
	auth.RoleStoreManager:     {"13800000011", auth.AppStore},
	auth.RoleStoreStaff:       {"13800000012", auth.AppStore},
	auth.RoleSalesman:         {"13800000021", auth.AppSalesman},
}

// As signs in the demo user holding role and returns the access token.
func (e *Env) As(role auth.Role) string {
	e.T.Helper()
	d := Demo[role]
	return e.Login(d.Phone, d.App).AccessToken
}

func randomHex() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DatabaseURL is the server's database.
func (e *Env) DatabaseURL() string { return e.vars["CHANNELHUB_DATABASE_URL"] }
