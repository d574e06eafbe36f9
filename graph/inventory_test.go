package graph_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

func inventoryWarehouse(t *testing.T, e *apitest.Env, token string) string {
	t.Helper()
	var d struct{ Warehouses []struct{ ID string } }
	e.Query(token, `{ warehouses { id } }`, nil).Decode(t, &d)
	require.NotEmpty(t, d.Warehouses)
	return d.Warehouses[0].ID
}

func TestInventoryReceiveAndAdjust(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		gc := e.As(auth.RoleGoodsControl)
		wh := inventoryWarehouse(t, e, gc)
		ids := cartSKUs(t, e, e.As(auth.RoleHQAdmin), "PH01-1-1", "CB01-1")
		level := func() (onHand int) {
			var d struct {
				Warehouses []struct {
					Stock struct {
						Edges []struct {
							Node struct {
								OnHand int
								Sku    struct{ Code string }
							}
						}
					}
				}
			}
			e.Query(gc, `{ warehouses { stock(first: 100) { edges { node { onHand sku { code } } } } } }`, nil).Decode(t, &d)
			for _, ed := range d.Warehouses[0].Stock.Edges {
				if ed.Node.Sku.Code == "PH01-1-1" {
					return ed.Node.OnHand
				}
			}
			return 0
		}
		start := level()

		r := e.Query(gc, `mutation($w: ID!, $s: ID!, $c: ID!) { stockReceive(input: {warehouseId: $w, reference: "DN-2026-0001", idempotencyKey: "dn-1",
			lines: [{skuId: $s, qty: 100}, {skuId: $c, qty: 40}]}) { levels { onHand sku { code } } errors { code } } }`,
			map[string]any{"w": wh, "s": ids["PH01-1-1"], "c": ids["CB01-1"]})
		require.Contains(t, string(r.Data), `"errors":[]`, "%s", r.Data)
		require.Equal(t, start+100, level())

		for in, code := range map[string]string{
			`{warehouseId: $w, reference: "x", idempotencyKey: "bad-1", lines: [{skuId: $s, qty: 0}]}`:                                                              "INVALID_INPUT",
			`{warehouseId: $w, reference: "x", idempotencyKey: "bad-2", lines: [{skuId: $s, qty: 1000001}]}`:                                                        "INVALID_INPUT",
			`{warehouseId: $w, reference: "", idempotencyKey: "bad-3", lines: [{skuId: $s, qty: 1}]}`:                                                               "INVALID_INPUT",
			`{warehouseId: $w, reference: "x", idempotencyKey: "", lines: [{skuId: $s, qty: 1}]}`:                                                                   "INVALID_INPUT",
			`{warehouseId: $w, reference: "x", idempotencyKey: "bad-4", lines: [{skuId: $s, qty: 1}, {skuId: "SKU:0190b7a8-0000-7000-8000-000000000000", qty: 1}]}`: "SKU_NOT_FOUND",
		} {
			r := e.Query(gc, `mutation($w: ID!, $s: ID!) { stockReceive(input: `+in+`) { levels { onHand } errors { code } } }`,
				map[string]any{"w": wh, "s": ids["PH01-1-1"]})
			require.JSONEq(t, `{"stockReceive":{"levels":[],"errors":[{"code":"`+code+`"}]}}`, string(r.Data), in)
		}
		require.Equal(t, start+100, level(), "refused receipts change nothing")

		adjust := func(delta int, reason string) string {
			r := e.Query(gc, `mutation($w: ID!, $s: ID!, $d: Int!, $r: String!) { stockAdjust(input: {warehouseId: $w, skuId: $s, delta: $d, reason: $r}) {
				levels { onHand } errors { code } } }`, map[string]any{"w": wh, "s": ids["PH01-1-1"], "d": delta, "r": reason})
			return string(r.Data)
		}
		require.JSONEq(t, `{"stockAdjust":{"levels":[],"errors":[{"code":"REASON_REQUIRED"}]}}`, adjust(-1, " "))
		require.JSONEq(t, `{"stockAdjust":{"levels":[],"errors":[{"code":"BELOW_RESERVED"}]}}`, adjust(-(start+101), "count"))
		require.Contains(t, adjust(-3, "damaged in transit"), `"errors":[]`)
		require.Equal(t, start+97, level())

		// Racing write-offs never take stock below zero.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { adjust(-(start+97)/2, "stock count") })
		}
		wg.Wait()
		require.GreaterOrEqual(t, level(), 0)

		// Another party's warehouse is not found.
		d1 := e.As(auth.RoleDistributorAdmin)
		r = e.Query(d1, `mutation($w: ID!, $s: ID!) { stockAdjust(input: {warehouseId: $w, skuId: $s, delta: 1, reason: "x"}) { errors { code } } }`,
			map[string]any{"w": wh, "s": ids["PH01-1-1"]})
		require.JSONEq(t, `{"stockAdjust":{"errors":[{"code":"NOT_FOUND"}]}}`, string(r.Data))
		var movements int
		require.NoError(t, e.Server.DB.NewSelect().Table("stock_movements").ColumnExpr("COUNT(*)").
			Where("source_id = 'DN-2026-0001'").Scan(t.Context(), &movements))
		require.Equal(t, 2, movements, "every receipt line is a movement naming its document")
	})
}

