package graph_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/database/dbtest"
	"channelhub/internal/outbox"
)

// liveConn is a graphql-transport-ws client of one socket.
type liveConn struct {
	t   *testing.T
	c   *websocket.Conn
	ctx context.Context
}

func liveDial(t *testing.T, e *apitest.Env, token string) *liveConn {
	t.Helper()
	c, ctx := wsDial(t, e)
	require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}))
	var msg map[string]any
	require.NoError(t, wsjson.Read(ctx, c, &msg))
	require.Equal(t, "connection_ack", msg["type"])
	return &liveConn{t: t, c: c, ctx: ctx}
}

func (l *liveConn) subscribe(id, query string, vars map[string]any) {
	l.t.Helper()
	require.NoError(l.t, wsjson.Write(l.ctx, l.c, map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query, "variables": vars}}))
}

// next reads the next message of any subscription, within d.
func (l *liveConn) next(d time.Duration) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(l.ctx, d)
	defer cancel()
	for {
		var msg map[string]any
		if err := wsjson.Read(ctx, l.c, &msg); err != nil {
			return nil, err
		}
		if msg["type"] == "ping" || msg["type"] == "pong" {
			continue
		}
		return msg, nil
	}
}

func (l *liveConn) mustNext(d time.Duration) map[string]any {
	l.t.Helper()
	msg, err := l.next(d)
	require.NoError(l.t, err)
	return msg
}

