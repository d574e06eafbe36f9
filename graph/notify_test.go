package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/notify/fcmtest"
)

type inbox struct {
	Notifications struct {
		Edges []struct {
			Node struct {
				ID, Title, Body, Target, Category string
				Read                              bool
			}
		}
	}
	NotificationUnreadCount int
}

func readInbox(t *testing.T, e *apitest.Env, token string) inbox {
	t.Helper()
	var d inbox
	e.Query(token, `{ notifications(first: 20) { edges { node { id title body target category read } } } notificationUnreadCount }`, nil).Decode(t, &d)
	return d
}

func register(t *testing.T, e *apitest.Env, token, device string) {
	t.Helper()
	r := e.Query(token, `mutation($t: String!) { deviceRegister(input: {token: $t, platform: ANDROID}) { devices errors { code } } }`, map[string]any{"t": device})
	require.NotContains(t, string(r.Data), "INVALID_INPUT", "%s", r.Data)
}

// The buyer's phone buzzes through the real Firebase SDK (pointed at a local
// FCM HTTP v1 server), the inbox fills, mutes silence pushes, dead tokens go.
func TestNotifyOrderAlerts(t *testing.T) {
	t.Parallel()
	fcm := fcmtest.New(t, "channelhub-test")
	env := map[string]string{"CHANNELHUB_FCM_CREDENTIALS_FILE": fcm.ServiceAccountFile(t), "CHANNELHUB_FCM_PROJECT_ID": "channelhub-test",
		"CHANNELHUB_FCM_ENDPOINT": fcm.URL}
	apitest.Each(t, apitest.Options{Env: env}, func(t *testing.T, e *apitest.Env) {
		dist, staff, ops := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleDistributorStaff), e.As(auth.RoleSalesOps)
		devA, devB, dead := "tok-a-"+e.Backend, "tok-b-"+e.Backend, "tok-dead-"+e.Backend
		register(t, e, dist, devA)
		register(t, e, staff, devB)
		register(t, e, staff, dead)
		fcm.Script(dead, fcmtest.Unregistered)
		other := e.Login("13800000002", auth.AppDistributor).AccessToken
		register(t, e, other, "tok-other-"+e.Backend)

		live := liveDial(t, e, dist)
		live.subscribe("n", `subscription { notificationReceived { title category target } }`, nil)
		time.Sleep(200 * time.Millisecond)

		ids := cartSKUs(t, e, dist, "PH01-2-1")
		o, errs := submit(t, e, dist, "n-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		_, errs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, errs)
		drained(t, e)

		got := live.until(map[string]string{"n": o.Number})
		require.Contains(t, got["n"], "ORDER")
		in := readInbox(t, e, dist)
		require.Equal(t, 1, in.NotificationUnreadCount)
		require.Contains(t, in.Notifications.Edges[0].Node.Title, o.Number)
		require.Contains(t, in.Notifications.Edges[0].Node.Title, "审核通过")
		require.Equal(t, "order/"+strings.TrimPrefix(o.ID, "Order:"), in.Notifications.Edges[0].Node.Target)
		require.Equal(t, 1, readInbox(t, e, staff).NotificationUnreadCount, "the buyer's staff hear too")
		require.Zero(t, readInbox(t, e, other).NotificationUnreadCount, "another distributor hears nothing")
		require.Zero(t, readInbox(t, e, ops).NotificationUnreadCount)

		require.Equal(t, 1, fcm.Deliveries(devA))
		require.Equal(t, 1, fcm.Deliveries(devB))
		require.Zero(t, fcm.Deliveries("tok-other-"+e.Backend))
		var pushed *fcmtest.Message
		for _, m := range fcm.Delivered() {
			if m.Token == devA {
				pushed = &m
			}
		}
		require.NotNil(t, pushed)
		require.Equal(t, "order:"+strings.TrimPrefix(o.ID, "Order:"), pushed.Android.CollapseKey)
		require.Equal(t, "high", strings.ToLower(pushed.Android.Priority))
		require.Equal(t, in.Notifications.Edges[0].Node.Target, pushed.Data["target"])
		var left int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM device_tokens WHERE token = ?`, dead).Scan(context.Background(), &left))
		require.Zero(t, left, "FCM said UNREGISTERED: the token is gone")

		// mute ORDER: the inbox still fills, the phone stays quiet
		r := e.Query(dist, `mutation { notificationMuteSet(category: ORDER, muted: true) { muted errors { code } } }`, nil)
		require.JSONEq(t, `{"notificationMuteSet":{"muted":["ORDER"],"errors":[]}}`, string(r.Data))
		o2, errs := submit(t, e, dist, "n-2", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		_, errs = act(t, e, ops, "orderReject", o2.ID, map[string]any{"reason": "no stock promised"})
		require.Empty(t, errs)
		drained(t, e)
		require.Equal(t, 2, readInbox(t, e, dist).NotificationUnreadCount)
		require.Equal(t, 1, fcm.Deliveries(devA), "muted")
		require.Equal(t, 2, fcm.Deliveries(devB), "not muted")

		// read, all read
		in = readInbox(t, e, dist)
		r = e.Query(dist, `mutation($ids: [ID!]!) { notificationsMarkRead(ids: $ids) { unreadCount errors { code } } }`,
			map[string]any{"ids": []string{in.Notifications.Edges[0].Node.ID}})
		require.JSONEq(t, `{"notificationsMarkRead":{"unreadCount":1,"errors":[]}}`, string(r.Data))
		r = e.Query(other, `mutation($ids: [ID!]!) { notificationsMarkRead(ids: $ids) { unreadCount errors { code } } }`,
			map[string]any{"ids": []string{in.Notifications.Edges[1].Node.ID}})
		require.JSONEq(t, `{"notificationsMarkRead":{"unreadCount":0,"errors":[]}}`, string(r.Data))
		require.Equal(t, 1, readInbox(t, e, dist).NotificationUnreadCount, "another user cannot touch my inbox")
		r = e.Query(dist, `mutation { notificationsMarkAllRead { unreadCount errors { code } } }`, nil)
		require.JSONEq(t, `{"notificationsMarkAllRead":{"unreadCount":0,"errors":[]}}`, string(r.Data))

		// the same token signed in by another user belongs to the last one
		register(t, e, other, devA)
		var owner string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT u.phone FROM device_tokens dt JOIN users u ON u.id = dt.user_id WHERE dt.token = ?`, devA).Scan(context.Background(), &owner))
		require.Equal(t, "13800000002", owner)
		require.Empty(t, fcm.Violations())
	})
}

// A device goes with its session: logging out stops its pushes.
func TestNotifyDeviceLeavesWithSession(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		s := e.Login(apitest.Demo[auth.RoleDistributorAdmin].Phone, auth.AppDistributor)
		register(t, e, s.AccessToken, "tok-logout")
		r := e.Query(s.AccessToken, `mutation($t: String!) { deviceRegister(input: {token: $t, platform: IOS}) { devices } }`, map[string]any{"t": "tok-second"})
		require.JSONEq(t, `{"deviceRegister":{"devices":2}}`, string(r.Data))
		r = e.Query(s.AccessToken, `mutation { deviceUnregister(token: "tok-second") { devices } }`, nil)
		require.JSONEq(t, `{"deviceUnregister":{"devices":1}}`, string(r.Data))
		r = e.Query(s.AccessToken, `mutation($r: String!) { authLogout(input: {refreshToken: $r}) { ok errors { code } } }`, map[string]any{"r": s.RefreshToken})
		require.Empty(t, r.Errors, "%s", r.Data)
		var n int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM device_tokens`).Scan(context.Background(), &n))
		require.Zero(t, n)
	})
}
