package order

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/field"
	"channelhub/internal/page"
	"channelhub/internal/party"
)

// scope limits q (orders as "o") to the orders p may see: those whose buyer
// is in p's scope. A salesman sees the orders of its assigned stores, not
// those of the party it works for.
func scope(q *bun.SelectQuery, p auth.Principal) *bun.SelectQuery {
	q = party.Scope(q, p, "o.buyer_party_id")
	if p.Has(auth.RoleSalesman) && len(p.Roles) == 1 {
		q = q.Where("o.buyer_party_id <> ?", p.PartyID)
	}
	return q
}

// Get returns an order the caller may see.
func (s *Service) Get(ctx context.Context, p auth.Principal, id uuid.UUID) (*Order, error) {
	o := new(Order)
	err := scope(s.db.NewSelect().Model(o).Where("o.id = ?", id), p).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("order: get: %w", err)
	}
	return o, nil
}

// GetMany returns the orders for ids in order, nil where absent or out of scope.
func (s *Service) GetMany(ctx context.Context, p auth.Principal, ids []uuid.UUID) ([]*Order, error) {
	var rows []*Order
	if err := scope(s.db.NewSelect().Model(&rows).Where("o.id IN (?)", bun.List(ids)), p).Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: get many: %w", err)
	}
	by := make(map[uuid.UUID]*Order, len(rows))
	for _, o := range rows {
		by[o.ID] = o
	}
	out := make([]*Order, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}

func (s *Service) get(ctx context.Context, db bun.IDB, id uuid.UUID) (*Order, error) {
	o := new(Order)
	err := db.NewSelect().Model(o).Where("o.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("order: load: %w", err)
	}
	return o, nil
}

// isHQ reports whether the seller is HQ.
func (s *Service) isHQ(ctx context.Context, db bun.IDB, seller uuid.UUID) (bool, error) {
	var kind string
	if err := db.NewSelect().Model((*party.Party)(nil)).Column("p.kind").Where("p.id = ?", seller).Scan(ctx, &kind); err != nil {
		return false, fmt.Errorf("order: seller kind: %w", err)
	}
	return party.Kind(kind) == party.KindHQ, nil
}

// Filter narrows a list of orders.
type Filter struct {
	Statuses []Status
	Kind     *Kind
	From, To *time.Time // submitted in [From, To)
	Number   string     // a prefix or fragment of the number
	BuyerID  *uuid.UUID
}

// OrderBy sorts a list of orders.
type OrderBy string

const (
	NewestFirst  OrderBy = "SUBMITTED_AT_DESC"
	OldestFirst  OrderBy = "SUBMITTED_AT_ASC"
	LargestFirst OrderBy = "TOTAL_DESC"
)

// List returns a page of the orders the caller may see, keyset-paged.
func (s *Service) List(ctx context.Context, p auth.Principal, f Filter, by OrderBy, pr page.Request) ([]*Order, bool, error) {
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := page.Decode(pr.After, 2)
	if err != nil {
		return nil, false, err
	}
	var rows []*Order
	q, err := filtered(scope(s.db.NewSelect().Model(&rows), p), f)
	if err != nil {
		return nil, false, err
	}
	q = q.Limit(int64(size + 1))
	var id uuid.UUID
	if key != nil {
		if id, err = uuid.Parse(key[1]); err != nil {
			return nil, false, page.ErrInvalid
		}
	}
	switch by {
	case OldestFirst, NewestFirst, "":
		op, dir := "<", "DESC"
		if by == OldestFirst {
			op, dir = ">", "ASC"
		}
		q = q.OrderExpr("o.submitted_at " + dir + ", o.id " + dir)
		if key != nil {
			at, err := time.Parse(time.RFC3339Nano, key[0])
			if err != nil {
				return nil, false, page.ErrInvalid
			}
			q = q.Where("(o.submitted_at "+op+" ? OR (o.submitted_at = ? AND o.id "+op+" ?))", at, at, id)
		}
	case LargestFirst:
		q = q.OrderExpr("o.total DESC, o.id DESC")
		if key != nil {
			total, err := strconv.ParseInt(key[0], 10, 64)
			if err != nil {
				return nil, false, page.ErrInvalid
			}
			q = q.Where("(o.total < ? OR (o.total = ? AND o.id < ?))", total, total, id)
		}
	default:
		return nil, false, page.ErrInvalid
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("order: list: %w", err)
	}
	if len(rows) > size {
		return rows[:size], true, nil
	}
	return rows, false, nil
}

func filtered(q *bun.SelectQuery, f Filter) (*bun.SelectQuery, error) {
	if len(f.Statuses) > 0 {
		q = q.Where("o.status IN (?)", bun.List(f.Statuses))
	}
	if f.Kind != nil {
		q = q.Where("o.kind = ?", *f.Kind)
	}
	if f.From != nil {
		q = q.Where("o.submitted_at >= ?", f.From.UTC())
	}
	if f.To != nil {
		q = q.Where("o.submitted_at < ?", f.To.UTC())
	}
	if f.BuyerID != nil {
		q = q.Where("o.buyer_party_id = ?", *f.BuyerID)
	}
	if f.Number != "" {
		return page.Search(q, strings.ToUpper(f.Number), "o.number")
	}
	return q, nil
}

