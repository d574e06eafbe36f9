package graph_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"channelhub/graph/model"
	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

type pricedSKU struct {
	ID, Code         string
	BasePrice        struct{ Amount string }
	Price            *struct{ Amount string }
	PriceExplanation *struct {
		Source        string
		PriceListName *string
		Steps         []struct {
			Kind, Name, Reason string
			Applied            bool
		}
	}
}

func pricingSKU(t *testing.T, e *apitest.Env, token, code string, as string) pricedSKU {
	t.Helper()
	vars := map[string]any{"s": code}
	if as != "" {
		vars["as"] = as
	}
	r := e.Query(token, `query($s: String, $as: ID) { catalog(asPartyId: $as, filter: {search: $s}) { edges { node {
		id code basePrice { amount } price { amount } priceExplanation { source priceListName steps { kind name reason applied } } } } } }`, vars)
	require.Empty(t, r.Errors, "%s", r.Data)
	var d struct {
		Catalog struct{ Edges []struct{ Node pricedSKU } }
	}
	r.Decode(t, &d)
	require.Len(t, d.Catalog.Edges, 1, "%s", r.Data)
	return d.Catalog.Edges[0].Node
}

func pricingPct(t *testing.T, base string, pct int64) string {
	t.Helper()
	minor, err := model.ParseMinor(base)
	require.NoError(t, err)
	return model.FormatMinor((minor*pct/100 + 50) / 100 * 100)
}

func TestPricingPrecedence(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		d1 := e.As(auth.RoleDistributorAdmin)
		d2 := e.Login("13800000002", auth.AppDistributor).AccessToken

		// D-0001 is grade A: the grade list sets its phone prices.
		k := pricingSKU(t, e, d1, "PH01-1-1", "")
		require.Equal(t, pricingPct(t, k.BasePrice.Amount, 92), k.Price.Amount)
		require.Equal(t, "LIST", k.PriceExplanation.Source)
		for _, st := range k.PriceExplanation.Steps {
			require.NotEqual(t, "TARGET_MISMATCH", st.Reason, "rules for others are never shown")
		}

		// D-0002 has a party list: PARTY beats GRADE, and the grade list is OUTRANKED.
		k = pricingSKU(t, e, d2, "PH01-1-1", "")
		require.Equal(t, pricingPct(t, k.BasePrice.Amount, 90), k.Price.Amount)
		reasons := map[string]string{}
		for _, st := range k.PriceExplanation.Steps {
			reasons[st.Name] = st.Reason
		}
		require.Equal(t, "APPLIED", reasons["甬城数码专供价"])
		require.Equal(t, "OUTRANKED", reasons["A 级经销商整机价"])

		// Stores buy from their distributor: S-0001 from D-0001's store list, S-0002 at base (D-0002 keeps no list).
		s1, s2 := partyID(t, e, hq, "S-0001"), partyID(t, e, hq, "S-0002")
		k = pricingSKU(t, e, hq, "PH01-1-1", s1)
		require.Equal(t, pricingPct(t, k.BasePrice.Amount, 98), k.Price.Amount)
		k = pricingSKU(t, e, hq, "PH01-1-1", s2)
		require.Equal(t, k.BasePrice.Amount, k.Price.Amount)
		require.Equal(t, "BASE", k.PriceExplanation.Source)

		// The console view has no buyer, so no price.
		k = pricingSKU(t, e, hq, "PH01-1-1", "")
		require.Nil(t, k.Price)

		// A new party list with higher specificity takes over for D-0001 only.
		d1id := partyID(t, e, hq, "D-0001")
		r := e.Query(hq, `mutation($v: String) { priceListCreate(input: {name: "西湖特价", targetKind: PARTY, targetValue: $v, priority: 5}) { priceList { id } errors { code } } }`,
			map[string]any{"v": d1id[len("Party:"):]})
		var c struct {
			PriceListCreate struct{ PriceList struct{ ID string } }
		}
		r.Decode(t, &c)
		listID := c.PriceListCreate.PriceList.ID
		require.NotEmpty(t, listID, "%s", r.Data)
		r = e.Query(hq, `mutation($id: ID!) { priceListPricesSet(id: $id, input: {rows: [
			{skuCode: "PH01-1-1", price: "1888.00"}, {skuCode: "NOPE", price: "1"}, {skuCode: "PH01-1-2", price: "-1"}]}) {
			okCount results { row errors { code } } priceList { priceCount } errors { code } } }`, map[string]any{"id": listID})
		require.JSONEq(t, `{"priceListPricesSet":{"okCount":1,"results":[{"row":0,"errors":[]},{"row":1,"errors":[{"code":"SKU_NOT_FOUND"}]},
			{"row":2,"errors":[{"code":"NEGATIVE_PRICE"}]}],"priceList":{"priceCount":1},"errors":[]}}`, string(r.Data))
		require.Equal(t, "1888.00", pricingSKU(t, e, d1, "PH01-1-1", "").Price.Amount)
		require.Equal(t, pricingPct(t, k.BasePrice.Amount, 90), pricingSKU(t, e, d2, "PH01-1-1", "").Price.Amount, "D-0002 unaffected")

		// Bad lists are refused with clear codes.
		for in, code := range map[string]string{
			`{name: "x", targetKind: ALL, validFrom: "2026-12-01T00:00:00Z", validTo: "2026-11-01T00:00:00Z"}`: "VALIDITY_ORDER",
			`{name: "x", targetKind: PARTY, targetValue: "nope"}`:                                              "INVALID_TARGET",
			`{name: "", targetKind: ALL}`:                                                                      "INVALID_INPUT",
		} {
			r := e.Query(hq, `mutation { priceListCreate(input: `+in+`) { errors { code } } }`, nil)
			require.JSONEq(t, `{"priceListCreate":{"errors":[{"code":"`+code+`"}]}}`, string(r.Data), in)
		}
		// A distributor may not touch HQ's lists.
		r = e.Query(d1, `mutation($id: ID!) { priceListPricesSet(id: $id, input: {rows: []}) { errors { code } } }`, map[string]any{"id": listID})
		require.JSONEq(t, `{"priceListPricesSet":{"errors":[{"code":"NOT_FOUND"}]}}`, string(r.Data))
	})
}

