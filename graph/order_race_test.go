package graph_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/graph/model"
	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// setCredit gives buyer a new limit (finance asks, the HQ admin approves) and a policy.
func setCredit(t *testing.T, e *apitest.Env, buyer, limit, policy string) {
	t.Helper()
	fin, adm := e.As(auth.RoleFinance), e.As(auth.RoleHQAdmin)
	var req struct {
		CreditLimitChangeRequest struct {
			Request *struct{ ID string }
			Errors  []orderErr
		}
	}
	e.Query(fin, `mutation($b: ID!, $l: Decimal!) { creditLimitChangeRequest(input: {buyerId: $b, newLimit: $l, reason: "test"}) { request { id } errors { code } } }`,
		map[string]any{"b": buyer, "l": limit}).Decode(t, &req)
	require.NotNil(t, req.CreditLimitChangeRequest.Request, "%v", req.CreditLimitChangeRequest.Errors)
	r := e.Query(adm, `mutation($id: ID!) { creditLimitChangeApprove(id: $id, input: {reason: "ok"}) { request { status } errors { code } } }`,
		map[string]any{"id": req.CreditLimitChangeRequest.Request.ID})
	require.JSONEq(t, `{"creditLimitChangeApprove":{"request":{"status":"APPROVED"},"errors":[]}}`, string(r.Data))
	r = e.Query(fin, `mutation($b: ID!, $p: CreditPolicy!) { creditPolicySet(input: {buyerId: $b, policy: $p, reason: "test"}) { credit { policy } errors { code } } }`,
		map[string]any{"b": buyer, "p": policy})
	require.JSONEq(t, fmt.Sprintf(`{"creditPolicySet":{"credit":{"policy":%q},"errors":[]}}`, policy), string(r.Data))
}

// race runs n submits of lines at once, each with its own key unless key is
// set, and returns the orders and the error codes.
func race(t *testing.T, e *apitest.Env, token string, n int, key string, lines []map[string]any) ([]*orderView, []string) {
	t.Helper()
	var mu sync.Mutex
	var orders []*orderView
	var codes []string
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k := key
			if k == "" {
				k = fmt.Sprintf("race-%d", i)
			}
			o, errs := submit(t, e, token, k, lines, nil)
			mu.Lock()
			defer mu.Unlock()
			if o != nil {
				orders = append(orders, o)
			}
			for _, er := range errs {
				codes = append(codes, er.Code)
			}
		})
	}
	wg.Wait()
	return orders, codes
}

// creditBooks reads the account of D-0001 with HQ and its sums: what the
// account says is reserved, what open orders hold, and what the ledger adds up to.
func creditBooks(t *testing.T, e *apitest.Env) (account, orders, ledger int64) {
	t.Helper()
	ctx, db := context.Background(), e.Server.DB
	err := db.NewRaw(`SELECT ca.reserved FROM credit_accounts ca JOIN parties b ON b.id = ca.buyer_party_id JOIN parties s ON s.id = ca.seller_party_id
		WHERE b.code = 'D-0001' AND s.code = 'HQ-ZJ'`).Scan(ctx, &account)
	require.NoError(t, err)
	require.NoError(t, db.NewRaw(`SELECT COALESCE(SUM(o.credit_reserved), 0) FROM orders o JOIN parties b ON b.id = o.buyer_party_id WHERE b.code = 'D-0001'`).Scan(ctx, &orders))
	require.NoError(t, db.NewRaw(`SELECT COALESCE(SUM(ce.amount), 0) FROM credit_entries ce JOIN parties b ON b.id = ce.buyer_party_id
		WHERE b.code = 'D-0001' AND ce.fund = 'RESERVED'`).Scan(ctx, &ledger))
	return account, orders, ledger
}

