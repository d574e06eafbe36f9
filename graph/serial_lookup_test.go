package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
)

// TestSerialLookupStatements: serial(number) with its SKU, holder and trail
// (warehouse codes and holders) costs one statement, for HQ and through a
// distributor's scope check alike: the unit, its SKU, its holder and its
// trail are read together, and a scanner's next lookup trusts the session
// check of the one before.
func TestSerialLookupStatements(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_SESSION_CACHE_TTL": "10s"}}, func(t *testing.T, e *apitest.Env) {
		hq, dist := e.As(auth.RoleHQAdmin), e.As(auth.RoleDistributorAdmin)
		number := freeUnit(t, e, "D-0001", "PH01-1-1")
		const q = `query($n: String!) { serial(number: $n) { number status warehouseCode sku { code name }
			holder { code name } trail { type status warehouseCode documentType holder { code } } } }`
		type view struct {
			Serial *struct {
				Number, Status string
				WarehouseCode  *string
				Sku            struct{ Code, Name string }
				Holder         struct{ Code, Name string }
				Trail          []struct {
					Type, Status, DocumentType string
					WarehouseCode              *string
					Holder                     struct{ Code string }
				}
			}
		}
		cost := func(token, doc string, vars map[string]any) int64 {
			best := int64(-1) // background work (the outbox) may add a statement now and then
			for range 3 {
				before := e.Server.DB.Queries()
				r := e.Query(token, doc, vars)
				require.Empty(t, r.Errors)
				if n := e.Server.DB.Queries() - before; best < 0 || n < best {
					best = n
				}
			}
			return best
		}
		for _, token := range []string{hq, dist} {
			var v view
			e.Query(token, q, map[string]any{"n": number}).Decode(t, &v)
			require.NotNil(t, v.Serial)
			require.Equal(t, number, v.Serial.Number)
			require.Equal(t, "IN_STOCK", v.Serial.Status)
			require.Equal(t, "PH01-1-1", v.Serial.Sku.Code)
			require.NotEmpty(t, v.Serial.Sku.Name)
			require.Equal(t, "D-0001", v.Serial.Holder.Code)
			require.NotEmpty(t, v.Serial.Holder.Name)
			require.NotNil(t, v.Serial.WarehouseCode)
			require.NotEmpty(t, v.Serial.Trail)
			last := v.Serial.Trail[len(v.Serial.Trail)-1]
			require.Equal(t, "D-0001", last.Holder.Code)
			require.Equal(t, *v.Serial.WarehouseCode, *last.WarehouseCode)
			for _, ev := range v.Serial.Trail {
				require.NotEmpty(t, ev.Holder.Code)
			}
			// Five at first: session, unit, trail, then SKU and parties through the loaders.
			// Now the unit, its SKU, its holder and its trail in one; holders of
			// the trail other than the current one would take one more.
			require.Equal(t, int64(1), cost(token, q, map[string]any{"n": number}))
			require.Equal(t, int64(1), cost(token, `query($n: String!) { serial(number: $n) { number trail { type } } }`,
				map[string]any{"n": number}))
		}
		// Out of scope: another distributor sees nothing.
		other := e.Login("13800000002", auth.AppDistributor).AccessToken
		r := e.Query(other, q, map[string]any{"n": number})
		require.Equal(t, []string{"NOT_FOUND"}, r.Codes())
	})
}