func TestInventoryAvailabilityInTheCatalogue(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_RESPONSE_CACHE_TTL": "0"}}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		d1 := e.As(auth.RoleDistributorAdmin)
		q := `query($as: ID) { catalog(first: 100, asPartyId: $as) { edges { node { id code availability } } } }`
		grades := func(token string, as any) map[string]int {
			var d struct {
				Catalog struct {
					Edges []struct {
						Node struct{ Code, Availability string }
					}
				}
			}
			e.Query(token, q, map[string]any{"as": as}).Decode(t, &d)
			out := map[string]int{}
			for _, ed := range d.Catalog.Edges {
				out[ed.Node.Availability]++
			}
			return out
		}
		// D-0001 buys from HQ, whose warehouse holds every grade of stock.
		g := grades(d1, nil)
		require.Positive(t, g["IN_STOCK"])
		require.Positive(t, g["LOW"])
		require.Positive(t, g["OUT"])
		// S-0002 buys from D-0002, which keeps no warehouse: not tracked.
		require.Equal(t, map[string]int{"": 100}, grades(hq, partyID(t, e, hq, "S-0002")))
		// The console view has no seller.
		require.Equal(t, map[string]int{"": 100}, grades(hq, nil))

		// Receiving stock moves a SKU from OUT to IN_STOCK.
		var c struct {
			Catalog struct {
				Edges []struct {
					Node struct{ ID, Code, Availability string }
				}
			}
		}
		e.Query(d1, q, nil).Decode(t, &c)
		var out string
		for _, ed := range c.Catalog.Edges {
			if ed.Node.Availability == "OUT" {
				out = ed.Node.ID
				break
			}
		}
		require.NotEmpty(t, out)
		gc := e.As(auth.RoleGoodsControl)
		r := e.Query(gc, `mutation($w: ID!, $s: ID!) { stockReceive(input: {warehouseId: $w, reference: "DN-1", idempotencyKey: "avail-1", lines: [{skuId: $s, qty: 50}]}) { errors { code } } }`,
			map[string]any{"w": inventoryWarehouse(t, e, gc), "s": out})
		require.JSONEq(t, `{"stockReceive":{"errors":[]}}`, string(r.Data))
		r = e.Query(d1, `query($id: ID!) { sku(id: $id) { availability } }`, map[string]any{"id": out})
		require.JSONEq(t, `{"sku":{"availability":"IN_STOCK"}}`, string(r.Data))
	})
}

