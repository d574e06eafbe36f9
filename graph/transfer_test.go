package graph_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

const transferFields = `id number status note decisionReason
	sender { code } receiver { code } supplier { code }
	lines { lineNo qty shipped received sku { code } }
	reservations { warehouseCode qty sku { code } }
	shipments { id number status }
	timeline { type fromStatus toStatus reason detail }
	viewerCanApprove viewerCanReject viewerCanCancel viewerCanShip`

type transferView struct {
	ID, Number, Status, Note, DecisionReason string
	Sender, Receiver, Supplier               struct{ Code string }
	Lines                                    []struct {
		LineNo, Qty, Shipped, Received int
		Sku                            struct{ Code string }
	}
	Reservations []struct {
		WarehouseCode string
		Qty           int
		Sku           struct{ Code string }
	}
	Shipments []struct{ ID, Number, Status string }
	Timeline  []struct {
		Type, ToStatus, Reason, Detail string
		FromStatus                     *string
	}
	ViewerCanApprove, ViewerCanReject, ViewerCanCancel, ViewerCanShip bool
}

type transferErr struct {
	Code  string
	Field []string
}

// gid is the global ID of the row a query finds (its first column), as Type:uuid.
func gid(t *testing.T, e *apitest.Env, typ, query string, args ...any) string {
	t.Helper()
	var id string
	require.NoError(t, e.Server.DB.NewRaw(query, args...).Scan(context.Background(), &id), query)
	return typ + ":" + id
}

func partyGID(t *testing.T, e *apitest.Env, code string) string {
	return gid(t, e, "Party", `SELECT id FROM parties WHERE code = ?`, code)
}

func skuGID(t *testing.T, e *apitest.Env, code string) string {
	return gid(t, e, "SKU", `SELECT id FROM skus WHERE code = ?`, code)
}

// transferMutation runs a transfer mutation and returns its transfer and errors.
func transferMutation(t *testing.T, e *apitest.Env, token, doc string, vars map[string]any) (*transferView, []transferErr) {
	t.Helper()
	r := e.Query(token, doc, vars)
	require.Empty(t, r.Errors, "%s", r.Data)
	var d map[string]struct {
		Transfer *transferView
		Errors   []transferErr
	}
	r.Decode(t, &d)
	for _, v := range d {
		return v.Transfer, v.Errors
	}
	t.Fatalf("no payload: %s", r.Data)
	return nil, nil
}

// transferRequest asks for a transfer from one party to another (codes), lines as SKU code → qty.
func transferRequest(t *testing.T, e *apitest.Env, token, key, from, to string, lines ...any) (*transferView, []transferErr) {
	t.Helper()
	var ls []map[string]any
	for i := 0; i+1 < len(lines); i += 2 {
		ls = append(ls, map[string]any{"skuId": skuGID(t, e, lines[i].(string)), "qty": lines[i+1]})
	}
	return transferMutation(t, e, token, `mutation($in: TransferRequestInput!) { transferRequest(input: $in) { transfer { `+transferFields+` } errors { code field } } }`,
		map[string]any{"in": map[string]any{"fromPartyId": partyGID(t, e, from), "toPartyId": partyGID(t, e, to), "lines": ls,
			"note": "for the weekend", "idempotencyKey": key}})
}

// transferDecide runs transferApprove, transferReject or transferCancel.
func transferDecide(t *testing.T, e *apitest.Env, token, field, id, reason string) (*transferView, []transferErr) {
	t.Helper()
	return transferMutation(t, e, token, `mutation($id: ID!, $in: TransferDecisionInput!) { `+field+`(id: $id, input: $in) { transfer { `+transferFields+` } errors { code field } } }`,
		map[string]any{"id": id, "in": map[string]any{"reason": reason}})
}

func transferShip(t *testing.T, e *apitest.Env, token, id string, in map[string]any) (*shipmentView, []shipErr) {
	t.Helper()
	return shipMutation(t, e, token, `mutation($id: ID!, $in: TransferShipInput!) { transferShip(id: $id, input: $in) { shipment { `+shipmentFields+` } errors { code field } } }`,
		map[string]any{"id": id, "in": in})
}