type cartData struct {
	Cart struct {
		Lines []struct {
			SkuID   string
			Qty     int
			Problem *string
		}
		Quote struct {
			Lines []struct {
				Sku                   struct{ Code string }
				Qty                   int
				Gift                  bool
				Amount, Discount, Net struct{ Amount string }
			}
			OrderDiscounts []struct {
				Name   string
				Amount struct{ Amount string }
			}
			Subtotal, Discount, Total struct{ Amount string }
			Explanation               []struct {
				Kind, Name, Reason string
				Applied            bool
			}
		}
	}
	Errors []struct {
		Index *int
		Code  string
	}
}

const cartFields = `cart { lines { skuId qty problem } quote { lines { sku { code } qty gift amount { amount } discount { amount } net { amount } }
	orderDiscounts { name amount { amount } } subtotal { amount } discount { amount } total { amount }
	explanation { kind name reason applied } } } errors { index code }`

func cartSKUs(t *testing.T, e *apitest.Env, token string, codes ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range codes {
		var d struct {
			Catalog struct {
				Edges []struct{ Node struct{ ID, Code string } }
			}
		}
		e.Query(token, `query($s: String) { catalog(filter: {search: $s}) { edges { node { id code } } } }`, map[string]any{"s": c}).Decode(t, &d)
		for _, ed := range d.Catalog.Edges {
			if ed.Node.Code == c {
				out[c] = ed.Node.ID
			}
		}
		require.NotEmpty(t, out[c], c)
	}
	return out
}