// One order's total is measured by placing it and cancelling it; then the
// line is set to cover exactly ten and fifty race for it.
func TestOrderCreditRace(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"BLOCK", "HOLD"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
				dist := e.As(auth.RoleDistributorAdmin)
				ids := cartSKUs(t, e, dist, "PH01-2-1")
				lines := []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}
				probe, errs := submit(t, e, dist, "probe", lines, nil)
				require.Empty(t, errs)
				_, errs = act(t, e, dist, "orderCancel", probe.ID, map[string]any{})
				require.Empty(t, errs)
				one, err := model.ParseMinor(probe.Total.Amount)
				require.NoError(t, err)
				setCredit(t, e, partyID(t, e, e.As(auth.RoleHQAdmin), "D-0001"), model.FormatMinor(10*one), policy)

				orders, codes := race(t, e, dist, 50, "", lines)
				require.Len(t, orders, map[string]int{"BLOCK": 10, "HOLD": 50}[policy], "codes %v", codes)
				status := map[string]int{}
				for _, o := range orders {
					status[o.Status]++
				}
				if policy == "BLOCK" {
					require.Equal(t, map[string]int{"SUBMITTED": 10}, status)
					require.Len(t, codes, 40)
					for _, c := range codes {
						require.Equal(t, "CREDIT_LIMIT_EXCEEDED", c)
					}
				} else {
					require.Equal(t, map[string]int{"SUBMITTED": 10, "CREDIT_HOLD": 40}, status)
					require.Empty(t, codes)
				}
				account, held, ledger := creditBooks(t, e)
				require.Equal(t, 10*one, account, "exactly ten orders hold credit")
				require.Equal(t, account, held, "the account matches its open orders")
				require.Equal(t, account, ledger, "the account matches its ledger")
				c := creditOf(t, e, dist, nil)
				require.Equal(t, "0.00", c.Available.Amount)
				require.Equal(t, "WATCH", c.Status, "the whole line in use, not over it")
				require.Equal(t, 100, c.UsePercent)
			})
		})
	}
}

// HQ holds exactly 500 earphones; fifty orders of 50 race for them.
func TestOrderStockRace(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, gc := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl)
		ids := cartSKUs(t, e, dist, "EP01-1")
		wh := inventoryWarehouse(t, e, gc)
		var onHand int64
		require.NoError(t, e.Server.DB.NewRaw(`SELECT sl.on_hand FROM stock_levels sl JOIN skus s ON s.id = sl.sku_id JOIN warehouses w ON w.id = sl.warehouse_id
			WHERE s.code = 'EP01-1' AND w.code = 'HQ-WH1'`).Scan(context.Background(), &onHand))
		if onHand != 500 {
			r := e.Query(gc, `mutation($w: ID!, $s: ID!, $d: Int!) { stockAdjust(input: {warehouseId: $w, skuId: $s, delta: $d, reason: "count"}) { errors { code } } }`,
				map[string]any{"w": wh, "s": ids["EP01-1"], "d": 500 - onHand})
			require.JSONEq(t, `{"stockAdjust":{"errors":[]}}`, string(r.Data))
		}

		orders, codes := race(t, e, dist, 50, "", []map[string]any{{"skuId": ids["EP01-1"], "qty": 50}})
		require.Len(t, orders, 10, "codes %v", codes)
		require.Len(t, codes, 40)
		for _, c := range codes {
			require.Equal(t, "INSUFFICIENT_STOCK", c)
		}
		var reserved, held int64
		require.NoError(t, e.Server.DB.NewRaw(`SELECT sl.reserved FROM stock_levels sl JOIN skus s ON s.id = sl.sku_id JOIN warehouses w ON w.id = sl.warehouse_id
			WHERE s.code = 'EP01-1' AND w.code = 'HQ-WH1'`).Scan(context.Background(), &reserved))
		require.NoError(t, e.Server.DB.NewRaw(`SELECT SUM(r.qty) FROM order_reservations r JOIN skus s ON s.id = r.sku_id WHERE s.code = 'EP01-1'`).
			Scan(context.Background(), &held))
		require.EqualValues(t, 500, reserved)
		require.Equal(t, reserved, held)
		account, heldCredit, ledger := creditBooks(t, e)
		require.Equal(t, account, heldCredit)
		require.Equal(t, account, ledger)
	})
}

