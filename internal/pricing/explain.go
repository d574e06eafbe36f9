package pricing

import "github.com/google/uuid"

// StepKind says whether a Step explains a price list or a promotion.
type StepKind string

// Step kinds.
const (
	StepPriceList StepKind = "PRICE_LIST"
	StepPromotion StepKind = "PROMOTION"
)

// Reason is the stable code that says why a rule did or did not apply. Clients
// get the code; the text a person reads comes from the message catalogue.
type Reason string

// Reasons. A step is Applied exactly when its reason is APPLIED,
// DISCOUNT_CAPPED or GIFT_PARTIAL.
const (
	// ReasonApplied: the rule set the price (price list) or gave a benefit
	// (promotion).
	ReasonApplied Reason = "APPLIED"
	// ReasonNotValidNow: At is outside [ValidFrom, ValidTo).
	ReasonNotValidNow Reason = "NOT_VALID_NOW"
	// ReasonTargetMismatch: the rule's target is not the buyer.
	ReasonTargetMismatch Reason = "TARGET_MISMATCH"
	// ReasonNoPriceForSKU: the price list is eligible but does not price this SKU.
	ReasonNoPriceForSKU Reason = "NO_PRICE_FOR_SKU"
	// ReasonInvalidPrice: the price list's price for this SKU is below 0 or
	// above MaxUnitPrice, so it is skipped.
	ReasonInvalidPrice Reason = "INVALID_PRICE"
	// ReasonOutranked: the price list prices the SKU but a list of higher
	// precedence won. Amount is the unit price it would have given.
	ReasonOutranked Reason = "OUTRANKED"
	// ReasonUseLimitReached: the buyer has no uses of the promotion left.
	ReasonUseLimitReached Reason = "USE_LIMIT_REACHED"
	// ReasonThresholdNotReached: no tier, break, bundle count, gift amount or
	// gift quantity was reached by the lines in scope.
	ReasonThresholdNotReached Reason = "THRESHOLD_NOT_REACHED"
	// ReasonNotInScope: no line of the cart is in the promotion's scope.
	ReasonNotInScope Reason = "NOT_IN_SCOPE"
	// ReasonIncompleteBundle: some, but not all, of a bundle's SKUs are in the
	// cart in the quantities of one complete set.
	ReasonIncompleteBundle Reason = "INCOMPLETE_BUNDLE"
	// ReasonExclusiveGroupLost: another promotion of the same exclusive group
	// gave the buyer more. Amount is what this one would have given alone.
	ReasonExclusiveGroupLost Reason = "EXCLUSIVE_GROUP_LOST"
	// ReasonGiftOutOfStock: the gift was earned but there is no gift stock.
	ReasonGiftOutOfStock Reason = "GIFT_OUT_OF_STOCK"
	// ReasonGiftPartial: the gift was given, but fewer than earned (gift stock).
	ReasonGiftPartial Reason = "GIFT_PARTIAL"
	// ReasonDiscountCapped: the promotion applied but its discount was cut to
	// the value it acts on (scoped net, line net or bundled value).
	ReasonDiscountCapped Reason = "DISCOUNT_CAPPED"
	// ReasonNoBenefit: the conditions were met but the promotion would not
	// lower any price (for example a break price not below the current price,
	// or lines already at 0).
	ReasonNoBenefit Reason = "NO_BENEFIT"
	// ReasonInvalidRule: the promotion cannot be evaluated (unknown kind, no
	// tiers/breaks/bundle items, a non-positive tier threshold or break
	// quantity, a percentage of 0, a gift SKU that is not in the catalogue
	// facts). ValidatePromotion refuses such rules before they are saved.
	ReasonInvalidRule Reason = "INVALID_RULE"
)

// Applied reports whether a step with this reason applied.
func (r Reason) Applied() bool {
	return r == ReasonApplied || r == ReasonDiscountCapped || r == ReasonGiftPartial
}

// Step explains one rule that was considered.
//
// Price-list steps come first: for each priced line (in line order) every
// price list, in precedence order, with SKUID set; Amount is the unit price
// the list offers (APPLIED or OUTRANKED). Promotion steps follow, one per
// promotion, in application order (stage, then higher Priority, then smaller
// ID); Amount is the benefit given (for EXCLUSIVE_GROUP_LOST: the benefit it
// would have given alone; for GIFT: the gift's base-price value).
//
// Steps for rules that target other buyers (TARGET_MISMATCH) reveal those
// rules; callers showing explanations to a buyer should drop them.
type Step struct {
	Kind    StepKind
	ID      uuid.UUID
	Name    string
	Applied bool
	Reason  Reason
	SKUID   *uuid.UUID // price-list steps only
	Amount  int64
}