func TestPricingCartQuote(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		d1 := e.As(auth.RoleDistributorAdmin)
		ids := cartSKUs(t, e, hq, "PH01-1-1", "PH01-2-2", "CB01-1", "CB02-1", "CB03-1", "TB01-1-1", "PH01-1-2")

		add := func(token string, lines []map[string]any) cartData {
			r := e.Query(token, `mutation($l: [CartLineInput!]!) { cartAddLines(input: {lines: $l}) { `+cartFields+` } }`, map[string]any{"l": lines})
			require.Empty(t, r.Errors, "%s", r.Data)
			var d struct{ CartAddLines cartData }
			r.Decode(t, &d)
			return d.CartAddLines
		}
		res := add(d1, []map[string]any{
			{"skuId": ids["PH01-1-1"], "qty": 5},
			{"skuId": ids["PH01-2-2"], "qty": 1},                            // off shelf in the demo
			{"skuId": ids["CB01-1"], "qty": 5},                              // cables: minimum 20
			{"skuId": ids["CB02-1"], "qty": 30},                             // not a multiple of 20
			{"skuId": "SKU:0190b7a8-0000-7000-8000-000000000000", "qty": 1}, // unknown
			{"skuId": ids["PH01-1-2"], "qty": 0},
			{"skuId": ids["CB03-1"], "qty": 40},
			{"skuId": ids["PH01-1-2"], "qty": 1000001},
			{"skuId": ids["PH01-1-2"], "qty": -3},
		})
		got := map[int]string{}
		for _, er := range res.Errors {
			got[*er.Index] = er.Code
		}
		require.Equal(t, map[int]string{1: "OFF_SHELF", 2: "BELOW_MINIMUM", 3: "NOT_PACK_MULTIPLE", 4: "UNKNOWN_SKU", 5: "INVALID_QUANTITY",
			7: "INVALID_QUANTITY", 8: "INVALID_QUANTITY"}, got)
		require.Len(t, res.Cart.Lines, 2, "the good lines landed")

		q := res.Cart.Quote
		var gift bool
		var sumNet int64
		for _, l := range q.Lines {
			gift = gift || l.Gift
			n, err := model.ParseMinor(l.Net.Amount)
			require.NoError(t, err)
			sumNet += n
		}
		require.True(t, gift, "5 5G phones earn the gift earphones: %+v", q)
		total, _ := model.ParseMinor(q.Total.Amount)
		sub, _ := model.ParseMinor(q.Subtotal.Amount)
		disc, _ := model.ParseMinor(q.Discount.Amount)
		require.Equal(t, sub-disc, total)
		require.Equal(t, total, sumNet)
		require.NotEmpty(t, q.OrderDiscounts, "over ¥10,000: ¥300 off every ¥10,000")
		applied := map[string]bool{}
		for _, st := range q.Explanation {
			applied[st.Name] = st.Applied
			require.NotEqual(t, "TARGET_MISMATCH", st.Reason)
		}
		require.True(t, applied["满一万减三百"])
		require.True(t, applied["配件九五折"])
		require.True(t, applied["5G 手机满 5 台送耳机"])

		// Adding grows the line, and lines of one SKU in one change add up; updating sets it; removing takes it out.
		res = add(d1, []map[string]any{{"skuId": ids["PH01-1-1"], "qty": 1}, {"skuId": ids["PH01-1-1"], "qty": 1}})
		require.Empty(t, res.Errors)
		r := e.Query(d1, `{ cart { lines { skuId qty } } }`, nil)
		require.Contains(t, string(r.Data), fmt.Sprintf(`{"skuId":"%s","qty":7}`, ids["PH01-1-1"]))
		r = e.Query(d1, `mutation($s: ID!) { cartUpdateLine(input: {skuId: $s, qty: 3}) { cart { lines { skuId qty } } errors { code } } }`, map[string]any{"s": ids["PH01-1-1"]})
		require.Contains(t, string(r.Data), fmt.Sprintf(`{"skuId":"%s","qty":3}`, ids["PH01-1-1"]))
		r = e.Query(d1, `mutation($s: ID!) { cartUpdateLine(input: {skuId: $s, qty: 1}) { errors { code } } }`, map[string]any{"s": ids["TB01-1-1"]})
		require.JSONEq(t, `{"cartUpdateLine":{"errors":[{"code":"UNKNOWN_SKU"}]}}`, string(r.Data), "only lines in the cart can be set")
		r = e.Query(d1, `mutation($s: ID!) { cartRemoveLines(input: {skuIds: [$s]}) { cart { lines { qty } } errors { code } } }`, map[string]any{"s": ids["PH01-1-1"]})
		require.JSONEq(t, `{"cartRemoveLines":{"cart":{"lines":[{"qty":40}]},"errors":[]}}`, string(r.Data))

		// D-0003 (OPERATOR channel) is not authorised for tablets.
		d3 := e.Login("13800000003", auth.AppDistributor).AccessToken
		res = add(d3, []map[string]any{{"skuId": ids["TB01-1-1"], "qty": 1}})
		require.Equal(t, "SKU_NOT_AUTHORISED", res.Errors[0].Code)

		// Carts are per user: the distributor's staff sees its own, empty cart.
		staff := e.As(auth.RoleDistributorStaff)
		r = e.Query(staff, `{ cart { lines { qty } } }`, nil)
		require.JSONEq(t, `{"cart":{"lines":[]}}`, string(r.Data))

		// A salesman orders for an assigned store only.
		sm := e.As(auth.RoleSalesman)
		s1, s2 := partyID(t, e, hq, "S-0001"), partyID(t, e, hq, "S-0002")
		r = e.Query(sm, `mutation($as: ID, $s: ID!) { cartAddLines(input: {asPartyId: $as, lines: [{skuId: $s, qty: 1}]}) { cart { buyer { code } lines { qty } } errors { code } } }`,
			map[string]any{"as": s1, "s": ids["PH01-1-1"]})
		require.JSONEq(t, `{"cartAddLines":{"cart":{"buyer":{"code":"S-0001"},"lines":[{"qty":1}]},"errors":[]}}`, string(r.Data))
		r = e.Query(sm, `query($as: ID) { cart(asPartyId: $as) { lines { qty } } }`, map[string]any{"as": s2})
		require.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "another party's cart")
		r = e.Query(d1, `query($as: ID) { cart(asPartyId: $as) { lines { qty } } }`, map[string]any{"as": s1})
		require.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "a distributor cannot open a store's cart")

		// Favourites.
		r = e.Query(d1, `mutation($s: ID!) { favouriteAdd(skuId: $s) { sku { code } errors { code } } }`, map[string]any{"s": ids["PH01-1-1"]})
		require.JSONEq(t, `{"favouriteAdd":{"sku":{"code":"PH01-1-1"},"errors":[]}}`, string(r.Data))
		r = e.Query(d3, `mutation($s: ID!) { favouriteAdd(skuId: $s) { errors { code } } }`, map[string]any{"s": ids["TB01-1-1"]})
		require.JSONEq(t, `{"favouriteAdd":{"errors":[{"code":"UNKNOWN_SKU"}]}}`, string(r.Data), "no favourite of an unauthorised SKU")
		r = e.Query(d1, `{ favourites { code price { amount } } }`, nil)
		require.Contains(t, string(r.Data), `"code":"PH01-1-1"`)
	})
}

