package graph_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"
	"pgregory.net/rapid"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// TestOrderPropertyInvariants drives random sequences of order and credit
// actions through the real HTTP handler and, after every step, checks the
// books in the database: stock reservations, the credit line, the ledger,
// closed orders, the timeline and the outbox agree with each other.
//
// One server per backend serves all checks. Each check starts by cancelling
// whatever the previous one left open (itself a checked step) and putting the
// policy and the auto-approval rule back, so a check sees the seed's stock and
// a D-0001 line with a 10,000.00 limit that a handful of phones fill.
// The number of checks is rapid's (-rapid.checks, default 100; -short: 20).
func TestOrderPropertyInvariants(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		w := newOrderWorld(t, e)
		rapid.Check(t, w.check)
	})
}

// orderWorld is the server, its users and what the checks share.
type orderWorld struct {
	t                  *testing.T
	e                  *apitest.Env
	dist, ops, fin, hq string // tokens
	buyerGID           string // D-0001 as a GraphQL ID
	buyerID, sellerID  string // D-0001 and HQ as database ids
	skus               []propSKU
	seq                int    // idempotency keys, unique across checks
	policy             string // the line's policy as the last check left it
	autoOn             bool   // the auto-approval rule is on
	trace              []string
}

type propSKU struct {
	ID, Code         string
	PackSize, MinQty int
	Availability     *string
}

// propOrder is what a check knows of one of its orders.
type propOrder struct {
	ID, Number, Status string
	key                string
	lines              []map[string]any
}

// The statuses from which each action may start (order.transitions).
var propAllowed = map[string][]string{
	"orderApprove":       {"SUBMITTED"},
	"orderReject":        {"SUBMITTED", "CREDIT_HOLD"},
	"orderCancel":        {"SUBMITTED", "CREDIT_HOLD", "APPROVED"},
	"orderChangeRequest": {"SUBMITTED", "CREDIT_HOLD", "APPROVED"},
	"orderCreditRelease": {"CREDIT_HOLD"},
}

// The business errors each action may answer in this world; anything else fails.
var propExpected = map[string][]string{
	"orderSubmit":        {"INSUFFICIENT_STOCK", "CREDIT_LIMIT_EXCEEDED", "PROMOTION_CHANGED"},
	"orderApprove":       {"INVALID_TRANSITION"},
	"orderReject":        {"INVALID_TRANSITION"},
	"orderCancel":        {"INVALID_TRANSITION"},
	"orderChangeRequest": {"INVALID_TRANSITION", "INSUFFICIENT_STOCK", "CREDIT_LIMIT_EXCEEDED", "PROMOTION_CHANGED"},
	"orderCreditRelease": {"INVALID_TRANSITION", "CREDIT_LIMIT_EXCEEDED"},
}

const propLimit = "10000.00"

