package graph_test

import (
	"encoding/json"
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