func TestPricingPromotionRules(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ops := e.As(auth.RoleSalesOps)
		for in, code := range map[string]string{
			`{name: "x", kind: PERCENT_OFF, targetKind: ALL, percent: "150"}`:                                                                   "INVALID_PERCENT",
			`{name: "x", kind: THRESHOLD, targetKind: ALL, tiers: [{threshold: "100", off: "150"}]}`:                                            "DISCOUNT_EXCEEDS_PRICE",
			`{name: "x", kind: THRESHOLD, targetKind: ALL}`:                                                                                     "EMPTY_RULE",
			`{name: "x", kind: PERCENT_OFF, targetKind: ALL, percent: "3", exclusiveGroup: "accessories"}`:                                      "OVERLAPPING_EXCLUSIVE",
			`{name: "x", kind: PERCENT_OFF, targetKind: ALL, percent: "3", validFrom: "2027-01-02T00:00:00Z", validTo: "2027-01-01T00:00:00Z"}`: "VALIDITY_ORDER",
		} {
			r := e.Query(ops, `mutation { promotionCreate(input: `+in+`) { promotion { id } errors { code } } }`, nil)
			require.Empty(t, r.Errors, in)
			var d struct {
				PromotionCreate struct{ Errors []struct{ Code string } }
			}
			r.Decode(t, &d)
			require.NotEmpty(t, d.PromotionCreate.Errors, "%s: %s", in, r.Data)
			require.Equal(t, code, d.PromotionCreate.Errors[0].Code, "%s: %s", in, r.Data)
		}
		r := e.Query(ops, `mutation { promotionCreate(input: {name: "春季九折", kind: PERCENT_OFF, targetKind: GRADE, targetValue: "B", percent: "10"}) { promotion { id kind ruleJson } errors { code } } }`, nil)
		var d struct {
			PromotionCreate struct {
				Promotion struct{ ID, Kind, RuleJSON string }
			}
		}
		r.Decode(t, &d)
		require.Equal(t, "PERCENT_OFF", d.PromotionCreate.Promotion.Kind, "%s", r.Data)
		require.JSONEq(t, `{"percentBp":1000}`, d.PromotionCreate.Promotion.RuleJSON)

		// Grade B (D-0003) sees it running; grade A (D-0001) does not.
		d3 := e.Login("13800000003", auth.AppDistributor).AccessToken
		require.Contains(t, string(e.Query(d3, `{ runningPromotions { name } }`, nil).Data), "春季九折")
		require.NotContains(t, string(e.Query(e.As(auth.RoleDistributorAdmin), `{ runningPromotions { name } }`, nil).Data), "春季九折")

		// An update changes the terms and keeps the promotion running.
		r = e.Query(ops, `mutation($id: ID!) { promotionUpdate(id: $id, input: {name: "春季八五折", kind: PERCENT_OFF, targetKind: GRADE, targetValue: "B", percent: "15"}) {
			promotion { name active ruleJson } errors { code } } }`, map[string]any{"id": d.PromotionCreate.Promotion.ID})
		require.JSONEq(t, `{"promotionUpdate":{"promotion":{"name":"春季八五折","active":true,"ruleJson":"{\"percentBp\":1500}"},"errors":[]}}`, string(r.Data))
		r = e.Query(d1ops(e), `mutation($id: ID!) { promotionUpdate(id: $id, input: {name: "x", kind: PERCENT_OFF, targetKind: ALL, percent: "1"}) { errors { code } } }`,
			map[string]any{"id": d.PromotionCreate.Promotion.ID})
		require.JSONEq(t, `{"promotionUpdate":{"errors":[{"code":"NOT_FOUND"}]}}`, string(r.Data), "a distributor cannot change HQ's promotion")
		require.Contains(t, string(e.Query(d3, `{ runningPromotions { name } }`, nil).Data), "春季八五折")

		r = e.Query(ops, `mutation($id: ID!) { promotionActiveSet(id: $id, active: false, reason: "ended early") { promotion { active } errors { code } } }`,
			map[string]any{"id": d.PromotionCreate.Promotion.ID})
		require.JSONEq(t, `{"promotionActiveSet":{"promotion":{"active":false},"errors":[]}}`, string(r.Data))
		require.NotContains(t, string(e.Query(d3, `{ runningPromotions { name } }`, nil).Data), "春季八五折")
	})
}

