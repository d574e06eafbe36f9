package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/database/dbtest"
	"channelhub/internal/inventory"
	"channelhub/internal/party"
)

// benchMust fails the benchmark on top-level errors and returns data at path.
func benchMust(b *testing.B, r apitest.Response, path ...string) map[string]any {
	b.Helper()
	if len(r.Errors) > 0 {
		b.Fatalf("%v", r.Errors)
	}
	var d map[string]any
	_ = json.Unmarshal(r.Data, &d)
	for _, p := range path {
		d, _ = d[p].(map[string]any)
	}
	if d == nil {
		b.Fatalf("%s", r.Data)
	}
	return d
}

// benchMustOK is benchMust for a payload that must hold no errors either.
func benchMustOK(b *testing.B, r apitest.Response, path ...string) map[string]any {
	b.Helper()
	d := benchMust(b, r, path...)
	if errs, _ := d["errors"].([]any); len(errs) > 0 {
		b.Fatalf("%s", r.Data)
	}
	return d
}

// BenchmarkReceiptDiversion times receiptConfirm of 1,000 serials through the
// API with the diversion hook and without it, alternating within one run so
// the two share the machine's state; it reports both and their ratio.
//   - scanned: a shipment of 1,000 units, each scanned (no strays; the hook's
//     whole cost is setting the territory in the receipt's own update).
//   - strays: a shipment of one unit whose receipt also scans 1,000 units of
//     another branch's distributor: 1,000 UNEXPECTED claim items either way,
//     plus 1,000 diversions and their event with the hook.
//
// Setup per receipt (untimed): register the units at HQ, order, approve, ship, dispatch.
func BenchmarkReceiptDiversion(b *testing.B) {
	const n = 1000
	for _, be := range dbtest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			e := apitest.Start(b, be, apitest.Options{})
			ctx := context.Background()
			if _, err := e.Server.DB.NewRaw(`UPDATE credit_accounts SET credit_limit = 100000000000000`).Exec(ctx); err != nil {
				b.Fatal(err)
			}
			d1, d2 := e.As(auth.RoleDistributorAdmin), e.Login("13800000002", auth.AppDistributor).AccessToken
			ops, gc := e.As(auth.RoleSalesOps), e.As(auth.RoleGoodsControl)
			var ids struct {
				Warehouses []struct{ ID, Code string }
				Catalog    struct {
					Edges []struct{ Node struct{ ID, Code string } }
				}
			}
			e.Query(gc, `{ warehouses { id code } catalog(filter: {search: "PH01-1-1"}) { edges { node { id code } } } }`, nil).Decode(b, &ids)
			sku := ids.Catalog.Edges[0].Node.ID
			seq := 0
			// register makes 1,000 new units at HQ and returns their numbers.
			register := func() []string {
				seq++
				from, to := fmt.Sprintf("BD%04d00000", seq), fmt.Sprintf("BD%04d00999", seq)
				benchMust(b, e.Query(gc, `mutation($in: SerialReceiveInput!) { serialReceive(input: $in) { received errors { code } } }`,
					map[string]any{"in": map[string]any{"warehouseId": ids.Warehouses[0].ID, "skuId": sku, "reference": "bench",
						"idempotencyKey": from, "ranges": []map[string]any{{"from": from, "to": to}}}}), "serialReceive")
				out := make([]string, n)
				for k := range out {
					out[k] = fmt.Sprintf("BD%04d%05d", seq, k)
				}
				return out
			}
			// shipTo orders units from HQ for buyer, ships the given serials and dispatches them.
			shipTo := func(buyer string, serials []string) string {
				key := fmt.Sprintf("bd-%d-%d", seq, len(serials))
				o := benchMust(b, e.Query(buyer, `mutation($in: OrderSubmitInput!) { orderSubmit(input: $in) { order { id } errors { code } } }`,
					map[string]any{"in": map[string]any{"idempotencyKey": key, "lines": []map[string]any{{"skuId": sku, "qty": len(serials)}}}}), "orderSubmit", "order")
				benchMust(b, e.Query(ops, `mutation($id: ID!) { orderApprove(id: $id, input: {reason: "bench"}) { order { id } errors { code } } }`,
					map[string]any{"id": o["id"]}), "orderApprove", "order")
				sh := benchMust(b, e.Query(gc, `mutation($in: ShipmentCreateInput!) { shipmentCreate(input: $in) { shipment { id } errors { code } } }`,
					map[string]any{"in": map[string]any{"orderId": o["id"], "idempotencyKey": key, "carrier": "SF",
						"lines": []map[string]any{{"orderLineNo": 1, "qty": len(serials), "serials": serials}}}}), "shipmentCreate", "shipment")
				benchMust(b, e.Query(gc, `mutation($id: ID!) { shipmentDispatch(id: $id) { shipment { id } errors { code } } }`,
					map[string]any{"id": sh["id"]}), "shipmentDispatch", "shipment")
				return sh["id"].(string)
			}
			receive := func(token, shipment string, serials []string, hook bool) time.Duration {
				e.Server.Receipts.SkipDiversions = !hook
				start := time.Now()
				rc := benchMust(b, e.Query(token, `mutation($id: ID!, $in: ReceiptConfirmInput!) { receiptConfirm(shipmentId: $id, input: $in) {
					receipt { accepted } errors { code } } }`, map[string]any{"id": shipment, "in": map[string]any{"idempotencyKey": shipment, "serials": serials}}),
					"receiptConfirm", "receipt")
				d := time.Since(start)
				if rc["accepted"] == nil {
					b.Fatalf("no receipt")
				}
				return d
			}
			var d1Territory string
			if err := e.Server.DB.NewRaw(`SELECT id FROM parties WHERE code = 'D-0001'`).Scan(ctx, &d1Territory); err != nil {
				b.Fatal(err)
			}
			for _, scenario := range []string{"scanned", "strays"} {
				b.Run(scenario, func(b *testing.B) {
					var with, without []time.Duration
					for i := 0; b.Loop(); i++ {
						for _, hook := range []bool{i%2 == 0, i%2 != 0} { // alternate which goes first
							units := register()
							var d time.Duration
							if scenario == "scanned" {
								d = receive(d1, shipTo(d1, units), units, hook)
							} else {
								if _, err := e.Server.DB.NewRaw(`UPDATE serials SET territory_party_id = ? WHERE number IN (?)`, d1Territory,
									bun.List(units)).Exec(ctx); err != nil {
									b.Fatal(err)
								}
								one := register()[:1]
								d = receive(d2, shipTo(d2, one), append(one, units...), hook)
							}
							if hook {
								with = append(with, d)
							} else {
								without = append(without, d)
							}
						}
					}
					e.Server.Receipts.SkipDiversions = false
					mw, mo := median(with), median(without)
					b.ReportMetric(float64(mw.Microseconds())/1000, "ms/receipt-hook")
					b.ReportMetric(float64(mo.Microseconds())/1000, "ms/receipt-nohook")
					b.ReportMetric(float64(mw)/float64(mo), "hook/nohook")
				})
			}
		})
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkChannelInventory times channelInventory pages through the API on
// a channel grown to 2,000 more stores (500 under each demo distributor), each
// with 20 SKUs in stock and 10 sell-outs this month: 40,000 more stock levels
// and 20,000 more movements. It reports SQL statements per page too.
func BenchmarkChannelInventory(b *testing.B) {
	for _, be := range dbtest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			e := apitest.Start(b, be, apitest.Options{})
			ctx := context.Background()
			growChannel(b, e, 2000, 20, 10)
			hq, dist, branch := e.As(auth.RoleHQAdmin), e.As(auth.RoleDistributorAdmin), e.As(auth.RoleBranchManager)
			today := time.Now().In(e.Server.Config.TimeZone)
			period := map[string]any{"from": today.AddDate(0, 0, -30).Format("2006-01-02"), "to": today.Format("2006-01-02")}
			var store string
			if err := e.Server.DB.NewRaw(`SELECT id FROM parties WHERE code = 'BS-0001'`).Scan(ctx, &store); err != nil {
				b.Fatal(err)
			}
			// The cursor of the 20th page of HQ's stores, for a deep page.
			deep := map[string]any{"period": period, "depth": 4, "kind": "STORE", "first": 50}
			for range 20 {
				pg := benchMust(b, e.Query(hq, inventoryQuery, deep), "channelInventory", "pageInfo")
				deep["after"] = pg["endCursor"]
			}
			q := inventoryQuery
			cases := []struct {
				name, token, query string
				vars               map[string]any
			}{
				// A reference in the same run, to read the others against on a busy machine.
				{"reference-parties-page", hq, `query($first: Int) { parties(first: $first) { edges { node { code name } } } }`, map[string]any{"first": 50}},
				{"hq-whole-channel", hq, q, map[string]any{"period": period, "depth": 4, "first": 50}},
				{"hq-stores-page-20", hq, q, deep},
				{"branch-subtree", branch, q, map[string]any{"period": period, "depth": 3, "first": 50}},
				{"distributor-and-stores", dist, q, map[string]any{"period": period, "first": 50}},
				{"one-store", hq, q, map[string]any{"period": period, "party": "Party:" + store, "depth": 0, "first": 50}},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					queries, n := e.Server.DB.Queries(), 0
					for b.Loop() {
						n++
						r := e.Query(c.token, c.query, c.vars)
						if len(r.Errors) > 0 {
							b.Fatalf("%v", r.Errors)
						}
					}
					b.ReportMetric(float64(e.Server.DB.Queries()-queries)/float64(n), "sql/op")
				})
			}
		})
	}
}

