package config

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/persisted"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(nil))
	require.NoError(t, err)

	require.Equal(t, "development", c.Env)
	require.True(t, c.Development())
	require.Equal(t, "127.0.0.1:8080", c.HTTPAddr)
	require.Equal(t, "./data", c.DataDir)
	require.Empty(t, c.DatabaseURL)
	require.Equal(t, "sqlite:"+filepath.Join("./data", "channelhub.db"), c.DatabaseDSN())
	require.Empty(t, c.RedisURL)
	require.Equal(t, S3Config{Region: "us-east-1", Bucket: "channelhub"}, c.S3)
	require.Empty(t, c.FCMCredentialsFile)
	require.Equal(t, filepath.Join("./data", "jwt-signing-key.pem"), c.JWTSigningKeyFile)
	require.Empty(t, c.JWTVerifyKeyFiles)
	require.Equal(t, 15*time.Minute, c.AccessTokenTTL)
	require.Equal(t, 720*time.Hour, c.RefreshTokenTTL)
	require.Equal(t, "Asia/Shanghai", c.TimeZone.String())
	require.Equal(t, "CNY", c.Currency)
	require.Equal(t, slog.LevelInfo, c.LogLevel)
	require.EqualValues(t, 1048576, c.MaxBodyBytes)
	require.Equal(t, 12, c.QueryDepthLimit)
	require.Equal(t, 2000, c.QueryComplexityLimit)
	require.True(t, c.SeedDemo)
	require.Equal(t, 15*time.Second, c.ShutdownTimeout)
	require.Empty(t, c.AllowedOrigins)
}

func TestLoadValues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fcm := filepath.Join(dir, "fcm.json")
	k1, k2 := filepath.Join(dir, "old1.pem"), filepath.Join(dir, "old2.pem")
	for _, f := range []string{fcm, k1, k2} {
		require.NoError(t, os.WriteFile(f, []byte("x"), 0o600))
	}
	c, err := Load(env(map[string]string{
		"CHANNELHUB_ENV":                  "production",
		"CHANNELHUB_HTTP_ADDR":            ":9000",
		"CHANNELHUB_DATA_DIR":             "/var/lib/channelhub",
		"CHANNELHUB_DATABASE_URL":         "postgres://app:pw@db:5432/hub?sslmode=disable",
		"CHANNELHUB_REDIS_URL":            "rediss://:pw@cache:6380/1",
		"CHANNELHUB_S3_ENDPOINT":          "minio:9000",
		"CHANNELHUB_S3_ACCESS_KEY":        "AK",
		"CHANNELHUB_S3_SECRET_KEY":        "SK",
		"CHANNELHUB_S3_USE_SSL":           "true",
		"CHANNELHUB_FCM_CREDENTIALS_FILE": fcm,
		"CHANNELHUB_JWT_VERIFY_KEY_FILES": " " + k1 + ", ," + k2 + " ",
		"CHANNELHUB_ACCESS_TOKEN_TTL":     "5m",
		"CHANNELHUB_REFRESH_TOKEN_TTL":    "24h",
		"CHANNELHUB_TIME_ZONE":            "UTC",
		"CHANNELHUB_CURRENCY":             "USD",
		"CHANNELHUB_LOG_LEVEL":            "DEBUG",
		"CHANNELHUB_MAX_BODY_BYTES":       "2048",
		"CHANNELHUB_SEED_DEMO":            "1",
		"CHANNELHUB_ALLOWED_ORIGINS":      "https://*.example.com,app.example.com",
	}))
	require.NoError(t, err)
	require.False(t, c.Development())
	require.True(t, c.SeedDemo, "explicit value wins over the production default")
	require.Equal(t, "postgres://app:pw@db:5432/hub?sslmode=disable", c.DatabaseDSN())
	require.Equal(t, filepath.Join("/var/lib/channelhub", "jwt-signing-key.pem"), c.JWTSigningKeyFile)
	require.Equal(t, []string{k1, k2}, c.JWTVerifyKeyFiles)
	require.True(t, c.S3.UseSSL)
	require.Equal(t, slog.LevelDebug, c.LogLevel)
	require.EqualValues(t, 2048, c.MaxBodyBytes)
	require.Equal(t, []string{"https://*.example.com", "app.example.com"}, c.AllowedOrigins)
}

func TestLoadProductionDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(env(map[string]string{"CHANNELHUB_ENV": "production"}))
	require.NoError(t, err)
	require.False(t, c.Development())
	require.False(t, c.SeedDemo)
}

func TestDatabaseDSN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ dataDir, dbURL, want string }{
		{"/srv/hub", "", "sqlite:/srv/hub/channelhub.db"},
		{"./data", "", "sqlite:data/channelhub.db"},
		{"/srv/hub", "sqlite:/tmp/x.db", "sqlite:/tmp/x.db"},
		{"/srv/hub", "/tmp/x.db", "/tmp/x.db"},
		{"/srv/hub", "postgresql://u@h/db", "postgresql://u@h/db"},
	} {
		t.Run(tc.dataDir+"|"+tc.dbURL, func(t *testing.T) {
			t.Parallel()
			c, err := Load(env(map[string]string{"CHANNELHUB_DATA_DIR": tc.dataDir, "CHANNELHUB_DATABASE_URL": tc.dbURL}))
			require.NoError(t, err)
			require.Equal(t, tc.want, c.DatabaseDSN())
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"CHANNELHUB_ENV", map[string]string{"CHANNELHUB_ENV": "staging"}},
		{"CHANNELHUB_HTTP_ADDR", map[string]string{"CHANNELHUB_HTTP_ADDR": "localhost"}},
		{"CHANNELHUB_DATABASE_URL", map[string]string{"CHANNELHUB_DATABASE_URL": "mysql://u:p@h/db"}},
		{"CHANNELHUB_DATABASE_URL", map[string]string{"CHANNELHUB_DATABASE_URL": "postgres://u:p@[bad/db"}},
		{"CHANNELHUB_DATABASE_URL", map[string]string{"CHANNELHUB_DATABASE_URL": "sqlite:"}},
		{"CHANNELHUB_DATABASE_URL", map[string]string{"CHANNELHUB_DATABASE_URL": "host=db password=p"}},
		{"CHANNELHUB_REDIS_URL", map[string]string{"CHANNELHUB_REDIS_URL": "http://cache:6379"}},
		{"CHANNELHUB_REDIS_URL", map[string]string{"CHANNELHUB_REDIS_URL": "cache:6379"}},
		{"CHANNELHUB_S3_ENDPOINT", map[string]string{"CHANNELHUB_S3_ENDPOINT": "http://minio:9000", "CHANNELHUB_S3_ACCESS_KEY": "a", "CHANNELHUB_S3_SECRET_KEY": "s"}},
		{"CHANNELHUB_S3_PUBLIC_ENDPOINT", map[string]string{"CHANNELHUB_S3_PUBLIC_ENDPOINT": "https://cdn/x"}},
		{"CHANNELHUB_S3_ACCESS_KEY", map[string]string{"CHANNELHUB_S3_ENDPOINT": "minio:9000", "CHANNELHUB_S3_SECRET_KEY": "s"}},
		{"CHANNELHUB_S3_SECRET_KEY", map[string]string{"CHANNELHUB_S3_ENDPOINT": "minio:9000", "CHANNELHUB_S3_ACCESS_KEY": "a"}},
		{"CHANNELHUB_S3_BUCKET", map[string]string{"CHANNELHUB_S3_BUCKET": "Bad_Bucket"}},
		{"CHANNELHUB_S3_USE_SSL", map[string]string{"CHANNELHUB_S3_USE_SSL": "yes"}},
		{"CHANNELHUB_FCM_CREDENTIALS_FILE", map[string]string{"CHANNELHUB_FCM_CREDENTIALS_FILE": "/nonexistent/fcm.json"}},
		{"CHANNELHUB_JWT_VERIFY_KEY_FILES", map[string]string{"CHANNELHUB_JWT_VERIFY_KEY_FILES": "/nonexistent/a.pem"}},
		{"CHANNELHUB_ACCESS_TOKEN_TTL", map[string]string{"CHANNELHUB_ACCESS_TOKEN_TTL": "abc"}},
		{"CHANNELHUB_ACCESS_TOKEN_TTL", map[string]string{"CHANNELHUB_ACCESS_TOKEN_TTL": "30s"}},
		{"CHANNELHUB_ACCESS_TOKEN_TTL", map[string]string{"CHANNELHUB_ACCESS_TOKEN_TTL": "25h"}},
		{"CHANNELHUB_REFRESH_TOKEN_TTL", map[string]string{"CHANNELHUB_REFRESH_TOKEN_TTL": "10m"}},
		{"CHANNELHUB_REFRESH_TOKEN_TTL", map[string]string{"CHANNELHUB_REFRESH_TOKEN_TTL": "1h", "CHANNELHUB_ACCESS_TOKEN_TTL": "2h"}},
		{"CHANNELHUB_TIME_ZONE", map[string]string{"CHANNELHUB_TIME_ZONE": "Mars/Olympus"}},
		{"CHANNELHUB_CURRENCY", map[string]string{"CHANNELHUB_CURRENCY": "cny"}},
		{"CHANNELHUB_CURRENCY", map[string]string{"CHANNELHUB_CURRENCY": "EURO"}},
		{"CHANNELHUB_LOG_LEVEL", map[string]string{"CHANNELHUB_LOG_LEVEL": "trace"}},
		{"CHANNELHUB_MAX_BODY_BYTES", map[string]string{"CHANNELHUB_MAX_BODY_BYTES": "1k"}},
		{"CHANNELHUB_MAX_BODY_BYTES", map[string]string{"CHANNELHUB_MAX_BODY_BYTES": "1023"}},
		{"CHANNELHUB_QUERY_DEPTH_LIMIT", map[string]string{"CHANNELHUB_QUERY_DEPTH_LIMIT": "51"}},
		{"CHANNELHUB_QUERY_COMPLEXITY_LIMIT", map[string]string{"CHANNELHUB_QUERY_COMPLEXITY_LIMIT": "9"}},
		{"CHANNELHUB_SEED_DEMO", map[string]string{"CHANNELHUB_SEED_DEMO": "maybe"}},
		{"CHANNELHUB_SHUTDOWN_TIMEOUT", map[string]string{"CHANNELHUB_SHUTDOWN_TIMEOUT": "0s"}},
		{"CHANNELHUB_ALLOWED_ORIGINS", map[string]string{"CHANNELHUB_ALLOWED_ORIGINS": "https://[x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(env(tc.env))
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.name+": ")
			require.Len(t, strings.Split(err.Error(), "\n"), 1, "exactly one problem expected")
		})
	}
}