func d1ops(e *apitest.Env) string { return e.As(auth.RoleDistributorAdmin) }

func TestPricingCatalogPageCostIsConstant(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{SteadyBatches: true}, func(t *testing.T, e *apitest.Env) {
		d1 := e.As(auth.RoleDistributorAdmin)
		cost := func(first int) int64 {
			before := e.Server.DB.Queries()
			r := e.Query(d1, fmt.Sprintf(`{ catalog(first: %d) { edges { node { code price { amount } priceExplanation { source steps { reason } } product { name } category { name } } } } }`, first), nil)
			require.Empty(t, r.Errors)
			return e.Server.DB.Queries() - before
		}
		// auth, buyer, page, suppliers, price lists with their prices,
		// products, categories: the list resolver fills each loader in one
		// batch, so the count is exact, plus the catalogue epoch when it is not
		// in memory (a bump anywhere in this process, other tests included,
		// makes it read again for a while).
		require.Contains(t, []int64{7, 8}, cost(5))
		require.Contains(t, []int64{7, 8}, cost(50))
		// The same read again comes from the response cache: auth (and the epoch).
		require.Contains(t, []int64{1, 2}, cost(50))
	})
}

func TestPricingSellerAndBuyerGuards(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		ops := e.As(auth.RoleSalesOps)
		d3 := e.Login("13800000003", auth.AppDistributor).AccessToken // OPERATOR channel: no tablets

		// A distributor prices only what it may buy itself, and reads back only that.
		r := e.Query(d3, `mutation { priceListCreate(input: {name: "门店价", targetKind: ALL}) { priceList { id } errors { code } } }`, nil)
		var c struct {
			PriceListCreate struct{ PriceList struct{ ID string } }
		}
		r.Decode(t, &c)
		r = e.Query(d3, `mutation($id: ID!) { priceListPricesSet(id: $id, input: {rows: [{skuCode: "TB04-1-1", price: "1"}, {skuCode: "PH01-1-1", price: "2500"}]}) {
			okCount results { errors { code } } } }`, map[string]any{"id": c.PriceListCreate.PriceList.ID})
		require.JSONEq(t, `{"priceListPricesSet":{"okCount":1,"results":[{"errors":[{"code":"SKU_NOT_FOUND"}]},{"errors":[]}]}}`, string(r.Data))
		require.NotContains(t, string(e.Query(d3, `{ priceLists { prices { sku { code } } } }`, nil).Data), "TB04")

		// A salesman sees catalogues only as one of his stores, never as his own distributor.
		sm3 := e.Login("13800000023", auth.AppSalesman).AccessToken
		r = e.Query(sm3, `query($as: ID) { catalog(first: 1, asPartyId: $as) { totalCount } }`, map[string]any{"as": partyID(t, e, hq, "D-0003")})
		require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes())

		// Rules are checked before they are stored.
		for in, code := range map[string]string{
			`{name: "x", kind: PERCENT_OFF, targetKind: ALL, percent: "5", perPartyLimit: -3}`:                                                "INVALID_USE_LIMIT",
			`{name: "x", kind: GIFT, targetKind: ALL, gift: {skuId: "SKU:0190b7a8-0000-7000-8000-000000000000", qty: 1, minQty: 1, pool: 5}}`: "SKU_NOT_FOUND",
		} {
			r := e.Query(ops, `mutation { promotionCreate(input: `+in+`) { errors { code } } }`, nil)
			require.JSONEq(t, `{"promotionCreate":{"errors":[{"code":"`+code+`"}]}}`, string(r.Data), in)
		}

		// Reactivating a promotion checks its exclusive group again.
		mk := func(name string) string {
			r := e.Query(ops, `mutation($n: String!) { promotionCreate(input: {name: $n, kind: PERCENT_OFF, targetKind: ALL, percent: "2", exclusiveGroup: "spring"}) { promotion { id } errors { code } } }`, map[string]any{"n": name})
			var d struct {
				PromotionCreate struct {
					Promotion *struct{ ID string }
					Errors    []struct{ Code string }
				}
			}
			r.Decode(t, &d)
			require.NotNil(t, d.PromotionCreate.Promotion, "%s", r.Data)
			return d.PromotionCreate.Promotion.ID
		}
		active := func(id string, on bool) string {
			r := e.Query(ops, `mutation($id: ID!, $on: Boolean!) { promotionActiveSet(id: $id, active: $on, reason: "plan") { errors { code } } }`, map[string]any{"id": id, "on": on})
			return string(r.Data)
		}
		p1 := mk("春一")
		require.JSONEq(t, `{"promotionActiveSet":{"errors":[]}}`, active(p1, false))
		mk("春二")
		require.JSONEq(t, `{"promotionActiveSet":{"errors":[{"code":"OVERLAPPING_EXCLUSIVE"}]}}`, active(p1, true))

		// Promotions not yet running are nobody's business but the seller's.
		r = e.Query(ops, `mutation { promotionCreate(input: {name: "双十二", kind: PERCENT_OFF, targetKind: ALL, percent: "12", validFrom: "2099-12-12T00:00:00Z"}) { errors { code } } }`, nil)
		require.JSONEq(t, `{"promotionCreate":{"errors":[]}}`, string(r.Data))
		d1 := e.As(auth.RoleDistributorAdmin)
		ids := cartSKUs(t, e, hq, "PH01-1-1")
		r = e.Query(d1, `mutation($s: ID!) { cartAddLines(input: {lines: [{skuId: $s, qty: 1}]}) { cart { quote { explanation { name } } } } }`, map[string]any{"s": ids["PH01-1-1"]})
		require.NotContains(t, string(r.Data), "双十二")
		require.NotContains(t, string(e.Query(d1, `{ runningPromotions { name } }`, nil).Data), "双十二")

		// A line whose SKU went off shelf keeps its problem but no longer shows the SKU.
		r = e.Query(hq, `mutation($id: ID!) { skuUpdate(id: $id, input: {onShelf: false}) { errors { code } } }`, map[string]any{"id": ids["PH01-1-1"]})
		require.JSONEq(t, `{"skuUpdate":{"errors":[]}}`, string(r.Data))
		r = e.Query(d1, `{ cart { lines { sku { code } problem } quote { lines { qty } } } }`, nil)
		require.JSONEq(t, `{"cart":{"lines":[{"sku":null,"problem":"OFF_SHELF"}],"quote":{"lines":[]}}}`, string(r.Data))
	})
}