func transferOf(t *testing.T, e *apitest.Env, token, id string) (*transferView, []string) {
	t.Helper()
	var d struct{ Transfer *transferView }
	r := e.Query(token, `query($id: ID!) { transfer(id: $id) { `+transferFields+` } }`, map[string]any{"id": id})
	r.Decode(t, &d)
	return d.Transfer, r.Codes()
}

// reservedOf is a party's reserved stock of a SKU over its warehouses.
func reservedOf(t *testing.T, e *apitest.Env, partyCode, sku string) int64 {
	t.Helper()
	var n int64
	require.NoError(t, e.Server.DB.NewRaw(`SELECT COALESCE(SUM(sl.reserved), 0) FROM stock_levels sl JOIN warehouses w ON w.id = sl.warehouse_id
		JOIN parties p ON p.id = w.party_id JOIN skus s ON s.id = sl.sku_id WHERE p.code = ? AND s.code = ?`, partyCode, sku).Scan(context.Background(), &n))
	return n
}

func codesOf(errs []transferErr) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Code
	}
	return out
}

// One server per backend serves every transfer scenario, each on its own SKUs
// or parties, so the package stays fast.
func TestTransfer(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		tok := map[string]string{
			"D1": e.As(auth.RoleDistributorAdmin), "D1staff": e.As(auth.RoleDistributorStaff),
			"D2": e.Login("13800000002", auth.AppDistributor).AccessToken, "D3": e.Login("13800000003", auth.AppDistributor).AccessToken,
			"D4":  e.Login("13800000004", auth.AppDistributor).AccessToken,
			"ops": e.As(auth.RoleSalesOps), "hq": e.As(auth.RoleHQAdmin), "branch": e.As(auth.RoleBranchManager),
			"S1": e.As(auth.RoleStoreManager), "S1staff": e.As(auth.RoleStoreStaff),
		}
		t.Run("distributor to distributor", func(t *testing.T) { transferFlow(t, e, tok) })
		t.Run("bad input", func(t *testing.T) { transferBadInput(t, e, tok) })
		t.Run("store to store", func(t *testing.T) { transferStores(t, e, tok) })
		t.Run("close the remainder", func(t *testing.T) { transferCloseRemainder(t, e, tok) })
	})
}

