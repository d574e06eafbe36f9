package graph_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

func TestOrderLifecycleShipReturn(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, ops, gc := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleSalesOps), e.As(auth.RoleGoodsControl)
		ids := cartSKUs(t, e, dist, "PH01-2-1", "CB01-1")
		o, errs := submit(t, e, dist, "life-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 3}, {"skuId": ids["CB01-1"], "qty": 40}}, nil)
		require.Empty(t, errs)
		shipOf := func(key string, lines ...[2]int) (*shipmentView, []shipErr) {
			var ls []map[string]any
			for _, l := range lines {
				ls = append(ls, map[string]any{"orderLineNo": l[0], "qty": l[1]})
			}
			sh, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": key, "lines": ls})
			if len(errs) > 0 {
				return nil, errs
			}
			return shipmentDispatch(t, e, gc, sh.ID, map[string]any{"carrier": "SF Express"})
		}
		_, shErrs := shipOf("life-sh-0", [2]int{1, 1})
		require.Equal(t, "ORDER_NOT_SHIPPABLE", shErrs[0].Code, "a submitted order cannot ship")
		_, errs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, errs)

		sh1, shErrs := shipOf("life-sh-1", [2]int{1, 2})
		require.Empty(t, shErrs)
		var d struct{ Order orderView }
		e.Query(dist, `query($id: ID!) { order(id: $id) { `+orderFields+` } }`, map[string]any{"id": o.ID}).Decode(t, &d)
		require.Equal(t, "PARTIALLY_SHIPPED", d.Order.Status)
		require.False(t, d.Order.ViewerCanCancel)
		require.False(t, d.Order.ViewerCanChange)
		_, errs = act(t, e, dist, "orderChangeRequest", o.ID, map[string]any{"note": "too late"})
		require.Equal(t, "INVALID_TRANSITION", errs[0].Code, "no change after shipment")
		_, errs = act(t, e, dist, "orderCancel", o.ID, map[string]any{})
		require.Equal(t, "INVALID_TRANSITION", errs[0].Code, "no cancel after shipment")
		_, shErrs = shipOf("life-sh-x", [2]int{1, 2})
		require.Equal(t, "TOO_MUCH", shErrs[0].Code, "more than ordered")

		sh2, shErrs := shipOf("life-sh-2", [2]int{1, 1}, [2]int{2, 40})
		require.Empty(t, shErrs)
		c := creditOf(t, e, dist, nil)
		require.Equal(t, "0.00", c.Reserved.Amount)
		require.Equal(t, o.Total.Amount, c.Receivable.Amount, "shipped value is owed")
		account, held, ledger := creditBooks(t, e)
		require.Zero(t, account)
		require.Zero(t, held)
		require.Zero(t, ledger)

		retLines := func(key string, lines ...map[string]any) (map[string]any, []orderErr) {
			var d struct {
				ReturnRequest struct {
					Return map[string]any
					Errors []orderErr
				}
			}
			e.Query(dist, `mutation($in: ReturnRequestInput!) { returnRequest(input: $in) { return { id number status amount { amount } lines { serials } } errors { code field } } }`,
				map[string]any{"in": map[string]any{"orderId": o.ID, "reason": "faulty", "idempotencyKey": key, "lines": lines}}).Decode(t, &d)
			return d.ReturnRequest.Return, d.ReturnRequest.Errors
		}
		ret := func(key string, qty int) (map[string]any, []orderErr) {
			return retLines(key, map[string]any{"lineNo": 1, "qty": qty})
		}
		_, errs = ret("r-early", 1)
		require.Equal(t, "RETURN_TOO_MUCH", errs[0].Code, "shipped, but nothing received yet")
		for i, sh := range []*shipmentView{sh1, sh2} {
			_, _, rErrs := receiptConfirm(t, e, dist, sh.ID, map[string]any{"idempotencyKey": fmt.Sprintf("life-gr-%d", i), "serials": sh.numbers()})
			require.Empty(t, rErrs)
		}
		_, errs = ret("r-0", 4)
		require.Equal(t, []orderErr{{Code: "RETURN_TOO_MUCH", Field: []string{"lines", "0", "qty"}}}, errs, "only 3 were received")
		rt, errs := ret("r-1", 1)
		require.Empty(t, errs)
		require.Regexp(t, `^RT-20\d\d-\d{6}$`, rt["number"])
		_, errs = ret("r-2", 3)
		require.Equal(t, "RETURN_TOO_MUCH", errs[0].Code, "the open return takes one of the three")

		r := e.Query(gc, `mutation($id: ID!) { returnReceive(id: $id) { return { status } errors { code } } }`, map[string]any{"id": rt["id"]})
		require.JSONEq(t, `{"returnReceive":{"return":null,"errors":[{"code":"INVALID_TRANSITION"}]}}`, string(r.Data), "not approved yet")
		hqPhones, d1Phones := stockOf(t, e, "HQ-ZJ", "PH01-2-1"), stockOf(t, e, "D-0001", "PH01-2-1")
		r = e.Query(ops, `mutation($id: ID!) { returnApprove(id: $id, input: {reason: "checked"}) { return { status } errors { code } } }`, map[string]any{"id": rt["id"]})
		require.JSONEq(t, `{"returnApprove":{"return":{"status":"APPROVED"},"errors":[]}}`, string(r.Data))
		cashBefore := creditOf(t, e, dist, nil).Cash.Amount
		r = e.Query(gc, `mutation($id: ID!) { returnReceive(id: $id) { return { status amount { amount } } errors { code } } }`, map[string]any{"id": rt["id"]})
		require.Contains(t, string(r.Data), `"status":"RECEIVED"`)
		amount := rt["amount"].(map[string]any)["amount"].(string)
		require.Equal(t, "0.00", cashBefore)
		require.Equal(t, amount, creditOf(t, e, dist, nil).Cash.Amount, "the credit note lands in CASH")

		// The goods went back: out of the buyer's stock, into the seller's, the unit (picked, none was named) with them.
		require.Equal(t, d1Phones-1, stockOf(t, e, "D-0001", "PH01-2-1"))
		require.Equal(t, hqPhones+1, stockOf(t, e, "HQ-ZJ", "PH01-2-1"))
		var got struct {
			Node struct {
				Number string
				Lines  []struct{ Serials []string }
			}
		}
		e.Query(dist, `query($id: ID!) { node(id: $id) { ... on Return { number lines { serials } } } }`, map[string]any{"id": rt["id"]}).Decode(t, &got)
		require.Len(t, got.Node.Lines[0].Serials, 1)
		back := got.Node.Lines[0].Serials[0]
		require.Contains(t, append(sh1.numbers(), sh2.numbers()...), back, "a unit of this order")
		sr, _ := serialOf(t, e, gc, back)
		require.Equal(t, "IN_STOCK", sr.Status)
		require.Equal(t, "HQ-ZJ", sr.Holder.Code)
		require.Equal(t, "HQ-WH1", sr.WarehouseCode)
		step := sr.Trail[len(sr.Trail)-1]
		require.Equal(t, []string{"RETURNED", "RETURN", got.Node.Number, "HQ-ZJ"}, []string{step.Type, step.DocumentType, step.DocumentNumber, step.Holder.Code})
		var moves []string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT w.code || ':' || CAST(sm.delta AS TEXT) FROM stock_movements sm JOIN warehouses w ON w.id = sm.warehouse_id
			WHERE sm.kind = 'RETURN' AND sm.source_type = 'RETURN' AND sm.source_id = ? ORDER BY w.code`, got.Node.Number).Scan(context.Background(), &moves))
		require.Equal(t, []string{"D1-WH1:-1", "HQ-WH1:1"}, moves, "each side's movement names the return")

		// A return may name its units: only this order's, held by the buyer, on no other return, exactly qty of them.
		var other string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT sr.number FROM serials sr JOIN parties p ON p.id = sr.holder_party_id JOIN skus s ON s.id = sr.sku_id
			WHERE p.code = 'D-0001' AND s.code = 'PH01-2-1' AND sr.status = 'IN_STOCK' AND sr.number NOT IN (?) LIMIT 1`,
			bun.In(append(sh1.numbers(), sh2.numbers()...))).Scan(context.Background(), &other))
		mine := sh1.numbers()[0]
		if mine == back {
			mine = sh1.numbers()[1]
		}
		_, errs = retLines("r-3", map[string]any{"lineNo": 1, "qty": 1, "serials": []string{other}})
		require.Equal(t, []orderErr{{Code: "SERIAL_UNAVAILABLE", Field: []string{"lines", "0", "serials", other}}}, errs, "D-0001's, but from another order")
		_, errs = retLines("r-4", map[string]any{"lineNo": 1, "qty": 1, "serials": []string{back}})
		require.Equal(t, "SERIAL_UNAVAILABLE", errs[0].Code, "already back with the seller")
		_, errs = retLines("r-5", map[string]any{"lineNo": 1, "qty": 2, "serials": []string{mine}})
		require.Equal(t, []orderErr{{Code: "SERIAL_COUNT_MISMATCH", Field: []string{"lines", "0", "serials"}}}, errs)
		_, errs = retLines("r-6", map[string]any{"lineNo": 2, "qty": 1, "serials": []string{mine}})
		require.Equal(t, "SERIAL_COUNT_MISMATCH", errs[0].Code, "a cable line carries no serials")
		hqCables, d1Cables := stockOf(t, e, "HQ-ZJ", "CB01-1"), stockOf(t, e, "D-0001", "CB01-1")
		rt2, errs := retLines("r-7", map[string]any{"lineNo": 1, "qty": 1, "serials": []string{strings.ToLower(mine)}}, map[string]any{"lineNo": 2, "qty": 20})
		require.Empty(t, errs)
		r = e.Query(ops, `mutation($id: ID!) { returnApprove(id: $id, input: {reason: "checked"}) { return { status } errors { code } } }`, map[string]any{"id": rt2["id"]})
		require.Contains(t, string(r.Data), `"APPROVED"`)
		r = e.Query(gc, `mutation($id: ID!) { returnReceive(id: $id) { return { status lines { serials } } errors { code } } }`, map[string]any{"id": rt2["id"]})
		require.JSONEq(t, fmt.Sprintf(`{"returnReceive":{"return":{"status":"RECEIVED","lines":[{"serials":[%q]},{"serials":[]}]},"errors":[]}}`, mine), string(r.Data))
		require.Equal(t, d1Cables-20, stockOf(t, e, "D-0001", "CB01-1"))
		require.Equal(t, hqCables+20, stockOf(t, e, "HQ-ZJ", "CB01-1"))
		sr, _ = serialOf(t, e, gc, mine)
		require.Equal(t, []string{"IN_STOCK", "HQ-ZJ"}, []string{sr.Status, sr.Holder.Code})

		e.Query(dist, `query($id: ID!) { order(id: $id) { `+orderFields+` } }`, map[string]any{"id": o.ID}).Decode(t, &d)
		require.Equal(t, "COMPLETED", d.Order.Status, "everything shipped was received")
		last := d.Order.Timeline[len(d.Order.Timeline)-1]
		require.Equal(t, "RETURN_RECEIVED", last.Type)
		var events int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM outbox_events WHERE aggregate_id = ?`, strings.TrimPrefix(o.ID, "Order:")).Scan(context.Background(), &events))
		require.GreaterOrEqual(t, events, len(d.Order.Timeline), "every step wrote an outbox event")
	})
}

func TestOrderCreditHoldReleaseAndStop(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, fin := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleFinance)
		d1 := partyID(t, e, e.As(auth.RoleHQAdmin), "D-0001")
		setCredit(t, e, d1, "100.00", "HOLD")
		ids := cartSKUs(t, e, dist, "PH01-2-1")
		o, errs := submit(t, e, dist, "hold-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		require.Equal(t, "CREDIT_HOLD", o.Status)
		require.Equal(t, "0.00", o.CreditReserved.Amount, "a held order holds no credit")
		require.Len(t, o.Reservations, 1, "but it holds its stock")
		require.Equal(t, []string{"SUBMITTED", "CREDIT_HOLD"}, []string{o.Timeline[0].ToStatus, o.Timeline[1].ToStatus})

		_, errs = act(t, e, dist, "orderCreditRelease", o.ID, map[string]any{"reason": "mine"})
		require.Equal(t, "NOT_ALLOWED", errs[0].Code, "a buyer cannot release its own hold")
		_, errs = act(t, e, fin, "orderCreditRelease", o.ID, map[string]any{"reason": "paid soon"})
		require.Equal(t, "CREDIT_LIMIT_EXCEEDED", errs[0].Code, "without override the line must cover it")
		rel, errs := act(t, e, fin, "orderCreditRelease", o.ID, map[string]any{"reason": "known customer", "override": true})
		require.Empty(t, errs)
		require.Equal(t, "SUBMITTED", rel.Status)
		require.True(t, rel.CreditWarning)
		require.Equal(t, rel.Total.Amount, rel.CreditReserved.Amount)
		c := creditOf(t, e, fin, &d1)
		require.Equal(t, "HOLD", c.Status, "over the line after the override")
		require.True(t, c.ViewerCanManage)
		var reason string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT reason FROM audit_log WHERE action = 'order.release_credit'`).Scan(context.Background(), &reason))
		require.Equal(t, "known customer", reason)

		// STOP: nothing more under BLOCK
		r := e.Query(fin, `mutation($b: ID!) { creditStopSet(input: {buyerId: $b, stopped: true, reason: "overdue"}) { credit { status } errors { code } } }`, map[string]any{"b": d1})
		require.JSONEq(t, `{"creditStopSet":{"credit":{"status":"STOP"},"errors":[]}}`, string(r.Data))
		setCredit(t, e, d1, "1000000.00", "BLOCK")
		_, errs = submit(t, e, dist, "stop-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Equal(t, "CREDIT_STOPPED", errs[0].Code)
		account, held, ledger := creditBooks(t, e)
		require.Equal(t, account, held)
		require.Equal(t, account, ledger)
	})
}