// drained waits until the dispatcher has delivered every event so far. Its
// statements are not counted in e.Server.DB.Queries.
func drained(t *testing.T, e *apitest.Env) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM outbox_events WHERE delivered_at IS NULL AND parked_at IS NULL`).Scan(database.Uncounted(context.Background()), &n))
		return n == 0
	}, 10*time.Second, 20*time.Millisecond)
}

// until reads messages until each subscription id in want has one whose
// payload contains want[id], and returns the last payload seen per id.
func (l *liveConn) until(want map[string]string) map[string]string {
	l.t.Helper()
	got := map[string]string{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := true
		for id, s := range want {
			done = done && strings.Contains(got[id], s)
		}
		if done {
			return got
		}
		msg, err := l.next(time.Until(deadline))
		require.NoError(l.t, err, "waiting for %v, got %v", want, got)
		require.Equal(l.t, "next", msg["type"], "%v", msg)
		got[msg["id"].(string)] = fmt.Sprint(msg["payload"])
	}
}

func TestLiveOrderUpdates(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, ops, fin := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleSalesOps), e.As(auth.RoleFinance)
		ids := cartSKUs(t, e, dist, "PH01-2-1")
		o, errs := submit(t, e, dist, "live-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		drained(t, e)

		buyer := liveDial(t, e, dist)
		buyer.subscribe("o", `subscription($id: ID!) { orderUpdated(id: $id) { number status timeline { type } } }`, map[string]any{"id": o.ID})
		buyer.subscribe("mine", `subscription { myOrdersUpdated { refetch order { number status } } }`, nil)
		buyer.subscribe("credit", `subscription { creditUpdated { reserved { amount } status } }`, nil)
		hq := liveDial(t, e, fin)
		hq.subscribe("mine", `subscription { myOrdersUpdated { refetch order { number status } } }`, nil)
		other := liveDial(t, e, e.Login("13800000002", auth.AppDistributor).AccessToken)
		other.subscribe("mine", `subscription { myOrdersUpdated { refetch order { number } } }`, nil)
		other.subscribe("theirs", `subscription($id: ID!) { orderUpdated(id: $id) { number } }`, map[string]any{"id": o.ID})
		msg := other.mustNext(5 * time.Second)
		require.Equal(t, "theirs", msg["id"])
		require.Contains(t, fmt.Sprint(msg["payload"]), "NOT_FOUND", "another party's order cannot be followed")
		require.Equal(t, map[string]any{"id": "theirs", "type": "complete"}, other.mustNext(5*time.Second))
		time.Sleep(200 * time.Millisecond) // the subscriptions are registered with the broker

		_, errs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, errs)

		got := buyer.until(map[string]string{"o": "APPROVED", "mine": o.Number})
		require.Contains(t, got["mine"], "APPROVED")
		hq.until(map[string]string{"mine": "APPROVED"}) // HQ follows every order under it
		_, err := other.next(500 * time.Millisecond)
		require.Error(t, err, "nothing reaches another distributor")

		_, errs = act(t, e, dist, "orderCancel", o.ID, map[string]any{})
		require.Empty(t, errs)
		seen := buyer.until(map[string]string{"o": "CANCELLED", "credit": "0.00"})
		require.Contains(t, seen["o"], "CANCELLED")
		require.Contains(t, seen["credit"], "0.00", "the released credit arrives as the line's current state")
	})
}

// Followers of one order on one instance share the read after each change
// when they see the same rows: the statements a change costs do not grow
// with its followers, only with the kinds of viewer (here a second, HQ).
func TestLiveSharedReads(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{SteadyBatches: true}, func(t *testing.T, e *apitest.Env) {
		dist, ops := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleSalesOps)
		again := e.As(auth.RoleDistributorAdmin) // a second session of the same user
		ids := cartSKUs(t, e, dist, "PH01-2-1")
		o, errs := submit(t, e, dist, "live-shared", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		drained(t, e)
		const q = `subscription($id: ID!) { orderUpdated(id: $id) { number status note } }`
		follow := func(token string) *liveConn {
			l := liveDial(t, e, token)
			l.subscribe("o", q, map[string]any{"id": o.ID})
			return l
		}
		change := func(note string, conns []*liveConn) int64 {
			time.Sleep(200 * time.Millisecond) // the subscriptions are registered with the broker
			before := e.Server.DB.Queries()
			_, errs := act(t, e, dist, "orderChangeRequest", o.ID, map[string]any{"note": note})
			require.Empty(t, errs)
			for _, l := range conns {
				l.until(map[string]string{"o": note})
			}
			drained(t, e)
			time.Sleep(200 * time.Millisecond) // reads for the change's later events, if any
			return e.Server.DB.Queries() - before
		}
		one := change("first", []*liveConn{follow(dist)})

		var conns []*liveConn
		for i := range 8 {
			conns = append(conns, follow([]string{dist, again}[i%2]))
		}
		conns = append(conns, follow(ops))
		require.Equal(t, one+1, change("second", conns), "nine followers, two kinds of viewer: one more read than with one follower")
	})
}

func TestLiveLimits(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist := e.As(auth.RoleDistributorAdmin)
		l := liveDial(t, e, dist)
		for i := range 101 {
			l.subscribe(fmt.Sprint(i), `subscription { myOrdersUpdated { refetch } }`, nil)
		}
		// the subscriptions start concurrently: exactly one of the 101 is refused, then completed
		msg := l.mustNext(5 * time.Second)
		require.Contains(t, fmt.Sprint(msg["payload"]), "INVALID_REQUEST", "%v", msg)
		refused := msg["id"]
		msg = l.mustNext(5 * time.Second)
		require.Equal(t, map[string]any{"id": refused, "type": "complete"}, msg)
		_, err := l.next(300 * time.Millisecond)
		require.Error(t, err, "the other 100 stay open and quiet")

		// a malformed connection_init closes the socket
		c, ctx := wsDial(t, e)
		require.NoError(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init","payload":"nope"`)))
		var m map[string]any
		err = wsjson.Read(ctx, c, &m)
		require.Error(t, err)

		// an expired token is refused at init
		e.Clock.Advance(2 * time.Hour)
		c, ctx = wsDial(t, e)
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + dist}}))
		err = wsjson.Read(ctx, c, &m)
		require.Equal(t, websocket.StatusCode(4403), websocket.CloseStatus(err))
		require.False(t, strings.Contains(e.LogText(), dist), "tokens never reach the log")
	})
}

