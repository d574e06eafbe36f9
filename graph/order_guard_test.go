package graph_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"channelhub/graph/model"
	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// Dispatching a packed shipment races the buyer cancelling its order: per
// order exactly one wins, and stock and credit come out as if they had taken
// turns (nothing released twice, nothing shipped from a cancelled order).
func TestOrderDispatchCancelRace(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, gc := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl)
		const n, qty = 6, 20
		var orders, shipments []string
		for i := range n {
			o := approvedOrder(t, e, fmt.Sprintf("dc-%d", i), map[string]int{"CB01-1": qty})
			sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": fmt.Sprintf("dc-sh-%d", i),
				"lines": []map[string]any{{"orderLineNo": 1, "qty": qty}}})
			require.Empty(t, errs)
			orders, shipments = append(orders, o.ID), append(shipments, sh.ID)
		}
		onHand, reserved := stockRow(t, e, "HQ-WH1", "CB01-1")
		var mu sync.Mutex
		won := map[int][]string{}
		var refusals []string
		together(2*n, func(k int) {
			i := k / 2
			var code string
			if k%2 == 0 {
				if _, errs := shipmentDispatch(t, e, gc, shipments[i], map[string]any{"carrier": "SF"}); len(errs) > 0 {
					code = errs[0].Code
				}
			} else if _, errs := act(t, e, dist, "orderCancel", orders[i], map[string]any{}); len(errs) > 0 {
				code = errs[0].Code
			}
			mu.Lock()
			defer mu.Unlock()
			if code == "" {
				won[i] = append(won[i], map[bool]string{true: "SHIPPED", false: "CANCELLED"}[k%2 == 0])
			} else {
				refusals = append(refusals, code)
			}
		})
		shipped := 0
		for i := range n {
			require.Len(t, won[i], 1, "order %d: one of dispatch and cancel wins", i)
			var d struct{ Order orderView }
			e.Query(dist, `query($id: ID!) { order(id: $id) { `+orderFields+` } }`, map[string]any{"id": orders[i]}).Decode(t, &d)
			require.Equal(t, won[i][0], d.Order.Status)
			require.Empty(t, d.Order.Reservations)
			if won[i][0] == "SHIPPED" {
				shipped++
			}
		}
		for _, c := range refusals {
			require.Contains(t, []string{"ORDER_NOT_SHIPPABLE", "INVALID_TRANSITION", "SHIPMENT_IN_PROGRESS"}, c)
		}
		onHandAfter, reservedAfter := stockRow(t, e, "HQ-WH1", "CB01-1")
		require.Equal(t, reserved-n*qty, reservedAfter, "every hold was released or shipped, once")
		require.Equal(t, onHand-int64(shipped*qty), onHandAfter, "only dispatched goods left")
		account, held, ledger := creditBooks(t, e)
		require.Equal(t, held, account, "the account matches its open orders")
		require.Equal(t, ledger, account, "the account matches its ledger")
	})
}

// A shipment being packed was planned from the order's lines: the order
// cannot change under it until it leaves or is cancelled.
func TestOrderChangeWhilePacking(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, gc := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl)
		ids := cartSKUs(t, e, dist, "EP01-1")
		o := approvedOrder(t, e, "pk-1", map[string]int{"CB01-1": 20})
		sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "pk-sh-1",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 10}}})
		require.Empty(t, errs)
		change := map[string]any{"lines": []map[string]any{{"skuId": ids["EP01-1"], "qty": 5}}}
		_, oerrs := act(t, e, dist, "orderChangeRequest", o.ID, change)
		require.Equal(t, []orderErr{{Code: "SHIPMENT_IN_PROGRESS"}}, oerrs)
		_, oerrs = act(t, e, dist, "orderChangeRequest", o.ID, map[string]any{"note": "new gate"})
		require.Equal(t, []orderErr{{Code: "SHIPMENT_IN_PROGRESS"}}, oerrs, "the address and note travel with the packed goods too")

		_, errs = shipMutation(t, e, gc, `mutation($id: ID!) { shipmentCancel(id: $id, input: {reason: "repack"}) { shipment { `+shipmentFields+` } errors { code field } } }`,
			map[string]any{"id": sh.ID})
		require.Empty(t, errs)
		got, oerrs := act(t, e, dist, "orderChangeRequest", o.ID, change)
		require.Empty(t, oerrs)
		require.Equal(t, "EP01-1", got.Lines[0].Sku.Code)
	})
}

