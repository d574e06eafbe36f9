package graph_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/persisted"
	"channelhub/internal/seed"
	contracts "channelhub/mobile-contracts"
)

// manifestOp is the manifest's text of a contract operation.
func manifestOp(t *testing.T, name string) persisted.Operation {
	t.Helper()
	m, err := contracts.Manifest()
	require.NoError(t, err)
	for _, op := range m.Operations {
		if op.Name == name {
			return op
		}
	}
	t.Fatalf("no operation %s in the manifest", name)
	return persisted.Operation{}
}

// pq posts a request: the text when query is not empty, the hash when hash is.
func pq(e *apitest.Env, token, query, hash string, vars map[string]any) apitest.Response {
	e.T.Helper()
	body := map[string]any{"variables": vars}
	if query != "" {
		body["query"] = query
	}
	if hash != "" {
		body["extensions"] = map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	}
	raw, _ := json.Marshal(body)
	return e.Post(token, raw)
}

// contractLogin signs in with the app's own login operation, sent by hash as
// a release build does.
func contractLogin(t *testing.T, e *apitest.Env, op, phone string) string {
	t.Helper()
	r := pq(e, "", "", manifestOp(t, op).ID, map[string]any{"phone": phone, "password": seed.DemoPassword})
	require.Empty(t, r.Errors)
	var d struct {
		AuthLogin struct{ Session struct{ AccessToken string } }
	}
	r.Decode(t, &d)
	require.NotEmpty(t, d.AuthLogin.Session.AccessToken, string(r.Data))
	return d.AuthLogin.Session.AccessToken
}

const adHoc = `query AdHoc { viewer { app roles } }`

func TestPersistedQueriesEnforced(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_PERSISTED_QUERIES": "enforce"}}, func(t *testing.T, e *apitest.Env) {
		dist := contractLogin(t, e, "DistributorLogin", "13800000001")
		home := manifestOp(t, "DistributorHome")

		// By hash, by the manifest's text, by the same text laid out otherwise.
		for name, r := range map[string]apitest.Response{
			"hash":     pq(e, dist, "", home.ID, nil),
			"text":     pq(e, dist, home.Body, "", nil),
			"both":     pq(e, dist, home.Body, home.ID, nil),
			"reformat": pq(e, dist, "# the home screen\n"+strings.Join(strings.Fields(home.Body), " "), "", nil),
		} {
			require.Emptyf(t, r.Errors, "%s: %v", name, r.Errors)
			require.Containsf(t, string(r.Data), `"app":"DISTRIBUTOR"`, name)
		}

		// Anything else is refused with a stable code and no data, whoever
		// registers it and however it is sent.
		changed := strings.Replace(home.Body, "notificationUnreadCount", "notificationUnreadCount\n  notificationMutes", 1)
		for name, r := range map[string]apitest.Response{
			"ad hoc":            pq(e, dist, adHoc, "", nil),
			"ad hoc registered": pq(e, dist, adHoc, persisted.Hash(adHoc), nil),
			"one more field":    pq(e, dist, changed, "", nil),
			"anonymous":         pq(e, "", `{ __typename }`, "", nil),
		} {
			require.Equalf(t, 200, r.Status, name)
			require.Equalf(t, []string{"PERSISTED_QUERY_NOT_ALLOWED"}, r.Codes(), name)
			require.Containsf(t, []string{"", "null"}, string(r.Data), "%s: no data", name)
			require.NotEmptyf(t, r.Errors[0].Message, name)
		}
		// Registering did not make it known.
		require.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, pq(e, dist, "", persisted.Hash(adHoc), nil).Codes())

		// In development an HQ admin may explore.
		admin := contractLogin(t, e, "ConsoleLogin", "13800000000")
		r := pq(e, admin, adHoc, "", nil)
		require.Empty(t, r.Errors)
		require.Contains(t, string(r.Data), `"app":"CONSOLE"`)
		// Sales ops may not.
		ops := contractLogin(t, e, "ConsoleLogin", "13800000041")
		require.Equal(t, []string{"PERSISTED_QUERY_NOT_ALLOWED"}, pq(e, ops, adHoc, "", nil).Codes())
	})
}

