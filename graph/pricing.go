package graph

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/cart"
	"channelhub/internal/catalog"
	"channelhub/internal/i18n"
	"channelhub/internal/party"
	"channelhub/internal/pricing"
)

var pricingCodes = codeMap[model.PricingErrorCode]{
	{pricing.ErrInvalidInput, model.PricingErrorCodeInvalidInput},
	{pricing.ErrNotFound, model.PricingErrorCodeNotFound},
	{pricing.ErrInvalidTarget, model.PricingErrorCodeInvalidTarget},
	{pricing.ErrValidityOrder, model.PricingErrorCodeValidityOrder},
	{pricing.ErrDiscountExceedsPrice, model.PricingErrorCodeDiscountExceedsPrice},
	{pricing.ErrInvalidPercent, model.PricingErrorCodeInvalidPercent},
	{pricing.ErrEmptyRule, model.PricingErrorCodeEmptyRule},
	{pricing.ErrNegativePrice, model.PricingErrorCodeNegativePrice},
	{pricing.ErrPriceTooHigh, model.PricingErrorCodePriceTooHigh},
	{pricing.ErrInvalidQuantity, model.PricingErrorCodeInvalidQuantity},
	{pricing.ErrInvalidThreshold, model.PricingErrorCodeInvalidThreshold},
	{pricing.ErrInvalidDiscount, model.PricingErrorCodeInvalidDiscount},
	{pricing.ErrDuplicateEntry, model.PricingErrorCodeDuplicateEntry},
	{pricing.ErrInvalidUseLimit, model.PricingErrorCodeInvalidUseLimit},
	{pricing.ErrInvalidKind, model.PricingErrorCodeInvalidKind},
	{pricing.ErrOverlappingExclusive, model.PricingErrorCodeOverlappingExclusive},
	{pricing.ErrSKUNotFound, model.PricingErrorCodeSkuNotFound},
}

func pricingErrors(ctx context.Context, err error) ([]model.PricingError, error) {
	return userErrors(ctx, "pricing", pricingCodes, err, func(code model.PricingErrorCode, field []string, msg string) model.PricingError {
		return model.PricingError{Code: code, Field: field, Message: msg}
	})
}

// priceKey asks for one SKU's price for one buyer; the loader batches a page's SKUs into one pricing call.
type priceKey struct {
	buyer *party.Party
	sku   *catalog.SKU
}

func (r *Resolver) priceLoaderFetch(ctx context.Context, keys []priceKey) ([]pricing.SKUPrice, []error) {
	out := make([]pricing.SKUPrice, len(keys))
	byBuyer := map[*party.Party][]int{}
	for i, k := range keys {
		byBuyer[k.buyer] = append(byBuyer[k.buyer], i)
	}
	for buyer, idx := range byBuyer {
		skus := make([]*catalog.SKU, len(idx))
		for j, i := range idx {
			skus[j] = keys[i].sku
		}
		prices, err := r.PricingService.Prices(ctx, buyer, skus)
		if err != nil {
			return nil, fill(len(keys), err)
		}
		for j, i := range idx {
			out[i] = prices[j]
		}
	}
	return out, nil
}

func (r *Resolver) steps(in []pricing.Step, buyer *party.Party) []model.PricingStep {
	out := make([]model.PricingStep, len(in))
	for i, st := range in {
		typ := typePriceList
		if st.Kind == pricing.StepPromotion {
			typ = typePromotion
		}
		out[i] = model.PricingStep{Kind: model.PricingStepKind(st.Kind), RuleID: globalID(typ, st.ID), Name: st.Name,
			Applied: st.Applied, Reason: model.PricingReason(st.Reason), SKUID: st.SKUID, Amount: r.money(st.Amount), Buyer: buyer}
	}
	return out
}

func (r *Resolver) quote(q pricing.Result, buyer *party.Party) *model.Quote {
	out := &model.Quote{
		Lines: make([]model.QuoteLine, len(q.Lines)), OrderDiscounts: make([]model.OrderDiscount, len(q.OrderDiscounts)),
		Subtotal: r.money(q.Subtotal), Discount: r.money(q.Discount), Total: r.money(q.Total), Explanation: r.steps(q.Explanation, buyer),
	}
	for i, l := range q.Lines {
		out.Lines[i] = model.QuoteLine{SKUID: l.SKUID, Buyer: buyer, Qty: int(l.Qty), UnitPrice: r.money(l.ListUnitPrice),
			PriceSource: model.PriceSourceKind(l.Source.Kind), Amount: r.money(l.Amount), Discount: r.money(l.Discount),
			Net: r.money(l.Net), Gift: l.Gift}
	}
	for i, d := range q.OrderDiscounts {
		out.OrderDiscounts[i] = model.OrderDiscount{PromotionID: globalID(typePromotion, d.PromotionID), Name: d.Name, Amount: r.money(d.Amount)}
	}
	return out
}