// Concurrent adds to one cart line all count: none is lost to a race.
func TestPricingCartConcurrentAdds(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		d1 := e.As(auth.RoleDistributorAdmin)
		ids := cartSKUs(t, e, e.As(auth.RoleHQAdmin), "PH01-1-1")
		const n = 10
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				e.Query(d1, `mutation($s: ID!) { cartAddLines(input: {lines: [{skuId: $s, qty: 1}]}) { errors { code } } }`, map[string]any{"s": ids["PH01-1-1"]})
			})
		}
		wg.Wait()
		require.JSONEq(t, fmt.Sprintf(`{"cart":{"lines":[{"qty":%d}]}}`, n), string(e.Query(d1, `{ cart { lines { qty } } }`, nil).Data))
	})
}

// A cached catalogue answer never outlives a change: every change bumps the
// catalogue epoch in its own transaction, and the epoch is in the cache key.
func TestPricingCachedReadsSeeEveryChange(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		d1 := e.As(auth.RoleDistributorAdmin)
		staff := e.As(auth.RoleDistributorStaff)
		q := `{ catalog(filter: {search: "PH01-1-1"}) { totalCount edges { node { code price { amount } } } } }`
		first := string(e.Query(d1, q, nil).Data)
		require.Equal(t, first, string(e.Query(d1, q, nil).Data))
		require.Equal(t, first, string(e.Query(staff, q, nil).Data), "same party, same answer, own cache entry")

		ids := cartSKUs(t, e, hq, "PH01-1-1")
		r := e.Query(hq, `mutation($id: ID!) { skuUpdate(id: $id, input: {onShelf: false}) { errors { code } } }`, map[string]any{"id": ids["PH01-1-1"]})
		require.JSONEq(t, `{"skuUpdate":{"errors":[]}}`, string(r.Data))
		require.JSONEq(t, `{"catalog":{"totalCount":0,"edges":[]}}`, string(e.Query(d1, q, nil).Data))

		r = e.Query(hq, `mutation($id: ID!) { skuUpdate(id: $id, input: {onShelf: true}) { errors { code } } }`, map[string]any{"id": ids["PH01-1-1"]})
		require.JSONEq(t, `{"skuUpdate":{"errors":[]}}`, string(r.Data))
		require.Equal(t, first, string(e.Query(d1, q, nil).Data))

		// A price list change shows at once too.
		r = e.Query(hq, `mutation($v: String) { priceListCreate(input: {name: "闪价", targetKind: PARTY, targetValue: $v, priority: 9}) { priceList { id } } }`,
			map[string]any{"v": partyID(t, e, hq, "D-0001")[len("Party:"):]})
		var c struct {
			PriceListCreate struct{ PriceList struct{ ID string } }
		}
		r.Decode(t, &c)
		e.Query(hq, `mutation($id: ID!) { priceListPricesSet(id: $id, input: {rows: [{skuCode: "PH01-1-1", price: "1.00"}]}) { okCount } }`,
			map[string]any{"id": c.PriceListCreate.PriceList.ID})
		require.Contains(t, string(e.Query(d1, q, nil).Data), `"amount":"1.00"`)

		// Suspending the buyer ends its sessions: a cached answer is no way around that.
		r = e.Query(hq, `mutation($id: ID!) { partyStatusChange(id: $id, input: {status: SUSPENDED, reason: "audit"}) { errors { code } } }`,
			map[string]any{"id": partyID(t, e, hq, "D-0001")})
		require.JSONEq(t, `{"partyStatusChange":{"errors":[]}}`, string(r.Data))
		require.Equal(t, 401, e.Query(d1, q, nil).Status)
	})
}