// Production enforces by default, and there not even an HQ admin runs ad-hoc
// operations.
func TestPersistedQueriesProductionDefault(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_ENV": "production"}}, func(t *testing.T, e *apitest.Env) {
		admin := contractLogin(t, e, "ConsoleLogin", "13800000000")
		require.Equal(t, []string{"PERSISTED_QUERY_NOT_ALLOWED"}, pq(e, admin, adHoc, "", nil).Codes())
		r := pq(e, admin, "", manifestOp(t, "ConsoleViewer").ID, nil)
		require.Empty(t, r.Errors)
	})
}

// Allow (the development default) runs any valid text, knows the manifest's
// hashes from the first request, and registers other hashes as APQ does.
func TestPersistedQueriesAllowed(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist := contractLogin(t, e, "DistributorLogin", "13800000001")
		r := pq(e, dist, adHoc, "", nil)
		require.Empty(t, r.Errors)

		h := persisted.Hash(adHoc)
		require.Equal(t, []string{"PERSISTED_QUERY_NOT_FOUND"}, pq(e, dist, "", h, nil).Codes())
		require.Empty(t, pq(e, dist, adHoc, h, nil).Errors)
		r = pq(e, dist, "", h, nil)
		require.Empty(t, r.Errors)
		require.Contains(t, string(r.Data), `"app":"DISTRIBUTOR"`)

		// A hash that is not the text's is refused.
		require.NotEmpty(t, pq(e, dist, adHoc, manifestOp(t, "DistributorHome").ID, nil).Errors)
	})
}

// Off runs only texts; a bare hash is a clear request error, never a 500.
func TestPersistedQueriesOff(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_PERSISTED_QUERIES": "off"}}, func(t *testing.T, e *apitest.Env) {
		home := manifestOp(t, "DistributorLogin")
		r := pq(e, "", "", home.ID, map[string]any{"phone": "13800000001", "password": seed.DemoPassword})
		require.Less(t, r.Status, 500)
		require.NotEmpty(t, r.Codes())
		require.NotEqual(t, "INTERNAL", r.Codes()[0])
		require.Empty(t, pq(e, "", home.Body, "", map[string]any{"phone": "13800000001", "password": seed.DemoPassword}).Errors)
	})
}

// Enforcement holds on the WebSocket too: a subscription outside the manifest
// is refused with the code, one from it runs by hash.
func TestPersistedQueriesEnforcedOnWebSocket(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_PERSISTED_QUERIES": "enforce"}}, func(t *testing.T, e *apitest.Env) {
		token := contractLogin(t, e, "DistributorLogin", "13800000001")
		c, ctx := wsDial(t, e)
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}))
		var msg struct {
			ID      string          `json:"id"`
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		require.NoError(t, wsjson.Read(ctx, c, &msg))
		require.Equal(t, "connection_ack", msg.Type)

		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe",
			"payload": map[string]any{"query": "subscription AdHoc { myOrdersUpdated { refetch } }"}}))
		require.NoError(t, wsjson.Read(ctx, c, &msg))
		require.Equal(t, "next", msg.Type, string(msg.Payload)) // gqlgen answers a refused operation as a result with errors
		require.JSONEq(t, `{"data":null,"errors":[{"message":"当前应用版本不再受支持，请更新应用","extensions":{"code":"PERSISTED_QUERY_NOT_ALLOWED"}}]}`, string(msg.Payload))
		require.NoError(t, wsjson.Read(ctx, c, &msg))
		require.Equal(t, "complete", msg.Type)

		home := manifestOp(t, "DistributorHome") // a query over the socket, by hash only
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"id": "2", "type": "subscribe", "payload": map[string]any{"query": "",
			"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": home.ID}}}}))
		require.NoError(t, wsjson.Read(ctx, c, &msg))
		require.Equal(t, "next", msg.Type, string(msg.Payload))
		require.Contains(t, string(msg.Payload), `"app":"DISTRIBUTOR"`)
	})
}
