package model

import (
	"github.com/google/uuid"

	"channelhub/internal/party"
)

// PricingStep is one rule a price or quote considered; its SKU resolves through a loader.
type PricingStep struct {
	Kind    PricingStepKind
	RuleID  string
	Name    string
	Applied bool
	Reason  PricingReason
	SKUID   *uuid.UUID
	Amount  *Money
	Buyer   *party.Party
}

// QuoteLine is one priced line; its SKU resolves through a loader.
type QuoteLine struct {
	SKUID       uuid.UUID
	Buyer       *party.Party
	Qty         int
	UnitPrice   *Money
	PriceSource PriceSourceKind
	Amount      *Money
	Discount    *Money
	Net         *Money
	Gift        bool
}

// CartLine is one line of a cart; its SKU resolves through a loader.
type CartLine struct {
	SKUID   uuid.UUID
	Buyer   *party.Party
	Qty     int
	Problem *CartLineProblem
}
