package seed

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/inventory"
	"channelhub/internal/party"
)

// stockData is the demo's warehouses and opening stock, each level with its receipt movement.
type stockData struct {
	warehouses []*inventory.Warehouse
	levels     []*inventory.Level
	moves      []map[string]any
}

// buildStock stocks HQ's warehouse with every SKU and D-0001's with most;
// every tenth SKU is out of stock and the next one low, so all three
// availability grades show in the demo.
func (b *builder) buildStock(c *catalogue, hq, d1 *party.Party) *stockData {
	d := &stockData{}
	for _, wh := range []struct {
		owner  *party.Party
		code   string
		offset int
		full   int64
	}{{hq, "HQ-WH1", 0, 500}, {d1, "D1-WH1", 5, 60}} {
		w := &inventory.Warehouse{ID: uuid.Must(uuid.NewV7()), PartyID: wh.owner.ID, Code: wh.code,
			Name: b.t("seed.warehouse", map[string]any{"Code": wh.code}), Priority: 10, Active: true, CreatedAt: b.now}
		d.warehouses = append(d.warehouses, w)
		for i, k := range c.skus {
			qty := wh.full
			switch (i + wh.offset) % 10 {
			case 0:
				continue // out of stock
			case 1:
				qty = 5
			}
			d.levels = append(d.levels, &inventory.Level{WarehouseID: w.ID, SKUID: k.ID, OnHand: qty, UpdatedAt: b.now})
			d.moves = append(d.moves, map[string]any{"id": uuid.Must(uuid.NewV7()), "warehouse_id": w.ID, "sku_id": k.ID,
				"delta": qty, "on_hand_after": qty, "kind": inventory.MoveReceipt, "reason": "", "source_type": "RECEIPT",
				"source_id": "SEED", "created_at": b.now})
		}
	}
	return d
}

func insertStock(ctx context.Context, tx bun.Tx, d *stockData) error {
	if _, err := tx.NewInsert().Model(&d.warehouses).Exec(ctx); err != nil {
		return fmt.Errorf("seed: warehouses: %w", err)
	}
	if _, err := tx.NewInsert().Model(&d.levels).Exec(ctx); err != nil {
		return fmt.Errorf("seed: stock: %w", err)
	}
	for _, m := range d.moves {
		if _, err := tx.NewInsert().Table("stock_movements").Model(&m).Exec(ctx); err != nil {
			return fmt.Errorf("seed: movements: %w", err)
		}
	}
	return nil
}