// Two API instances on one PostgreSQL and one Redis: a change made through A
// reaches a subscriber connected to B, whichever instance's dispatcher
// delivers the event.
func TestLiveAcrossInstances(t *testing.T) {
	t.Parallel()
	apitest.EachPair(t, apitest.Options{}, func(t *testing.T, a, other *apitest.Env) {
		dist := a.As(auth.RoleDistributorAdmin)
		ids := cartSKUs(t, a, dist, "PH01-2-1")
		o, errs := submit(t, a, dist, "two-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		drained(t, a)

		sub := liveDial(t, other, dist) // the token from A is good on B: one key set
		sub.subscribe("o", `subscription($id: ID!) { orderUpdated(id: $id) { status } }`, map[string]any{"id": o.ID})
		time.Sleep(200 * time.Millisecond)
		_, errs = act(t, a, a.As(auth.RoleSalesOps), "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, errs)
		start := time.Now()
		sub.until(map[string]string{"o": "APPROVED"})
		t.Logf("commit on A → subscriber on B: %v", time.Since(start))
	})
}

// A socket ends with its access token, and when its user is disabled.
func TestLiveSessionEnds(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_LIVE_SESSION_CHECK": "200ms"}}, func(t *testing.T, e *apitest.Env) {
		// a token issued so long ago that it has two seconds left
		back := 15*time.Minute - 2*time.Second
		e.Clock.Advance(-back)
		short := e.As(auth.RoleDistributorAdmin)
		e.Clock.Advance(back)
		l := liveDial(t, e, short)
		l.subscribe("mine", `subscription { myOrdersUpdated { refetch } }`, nil)
		start := time.Now()
		_, err := l.next(10 * time.Second)
		for err == nil {
			_, err = l.next(10 * time.Second)
		}
		require.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err), "%v", err)
		require.Less(t, time.Since(start), 8*time.Second)

		store := e.As(auth.RoleStoreManager)
		l = liveDial(t, e, store)
		l.subscribe("mine", `subscription { myOrdersUpdated { refetch } }`, nil)
		var d struct {
			Users struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
		adm := e.As(auth.RoleHQAdmin)
		e.Query(adm, `{ users(first: 1, filter: {search: "13800000011"}) { edges { node { id } } } }`, nil).Decode(t, &d)
		require.Len(t, d.Users.Edges, 1)
		r := e.Query(adm, `mutation($id: ID!) { userUpdate(id: $id, input: {status: DISABLED, reason: "left"}) { errors { code } } }`,
			map[string]any{"id": d.Users.Edges[0].Node.ID})
		require.JSONEq(t, `{"userUpdate":{"errors":[]}}`, string(r.Data))
		_, err = l.next(10 * time.Second)
		for err == nil {
			_, err = l.next(10 * time.Second)
		}
		require.Equal(t, websocket.StatusNormalClosure, websocket.CloseStatus(err), "a disabled user's socket closes: %v", err)
	})
}

// HQ admins see parked events and queue them again; the dispatcher then delivers.
func TestLiveParkedEvents(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx := context.Background()
		ev, err := outbox.New("test:parked", "Test", "1", "test.parked", map[string]int{"n": 1}, time.Now().UTC())
		require.NoError(t, err)
		now := time.Now().UTC()
		ev.Attempts, ev.ParkedAt, ev.LastError = 10, &now, "downstream down"
		require.NoError(t, outbox.Add(ctx, e.Server.DB, ev))
		adm := e.As(auth.RoleHQAdmin)
		var d struct {
			ParkedEvents []struct {
				ID, Type, LastError string
				Attempts            int
			}
		}
		e.Query(adm, `{ parkedEvents { id type attempts lastError } }`, nil).Decode(t, &d)
		require.Len(t, d.ParkedEvents, 1)
		require.Equal(t, "downstream down", d.ParkedEvents[0].LastError)
		r := e.Query(adm, `mutation($id: ID!) { parkedEventRetry(id: $id) { retried } }`, map[string]any{"id": d.ParkedEvents[0].ID})
		require.JSONEq(t, `{"parkedEventRetry":{"retried":true}}`, string(r.Data))
		drained(t, e)
		r = e.Query(adm, `mutation($id: ID!) { parkedEventRetry(id: $id) { retried } }`, map[string]any{"id": d.ParkedEvents[0].ID})
		require.JSONEq(t, `{"parkedEventRetry":{"retried":false}}`, string(r.Data), "delivered, no longer parked")
	})
}

