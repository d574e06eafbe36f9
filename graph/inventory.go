package graph

import (
	"context"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/catalog"
	"channelhub/internal/inventory"
	"channelhub/internal/party"
)

var inventoryCodes = codeMap[model.InventoryErrorCode]{
	{inventory.ErrInvalidInput, model.InventoryErrorCodeInvalidInput},
	{inventory.ErrNotFound, model.InventoryErrorCodeNotFound},
	{inventory.ErrCodeTaken, model.InventoryErrorCodeCodeTaken},
	{inventory.ErrSKUNotFound, model.InventoryErrorCodeSkuNotFound},
	{inventory.ErrBelowReserved, model.InventoryErrorCodeBelowReserved},
	{inventory.ErrReasonRequired, model.InventoryErrorCodeReasonRequired},
	{inventory.ErrKeyReused, model.InventoryErrorCodeIdempotencyKeyReused},
}

func inventoryErrors(ctx context.Context, err error) ([]model.InventoryError, error) {
	return userErrors(ctx, "inventory", inventoryCodes, err, func(code model.InventoryErrorCode, field []string, msg string) model.InventoryError {
		return model.InventoryError{Code: code, Field: field, Message: msg}
	})
}

func stockPayload(ctx context.Context, levels []*inventory.Level, err error) (*model.StockPayload, error) {
	errs, err := inventoryErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	out := &model.StockPayload{Levels: []inventory.Level{}, Errors: errs}
	if len(errs) == 0 {
		out.Levels = deref2(levels)
	}
	return out, nil
}

// availabilityFetch answers the availability of SKUs for their buyers: from
// each buyer's seller's stock, one query per seller.
func (r *Resolver) availabilityFetch(ctx context.Context, keys []priceKey) ([]*model.Availability, []error) {
	out := make([]*model.Availability, len(keys))
	byBuyer := map[*party.Party][]int{}
	for i, k := range keys {
		byBuyer[k.buyer] = append(byBuyer[k.buyer], i)
	}
	for buyer, idx := range byBuyer {
		seller, err := r.PricingService.Seller(ctx, buyer)
		if err != nil {
			return nil, fill(len(keys), err)
		}
		skus := make([]*catalog.SKU, len(idx))
		for j, i := range idx {
			skus[j] = keys[i].sku
		}
		levels, err := r.availability(ctx, seller, skus)
		if err != nil {
			return nil, fill(len(keys), err)
		}
		for j, i := range idx {
			out[i] = levels[j]
		}
	}
	return out, nil
}

// availability grades what seller can still promise of each SKU; nil when
// the seller keeps no warehouse, so stock is not tracked.
func (r *Resolver) availability(ctx context.Context, seller uuid.UUID, skus []*catalog.SKU) ([]*model.Availability, error) {
	ids := make([]uuid.UUID, len(skus))
	for i, k := range skus {
		ids[i] = k.ID
	}
	avail, tracked, err := r.InventoryService.Available(ctx, seller, ids)
	if err != nil {
		return nil, err
	}
	out := make([]*model.Availability, len(skus))
	if !tracked {
		return out, nil
	}
	for i, n := range avail {
		a := model.AvailabilityInStock
		switch {
		case n <= 0:
			a = model.AvailabilityOut
		case n <= inventory.LowStockLevel:
			a = model.AvailabilityLow
		}
		out[i] = &a
	}
	return out, nil
}
