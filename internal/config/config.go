// Package config reads the whole server configuration from CHANNELHUB_*
// environment variables into one typed, validated struct. Every variable has a
// default that works on a bare machine, so an empty environment is valid.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // CHANNELHUB_TIME_ZONE must resolve on machines without a zoneinfo database.

	"channelhub/internal/persisted"
)

// Config is the validated server configuration. Build it with Load.
type Config struct {
	Env                   string // "development" or "production"
	HTTPAddr              string
	DataDir               string
	DatabaseURL           string // "" = SQLite file under DataDir; see DatabaseDSN
	RedisURL              string // "" = in-process broker and cache
	DatabaseMaxConns      int    // PostgreSQL connections this instance may open
	S3                    S3Config
	FCMCredentialsFile    string // "" = push messages are only logged
	FCMProjectID          string
	FCMEndpoint           string   // "" = Google's; an emulator or a test server otherwise
	JWTSigningKeyFile     string   // generated on first start if absent
	JWTVerifyKeyFiles     []string // extra public keys still accepted during key rotation
	AccessTokenTTL        time.Duration
	RefreshTokenTTL       time.Duration
	TimeZone              *time.Location
	Currency              string // ISO 4217 code
	LogLevel              slog.Level
	MaxBodyBytes          int64
	QueryDepthLimit       int
	LiveSessionCheck      time.Duration
	SessionCacheTTL       time.Duration // how long a passed session check is trusted; 0 checks every request
	QueryComplexityLimit  int
	SeedDemo              bool
	ShutdownTimeout       time.Duration
	ResponseCacheTTL      time.Duration  // how long a cached catalogue answer may live; 0 turns the cache off
	BatchWait             time.Duration  // how long a request's loaders gather keys before one batched query
	AllowedOrigins        []string       // extra WebSocket/CORS origin patterns; same-origin is always allowed
	TrustedProxies        []netip.Prefix // proxies whose X-Forwarded-For is believed
	LoginRatePerMinute    int            // sign-in attempts per client IP
	MutationRatePerMinute int            // mutations per user (or per IP when anonymous)
	PersistedQueries      persisted.Mode // off, allow or enforce; enforce by default in production
	CarrierSecret         string         // HMAC key of POST /carrier/tracking; "" turns the endpoint off
}

// S3Config selects the media store. An empty Endpoint means a local media
// directory under DataDir.
type S3Config struct {
	Endpoint       string // host[:port]; the scheme comes from UseSSL
	PublicEndpoint string // host[:port] put into URLs handed to clients; "" = Endpoint
	Region         string
	Bucket         string
	AccessKey      string
	SecretKey      string
	UseSSL         bool
}

const (
	EnvDevelopment = "development"
	EnvProduction  = "production"
)

