package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

const shipmentFields = `id number status carrier trackingNumber warehouseCode
	order { id status } buyer { code } seller { code }
	lines { lineNo orderLineNo qty accepted rejected sku { code } }
	serials(first: 100) { edges { node { number lineNo outcome } } }
	timeline { type status source }
	receipt { number accepted duplicateScans claim { number status } }
	viewerCanDispatch viewerCanCancel viewerCanDeliver viewerCanReceive`

type shipmentView struct {
	ID, Number, Status, Carrier, TrackingNumber, WarehouseCode string
	Order                                                      struct{ ID, Status string }
	Buyer, Seller                                              struct{ Code string }
	Lines                                                      []struct {
		LineNo, OrderLineNo, Qty, Accepted, Rejected int
		Sku                                          struct{ Code string }
	}
	Serials struct {
		Edges []struct {
			Node struct {
				Number  string
				LineNo  int
				Outcome string
			}
		}
	}
	Timeline []struct{ Type, Status, Source string }
	Receipt  *struct {
		Number                   string
		Accepted, DuplicateScans int
		Claim                    *struct{ Number, Status string }
	}
	ViewerCanDispatch, ViewerCanCancel, ViewerCanDeliver, ViewerCanReceive bool
}

func (s shipmentView) numbers() []string {
	var out []string
	for _, e := range s.Serials.Edges {
		out = append(out, e.Node.Number)
	}
	return out
}

type shipErr struct {
	Code  string
	Field []string
}

// shipMutation runs a shipment mutation and returns its shipment and errors.
func shipMutation(t *testing.T, e *apitest.Env, token, doc string, vars map[string]any) (*shipmentView, []shipErr) {
	t.Helper()
	r := e.Query(token, doc, vars)
	if len(r.Errors) > 0 {
		t.Log(e.LogText())
	}
	require.Empty(t, r.Errors, "%s", r.Data)
	var d map[string]struct {
		Shipment *shipmentView
		Errors   []shipErr
	}
	r.Decode(t, &d)
	for _, v := range d {
		return v.Shipment, v.Errors
	}
	t.Fatalf("no payload: %s", r.Data)
	return nil, nil
}

func shipmentCreate(t *testing.T, e *apitest.Env, token string, in map[string]any) (*shipmentView, []shipErr) {
	t.Helper()
	return shipMutation(t, e, token, `mutation($in: ShipmentCreateInput!) { shipmentCreate(input: $in) { shipment { `+shipmentFields+` } errors { code field } } }`,
		map[string]any{"in": in})
}

func shipmentDispatch(t *testing.T, e *apitest.Env, token, id string, in map[string]any) (*shipmentView, []shipErr) {
	t.Helper()
	return shipMutation(t, e, token, `mutation($id: ID!, $in: ShipmentDispatchInput) { shipmentDispatch(id: $id, input: $in) { shipment { `+shipmentFields+` } errors { code field } } }`,
		map[string]any{"id": id, "in": in})
}

type receiptView struct {
	ID, Number     string
	Accepted       int
	DuplicateScans int
	WarehouseCode  string
	Claim          *struct {
		ID, Number, Status string
		Value              struct{ Amount string }
		Items              []struct {
			Kind, SerialNumber, Reason string
			Qty                        int
		}
	}
}

func receiptConfirm(t *testing.T, e *apitest.Env, token, shipment string, in map[string]any) (*receiptView, []string, []shipErr) {
	t.Helper()
	r := e.Query(token, `mutation($id: ID!, $in: ReceiptConfirmInput!) { receiptConfirm(shipmentId: $id, input: $in) {
		receipt { id number accepted duplicateScans warehouseCode claim { id number status value { amount } items { kind serialNumber reason qty } } }
		duplicates errors { code field } } }`, map[string]any{"id": shipment, "in": in})
	require.Empty(t, r.Errors, "%s", r.Data)
	var d struct {
		ReceiptConfirm struct {
			Receipt    *receiptView
			Duplicates []string
			Errors     []shipErr
		}
	}
	r.Decode(t, &d)
	return d.ReceiptConfirm.Receipt, d.ReceiptConfirm.Duplicates, d.ReceiptConfirm.Errors
}

