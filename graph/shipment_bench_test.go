package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/database/dbtest"
)

// BenchmarkReceipt1000Serials times receiptConfirm of a shipment of 1,000
// serialised units (each scanned), through the API. Setup per iteration
// (untimed): register 1,000 new units at HQ, order, approve, ship, dispatch.
func BenchmarkReceipt1000Serials(b *testing.B) {
	const n = 1000
	for _, be := range dbtest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			e := apitest.Start(b, be, apitest.Options{})
			ctx := context.Background()
			if _, err := e.Server.DB.NewRaw(`UPDATE credit_accounts SET credit_limit = 100000000000000`).Exec(ctx); err != nil {
				b.Fatal(err)
			}
			dist, ops, gc := e.As(auth.RoleDistributorAdmin), e.As(auth.RoleSalesOps), e.As(auth.RoleGoodsControl)
			var ids struct {
				Warehouses []struct{ ID, Code string }
				Catalog    struct {
					Edges []struct{ Node struct{ ID, Code string } }
				}
			}
			e.Query(gc, `{ warehouses { id code } catalog(filter: {search: "PH01-1-1"}) { edges { node { id code } } } }`, nil).Decode(b, &ids)
			sku := ids.Catalog.Edges[0].Node.ID
			must := func(r apitest.Response, path ...string) map[string]any {
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
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				from, to := fmt.Sprintf("BX%03d00000", i), fmt.Sprintf("BX%03d00999", i)
				must(e.Query(gc, `mutation($in: SerialReceiveInput!) { serialReceive(input: $in) { received errors { code } } }`,
					map[string]any{"in": map[string]any{"warehouseId": ids.Warehouses[0].ID, "skuId": sku, "reference": "bench",
						"idempotencyKey": from, "ranges": []map[string]any{{"from": from, "to": to}}}}), "serialReceive")
				o := must(e.Query(dist, `mutation($in: OrderSubmitInput!) { orderSubmit(input: $in) { order { id } errors { code } } }`,
					map[string]any{"in": map[string]any{"idempotencyKey": from, "lines": []map[string]any{{"skuId": sku, "qty": n}}}}), "orderSubmit", "order")
				must(e.Query(ops, `mutation($id: ID!) { orderApprove(id: $id, input: {reason: "bench"}) { order { id } errors { code } } }`,
					map[string]any{"id": o["id"]}), "orderApprove", "order")
				var numbers []string
				for k := range n {
					numbers = append(numbers, fmt.Sprintf("BX%03d%05d", i, k))
				}
				sh := must(e.Query(gc, `mutation($in: ShipmentCreateInput!) { shipmentCreate(input: $in) { shipment { id } errors { code } } }`,
					map[string]any{"in": map[string]any{"orderId": o["id"], "idempotencyKey": from, "carrier": "SF",
						"lines": []map[string]any{{"orderLineNo": 1, "qty": n, "serials": numbers}}}}), "shipmentCreate", "shipment")
				must(e.Query(gc, `mutation($id: ID!) { shipmentDispatch(id: $id) { shipment { id } errors { code } } }`,
					map[string]any{"id": sh["id"]}), "shipmentDispatch", "shipment")
				b.StartTimer()
				rc := must(e.Query(dist, `mutation($id: ID!, $in: ReceiptConfirmInput!) { receiptConfirm(shipmentId: $id, input: $in) {
					receipt { accepted } errors { code } } }`, map[string]any{"id": sh["id"], "in": map[string]any{"idempotencyKey": from, "serials": numbers}}),
					"receiptConfirm", "receipt")
				if rc["accepted"].(float64) != n {
					b.Fatalf("accepted %v", rc["accepted"])
				}
			}
		})
	}
}
