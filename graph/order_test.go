package graph_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// orderFields is what the order tests read back.
const orderFields = `id number kind status total { amount } creditReserved { amount } creditWarning
	buyer { code } seller { code }
	lines { lineNo qty gift unitPrice { amount } net { amount } sku { code } }
	reservations { warehouseCode qty sku { code } }
	timeline { type fromStatus toStatus reason }
	viewerCanApprove viewerCanCancel viewerCanChange viewerCanReleaseCredit`

type orderView struct {
	ID, Number, Kind, Status string
	Total                    struct{ Amount string }
	CreditReserved           struct{ Amount string }
	CreditWarning            bool
	Buyer, Seller            struct{ Code string }
	Lines                    []struct {
		LineNo, Qty int
		Gift        bool
		UnitPrice   struct{ Amount string }
		Net         struct{ Amount string }
		Sku         struct{ Code string }
	}
	Reservations []struct {
		WarehouseCode string
		Qty           int
		Sku           struct{ Code string }
	}
	Timeline []struct {
		Type, ToStatus, Reason string
		FromStatus             *string
	}
	ViewerCanApprove, ViewerCanCancel, ViewerCanChange, ViewerCanReleaseCredit bool
}

type orderErr struct {
	Code  string
	Field []string
}

// submit places an order with lines {skuId, qty} and returns it or its errors.
func submit(t *testing.T, e *apitest.Env, token, key string, lines []map[string]any, extra map[string]any) (*orderView, []orderErr) {
	t.Helper()
	in := map[string]any{"idempotencyKey": key, "lines": lines}
	for k, v := range extra {
		in[k] = v
	}
	var d struct {
		OrderSubmit struct {
			Order  *orderView
			Errors []orderErr
		}
	}
	r := e.Query(token, `mutation($in: OrderSubmitInput!) { orderSubmit(input: $in) { order { `+orderFields+` } errors { code field } } }`,
		map[string]any{"in": in})
	require.Empty(t, r.Errors, "%s", r.Data)
	r.Decode(t, &d)
	return d.OrderSubmit.Order, d.OrderSubmit.Errors
}

// act runs an order mutation (orderApprove, orderCancel, ...) with input.
func act(t *testing.T, e *apitest.Env, token, field, id string, input map[string]any) (*orderView, []orderErr) {
	t.Helper()
	typ := map[string]string{"orderApprove": "OrderDecisionInput", "orderReject": "OrderDecisionInput", "orderCancel": "OrderDecisionInput",
		"orderCreditRelease": "OrderCreditReleaseInput", "orderChangeRequest": "OrderChangeInput"}[field]
	var d map[string]struct {
		Order  *orderView
		Errors []orderErr
	}
	r := e.Query(token, fmt.Sprintf(`mutation($id: ID!, $in: %s!) { %s(id: $id, input: $in) { order { %s } errors { code field } } }`, typ, field, orderFields),
		map[string]any{"id": id, "in": input})
	require.Empty(t, r.Errors, "%s %v", r.Data, r.Errors)
	r.Decode(t, &d)
	return d[field].Order, d[field].Errors
}

type creditView struct {
	Limit, Cash, Receivable, Reserved, Used, Available struct{ Amount string }
	UsePercent                                         int
	Status, Policy                                     string
	ViewerCanManage                                    bool
}

func creditOf(t *testing.T, e *apitest.Env, token string, buyer *string) creditView {
	t.Helper()
	var d struct{ CreditSummary creditView }
	e.Query(token, `query($b: ID) { creditSummary(buyerId: $b) { limit { amount } cash { amount } receivable { amount } reserved { amount }
		used { amount } available { amount } usePercent status policy viewerCanManage } }`, map[string]any{"b": buyer}).Decode(t, &d)
	return d.CreditSummary
}

func TestOrderSubmitApproveCancel(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		dist := e.As(auth.RoleDistributorAdmin)
		ids := cartSKUs(t, e, dist, "PH01-1-1", "PH01-2-1", "CB01-1")
		o, errs := submit(t, e, dist, "k-0", []map[string]any{{"skuId": ids["PH01-1-1"], "qty": 1}}, nil)
		require.Equal(t, []orderErr{{Code: "INSUFFICIENT_STOCK", Field: []string{"lines", "0", "qty"}}}, errs, "HQ holds none of PH01-1-1")
		before := creditOf(t, e, dist, nil)
		require.Equal(t, "500000.00", before.Limit.Amount)

		require.Nil(t, o)
		o, errs = submit(t, e, dist, "k-1", []map[string]any{
			{"skuId": ids["PH01-2-1"], "qty": 2, "unitPrice": "0.01"},
			{"skuId": ids["CB01-1"], "qty": 40},
		}, map[string]any{"note": "  rush  "})
		require.Empty(t, errs)
		require.Regexp(t, `^SO-20\d\d-\d{6}$`, o.Number)
		require.Equal(t, "SELL_IN", o.Kind)
		require.Equal(t, "SUBMITTED", o.Status)
		require.Equal(t, "D-0001", o.Buyer.Code)
		require.Equal(t, "HQ-ZJ", o.Seller.Code)
		require.Equal(t, o.Total.Amount, o.CreditReserved.Amount)
		require.NotEqual(t, "0.01", o.Lines[0].UnitPrice.Amount, "the client's price is ignored")
		require.Len(t, o.Reservations, 2)
		require.Equal(t, "HQ-WH1", o.Reservations[0].WarehouseCode)
		require.False(t, o.ViewerCanApprove, "a buyer cannot approve its own order")
		require.True(t, o.ViewerCanCancel)

		after := creditOf(t, e, dist, nil)
		require.Equal(t, o.Total.Amount, after.Reserved.Amount)

		// a retry returns the same order; the same key with another body is refused
		again, errs := submit(t, e, dist, "k-1", []map[string]any{
			{"skuId": ids["PH01-2-1"], "qty": 2, "unitPrice": "0.01"},
			{"skuId": ids["CB01-1"], "qty": 40},
		}, map[string]any{"note": "  rush  "})
		require.Empty(t, errs)
		require.Equal(t, o.ID, again.ID)
		_, errs = submit(t, e, dist, "k-1", []map[string]any{{"skuId": ids["CB01-1"], "qty": 40}}, nil)
		require.Equal(t, []orderErr{{Code: "IDEMPOTENCY_KEY_REUSED", Field: []string{"idempotencyKey"}}}, errs)

		ops := e.As(auth.RoleSalesOps)
		_, errs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": ""})
		require.Equal(t, "REASON_REQUIRED", errs[0].Code)
		ap, errs := act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, errs)
		require.Equal(t, "APPROVED", ap.Status)
		require.Len(t, ap.Timeline, 2)

		// another distributor cannot see it; a distributor cannot approve
		other := e.Login("13800000002", auth.AppDistributor).AccessToken
		r := e.Query(other, `query($id: ID!) { order(id: $id) { id } }`, map[string]any{"id": o.ID})
		require.Equal(t, []string{"NOT_FOUND"}, r.Codes())

		c, errs := act(t, e, dist, "orderCancel", o.ID, map[string]any{})
		require.Empty(t, errs)
		require.Equal(t, "CANCELLED", c.Status)
		require.Empty(t, c.Reservations)
		require.Equal(t, "0.00", c.CreditReserved.Amount)
		require.Equal(t, "0.00", creditOf(t, e, dist, nil).Reserved.Amount)

		_, errs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "late"})
		require.Equal(t, "INVALID_TRANSITION", errs[0].Code, "a cancelled order cannot be approved")
	})
}