// Load reads and validates the configuration. getenv is os.Getenv in
// production and a map lookup in tests; nil means os.Getenv. All problems are
// reported together, one joined error per variable, so a misconfigured
// deployment is fixed in one round trip. Error messages never contain secrets.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	l := &loader{getenv: getenv}
	c := Config{
		Env:              l.str("ENV", EnvDevelopment),
		HTTPAddr:         l.str("HTTP_ADDR", "127.0.0.1:8080"),
		DataDir:          l.str("DATA_DIR", "./data"),
		DatabaseURL:      l.str("DATABASE_URL", ""),
		RedisURL:         l.str("REDIS_URL", ""),
		DatabaseMaxConns: int(l.int("DATABASE_MAX_CONNS", 40, 2, 1000)),
		S3: S3Config{
			Endpoint:       l.str("S3_ENDPOINT", ""),
			PublicEndpoint: l.str("S3_PUBLIC_ENDPOINT", ""),
			Region:         l.str("S3_REGION", "us-east-1"),
			Bucket:         l.str("S3_BUCKET", "channelhub"),
			AccessKey:      l.str("S3_ACCESS_KEY", ""),
			SecretKey:      l.str("S3_SECRET_KEY", ""),
			UseSSL:         l.bool("S3_USE_SSL", false),
		},
		FCMCredentialsFile:    l.str("FCM_CREDENTIALS_FILE", ""),
		FCMProjectID:          l.str("FCM_PROJECT_ID", ""),
		FCMEndpoint:           l.str("FCM_ENDPOINT", ""),
		JWTVerifyKeyFiles:     l.list("JWT_VERIFY_KEY_FILES"),
		AccessTokenTTL:        l.duration("ACCESS_TOKEN_TTL", 15*time.Minute, time.Minute, 24*time.Hour),
		RefreshTokenTTL:       l.duration("REFRESH_TOKEN_TTL", 720*time.Hour, time.Second, 10*365*24*time.Hour),
		Currency:              l.str("CURRENCY", "CNY"),
		MaxBodyBytes:          l.int("MAX_BODY_BYTES", 1<<20, 1<<10, 64<<20),
		QueryDepthLimit:       int(l.int("QUERY_DEPTH_LIMIT", 12, 2, 50)),
		LiveSessionCheck:      l.duration("LIVE_SESSION_CHECK", 30*time.Second, 100*time.Millisecond, time.Hour),
		SessionCacheTTL:       l.duration("SESSION_CACHE_TTL", time.Second, 0, 10*time.Second),
		QueryComplexityLimit:  int(l.int("QUERY_COMPLEXITY_LIMIT", 2000, 10, 100000)),
		ShutdownTimeout:       l.duration("SHUTDOWN_TIMEOUT", 15*time.Second, time.Second, time.Hour),
		ResponseCacheTTL:      l.duration("RESPONSE_CACHE_TTL", time.Minute, 0, time.Hour),
		BatchWait:             l.duration("BATCH_WAIT", time.Millisecond, 100*time.Microsecond, time.Second),
		AllowedOrigins:        l.list("ALLOWED_ORIGINS"),
		TrustedProxies:        l.prefixes("TRUSTED_PROXIES"),
		LoginRatePerMinute:    int(l.int("RATE_LOGIN_PER_MINUTE", 60, 1, 1000000)),
		MutationRatePerMinute: int(l.int("RATE_MUTATIONS_PER_MINUTE", 600, 1, 1000000)),
		CarrierSecret:         l.str("CARRIER_SECRET", ""),
	}
	c.JWTSigningKeyFile = l.str("JWT_SIGNING_KEY_FILE", filepath.Join(c.DataDir, "jwt-signing-key.pem"))

	if c.Env != EnvDevelopment && c.Env != EnvProduction {
		l.failf("ENV", "%q is not %q or %q", c.Env, EnvDevelopment, EnvProduction)
	}
	c.SeedDemo = l.bool("SEED_DEMO", c.Env == EnvDevelopment)
	c.PersistedQueries = persisted.Allow
	if c.Env == EnvProduction {
		c.PersistedQueries = persisted.Enforce
	}
	if v := l.str("PERSISTED_QUERIES", ""); v != "" {
		m, err := persisted.ParseMode(v)
		l.check("PERSISTED_QUERIES", err)
		if err == nil {
			c.PersistedQueries = m
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		l.failf("HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	l.check("DATABASE_URL", checkDatabaseURL(c.DatabaseURL))
	l.check("REDIS_URL", checkRedisURL(c.RedisURL))
	l.check("S3_ENDPOINT", checkHostPort(c.S3.Endpoint))
	l.check("S3_PUBLIC_ENDPOINT", checkHostPort(c.S3.PublicEndpoint))
	if c.S3.Endpoint != "" {
		// Names only: the secret key must never reach an error message.
		if c.S3.AccessKey == "" {
			l.failf("S3_ACCESS_KEY", "required when CHANNELHUB_S3_ENDPOINT is set")
		}
		if c.S3.SecretKey == "" {
			l.failf("S3_SECRET_KEY", "required when CHANNELHUB_S3_ENDPOINT is set")
		}
	}
	if !validBucket(c.S3.Bucket) {
		l.failf("S3_BUCKET", "%q is not a valid bucket name (3-63 of a-z 0-9 . -)", c.S3.Bucket)
	}
	if c.FCMCredentialsFile != "" {
		l.check("FCM_CREDENTIALS_FILE", checkFile(c.FCMCredentialsFile))
	}
	for _, f := range c.JWTVerifyKeyFiles {
		l.check("JWT_VERIFY_KEY_FILES", checkFile(f))
	}
	if l.ok("ACCESS_TOKEN_TTL", "REFRESH_TOKEN_TTL") && c.RefreshTokenTTL <= c.AccessTokenTTL {
		l.failf("REFRESH_TOKEN_TTL", "%v must be longer than CHANNELHUB_ACCESS_TOKEN_TTL (%v)", c.RefreshTokenTTL, c.AccessTokenTTL)
	}
	tz := l.str("TIME_ZONE", "Asia/Shanghai")
	loc, err := time.LoadLocation(tz)
	if err != nil {
		l.failf("TIME_ZONE", "%q is not a known time zone", tz)
	}
	c.TimeZone = loc
	if !isCurrency(c.Currency) {
		l.failf("CURRENCY", "%q is not 3 upper-case letters", c.Currency)
	}
	switch lvl := l.str("LOG_LEVEL", "info"); strings.ToLower(lvl) {
	case "debug", "info", "warn", "error":
		_ = c.LogLevel.UnmarshalText([]byte(lvl)) // cannot fail for these four
	default:
		l.failf("LOG_LEVEL", "%q is not debug, info, warn or error", lvl)
	}
	for _, o := range c.AllowedOrigins {
		// Origins are matched with path.Match; catch malformed patterns now, not per request.
		if _, err := path.Match(o, ""); err != nil {
			l.failf("ALLOWED_ORIGINS", "%q is not a valid pattern", o)
		}
	}
	if err := errors.Join(l.errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Development reports whether the server runs in development mode.
func (c Config) Development() bool { return c.Env == EnvDevelopment }

// DatabaseDSN returns the effective database location: DatabaseURL, or
// "sqlite:<DataDir>/channelhub.db" when it is empty.
func (c Config) DatabaseDSN() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return "sqlite:" + filepath.Join(c.DataDir, "channelhub.db")
}

// LogValue implements slog.LogValuer. Every field is logged, secrets are masked.
func (c Config) LogValue() slog.Value {
	tz := ""
	if c.TimeZone != nil {
		tz = c.TimeZone.String()
	}
	return slog.GroupValue(
		slog.String("env", c.Env),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("data_dir", c.DataDir),
		slog.String("database", maskURL(c.DatabaseDSN())),
		slog.String("redis_url", maskURL(c.RedisURL)),
		slog.Group("s3",
			slog.String("endpoint", c.S3.Endpoint),
			slog.String("public_endpoint", c.S3.PublicEndpoint),
			slog.String("region", c.S3.Region),
			slog.String("bucket", c.S3.Bucket),
			slog.String("access_key", c.S3.AccessKey),
			slog.String("secret_key", mask(c.S3.SecretKey)),
			slog.Bool("use_ssl", c.S3.UseSSL),
		),
		slog.String("fcm_credentials_file", c.FCMCredentialsFile),
		slog.String("fcm_project_id", c.FCMProjectID),
		slog.String("fcm_endpoint", c.FCMEndpoint),
		slog.String("jwt_signing_key_file", c.JWTSigningKeyFile),
		slog.Any("jwt_verify_key_files", c.JWTVerifyKeyFiles),
		slog.Duration("access_token_ttl", c.AccessTokenTTL),
		slog.Duration("refresh_token_ttl", c.RefreshTokenTTL),
		slog.String("time_zone", tz),
		slog.String("currency", c.Currency),
		slog.String("log_level", c.LogLevel.String()),
		slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Int("query_depth_limit", c.QueryDepthLimit),
		slog.Duration("live_session_check", c.LiveSessionCheck),
		slog.Duration("session_cache_ttl", c.SessionCacheTTL),
		slog.Int("query_complexity_limit", c.QueryComplexityLimit),
		slog.Bool("seed_demo", c.SeedDemo),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout),
		slog.Duration("response_cache_ttl", c.ResponseCacheTTL),
		slog.Duration("batch_wait", c.BatchWait),
		slog.Any("allowed_origins", c.AllowedOrigins),
		slog.Any("trusted_proxies", c.TrustedProxies),
		slog.String("carrier_secret", mask(c.CarrierSecret)),
		slog.Int("rate_login_per_minute", c.LoginRatePerMinute),
		slog.Int("rate_mutations_per_minute", c.MutationRatePerMinute),
		slog.String("persisted_queries", string(c.PersistedQueries)),
	)
}

const prefix = "CHANNELHUB_"

// loader reads variables and collects every problem instead of stopping at the first.
type loader struct {
	getenv func(string) string
	errs   []error
	bad    map[string]bool
}

func (l *loader) failf(name, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("%s%s: %w", prefix, name, fmt.Errorf(format, args...)))
	if l.bad == nil {
		l.bad = map[string]bool{}
	}
	l.bad[name] = true
}

func (l *loader) check(name string, err error) {
	if err != nil {
		l.failf(name, "%w", err)
	}
}

// ok reports whether none of the named variables has failed, so dependent
// checks do not pile follow-up errors onto an already reported one.
func (l *loader) ok(names ...string) bool {
	for _, n := range names {
		if l.bad[n] {
			return false
		}
	}
	return true
}

// str returns the trimmed value, or def when it is empty.
func (l *loader) str(name, def string) string {
	if v := strings.TrimSpace(l.getenv(prefix + name)); v != "" {
		return v
	}
	return def
}

func (l *loader) bool(name string, def bool) bool {
	v := l.str(name, "")
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.failf(name, "%q is not a boolean", v)
		return def
	}
	return b
}

