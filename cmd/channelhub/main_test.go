package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func env(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }

var urlRE = regexp.MustCompile(`GraphQL:\s+(http://\S+)/graphql`)

// serveOnce starts the binary's run in-process, waits until it serves, checks
// health, then stops it the way SIGTERM would, and returns its output.
func serveOnce(t *testing.T, vars map[string]string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env(vars), &out, &errOut) }()
	var base string
	deadline := time.Now().Add(30 * time.Second)
	for base == "" && time.Now().Before(deadline) {
		if m := urlRE.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("run ended early: %v\n%s", err, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	require.NotEmpty(t, base, "server did not start: %s", errOut.String())
	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("server did not shut down")
	}
	return out.String(), errOut.String()
}

func TestServeSeedsOnceAndKeepsData(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	vars := map[string]string{"CHANNELHUB_DATA_DIR": dir, "CHANNELHUB_HTTP_ADDR": "127.0.0.1:0"}
	out, logs := serveOnce(t, vars)
	require.Contains(t, out, "GraphiQL:")
	for _, phone := range []string{"13800000000", "13800000001", "13800000002", "13800000011", "13800000021", "13800000031", "13800000041", "13800000051"} {
		require.Contains(t, out, phone)
	}
	require.Contains(t, logs, `"seeded":true`)
	require.FileExists(t, filepath.Join(dir, "channelhub.db"))
	require.FileExists(t, filepath.Join(dir, "jwt-signing-key.pem"))

	_, logs = serveOnce(t, vars)
	require.Contains(t, logs, `"seeded":false`)
	require.NotContains(t, logs, "migrations applied")
}

func TestProductionHidesGraphiQLAndDemoLogins(t *testing.T) {
	t.Parallel()
	out, _ := serveOnce(t, map[string]string{"CHANNELHUB_DATA_DIR": t.TempDir(), "CHANNELHUB_HTTP_ADDR": "127.0.0.1:0", "CHANNELHUB_ENV": "production"})
	require.NotContains(t, out, "GraphiQL")
	require.NotContains(t, out, "13800000000")
}

func TestRunCommands(t *testing.T) {
	t.Parallel()
	var out, errOut syncBuffer
	require.NoError(t, run(context.Background(), []string{"version"}, env(nil), &out, &errOut))
	require.True(t, strings.HasPrefix(out.String(), "channelhub "))

	dir := t.TempDir()
	vars := map[string]string{"CHANNELHUB_DATA_DIR": dir}
	out = syncBuffer{}
	require.NoError(t, run(context.Background(), []string{"migrate"}, env(vars), &out, &errOut))
	require.Regexp(t, `^applied [1-9][0-9]* migration\(s\) on sqlite`, out.String())
	out = syncBuffer{}
	require.NoError(t, run(context.Background(), []string{"seed"}, env(vars), &out, &errOut))
	require.Contains(t, out.String(), "seeded the demo channel")
	out = syncBuffer{}
	require.NoError(t, run(context.Background(), []string{"seed"}, env(vars), &out, &errOut))
	require.Contains(t, out.String(), "nothing seeded")

	err := run(context.Background(), []string{"bogus"}, env(vars), &out, &errOut)
	require.ErrorContains(t, err, "unknown command")

	err = run(context.Background(), nil, env(map[string]string{
		"CHANNELHUB_ACCESS_TOKEN_TTL": "soon", "CHANNELHUB_DATABASE_URL": "postgres://u:hunter2@[::1", "CHANNELHUB_ENV": "staging",
	}), &out, &errOut)
	require.Error(t, err)
	for _, name := range []string{"CHANNELHUB_ACCESS_TOKEN_TTL", "CHANNELHUB_DATABASE_URL", "CHANNELHUB_ENV"} {
		require.ErrorContains(t, err, name)
	}
	require.NotContains(t, err.Error(), "hunter2")
}