func TestCreditFinanceActions(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		fin, adm, dist := e.As(auth.RoleFinance), e.As(auth.RoleHQAdmin), e.As(auth.RoleDistributorAdmin)
		d1, s1 := partyID(t, e, adm, "D-0001"), partyID(t, e, adm, "S-0001")
		pay := func(token, buyer, amount, key string) string {
			r := e.Query(token, `mutation($b: ID!, $a: Decimal!, $k: String!) { creditPaymentRecord(input: {buyerId: $b, amount: $a, reference: "BANK-1", idempotencyKey: $k}) {
				credit { cash { amount } } errors { code } } }`, map[string]any{"b": buyer, "a": amount, "k": key})
			require.Empty(t, r.Errors, "%s", r.Data)
			return string(r.Data)
		}
		require.JSONEq(t, `{"creditPaymentRecord":{"credit":null,"errors":[{"code":"INVALID_AMOUNT"}]}}`, pay(fin, d1, "-5.00", "p-0"))
		require.JSONEq(t, `{"creditPaymentRecord":{"credit":null,"errors":[{"code":"INVALID_AMOUNT"}]}}`, pay(fin, d1, "0.00", "p-0"))
		require.JSONEq(t, `{"creditPaymentRecord":{"credit":{"cash":{"amount":"1000.00"}},"errors":[]}}`, pay(fin, d1, "1000.00", "p-1"))
		require.JSONEq(t, `{"creditPaymentRecord":{"credit":{"cash":{"amount":"1000.00"}},"errors":[]}}`, pay(fin, d1, "1000.00", "p-1"), "a retry books once")
		require.JSONEq(t, `{"creditPaymentRecord":{"credit":null,"errors":[{"code":"IDEMPOTENCY_KEY_REUSED"}]}}`, pay(fin, d1, "2000.00", "p-1"))
		require.JSONEq(t, `{"creditPaymentRecord":{"credit":null,"errors":[{"code":"NOT_ALLOWED"}]}}`, pay(fin, s1, "10.00", "p-2"), "HQ finance does not run a distributor's store lines")
		require.JSONEq(t, `{"creditPaymentRecord":{"credit":{"cash":{"amount":"10.00"}},"errors":[]}}`, pay(dist, s1, "10.00", "p-3"), "the distributor runs its stores' lines")
		r := e.Query(dist, `mutation($b: ID!) { creditPaymentRecord(input: {buyerId: $b, amount: "1.00", reference: "x", idempotencyKey: "p-4"}) { errors { code } } }`,
			map[string]any{"b": partyID(t, e, adm, "D-0002")})
		require.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "another distributor's line does not exist for D-0001")

		var req struct {
			CreditLimitChangeRequest struct{ Request struct{ ID string } }
		}
		e.Query(fin, `mutation($b: ID!) { creditLimitChangeRequest(input: {buyerId: $b, newLimit: "800000.00", reason: "growth"}) { request { id } errors { code } } }`,
			map[string]any{"b": d1}).Decode(t, &req)
		decide := func(token, verb string) string {
			return string(e.Query(token, `mutation($id: ID!) { creditLimitChange`+verb+`(id: $id, input: {reason: "ok"}) { request { status newLimit { amount } } errors { code } } }`,
				map[string]any{"id": req.CreditLimitChangeRequest.Request.ID}).Data)
		}
		require.JSONEq(t, `{"creditLimitChangeApprove":{"request":null,"errors":[{"code":"SELF_APPROVAL"}]}}`, decide(fin, "Approve"))
		require.Equal(t, "500000.00", creditOf(t, e, fin, &d1).Limit.Amount)
		var pending struct{ CreditLimitRequests []struct{ ID string } }
		e.Query(adm, `{ creditLimitRequests { id } }`, nil).Decode(t, &pending)
		require.Len(t, pending.CreditLimitRequests, 1)
		require.JSONEq(t, `{"creditLimitChangeApprove":{"request":{"status":"APPROVED","newLimit":{"amount":"800000.00"}},"errors":[]}}`, decide(adm, "Approve"))
		require.JSONEq(t, `{"creditLimitChangeReject":{"request":null,"errors":[{"code":"NOT_PENDING"}]}}`, decide(adm, "Reject"))
		c := creditOf(t, e, dist, nil)
		require.Equal(t, "800000.00", c.Limit.Amount)
		require.Equal(t, "801000.00", c.Available.Amount)
		require.False(t, c.ViewerCanManage, "a buyer does not run its own line")

		var entries struct {
			CreditSummary struct {
				Entries struct {
					Edges []struct {
						Node struct{ Fund, Kind, SourceType string }
					}
				}
			}
		}
		e.Query(dist, `{ creditSummary { entries(first: 10) { edges { node { fund kind sourceType } } } } }`, nil).Decode(t, &entries)
		require.Equal(t, "LIMIT_CHANGE", entries.CreditSummary.Entries.Edges[0].Node.Kind, "newest first")
		require.Equal(t, "PAYMENT", entries.CreditSummary.Entries.Edges[1].Node.Kind)
	})
}