func shipmentOf(t *testing.T, e *apitest.Env, token, id string) *shipmentView {
	t.Helper()
	var d struct{ Shipment *shipmentView }
	r := e.Query(token, `query($id: ID!) { shipment(id: $id) { `+shipmentFields+` } }`, map[string]any{"id": id})
	r.Decode(t, &d)
	return d.Shipment
}

type serialView struct {
	Number, Status, WarehouseCode string
	Holder                        struct{ Code string }
	Trail                         []struct {
		Type, Status, DocumentType, DocumentNumber string
		Holder                                     struct{ Code string }
	}
}

func serialOf(t *testing.T, e *apitest.Env, token, number string) (*serialView, []string) {
	t.Helper()
	var d struct{ Serial *serialView }
	r := e.Query(token, `query($n: String!) { serial(number: $n) { number status warehouseCode holder { code }
		trail { type status documentType documentNumber holder { code } } } }`, map[string]any{"n": number})
	r.Decode(t, &d)
	if codes := r.Codes(); len(codes) > 0 && codes[0] == "INTERNAL" {
		t.Log(e.LogText())
	}
	return d.Serial, r.Codes()
}

// stockOf is a party's on-hand stock of a SKU over its warehouses, read from the database.
func stockOf(t *testing.T, e *apitest.Env, partyCode, sku string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, e.Server.DB.NewRaw(`SELECT COALESCE(SUM(sl.on_hand), 0) FROM stock_levels sl JOIN warehouses w ON w.id = sl.warehouse_id
		JOIN parties p ON p.id = w.party_id JOIN skus s ON s.id = sl.sku_id WHERE p.code = ? AND s.code = ?`, partyCode, sku).Scan(context.Background(), &n))
	return n
}

// approvedOrder submits and approves a D-0001 order from HQ.
func approvedOrder(t *testing.T, e *apitest.Env, key string, lines map[string]int) *orderView {
	t.Helper()
	dist, ops := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleSalesOps)
	var codes []string
	for c := range lines {
		codes = append(codes, c)
	}
	ids := cartSKUs(t, e, dist, codes...)
	var in []map[string]any
	for _, c := range []string{"PH01-1-1", "PH01-2-1", "CB01-1", "EP01-1"} {
		if q, ok := lines[c]; ok {
			in = append(in, map[string]any{"skuId": ids[c], "qty": q})
		}
	}
	o, errs := submit(t, e, dist, key, in, nil)
	require.Empty(t, errs)
	o, errs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
	require.Empty(t, errs)
	return o
}