// Returning a line in parts credits its net exactly, each part rounded
// half-up; a unit named on two lines of one return is a mismatch, not a
// server error.
func TestReturnPartsAndRepeatedSerials(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, gc := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl)
		o := approvedOrder(t, e, "rp-1", map[string]int{"PH01-2-1": 3})
		sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "rp-sh", "lines": []map[string]any{{"orderLineNo": 1, "qty": 3}}})
		require.Empty(t, errs)
		sh, errs = shipmentDispatch(t, e, gc, sh.ID, map[string]any{"carrier": "SF"})
		require.Empty(t, errs)
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "rp-gr", "serials": sh.numbers()})
		require.Empty(t, errs)

		ret := func(key string, lines ...map[string]any) (string, []orderErr) {
			var d struct {
				ReturnRequest struct {
					Return *struct{ Amount struct{ Amount string } }
					Errors []orderErr
				}
			}
			r := e.Query(dist, `mutation($in: ReturnRequestInput!) { returnRequest(input: $in) { return { amount { amount } } errors { code field } } }`,
				map[string]any{"in": map[string]any{"orderId": o.ID, "reason": "faulty", "idempotencyKey": key, "lines": lines}})
			require.Empty(t, r.Errors, "%s", r.Data)
			r.Decode(t, &d)
			if d.ReturnRequest.Return == nil {
				return "", d.ReturnRequest.Errors
			}
			return d.ReturnRequest.Return.Amount.Amount, d.ReturnRequest.Errors
		}
		unit := sh.numbers()[0]
		_, rerrs := ret("rp-dup", map[string]any{"lineNo": 1, "qty": 1, "serials": []string{unit}},
			map[string]any{"lineNo": 1, "qty": 1, "serials": []string{unit}})
		require.Equal(t, []orderErr{{Code: "SERIAL_COUNT_MISMATCH", Field: []string{"lines", "1", "serials"}}}, rerrs)

		net, err := model.ParseMinor(o.Lines[0].Net.Amount)
		require.NoError(t, err)
		if net%3 == 0 { // a net thirds do not divide, as prices and discounts often make
			net++
			_, err := e.Server.DB.NewRaw(`UPDATE order_lines SET net = ? WHERE order_id = ? AND line_no = 1`, net, strings.TrimPrefix(o.ID, "Order:")).Exec(context.Background())
			require.NoError(t, err)
		}
		var sum int64
		var parts []int64
		for i := range 3 {
			amount, rerrs := ret(fmt.Sprintf("rp-%d", i), map[string]any{"lineNo": 1, "qty": 1})
			require.Empty(t, rerrs)
			v, err := model.ParseMinor(amount)
			require.NoError(t, err)
			sum += v
			parts = append(parts, v)
		}
		require.Equal(t, net, sum, "three thirds of %d make the whole", net)
		third := (2*net + 3) / 6 // net/3 rounded half-up
		require.Contains(t, parts, third)
		require.LessOrEqual(t, slices.Max(parts)-slices.Min(parts), int64(1), "no part is more than a cent off another")
	})
}