// D-0002's admin asks D-0001 for phones and cables; HQ (their supplier)
// approves; D-0001's staff ship the phones picked oldest first; D-0002 scans
// them in and the transfer completes, stock and serials at D-0002.
func transferFlow(t *testing.T, e *apitest.Env, tok map[string]string) {
	ctx := context.Background()
	d1Phones, d1Cables := stockOf(t, e, "D-0001", "PH01-1-1"), stockOf(t, e, "D-0001", "CB01-1")
	require.GreaterOrEqual(t, d1Phones, int64(3))
	require.GreaterOrEqual(t, d1Cables, int64(10))
	tr, errs := transferRequest(t, e, tok["D2"], "tr-1", "D-0001", "D-0002", "PH01-1-1", 3, "CB01-1", 10)
	require.Empty(t, errs)
	require.Regexp(t, `^TR-20\d\d-\d{6}$`, tr.Number)
	require.Equal(t, "REQUESTED", tr.Status)
	require.Equal(t, []string{"D-0001", "D-0002", "HQ-ZJ"}, []string{tr.Sender.Code, tr.Receiver.Code, tr.Supplier.Code})
	require.False(t, tr.ViewerCanApprove, "the receiver does not approve")
	require.True(t, tr.ViewerCanCancel)
	again, errs := transferRequest(t, e, tok["D2"], "tr-1", "D-0001", "D-0002", "PH01-1-1", 3, "CB01-1", 10)
	require.Empty(t, errs)
	require.Equal(t, tr.ID, again.ID, "a retry returns the first transfer")
	_, errs = transferRequest(t, e, tok["D2"], "tr-1", "D-0001", "D-0002", "PH01-1-1", 4)
	require.Equal(t, []transferErr{{Code: "IDEMPOTENCY_KEY_REUSED", Field: []string{"idempotencyKey"}}}, errs)

	_, codes := transferOf(t, e, tok["D3"], tr.ID)
	require.Equal(t, []string{"NOT_FOUND"}, codes, "a third distributor does not see it")
	for _, who := range []string{"D1", "branch", "hq"} {
		got, codes := transferOf(t, e, tok[who], tr.ID)
		require.Empty(t, codes, who)
		require.Equal(t, tr.Number, got.Number, who)
	}
	_, errs = transferDecide(t, e, tok["D1"], "transferApprove", tr.ID, "mine")
	require.Equal(t, []string{"NOT_ALLOWED"}, codesOf(errs), "the sender does not approve")
	r := e.Query(tok["D3"], `mutation($id: ID!) { transferApprove(id: $id, input: {reason: "x"}) { transfer { id } errors { code } } }`, map[string]any{"id": tr.ID})
	require.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "nor does a distributor outside it")
	_, errs = transferDecide(t, e, tok["ops"], "transferApprove", tr.ID, "")
	require.Equal(t, []string{"REASON_REQUIRED"}, codesOf(errs))
	tr, errs = transferDecide(t, e, tok["ops"], "transferApprove", tr.ID, "stock balancing")
	require.Empty(t, errs)
	require.Equal(t, "APPROVED", tr.Status)
	require.Equal(t, "stock balancing", tr.DecisionReason)
	require.Len(t, tr.Reservations, 2)
	require.Equal(t, int64(3), reservedOf(t, e, "D-0001", "PH01-1-1"))
	_, errs = transferDecide(t, e, tok["ops"], "transferApprove", tr.ID, "twice")
	require.Equal(t, []string{"INVALID_TRANSITION"}, codesOf(errs))

	// Ship: more than approved is refused; the receiver cannot ship.
	_, serrs := transferShip(t, e, tok["D2"], tr.ID, map[string]any{"idempotencyKey": "trs-x", "lines": []map[string]any{{"lineNo": 1, "qty": 3}}})
	require.Equal(t, "NOT_ALLOWED", serrs[0].Code)
	_, serrs = transferShip(t, e, tok["D1staff"], tr.ID, map[string]any{"idempotencyKey": "trs-0",
		"lines": []map[string]any{{"lineNo": 1, "qty": 3}, {"lineNo": 2, "qty": 11}}})
	require.Equal(t, []shipErr{{Code: "TOO_MUCH", Field: []string{"lines", "1", "qty"}}}, serrs, "more than approved")
	sh, serrs := transferShip(t, e, tok["D1staff"], tr.ID, map[string]any{"idempotencyKey": "trs-1", "carrier": "own van",
		"lines": []map[string]any{{"lineNo": 1, "qty": 3}, {"lineNo": 2, "qty": 10}}})
	require.Empty(t, serrs)
	require.Equal(t, "CREATED", sh.Status)
	require.Equal(t, "D1-WH1", sh.WarehouseCode)
	require.Equal(t, "D-0002", sh.Buyer.Code)
	require.Len(t, sh.numbers(), 3, "phones picked oldest first")
	require.True(t, sh.ViewerCanDispatch)
	var shOrder struct {
		Shipment struct {
			Order    *struct{ ID string }
			Transfer *struct{ Number string }
		}
	}
	e.Query(tok["D2"], `query($id: ID!) { shipment(id: $id) { order { id } transfer { number } } }`, map[string]any{"id": sh.ID}).Decode(t, &shOrder)
	require.Nil(t, shOrder.Shipment.Order)
	require.Equal(t, tr.Number, shOrder.Shipment.Transfer.Number)
	_, serrs = transferShip(t, e, tok["D1staff"], tr.ID, map[string]any{"idempotencyKey": "trs-2", "lines": []map[string]any{{"lineNo": 1, "qty": 1}}})
	require.Equal(t, "TOO_MUCH", serrs[0].Code, "the open shipment takes the whole line")

	_, serrs = shipmentDispatch(t, e, tok["D2"], sh.ID, nil)
	require.Equal(t, "NOT_ALLOWED", serrs[0].Code, "the receiver does not dispatch")
	sh, serrs = shipmentDispatch(t, e, tok["D1staff"], sh.ID, map[string]any{"trackingNumber": "VAN-7"})
	require.Empty(t, serrs)
	require.Equal(t, "DISPATCHED", sh.Status)
	require.Equal(t, d1Phones-3, stockOf(t, e, "D-0001", "PH01-1-1"))
	require.Equal(t, d1Cables-10, stockOf(t, e, "D-0001", "CB01-1"))
	require.Zero(t, reservedOf(t, e, "D-0001", "PH01-1-1"), "the reservation became the shipment")
	got, _ := transferOf(t, e, tok["D2"], tr.ID)
	require.Equal(t, "SHIPPED", got.Status)
	require.Empty(t, got.Reservations)
	require.False(t, got.ViewerCanCancel)
	_, errs = transferDecide(t, e, tok["D2"], "transferCancel", tr.ID, "too late")
	require.Equal(t, []string{"INVALID_TRANSITION"}, codesOf(errs), "no cancel after shipment")
	var moves int
	require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM stock_movements WHERE kind = 'TRANSFER' AND source_type = 'TRANSFER' AND source_id = ?`, tr.Number).Scan(ctx, &moves))
	require.Equal(t, 2, moves, "one movement per line names the transfer")
	phones := sh.numbers()
	sr, _ := serialOf(t, e, tok["D2"], phones[0])
	require.Equal(t, "IN_TRANSIT", sr.Status)
	require.Equal(t, "D-0002", sr.Holder.Code)

	// Receive: only the receiver, then stock and serials are D-0002's.
	_, _, serrs = receiptConfirm(t, e, tok["D1"], sh.ID, map[string]any{"idempotencyKey": "trg-x", "serials": phones})
	require.Equal(t, "NOT_BUYER", serrs[0].Code, "the sender cannot confirm for the receiver")
	_, _, serrs = receiptConfirm(t, e, tok["D3"], sh.ID, map[string]any{"idempotencyKey": "trg-x", "serials": phones})
	require.Equal(t, "NOT_FOUND", serrs[0].Code)
	rc, _, serrs := receiptConfirm(t, e, tok["D2"], sh.ID, map[string]any{"idempotencyKey": "trg-1", "serials": phones})
	require.Empty(t, serrs)
	require.Nil(t, rc.Claim)
	require.Equal(t, 13, rc.Accepted)
	require.Equal(t, "D-0002-WH1", rc.WarehouseCode, "the receiver's first warehouse is made for it")
	require.Equal(t, int64(3), stockOf(t, e, "D-0002", "PH01-1-1"))
	require.Equal(t, int64(10), stockOf(t, e, "D-0002", "CB01-1"))
	got, _ = transferOf(t, e, tok["D2"], tr.ID)
	require.Equal(t, "COMPLETED", got.Status)
	require.Equal(t, []int{3, 3}, []int{got.Lines[0].Shipped, got.Lines[0].Received})
	var steps []string
	for _, s := range got.Timeline {
		steps = append(steps, s.Type+">"+s.ToStatus)
	}
	require.Equal(t, []string{"REQUESTED>REQUESTED", "APPROVED>APPROVED", "SHIPPED>SHIPPED", "COMPLETED>COMPLETED"}, steps)
	require.Equal(t, sh.Number, got.Timeline[2].Detail)
	require.Equal(t, rc.Number, got.Timeline[3].Detail)
	sr, _ = serialOf(t, e, tok["D2"], phones[0])
	require.Equal(t, "IN_STOCK", sr.Status)
	require.Equal(t, "D-0002", sr.Holder.Code)
	require.Equal(t, "D-0002-WH1", sr.WarehouseCode)
	n := len(sr.Trail)
	require.Equal(t, []string{"DISPATCHED", "RECEIVED"}, []string{sr.Trail[n-2].Type, sr.Trail[n-1].Type})
	require.Equal(t, []string{"D-0001", "D-0002"}, []string{sr.Trail[n-3].Holder.Code, sr.Trail[n-1].Holder.Code})

	// Every step wrote its outbox event and audit row.
	id := strings.TrimPrefix(tr.ID, "Transfer:")
	var types []string
	require.NoError(t, e.Server.DB.NewRaw(`SELECT type FROM outbox_events WHERE aggregate_type = 'Transfer' AND aggregate_id = ? ORDER BY id`, id).Scan(ctx, &types))
	require.Equal(t, []string{"transfer.requested", "transfer.approved", "transfer.shipped", "transfer.completed"}, types)
	var audits []string
	require.NoError(t, e.Server.DB.NewRaw(`SELECT action FROM audit_log WHERE target_type = 'Transfer' AND target_id = ? ORDER BY at, id`, id).Scan(ctx, &audits))
	require.Equal(t, []string{"transfer.requested", "transfer.approved", "transfer.shipped", "transfer.completed"}, audits)

	// Lists are scoped to the parties, their supplier and above.
	count := func(token, filter string) int {
		var d struct{ Transfers struct{ TotalCount int } }
		e.Query(token, `{ transfers(first: 5`+filter+`) { totalCount edges { node { number } } } }`, nil).Decode(t, &d)
		return d.Transfers.TotalCount
	}
	require.Equal(t, 1, count(tok["D2"], `, filter: {direction: INCOMING}`))
	require.Equal(t, 0, count(tok["D2"], `, filter: {direction: OUTGOING}`))
	require.Equal(t, 1, count(tok["D1"], `, filter: {direction: OUTGOING, statuses: [COMPLETED]}`))
	require.Equal(t, 0, count(tok["D3"], ``))
	require.GreaterOrEqual(t, count(tok["hq"], ``), 1)
	var node struct{ Node *struct{ Number string } }
	e.Query(tok["D2"], `query($id: ID!) { node(id: $id) { ... on Transfer { number } } }`, map[string]any{"id": tr.ID}).Decode(t, &node)
	require.Equal(t, tr.Number, node.Node.Number)
	e.Query(tok["D3"], `query($id: ID!) { node(id: $id) { ... on Transfer { number } } }`, map[string]any{"id": tr.ID}).Decode(t, &node)
	require.Nil(t, node.Node)
}

func transferBadInput(t *testing.T, e *apitest.Env, tok map[string]string) {
	for _, c := range []struct {
		name, token, from, to string
		want                  transferErr
	}{
		{"another level", tok["D1"], "D-0001", "D-0004", transferErr{"TRANSFER_NOT_ALLOWED", []string{"toPartyId"}}},
		{"a store", tok["D1"], "D-0001", "S-0001", transferErr{"TRANSFER_NOT_ALLOWED", []string{"toPartyId"}}},
		{"a store under another supplier", tok["S1"], "S-0002", "S-0001", transferErr{"TRANSFER_NOT_ALLOWED", []string{"fromPartyId"}}},
		{"itself", tok["D1"], "D-0001", "D-0001", transferErr{"SAME_PARTY", []string{"toPartyId"}}},
		{"neither party", tok["D3"], "D-0001", "D-0002", transferErr{"NOT_ALLOWED", nil}},
		{"level 2 to level 1", tok["D4"], "D-0004", "D-0002", transferErr{"TRANSFER_NOT_ALLOWED", []string{"toPartyId"}}},
	} {
		_, errs := transferRequest(t, e, c.token, "bad-"+c.name, c.from, c.to, "CB01-1", 1)
		require.Equal(t, []transferErr{c.want}, errs, c.name)
	}
	_, errs := transferRequest(t, e, tok["D1"], "bad-auth", "D-0001", "D-0003", "TB01-1-1", 1)
	require.Equal(t, []transferErr{{"SKU_NOT_AUTHORISED", []string{"lines", "0", "skuId"}}}, errs, "D-0003 may not carry tablets")
	r := e.Query(tok["S1staff"], `mutation { transferRequest(input: {fromPartyId: "Party:x", toPartyId: "Party:y", lines: [], idempotencyKey: "k"}) { errors { code } } }`, nil)
	require.Equal(t, []string{"FORBIDDEN"}, r.Codes(), "store staff do not ask for transfers")

	// More than the sender holds: approval reserves nothing and says which line.
	free := stockOf(t, e, "D-0001", "EP01-1") - reservedOf(t, e, "D-0001", "EP01-1")
	tr, errs := transferRequest(t, e, tok["D2"], "bad-much", "D-0001", "D-0002", "CB01-1", 1, "EP01-1", free+1)
	require.Empty(t, errs)
	before := reservedOf(t, e, "D-0001", "CB01-1")
	_, errs = transferDecide(t, e, tok["ops"], "transferApprove", tr.ID, "ok")
	require.Equal(t, []transferErr{{"INSUFFICIENT_STOCK", []string{"lines", "1", "qty"}}}, errs)
	require.Equal(t, before, reservedOf(t, e, "D-0001", "CB01-1"), "all or nothing")
	_, errs = transferDecide(t, e, tok["D2"], "transferReject", tr.ID, "no")
	require.Equal(t, []string{"NOT_ALLOWED"}, codesOf(errs), "the receiver does not reject")
	tr, errs = transferDecide(t, e, tok["hq"], "transferReject", tr.ID, "too many")
	require.Empty(t, errs)
	require.Equal(t, "REJECTED", tr.Status)

	// Cancel before shipment releases the reservation and the open shipment's units.
	tr, errs = transferRequest(t, e, tok["D1"], "bad-cancel", "D-0001", "D-0002", "PH01-1-2", 2)
	require.Empty(t, errs)
	tr, errs = transferDecide(t, e, tok["ops"], "transferApprove", tr.ID, "ok")
	require.Empty(t, errs)
	require.Equal(t, int64(2), reservedOf(t, e, "D-0001", "PH01-1-2"))
	sh, serrs := transferShip(t, e, tok["D1"], tr.ID, map[string]any{"idempotencyKey": "bad-cancel-sh", "lines": []map[string]any{{"lineNo": 1, "qty": 2}}})
	require.Empty(t, serrs)
	tr, errs = transferDecide(t, e, tok["D2"], "transferCancel", tr.ID, "not needed")
	require.Empty(t, errs)
	require.Equal(t, "CANCELLED", tr.Status)
	require.Zero(t, reservedOf(t, e, "D-0001", "PH01-1-2"))
	require.Equal(t, "CANCELLED", tr.Shipments[0].Status)
	_, serrs = shipmentDispatch(t, e, tok["D1"], sh.ID, map[string]any{"carrier": "SF"})
	require.Equal(t, "INVALID_TRANSITION", serrs[0].Code)
	_, serrs = transferShip(t, e, tok["D1"], tr.ID, map[string]any{"idempotencyKey": "bad-cancel-sh2", "lines": []map[string]any{{"lineNo": 1, "qty": 1}}})
	require.Equal(t, "INVALID_TRANSITION", serrs[0].Code, "a cancelled transfer does not ship")
	var held int
	require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM shipment_serials ss JOIN shipments sh ON sh.id = ss.shipment_id JOIN serials sr ON sr.id = ss.serial_id
		WHERE sh.status = 'CREATED' AND sr.number IN (?)`, bun.In(sh.numbers())).Scan(context.Background(), &held))
	require.Zero(t, held, "the cancelled shipment's units are free again")
}

