package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

func wsDial(t *testing.T, e *apitest.Env) (*websocket.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c, ctx
}

func TestWebSocketAuthenticatesOnInit(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		c, ctx := wsDial(t, e)
		require.Equal(t, "graphql-transport-ws", c.Subprotocol())
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer not-a-token"}}))
		var msg map[string]any
		err := wsjson.Read(ctx, c, &msg)
		require.Equal(t, websocket.StatusCode(4403), websocket.CloseStatus(err), "bad token closes with 4403: %v %v", err, msg)

		token := e.As(auth.RoleStoreManager)
		c, ctx = wsDial(t, e)
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}))
		require.NoError(t, wsjson.Read(ctx, c, &msg))
		require.Equal(t, "connection_ack", msg["type"])
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ viewer { app party { code } } }"}}))
		require.NoError(t, wsjson.Read(ctx, c, &msg))
		require.Equal(t, "next", msg["type"], "%v", msg)
		require.Equal(t, map[string]any{"data": map[string]any{"viewer": map[string]any{"app": "STORE", "party": map[string]any{"code": "S-0001"}}}}, msg["payload"])
		require.NoError(t, wsjson.Read(ctx, c, &msg))
		require.Equal(t, "complete", msg["type"])
		require.NoError(t, c.Close(websocket.StatusNormalClosure, ""))
	})
}
