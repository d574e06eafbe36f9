package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/database/dbtest"
)

// Benchmarks run through the real HTTP handler, on every configured backend.
// Compare them as ratios to BenchmarkTypename from the same run: the machine is shared.
func benchEach(b *testing.B, query string, role auth.Role) {
	for _, be := range dbtest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			e := apitest.Start(b, be, apitest.Options{})
			token := ""
			if role != "" {
				token = e.As(role)
			}
			body, _ := json.Marshal(map[string]any{"query": query})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if r := e.Post(token, body); len(r.Errors) > 0 {
					b.Fatalf("%v", r.Errors)
				}
			}
		})
	}
}

func BenchmarkTypename(b *testing.B) { benchEach(b, `{ __typename }`, "") }

func BenchmarkViewer(b *testing.B) {
	benchEach(b, `{ viewer { roles user { name } party { name } } }`, auth.RoleDistributorAdmin)
}

func BenchmarkPartiesPage(b *testing.B) {
	benchEach(b, `{ parties(first: 27) { totalCount edges { cursor node { id code name kind status parent { name } } } } }`, auth.RoleHQAdmin)
}

func BenchmarkPartiesPageScoped(b *testing.B) {
	benchEach(b, `{ parties(first: 27) { totalCount edges { node { id code name parent { name } } } } }`, auth.RoleBranchManager)
}

// BenchmarkCatalogPage is the distributor app's catalogue page: 50 SKUs with prices.
func BenchmarkCatalogPage(b *testing.B) {
	benchEach(b, `{ catalog(first: 50) { edges { node { id code name packSize minOrderQty onShelf
		price { amount currency } availability product { name brand } category { name } } } } }`, auth.RoleDistributorAdmin)
}

// BenchmarkOrderSubmit places 10-line orders as a distributor: price, credit
// and stock reservation, numbering, outbox. Setup gives the buyer a large line
// and HQ deep stock so the loop never runs dry.
func BenchmarkOrderSubmit(b *testing.B) {
	for _, be := range dbtest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			e := apitest.Start(b, be, apitest.Options{})
			ctx := context.Background()
			if _, err := e.Server.DB.NewRaw(`UPDATE credit_accounts SET credit_limit = 100000000000000`).Exec(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := e.Server.DB.NewRaw(`UPDATE stock_levels SET on_hand = 1000000000`).Exec(ctx); err != nil {
				b.Fatal(err)
			}
			var skus []struct {
				ID   string `bun:"id"`
				Pack int    `bun:"pack_size"`
				Min  int    `bun:"min_order_qty"`
			}
			if err := e.Server.DB.NewRaw(`SELECT s.id, s.pack_size, s.min_order_qty FROM skus s JOIN stock_levels sl ON sl.sku_id = s.id
				JOIN warehouses w ON w.id = sl.warehouse_id WHERE w.code = 'HQ-WH1' AND s.on_shelf ORDER BY s.code LIMIT 10`).Scan(ctx, &skus); err != nil {
				b.Fatal(err)
			}
			lines := make([]map[string]any, len(skus))
			for i, k := range skus {
				lines[i] = map[string]any{"skuId": "SKU:" + k.ID, "qty": max(k.Pack, k.Min)}
			}
			token := e.As(auth.RoleDistributorAdmin)
			b.ReportAllocs()
			queries := e.Server.DB.Queries()
			b.ResetTimer()
			n := 0
			for b.Loop() {
				n++
				body, _ := json.Marshal(map[string]any{"query": `mutation($in: OrderSubmitInput!) { orderSubmit(input: $in) { order { number status } errors { code } } }`,
					"variables": map[string]any{"in": map[string]any{"idempotencyKey": fmt.Sprintf("bench-%d", n), "lines": lines}}})
				r := e.Post(token, body)
				if len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"errors":[]`) {
					b.Fatalf("%s %v", r.Data, r.Errors)
				}
			}
			b.ReportMetric(float64(e.Server.DB.Queries()-queries)/float64(n), "sql/op")
		})
	}
}