func TestOrderSellThroughSalesmanAutoApproval(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		store, dist, ops, sm := e.As(auth.RoleStoreManager), e.As(auth.RoleDistributorAdmin), e.As(auth.RoleSalesOps), e.As(auth.RoleSalesman)
		ids := cartSKUs(t, e, store, "PH01-2-1")
		o, errs := submit(t, e, store, "st-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		require.Equal(t, "SELL_THROUGH", o.Kind)
		require.Equal(t, "D-0001", o.Seller.Code)
		require.Equal(t, "D1-WH1", o.Reservations[0].WarehouseCode)
		_, errs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Equal(t, "NOT_ALLOWED", errs[0].Code, "HQ's sales ops do not approve a distributor's sales")
		other := e.Login("13800000002", auth.AppDistributor).AccessToken
		r := e.Query(other, `mutation($id: ID!) { orderApprove(id: $id, input: {reason: "x"}) { errors { code } } }`, map[string]any{"id": o.ID})
		require.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "another party's approver does not even see it")
		ap, errs := act(t, e, dist, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, errs)
		require.Equal(t, "APPROVED", ap.Status)

		r = e.Query(dist, `mutation { orderAutoApprovalSet(input: {maxTotal: "100000.00", reason: "trusted stores"}) { maxTotal { amount } errors { code } } }`, nil)
		require.JSONEq(t, `{"orderAutoApprovalSet":{"maxTotal":{"amount":"100000.00"},"errors":[]}}`, string(r.Data))
		s1 := partyID(t, e, e.As(auth.RoleHQAdmin), "S-0001")
		so, errs := submit(t, e, sm, "sm-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, map[string]any{"asPartyId": s1})
		require.Empty(t, errs)
		require.Equal(t, "APPROVED", so.Status)
		require.Equal(t, "AUTO_APPROVED", so.Timeline[1].Type)
		require.Equal(t, "S-0001", so.Buyer.Code)
		var d struct {
			Orders struct {
				TotalCount int
				Edges      []struct{ Node struct{ Number string } }
			}
		}
		e.Query(sm, `{ orders(first: 10) { totalCount edges { node { number } } } }`, nil).Decode(t, &d)
		require.Equal(t, 2, d.Orders.TotalCount, "the salesman sees its store's orders")
		e.Query(dist, `query($n: String) { orders(first: 1, filter: {number: $n, statuses: [APPROVED]}) { totalCount edges { node { number } } } }`,
			map[string]any{"n": strings.ToLower(so.Number[3:])}).Decode(t, &d)
		require.Equal(t, 1, d.Orders.TotalCount)
		require.Equal(t, so.Number, d.Orders.Edges[0].Node.Number)
	})
}