// The legacy graphql-ws subprotocol still works for old apps.
func TestLiveLegacyProtocol(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.URL, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-ws"}})
		require.NoError(t, err)
		defer c.CloseNow()
		require.Equal(t, "graphql-ws", c.Subprotocol())
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"authorization": "Bearer " + e.As(auth.RoleStoreManager)}}))
		var msg map[string]any
		require.NoError(t, wsjson.Read(ctx, c, &msg))
		require.Equal(t, "connection_ack", msg["type"])
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "start", "payload": map[string]any{"query": "subscription { creditUpdated { status } }"}}))
		require.NoError(t, wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "stop"}))
		for msg["type"] != "complete" {
			require.NoError(t, wsjson.Read(ctx, c, &msg))
			require.NotEqual(t, "error", msg["type"], "%v", msg)
		}
	})
}

// Redis drops the server's connections (as a restart would) while a phone
// follows orders: it is told to refetch, and later changes still arrive.
// Only this server's connections are killed (by client name): other tests
// share the Redis server.
func TestLiveRedisRestart(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends(t) {
		if b.Name == "sqlite" {
			continue // no Redis
		}
		t.Run(b.Name, func(t *testing.T) {
			base := os.Getenv(dbtest.RedisEnv)
			u, err := url.Parse(base)
			require.NoError(t, err)
			name := fmt.Sprintf("chtest-live-restart-%d", time.Now().UnixNano())
			q := u.Query()
			q.Set("client_name", name)
			u.RawQuery = q.Encode()
			e := apitest.Start(t, b, apitest.Options{Env: map[string]string{"CHANNELHUB_REDIS_URL": u.String()}})
			opt, err := redis.ParseURL(base)
			require.NoError(t, err)
			opt.ClientName = name + "-admin"
			admin := redis.NewClient(opt)
			defer admin.Close()

			dist := e.As(auth.RoleDistributorAdmin)
			ids := cartSKUs(t, e, dist, "PH01-2-1")
			o, errs := submit(t, e, dist, "live-redis", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
			require.Empty(t, errs)
			drained(t, e)
			l := liveDial(t, e, dist)
			l.subscribe("mine", `subscription { myOrdersUpdated { refetch order { status } } }`, nil)
			l.subscribe("o", `subscription($id: ID!) { orderUpdated(id: $id) { status } }`, map[string]any{"id": o.ID})
			time.Sleep(200 * time.Millisecond)

			list, err := admin.Do(t.Context(), "CLIENT", "LIST").Text()
			require.NoError(t, err)
			killed := 0
			for line := range strings.SplitSeq(strings.TrimSpace(list), "\n") {
				var id string
				for f := range strings.FieldsSeq(line) {
					if v, ok := strings.CutPrefix(f, "id="); ok {
						id = v
					}
				}
				if strings.Contains(line, " name="+name+" ") {
					require.NoError(t, admin.Do(t.Context(), "CLIENT", "KILL", "ID", id).Err())
					killed++
				}
			}
			require.NotZero(t, killed, "the server's connections carry the client name")

			got := l.until(map[string]string{"mine": "refetch:true", "o": "SUBMITTED"})
			require.Contains(t, got["mine"], "refetch:true", "told to refetch: messages may have been lost")
			_, errs = act(t, e, e.As(auth.RoleSalesOps), "orderApprove", o.ID, map[string]any{"reason": "ok"})
			require.Empty(t, errs)
			l.until(map[string]string{"mine": "APPROVED", "o": "APPROVED"})
		})
	}
}
