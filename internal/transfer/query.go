package transfer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/field"
	"channelhub/internal/page"
	"channelhub/internal/party"
)

// scope limits q (transfers as "tr") to those whose sender or receiver p may
// see: the two parties themselves, their supplier and everyone above them.
func scope(q *bun.SelectQuery, db bun.IDB, p auth.Principal) *bun.SelectQuery {
	if p.IsHQ() {
		return q
	}
	in := func() *bun.SelectQuery {
		return party.Scope(db.NewSelect().TableExpr("parties AS p").Column("p.id"), p, "p.id")
	}
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("tr.from_party_id IN (?)", in()).WhereOr("tr.to_party_id IN (?)", in())
	})
}

// Get returns a transfer the caller may see; ErrNotFound otherwise.
func (s *Service) Get(ctx context.Context, p auth.Principal, id uuid.UUID) (*Transfer, error) {
	t := new(Transfer)
	err := scope(s.db.NewSelect().Model(t).Where("tr.id = ?", id), s.db, p).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("transfer: get: %w", err)
	}
	return t, nil
}

// Direction narrows a list to the viewer's own party's side of transfers.
type Direction string

const (
	Outgoing Direction = "OUTGOING" // the viewer's party sends
	Incoming Direction = "INCOMING" // the viewer's party receives
)

// Filter narrows a list of transfers.
type Filter struct {
	Statuses  []Status
	Direction Direction
	PartyID   *uuid.UUID // sender or receiver
	Number    string     // a fragment of the number
}

// MaxStatuses caps Filter.Statuses.
const MaxStatuses = 7

func (s *Service) filtered(p auth.Principal, f Filter) (*bun.SelectQuery, error) {
	if len(f.Statuses) > MaxStatuses {
		return nil, field.Err(ErrInvalidInput, "filter", "statuses")
	}
	q := scope(s.db.NewSelect().Model((*Transfer)(nil)), s.db, p)
	if len(f.Statuses) > 0 {
		q = q.Where("tr.status IN (?)", bun.List(f.Statuses))
	}
	switch f.Direction {
	case Outgoing:
		q = q.Where("tr.from_party_id = ?", p.PartyID)
	case Incoming:
		q = q.Where("tr.to_party_id = ?", p.PartyID)
	}
	if f.PartyID != nil {
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("tr.from_party_id = ?", *f.PartyID).WhereOr("tr.to_party_id = ?", *f.PartyID)
		})
	}
	return page.Search(q, f.Number, "tr.number")
}

// List returns a page of the transfers in the caller's scope, newest first.
func (s *Service) List(ctx context.Context, p auth.Principal, f Filter, pr page.Request) ([]*Transfer, bool, error) {
	q, err := s.filtered(p, f)
	if err != nil {
		return nil, false, err
	}
	rows, more, err := page.Newest[*Transfer](ctx, q, "tr", pr)
	if err != nil {
		err = fmt.Errorf("transfer: list: %w", err)
	}
	return rows, more, err
}

// Count counts the transfers the filter matches.
func (s *Service) Count(ctx context.Context, p auth.Principal, f Filter) (int, error) {
	q, err := s.filtered(p, f)
	if err != nil {
		return 0, err
	}
	n, err := q.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("transfer: count: %w", err)
	}
	return int(n), nil
}

// Cursor is the opaque position of a transfer in a list.
func (t *Transfer) Cursor() string { return page.Cursor(t.ID.String()) }

// ByID returns transfers in key order, nil where absent, whatever the
// caller's scope: the transfer of a shipment already in scope.
func (s *Service) ByID(ctx context.Context, ids []uuid.UUID) ([]*Transfer, error) {
	var rows []*Transfer
	if err := s.db.NewSelect().Model(&rows).Where("tr.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("transfer: by id: %w", err)
	}
	by := make(map[uuid.UUID]*Transfer, len(rows))
	for _, t := range rows {
		by[t.ID] = t
	}
	out := make([]*Transfer, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}

// LinesOf returns the lines of transfers: one query.
func (s *Service) LinesOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Line, error) {
	var rows []Line
	if err := s.db.NewSelect().Model(&rows).Where("tl.transfer_id IN (?)", bun.List(ids)).OrderExpr("tl.transfer_id, tl.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("transfer: lines: %w", err)
	}
	out := map[uuid.UUID][]Line{}
	for _, r := range rows {
		out[r.TransferID] = append(out[r.TransferID], r)
	}
	return out, nil
}