// Two instances keep the catalogue epoch in memory between changes: a change
// made through A is seen by B's cached catalogue at once (announced through
// Redis), long before B would read the epoch again on its own.
func TestPricingCachedReadsSeeChangesOnOtherInstance(t *testing.T) {
	t.Parallel()
	apitest.EachPair(t, apitest.Options{}, func(t *testing.T, a, other *apitest.Env) {
		hq := a.As(auth.RoleHQAdmin)
		d1 := other.As(auth.RoleDistributorAdmin)
		q := `{ catalog(filter: {search: "PH01-1-1"}) { totalCount } }`
		require.JSONEq(t, `{"catalog":{"totalCount":1}}`, string(other.Query(d1, q, nil).Data))
		require.JSONEq(t, `{"catalog":{"totalCount":1}}`, string(other.Query(d1, q, nil).Data)) // cached

		ids := cartSKUs(t, a, hq, "PH01-1-1")
		r := a.Query(hq, `mutation($id: ID!) { skuUpdate(id: $id, input: {onShelf: false}) { errors { code } } }`, map[string]any{"id": ids["PH01-1-1"]})
		require.JSONEq(t, `{"skuUpdate":{"errors":[]}}`, string(r.Data))
		deadline := time.Now().Add(2 * time.Second) // under the 5 s after which B re-reads by itself
		for string(other.Query(d1, q, nil).Data) != `{"catalog":{"totalCount":0}}` {
			require.True(t, time.Now().Before(deadline), "B still answers from before the change")
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestPricingResponseCacheCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_RESPONSE_CACHE_TTL": "0", "CHANNELHUB_SESSION_CACHE_TTL": "0"}}, func(t *testing.T, e *apitest.Env) {
		d1 := e.As(auth.RoleDistributorAdmin)
		for range 2 {
			before := e.Server.DB.Queries()
			require.Empty(t, e.Query(d1, `{ catalog(first: 5) { edges { node { code price { amount } } } } }`, nil).Errors)
			require.Equal(t, int64(5), e.Server.DB.Queries()-before, "auth, buyer, page, suppliers, lists with prices: every time")
		}
	})
}

// A page of price lists with all their prices costs a constant number of queries.
func TestPricingPriceListsAreBatched(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		before := e.Server.DB.Queries()
		r := e.Query(hq, `{ priceLists { name priceCount prices { sku { code } price { amount } } } }`, nil)
		require.Empty(t, r.Errors)
		// auth, lists, counts, prices (one window query), SKUs: primed by the list resolver, so exact.
		require.Equal(t, int64(5), e.Server.DB.Queries()-before)
		var d struct {
			PriceLists []struct {
				Name       string
				PriceCount int
				Prices     []struct{ Sku struct{ Code string } }
			}
		}
		r.Decode(t, &d)
		require.Len(t, d.PriceLists, 4)
		for _, l := range d.PriceLists {
			require.Equal(t, l.PriceCount, len(l.Prices), l.Name)
			require.NotZero(t, l.PriceCount, l.Name)
		}
	})
}