// Cursor is the order's position in a list sorted by.
func (o *Order) Cursor(by OrderBy) string {
	if by == LargestFirst {
		return page.Cursor(strconv.FormatInt(o.Total, 10), o.ID.String())
	}
	return page.Cursor(o.SubmittedAt.UTC().Format(time.RFC3339Nano), o.ID.String())
}

// Count counts the orders the caller may see under f.
func (s *Service) Count(ctx context.Context, p auth.Principal, f Filter) (int, error) {
	q, err := filtered(scope(s.db.NewSelect().Model((*Order)(nil)), p), f)
	if err != nil {
		return 0, err
	}
	n, err := q.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("order: count: %w", err)
	}
	return int(n), nil
}

// LinesOf returns the lines of orders, by order, in line order: one query.
func (s *Service) LinesOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Line, error) {
	var rows []Line
	if err := s.db.NewSelect().Model(&rows).Where("ol.order_id IN (?)", bun.List(ids)).OrderExpr("ol.order_id, ol.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: lines: %w", err)
	}
	out := map[uuid.UUID][]Line{}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r)
	}
	return out, nil
}

// EventsOf returns the timelines of orders, oldest first: one query.
func (s *Service) EventsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Event, error) {
	var rows []Event
	if err := s.db.NewSelect().Model(&rows).Where("ev.order_id IN (?)", bun.List(ids)).OrderExpr("ev.order_id, ev.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: events: %w", err)
	}
	out := map[uuid.UUID][]Event{}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r)
	}
	return out, nil
}

// ReservationsOf returns the stock reservations of orders: one query.
func (s *Service) ReservationsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Reservation, error) {
	var rows []Reservation
	if err := s.db.NewSelect().Model(&rows).ColumnExpr("r.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = r.warehouse_id").
		Where("r.order_id IN (?)", bun.List(ids)).OrderExpr("r.order_id, r.sku_id, r.warehouse_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: reservations: %w", err)
	}
	out := map[uuid.UUID][]Reservation{}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r)
	}
	return out, nil
}

// AutoApproval returns the seller's auto-approval ceiling (nil: off) for its approvers.
func (s *Service) AutoApproval(ctx context.Context, p auth.Principal) (*int64, error) {
	if err := p.Require(Approvers...); err != nil {
		return nil, err
	}
	seller, err := s.ownSeller(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.autoApproveMax(ctx, seller)
}

// SetAutoApproval sets (max != nil) or turns off the seller's auto-approval:
// orders the buyer's credit covers, up to max, are approved on submit.
func (s *Service) SetAutoApproval(ctx context.Context, p auth.Principal, max *int64, reason string) (*int64, error) {
	if err := p.Require(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleDistributorAdmin); err != nil {
		return nil, err
	}
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	if max != nil && (*max < 0 || *max > 1_000_000_000_000) {
		return nil, ErrInvalidInputAt("maxTotal")
	}
	seller, err := s.ownSeller(ctx, p)
	if err != nil {
		return nil, err
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		before, err := s.autoApproveMax(ctx, seller)
		if err != nil {
			return err
		}
		if _, err := tx.NewRaw(`INSERT INTO approval_rules (seller_party_id, auto_approve_max, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (seller_party_id) DO UPDATE SET auto_approve_max = excluded.auto_approve_max, updated_at = excluded.updated_at`,
			seller, max, s.Now()).Exec(ctx); err != nil {
			return fmt.Errorf("order: approval rule: %w", err)
		}
		return auditRule(ctx, tx, p, seller, before, max, reason)
	})
	if err != nil {
		return nil, err
	}
	return max, nil
}

// ownSeller is the selling party p acts for: HQ for HQ roles, else its own party.
func (s *Service) ownSeller(ctx context.Context, p auth.Principal) (uuid.UUID, error) {
	if !p.IsHQ() {
		return p.PartyID, nil
	}
	var id uuid.UUID
	if err := s.db.NewSelect().Model((*party.Party)(nil)).Column("p.id").Where("p.kind = ?", party.KindHQ).Limit(1).Scan(ctx, &id); err != nil {
		return uuid.Nil, fmt.Errorf("order: HQ: %w", err)
	}
	return id, nil
}

// ErrInvalidInputAt is ErrInvalidInput at an input field.
func ErrInvalidInputAt(path ...string) error { return field.Err(ErrInvalidInput, path...) }

func auditRule(ctx context.Context, tx bun.IDB, p auth.Principal, seller uuid.UUID, before, after *int64, reason string) error {
	return audit.Record(ctx, tx, p, "order.autoapproval", "Party", seller.String(),
		map[string]any{"autoApproveMax": before}, map[string]any{"autoApproveMax": after}, reason)
}
