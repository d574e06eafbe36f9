package receipt

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/page"
	"channelhub/internal/party"
)

func (s *Service) get(ctx context.Context, id uuid.UUID) (*Receipt, error) {
	r := new(Receipt)
	err := s.db.NewSelect().Model(r).ColumnExpr("gr.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = gr.warehouse_id").
		Where("gr.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errReceiptNotRecorded
	}
	if err != nil {
		return nil, fmt.Errorf("receipt: get: %w", err)
	}
	return r, nil
}

// OfShipments returns the receipts of shipments (already in scope), in key order: one query.
func (s *Service) OfShipments(ctx context.Context, ids []uuid.UUID) ([]*Receipt, error) {
	var rows []*Receipt
	if err := s.db.NewSelect().Model(&rows).ColumnExpr("gr.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = gr.warehouse_id").
		Where("gr.shipment_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("receipt: of shipments: %w", err)
	}
	by := make(map[uuid.UUID]*Receipt, len(rows))
	for _, r := range rows {
		by[r.ShipmentID] = r
	}
	out := make([]*Receipt, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}

// ClaimsByID returns claims (whose shipment is in scope), in key order: one query.
func (s *Service) ClaimsByID(ctx context.Context, ids []uuid.UUID) ([]*Claim, error) {
	var rows []*Claim
	if err := s.db.NewSelect().Model(&rows).Where("cl.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("receipt: claims: %w", err)
	}
	by := make(map[uuid.UUID]*Claim, len(rows))
	for _, c := range rows {
		by[c.ID] = c
	}
	out := make([]*Claim, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}

// ClaimsOfReceipts returns the claim of each receipt (nil when none), in key order: one query.
func (s *Service) ClaimsOfReceipts(ctx context.Context, ids []uuid.UUID) ([]*Claim, error) {
	var rows []*Claim
	if err := s.db.NewSelect().Model(&rows).Where("cl.receipt_id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("receipt: claims of receipts: %w", err)
	}
	by := make(map[uuid.UUID]*Claim, len(rows))
	for _, c := range rows {
		by[c.ReceiptID] = c
	}
	out := make([]*Claim, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}

// ItemsOf returns the items of claims: one query.
func (s *Service) ItemsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Item, error) {
	var rows []Item
	if err := s.db.NewSelect().Model(&rows).Where("ci.claim_id IN (?)", bun.List(ids)).OrderExpr("ci.claim_id, ci.item_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("receipt: claim items: %w", err)
	}
	out := map[uuid.UUID][]Item{}
	for _, r := range rows {
		out[r.ClaimID] = append(out[r.ClaimID], r)
	}
	return out, nil
}

func (s *Service) claim(ctx context.Context, db bun.IDB, id uuid.UUID) (*Claim, error) {
	c := new(Claim)
	err := db.NewSelect().Model(c).Where("cl.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("receipt: claim: %w", err)
	}
	return c, nil
}

// claimScope limits q (claims as "cl") to those whose buyer or seller p may see.
func claimScope(q *bun.SelectQuery, db bun.IDB, p auth.Principal) *bun.SelectQuery {
	if p.IsHQ() {
		return q
	}
	in := func() *bun.SelectQuery {
		return party.Scope(db.NewSelect().TableExpr("parties AS p").Column("p.id"), p, "p.id")
	}
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("cl.buyer_party_id IN (?)", in()).WhereOr("cl.seller_party_id IN (?)", in())
	})
}

// Claim returns a claim whose buyer or seller the caller may see.
func (s *Service) Claim(ctx context.Context, p auth.Principal, id uuid.UUID) (*Claim, error) {
	c := new(Claim)
	err := claimScope(s.db.NewSelect().Model(c).Where("cl.id = ?", id), s.db, p).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("receipt: claim: %w", err)
	}
	return c, nil
}

// Claims returns a page of the claims in the caller's scope, newest first.
func (s *Service) Claims(ctx context.Context, p auth.Principal, status *ClaimStatus, pr page.Request) ([]*Claim, bool, error) {
	q := claimScope(s.db.NewSelect().Model((*Claim)(nil)), s.db, p)
	if status != nil {
		q = q.Where("cl.status = ?", *status)
	}
	rows, more, err := page.Newest[*Claim](ctx, q, "cl", pr)
	if err != nil {
		err = fmt.Errorf("receipt: claims: %w", err)
	}
	return rows, more, err
}

// Cursor is the opaque position of a claim in a list.
func (c *Claim) Cursor() string { return page.Cursor(c.ID.String()) }
