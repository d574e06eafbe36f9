package channel

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/field"
	"channelhub/internal/inventory"
	"channelhub/internal/order"
	"channelhub/internal/page"
	"channelhub/internal/party"
)

// InventoryFilter picks the parties and SKUs of a channel inventory page.
type InventoryFilter struct {
	Period Period
	// PartyID is the top of the subtree shown, in the caller's scope; the
	// caller's own party by default.
	PartyID *uuid.UUID
	// Depth is how many levels below the party are shown (0: the party alone).
	Depth int
	Kind  *party.Kind
	SKUID *uuid.UUID
}

// Row is one party's figures for one SKU. On hand and in transit are now;
// the flows count the period's documents, from the party's point of view.
type Row struct {
	PartyID     uuid.UUID `bun:"party_id"`
	SKUID       uuid.UUID `bun:"sku_id"`
	PartyCode   string    `bun:"party_code"`
	SKUCode     string    `bun:"sku_code"`
	OnHand      int64     `bun:"on_hand"`      // over the party's warehouses
	InTransit   int64     `bun:"in_transit"`   // dispatched or delivered to it, not received yet
	SellIn      int64     `bun:"sell_in"`      // accepted on its goods receipts of orders it placed
	SellThrough int64     `bun:"sell_through"` // dispatched on orders it sold into the channel
	SellOut     int64     `bun:"sell_out"`     // reported sold to consumers
}

// Cursor is the row's position in (party code, SKU code) order.
func (r *Row) Cursor() string { return page.Cursor(r.PartyCode, r.SKUCode) }