func TestShipmentReceiptClaimFlow(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, gc, ops := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl), e.As(auth.RoleSalesOps)
		d2 := e.Login("13800000002", auth.AppDistributor).AccessToken
		o := approvedOrder(t, e, "flow-1", map[string]int{"PH01-2-1": 3, "CB01-1": 40})
		require.Equal(t, "PH01-2-1", o.Lines[0].Sku.Code)
		hqBefore, d1Before := stockOf(t, e, "HQ-ZJ", "PH01-2-1"), stockOf(t, e, "D-0001", "PH01-2-1")

		// Two of three phones (picked oldest first) and all cables.
		in := map[string]any{"orderId": o.ID, "idempotencyKey": "sh-1", "lines": []map[string]any{{"orderLineNo": 1, "qty": 2}, {"orderLineNo": 2, "qty": 40}}}
		sh, errs := shipmentCreate(t, e, gc, in)
		require.Empty(t, errs)
		require.Regexp(t, `^SH-20\d\d-\d{6}$`, sh.Number)
		require.Equal(t, "CREATED", sh.Status)
		require.Equal(t, "HQ-WH1", sh.WarehouseCode)
		require.Len(t, sh.numbers(), 2)
		require.True(t, sh.ViewerCanDispatch)
		again, errs := shipmentCreate(t, e, gc, in)
		require.Empty(t, errs)
		require.Equal(t, sh.ID, again.ID, "a retry returns the first shipment")
		_, errs = shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "sh-x", "lines": []map[string]any{{"orderLineNo": 1, "qty": 2}}})
		require.Equal(t, []shipErr{{Code: "TOO_MUCH", Field: []string{"lines", "0", "qty"}}}, errs, "the open shipment takes two of three")
		_, errs = shipmentDispatch(t, e, dist, sh.ID, map[string]any{"carrier": "SF"})
		require.Equal(t, "NOT_ALLOWED", errs[0].Code, "the buyer does not dispatch")
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "early"})
		require.Equal(t, "NOT_RECEIVABLE", errs[0].Code, "not dispatched yet")
		_, errs = shipmentDispatch(t, e, gc, sh.ID, nil)
		require.Equal(t, []shipErr{{Code: "CARRIER_REQUIRED", Field: []string{"carrier"}}}, errs)

		sh, errs = shipmentDispatch(t, e, gc, sh.ID, map[string]any{"carrier": "SF Express", "trackingNumber": "SF1234567890"})
		require.Empty(t, errs)
		require.Equal(t, "DISPATCHED", sh.Status)
		require.Equal(t, "PARTIALLY_SHIPPED", sh.Order.Status)
		require.Equal(t, hqBefore-2, stockOf(t, e, "HQ-ZJ", "PH01-2-1"))
		phones := sh.numbers()
		sr, codes := serialOf(t, e, dist, phones[0])
		require.Empty(t, codes)
		require.Equal(t, "IN_TRANSIT", sr.Status)
		require.Equal(t, []string{"STOCKED_IN", "DISPATCHED"}, []string{sr.Trail[0].Type, sr.Trail[1].Type})
		require.Equal(t, sh.Number, sr.Trail[1].DocumentNumber)
		_, codes = serialOf(t, e, d2, phones[0])
		require.Equal(t, []string{"NOT_FOUND"}, codes, "another distributor never held it")
		var events int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM outbox_events WHERE type = 'shipment.dispatched' AND aggregate_id = ?`,
			strings.TrimPrefix(sh.ID, "Shipment:")).Scan(context.Background(), &events))
		require.Equal(t, 1, events)

		// The buyer scans one phone twice, one unknown serial, misses the other phone, and refuses a cable.
		rin := map[string]any{"idempotencyKey": "gr-1", "serials": []string{phones[0], strings.ToLower(phones[0]), "UNKNOWN00001"},
			"lines": []map[string]any{{"lineNo": 2, "accepted": 38, "rejected": 1, "reason": "crushed"}}}
		_, _, errs = receiptConfirm(t, e, d2, sh.ID, rin)
		require.Equal(t, "NOT_FOUND", errs[0].Code, "another party's shipment does not exist for it")
		rc, dups, errs := receiptConfirm(t, e, dist, sh.ID, rin)
		require.Empty(t, errs)
		require.Equal(t, []string{phones[0]}, dups, "a double scan is reported")
		require.Regexp(t, `^GR-20\d\d-\d{6}$`, rc.Number)
		require.Equal(t, 1+38, rc.Accepted, "one phone and 38 cables, the double scan counted once")
		require.Equal(t, "D1-WH1", rc.WarehouseCode)
		require.NotNil(t, rc.Claim)
		kinds := map[string]int{}
		for _, it := range rc.Claim.Items {
			kinds[it.Kind] += it.Qty
		}
		require.Equal(t, map[string]int{"MISSING": 2, "DAMAGED": 1, "UNEXPECTED": 1}, kinds)
		require.Equal(t, d1Before+1, stockOf(t, e, "D-0001", "PH01-2-1"))
		replay, _, errs := receiptConfirm(t, e, dist, sh.ID, rin)
		require.Empty(t, errs)
		require.Equal(t, rc.ID, replay.ID, "a retry returns the first receipt")
		require.Equal(t, d1Before+1, stockOf(t, e, "D-0001", "PH01-2-1"), "and books nothing twice")
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "gr-2"})
		require.Equal(t, "NOT_RECEIVABLE", errs[0].Code, "one receipt per shipment")

		got := shipmentOf(t, e, dist, sh.ID)
		require.Equal(t, "PARTIALLY_RECEIVED", got.Status)
		outcomes := map[string]string{}
		for _, u := range got.Serials.Edges {
			outcomes[u.Node.Number] = u.Node.Outcome
		}
		require.Equal(t, map[string]string{phones[0]: "RECEIVED", phones[1]: "MISSING"}, outcomes)
		sr, _ = serialOf(t, e, dist, phones[0])
		require.Equal(t, "IN_STOCK", sr.Status)
		require.Equal(t, "D-0001", sr.Holder.Code)
		require.Equal(t, "D1-WH1", sr.WarehouseCode)
		sr, _ = serialOf(t, e, gc, phones[1])
		require.Equal(t, "RETURNED", sr.Status)
		require.Equal(t, "HQ-ZJ", sr.Holder.Code)

		// The seller settles the claim with a credit note into the buyer's CASH.
		cashBefore := creditOf(t, e, dist, nil).Cash.Amount
		r := e.Query(dist, `mutation($id: ID!) { claimResolve(id: $id, input: {resolution: CREDIT_NOTE, reason: "mine"}) { claim { status } errors { code } } }`,
			map[string]any{"id": rc.Claim.ID})
		require.Contains(t, string(r.Data), "NOT_ALLOWED", "the buyer does not settle its own claim")
		r = e.Query(ops, `mutation($id: ID!) { claimResolve(id: $id, input: {resolution: CREDIT_NOTE, reason: "carrier lost one"}) {
			claim { status resolution value { amount } } errors { code } } }`, map[string]any{"id": rc.Claim.ID})
		require.Contains(t, string(r.Data), `"status":"RESOLVED"`, "%s", r.Data)
		require.NotEqual(t, cashBefore, creditOf(t, e, dist, nil).Cash.Amount)
		require.Equal(t, rc.Claim.Value.Amount, creditOf(t, e, dist, nil).Cash.Amount)
		r = e.Query(ops, `mutation($id: ID!) { claimResolve(id: $id, input: {resolution: RESHIP, reason: "twice"}) { claim { status } errors { code } } }`,
			map[string]any{"id": rc.Claim.ID})
		require.Contains(t, string(r.Data), "CLAIM_RESOLVED")

		// The last phone, scanned by the shipper, then received in full: the order completes.
		var next string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT sr.number FROM serials sr JOIN skus s ON s.id = sr.sku_id JOIN warehouses w ON w.id = sr.warehouse_id
			WHERE s.code = 'PH01-2-1' AND w.code = 'HQ-WH1' AND sr.status = 'IN_STOCK' ORDER BY sr.number DESC LIMIT 1`).Scan(context.Background(), &next))
		sh2, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "sh-2", "carrier": "SF",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 1, "serials": []string{next}}}})
		require.Empty(t, errs)
		require.Equal(t, []string{next}, sh2.numbers())
		sh2, errs = shipmentDispatch(t, e, gc, sh2.ID, nil)
		require.Empty(t, errs)
		require.Equal(t, "SHIPPED", sh2.Order.Status)
		_, _, errs = receiptConfirm(t, e, dist, sh2.ID, map[string]any{"idempotencyKey": "gr-3", "serials": []string{phones[1]}})
		require.Equal(t, []shipErr{{Code: "SERIAL_OTHER_SHIPMENT", Field: []string{"serials", "0"}}}, errs)
		rc2, _, errs := receiptConfirm(t, e, dist, sh2.ID, map[string]any{"idempotencyKey": "gr-3", "serials": []string{next}})
		require.Empty(t, errs)
		require.Nil(t, rc2.Claim)
		got = shipmentOf(t, e, dist, sh2.ID)
		require.Equal(t, "RECEIVED", got.Status)
		require.Equal(t, "COMPLETED", got.Order.Status, "everything shipped was received or claimed")

		var d struct {
			Order struct {
				Shipments []struct{ Number, Status string }
			}
		}
		e.Query(dist, `query($id: ID!) { order(id: $id) { shipments { number status } } }`, map[string]any{"id": o.ID}).Decode(t, &d)
		require.Equal(t, []struct{ Number, Status string }{{sh.Number, "PARTIALLY_RECEIVED"}, {sh2.Number, "RECEIVED"}}, d.Order.Shipments)
		var list struct {
			Shipments struct {
				TotalCount int
				Edges      []struct{ Node struct{ Number string } }
			}
		}
		e.Query(d2, `{ shipments(first: 10) { totalCount edges { node { number } } } }`, nil).Decode(t, &list)
		require.Zero(t, list.Shipments.TotalCount, "another distributor sees none of them")
		e.Query(dist, `{ shipments(first: 1, filter: {incoming: true}) { totalCount edges { node { number } } } }`, nil).Decode(t, &list)
		require.Equal(t, 2, list.Shipments.TotalCount)
		require.Equal(t, sh2.Number, list.Shipments.Edges[0].Node.Number, "newest first")
	})
}

