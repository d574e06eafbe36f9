package database_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/database/dbtest"
	"channelhub/internal/seed"
	"channelhub/migrations"
)

// without returns every migration but name, as a file system: the database
// as it was before name, with the later, independent migrations that today's
// seed needs (bun applies a missing older migration after newer ones).
func without(t *testing.T, name string) fs.FS {
	t.Helper()
	out := fstest.MapFS{}
	entries, err := fs.ReadDir(migrations.FS, ".")
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), name) || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(migrations.FS, e.Name())
		require.NoError(t, err)
		out[e.Name()] = &fstest.MapFile{Data: b}
	}
	return out
}

// Migration 000014 makes shipments.order_id and claims.order_id nullable; on
// SQLite that rebuilds both tables, which other tables reference. A database
// with shipments, receipts and claims in it must come through with every row,
// every reference and every index, and accept a shipment without an order.
func TestTransferMigrationKeepsShipmentsAndClaims(t *testing.T) {
	t.Parallel()
	for _, b := range dbtest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			db, err := database.Open(ctx, b.DSN(t))
			require.NoError(t, err)
			t.Cleanup(func() { _ = db.Close() })
			require.NoError(t, db.MigrateFrom(ctx, without(t, "20261123000014")))
			_, err = seed.Demo(ctx, db, auth.NewPasswordHasher(auth.FastPasswordParams()))
			require.NoError(t, err)

			var ids struct {
				HQ, D1, User, Warehouse, SKU, Serial uuid.UUID
			}
			q := func(dst any, query string, args ...any) { require.NoError(t, db.NewRaw(query, args...).Scan(ctx, dst)) }
			q(&ids.HQ, `SELECT id FROM parties WHERE code = 'HQ-ZJ'`)
			q(&ids.D1, `SELECT id FROM parties WHERE code = 'D-0001'`)
			q(&ids.User, `SELECT id FROM users WHERE phone = '13800000000'`)
			q(&ids.Warehouse, `SELECT id FROM warehouses WHERE code = 'HQ-WH1'`)
			q(&ids.Serial, `SELECT id FROM serials ORDER BY number LIMIT 1`)
			q(&ids.SKU, `SELECT sku_id FROM serials WHERE id = ?`, ids.Serial)
			now := time.Now().UTC()
			order, ship, rec, claim := uuid.New(), uuid.New(), uuid.New(), uuid.New()
			exec := func(query string, args ...any) {
				_, err := db.ExecContext(ctx, query, args...)
				require.NoError(t, err, query)
			}
			exec(`INSERT INTO orders (id, number, kind, status, buyer_party_id, seller_party_id, created_by, subtotal, discount, total,
				delivery_address, explanation, submitted_at, updated_at) VALUES (?, 'SO-X', 'SELL_IN', 'SHIPPED', ?, ?, ?, 1, 0, 1, '{}', '[]', ?, ?)`,
				order, ids.D1, ids.HQ, ids.User, now, now)
			exec(`INSERT INTO shipments (id, number, order_id, seller_party_id, buyer_party_id, warehouse_id, status, created_by, created_at, updated_at)
				VALUES (?, 'SH-X', ?, ?, ?, ?, 'PARTIALLY_RECEIVED', ?, ?, ?)`, ship, order, ids.HQ, ids.D1, ids.Warehouse, ids.User, now, now)
			exec(`INSERT INTO shipment_lines (shipment_id, line_no, order_line_no, sku_id, qty) VALUES (?, 1, 1, ?, 1)`, ship, ids.SKU)
			exec(`INSERT INTO shipment_serials (shipment_id, serial_id, line_no, outcome) VALUES (?, ?, 1, 'MISSING')`, ship, ids.Serial)
			exec(`INSERT INTO shipment_events (id, shipment_id, type, status, source, created_at) VALUES (?, ?, 'CREATED', 'CREATED', 'USER', ?)`, uuid.New(), ship, now)
			exec(`INSERT INTO carrier_events (event_id, shipment_id, status, happened_at, created_at) VALUES ('ev-1', ?, 'IN_TRANSIT', ?, ?)`, ship, now, now)
			exec(`INSERT INTO receipts (id, number, shipment_id, buyer_party_id, warehouse_id, accepted_qty, created_by, created_at)
				VALUES (?, 'GR-X', ?, ?, ?, 0, ?, ?)`, rec, ship, ids.D1, ids.Warehouse, ids.User, now)
			exec(`INSERT INTO claims (id, number, receipt_id, shipment_id, order_id, buyer_party_id, seller_party_id, status, value, created_at)
				VALUES (?, 'CL-X', ?, ?, ?, ?, ?, 'OPEN', 1, ?)`, claim, rec, ship, order, ids.D1, ids.HQ, now)
			exec(`INSERT INTO claim_items (claim_id, item_no, kind, qty, value) VALUES (?, 1, 'MISSING', 1, 1)`, claim)

			applied, err := db.Migrate(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"20261123000014"}, applied[:1])

			var n int
			q(&n, `SELECT COUNT(*) FROM shipments WHERE id = ? AND order_id = ? AND number = 'SH-X' AND status = 'PARTIALLY_RECEIVED'`, ship, order)
			require.Equal(t, 1, n)
			q(&n, `SELECT COUNT(*) FROM claims WHERE id = ? AND order_id = ? AND value = 1`, claim, order)
			require.Equal(t, 1, n)
			if !db.IsPostgres() {
				var problems []string
				require.NoError(t, db.NewRaw(`SELECT "table" || ':' || parent FROM pragma_foreign_key_check`).Scan(ctx, &problems))
				require.Empty(t, problems, "every reference still holds")
				var ok string
				q(&ok, `PRAGMA integrity_check`)
				require.Equal(t, "ok", ok)
			}
			var indexes []string
			if db.IsPostgres() {
				require.NoError(t, db.NewRaw(`SELECT indexname FROM pg_indexes WHERE tablename IN ('shipments', 'claims') ORDER BY indexname`).Scan(ctx, &indexes))
			} else {
				require.NoError(t, db.NewRaw(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('shipments', 'claims')
					AND name NOT LIKE 'sqlite_autoindex_%' ORDER BY name`).Scan(ctx, &indexes))
			}
			for _, want := range []string{"claims_number_key", "claims_seller_idx", "claims_shipment_idx", "shipments_buyer_idx", "shipments_created_idx",
				"shipments_number_key", "shipments_order_idx", "shipments_seller_idx", "shipments_tracking_idx", "shipments_transfer_idx"} {
				require.Contains(t, indexes, want)
			}

			// Deleting a referenced shipment is still refused: the references point at the new table.
			_, err = db.ExecContext(ctx, `DELETE FROM shipments WHERE id = ?`, ship)
			require.True(t, database.IsForeignKeyViolation(err), "%v", err)
			// A shipment needs exactly one of an order and a transfer.
			_, err = db.ExecContext(ctx, `INSERT INTO shipments (id, number, seller_party_id, buyer_party_id, warehouse_id, status, created_by, created_at, updated_at)
				VALUES (?, 'SH-Y', ?, ?, ?, 'CREATED', ?, ?, ?)`, uuid.New(), ids.HQ, ids.D1, ids.Warehouse, ids.User, now, now)
			require.True(t, database.IsCheckViolation(err), "%v", err)
			tr := uuid.New()
			exec(`INSERT INTO transfers (id, number, status, from_party_id, to_party_id, supplier_party_id, requested_by, created_at, updated_at)
				VALUES (?, 'TR-X', 'APPROVED', ?, ?, ?, ?, ?, ?)`, tr, ids.D1, ids.HQ, ids.HQ, ids.User, now, now)
			exec(`INSERT INTO shipments (id, number, transfer_id, seller_party_id, buyer_party_id, warehouse_id, status, created_by, created_at, updated_at)
				VALUES (?, 'SH-Z', ?, ?, ?, ?, 'CREATED', ?, ?, ?)`, uuid.New(), tr, ids.HQ, ids.D1, ids.Warehouse, ids.User, now, now)
		})
	}
}
