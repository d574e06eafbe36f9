package graph_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/database/dbtest"
)

func limitsReason(r apitest.Response) string {
	if len(r.Errors) == 0 {
		return ""
	}
	s, _ := r.Errors[0].Extensions["reason"].(string)
	return s
}

func TestLimitsRejectBadRequests(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		token := e.As(auth.RoleHQAdmin)

		t.Run("depth", func(t *testing.T) {
			q := "{ parties(first: 1) { edges { node { " + strings.Repeat("parent { ", 12) + "name" + strings.Repeat(" }", 12) + " } } } }"
			r := e.Query(token, q, nil)
			require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
			require.Equal(t, "DEPTH_LIMIT_EXCEEDED", limitsReason(r))
			// The same through a fragment spread is caught too.
			q = "{ parties(first: 1) { edges { node { ...F } } } } fragment F on Party { " + strings.Repeat("parent { ", 12) + "name" + strings.Repeat(" }", 12) + " }"
			require.Equal(t, []string{"INVALID_REQUEST"}, e.Query(token, q, nil).Codes())
		})

		t.Run("complexity", func(t *testing.T) {
			r := e.Query(token, `{ users(first: 100) { edges { node { assignedStores(first: 100) { edges { node { name code } } } } } } }`, nil)
			require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
			require.Equal(t, "COMPLEXITY_LIMIT_EXCEEDED", limitsReason(r))
			require.Contains(t, []string{"", "null"}, string(r.Data), "no resolver may run")
		})

		t.Run("oversize body", func(t *testing.T) {
			big := `{"query":"{ viewer { app } }","variables":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
			r := e.Post(token, []byte(big))
			require.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
			require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
		})

		t.Run("syntax error", func(t *testing.T) {
			r := e.Query(token, `{ viewer { app `, nil)
			require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
			require.Equal(t, "GRAPHQL_PARSE_FAILED", limitsReason(r))
		})

		t.Run("validation and wrong types", func(t *testing.T) {
			require.Equal(t, []string{"INVALID_REQUEST"}, e.Query(token, `{ viewer { nope } }`, nil).Codes())
			r := e.Query(token, `query($n: Int) { parties(first: $n) { totalCount } }`, map[string]any{"n": "ten"})
			require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
			r = e.Query(token, `mutation($in: AuthLoginInput!) { authLogin(input: $in) { errors { code } } }`,
				map[string]any{"in": map[string]any{"phone": "13800000000", "app": "NOPE"}})
			require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
		})

		t.Run("malformed id", func(t *testing.T) {
			for _, id := range []string{"", "Party:", "Party:not-a-uuid", "User:0190b7a8-0000-7000-8000-000000000000x", strings.Repeat("A", 5000)} {
				r := e.Query(token, `query($id: ID!) { party(id: $id) { name } }`, map[string]any{"id": id})
				require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes(), id)
			}
		})

		t.Run("not JSON", func(t *testing.T) {
			r := e.Post(token, []byte(`{"query": 12`))
			require.GreaterOrEqual(t, r.Status, 400)
			require.Len(t, r.Errors, 1)
		})

		t.Run("mutation over GET", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.URL+"/graphql?query="+url.QueryEscape(`mutation { authLogout(input: {refreshToken: "x"}) { ok } }`), nil)
			r := e.Do(req)
			require.NotEmpty(t, r.Errors)
		})
	})
}

func TestLimitsPersistedQueries(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		token := e.As(auth.RoleDistributorAdmin)
		// Redis keeps persisted queries across runs: make this run's document new.
		query := fmt.Sprintf("query ViewerApp { viewer { app } } # %s %d", t.Name(), time.Now().UnixNano())
		sum := sha256.Sum256([]byte(query))
		ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}

		body, _ := json.Marshal(map[string]any{"extensions": ext})
		r := e.Post(token, body)
		require.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, r.Codes())

		body, _ = json.Marshal(map[string]any{"query": query, "extensions": ext})
		r = e.Post(token, body)
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"viewer":{"app":"DISTRIBUTOR"}}`, string(r.Data))

		extJSON, _ := json.Marshal(ext)
		req, _ := http.NewRequest(http.MethodGet, e.URL+"/graphql?extensions="+url.QueryEscape(string(extJSON)), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		r = e.Do(req)
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"viewer":{"app":"DISTRIBUTOR"}}`, string(r.Data))

		// A hash that does not match its query is refused.
		body, _ = json.Marshal(map[string]any{"query": `{ viewer { roles } }`, "extensions": ext})
		require.NotEmpty(t, e.Post(token, body).Errors)
	})
}

func limitsGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestLimitsHTTPEndpoints(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		code, _ := limitsGet(t, e.URL+"/healthz")
		require.Equal(t, 200, code)
		code, body := limitsGet(t, e.URL+"/readyz")
		require.Equal(t, 200, code, body)

		token := e.As(auth.RoleHQAdmin)
		r := e.Query(token, `query ConsoleParties { parties(first: 3) { totalCount } }`, nil)
		require.Empty(t, r.Errors)
		code, body = limitsGet(t, e.URL+"/metrics")
		require.Equal(t, 200, code)
		require.Contains(t, body, `channelhub_graphql_operation_duration_seconds_count{operation="ConsoleParties",outcome="ok",type="query"} 1`)

		code, body = limitsGet(t, e.URL+"/")
		require.Equal(t, 200, code)
		require.Contains(t, body, "/graphql")
		r = e.Query(token, `{ __schema { queryType { name } } }`, nil)
		require.Empty(t, r.Errors)

		req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", bytes.NewReader([]byte(`{"query":"{ __typename }"}`)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-Id", "client-chosen-id-1")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "client-chosen-id-1", resp.Header.Get("X-Request-Id"))
		require.Contains(t, e.LogText(), `"request_id":"client-chosen-id-1"`)
	})
}

func TestLimitsProductionHidesIntrospectionAndGraphiQL(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_ENV": "production", "CHANNELHUB_SEED_DEMO": "true"}}, func(t *testing.T, e *apitest.Env) {
		code, _ := limitsGet(t, e.URL+"/")
		require.Equal(t, http.StatusNotFound, code)
		r := e.Query("", `{ __schema { queryType { name } } }`, nil)
		require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
	})
}

func TestLimitsErrorsSpeakTheClientsLanguage(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ask := func(lang string) apitest.Response {
			body, _ := json.Marshal(map[string]any{"query": `{ viewer { app } }`})
			req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if lang != "" {
				req.Header.Set("Accept-Language", lang)
			}
			return e.Do(req)
		}
		zh, en, def := ask("zh-CN"), ask("en-US,en;q=0.9"), ask("")
		for _, r := range []apitest.Response{zh, en, def} {
			require.Equal(t, []string{"UNAUTHENTICATED"}, r.Codes())
		}
		require.Equal(t, "请先登录，或登录已失效", zh.Errors[0].Message)
		require.Equal(t, zh.Errors[0].Message, def.Errors[0].Message)
		require.Equal(t, "Please sign in; the session is missing or has ended", en.Errors[0].Message)
	})
}

func TestLimitsRateLimitSignIn(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_RATE_LOGIN_PER_MINUTE": "6"}}, func(t *testing.T, e *apitest.Env) {
		login := `mutation { authLogin(input: {phone: "13800000099", password: "wrong-password", app: CONSOLE}) { errors { code } } }`
		for range 2 { // the burst: a third of the per-minute rate
			r := e.Query("", login, nil)
			require.Empty(t, r.Errors)
		}
		r := e.Query("", login, nil)
		require.Equal(t, []string{"RATE_LIMITED"}, r.Codes())
		require.Greater(t, r.Errors[0].Extensions["retryAfterSeconds"], float64(0))
		require.Equal(t, []any{"authLogin"}, r.Errors[0].Path)
		require.Equal(t, "null", string(r.Data))
	})
}

func TestLimitsRateLimitMutationsPerUser(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_RATE_MUTATIONS_PER_MINUTE": "6"}}, func(t *testing.T, e *apitest.Env) {
		hq, other := e.As(auth.RoleHQAdmin), e.As(auth.RoleDistributorAdmin)
		update := `mutation { userUpdate(id: "User:0190b7a8-0000-7000-8000-000000000000", input: {name: "x"}) { errors { code } } }`
		r := e.Query(hq, update, nil)
		require.Empty(t, r.Errors)
		require.JSONEq(t, `{"userUpdate":{"errors":[{"code":"NOT_FOUND"}]}}`, string(r.Data))
		require.Equal(t, []string{"RATE_LIMITED"}, e.Query(hq, update, nil).Codes())
		require.Empty(t, e.Query(hq, `{ viewer { app } }`, nil).Errors, "queries are not limited")
		require.Equal(t, []string{"FORBIDDEN"}, e.Query(other, update, nil).Codes(), "another user has its own budget")
	})
}

func TestLimitsCORSOnlyForConfiguredOrigins(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_ALLOWED_ORIGINS": "https://console.example.com"}}, func(t *testing.T, e *apitest.Env) {
		preflight := func(origin string) string {
			req, _ := http.NewRequest(http.MethodOptions, e.URL+"/graphql", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.Header.Get("Access-Control-Allow-Origin")
		}
		require.Equal(t, "https://console.example.com", preflight("https://console.example.com"))
		require.Empty(t, preflight("https://evil.example.net"))
	})
}

func TestLimitsRefuseNulAndBadUTF8(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		r := e.Query(hq, `query($s: String) { users(filter: {search: $s}) { totalCount } }`, map[string]any{"s": "a\x00b"})
		require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
		r = e.Query(hq, `{ users(filter: {search: "a\u0000b"}) { totalCount } }`, nil)
		require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
		// JSON bodies cannot carry invalid UTF-8, but a GET query string can.
		req, _ := http.NewRequest(http.MethodGet, e.URL+`/graphql?query=%7B%20users(filter%3A%20%7Bsearch%3A%20%22%FF%FE%22%7D)%20%7B%20totalCount%20%7D%20%7D`, nil)
		req.Header.Set("Authorization", "Bearer "+hq)
		r = e.Do(req)
		require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
		r = e.Query(hq, `{ users(filter: {search: "王"}) { totalCount } }`, nil)
		require.Empty(t, r.Errors, "ordinary Chinese text passes")
	})
}

// A database fault while checking a token is our fault, not the session's end.
func TestLimitsDatabaseFaultIsNotUnauthenticated(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		token := e.As(auth.RoleStoreManager)
		require.NoError(t, e.Server.DB.Close())
		r := e.Query(token, `{ viewer { app } }`, nil)
		require.Equal(t, http.StatusServiceUnavailable, r.Status)
		require.Equal(t, []string{"INTERNAL"}, r.Codes())
		code, _ := limitsGet(t, e.URL+"/readyz")
		require.Equal(t, http.StatusServiceUnavailable, code)
	})
}

func TestLimitsCursorWithForeignID(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		bad := base64.RawURLEncoding.EncodeToString([]byte(`["a","not-a-uuid"]`))
		r := e.Query(e.As(auth.RoleHQAdmin), `query($a: String) { parties(after: $a) { totalCount } }`, map[string]any{"a": bad})
		require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())
	})
}

// A plain answer goes out exactly once as {"data":…}; answers with errors
// keep gqlgen's own shape and status.
func TestPostAnswerBytes(t *testing.T) {
	t.Parallel()
	e := apitest.Start(t, dbtest.Backends(t)[0], apitest.Options{})
	post := func(token, body string) (int, string, string) {
		req, _ := http.NewRequest(http.MethodPost, e.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	hq := e.As(auth.RoleHQAdmin)
	status, ctype, body := post(hq, `{"query":"{ __typename }"}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "application/json", ctype)
	require.Equal(t, `{"data":{"__typename":"Query"}}`, body)

	status, _, body = post(hq, `{"query":"{ viewer { user { phone } } }"}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"data":{"viewer":{"user":{"phone":"13800000000"}}}}`, body)

	status, _, body = post(hq, `{"query":"{ noSuchField }"}`)
	require.Equal(t, http.StatusUnprocessableEntity, status)
	var r struct {
		Errors []json.RawMessage
		Data   json.RawMessage
	}
	require.NoError(t, json.Unmarshal([]byte(body), &r), body)
	require.Len(t, r.Errors, 1)
}