// prefixes reads comma-separated CIDRs (a bare address means just that host).
func (l *loader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, v := range l.list(name) {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				l.failf(name, "%q is not a CIDR or an IP address", v)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

func (l *loader) int(name string, def, lo, hi int64) int64 {
	v := l.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil:
		l.failf(name, "%q is not an integer", v)
	case n < lo || n > hi:
		l.failf(name, "%d is not between %d and %d", n, lo, hi)
	default:
		return n
	}
	return def
}

func (l *loader) duration(name string, def, lo, hi time.Duration) time.Duration {
	v := l.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		l.failf(name, "%q is not a duration", v)
	case d < lo || d > hi:
		l.failf(name, "%v is not between %v and %v", d, lo, hi)
	default:
		return d
	}
	return def
}

// list splits a comma-separated value, dropping blanks.
func (l *loader) list(name string) []string {
	var out []string
	for s := range strings.SplitSeq(l.str(name, ""), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// checkDatabaseURL never echoes the value: it may hold a password.
func checkDatabaseURL(v string) error {
	scheme, _, isURL := strings.Cut(v, "://")
	switch {
	case v == "":
		return nil
	case scheme == "postgres" || scheme == "postgresql":
		if u, err := url.Parse(v); err != nil || u.Host == "" && u.Query().Get("host") == "" {
			return errors.New("invalid PostgreSQL URL")
		}
		return nil
	case isURL:
		return errors.New("unsupported scheme (want postgres://, postgresql://, sqlite:PATH or a file path)")
	case v == "sqlite:":
		return errors.New("sqlite: needs a file path")
	case strings.Contains(v, "=") && strings.ContainsAny(v, " \t"):
		// A libpq key=value string would be taken for a file name and logged unmasked.
		return errors.New("key=value connection strings are not supported; use a postgres:// URL")
	}
	return nil
}

func checkRedisURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		return errors.New("invalid URL (want redis://[user:password@]host[:port][/db] or rediss://...)")
	}
	return nil
}

func checkHostPort(v string) error {
	if strings.Contains(v, "/") {
		return fmt.Errorf("%q must be host[:port] without scheme or path", v)
	}
	return nil
}

func checkFile(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err // *PathError names the file and the reason.
	}
	if st.IsDir() {
		return fmt.Errorf("%q is a directory", p)
	}
	return nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for _, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

func isCurrency(s string) bool {
	return len(s) == 3 && strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}

// maskURL replaces the user-info password and any password-like query
// parameter (pgx accepts password= and sslpassword=) with "***".
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return mask(s) // Unparseable: cannot tell where a secret might be.
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "***")
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			raw, _, _ := strings.Cut(p, "=")
			if k, err := url.QueryUnescape(raw); err != nil || strings.Contains(strings.ToLower(k), "password") {
				parts[i] = raw + "=***"
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	// url escapes '*' in user-info; unescape the mask so logs read "user:***@host".
	return strings.Replace(u.String(), ":%2A%2A%2A@", ":***@", 1)
}