func TestOrderChangeRepricesAndRechecks(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, ops := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleSalesOps)
		ids := cartSKUs(t, e, dist, "PH01-2-1", "PH01-1-1", "CB01-1")
		o, errs := submit(t, e, dist, "chg-1", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, errs)
		_, errs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, errs)

		_, errs = act(t, e, dist, "orderChangeRequest", o.ID, map[string]any{"lines": []map[string]any{{"skuId": ids["PH01-1-1"], "qty": 1}}})
		require.Equal(t, []orderErr{{Code: "INSUFFICIENT_STOCK", Field: []string{"lines", "0", "qty"}}}, errs)

		ch, errs := act(t, e, dist, "orderChangeRequest", o.ID, map[string]any{"lines": []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 2}, {"skuId": ids["CB01-1"], "qty": 20}},
			"deliveryAddress": map[string]any{"province": "浙江省", "city": "杭州市", "district": "滨江区", "street": "江南大道 1 号"}})
		require.Empty(t, errs)
		require.Equal(t, "SUBMITTED", ch.Status, "a changed order goes back for approval")
		require.Len(t, ch.Lines, 2)
		require.NotEqual(t, o.Total.Amount, ch.Total.Amount)
		require.Equal(t, ch.Total.Amount, ch.CreditReserved.Amount)
		require.Equal(t, ch.Total.Amount, creditOf(t, e, dist, nil).Reserved.Amount, "the old reservation was released, the new one taken")
		qty := map[string]int{}
		for _, r := range ch.Reservations {
			qty[r.Sku.Code] += r.Qty
		}
		require.Equal(t, map[string]int{"PH01-2-1": 2, "CB01-1": 20}, qty)
		require.Equal(t, "CHANGED", ch.Timeline[len(ch.Timeline)-1].Type)
		account, held, ledger := creditBooks(t, e)
		require.Equal(t, account, held)
		require.Equal(t, account, ledger)
	})
}