func (r *Resolver) cartView(ctx context.Context, v *cart.View) *model.Cart {
	out := &model.Cart{ID: globalID(typeCart, v.Buyer.ID), Buyer: v.Buyer, Lines: make([]model.CartLine, len(v.Lines)), Quote: r.quote(v.Quote, v.Buyer)}
	for i, l := range v.Lines {
		out.Lines[i] = model.CartLine{SKUID: l.SKUID, Buyer: v.Buyer, Qty: int(l.Qty)}
		if l.Problem != "" {
			pr := model.CartLineProblem(l.Problem)
			out.Lines[i].Problem = &pr
		}
	}
	return out
}

func (r *Resolver) cartPayload(ctx context.Context, v *cart.View, refused []cart.LineError, err error) (*model.CartPayload, error) {
	if err != nil {
		return nil, err
	}
	out := &model.CartPayload{Cart: r.cartView(ctx, v), Errors: make([]model.CartError, len(refused))}
	for i, e := range refused {
		idx := e.Index
		out.Errors[i] = model.CartError{Index: &idx, Code: model.CartLineProblem(e.Problem),
			Message: i18nCart(ctx, string(e.Problem))}
		if e.SKUID != uuid.Nil {
			sid := globalID(typeSKU, e.SKUID)
			out.Errors[i].SkuID = &sid
		}
	}
	return out, nil
}

// cartBuyerID parses an optional asPartyId.
func cartAs(as *string) (*uuid.UUID, error) { return parseOptID(typeParty, as) }

func (r *Resolver) loadSKUView(ctx context.Context, id uuid.UUID, buyer *party.Party) (*model.SKUView, error) {
	k, err := loadersFrom(ctx).sku.Load(ctx, id)
	if k == nil || err != nil {
		return nil, err
	}
	return &model.SKUView{SKU: k, Buyer: buyer}, nil
}

func ruleJSON(r *pricing.PromotionRecord) string {
	b, _ := json.Marshal(r.Rule)
	return string(b)
}

func promotionInput(in model.PromotionCreateInput) (pricing.PromotionInput, error) {
	out := pricing.PromotionInput{
		Name: in.Name, Kind: in.Kind, TargetKind: in.TargetKind, TargetValue: deref(in.TargetValue),
		ValidFrom: in.ValidFrom, ValidTo: in.ValidTo, ExclusiveGroup: deref(in.ExclusiveGroup), PerPartyLimit: in.PerPartyLimit,
	}
	if in.Priority != nil {
		out.Priority = *in.Priority
	}
	var err error
	if out.Rule.SKUs, err = parseIDs(typeSKU, in.SkuIds); err != nil {
		return out, err
	}
	if out.Rule.Categories, err = parseIDs(typeCategory, in.CategoryIds); err != nil {
		return out, err
	}
	for _, t := range in.Tiers {
		out.Rule.Tiers = append(out.Rule.Tiers, pricing.Tier{Threshold: int64(t.Threshold), Off: int64(t.Off)})
	}
	out.Rule.Repeat = in.Repeat != nil && *in.Repeat
	if in.Percent != nil {
		out.Rule.PercentBP = int64(*in.Percent) // "12.50" percent is 1250 hundredths = 1250 basis points
	}
	if in.Gift != nil {
		sku, err := parseID(typeSKU, in.Gift.SkuID)
		if err != nil {
			return out, err
		}
		g := &pricing.Gift{SKUID: sku, Qty: int64(in.Gift.Qty)}
		if in.Gift.Threshold != nil {
			g.Threshold = int64(*in.Gift.Threshold)
		}
		if in.Gift.MinQty != nil {
			g.MinQty = int64(*in.Gift.MinQty)
		}
		out.Rule.Gift, out.Rule.GiftPool = g, int64(in.Gift.Pool)
	}
	if len(in.BundleItems) > 0 || in.BundlePrice != nil {
		b := &pricing.Bundle{}
		for _, it := range in.BundleItems {
			sku, err := parseID(typeSKU, it.SkuID)
			if err != nil {
				return out, err
			}
			b.Items = append(b.Items, pricing.BundleItem{SKUID: sku, Qty: int64(it.Qty)})
		}
		if in.BundlePrice != nil {
			b.Price = int64(*in.BundlePrice)
		}
		out.Rule.Bundle = b
	}
	for _, br := range in.Breaks {
		out.Rule.Breaks = append(out.Rule.Breaks, pricing.Break{MinQty: int64(br.MinQty), UnitPrice: int64(br.UnitPrice)})
	}
	return out, nil
}