func newOrderWorld(t *testing.T, e *apitest.Env) *orderWorld {
	w := &orderWorld{t: t, e: e, policy: "HOLD",
		dist: e.As(auth.RoleDistributorAdmin), ops: e.As(auth.RoleSalesOps), fin: e.As(auth.RoleFinance), hq: e.As(auth.RoleHQAdmin)}
	// A failure through t (a top-level error inside submit or act) stops the
	// test outside rapid's reporting: name the sequence that led there.
	t.Cleanup(func() {
		if t.Failed() && len(w.trace) > 0 {
			t.Logf("the last check's steps:\n  %s", strings.Join(w.trace, "\n  "))
		}
	})

	var v struct {
		Viewer struct{ Party struct{ ID, Code string } }
	}
	e.Query(w.dist, `{ viewer { party { id code } } }`, nil).Decode(t, &v)
	require.Equal(t, "D-0001", v.Viewer.Party.Code)
	w.buyerGID = v.Viewer.Party.ID
	w.buyerID = w.partyID("D-0001")
	w.sellerID = w.partyID("HQ-ZJ")

	// The catalogue once: the SKUs of two 5G phones, a 4G phone, the gift
	// earphone and a cable, with every availability grade among them.
	after := (*string)(nil)
	for {
		var d struct {
			Catalog struct {
				Edges []struct {
					Node struct {
						ID, Code              string
						PackSize, MinOrderQty int
						OnShelf               bool
						Availability          *string
					}
				}
				PageInfo struct {
					HasNextPage bool
					EndCursor   *string
				}
			}
		}
		r := e.Query(w.dist, `query($after: String) { catalog(first: 100, after: $after) {
			edges { node { id code packSize minOrderQty onShelf availability } }
			pageInfo { hasNextPage endCursor } } }`, map[string]any{"after": after})
		require.Empty(t, r.Errors)
		r.Decode(t, &d)
		for _, ed := range d.Catalog.Edges {
			n := ed.Node
			if !n.OnShelf || !hasAnyPrefix(n.Code, "PH01-", "PH02-", "PL01-", "EP01-1", "CB01-1") {
				continue
			}
			w.skus = append(w.skus, propSKU{ID: n.ID, Code: n.Code, PackSize: n.PackSize, MinQty: n.MinOrderQty, Availability: n.Availability})
		}
		if !d.Catalog.PageInfo.HasNextPage {
			break
		}
		after = d.Catalog.PageInfo.EndCursor
	}
	require.GreaterOrEqual(t, len(w.skus), 10, "the demo catalogue")
	grades := map[string]bool{}
	for _, s := range w.skus {
		require.Positive(t, s.PackSize, s.Code)
		if s.Availability != nil {
			grades[*s.Availability] = true
		}
	}
	require.Len(t, grades, 3, "IN_STOCK, LOW and OUT all occur: %v", grades)

	// A line that a few phones fill, so CREDIT_HOLD and releases happen.
	var req struct {
		CreditLimitChangeRequest struct {
			Request *struct{ ID string }
			Errors  []struct{ Code string }
		}
	}
	r := e.Query(w.fin, `mutation($in: CreditLimitChangeInput!) { creditLimitChangeRequest(input: $in) { request { id } errors { code } } }`,
		map[string]any{"in": map[string]any{"buyerId": w.buyerGID, "newLimit": propLimit, "reason": "property test"}})
	require.Empty(t, r.Errors)
	r.Decode(t, &req)
	require.Empty(t, req.CreditLimitChangeRequest.Errors)
	var dec struct {
		CreditLimitChangeApprove struct {
			Request *struct{ Status string }
			Errors  []struct{ Code string }
		}
	}
	r = e.Query(w.hq, `mutation($id: ID!) { creditLimitChangeApprove(id: $id, input: {reason: "ok"}) { request { status } errors { code } } }`,
		map[string]any{"id": req.CreditLimitChangeRequest.Request.ID})
	require.Empty(t, r.Errors)
	r.Decode(t, &dec)
	require.Empty(t, dec.CreditLimitChangeApprove.Errors)
	require.Equal(t, propLimit, creditOf(t, e, w.dist, nil).Limit.Amount)
	return w
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (w *orderWorld) partyID(code string) string {
	var id string
	require.NoError(w.t, w.e.Server.DB.NewRaw(`SELECT id FROM parties WHERE code = ?`, code).Scan(context.Background(), &id))
	return strings.ToLower(id)
}

func (w *orderWorld) key() string {
	w.seq++
	return "prop-" + strconv.Itoa(w.seq)
}

// check is one random sequence of at most 12 actions.
func (w *orderWorld) check(rt *rapid.T) {
	w.trace = w.trace[:0]
	step := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		w.trace = append(w.trace, s)
		rt.Log(s)
	}
	w.reset(rt, step)

	var orders []*propOrder
	// pick draws one of the check's orders; half the time one whose status allows
	// the action (when there is one), so that the happy paths get walked too.
	pick := func(action string) *propOrder {
		if len(orders) == 0 {
			return nil
		}
		from := orders
		if fit := slices.DeleteFunc(slices.Clone(orders), func(o *propOrder) bool {
			return !slices.Contains(propAllowed[action], o.Status)
		}); len(fit) > 0 && rapid.Bool().Draw(rt, "fitting") {
			from = fit
		}
		return from[rapid.IntRange(0, len(from)-1).Draw(rt, "order")]
	}
	genLines := func() []map[string]any {
		n := rapid.IntRange(1, 4).Draw(rt, "lines")
		out := make([]map[string]any, n)
		for i := range out {
			s := w.skus[rapid.IntRange(0, len(w.skus)-1).Draw(rt, "sku")]
			packs := rapid.IntRange(0, 5).Draw(rt, "packs")
			out[i] = map[string]any{"skuId": s.ID, "qty": s.MinQty + packs*s.PackSize}
		}
		return out
	}
	describe := func(lines []map[string]any) string {
		parts := make([]string, len(lines))
		for i, l := range lines {
			code := ""
			for _, s := range w.skus {
				if s.ID == l["skuId"] {
					code = s.Code
				}
			}
			parts[i] = fmt.Sprintf("%s×%d", code, l["qty"])
		}
		return strings.Join(parts, ", ")
	}
	// outcome checks an action's answer against the model and records the order's new status.
	outcome := func(action string, o *propOrder, got *orderView, errs []orderErr) {
		from := ""
		if o != nil {
			from = o.Status
		}
		if len(errs) > 0 {
			require.Nil(rt, got, "%s: an order beside errors", action)
			for _, er := range errs {
				require.Contains(rt, propExpected[action], er.Code, "%s from %s: %+v", action, from, errs)
			}
			if o != nil {
				allowed := slices.Contains(propAllowed[action], o.Status)
				invalid := slices.ContainsFunc(errs, func(er orderErr) bool { return er.Code == "INVALID_TRANSITION" })
				require.Equal(rt, !allowed, invalid, "%s from %s answered %+v", action, o.Status, errs)
			}
			step("  → %v", errs)
			return
		}
		require.NotNil(rt, got, "%s: neither order nor errors", action)
		if o != nil {
			require.Contains(rt, propAllowed[action], o.Status, "%s succeeded from %s", action, o.Status)
			require.Equal(rt, o.ID, got.ID)
		}
		want := map[string][]string{
			"orderSubmit":        {"SUBMITTED", "CREDIT_HOLD", "APPROVED"},
			"orderApprove":       {"APPROVED"},
			"orderReject":        {"REJECTED"},
			"orderCancel":        {"CANCELLED"},
			"orderChangeRequest": {"SUBMITTED", "CREDIT_HOLD", "APPROVED"},
			"orderCreditRelease": {"SUBMITTED"},
		}[action]
		require.Contains(rt, want, got.Status, "%s from %q", action, from)
		if got.Status == "CREDIT_HOLD" {
			require.Equal(rt, "0.00", got.CreditReserved.Amount, "%s: a held order holds no credit", got.Number)
		} else if got.Status == "SUBMITTED" || got.Status == "APPROVED" {
			require.Equal(rt, got.Total.Amount, got.CreditReserved.Amount, "%s: an open order holds its total", got.Number)
		}
		if o != nil {
			o.Status = got.Status
		}
		step("  → %s %s total %s credit %s", got.Number, got.Status, got.Total.Amount, got.CreditReserved.Amount)
	}

	n := rapid.IntRange(1, 12).Draw(rt, "steps")
	for i := 0; i < n; i++ {
		switch a := rapid.SampledFrom([]string{"submit", "submit", "submit", "resubmit", "approve", "reject", "cancel", "change",
			"release", "release", "policy", "auto"}).Draw(rt, "action"); a {
		case "submit":
			lines := genLines()
			k := w.key()
			step("submit %s [%s]", k, describe(lines))
			got, errs := submit(w.t, w.e, w.dist, k, lines, nil)
			outcome("orderSubmit", nil, got, errs)
			if got != nil {
				orders = append(orders, &propOrder{ID: got.ID, Number: got.Number, Status: got.Status, key: k, lines: lines})
			}
		case "resubmit": // a phone retrying its first request: the order comes back as it is now, nothing new is held
			o := pick("")
			if o == nil {
				continue
			}
			step("resubmit %s (%s)", o.key, o.Number)
			got, errs := submit(w.t, w.e, w.dist, o.key, o.lines, nil)
			require.Empty(rt, errs, "a retry answers the first order")
			require.Equal(rt, o.ID, got.ID)
			require.Equal(rt, o.Status, got.Status)
		case "approve", "reject", "cancel", "release", "change":
			field := map[string]string{"approve": "orderApprove", "reject": "orderReject", "cancel": "orderCancel",
				"release": "orderCreditRelease", "change": "orderChangeRequest"}[a]
			o := pick(field)
			if o == nil {
				continue
			}
			var (
				token string
				in    map[string]any
			)
			switch a {
			case "approve":
				token, in = w.ops, map[string]any{"reason": "ok"}
			case "reject":
				token, in = w.ops, map[string]any{"reason": "no"}
			case "cancel":
				token, in = w.dist, map[string]any{}
			case "release":
				override := rapid.Bool().Draw(rt, "override")
				token, in = w.fin, map[string]any{"override": override, "reason": "paid"}
			case "change":
				lines := genLines()
				token, in = w.dist, map[string]any{"lines": lines}
				a += " [" + describe(lines) + "]"
			}
			step("%s %s (%s) %v", a, o.Number, o.Status, in["override"])
			got, errs := act(w.t, w.e, token, field, o.ID, in)
			outcome(field, o, got, errs)
		case "policy":
			p := rapid.SampledFrom([]string{"HOLD", "BLOCK", "WARN"}).Draw(rt, "policy")
			tol := rapid.SampledFrom([]int{0, 10, 50}).Draw(rt, "tolerance")
			step("policy %s %d%%", p, tol)
			w.setPolicy(rt, p, tol)
		case "auto":
			max := rapid.SampledFrom([]any{nil, "0.00", "5000.00", "30000.00"}).Draw(rt, "autoMax")
			step("auto-approval %v", max)
			w.setAuto(rt, max)
		}
		w.invariants(rt, orders)
	}
	// The API's figure is the database's.
	var reserved int64
	require.NoError(rt, w.e.Server.DB.NewRaw(`SELECT reserved FROM credit_accounts WHERE buyer_party_id = ? AND seller_party_id = ?`,
		w.buyerID, w.sellerID).Scan(context.Background(), &reserved))
	require.Equal(rt, fmtFen(reserved), creditOf(w.t, w.e, w.dist, nil).Reserved.Amount)
}

