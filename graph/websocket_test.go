package graph_test

import (
	"context"
	"io"
	"net/http"
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

// The spec's close codes through the real server, and the open sockets on
// /metrics.
func TestWebSocketCloseCodesAndGauge(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		open := func() string {
			resp, err := http.Get(e.URL + "/metrics")
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			for line := range strings.SplitSeq(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "channelhub_websockets_open "); ok {
					return v
				}
			}
			return "missing"
		}
		token := e.As(auth.RoleStoreManager)
		l := liveDial(t, e, token)
		require.Eventually(t, func() bool { return open() == "1" }, 5*time.Second, 10*time.Millisecond, open())

		closed := func(c *websocket.Conn, ctx context.Context) websocket.StatusCode {
			for {
				var m map[string]any
				if err := wsjson.Read(ctx, c, &m); err != nil {
					return websocket.CloseStatus(err)
				}
			}
		}
		sub := map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { creditUpdated { status } }"}}
		l.subscribe("1", "subscription { creditUpdated { status } }", nil)
		l.subscribe("1", "subscription { creditUpdated { status } }", nil)
		require.Equal(t, websocket.StatusCode(4409), closed(l.c, l.ctx), "a second subscribe with a running id")

		c, ctx := wsDial(t, e)
		require.NoError(t, wsjson.Write(ctx, c, sub))
		require.Equal(t, websocket.StatusCode(4401), closed(c, ctx), "subscribe before connection_ack")

		l = liveDial(t, e, token)
		require.NoError(t, wsjson.Write(l.ctx, l.c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}))
		require.Equal(t, websocket.StatusCode(4429), closed(l.c, l.ctx), "a second connection_init")

		l = liveDial(t, e, token)
		require.NoError(t, wsjson.Write(l.ctx, l.c, map[string]any{"type": "nonsense"}))
		require.Equal(t, websocket.StatusCode(4400), closed(l.c, l.ctx))

		l = liveDial(t, e, token)
		big := strings.Repeat(" ", int(e.Server.Config.MaxBodyBytes))
		require.NoError(t, l.c.Write(l.ctx, websocket.MessageText, []byte(`{"id":"1","type":"subscribe","payload":{"query":"`+big+`{ viewer { app } }"}}`)))
		require.Equal(t, websocket.StatusMessageTooBig, closed(l.c, l.ctx), "a message over the body limit")

		require.Eventually(t, func() bool { return open() == "0" }, 5*time.Second, 10*time.Millisecond, open())
	})
}
