package graph_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// together runs fn(0..n-1) at once and waits for all of them.
func together(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// stockRow is one warehouse's level of a SKU, read from the database.
func stockRow(t *testing.T, e *apitest.Env, warehouse, sku string) (onHand, reserved int64) {
	t.Helper()
	require.NoError(t, e.Server.DB.NewRaw(`SELECT sl.on_hand, sl.reserved FROM stock_levels sl JOIN warehouses w ON w.id = sl.warehouse_id
		JOIN skus s ON s.id = sl.sku_id WHERE w.code = ? AND s.code = ?`, warehouse, sku).Scan(context.Background(), &onHand, &reserved))
	return onHand, reserved
}

// approvedTransfers makes n transfers of qty units of sku from D-0001 to D-0002, approved by HQ.
func approvedTransfers(t *testing.T, e *apitest.Env, d2, ops, prefix, sku string, n, qty int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		tr, errs := transferRequest(t, e, d2, fmt.Sprintf("%s-%d", prefix, i), "D-0001", "D-0002", sku, qty)
		require.Empty(t, errs)
		_, errs = transferDecide(t, e, ops, "transferApprove", tr.ID, "race")
		require.Empty(t, errs)
		ids = append(ids, tr.ID)
	}
	return ids
}

// Many approvals draw on the same free stock at once: exactly as many as it
// covers succeed, the rest are INSUFFICIENT_STOCK, and what is reserved is
// exactly what the approved transfers hold. Approving one transfer from many
// callers at once approves it once.
func TestTransferApprovalRace(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx := context.Background()
		d1, d2, ops := e.As(auth.RoleDistributorAdmin), e.Login("13800000002", auth.AppDistributor).AccessToken, e.As(auth.RoleSalesOps)
		var sku string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT s.code FROM stock_levels sl JOIN skus s ON s.id = sl.sku_id JOIN warehouses w ON w.id = sl.warehouse_id
			WHERE w.code = 'D1-WH1' AND NOT s.serialised AND s.code LIKE 'EP%' AND sl.on_hand >= 10 ORDER BY s.code LIMIT 1`).Scan(ctx, &sku))
		onHand, reserved := stockRow(t, e, "D1-WH1", sku)
		require.Zero(t, reserved)
		// Leave exactly 55 free: five transfers of 10 fit, the sixth does not.
		r := e.Query(d1, `mutation($w: ID!, $s: ID!, $d: Int!) { stockAdjust(input: {warehouseId: $w, skuId: $s, delta: $d, reason: "count"}) { errors { code } } }`,
			map[string]any{"w": inventoryWarehouse(t, e, d1), "s": skuGID(t, e, sku), "d": 55 - onHand})
		require.JSONEq(t, `{"stockAdjust":{"errors":[]}}`, string(r.Data))
		var ids []string
		for i := range 16 {
			tr, errs := transferRequest(t, e, d2, fmt.Sprintf("ar-%d", i), "D-0001", "D-0002", sku, 10)
			require.Empty(t, errs)
			ids = append(ids, tr.ID)
		}
		var mu sync.Mutex
		outcome := map[string]int{}
		together(len(ids), func(i int) {
			_, errs := transferDecide(t, e, ops, "transferApprove", ids[i], "race")
			mu.Lock()
			defer mu.Unlock()
			if len(errs) == 0 {
				outcome["APPROVED"]++
			}
			for _, er := range errs {
				outcome[er.Code]++
			}
		})
		require.Equal(t, map[string]int{"APPROVED": 5, "INSUFFICIENT_STOCK": 11}, outcome)
		onHand, reserved = stockRow(t, e, "D1-WH1", sku)
		require.Equal(t, []int64{55, 50}, []int64{onHand, reserved}, "never more promised than there is")
		var held int64
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COALESCE(SUM(trr.qty), 0) FROM transfer_reservations trr JOIN skus s ON s.id = trr.sku_id WHERE s.code = ?`, sku).
			Scan(ctx, &held))
		require.Equal(t, reserved, held, "the level matches the transfers' reservations")

		// One transfer, approved by eight callers at once.
		one := ids[len(ids)-1]
		for _, id := range ids {
			if got, _ := transferOf(t, e, ops, id); got.Status == "REQUESTED" {
				one = id
				break
			}
		}
		r = e.Query(d1, `mutation($w: ID!, $s: ID!) { stockAdjust(input: {warehouseId: $w, skuId: $s, delta: 100, reason: "count"}) { errors { code } } }`,
			map[string]any{"w": inventoryWarehouse(t, e, d1), "s": skuGID(t, e, sku)})
		require.JSONEq(t, `{"stockAdjust":{"errors":[]}}`, string(r.Data))
		outcome = map[string]int{}
		together(8, func(int) {
			_, errs := transferDecide(t, e, ops, "transferApprove", one, "race")
			mu.Lock()
			defer mu.Unlock()
			if len(errs) == 0 {
				outcome["APPROVED"]++
			}
			for _, er := range errs {
				outcome[er.Code]++
			}
		})
		require.Equal(t, map[string]int{"APPROVED": 1, "INVALID_TRANSITION": 7}, outcome)
		_, reserved = stockRow(t, e, "D1-WH1", sku)
		require.Equal(t, int64(60), reserved, "reserved once")
	})
}