// reset cancels the orders a previous check left open and puts the policy and
// auto-approval back to the seed's HOLD and off.
func (w *orderWorld) reset(rt *rapid.T, step func(string, ...any)) {
	var open []struct {
		ID     string `bun:"id"`
		Number string `bun:"number"`
		Status string `bun:"status"`
	}
	require.NoError(rt, w.e.Server.DB.NewRaw(`SELECT id, number, status FROM orders WHERE buyer_party_id = ? AND status IN ('SUBMITTED', 'CREDIT_HOLD', 'APPROVED') ORDER BY number`,
		w.buyerID).Scan(context.Background(), &open))
	for _, o := range open {
		step("reset: cancel %s (%s)", o.Number, o.Status)
		got, errs := act(w.t, w.e, w.dist, "orderCancel", "Order:"+strings.ToLower(o.ID), map[string]any{})
		require.Empty(rt, errs, o.Number)
		require.Equal(rt, "CANCELLED", got.Status)
	}
	if w.policy != "HOLD" {
		w.setPolicy(rt, "HOLD", 0)
	}
	if w.autoOn {
		w.setAuto(rt, nil)
	}
	w.invariants(rt, nil)
}

func (w *orderWorld) setPolicy(rt *rapid.T, policy string, tol int) {
	var d struct {
		CreditPolicySet struct {
			Credit *struct{ Policy string }
			Errors []struct{ Code string }
		}
	}
	r := w.e.Query(w.fin, `mutation($in: CreditPolicyInput!) { creditPolicySet(input: $in) { credit { policy } errors { code } } }`,
		map[string]any{"in": map[string]any{"buyerId": w.buyerGID, "policy": policy, "tolerancePercent": tol, "reason": "property test"}})
	require.Empty(rt, r.Errors)
	r.Decode(w.t, &d)
	require.Empty(rt, d.CreditPolicySet.Errors)
	require.Equal(rt, policy, d.CreditPolicySet.Credit.Policy)
	w.policy = policy
}

