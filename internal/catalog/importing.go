package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/epoch"
)

// MaxImportRows caps one bulk import.
const MaxImportRows = 1000

// ImportRow is one SKU of a bulk import, keyed by code: an existing code is updated.
type ImportRow struct {
	ProductCode string
	SKUInput
}

// RowResult says what happened to one row: the SKU, or the reason it was refused.
type RowResult struct {
	Row int
	SKU *SKU
	Err error
}

// ErrTooManyRows refuses an import over MaxImportRows.
var ErrTooManyRows = errors.New("catalog: too many rows")

// ImportSKUs creates or updates SKUs by code. Each row commits or fails on its
// own (a savepoint per row), so good rows land and each bad row says why.
func (s *Service) ImportSKUs(ctx context.Context, p auth.Principal, rows []ImportRow) ([]RowResult, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	if len(rows) > MaxImportRows {
		return nil, ErrTooManyRows
	}
	out := make([]RowResult, len(rows))
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i, row := range rows {
			out[i].Row = i
			err := tx.RunInTx(ctx, nil, func(ctx context.Context, sp bun.Tx) error {
				var prodID uuid.UUID
				if err := sp.NewSelect().Model((*Product)(nil)).Column("id").Where("code = ?", row.ProductCode).Scan(ctx, &prodID); err != nil {
					return fieldErr(notFound(err, ErrProductNotFound), "productCode")
				}
				var existing *uuid.UUID
				if row.Code != nil {
					var id uuid.UUID
					err := sp.NewSelect().Model((*SKU)(nil)).Column("id").Where("code = ?", *row.Code).Scan(ctx, &id)
					if err == nil {
						existing = &id
					} else if notFound(err, nil) != nil {
						return err
					}
				}
				in := row.SKUInput
				in.ProductID = &prodID
				sku, err := s.saveSKU(ctx, sp, p, existing, in)
				out[i].SKU = sku
				return err
			})
			if err != nil {
				out[i].SKU, out[i].Err = nil, err
				if !isBusiness(err) {
					return err
				}
			}
		}
		return nil
	})
	return out, err
}

// PriceRow sets one SKU's base price by code.
type PriceRow struct {
	Code      string
	BasePrice int64
}

// ImportBasePrices sets base prices by SKU code; good rows land, bad rows say why.
func (s *Service) ImportBasePrices(ctx context.Context, p auth.Principal, rows []PriceRow) ([]RowResult, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	if len(rows) > MaxImportRows {
		return nil, ErrTooManyRows
	}
	out := make([]RowResult, len(rows))
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		for i, row := range rows {
			out[i].Row = i
			if row.BasePrice < 0 {
				out[i].Err = fieldErr(ErrNegativePrice, "basePrice")
				continue
			}
			if row.BasePrice > MaxPrice {
				out[i].Err = fieldErr(ErrInvalidInput, "basePrice")
				continue
			}
			sku := new(SKU)
			if err := tx.NewSelect().Model(sku).Where("code = ?", row.Code).Scan(ctx); err != nil {
				if out[i].Err = fieldErr(notFound(err, ErrNotFound), "code"); !isBusiness(out[i].Err) {
					return err
				}
				continue
			}
			before := sku.BasePrice
			sku.BasePrice, sku.UpdatedAt = row.BasePrice, now
			if _, err := tx.NewUpdate().Model(sku).Column("base_price", "updated_at").WherePK().Exec(ctx); err != nil {
				return fmt.Errorf("catalog: set base price: %w", err)
			}
			if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
				return err
			}
			if err := audit.Record(ctx, tx, p, "catalog.sku.basePrice", "SKU", sku.ID.String(),
				map[string]int64{"basePrice": before}, map[string]int64{"basePrice": row.BasePrice}, "import"); err != nil {
				return err
			}
			out[i].SKU = sku
		}
		return nil
	})
	return out, err
}

// isBusiness reports whether err is one of this package's refusals rather than a fault.
func isBusiness(err error) bool {
	for _, b := range []error{ErrNotFound, ErrInvalidInput, ErrCodeTaken, ErrCategoryNotFound, ErrProductNotFound, ErrNegativePrice} {
		if errors.Is(err, b) {
			return true
		}
	}
	return false
}