// Twenty retries of one submit at once make one order, and all see it.
func TestOrderIdempotentRace(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist := e.As(auth.RoleDistributorAdmin)
		ids := cartSKUs(t, e, dist, "PH01-2-1")
		orders, codes := race(t, e, dist, 20, "same-key", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}})
		require.Empty(t, codes)
		require.Len(t, orders, 20)
		for _, o := range orders {
			require.Equal(t, orders[0].ID, o.ID)
			require.Equal(t, orders[0].Number, o.Number)
		}
		var n int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM orders`).Scan(context.Background(), &n))
		require.Equal(t, 1, n)
		account, held, ledger := creditBooks(t, e)
		require.Equal(t, account, held)
		require.Equal(t, account, ledger)
	})
}

// WARN lets an order through within the tolerance, flagged, and refuses one beyond it.
func TestOrderCreditWarnTolerance(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist, fin := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleFinance)
		ids := cartSKUs(t, e, dist, "PH01-2-1")
		lines := []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}
		probe, errs := submit(t, e, dist, "probe", lines, nil)
		require.Empty(t, errs)
		_, errs = act(t, e, dist, "orderCancel", probe.ID, map[string]any{})
		require.Empty(t, errs)
		one, err := model.ParseMinor(probe.Total.Amount)
		require.NoError(t, err)
		d1 := partyID(t, e, e.As(auth.RoleHQAdmin), "D-0001")
		setCredit(t, e, d1, model.FormatMinor(one*100/105), "WARN")
		r := e.Query(fin, `mutation($b: ID!) { creditPolicySet(input: {buyerId: $b, policy: WARN, tolerancePercent: 10, reason: "season"}) { credit { policy } errors { code } } }`,
			map[string]any{"b": d1})
		require.JSONEq(t, `{"creditPolicySet":{"credit":{"policy":"WARN"},"errors":[]}}`, string(r.Data))
		r = e.Query(fin, `mutation($b: ID!) { creditPolicySet(input: {buyerId: $b, policy: WARN, tolerancePercent: 51, reason: "x"}) { credit { policy } errors { code field } } }`,
			map[string]any{"b": d1})
		require.JSONEq(t, `{"creditPolicySet":{"credit":null,"errors":[{"code":"INVALID_INPUT","field":["tolerancePercent"]}]}}`, string(r.Data))

		o, errs := submit(t, e, dist, "warn-1", lines, nil)
		require.Empty(t, errs)
		require.Equal(t, "SUBMITTED", o.Status)
		require.True(t, o.CreditWarning, "within the tolerance only")
		c := creditOf(t, e, dist, nil)
		require.Equal(t, "HOLD", c.Status, "over the line")
		require.True(t, c.UsePercent > 100)
		_, errs = submit(t, e, dist, "warn-2", lines, nil)
		require.Equal(t, "CREDIT_LIMIT_EXCEEDED", errs[0].Code, "beyond the tolerance WARN refuses")

		// BLOCK and HOLD act at the limit itself, whatever tolerance is set.
		_, errs = act(t, e, dist, "orderCancel", o.ID, map[string]any{})
		require.Empty(t, errs)
		for _, c := range []struct{ policy, status, code string }{{"BLOCK", "", "CREDIT_LIMIT_EXCEEDED"}, {"HOLD", "CREDIT_HOLD", ""}} {
			r = e.Query(fin, `mutation($b: ID!, $p: CreditPolicy!) { creditPolicySet(input: {buyerId: $b, policy: $p, tolerancePercent: 10, reason: "season"}) { errors { code } } }`,
				map[string]any{"b": d1, "p": c.policy})
			require.JSONEq(t, `{"creditPolicySet":{"errors":[]}}`, string(r.Data))
			got, errs := submit(t, e, dist, "tol-"+c.policy, lines, nil)
			if c.code != "" {
				require.Equal(t, c.code, errs[0].Code, c.policy)
				continue
			}
			require.Empty(t, errs)
			require.Equal(t, c.status, got.Status, c.policy)
			require.False(t, got.CreditWarning)
		}
	})
}

// Twenty orders race for the last three gifts of a pool: no more gifts are
// given than the pool holds, and the pool's count matches the gift lines of
// the orders that stand.
func TestOrderGiftPoolRace(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx, db := context.Background(), e.Server.DB
		dist := e.As(auth.RoleDistributorAdmin)
		ids := cartSKUs(t, e, dist, "PH01-2-1")
		_, err := db.NewRaw(`UPDATE stock_levels SET on_hand = 100000`).Exec(ctx)
		require.NoError(t, err)
		_, err = db.NewRaw(`UPDATE credit_accounts SET credit_limit = 100000000000`).Exec(ctx)
		require.NoError(t, err)
		_, err = db.NewRaw(`UPDATE promotions SET gifts_given = 497 WHERE kind = 'GIFT'`).Exec(ctx)
		require.NoError(t, err)

		orders, codes := race(t, e, dist, 20, "", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 5}})
		require.Equal(t, 20, len(orders)+len(codes), "codes %v", codes)
		for _, c := range codes {
			require.Equal(t, "PROMOTION_CHANGED", c)
		}
		var given, giftLines int64
		require.NoError(t, db.NewRaw(`SELECT gifts_given FROM promotions WHERE kind = 'GIFT'`).Scan(ctx, &given))
		require.NoError(t, db.NewRaw(`SELECT COALESCE(SUM(qty), 0) FROM order_lines WHERE gift`).Scan(ctx, &giftLines))
		require.LessOrEqual(t, given, int64(500))
		require.Equal(t, given-497, giftLines)
		require.Positive(t, giftLines, "someone got a gift")
		account, held, ledger := creditBooks(t, e)
		require.Equal(t, account, held)
		require.Equal(t, account, ledger)
	})
}