// A console retry of a limit request with its key files one request.
func TestCreditLimitRequestIdempotent(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		fin := e.As(auth.RoleFinance)
		d1 := partyID(t, e, e.As(auth.RoleHQAdmin), "D-0001")
		req := func(limit, key string) (string, []string) {
			var d struct {
				CreditLimitChangeRequest struct {
					Request *struct{ ID string }
					Errors  []struct{ Code string }
				}
			}
			e.Query(fin, `mutation($b: ID!, $l: Decimal!, $k: String) { creditLimitChangeRequest(input: {buyerId: $b, newLimit: $l, reason: "growth", idempotencyKey: $k}) { request { id } errors { code } } }`,
				map[string]any{"b": d1, "l": limit, "k": key}).Decode(t, &d)
			var codes []string
			for _, er := range d.CreditLimitChangeRequest.Errors {
				codes = append(codes, er.Code)
			}
			if d.CreditLimitChangeRequest.Request == nil {
				return "", codes
			}
			return d.CreditLimitChangeRequest.Request.ID, codes
		}
		first, codes := req("800000.00", "lim-1")
		require.Empty(t, codes)
		again, codes := req("800000.00", "lim-1")
		require.Empty(t, codes)
		require.Equal(t, first, again, "a retry returns the first request")
		_, codes = req("900000.00", "lim-1")
		require.Equal(t, []string{"IDEMPOTENCY_KEY_REUSED"}, codes)
		var n int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM credit_limit_requests`).Scan(context.Background(), &n))
		require.Equal(t, 1, n)
	})
}
