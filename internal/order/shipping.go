package order

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"channelhub/internal/auth"
)

// What the shipment and receipt services need of an order.

// ActsForSeller reports whether p acts for o's seller with one of roles, and
// whether that seller is HQ (which decides who its staff are).
func (s *Service) ActsForSeller(ctx context.Context, p auth.Principal, o *Order, roles ...auth.Role) (allowed, sellerIsHQ bool, err error) {
	if sellerIsHQ, err = s.isHQ(ctx, s.db, o.SellerID); err != nil {
		return false, false, err
	}
	return sellerSide(p, o, sellerIsHQ, roles...), sellerIsHQ, nil
}

// SellerSide reports whether p acts for o's seller with one of roles.
func SellerSide(p auth.Principal, o *Order, sellerIsHQ bool, roles ...auth.Role) bool {
	return sellerSide(p, o, sellerIsHQ, roles...)
}

// BuyerSide reports whether p acts for o's buyer: its users who may order or receive.
func BuyerSide(p auth.Principal, o *Order) bool {
	return p.PartyID == o.BuyerID && p.Has(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff)
}

// Number takes the next document number of a kind (SH, GR, CL ...) inside tx.
func (s *Service) Number(ctx context.Context, tx bun.IDB, prefix string, at time.Time) (string, error) {
	return s.number(ctx, tx, prefix, at)
}

// GetTx loads an order inside tx, whatever the caller's scope (the caller checked it).
func (s *Service) GetTx(ctx context.Context, tx bun.IDB, id uuid.UUID) (*Order, error) {
	return s.get(ctx, tx, id)
}

// LockTx is GetTx holding the order's row until tx ends, so the status it
// reads stays true: a cancel or change waits, then finds the order moved on.
// On SQLite the transaction's writer lock does the same.
func (s *Service) LockTx(ctx context.Context, tx bun.IDB, id uuid.UUID) (*Order, error) {
	if tx.Dialect().Name() == dialect.PG {
		if _, err := tx.NewRaw("SELECT 1 FROM orders WHERE id = ? FOR NO KEY UPDATE", id).Exec(ctx); err != nil {
			return nil, fmt.Errorf("order: lock: %w", err)
		}
	}
	return s.get(ctx, tx, id)
}

// GetManyUnscoped returns orders in key order, nil where absent, whatever the
// caller's scope: the order of a shipment already in scope.
func (s *Service) GetManyUnscoped(ctx context.Context, ids []uuid.UUID) ([]*Order, error) {
	var rows []*Order
	if err := s.db.NewSelect().Model(&rows).Where("o.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, err
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