func TestLoadReportsAllProblems(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"CHANNELHUB_ENV":              "prod",
		"CHANNELHUB_ACCESS_TOKEN_TTL": "abc",
		"CHANNELHUB_CURRENCY":         "yuan",
		"CHANNELHUB_LOG_LEVEL":        "loud",
		"CHANNELHUB_DATABASE_URL":     "postgres://u:hunter2@[::1/db",
		"CHANNELHUB_S3_ENDPOINT":      "minio:9000",
	}))
	require.Error(t, err)
	msg := err.Error()
	for _, name := range []string{"ENV", "ACCESS_TOKEN_TTL", "CURRENCY", "LOG_LEVEL", "DATABASE_URL", "S3_ACCESS_KEY", "S3_SECRET_KEY"} {
		require.Contains(t, msg, "CHANNELHUB_"+name+": ")
	}
	require.Contains(t, msg, `CHANNELHUB_ACCESS_TOKEN_TTL: "abc" is not a duration`)
	require.NotContains(t, msg, "hunter2")
	require.NotContains(t, msg, "REFRESH_TOKEN_TTL", "no follow-up error for an already invalid access TTL")
}

func TestLogValueMasksSecrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, dbURL, redisURL string }{
		{"userinfo", "postgres://app:dbSecret1@db/hub", "redis://:redisSecret2@cache:6379/0"},
		{"query", "postgresql://app@db/hub?sslmode=require&password=dbSecret1", "rediss://user:redisSecret2@cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(env(map[string]string{
				"CHANNELHUB_DATABASE_URL":   tc.dbURL,
				"CHANNELHUB_REDIS_URL":      tc.redisURL,
				"CHANNELHUB_S3_ENDPOINT":    "minio:9000",
				"CHANNELHUB_S3_ACCESS_KEY":  "AKIDPUBLIC",
				"CHANNELHUB_S3_SECRET_KEY":  "s3Secret3",
				"CHANNELHUB_CARRIER_SECRET": "carrierSecret4",
			}))
			require.NoError(t, err)

			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "config", c)
			out := buf.String()
			for _, secret := range []string{"dbSecret1", "redisSecret2", "s3Secret3", "carrierSecret4"} {
				require.NotContains(t, out, secret)
			}
			require.Contains(t, out, `"secret_key":"***"`)
			require.Contains(t, out, `"carrier_secret":"***"`)
			require.Contains(t, out, "AKIDPUBLIC")
			require.Contains(t, out, "@db/hub")
			require.Contains(t, out, "cache")
			require.Contains(t, out, `"time_zone":"Asia/Shanghai"`)
		})
	}
}

func TestMaskURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                                   "",
		"data/channelhub.db":                 "data/channelhub.db",
		"sqlite:/x/hub.db":                   "sqlite:/x/hub.db",
		"postgres://app@db/hub":              "postgres://app@db/hub",
		"postgres://app:pw@db/hub":           "postgres://app:***@db/hub",
		"postgres://db/hub?sslpassword=pw&x": "postgres://db/hub?sslpassword=***&x",
		"redis://:pw@cache:6379":             "redis://:***@cache:6379",
	} {
		require.Equal(t, want, maskURL(in), in)
	}
}

func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	c, err := Load(func(k string) string {
		return map[string]string{"CHANNELHUB_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7"}[k]
	})
	require.NoError(t, err)
	require.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")}, c.TrustedProxies)
	_, err = Load(func(k string) string { return map[string]string{"CHANNELHUB_TRUSTED_PROXIES": "nope"}[k] })
	require.ErrorContains(t, err, "CHANNELHUB_TRUSTED_PROXIES")
}

func TestPersistedQueriesMode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want persisted.Mode
	}{
		{map[string]string{}, persisted.Allow},
		{map[string]string{"CHANNELHUB_ENV": "production"}, persisted.Enforce},
		{map[string]string{"CHANNELHUB_ENV": "production", "CHANNELHUB_PERSISTED_QUERIES": "allow"}, persisted.Allow},
		{map[string]string{"CHANNELHUB_PERSISTED_QUERIES": "Enforce"}, persisted.Enforce},
		{map[string]string{"CHANNELHUB_PERSISTED_QUERIES": "off"}, persisted.Off},
	} {
		c, err := Load(env(tc.env))
		require.NoError(t, err)
		require.Equal(t, tc.want, c.PersistedQueries, tc.env)
	}
	_, err := Load(env(map[string]string{"CHANNELHUB_PERSISTED_QUERIES": "strict"}))
	require.ErrorContains(t, err, "CHANNELHUB_PERSISTED_QUERIES")
}