// A partly shipped order whose rest will not ship is closed by the seller:
// the rest's stock and credit come free, what shipped stays owed, and the
// order completes with its last receipt (or at once when that came first).
func TestOrderCloseRemainder(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, gc, ops := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl), e.As(auth.RoleSalesOps)
		_, reservedBefore := stockRow(t, e, "HQ-WH1", "CB01-1")
		o := approvedOrder(t, e, "cr-1", map[string]int{"CB01-1": 40})
		ship := func(key string, qty int) *shipmentView {
			sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": key, "lines": []map[string]any{{"orderLineNo": 1, "qty": qty}}})
			require.Empty(t, errs)
			return sh
		}
		sh := ship("cr-sh-1", 15)
		_, errs := shipmentDispatch(t, e, gc, sh.ID, map[string]any{"carrier": "SF"})
		require.Empty(t, errs)
		can := func(token string) bool {
			var d struct {
				Order struct{ ViewerCanCloseRemainder bool }
			}
			e.Query(token, `query($id: ID!) { order(id: $id) { viewerCanCloseRemainder } }`, map[string]any{"id": o.ID}).Decode(t, &d)
			return d.Order.ViewerCanCloseRemainder
		}
		require.True(t, can(ops))
		require.False(t, can(dist), "the buyer does not decide what the seller will not ship")
		closeRest := func(token string, in map[string]any) (*orderView, []orderErr) {
			var d struct {
				OrderCloseRemainder struct {
					Order  *orderView
					Errors []orderErr
				}
			}
			r := e.Query(token, `mutation($id: ID!, $in: OrderDecisionInput!) { orderCloseRemainder(id: $id, input: $in) { order { `+orderFields+` } errors { code field } } }`,
				map[string]any{"id": o.ID, "in": in})
			require.Empty(t, r.Errors, "%s", r.Data)
			r.Decode(t, &d)
			return d.OrderCloseRemainder.Order, d.OrderCloseRemainder.Errors
		}
		_, oerrs := closeRest(dist, map[string]any{"reason": "x"})
		require.Equal(t, "NOT_ALLOWED", oerrs[0].Code)
		packing := ship("cr-sh-2", 5)
		_, oerrs = closeRest(ops, map[string]any{"reason": "discontinued"})
		require.Equal(t, "SHIPMENT_IN_PROGRESS", oerrs[0].Code)
		_, errs = shipMutation(t, e, gc, `mutation($id: ID!) { shipmentCancel(id: $id, input: {reason: "no"}) { shipment { `+shipmentFields+` } errors { code field } } }`,
			map[string]any{"id": packing.ID})
		require.Empty(t, errs)
		_, oerrs = closeRest(ops, map[string]any{})
		require.Equal(t, []orderErr{{Code: "REASON_REQUIRED", Field: []string{"reason"}}}, oerrs)

		got, oerrs := closeRest(ops, map[string]any{"reason": "discontinued"})
		require.Empty(t, oerrs)
		require.Equal(t, "SHIPPED", got.Status, "one shipment is still on its way")
		require.Equal(t, "0.00", got.CreditReserved.Amount)
		require.Empty(t, got.Reservations)
		last := got.Timeline[len(got.Timeline)-1]
		require.Equal(t, []string{"REMAINDER_CLOSED", "SHIPPED", "discontinued"}, []string{last.Type, last.ToStatus, last.Reason})
		_, reserved := stockRow(t, e, "HQ-WH1", "CB01-1")
		require.Equal(t, reservedBefore, reserved, "the 25 that did not ship are free again")
		account, held, ledger := creditBooks(t, e)
		require.Zero(t, account)
		require.Zero(t, held)
		require.Zero(t, ledger)
		c := creditOf(t, e, dist, nil)
		net, err := model.ParseMinor(o.Lines[0].Net.Amount)
		require.NoError(t, err)
		require.Equal(t, model.FormatMinor((net*15*2+40)/80), c.Receivable.Amount, "15 of 40 shipped are owed")
		_, oerrs = closeRest(ops, map[string]any{"reason": "again"})
		require.Equal(t, "INVALID_TRANSITION", oerrs[0].Code)

		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "cr-gr-1"})
		require.Empty(t, errs)
		var d struct{ Order orderView }
		e.Query(dist, `query($id: ID!) { order(id: $id) { `+orderFields+` } }`, map[string]any{"id": o.ID}).Decode(t, &d)
		require.Equal(t, "COMPLETED", d.Order.Status, "its last receipt completes it")

		// Everything shipped was received before the rest was closed: completed at once.
		o = approvedOrder(t, e, "cr-2", map[string]int{"CB01-1": 40})
		sh = ship("cr-sh-3", 10)
		_, errs = shipmentDispatch(t, e, gc, sh.ID, map[string]any{"carrier": "SF"})
		require.Empty(t, errs)
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "cr-gr-2"})
		require.Empty(t, errs)
		got, oerrs = closeRest(ops, map[string]any{"reason": "season over"})
		require.Empty(t, oerrs)
		require.Equal(t, "COMPLETED", got.Status)
		_, reserved = stockRow(t, e, "HQ-WH1", "CB01-1")
		require.Equal(t, reservedBefore, reserved)
	})
}

// A receipt line's quantities are checked one by one, so no sum of huge ones
// wraps around; a reshipment settling a claim cannot be cancelled away.
func TestReceiptHugeQuantitiesAndReshipment(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, gc, ops := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl), e.As(auth.RoleSalesOps)
		o := approvedOrder(t, e, "rh-1", map[string]int{"CB01-1": 40})
		sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "rh-sh", "lines": []map[string]any{{"orderLineNo": 1, "qty": 40}}})
		require.Empty(t, errs)
		_, errs = shipmentDispatch(t, e, gc, sh.ID, map[string]any{"carrier": "SF"})
		require.Empty(t, errs)
		before := stockOf(t, e, "D-0001", "CB01-1")
		huge := int64(1) << 62
		_, _, errs = receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "rh-gr-0",
			"lines": []map[string]any{{"lineNo": 1, "accepted": huge, "rejected": huge, "reason": "x"}}})
		require.Equal(t, "RECEIPT_TOO_MUCH", errs[0].Code)
		require.Equal(t, before, stockOf(t, e, "D-0001", "CB01-1"), "nothing booked")

		rc, _, errs := receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": "rh-gr-1",
			"lines": []map[string]any{{"lineNo": 1, "accepted": 38, "rejected": 2, "reason": "crushed"}}})
		require.Empty(t, errs)
		require.NotNil(t, rc.Claim)
		var d struct {
			ClaimResolve struct {
				Claim struct {
					Status      string
					Replacement *struct{ ID string }
				}
				Errors []shipErr
			}
		}
		e.Query(ops, `mutation($id: ID!) { claimResolve(id: $id, input: {resolution: RESHIP, reason: "send again"}) { claim { status replacement { id } } errors { code } } }`,
			map[string]any{"id": rc.Claim.ID}).Decode(t, &d)
		require.Empty(t, d.ClaimResolve.Errors)
		require.NotNil(t, d.ClaimResolve.Claim.Replacement)
		_, errs = shipMutation(t, e, gc, `mutation($id: ID!) { shipmentCancel(id: $id, input: {reason: "oops"}) { shipment { `+shipmentFields+` } errors { code field } } }`,
			map[string]any{"id": d.ClaimResolve.Claim.Replacement.ID})
		require.Equal(t, "INVALID_TRANSITION", errs[0].Code, "the claim was settled by this shipment")
		got, errs := shipmentDispatch(t, e, gc, d.ClaimResolve.Claim.Replacement.ID, map[string]any{"carrier": "SF"})
		require.Empty(t, errs)
		require.Equal(t, "DISPATCHED", got.Status)
	})
}