// A cached query over a WebSocket gets one answer and then complete, like any query.
// { __typename } (a phone's ping) reads nothing: not the catalogue epoch,
// and, within the session cache's TTL, not the session either.
func TestPricingTypenameReadsNothing(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_SESSION_CACHE_TTL": "10s"}}, func(t *testing.T, e *apitest.Env) {
		d1 := e.As(auth.RoleDistributorAdmin)
		require.Empty(t, e.Query(d1, `{ __typename }`, nil).Errors)
		best := int64(-1) // the outbox may add a statement now and then
		for range 3 {
			before := e.Server.DB.Queries()
			r := e.Query(d1, `{ __typename }`, nil)
			require.Empty(t, r.Errors)
			require.JSONEq(t, `{"__typename":"Query"}`, string(r.Data))
			if n := e.Server.DB.Queries() - before; best < 0 || n < best {
				best = n
			}
		}
		require.Zero(t, best)
	})
}

func TestPricingCachedQueryOverWebSocket(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		token := e.As(auth.RoleDistributorAdmin)
		for round := range 2 { // the second round is a cache hit
			c, ctx := wsDial(t, e)
			require.NoError(t, wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}}))
			var msg map[string]any
			require.NoError(t, wsjson.Read(ctx, c, &msg))
			require.Equal(t, "connection_ack", msg["type"])
			require.NoError(t, wsjson.Write(ctx, c, map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "{ categories { code } }"}}))
			require.NoError(t, wsjson.Read(ctx, c, &msg))
			require.Equal(t, "next", msg["type"], "round %d", round)
			require.NoError(t, wsjson.Read(ctx, c, &msg))
			require.Equal(t, "complete", msg["type"], "round %d: %v", round, msg)
		}
	})
}

// Big answers are not kept: the cache's memory stays bounded.
func TestPricingOversizeAnswersAreNotCached(t *testing.T) {
	t.Parallel()
	// The complexity limit keeps ordinary answers far smaller; lift it to build a big one.
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_QUERY_COMPLEXITY_LIMIT": "100000"}}, func(t *testing.T, e *apitest.Env) {
		d1 := e.As(auth.RoleDistributorAdmin)
		var sb strings.Builder
		sb.WriteString("{")
		for i := range 12 {
			fmt.Fprintf(&sb, ` a%d: catalog(first: 100) { edges { node { code name attributes { name value } priceExplanation { steps { name reason } } } } }`, i)
		}
		sb.WriteString(" }")
		r := e.Query(d1, sb.String(), nil)
		require.Empty(t, r.Errors)
		require.Greater(t, len(r.Data), 256<<10, "a big answer")
		before := e.Server.DB.Queries()
		e.Query(d1, sb.String(), nil)
		require.Greater(t, e.Server.DB.Queries()-before, int64(2), "an answer over 256 KB is computed again")
	})
}