// growChannel adds stores (round robin under D-0001..D-0004), each with a
// warehouse, levels SKUs in stock and sales sell-out movements this month.
func growChannel(b *testing.B, e *apitest.Env, stores, levels, sales int) {
	ctx := context.Background()
	var dists []*party.Party
	if err := e.Server.DB.NewSelect().Model(&dists).Where("p.kind = 'DISTRIBUTOR'").OrderExpr("p.code").Scan(ctx); err != nil {
		b.Fatal(err)
	}
	var skus []uuid.UUID
	if err := e.Server.DB.NewRaw(`SELECT id FROM skus ORDER BY code LIMIT ?`, levels).Scan(ctx, &skus); err != nil {
		b.Fatal(err)
	}
	type movement struct {
		ID          uuid.UUID `bun:"id,pk"`
		WarehouseID uuid.UUID `bun:"warehouse_id"`
		SKUID       uuid.UUID `bun:"sku_id"`
		Delta       int64     `bun:"delta"`
		OnHandAfter int64     `bun:"on_hand_after"`
		Kind        string    `bun:"kind"`
		SourceType  string    `bun:"source_type"`
		SourceID    string    `bun:"source_id"`
		CreatedAt   time.Time `bun:"created_at"`
	}
	now := time.Now().UTC()
	const batch = 250
	for start := 0; start < stores; start += batch {
		var ps []*party.Party
		var ws []*inventory.Warehouse
		var ls []*inventory.Level
		var ms []*movement
		for i := start; i < min(start+batch, stores); i++ {
			d := dists[i%len(dists)]
			id := uuid.Must(uuid.NewV7())
			ps = append(ps, &party.Party{ID: id, Kind: party.KindStore, Code: fmt.Sprintf("BS-%04d", i+1), Name: fmt.Sprintf("bench store %d", i+1),
				ParentID: &d.ID, Path: d.Path + id.String() + "/", ChannelType: party.ChannelRetailer, Grade: "A", Region: d.Region,
				Province: d.Province, City: d.City, District: d.District, Street: "x", Status: party.StatusActive, CreatedAt: now, UpdatedAt: now})
			w := &inventory.Warehouse{ID: uuid.Must(uuid.NewV7()), PartyID: id, Code: "WH1", Name: "WH1", Active: true, CreatedAt: now}
			ws = append(ws, w)
			for k, sku := range skus {
				ls = append(ls, &inventory.Level{WarehouseID: w.ID, SKUID: sku, OnHand: int64(10 + k), UpdatedAt: now})
			}
			for k := range sales {
				ms = append(ms, &movement{ID: uuid.Must(uuid.NewV7()), WarehouseID: w.ID, SKUID: skus[k%len(skus)], Delta: -1, OnHandAfter: 9,
					Kind: inventory.MoveSellOut, SourceType: "SELL_OUT", SourceID: "bench", CreatedAt: now.Add(-time.Duration(k) * time.Hour)})
			}
		}
		for _, q := range []any{&ps, &ws, &ls} {
			if _, err := e.Server.DB.NewInsert().Model(q).Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := e.Server.DB.NewInsert().Model(&ms).ModelTableExpr("stock_movements").Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if e.Server.DB.IsPostgres() {
		if _, err := e.Server.DB.ExecContext(ctx, "ANALYZE"); err != nil {
			b.Fatal(err)
		}
	}
}