func promotionPayload(ctx context.Context, p *pricing.PromotionRecord, err error) (*model.PromotionPayload, error) {
	errs, err := pricingErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		p = nil
	}
	return &model.PromotionPayload{Promotion: p, Errors: errs}, nil
}

func priceListPayload(ctx context.Context, l *pricing.PriceListRecord, err error) (*model.PriceListPayload, error) {
	errs, err := pricingErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		l = nil
	}
	return &model.PriceListPayload{PriceList: l, Errors: errs}, nil
}

func priceListInput(in model.PriceListInput) pricing.PriceListInput {
	out := pricing.PriceListInput{Name: in.Name, TargetKind: in.TargetKind, TargetValue: deref(in.TargetValue), ValidFrom: in.ValidFrom, ValidTo: in.ValidTo}
	if in.Priority != nil {
		out.Priority = *in.Priority
	}
	return out
}

func i18nCart(ctx context.Context, code string) string { return i18n.T(ctx, "cart."+code, nil) }

// cartChanges converts a cart change's input for the cart service.
func cartChanges(ctx context.Context, asID *string, lines []model.CartLineInput) (auth.Principal, *uuid.UUID, []cart.Change, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return p, nil, nil, err
	}
	as, err := cartAs(asID)
	if err != nil {
		return p, nil, nil, err
	}
	changes := make([]cart.Change, len(lines))
	for i, l := range lines {
		id, err := parseID(typeSKU, l.SkuID)
		if err != nil {
			return p, nil, nil, err
		}
		changes[i] = cart.Change{SKUID: id, Qty: int64(l.Qty)}
	}
	return p, as, changes, nil
}

func (r *Resolver) favourite(ctx context.Context, skuID string, on bool) (*model.FavouritePayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(typeSKU, skuID)
	if err != nil {
		return nil, err
	}
	buyer, k, err := r.CartService.SetFavourite(ctx, p, id, on)
	if errors.Is(err, catalog.ErrNotFound) {
		return &model.FavouritePayload{Errors: []model.CartError{{SkuID: &skuID, Code: model.CartLineProblemUnknownSku,
			Message: i18nCart(ctx, string(cart.UnknownSKU))}}}, nil
	}
	if errors.Is(err, cart.ErrFavouritesFull) {
		return &model.FavouritePayload{Errors: []model.CartError{{SkuID: &skuID, Code: model.CartLineProblemCartFull,
			Message: i18nCart(ctx, string(cart.CartFull))}}}, nil
	}
	if err != nil {
		return nil, err
	}
	out := &model.FavouritePayload{Errors: []model.CartError{}}
	if k != nil {
		out.Sku = &model.SKUView{SKU: k, Buyer: buyer}
	}
	return out, nil
}

// primePriceLists loads what a page of price lists will ask for in one query
// each, so the count stays fixed however busy the machine is.
func (r *Resolver) primePriceLists(ctx context.Context, p auth.Principal, lists []*pricing.PriceListRecord) error {
	ids := make([]uuid.UUID, len(lists))
	for i, l := range lists {
		ids[i] = l.ID
	}
	l := loadersFrom(ctx)
	if selects(ctx, "priceCount") {
		if err := prime(ctx, l.priceCount, slices.Clone(ids), func(ctx context.Context, ids []uuid.UUID) ([]int, error) {
			return r.PricingService.CountPrices(ctx, p, ids)
		}); err != nil {
			return err
		}
	}
	if !selects(ctx, "prices") {
		return nil
	}
	prices, err := r.PricingService.ListPrices(ctx, p, ids, maxListPrices)
	if err != nil {
		return err
	}
	var skus []uuid.UUID
	for i, id := range ids {
		l.listPrices.Prime(id, prices[i])
		for _, pr := range prices[i] {
			skus = append(skus, pr.SKUID)
		}
	}
	if len(skus) == 0 || !selects(ctx, "prices", "sku") {
		return nil
	}
	return prime(ctx, l.sku, skus, func(ctx context.Context, ids []uuid.UUID) ([]*catalog.SKU, error) {
		return r.CatalogService.SKUs(ctx, nil, ids)
	})
}