// Inventory returns one page of channel inventory, in (party code, SKU code)
// order: a row for every party in the subtree and the caller's scope and
// every SKU it keeps a stock level of or has on the way to it. Two
// statements per page however many parties and SKUs it spans: the top
// party's (scope) check and the page itself, which reads only the page's
// parties.
func (s *Service) Inventory(ctx context.Context, p auth.Principal, f InventoryFilter, pr page.Request) ([]*Row, bool, error) {
	if err := p.Require(InventoryReaders...); err != nil {
		return nil, false, err
	}
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := page.Decode(pr.After, 2)
	if err != nil {
		return nil, false, err
	}
	start, end, err := s.bounds(f.Period, "period")
	if err != nil {
		return nil, false, err
	}
	if f.Depth < 0 || f.Depth > MaxDepth {
		return nil, false, field.Err(ErrInvalidInput, "depth")
	}
	if f.Kind != nil {
		switch *f.Kind {
		case party.KindHQ, party.KindBranch, party.KindDistributor, party.KindStore:
		default:
			return nil, false, field.Err(ErrInvalidInput, "kind")
		}
	}
	top := p.PartyID
	if f.PartyID != nil {
		top = *f.PartyID
	}
	base, err := s.parties.Get(ctx, p, top) // NOT_FOUND outside the caller's scope
	if err != nil {
		return nil, false, err
	}
	open := bun.List([]string{"DISPATCHED", "DELIVERED"})
	sales := bun.List([]order.Kind{order.KindSellIn, order.KindSellThrough})
	skuLevel, skuLine := bun.SafeQuery(""), bun.SafeQuery("")
	if f.SKUID != nil {
		skuLevel, skuLine = bun.SafeQuery("AND sl.sku_id = ?", *f.SKUID), bun.SafeQuery("AND shl.sku_id = ?", *f.SKUID)
	}
	// The page's parties: those of the subtree down to depth levels (each level
	// adds "<uuid>/" to the path) in the caller's scope that have a row, in code
	// order from the cursor's party. A page of n rows needs at most n + 2 of
	// them (the cursor's own may be used up), so the rest of the channel is
	// never read. A party has a row for a SKU it keeps a stock level of (every
	// receipt, dispatch and sell-out moves a level, and levels are never
	// deleted) or has on the way to it.
	sc := s.db.NewSelect().TableExpr("parties AS p").ColumnExpr("p.id, p.code").
		Where("p.path LIKE ?", base.Path+"%").Where("LENGTH(p.path) <= ?", len(base.Path)+37*f.Depth).
		// One EXISTS over a UNION ALL: probed party by party as the code order
		// walks (PostgreSQL would hash two ORed EXISTS over the whole channel).
		Where(`EXISTS (SELECT 1 FROM warehouses AS w CROSS JOIN stock_levels AS sl WHERE sl.warehouse_id = w.id AND w.party_id = p.id ?
			UNION ALL SELECT 1 FROM shipments AS sh JOIN shipment_lines AS shl ON shl.shipment_id = sh.id
				WHERE sh.buyer_party_id = p.id AND sh.status IN (?) ?)`, skuLevel, open, skuLine).
		OrderExpr("p.code").Limit(int64(size + 2))
	if f.Kind != nil {
		sc = sc.Where("p.kind = ?", *f.Kind)
	}
	if key != nil {
		sc = sc.Where("p.code >= ?", key[0])
	}
	sc = party.Scope(sc, p, "p.id")
	after := bun.SafeQuery("")
	if key != nil {
		after = bun.SafeQuery("WHERE sc.code > ? OR (sc.code = ? AND s.code > ?)", key[0], key[0], key[1])
	}
	args := []any{sc,
		skuLevel, open, skuLine, after, size + 1,
		open, sales, start, end, sales, start, end, inventory.MoveSellOut, start, end}
	var rows []*Row
	raw := s.db.NewRaw(`WITH sc AS (?),
k AS (
  SELECT w.party_id, sl.sku_id FROM warehouses AS w CROSS JOIN stock_levels AS sl
    WHERE sl.warehouse_id = w.id AND w.party_id IN (SELECT id FROM sc) ?
  UNION
  SELECT sh.buyer_party_id AS party_id, shl.sku_id FROM shipments AS sh JOIN shipment_lines AS shl ON shl.shipment_id = sh.id
    WHERE sh.buyer_party_id IN (SELECT id FROM sc) AND sh.status IN (?) ?
),
pg AS (
  SELECT k.party_id, k.sku_id, sc.code AS party_code, s.code AS sku_code
  FROM k JOIN sc ON sc.id = k.party_id JOIN skus AS s ON s.id = k.sku_id
  ?
  ORDER BY sc.code, s.code LIMIT ?
)
SELECT pg.party_id, pg.sku_id, pg.party_code, pg.sku_code,
  COALESCE((SELECT SUM(sl.on_hand) FROM warehouses AS w CROSS JOIN stock_levels AS sl
    WHERE sl.warehouse_id = w.id AND w.party_id = pg.party_id AND sl.sku_id = pg.sku_id), 0) AS on_hand,
  COALESCE((SELECT SUM(shl.qty) FROM shipments AS sh JOIN shipment_lines AS shl ON shl.shipment_id = sh.id
    WHERE sh.buyer_party_id = pg.party_id AND shl.sku_id = pg.sku_id AND sh.status IN (?)), 0) AS in_transit,
  COALESCE((SELECT SUM(shl.accepted_qty) FROM receipts AS gr JOIN shipments AS sh ON sh.id = gr.shipment_id
    JOIN orders AS o ON o.id = sh.order_id JOIN shipment_lines AS shl ON shl.shipment_id = gr.shipment_id
    WHERE gr.buyer_party_id = pg.party_id AND shl.sku_id = pg.sku_id AND o.kind IN (?)
      AND gr.created_at >= ? AND gr.created_at < ?), 0) AS sell_in,
  COALESCE((SELECT SUM(shl.qty) FROM shipments AS sh JOIN orders AS o ON o.id = sh.order_id
    JOIN shipment_lines AS shl ON shl.shipment_id = sh.id
    WHERE sh.seller_party_id = pg.party_id AND shl.sku_id = pg.sku_id AND o.kind IN (?)
      AND sh.dispatched_at >= ? AND sh.dispatched_at < ?), 0) AS sell_through,
  COALESCE((SELECT -SUM(sm.delta) FROM warehouses AS w CROSS JOIN stock_movements AS sm
    WHERE sm.warehouse_id = w.id AND w.party_id = pg.party_id AND sm.sku_id = pg.sku_id AND sm.kind = ?
      AND sm.created_at >= ? AND sm.created_at < ?), 0) AS sell_out
FROM pg ORDER BY pg.party_code, pg.sku_code`, args...) // CROSS JOIN: SQLite keeps that join order (party first); PostgreSQL plans freely
	err = raw.Scan(ctx, &rows)
	if err != nil {
		return nil, false, fmt.Errorf("channel: inventory: %w", err)
	}
	if len(rows) > size {
		return rows[:size], true, nil
	}
	return rows, false, nil
}
