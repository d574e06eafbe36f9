package pricing

import (
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// PriceListRecord is a stored price list: one seller's prices for the buyers
// its target covers, within a validity window.
type PriceListRecord struct {
	bun.BaseModel `bun:"table:price_lists,alias:pl"`

	ID            uuid.UUID  `bun:"id,pk"`
	SellerPartyID uuid.UUID  `bun:"seller_party_id"`
	Name          string     `bun:"name"`
	TargetKind    TargetKind `bun:"target_kind"`
	TargetValue   string     `bun:"target_value"`
	Priority      int        `bun:"priority"`
	ValidFrom     *time.Time `bun:"valid_from"`
	ValidTo       *time.Time `bun:"valid_to"`
	CreatedAt     time.Time  `bun:"created_at"`
	UpdatedAt     time.Time  `bun:"updated_at"`
}

type priceItem struct {
	bun.BaseModel `bun:"table:price_list_items,alias:pli"`

	PriceListID uuid.UUID `bun:"price_list_id,pk"`
	SKUID       uuid.UUID `bun:"sku_id,pk"`
	Price       int64     `bun:"price"`
}

// PromotionRecord is a stored promotion; Rule holds the kind's parameters.
type PromotionRecord struct {
	bun.BaseModel `bun:"table:promotions,alias:pm"`

	ID             uuid.UUID     `bun:"id,pk"`
	SellerPartyID  uuid.UUID     `bun:"seller_party_id"`
	Name           string        `bun:"name"`
	Kind           PromotionKind `bun:"kind"`
	TargetKind     TargetKind    `bun:"target_kind"`
	TargetValue    string        `bun:"target_value"`
	ValidFrom      *time.Time    `bun:"valid_from"`
	ValidTo        *time.Time    `bun:"valid_to"`
	Priority       int           `bun:"priority"`
	ExclusiveGroup string        `bun:"exclusive_group"`
	PerPartyLimit  *int          `bun:"per_party_limit"`
	Rule           PromotionRule `bun:"rule"` // JSON
	Active         bool          `bun:"active"`
	GiftsGiven     int64         `bun:"gifts_given"` // drawn from Rule.GiftPool by orders
	CreatedAt      time.Time     `bun:"created_at"`
	UpdatedAt      time.Time     `bun:"updated_at"`
}

// PromotionRule is the kind-specific part of a promotion.
type PromotionRule struct {
	SKUs       []uuid.UUID `json:"skus,omitempty"`
	Categories []uuid.UUID `json:"categories,omitempty"`
	Tiers      []Tier      `json:"tiers,omitempty"`
	Repeat     bool        `json:"repeat,omitempty"`
	PercentBP  int64       `json:"percentBp,omitempty"`
	Gift       *Gift       `json:"gift,omitempty"`
	// GiftPool is how many gift units the promotion may still hand out: the
	// gift stock a quote counts on. Orders draw it down.
	GiftPool int64   `json:"giftPool,omitempty"`
	Bundle   *Bundle `json:"bundle,omitempty"`
	Breaks   []Break `json:"breaks,omitempty"`
}

func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// engine turns a stored promotion into the quote engine's form.
func (r *PromotionRecord) engine(usesLeft *int) Promotion {
	var giftLeft *int64
	if r.Rule.Gift != nil {
		left := max(r.Rule.GiftPool-r.GiftsGiven, 0)
		giftLeft = &left
	}
	return Promotion{
		ID: r.ID, Name: r.Name, Kind: r.Kind, Target: Target{Kind: r.TargetKind, Value: r.TargetValue},
		ValidFrom: timeOrZero(r.ValidFrom), ValidTo: timeOrZero(r.ValidTo), Priority: r.Priority, Group: r.ExclusiveGroup,
		UsesLeft: usesLeft, SKUs: r.Rule.SKUs, Categories: r.Rule.Categories, Tiers: r.Rule.Tiers, Repeat: r.Rule.Repeat,
		PercentBP: r.Rule.PercentBP, Gift: r.Rule.Gift, GiftLeft: giftLeft, Bundle: r.Rule.Bundle, Breaks: r.Rule.Breaks,
	}
}

// engine turns a stored price list and its prices into the engine's form.
func (r *PriceListRecord) engine(prices map[uuid.UUID]int64) PriceList {
	return PriceList{
		ID: r.ID, Name: r.Name, Target: Target{Kind: r.TargetKind, Value: r.TargetValue}, Priority: r.Priority,
		ValidFrom: timeOrZero(r.ValidFrom), ValidTo: timeOrZero(r.ValidTo), CreatedAt: r.CreatedAt, Prices: prices,
	}
}