// Stores under one distributor: S-0001 sends to S-0005 with D-0001's approval.
func transferStores(t *testing.T, e *apitest.Env, tok map[string]string) {
	ctx := context.Background()
	// S-0005 needs a user; S-0001 needs stock: a distributor ships it phones.
	r := e.Query(tok["hq"], `mutation($in: UserCreateInput!) { userCreate(input: $in) { user { id } errors { code } } }`, map[string]any{"in": map[string]any{
		"partyId": partyGID(t, e, "S-0005"), "phone": "13800000095", "name": "S5 manager", "roles": []string{"STORE_MANAGER"}, "password": "channelhub-demo"}})
	require.Contains(t, string(r.Data), `"errors":[]`, "%s", r.Data)
	s5 := e.Login("13800000095", auth.AppStore).AccessToken
	o, oerrs := submit(t, e, tok["S1"], "st-tr-o", []map[string]any{{"skuId": skuGID(t, e, "PH01-1-1"), "qty": 2}}, nil)
	require.Empty(t, oerrs)
	_, oerrs = act(t, e, tok["D1"], "orderApprove", o.ID, map[string]any{"reason": "ok"})
	require.Empty(t, oerrs)
	sh, serrs := shipmentCreate(t, e, tok["D1staff"], map[string]any{"orderId": o.ID, "idempotencyKey": "st-tr-sh", "carrier": "van",
		"lines": []map[string]any{{"orderLineNo": 1, "qty": 2}}})
	require.Empty(t, serrs)
	_, serrs = shipmentDispatch(t, e, tok["D1staff"], sh.ID, nil)
	require.Empty(t, serrs)
	_, _, serrs = receiptConfirm(t, e, tok["S1staff"], sh.ID, map[string]any{"idempotencyKey": "st-tr-gr", "serials": sh.numbers()})
	require.Empty(t, serrs)

	var partners []struct{ Code string }
	var pd struct{ TransferPartners []struct{ Code string } }
	e.Query(tok["S1"], `{ transferPartners(first: 100) { code } }`, nil).Decode(t, &pd)
	partners = pd.TransferPartners
	require.Contains(t, partners, struct{ Code string }{"S-0005"})
	require.NotContains(t, partners, struct{ Code string }{"S-0002"}, "another distributor's store")
	require.NotContains(t, partners, struct{ Code string }{"S-0001"})
	e.Query(tok["D1"], `{ transferPartners(first: 100) { code } }`, nil).Decode(t, &pd)
	require.Equal(t, []struct{ Code string }{{"D-0002"}, {"D-0003"}}, pd.TransferPartners, "level-1 distributors under HQ")

	tr, errs := transferRequest(t, e, tok["S1"], "st-tr", "S-0001", "S-0005", "PH01-1-1", 1)
	require.Empty(t, errs)
	require.Equal(t, "D-0001", tr.Supplier.Code)
	_, errs = transferDecide(t, e, tok["ops"], "transferApprove", tr.ID, "hq")
	require.Equal(t, []string{"NOT_ALLOWED"}, codesOf(errs), "HQ is not these stores' supplier")
	tr, errs = transferDecide(t, e, tok["D1"], "transferApprove", tr.ID, "ok")
	require.Empty(t, errs)
	unit := sh.numbers()[1]
	tsh, serrs := transferShip(t, e, tok["S1staff"], tr.ID, map[string]any{"idempotencyKey": "st-tr-1", "carrier": "courier",
		"lines": []map[string]any{{"lineNo": 1, "qty": 1, "serials": []string{unit}}}})
	require.Empty(t, serrs)
	require.Equal(t, []string{unit}, tsh.numbers(), "the scanned unit")
	tsh, serrs = shipmentDispatch(t, e, tok["S1staff"], tsh.ID, nil)
	if len(serrs) > 0 {
		t.Log(e.LogText())
	}
	require.Empty(t, serrs)
	// S-0005 finds nothing, so the claim goes to the sender, who reships... the same unit is gone: credit note (no money).
	rc, _, serrs := receiptConfirm(t, e, s5, tsh.ID, map[string]any{"idempotencyKey": "st-tr-gr1"})
	require.Empty(t, serrs)
	require.NotNil(t, rc.Claim)
	require.Equal(t, "0.00", rc.Claim.Value.Amount, "a transfer moves no money")
	sr, _ := serialOf(t, e, tok["S1"], unit)
	require.Equal(t, "RETURNED", sr.Status)
	require.Equal(t, "S-0001", sr.Holder.Code)
	got, _ := transferOf(t, e, s5, tr.ID)
	require.Equal(t, "COMPLETED", got.Status, "shipped in full, the difference is the claim's")
	r = e.Query(tok["S1"], `mutation($id: ID!) { claimResolve(id: $id, input: {resolution: CREDIT_NOTE, reason: "lost"}) { claim { status } errors { code } } }`,
		map[string]any{"id": rc.Claim.ID})
	require.JSONEq(t, `{"claimResolve":{"claim":{"status":"RESOLVED"},"errors":[]}}`, string(r.Data))
	var cash int64
	require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM credit_entries WHERE source_type = 'CLAIM'`).Scan(ctx, &cash))
	require.Zero(t, cash)
}

// D-0001 sends part of what D-0002 asked for and closes the rest: the rest's
// reservation is released, and the transfer completes with the receipt.
func transferCloseRemainder(t *testing.T, e *apitest.Env, tok map[string]string) {
	var sku string
	require.NoError(t, e.Server.DB.NewRaw(`SELECT s.code FROM stock_levels sl JOIN skus s ON s.id = sl.sku_id JOIN warehouses w ON w.id = sl.warehouse_id
		WHERE w.code = 'D1-WH1' AND NOT s.serialised AND sl.on_hand - sl.reserved >= 10 ORDER BY s.code DESC LIMIT 1`).Scan(context.Background(), &sku))
	reserved := reservedOf(t, e, "D-0001", sku)
	tr, errs := transferRequest(t, e, tok["D2"], "cr-tr", "D-0001", "D-0002", sku, 10)
	require.Empty(t, errs)
	_, errs = transferDecide(t, e, tok["ops"], "transferApprove", tr.ID, "ok")
	require.Empty(t, errs)
	sh, serrs := transferShip(t, e, tok["D1staff"], tr.ID, map[string]any{"idempotencyKey": "cr-trs", "carrier": "own van", "lines": []map[string]any{{"lineNo": 1, "qty": 4}}})
	require.Empty(t, serrs)
	_, serrs = shipmentDispatch(t, e, tok["D1"], sh.ID, nil)
	require.Empty(t, serrs)
	r := e.Query(tok["D3"], `mutation($id: ID!) { transferCloseRemainder(id: $id, input: {reason: "x"}) { transfer { id } errors { code } } }`, map[string]any{"id": tr.ID})
	require.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "a distributor outside it does not see it")
	_, errs = transferDecide(t, e, tok["D1"], "transferCloseRemainder", tr.ID, "")
	require.Equal(t, []string{"REASON_REQUIRED"}, codesOf(errs))
	got, errs := transferDecide(t, e, tok["D1"], "transferCloseRemainder", tr.ID, "no more left to send")
	require.Empty(t, errs)
	require.Equal(t, "SHIPPED", got.Status)
	require.Empty(t, got.Reservations)
	require.Equal(t, reserved, reservedOf(t, e, "D-0001", sku), "the six not sent are free again")
	_, _, rerrs := receiptConfirm(t, e, tok["D2"], sh.ID, map[string]any{"idempotencyKey": "cr-trg"})
	require.Empty(t, rerrs)
	got, _ = transferOf(t, e, tok["D2"], tr.ID)
	require.Equal(t, "COMPLETED", got.Status)
	_, errs = transferDecide(t, e, tok["D1"], "transferCloseRemainder", tr.ID, "again")
	require.Equal(t, []string{"INVALID_TRANSITION"}, codesOf(errs))
}