func (w *orderWorld) setAuto(rt *rapid.T, max any) {
	var d struct {
		OrderAutoApprovalSet struct {
			MaxTotal *struct{ Amount string }
			Errors   []struct{ Code string }
		}
	}
	r := w.e.Query(w.ops, `mutation($in: OrderAutoApprovalInput!) { orderAutoApprovalSet(input: $in) { maxTotal { amount } errors { code } } }`,
		map[string]any{"in": map[string]any{"maxTotal": max, "reason": "property test"}})
	require.Empty(rt, r.Errors)
	r.Decode(w.t, &d)
	require.Empty(rt, d.OrderAutoApprovalSet.Errors)
	require.Equal(rt, max == nil, d.OrderAutoApprovalSet.MaxTotal == nil)
	w.autoOn = max != nil
}

// invariants reads the books straight from the database, in six queries
// that answer only violations where they can, so a step stays cheap.
func (w *orderWorld) invariants(rt *rapid.T, orders []*propOrder) {
	ctx := context.Background()
	db := w.e.Server.DB

	// (b) the line's reserved = what the buyer's orders hold = the RESERVED ledger;
	// (a) no reservation points at no stock level; (g) the gift pool has given
	// exactly the gift units of the orders still standing.
	var sums struct {
		Account int64 `bun:"account"`
		Orders  int64 `bun:"orders"`
		Ledger  int64 `bun:"ledger"`
		Orphans int64 `bun:"orphans"`
		Given   int64 `bun:"given"`
		GiftQty int64 `bun:"gift_qty"`
	}
	require.NoError(rt, db.NewRaw(`SELECT
		(SELECT reserved FROM credit_accounts WHERE buyer_party_id = ? AND seller_party_id = ?) AS account,
		(SELECT COALESCE(SUM(credit_reserved), 0) FROM orders WHERE buyer_party_id = ? AND seller_party_id = ?) AS orders,
		(SELECT COALESCE(SUM(amount), 0) FROM credit_entries WHERE buyer_party_id = ? AND seller_party_id = ? AND fund = 'RESERVED') AS ledger,
		(SELECT COUNT(*) FROM order_reservations r
			WHERE NOT EXISTS (SELECT 1 FROM stock_levels sl WHERE sl.warehouse_id = r.warehouse_id AND sl.sku_id = r.sku_id)) AS orphans,
		(SELECT COALESCE(SUM(gifts_given), 0) FROM promotions) AS given,
		(SELECT COALESCE(SUM(l.qty), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id
			WHERE l.gift AND o.status NOT IN ('CANCELLED', 'REJECTED')) AS gift_qty`,
		w.buyerID, w.sellerID, w.buyerID, w.sellerID, w.buyerID, w.sellerID).Scan(ctx, &sums))
	require.Equal(rt, sums.Orders, sums.Account, "(b) credit_accounts.reserved vs SUM(orders.credit_reserved)")
	require.Equal(rt, sums.Ledger, sums.Account, "(b) credit_accounts.reserved vs SUM(RESERVED ledger entries)")
	require.Zero(rt, sums.Orphans, "(a) reservations without a stock level")
	require.Equal(rt, sums.GiftQty, sums.Given, "(g) promotions.gifts_given vs the gift lines of standing orders")

	// (a) every stock level holds what the reservations against it say.
	var levels []struct {
		WarehouseID string `bun:"warehouse_id"`
		SKUID       string `bun:"sku_id"`
		Reserved    int64  `bun:"reserved"`
		Held        int64  `bun:"held"`
	}
	require.NoError(rt, db.NewRaw(`SELECT * FROM (SELECT sl.warehouse_id, sl.sku_id, sl.reserved,
		COALESCE((SELECT SUM(r.qty) FROM order_reservations r WHERE r.warehouse_id = sl.warehouse_id AND r.sku_id = sl.sku_id), 0) AS held
		FROM stock_levels sl) x WHERE reserved <> held`).Scan(ctx, &levels))
	for _, l := range levels {
		require.Equal(rt, l.Held, l.Reserved, "(a) stock level %s/%s: reserved vs the orders' reservations", l.WarehouseID, l.SKUID)
	}

	// (c) cancelled and rejected orders hold no credit and no stock; (e), beyond
	// the brief: SUBMITTED and APPROVED orders hold their total on the line,
	// CREDIT_HOLD orders none.
	var bad []struct {
		Number         string `bun:"number"`
		Status         string `bun:"status"`
		Total          int64  `bun:"total"`
		CreditReserved int64  `bun:"credit_reserved"`
		Held           int64  `bun:"held"`
	}
	require.NoError(rt, db.NewRaw(`SELECT o.number, o.status, o.total, o.credit_reserved,
		(SELECT COUNT(*) FROM order_reservations r WHERE r.order_id = o.id) AS held
		FROM orders o WHERE (o.status IN ('CANCELLED', 'REJECTED')
			AND (o.credit_reserved <> 0 OR EXISTS (SELECT 1 FROM order_reservations r WHERE r.order_id = o.id)))
		OR (o.status IN ('SUBMITTED', 'APPROVED') AND o.credit_reserved <> o.total)
		OR (o.status = 'CREDIT_HOLD' AND o.credit_reserved <> 0)`).Scan(ctx, &bad))
	for _, o := range bad {
		if o.Status == "CANCELLED" || o.Status == "REJECTED" {
			rt.Fatalf("(c) %s is %s and still holds credit %d and %d reservations", o.Number, o.Status, o.CreditReserved, o.Held)
		}
		rt.Fatalf("(e) %s is %s with total %d but holds credit %d", o.Number, o.Status, o.Total, o.CreditReserved)
	}

	// (d) every order has timeline rows and outbox events, one outbox event per timeline step.
	var trail []struct {
		Number string `bun:"number"`
		Events int64  `bun:"events"`
		Outbox int64  `bun:"outbox"`
	}
	require.NoError(rt, db.NewRaw(`SELECT o.number, COALESCE(ev.n, 0) AS events, COALESCE(ob.n, 0) AS outbox FROM orders o
		LEFT JOIN (SELECT order_id, COUNT(*) AS n FROM order_events GROUP BY order_id) ev ON ev.order_id = o.id
		LEFT JOIN (SELECT aggregate_id, COUNT(*) AS n FROM outbox_events WHERE aggregate_type = 'Order' GROUP BY aggregate_id) ob
			ON ob.aggregate_id = CAST(o.id AS TEXT)
		WHERE ev.n IS NULL OR ob.n IS NULL OR ev.n <> ob.n`).Scan(ctx, &trail))
	for _, o := range trail {
		require.Positive(rt, o.Events, "(d) %s has no order_events", o.Number)
		require.Positive(rt, o.Outbox, "(d) %s has no outbox_events", o.Number)
		require.Equal(rt, o.Events, o.Outbox, "(d) %s: timeline steps vs outbox events", o.Number)
	}

	// (f), beyond the brief: an open, unshipped order holds exactly its lines'
	// units of each SKU, gift lines included.
	var stock []struct {
		Number string `bun:"number"`
		SKUID  string `bun:"sku_id"`
		Lines  int64  `bun:"lines"`
		Held   int64  `bun:"held"`
	}
	require.NoError(rt, db.NewRaw(`SELECT * FROM (SELECT o.number, k.sku_id,
		COALESCE((SELECT SUM(l.qty) FROM order_lines l WHERE l.order_id = o.id AND l.sku_id = k.sku_id), 0) AS lines,
		COALESCE((SELECT SUM(r.qty) FROM order_reservations r WHERE r.order_id = o.id AND r.sku_id = k.sku_id), 0) AS held
		FROM orders o JOIN (SELECT order_id, sku_id FROM order_lines UNION SELECT order_id, sku_id FROM order_reservations) k ON k.order_id = o.id
		WHERE o.status IN ('SUBMITTED', 'CREDIT_HOLD', 'APPROVED')) x WHERE lines <> held`).Scan(ctx, &stock))
	for _, s := range stock {
		require.Equal(rt, s.Lines, s.Held, "(f) %s SKU %s: ordered units vs reserved units", s.Number, s.SKUID)
	}

	// (h), beyond the brief: for the check's orders, the status the API last
	// answered is the row's and the timeline's last step.
	if len(orders) == 0 {
		return
	}
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = strings.TrimPrefix(o.ID, "Order:")
	}
	var rows []struct {
		ID     string `bun:"id"`
		Status string `bun:"status"`
		Last   string `bun:"last"`
	}
	require.NoError(rt, db.NewRaw(`SELECT CAST(o.id AS TEXT) AS id, o.status,
		COALESCE((SELECT ev.to_status FROM order_events ev WHERE ev.order_id = o.id ORDER BY ev.created_at DESC, ev.id DESC LIMIT 1), '') AS last
		FROM orders o WHERE o.id IN (?)`, bun.List(ids)).Scan(ctx, &rows))
	require.Len(rt, rows, len(orders))
	byID := map[string]int{}
	for i, r := range rows {
		byID[strings.ToLower(r.ID)] = i
	}
	for _, o := range orders {
		i, ok := byID[strings.TrimPrefix(o.ID, "Order:")]
		require.True(rt, ok, "(h) %s has no row", o.Number)
		require.Equal(rt, o.Status, rows[i].Status, "(h) %s: the API's status vs the row", o.Number)
		require.Equal(rt, rows[i].Status, rows[i].Last, "(h) %s: the timeline ends elsewhere", o.Number)
	}
}

// fmtFen prints minor units as the API's Decimal does.
func fmtFen(v int64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}