func TestShipmentBadInput(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, gc := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl)
		o := approvedOrder(t, e, "bad-1", map[string]int{"PH01-2-1": 2})
		_, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "b-0",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 2, "serials": []string{"bad serial!", "X"}}}})
		require.Equal(t, []shipErr{{Code: "SERIAL_MALFORMED", Field: []string{"lines.0.serials", "0"}}}, errs)
		_, errs = shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "b-1",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 2, "serials": []string{"NOSUCH000001", "NOSUCH000002"}}}})
		require.Equal(t, "SERIAL_UNAVAILABLE", errs[0].Code)
		_, errs = shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "b-2", "lines": []map[string]any{{"orderLineNo": 9, "qty": 1}}})
		require.Equal(t, []shipErr{{Code: "INVALID_INPUT", Field: []string{"lines", "0", "orderLineNo"}}}, errs)

		sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "b-3", "carrier": "SF", "lines": []map[string]any{{"orderLineNo": 1, "qty": 2}}})
		require.Empty(t, errs)
		cancelled, errs := shipMutation(t, e, gc, `mutation($id: ID!) { shipmentCancel(id: $id, input: {reason: "wrong box"}) { shipment { `+shipmentFields+` } errors { code field } } }`,
			map[string]any{"id": sh.ID})
		require.Empty(t, errs)
		require.Equal(t, "CANCELLED", cancelled.Status)
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "r-0"})
		require.Equal(t, "NOT_RECEIVABLE", errs[0].Code, "a cancelled shipment is not received")
		_, errs = shipmentDispatch(t, e, gc, sh.ID, nil)
		require.Equal(t, "INVALID_TRANSITION", errs[0].Code)

		// The cancelled shipment's units are free again.
		sh, errs = shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "b-4", "carrier": "SF", "lines": []map[string]any{{"orderLineNo": 1, "qty": 2}}})
		require.Empty(t, errs)
		require.Equal(t, cancelled.numbers(), sh.numbers())
		_, errs = shipmentDispatch(t, e, gc, sh.ID, nil)
		require.Empty(t, errs)
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "r-1",
			"ranges": []map[string]any{{"from": "SN00000000", "to": "SN00020000"}}})
		require.Equal(t, []shipErr{{Code: "TOO_MANY_SERIALS", Field: []string{"ranges", "0"}}}, errs, "20,001 serials")
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "r-2", "serials": []string{"12"}})
		require.Equal(t, []shipErr{{Code: "SERIAL_MALFORMED", Field: []string{"serials", "0"}}}, errs)
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "r-3",
			"ranges": []map[string]any{{"from": "SN00000009", "to": "SN00000001"}}})
		require.Equal(t, "SERIAL_RANGE_INVALID", errs[0].Code)
		// A range of 20,000 is accepted: all of it unexpected but the two shipped units.
		rc, _, errs := receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "r-4",
			"serials": sh.numbers(), "ranges": []map[string]any{{"from": "SN00000001", "to": "SN00019998"}}})
		require.Empty(t, errs)
		require.Equal(t, 2, rc.Accepted)
		require.Len(t, rc.Claim.Items, 19998)
	})
}