// Shipments made and dispatched at once from the same serialised stock never
// take one unit twice nor more stock than there is: FIFO picks made together
// get different units; one scanned unit goes on one shipment; each shipment
// dispatches once however often it is sent; and if two shipments ever named
// the same unit, only one of them could leave with it.
func TestShipmentSerialRace(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx := context.Background()
		d1, d2, ops := e.As(auth.RoleDistributorAdmin), e.Login("13800000002", auth.AppDistributor).AccessToken, e.As(auth.RoleSalesOps)
		var sku string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT s.code FROM serials sr JOIN skus s ON s.id = sr.sku_id JOIN warehouses w ON w.id = sr.warehouse_id
			WHERE w.code = 'D1-WH1' AND sr.status = 'IN_STOCK' GROUP BY s.code HAVING COUNT(*) >= 40 ORDER BY s.code LIMIT 1`).Scan(ctx, &sku))
		onHand0, _ := stockRow(t, e, "D1-WH1", sku)

		// Ten transfers of three, shipped at once with units picked oldest first.
		ids := approvedTransfers(t, e, d2, ops, "sr", sku, 10, 3)
		shipments := make([]*shipmentView, len(ids))
		together(len(ids), func(i int) {
			sh, errs := transferShip(t, e, d1, ids[i], map[string]any{"idempotencyKey": fmt.Sprintf("sr-sh-%d", i), "carrier": "SF",
				"lines": []map[string]any{{"lineNo": 1, "qty": 3}}})
			require.Empty(t, errs)
			shipments[i] = sh
		})
		seen := map[string]bool{}
		for _, sh := range shipments {
			require.Len(t, sh.numbers(), 3)
			for _, n := range sh.numbers() {
				require.False(t, seen[n], "unit %s picked twice", n)
				seen[n] = true
			}
		}

		// Each shipment sent for dispatch twice, all at once: each leaves once.
		var mu sync.Mutex
		outcome := map[string]int{}
		together(2*len(shipments), func(i int) {
			_, errs := shipmentDispatch(t, e, d1, shipments[i%len(shipments)].ID, nil)
			mu.Lock()
			defer mu.Unlock()
			if len(errs) == 0 {
				outcome["DISPATCHED"]++
			}
			for _, er := range errs {
				outcome[er.Code]++
			}
		})
		require.Equal(t, map[string]int{"DISPATCHED": 10, "INVALID_TRANSITION": 10}, outcome)
		onHand, reserved := stockRow(t, e, "D1-WH1", sku)
		require.Equal(t, onHand0-30, onHand, "thirty units left, once each")
		require.Zero(t, reserved)
		var inTransit, dispatchedOnce int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM serials WHERE status = 'IN_TRANSIT'`).Scan(ctx, &inTransit))
		require.Equal(t, 30, inTransit)
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM (SELECT ss.serial_id FROM shipment_serials ss JOIN shipments sh ON sh.id = ss.shipment_id
			WHERE sh.status = 'DISPATCHED' GROUP BY ss.serial_id HAVING COUNT(*) = 1) x`).Scan(ctx, &dispatchedOnce))
		require.Equal(t, 30, dispatchedOnce, "every unit on exactly one dispatched shipment")

		// Six transfers of one, each shipped at once scanning the same unit: one gets it.
		ids = approvedTransfers(t, e, d2, ops, "sc", sku, 6, 1)
		var unit string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT sr.number FROM serials sr JOIN skus s ON s.id = sr.sku_id JOIN warehouses w ON w.id = sr.warehouse_id
			WHERE w.code = 'D1-WH1' AND s.code = ? AND sr.status = 'IN_STOCK' ORDER BY sr.number LIMIT 1`, sku).Scan(ctx, &unit))
		outcome = map[string]int{}
		var winner string
		together(len(ids), func(i int) {
			sh, errs := transferShip(t, e, d1, ids[i], map[string]any{"idempotencyKey": fmt.Sprintf("sc-sh-%d", i), "carrier": "SF",
				"lines": []map[string]any{{"lineNo": 1, "qty": 1, "serials": []string{unit}}}})
			mu.Lock()
			defer mu.Unlock()
			if len(errs) == 0 {
				outcome["CREATED"]++
				winner = sh.ID
			}
			for _, er := range errs {
				outcome[er.Code]++
			}
		})
		require.Equal(t, map[string]int{"CREATED": 1, "SERIAL_UNAVAILABLE": 5}, outcome)

		// Were a second shipment ever to name that unit as well (written here
		// behind the API's back), dispatching both at once lets one leave with it.
		other, errs := transferShip(t, e, d1, ids[0], map[string]any{"idempotencyKey": "sc-other", "carrier": "SF",
			"lines": []map[string]any{{"lineNo": 1, "qty": 1}}})
		if len(errs) > 0 { // ids[0] won the scan above: ship another loser
			other, errs = transferShip(t, e, d1, ids[1], map[string]any{"idempotencyKey": "sc-other", "carrier": "SF",
				"lines": []map[string]any{{"lineNo": 1, "qty": 1}}})
		}
		require.Empty(t, errs)
		_, err := e.Server.DB.ExecContext(ctx, `UPDATE shipment_serials SET serial_id = (SELECT id FROM serials WHERE number = ?) WHERE shipment_id = ?`,
			unit, strings.TrimPrefix(other.ID, "Shipment:"))
		require.NoError(t, err)
		onHand0, _ = stockRow(t, e, "D1-WH1", sku)
		pair := []string{winner, other.ID}
		outcome = map[string]int{}
		together(2, func(i int) {
			_, errs := shipmentDispatch(t, e, d1, pair[i], nil)
			mu.Lock()
			defer mu.Unlock()
			if len(errs) == 0 {
				outcome["DISPATCHED"]++
			}
			for _, er := range errs {
				outcome[er.Code]++
			}
		})
		require.Equal(t, map[string]int{"DISPATCHED": 1, "SERIAL_UNAVAILABLE": 1}, outcome)
		onHand, _ = stockRow(t, e, "D1-WH1", sku)
		require.Equal(t, onHand0-1, onHand, "the refused dispatch took no stock")
		var trail []string
		require.NoError(t, e.Server.DB.NewRaw(`SELECT se.document_number FROM serial_events se JOIN serials sr ON sr.id = se.serial_id
			WHERE sr.number = ? AND se.type = 'DISPATCHED'`, unit).Scan(ctx, &trail))
		require.Len(t, trail, 1, "the unit left once")
		sort.Strings(trail)
	})
}
