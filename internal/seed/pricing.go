package seed

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/catalog"
	"channelhub/internal/party"
	"channelhub/internal/pricing"
)

// pricingData is the demo's price lists and running promotions.
type pricingData struct {
	lists  []*pricing.PriceListRecord
	items  []map[string]any
	promos []*pricing.PromotionRecord
}

// percentOf rounds base*pct/100 to whole yuan.
func percentOf(base, pct int64) int64 { return (base*pct/100 + 50) / 100 * 100 }

func (b *builder) list(d *pricingData, seller *party.Party, name string, kind catalog.TargetKind, value string, skus []*catalog.SKU, pct int64) {
	l := &pricing.PriceListRecord{ID: uuid.Must(uuid.NewV7()), SellerPartyID: seller.ID, Name: name, TargetKind: kind, TargetValue: value,
		CreatedAt: b.now, UpdatedAt: b.now}
	d.lists = append(d.lists, l)
	for _, k := range skus {
		d.items = append(d.items, map[string]any{"price_list_id": l.ID, "sku_id": k.ID, "price": percentOf(k.BasePrice, pct)})
	}
}

func (b *builder) buildPricing(c *catalogue, hq, d1, d2 *party.Party) *pricingData {
	d := &pricingData{}
	inCat := func(codes ...string) []*catalog.SKU {
		var out []*catalog.SKU
		for _, k := range c.skus {
			for _, code := range codes {
				if cat := c.byCode[code]; cat != nil && (k.CategoryID == cat.ID || isUnder(c, k.CategoryID, cat.ID)) {
					out = append(out, k)
					break
				}
			}
		}
		return out
	}
	phones, acc := inCat("PHONE", "TABLET", "WEARABLE"), inCat("ACCESSORY")
	b.list(d, hq, b.t("seed.list.gradeA", nil), catalog.TargetGrade, "A", phones, 92)
	b.list(d, hq, b.t("seed.list.gradeAacc", nil), catalog.TargetGrade, "A", acc, 85)
	b.list(d, hq, b.t("seed.list.gradeB", nil), catalog.TargetGrade, "B", append(phones, acc...), 95)
	b.list(d, hq, b.t("seed.list.special", nil), catalog.TargetParty, d2.ID.String(), phones[:6], 90)
	b.list(d, d1, b.t("seed.list.d1stores", nil), catalog.TargetAll, "", append(phones, acc...), 98)

	earphone := inCat("EARPHONE")[0]
	promo := func(name string, kind pricing.PromotionKind, group string, rule pricing.PromotionRule) {
		d.promos = append(d.promos, &pricing.PromotionRecord{ID: uuid.Must(uuid.NewV7()), SellerPartyID: hq.ID, Name: name, Kind: kind,
			TargetKind: catalog.TargetAll, ExclusiveGroup: group, Rule: rule, Active: true, CreatedAt: b.now, UpdatedAt: b.now})
	}
	promo(b.t("seed.promo.threshold", nil), pricing.KindThreshold, "", pricing.PromotionRule{
		Tiers: []pricing.Tier{{Threshold: 10_000_00, Off: 300_00}}, Repeat: true})
	promo(b.t("seed.promo.accessories", nil), pricing.KindPercentOff, "accessories", pricing.PromotionRule{
		Categories: []uuid.UUID{c.byCode["ACCESSORY"].ID}, PercentBP: 500})
	promo(b.t("seed.promo.gift", nil), pricing.KindGift, "", pricing.PromotionRule{
		Categories: []uuid.UUID{c.byCode["PHONE-5G"].ID}, Gift: &pricing.Gift{SKUID: earphone.ID, Qty: 1, MinQty: 5}, Repeat: true, GiftPool: 500})
	return d
}

func isUnder(c *catalogue, catID, ancestor uuid.UUID) bool {
	for _, cat := range c.categories {
		if cat.ID == catID {
			for _, a := range cat.Ancestors() {
				if a == ancestor {
					return true
				}
			}
		}
	}
	return false
}

func insertPricing(ctx context.Context, tx bun.Tx, d *pricingData) error {
	if _, err := tx.NewInsert().Model(&d.lists).Exec(ctx); err != nil {
		return fmt.Errorf("seed: price lists: %w", err)
	}
	for _, it := range d.items {
		if _, err := tx.NewInsert().Table("price_list_items").Model(&it).Exec(ctx); err != nil {
			return fmt.Errorf("seed: prices: %w", err)
		}
	}
	if _, err := tx.NewInsert().Model(&d.promos).Exec(ctx); err != nil {
		return fmt.Errorf("seed: promotions: %w", err)
	}
	return nil
}