// An order holding a SKU twice, bought and given, ships both lines in one
// shipment: each line gets units of its own.
func TestShipmentSameSKUOnTwoLines(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx, db := context.Background(), e.Server.DB
		dist, gc, ops := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl), e.As(auth.RoleSalesOps)
		var phone, earphone string
		require.NoError(t, db.NewRaw(`SELECT CAST(id AS TEXT) FROM skus WHERE code = 'PH01-2-1'`).Scan(ctx, &phone))
		require.NoError(t, db.NewRaw(`SELECT rule FROM promotions WHERE kind = 'GIFT'`).Scan(ctx, &earphone))
		// The seed's "five phones, earphones free" gives a phone instead.
		_, err := db.NewRaw(`UPDATE promotions SET rule = ? WHERE kind = 'GIFT'`,
			regexp.MustCompile(`"SKUID":"[^"]+"`).ReplaceAllString(earphone, `"SKUID":"`+phone+`"`)).Exec(ctx)
		require.NoError(t, err)
		ids := cartSKUs(t, e, dist, "PH01-2-1")
		o, oerrs := submit(t, e, dist, "two-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 5}}, nil)
		require.Empty(t, oerrs)
		require.Len(t, o.Lines, 2)
		require.Equal(t, [2]string{"PH01-2-1", "PH01-2-1"}, [2]string{o.Lines[0].Sku.Code, o.Lines[1].Sku.Code})
		require.True(t, o.Lines[1].Gift)
		_, oerrs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, oerrs)

		sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "two-sh",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 5}, {"orderLineNo": 2, "qty": 1}}})
		require.Empty(t, errs)
		units := sh.numbers()
		require.Len(t, units, 6)
		slices.Sort(units)
		require.Len(t, slices.Compact(units), 6, "no unit on two lines")
		sh, errs = shipmentDispatch(t, e, gc, sh.ID, map[string]any{"carrier": "SF"})
		require.Empty(t, errs)
		require.Equal(t, "SHIPPED", sh.Order.Status)
	})
}

// A store whose only warehouse was closed receives its next delivery into a
// new one, not an error.
func TestReceiptOpensAWarehouseBesideAClosedOne(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx, db := context.Background(), e.Server.DB
		var storeID string
		require.NoError(t, db.NewRaw(`SELECT CAST(id AS TEXT) FROM parties WHERE code = 'S-0001'`).Scan(ctx, &storeID))
		_, err := db.NewRaw(`DELETE FROM warehouses WHERE party_id = ? AND NOT EXISTS (SELECT 1 FROM stock_levels sl WHERE sl.warehouse_id = warehouses.id)`, storeID).Exec(ctx)
		require.NoError(t, err)
		var open int
		require.NoError(t, db.NewRaw(`SELECT count(*) FROM warehouses WHERE party_id = ? AND active`, storeID).Scan(ctx, &open))
		require.Zero(t, open, "S-0001 keeps no stock in the seed")
		_, err = db.NewRaw(`INSERT INTO warehouses (id, party_id, code, name, priority, active, created_at) VALUES (?, ?, 'S-0001-WH1', 'closed', 0, FALSE, ?)`,
			"01a20baf-0000-7000-8000-000000000001", storeID, time.Now().UTC()).Exec(ctx)
		require.NoError(t, err)

		sh := storeShipment(t, e, "wh-1", "PH01-1-1", 1)
		rc, _, errs := receiptConfirm(t, e, e.As(auth.RoleStoreStaff), sh.ID, map[string]any{"idempotencyKey": "wh-gr", "serials": sh.numbers()})
		require.Empty(t, errs)
		require.Equal(t, "S-0001-WH2", rc.WarehouseCode)
	})
}