// EventsOf returns the timelines of transfers, oldest first: one query.
func (s *Service) EventsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Event, error) {
	var rows []Event
	if err := s.db.NewSelect().Model(&rows).Where("tre.transfer_id IN (?)", bun.List(ids)).OrderExpr("tre.transfer_id, tre.created_at, tre.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("transfer: events: %w", err)
	}
	out := map[uuid.UUID][]Event{}
	for _, r := range rows {
		out[r.TransferID] = append(out[r.TransferID], r)
	}
	return out, nil
}

// ReservationsOf returns what transfers hold in the sender's warehouses: one query.
func (s *Service) ReservationsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]Reservation, error) {
	var rows []Reservation
	if err := s.db.NewSelect().Model(&rows).ColumnExpr("trr.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = trr.warehouse_id").
		Where("trr.transfer_id IN (?)", bun.List(ids)).OrderExpr("trr.transfer_id, w.code, trr.sku_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("transfer: reservations: %w", err)
	}
	out := map[uuid.UUID][]Reservation{}
	for _, r := range rows {
		out[r.TransferID] = append(out[r.TransferID], r)
	}
	return out, nil
}

// SupplierIsHQ reports, for each transfer, whether its supplier is HQ (for the viewerCan flags): one query.
func (s *Service) SupplierIsHQ(ctx context.Context, ids []uuid.UUID) ([]bool, error) {
	var hq uuid.UUID
	err := s.db.NewSelect().Model((*party.Party)(nil)).Column("p.id").Where("p.kind = ?", party.KindHQ).Limit(1).Scan(ctx, &hq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("transfer: hq: %w", err)
	}
	ts, err := s.ByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(ids))
	for i, t := range ts {
		out[i] = t != nil && t.SupplierID == hq
	}
	return out, nil
}

// MaxPartners caps one answer of Partners.
const MaxPartners = 100

// Partners lists the parties the caller's own party may exchange stock with:
// active, of its kind and distributor level, with the same supplier; by code,
// at most first (≤ 100), optionally those whose code or name contains search.
func (s *Service) Partners(ctx context.Context, p auth.Principal, search string, first int) ([]*party.Party, error) {
	if err := p.Require(Requesters...); err != nil {
		return nil, err
	}
	search = strings.TrimSpace(search)
	if first < 1 || first > MaxPartners {
		return nil, ErrInvalidInput
	}
	own := new(party.Party)
	if err := s.db.NewSelect().Model(own).Where("p.id = ?", p.PartyID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("transfer: own party: %w", err)
	}
	if !adminOf(p, own) {
		return []*party.Party{}, nil
	}
	// A party's supplier is its nearest distributor or HQ above it: a level-1
	// distributor's is HQ, a level-2 distributor's its parent, a store's its
	// parent distributor, or HQ for a store under a branch or HQ itself.
	q := s.db.NewSelect().Model((*party.Party)(nil)).
		Where("p.kind = ? AND p.status = ? AND p.id <> ?", own.Kind, party.StatusActive, own.ID)
	switch {
	case own.ParentID == nil:
		return []*party.Party{}, nil
	case own.Kind == party.KindDistributor && own.Level == 1:
		q = q.Where("p.level = 1")
	case own.Kind == party.KindDistributor:
		q = q.Where("p.level = ? AND p.parent_id = ?", own.Level, *own.ParentID)
	default:
		var parentKind party.Kind
		if err := s.db.NewSelect().Model((*party.Party)(nil)).Column("p.kind").Where("p.id = ?", *own.ParentID).Scan(ctx, &parentKind); err != nil {
			return nil, fmt.Errorf("transfer: parent: %w", err)
		}
		if parentKind == party.KindDistributor {
			q = q.Where("p.parent_id = ?", *own.ParentID)
		} else {
			q = q.Where("p.parent_id IN (SELECT up.id FROM parties AS up WHERE up.kind IN (?))", bun.List([]party.Kind{party.KindHQ, party.KindBranch}))
		}
	}
	var err error
	q, err = page.Search(q, search, "p.code", "p.name")
	if err != nil {
		return nil, err
	}
	var out []*party.Party
	if err := q.Model(&out).OrderExpr("p.code").Limit(int64(first)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("transfer: partners: %w", err)
	}
	return out, nil
}
