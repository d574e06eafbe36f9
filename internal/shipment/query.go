package shipment

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/field"
	"channelhub/internal/page"
)

// Filter narrows a list of shipments.
type Filter struct {
	Statuses   []Status
	OrderID    *uuid.UUID
	TransferID *uuid.UUID
	BuyerID    *uuid.UUID
	Number     string // a fragment of the number or the tracking number
	Incoming   bool   // only those the caller's own party receives
}

// MaxStatuses caps Filter.Statuses.
const MaxStatuses = 6

func (s *Service) filtered(p auth.Principal, f Filter) (*bun.SelectQuery, error) {
	if len(f.Statuses) > MaxStatuses {
		return nil, field.Err(ErrInvalidInput, "filter", "statuses")
	}
	q := scope(s.db.NewSelect().Model((*Shipment)(nil)), s.db, p)
	if len(f.Statuses) > 0 {
		q = q.Where("sh.status IN (?)", bun.List(f.Statuses))
	}
	if f.OrderID != nil {
		q = q.Where("sh.order_id = ?", *f.OrderID)
	}
	if f.TransferID != nil {
		q = q.Where("sh.transfer_id = ?", *f.TransferID)
	}
	if f.BuyerID != nil {
		q = q.Where("sh.buyer_party_id = ?", *f.BuyerID)
	}
	if f.Incoming {
		q = q.Where("sh.buyer_party_id = ?", p.PartyID)
	}
	q, err := page.Search(q, f.Number, "sh.number", "sh.tracking_number")
	if err != nil {
		return nil, err
	}
	return q, nil
}

// List returns a page of the shipments in the caller's scope, newest first.
func (s *Service) List(ctx context.Context, p auth.Principal, f Filter, pr page.Request) ([]*Shipment, bool, error) {
	q, err := s.filtered(p, f)
	if err != nil {
		return nil, false, err
	}
	q = q.ColumnExpr("sh.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = sh.warehouse_id")
	rows, more, err := page.Newest[*Shipment](ctx, q, "sh", pr)
	if err != nil { // page.ErrInvalid stays recognisable through %w
		err = fmt.Errorf("shipment: list: %w", err)
	}
	return rows, more, err
}

// Count counts the shipments the filter matches.
func (s *Service) Count(ctx context.Context, p auth.Principal, f Filter) (int, error) {
	q, err := s.filtered(p, f)
	if err != nil {
		return 0, err
	}
	n, err := q.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("shipment: count: %w", err)
	}
	return int(n), nil
}

// Cursor is the opaque position of a shipment in a list.
func (sh *Shipment) Cursor() string { return page.Cursor(sh.ID.String()) }

// OfOrders lists the shipments of orders (already in the caller's scope), oldest first: one query.
func (s *Service) OfOrders(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*Shipment, error) {
	var rows []*Shipment
	if err := s.db.NewSelect().Model(&rows).ColumnExpr("sh.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = sh.warehouse_id").
		Where("sh.order_id IN (?)", bun.List(ids)).OrderExpr("sh.order_id, sh.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("shipment: of orders: %w", err)
	}
	out := map[uuid.UUID][]*Shipment{}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r)
	}
	return out, nil
}

// OfTransfers lists the shipments of transfers (already in the caller's scope), oldest first: one query.
func (s *Service) OfTransfers(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*Shipment, error) {
	var rows []*Shipment
	if err := s.db.NewSelect().Model(&rows).ColumnExpr("sh.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = sh.warehouse_id").
		Where("sh.transfer_id IN (?)", bun.List(ids)).OrderExpr("sh.transfer_id, sh.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("shipment: of transfers: %w", err)
	}
	out := map[uuid.UUID][]*Shipment{}
	for _, r := range rows {
		out[r.TransferID] = append(out[r.TransferID], r)
	}
	return out, nil
}

// LinesOf returns the lines of shipments: one query.
func (s *Service) LinesOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Line, error) {
	var rows []Line
	if err := s.db.NewSelect().Model(&rows).Where("shl.shipment_id IN (?)", bun.List(ids)).OrderExpr("shl.shipment_id, shl.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("shipment: lines: %w", err)
	}
	out := map[uuid.UUID][]Line{}
	for _, r := range rows {
		out[r.ShipmentID] = append(out[r.ShipmentID], r)
	}
	return out, nil
}

// EventsOf returns the timelines of shipments, oldest first: one query.
func (s *Service) EventsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Event, error) {
	var rows []Event
	if err := s.db.NewSelect().Model(&rows).Where("she.shipment_id IN (?)", bun.List(ids)).OrderExpr("she.shipment_id, she.created_at, she.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("shipment: events: %w", err)
	}
	out := map[uuid.UUID][]Event{}
	for _, r := range rows {
		out[r.ShipmentID] = append(out[r.ShipmentID], r)
	}
	return out, nil
}

// Units returns a page of a shipment's units by serial number.
func (s *Service) Units(ctx context.Context, id uuid.UUID, pr page.Request) ([]*Unit, bool, error) {
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := page.Decode(pr.After, 1)
	if err != nil {
		return nil, false, err
	}
	var rows []*Unit
	q := s.db.NewSelect().Model(&rows).ColumnExpr("ss.*, sr.number").Join("JOIN serials AS sr ON sr.id = ss.serial_id").
		Where("ss.shipment_id = ?", id).OrderExpr("sr.number").Limit(int64(size + 1))
	if key != nil {
		q = q.Where("sr.number > ?", key[0])
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("shipment: units: %w", err)
	}
	if len(rows) > size {
		return rows[:size], true, nil
	}
	return rows, false, nil
}

// Cursor is the opaque position of a unit in its shipment's list.
func (u *Unit) Cursor() string { return page.Cursor(u.Number) }

// ByID returns shipments in key order, whatever the caller's scope: the shipment of an object already in scope.
func (s *Service) ByID(ctx context.Context, ids []uuid.UUID) ([]*Shipment, error) {
	var rows []*Shipment
	if err := s.db.NewSelect().Model(&rows).ColumnExpr("sh.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = sh.warehouse_id").
		Where("sh.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("shipment: by id: %w", err)
	}
	by := make(map[uuid.UUID]*Shipment, len(rows))
	for _, r := range rows {
		by[r.ID] = r
	}
	out := make([]*Shipment, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}