// A distributor ships to its store: its staff ship, the store's staff receive,
// the distributor cannot confirm for the store, and the unit's trail runs HQ → D-0001 → S-0001.
func TestShipmentSellThroughToStore(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, staff := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleDistributorStaff)
		store, guide, branch := e.As(auth.RoleStoreManager), e.As(auth.RoleStoreStaff), e.As(auth.RoleBranchManager)
		ids := cartSKUs(t, e, store, "PH01-1-1")
		o, errs := submit(t, e, store, "st-1", []map[string]any{{"skuId": ids["PH01-1-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		_, errs = act(t, e, dist, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, errs)
		sh, serrs := shipmentCreate(t, e, staff, map[string]any{"orderId": o.ID, "idempotencyKey": "st-sh", "carrier": "own van",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 1}}})
		require.Empty(t, serrs)
		require.Equal(t, "D1-WH1", sh.WarehouseCode)
		sh, serrs = shipmentDispatch(t, e, staff, sh.ID, nil)
		require.Empty(t, serrs)
		require.Equal(t, "SHIPPED", sh.Order.Status)
		sh, serrs = shipMutation(t, e, dist, `mutation($id: ID!) { shipmentDeliver(id: $id) { shipment { `+shipmentFields+` } errors { code field } } }`,
			map[string]any{"id": sh.ID})
		require.Empty(t, serrs)
		require.Equal(t, "DELIVERED", sh.Status)
		_, _, serrs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "st-gr"})
		require.Equal(t, "NOT_BUYER", serrs[0].Code, "the seller cannot confirm for its store")
		rc, _, serrs := receiptConfirm(t, e, guide, sh.ID, map[string]any{"idempotencyKey": "st-gr", "serials": sh.numbers()})
		require.Empty(t, serrs)
		require.Equal(t, 1, rc.Accepted)
		require.Equal(t, "S-0001-WH1", rc.WarehouseCode, "the store's first warehouse is made for it")
		got := shipmentOf(t, e, store, sh.ID)
		require.Equal(t, "COMPLETED", got.Order.Status)
		for _, tok := range []string{store, branch, dist} {
			sr, codes := serialOf(t, e, tok, sh.numbers()[0])
			require.Empty(t, codes)
			require.Equal(t, "S-0001", sr.Holder.Code)
			require.Equal(t, []string{"STOCKED_IN", "DISPATCHED", "RECEIVED"}, []string{sr.Trail[0].Type, sr.Trail[1].Type, sr.Trail[2].Type})
		}

		// The store sells the phone: the unit goes SOLD and leaves its stock.
		sellOut := func(key string, serials ...string) (int, []string) {
			var d struct {
				SellOutReport struct {
					Sold   int
					Errors []shipErr
				}
			}
			e.Query(guide, `mutation($in: SellOutInput!) { sellOutReport(input: $in) { sold errors { code field } } }`,
				map[string]any{"in": map[string]any{"serials": serials, "idempotencyKey": key}}).Decode(t, &d)
			var codes []string
			for _, er := range d.SellOutReport.Errors {
				codes = append(codes, er.Code)
			}
			return d.SellOutReport.Sold, codes
		}
		var elsewhere string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT sr.number FROM serials sr JOIN parties p ON p.id = sr.holder_party_id WHERE p.code <> 'S-0001' LIMIT 1`).
			Scan(context.Background(), &elsewhere))
		_, codes := sellOut("so-x", elsewhere)
		require.Equal(t, []string{"SERIAL_UNAVAILABLE"}, codes, "a unit the store does not hold")
		before := stockOf(t, e, "S-0001", "PH01-1-1")
		sold, codes := sellOut("so-1", sh.numbers()[0])
		require.Empty(t, codes)
		require.Equal(t, 1, sold)
		require.Equal(t, before-1, stockOf(t, e, "S-0001", "PH01-1-1"))
		sold, codes = sellOut("so-1", sh.numbers()[0])
		require.Empty(t, codes, "a retry returns the first result")
		require.Equal(t, 1, sold)
		require.Equal(t, before-1, stockOf(t, e, "S-0001", "PH01-1-1"), "and books nothing twice")
		_, codes = sellOut("so-2", sh.numbers()[0])
		require.Equal(t, []string{"SERIAL_UNAVAILABLE"}, codes, "sold already")
		sr, _ := serialOf(t, e, store, sh.numbers()[0])
		require.Equal(t, "SOLD", sr.Status)
		require.Equal(t, "SOLD", sr.Trail[len(sr.Trail)-1].Type)
		_, codes = sellOut("so-3")
		require.Equal(t, []string{"INVALID_INPUT"}, codes, "nothing reported")
	})
}
