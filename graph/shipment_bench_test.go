package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/database/dbtest"
	"channelhub/internal/serial"
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
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				from, to := fmt.Sprintf("BX%03d00000", i), fmt.Sprintf("BX%03d00999", i)
				benchMust(b, e.Query(gc, `mutation($in: SerialReceiveInput!) { serialReceive(input: $in) { received errors { code } } }`,
					map[string]any{"in": map[string]any{"warehouseId": ids.Warehouses[0].ID, "skuId": sku, "reference": "bench",
						"idempotencyKey": from, "ranges": []map[string]any{{"from": from, "to": to}}}}), "serialReceive")
				o := benchMust(b, e.Query(dist, `mutation($in: OrderSubmitInput!) { orderSubmit(input: $in) { order { id } errors { code } } }`,
					map[string]any{"in": map[string]any{"idempotencyKey": from, "lines": []map[string]any{{"skuId": sku, "qty": n}}}}), "orderSubmit", "order")
				benchMust(b, e.Query(ops, `mutation($id: ID!) { orderApprove(id: $id, input: {reason: "bench"}) { order { id } errors { code } } }`,
					map[string]any{"id": o["id"]}), "orderApprove", "order")
				var numbers []string
				for k := range n {
					numbers = append(numbers, fmt.Sprintf("BX%03d%05d", i, k))
				}
				sh := benchMust(b, e.Query(gc, `mutation($in: ShipmentCreateInput!) { shipmentCreate(input: $in) { shipment { id } errors { code } } }`,
					map[string]any{"in": map[string]any{"orderId": o["id"], "idempotencyKey": from, "carrier": "SF",
						"lines": []map[string]any{{"orderLineNo": 1, "qty": n, "serials": numbers}}}}), "shipmentCreate", "shipment")
				benchMust(b, e.Query(gc, `mutation($id: ID!) { shipmentDispatch(id: $id) { shipment { id } errors { code } } }`,
					map[string]any{"id": sh["id"]}), "shipmentDispatch", "shipment")
				b.StartTimer()
				rc := benchMust(b, e.Query(dist, `mutation($id: ID!, $in: ReceiptConfirmInput!) { receiptConfirm(shipmentId: $id, input: $in) {
					receipt { accepted } errors { code } } }`, map[string]any{"id": sh["id"], "in": map[string]any{"idempotencyKey": from, "serials": numbers}}),
					"receiptConfirm", "receipt")
				if rc["accepted"].(float64) != n {
					b.Fatalf("accepted %v", rc["accepted"])
				}
			}
		})
	}
}

// BenchmarkTransfer1000Serials times a stock transfer of 1,000 serialised
// units from D-0001 to D-0002 through the API, step by step: transferRequest
// (D-0002's admin), transferApprove (HQ; reserves the stock), transferShip
// (D-0001's staff, the 1,000 units scanned), shipmentDispatch, and
// receiptConfirm (D-0002, the 1,000 units scanned). Setup per iteration
// (untimed): 1,000 new units registered straight into D1-WH1.
func BenchmarkTransfer1000Serials(b *testing.B) {
	const n = 1000
	for _, be := range dbtest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			e := apitest.Start(b, be, apitest.Options{})
			ctx := context.Background()
			d1, d2, ops := e.As(auth.RoleDistributorStaff), e.Login("13800000002", auth.AppDistributor).AccessToken, e.As(auth.RoleSalesOps)
			var ids struct{ D1, D2, W, SKU, User uuid.UUID }
			for _, q := range []struct {
				dst   *uuid.UUID
				query string
			}{{&ids.D1, `SELECT id FROM parties WHERE code = 'D-0001'`}, {&ids.D2, `SELECT id FROM parties WHERE code = 'D-0002'`},
				{&ids.W, `SELECT id FROM warehouses WHERE code = 'D1-WH1'`}, {&ids.SKU, `SELECT id FROM skus WHERE code = 'PH01-1-1'`},
				{&ids.User, `SELECT id FROM users WHERE phone = '13800000001'`}} {
				if err := e.Server.DB.NewRaw(q.query).Scan(ctx, q.dst); err != nil {
					b.Fatal(err)
				}
			}
			steps := []string{"request", "approve", "ship", "dispatch", "receive"}
			spent := make([]time.Duration, len(steps))
			timed := func(i int, fn func()) {
				start := time.Now()
				fn()
				spent[i] += time.Since(start)
			}
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				numbers := make([]string, n)
				for k := range numbers {
					numbers[k] = fmt.Sprintf("TX%03d%05d", i, k)
				}
				err := e.Server.DB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					doc := serial.Doc{Type: "STOCK_IN", Number: "bench", Actor: ids.User, At: time.Now().UTC()}
					if _, err := serial.Insert(ctx, tx, numbers, ids.SKU, ids.D1, ids.W, doc); err != nil {
						return err
					}
					_, err := e.Server.Inventory.MoveTx(ctx, tx, ids.User, ids.W, ids.SKU, n, "RECEIPT", "RECEIPT", "bench")
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
				key := fmt.Sprintf("tx-%d", i)
				b.StartTimer()
				var tr, sh map[string]any
				timed(0, func() {
					tr = benchMustOK(b, e.Query(d2, `mutation($in: TransferRequestInput!) { transferRequest(input: $in) { transfer { id } errors { code } } }`,
						map[string]any{"in": map[string]any{"fromPartyId": "Party:" + ids.D1.String(), "toPartyId": "Party:" + ids.D2.String(),
							"idempotencyKey": key, "lines": []map[string]any{{"skuId": "SKU:" + ids.SKU.String(), "qty": n}}}}), "transferRequest", "transfer")
				})
				timed(1, func() {
					benchMustOK(b, e.Query(ops, `mutation($id: ID!) { transferApprove(id: $id, input: {reason: "bench"}) { transfer { id } errors { code } } }`,
						map[string]any{"id": tr["id"]}), "transferApprove", "transfer")
				})
				timed(2, func() {
					sh = benchMustOK(b, e.Query(d1, `mutation($id: ID!, $in: TransferShipInput!) { transferShip(id: $id, input: $in) { shipment { id } errors { code } } }`,
						map[string]any{"id": tr["id"], "in": map[string]any{"idempotencyKey": key, "carrier": "SF",
							"lines": []map[string]any{{"lineNo": 1, "qty": n, "serials": numbers}}}}), "transferShip", "shipment")
				})
				timed(3, func() {
					benchMustOK(b, e.Query(d1, `mutation($id: ID!) { shipmentDispatch(id: $id) { shipment { id } errors { code } } }`,
						map[string]any{"id": sh["id"]}), "shipmentDispatch", "shipment")
				})
				timed(4, func() {
					rc := benchMustOK(b, e.Query(d2, `mutation($id: ID!, $in: ReceiptConfirmInput!) { receiptConfirm(shipmentId: $id, input: $in) {
						receipt { accepted } errors { code } } }`, map[string]any{"id": sh["id"], "in": map[string]any{"idempotencyKey": key, "serials": numbers}}),
						"receiptConfirm", "receipt")
					if rc["accepted"].(float64) != n {
						b.Fatalf("accepted %v", rc["accepted"])
					}
				})
			}
			for k, s := range steps {
				b.ReportMetric(float64(spent[k].Microseconds())/1000/float64(b.N), s+"-ms/op")
			}
		})
	}
}
