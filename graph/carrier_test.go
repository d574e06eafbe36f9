package graph_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

const carrierSecret = "test-carrier-secret"

type carrierReply struct {
	Status         int
	Result         string `json:"result"`
	ShipmentStatus string `json:"shipmentStatus"`
	Error          struct{ Code, Message string }
}

// postTracking posts body to /carrier/tracking signed with secret at ts.
func postTracking(t *testing.T, e *apitest.Env, secret string, ts time.Time, body []byte) carrierReply {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(stamp + "."))
	m.Write(body)
	req, err := http.NewRequest(http.MethodPost, e.URL+"/carrier/tracking", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Channelhub-Timestamp", stamp)
	req.Header.Set("X-Channelhub-Signature", hex.EncodeToString(m.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	out := carrierReply{Status: res.StatusCode}
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
	return out
}

func trackingBody(t *testing.T, v map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// dispatchedShipment ships one phone of a new approved order with tracking number tn.
func dispatchedShipment(t *testing.T, e *apitest.Env, key, tn string) *shipmentView {
	t.Helper()
	gc := e.As(auth.RoleGoodsControl)
	o := approvedOrder(t, e, key, map[string]int{"PH01-2-1": 1})
	sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": key, "lines": []map[string]any{{"orderLineNo": 1, "qty": 1}}})
	require.Empty(t, errs)
	sh, errs = shipmentDispatch(t, e, gc, sh.ID, map[string]any{"carrier": "SF Express", "trackingNumber": tn})
	require.Empty(t, errs)
	require.Equal(t, "DISPATCHED", sh.Status)
	return sh
}

func outboxCount(t *testing.T, e *apitest.Env, typ, shipmentID string) int {
	t.Helper()
	var n int
	require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM outbox_events WHERE type = ? AND aggregate_id = ?`,
		typ, strings.TrimPrefix(shipmentID, "Shipment:")).Scan(context.Background(), &n))
	return n
}

func TestCarrierTracking(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_CARRIER_SECRET": carrierSecret}}, func(t *testing.T, e *apitest.Env) {
		require.NotContains(t, e.LogText(), carrierSecret, "the secret is masked in logs")
		dist := e.As(auth.RoleDistributorAdmin)
		sh := dispatchedShipment(t, e, "carrier-1", "SF-TRACK-1")
		now := time.Now()

		// A transit update lands on the timeline and as a shipment.tracking event.
		r := postTracking(t, e, carrierSecret, now, trackingBody(t, map[string]any{"eventId": "ev-1", "trackingNumber": "SF-TRACK-1",
			"status": "IN_TRANSIT", "at": now.UTC().Format(time.RFC3339), "location": "杭州转运中心", "note": "已发出"}))
		require.Equal(t, carrierReply{Status: 200, Result: "accepted", ShipmentStatus: "DISPATCHED"}, r)
		got := shipmentOf(t, e, dist, sh.ID)
		last := got.Timeline[len(got.Timeline)-1]
		require.Equal(t, struct{ Type, Status, Source string }{"IN_TRANSIT", "DISPATCHED", "CARRIER"}, last)
		require.Equal(t, 1, outboxCount(t, e, "shipment.tracking", sh.ID))

		// A replay of the same event id changes nothing, even re-signed later.
		r = postTracking(t, e, carrierSecret, now.Add(time.Second), trackingBody(t, map[string]any{"eventId": "ev-1", "trackingNumber": "SF-TRACK-1",
			"status": "IN_TRANSIT", "at": now.UTC().Format(time.RFC3339)}))
		require.Equal(t, 200, r.Status)
		require.Equal(t, "duplicate", r.Result)
		require.Len(t, shipmentOf(t, e, dist, sh.ID).Timeline, len(got.Timeline))
		require.Equal(t, 1, outboxCount(t, e, "shipment.tracking", sh.ID))

		// DELIVERED delivers the shipment as shipmentDeliver does, once.
		deliver := trackingBody(t, map[string]any{"eventId": "ev-2", "trackingNumber": "SF-TRACK-1", "status": "DELIVERED", "at": now.UTC().Format(time.RFC3339)})
		r = postTracking(t, e, carrierSecret, now, deliver)
		require.Equal(t, carrierReply{Status: 200, Result: "accepted", ShipmentStatus: "DELIVERED"}, r)
		got = shipmentOf(t, e, dist, sh.ID)
		require.Equal(t, "DELIVERED", got.Status)
		require.True(t, got.ViewerCanReceive)
		require.Equal(t, struct{ Type, Status, Source string }{"DELIVERED", "DELIVERED", "CARRIER"}, got.Timeline[len(got.Timeline)-1])
		require.Equal(t, 1, outboxCount(t, e, "shipment.delivered", sh.ID))
		r = postTracking(t, e, carrierSecret, now, deliver)
		require.Equal(t, "duplicate", r.Result)
		require.Equal(t, 1, outboxCount(t, e, "shipment.delivered", sh.ID))

		// A later exception on a delivered shipment is only a timeline step.
		r = postTracking(t, e, carrierSecret, now, trackingBody(t, map[string]any{"eventId": "ev-3", "trackingNumber": "SF-TRACK-1", "status": "EXCEPTION", "at": now.UTC().Format(time.RFC3339)}))
		require.Equal(t, carrierReply{Status: 200, Result: "accepted", ShipmentStatus: "DELIVERED"}, r)
		require.Equal(t, 1, outboxCount(t, e, "shipment.delivered", sh.ID))
		require.Equal(t, 2, outboxCount(t, e, "shipment.tracking", sh.ID))
	})
}

func TestCarrierTrackingBadInput(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_CARRIER_SECRET": carrierSecret}}, func(t *testing.T, e *apitest.Env) {
		dist := e.As(auth.RoleDistributorAdmin)
		sh := dispatchedShipment(t, e, "carrier-bad", "SF-TRACK-2")
		before := len(shipmentOf(t, e, dist, sh.ID).Timeline)
		now := time.Now()
		good := func(id string) []byte {
			return trackingBody(t, map[string]any{"eventId": id, "trackingNumber": "SF-TRACK-2", "status": "DELIVERED", "at": now.UTC().Format(time.RFC3339)})
		}
		code := func(r carrierReply) [2]any { return [2]any{r.Status, r.Error.Code} }

		require.Equal(t, [2]any{401, "BAD_SIGNATURE"}, code(postTracking(t, e, "wrong-secret", now, good("bad-1"))))
		require.Equal(t, [2]any{401, "STALE_TIMESTAMP"}, code(postTracking(t, e, carrierSecret, now.Add(-6*time.Minute), good("bad-2"))))
		require.Equal(t, [2]any{401, "STALE_TIMESTAMP"}, code(postTracking(t, e, carrierSecret, now.Add(6*time.Minute), good("bad-3"))))
		require.Equal(t, [2]any{400, "MALFORMED_BODY"}, code(postTracking(t, e, carrierSecret, now, []byte(`{"eventId":`))))
		require.Equal(t, [2]any{400, "UNKNOWN_STATUS"}, code(postTracking(t, e, carrierSecret, now,
			trackingBody(t, map[string]any{"eventId": "bad-4", "trackingNumber": "SF-TRACK-2", "status": "LOST", "at": now.UTC().Format(time.RFC3339)}))))
		require.Equal(t, [2]any{400, "INVALID_INPUT"}, code(postTracking(t, e, carrierSecret, now,
			trackingBody(t, map[string]any{"eventId": "bad-5", "trackingNumber": "SF-TRACK-2", "status": "IN_TRANSIT"}))))
		require.Equal(t, [2]any{404, "UNKNOWN_TRACKING_NUMBER"}, code(postTracking(t, e, carrierSecret, now,
			trackingBody(t, map[string]any{"eventId": "bad-6", "trackingNumber": "NOPE-1", "status": "IN_TRANSIT", "at": now.UTC().Format(time.RFC3339)}))))
		big := trackingBody(t, map[string]any{"eventId": "bad-7", "trackingNumber": "SF-TRACK-2", "status": "IN_TRANSIT",
			"at": now.UTC().Format(time.RFC3339), "note": strings.Repeat("x", 70<<10)})
		require.Equal(t, [2]any{413, "BODY_TOO_LARGE"}, code(postTracking(t, e, carrierSecret, now, big)))

		// Nothing of the refused requests reached the shipment.
		got := shipmentOf(t, e, dist, sh.ID)
		require.Equal(t, "DISPATCHED", got.Status)
		require.Len(t, got.Timeline, before)
		require.Equal(t, 0, outboxCount(t, e, "shipment.delivered", sh.ID))
		require.Equal(t, 0, outboxCount(t, e, "shipment.tracking", sh.ID))

		// A refused event id is not burnt: the carrier's corrected retry applies.
		r := postTracking(t, e, carrierSecret, now, good("bad-1"))
		require.Equal(t, carrierReply{Status: 200, Result: "accepted", ShipmentStatus: "DELIVERED"}, r)
	})
}

func TestCarrierTrackingDisabled(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		r := postTracking(t, e, "", time.Now(), []byte(`{}`))
		require.Equal(t, [2]any{404, "DISABLED"}, [2]any{r.Status, r.Error.Code})
	})
}
