package serial

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/inventory"
)

// Sellers report a store's sales to consumers.
var Sellers = []auth.Role{auth.RoleStoreManager, auth.RoleStoreStaff}

// Limits of one sell-out report.
const (
	MaxSellOutLines = 200
	MaxSellOutQty   = 100_000
)

// ErrInvalidInput is a sell-out line that cannot be booked (a bad quantity, a
// serialised SKU reported without its serials).
var ErrInvalidInput = errors.New("serial: invalid input")

// SellOutLine is a quantity sold of a SKU without serials.
type SellOutLine struct {
	SKUID uuid.UUID
	Qty   int64
}

// SellOutInput is one sell-out report of a store.
type SellOutInput struct {
	Numbers        []string
	Ranges         []Range
	Lines          []SellOutLine
	IdempotencyKey string
}

// SellOutResult is what a report booked.
type SellOutResult struct {
	Sold       int64    `json:"sold"`
	Duplicates []string `json:"duplicates"`
}

// SellOut books units the caller's store sold: its serials go SOLD (only
// units it holds in stock), and its stock falls by the units sold, serialised
// or not, in one transaction. A retry with the same key returns the first result.
func (s *Service) SellOut(ctx context.Context, p auth.Principal, in SellOutInput) (*SellOutResult, error) {
	if err := p.Require(Sellers...); err != nil {
		return nil, err
	}
	if len(in.Lines) > MaxSellOutLines {
		return nil, field.Err(ErrInvalidInput, "lines")
	}
	for i, l := range in.Lines {
		if l.Qty < 1 || l.Qty > MaxSellOutQty {
			return nil, field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "qty")
		}
	}
	scan := &Scan{}
	if len(in.Numbers) > 0 || len(in.Ranges) > 0 {
		var err error
		if scan, err = Expand(in.Numbers, in.Ranges, MaxPerDocument, "serials", "ranges"); err != nil {
			return nil, err
		}
	}
	if len(scan.Numbers) == 0 && len(in.Lines) == 0 {
		return nil, field.Err(ErrInvalidInput, "serials")
	}
	hash, err := idempotency.Hash(in)
	if err != nil {
		return nil, err
	}
	out := &SellOutResult{Duplicates: scan.Duplicates}
	if out.Duplicates == nil {
		out.Duplicates = []string{}
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "sellOutReport", in.IdempotencyKey, hash, s.Now())
		switch {
		case errors.Is(err, idempotency.ErrInvalidKey):
			return field.Err(ErrInvalidInput, "idempotencyKey")
		case errors.Is(err, idempotency.ErrKeyReused):
			return field.Err(ErrKeyReused, "idempotencyKey")
		case err != nil:
			return err
		case replay:
			return json.Unmarshal(stored, out)
		}
		doc := Doc{Type: "SELL_OUT", Number: in.IdempotencyKey, Actor: p.UserID, At: s.Now()}
		if err := s.sellUnits(ctx, tx, p, scan.Numbers, doc); err != nil {
			return err
		}
		out.Sold = int64(len(scan.Numbers))
		if len(in.Lines) > 0 {
			w, err := s.stock.DefaultWarehouse(ctx, tx, p.PartyID)
			if err != nil {
				return err
			}
			for i, l := range in.Lines {
				sku := new(catalog.SKU)
				err := tx.NewSelect().Model(sku).Where("s.id = ?", l.SKUID).Scan(ctx)
				if errors.Is(err, sql.ErrNoRows) {
					return field.Err(inventory.ErrSKUNotFound, "lines", fmt.Sprint(i), "skuId")
				}
				if err != nil {
					return fmt.Errorf("serial: sku: %w", err)
				}
				if sku.Serialised {
					return field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "skuId") // report its serials instead
				}
				if _, err := s.stock.MoveTx(ctx, tx, p.UserID, w.ID, sku.ID, -l.Qty, inventory.MoveSellOut, "SELL_OUT", in.IdempotencyKey); err != nil {
					if errors.Is(err, inventory.ErrBelowReserved) {
						return field.Err(inventory.ErrBelowReserved, "lines", fmt.Sprint(i), "qty")
					}
					return err
				}
				out.Sold += l.Qty
			}
		}
		return idempotency.Complete(ctx, tx, p.UserID, "sellOutReport", in.IdempotencyKey, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sellUnits moves the store's units to SOLD and takes them out of the
// warehouses they sat in. A unit the store does not hold in stock is refused.
func (s *Service) sellUnits(ctx context.Context, tx bun.IDB, p auth.Principal, numbers []string, doc Doc) error {
	if len(numbers) == 0 {
		return nil
	}
	units, err := ByNumbers(ctx, tx, numbers)
	if err != nil {
		return err
	}
	type place struct{ warehouse, sku uuid.UUID }
	count := map[place]int64{}
	var order []place
	ids := make([]uuid.UUID, 0, len(numbers))
	sold := make([]*Serial, 0, len(numbers))
	for i, n := range numbers {
		u := units[n]
		if u == nil || u.HolderID != p.PartyID || u.Status != StatusInStock || u.WarehouseID == nil {
			return field.Err(ErrUnavailable, "serials", fmt.Sprint(i))
		}
		k := place{*u.WarehouseID, u.SKUID}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
		ids = append(ids, u.ID)
		sold = append(sold, u)
	}
	holder := p.PartyID
	if err := Apply(ctx, tx, ids, Move{From: []Status{StatusInStock}, FromHolder: &holder, To: StatusSold, Holder: holder, Event: EvSold}, doc); err != nil {
		return field.Err(err, "serials")
	}
	if !s.SkipDiversions { // a unit sold outside its territory's line
		if _, err := Divert(ctx, tx, SoldOutside, p.PartyID, sold, doc); err != nil {
			return err
		}
	}
	for _, k := range order {
		if _, err := s.stock.MoveTx(ctx, tx, p.UserID, k.warehouse, k.sku, -count[k], inventory.MoveSellOut, "SELL_OUT", doc.Number); err != nil {
			if errors.Is(err, inventory.ErrBelowReserved) {
				return field.Err(inventory.ErrBelowReserved, "serials")
			}
			return err
		}
	}
	return nil
}