func TestInventoryGuards(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq := e.As(auth.RoleHQAdmin)
		gc := e.As(auth.RoleGoodsControl)
		ids := cartSKUs(t, e, hq, "PH01-1-1", "PH01-1-2", "TB01-1-1")

		r := e.Query(gc, `mutation { warehouseCreate(input: {code: "HQ-WH2", name: "二号仓", priority: 3000000000}) { errors { code field } } }`, nil)
		require.JSONEq(t, `{"warehouseCreate":{"errors":[{"code":"INVALID_INPUT","field":["priority"]}]}}`, string(r.Data))
		r = e.Query(gc, `mutation { warehouseCreate(input: {code: "HQ-WH2", name: "二号仓", priority: 1001}) { errors { code field } } }`, nil)
		require.JSONEq(t, `{"warehouseCreate":{"errors":[{"code":"INVALID_INPUT","field":["priority"]}]}}`, string(r.Data))

		// A distributor receives only SKUs it may buy: D-0003 (operator channel) sees no tablets.
		d3 := e.Login("13800000003", auth.AppDistributor).AccessToken
		r = e.Query(d3, `mutation { warehouseCreate(input: {code: "D3-WH1", name: "瓯江仓"}) { warehouse { id } errors { code } } }`, nil)
		var c struct {
			WarehouseCreate struct{ Warehouse struct{ ID string } }
		}
		r.Decode(t, &c)
		r = e.Query(d3, `mutation($w: ID!, $s: ID!, $p: ID!) { stockReceive(input: {warehouseId: $w, reference: "x", idempotencyKey: "d3-1", lines: [{skuId: $p, qty: 1}, {skuId: $s, qty: 1}]}) {
			levels { onHand } errors { code field } } }`, map[string]any{"w": c.WarehouseCreate.Warehouse.ID, "s": ids["TB01-1-1"], "p": ids["PH01-1-1"]})
		require.JSONEq(t, `{"stockReceive":{"levels":[],"errors":[{"code":"SKU_NOT_FOUND","field":["lines","1","skuId"]}]}}`, string(r.Data))

		// Receipts of the same SKUs in opposite orders never deadlock.
		wh := inventoryWarehouse(t, e, gc)
		var wg sync.WaitGroup
		errs := make(chan string, 20)
		for i := range 20 {
			a, b := ids["PH01-1-1"], ids["PH01-1-2"]
			if i%2 == 1 {
				a, b = b, a
			}
			wg.Go(func() {
				r := e.Query(gc, `mutation($w: ID!, $a: ID!, $b: ID!, $k: String!) { stockReceive(input: {warehouseId: $w, reference: "race", idempotencyKey: $k, lines: [{skuId: $a, qty: 1}, {skuId: $b, qty: 1}]}) { errors { code } } }`,
					map[string]any{"w": wh, "a": a, "b": b, "k": fmt.Sprintf("race-%d", i)})
				if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"errors":[]`) {
					errs <- string(r.Data) + fmt.Sprint(r.Codes())
				}
			})
		}
		wg.Wait()
		close(errs)
		for er := range errs {
			t.Errorf("receipt failed: %s", er)
		}

		// On hand stays a GraphQL Int.
		big := make([]map[string]any, 0, 100)
		for range 100 {
			big = append(big, map[string]any{"skuId": ids["PH01-1-1"], "qty": 1000000})
		}
		var refused bool
		for i := range 25 {
			r := e.Query(gc, `mutation($w: ID!, $l: [StockLineInput!]!, $k: String!) { stockReceive(input: {warehouseId: $w, reference: "big", idempotencyKey: $k, lines: $l}) { errors { code } } }`,
				map[string]any{"w": wh, "l": big, "k": fmt.Sprintf("big-%d", i)})
			require.Empty(t, r.Errors)
			if strings.Contains(string(r.Data), "INVALID_INPUT") {
				refused = true
				break
			}
		}
		require.True(t, refused, "a receipt past 2,000,000,000 on hand is refused")
	})
}

// A receipt retried with its key books the goods once, however many retries race.
func TestInventoryReceiptIdempotency(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		gc := e.As(auth.RoleGoodsControl)
		wh := inventoryWarehouse(t, e, gc)
		ids := cartSKUs(t, e, e.As(auth.RoleHQAdmin), "PH01-1-1")
		receive := func(key string, qty int) string {
			r := e.Query(gc, `mutation($w: ID!, $s: ID!, $k: String!, $q: Int!) { stockReceive(input: {warehouseId: $w, reference: "DN-9", idempotencyKey: $k,
				lines: [{skuId: $s, qty: $q}]}) { levels { onHand } errors { code } } }`, map[string]any{"w": wh, "s": ids["PH01-1-1"], "k": key, "q": qty})
			require.Empty(t, r.Errors)
			return string(r.Data)
		}
		first := receive("once", 7)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() { require.Equal(t, first, receive("once", 7), "a retry gets the first result") })
		}
		wg.Wait()
		require.JSONEq(t, `{"stockReceive":{"levels":[],"errors":[{"code":"IDEMPOTENCY_KEY_REUSED"}]}}`, receive("once", 8))
		var moves int
		require.NoError(t, e.Server.DB.NewSelect().Table("stock_movements").ColumnExpr("COUNT(*)").
			Where("source_id = 'DN-9'").Scan(t.Context(), &moves))
		require.Equal(t, 1, moves, "the goods were booked once")
	})
}
