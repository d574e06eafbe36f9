// Package order takes orders from buyers to their suppliers: priced by the
// server, checked against credit and stock and reserved in one transaction,
// exactly once per idempotency key, then moved through an explicit state
// machine whose every step releases or converts what it must.
package order

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/party"
	"channelhub/internal/pricing"
)

// Kind says who sells to whom.
type Kind string

const (
	KindSellIn      Kind = "SELL_IN"      // HQ to a distributor
	KindSellThrough Kind = "SELL_THROUGH" // a distributor to a store or sub-distributor
)

// Status is an order's state.
type Status string

const (
	StatusSubmitted        Status = "SUBMITTED"
	StatusCreditHold       Status = "CREDIT_HOLD"
	StatusApproved         Status = "APPROVED"
	StatusRejected         Status = "REJECTED"
	StatusPartiallyShipped Status = "PARTIALLY_SHIPPED"
	StatusShipped          Status = "SHIPPED"
	StatusCompleted        Status = "COMPLETED"
	StatusCancelled        Status = "CANCELLED"
)

// Action is something done to an order.
type Action string

const (
	ActSubmit        Action = "SUBMIT"
	ActHold          Action = "HOLD"
	ActReleaseCredit Action = "RELEASE_CREDIT"
	ActApprove       Action = "APPROVE"
	ActReject        Action = "REJECT"
	ActChange        Action = "CHANGE"
	ActCancel        Action = "CANCEL"
	ActShip          Action = "SHIP"
	ActComplete      Action = "COMPLETE"
	ActReturn        Action = "RETURN"
	// ActCloseRemainder ends a partly shipped order: what did not ship will not.
	ActCloseRemainder Action = "CLOSE_REMAINDER"
)

// transitions is the state machine: for each state, the actions allowed in
// it. Where an action leads is decided by the action itself (a change may
// land in SUBMITTED or CREDIT_HOLD; a shipment in PARTIALLY_SHIPPED or SHIPPED).
var transitions = map[Status][]Action{
	StatusSubmitted:        {ActApprove, ActReject, ActChange, ActCancel},
	StatusCreditHold:       {ActReleaseCredit, ActReject, ActChange, ActCancel},
	StatusApproved:         {ActShip, ActChange, ActCancel},
	StatusPartiallyShipped: {ActShip, ActCloseRemainder, ActReturn},
	StatusShipped:          {ActComplete, ActReturn},
	StatusCompleted:        {ActReturn},
	StatusRejected:         nil,
	StatusCancelled:        nil,
}

// Allows reports whether action may be taken on an order in status s.
func (s Status) Allows(a Action) bool {
	for _, x := range transitions[s] {
		if x == a {
			return true
		}
	}
	return false
}

// Open reports a status that still holds reservations.
func (s Status) Open() bool {
	return s == StatusSubmitted || s == StatusCreditHold || s == StatusApproved || s == StatusPartiallyShipped
}

// Order is an order from a buyer party to its supplier.
type Order struct {
	bun.BaseModel `bun:"table:orders,alias:o"`

	ID              uuid.UUID      `bun:"id,pk"`
	Number          string         `bun:"number"`
	Kind            Kind           `bun:"kind"`
	Status          Status         `bun:"status"`
	BuyerID         uuid.UUID      `bun:"buyer_party_id"`
	SellerID        uuid.UUID      `bun:"seller_party_id"`
	CreatedBy       uuid.UUID      `bun:"created_by"`
	SalesmanID      *uuid.UUID     `bun:"salesman_user_id"`
	Subtotal        int64          `bun:"subtotal"`
	Discount        int64          `bun:"discount"`
	Total           int64          `bun:"total"`
	CreditReserved  int64          `bun:"credit_reserved"`
	CreditWarning   bool           `bun:"credit_warning"`
	Note            string         `bun:"note"`
	DeliveryAddress party.Address  `bun:"delivery_address,type:text"` // JSON
	Explanation     []pricing.Step `bun:"explanation,type:text"`      // JSON, locked at submit
	Promotions      []pricing.Use  `bun:"promotions,type:text"`       // JSON: what the order took from promotions
	Version         int            `bun:"version"`
	SubmittedAt     time.Time      `bun:"submitted_at"`
	UpdatedAt       time.Time      `bun:"updated_at"`
}

// Line is one priced line, its price locked at submit (or at the last change).
type Line struct {
	bun.BaseModel `bun:"table:order_lines,alias:ol"`

	OrderID     uuid.UUID               `bun:"order_id,pk"`
	LineNo      int                     `bun:"line_no,pk"`
	SKUID       uuid.UUID               `bun:"sku_id"`
	Qty         int64                   `bun:"qty"`
	UnitPrice   int64                   `bun:"unit_price"`
	Amount      int64                   `bun:"amount"`
	Discount    int64                   `bun:"discount"`
	Net         int64                   `bun:"net"`
	Gift        bool                    `bun:"gift"`
	PriceSource pricing.PriceSourceKind `bun:"price_source"`
	PriceListID *uuid.UUID              `bun:"price_list_id"`
	Adjustments []pricing.Adjustment    `bun:"adjustments,type:text"` // JSON
	ShippedQty  int64                   `bun:"shipped_qty"`
	ReturnedQty int64                   `bun:"returned_qty"`
	ReceivedQty int64                   `bun:"received_qty"` // confirmed by the buyer's goods receipts
}

// Reservation is stock an open order holds in one warehouse.
type Reservation struct {
	bun.BaseModel `bun:"table:order_reservations,alias:r"`

	OrderID     uuid.UUID `bun:"order_id,pk"`
	WarehouseID uuid.UUID `bun:"warehouse_id,pk"`
	SKUID       uuid.UUID `bun:"sku_id,pk"`
	Qty         int64     `bun:"qty"`
	Warehouse   string    `bun:"warehouse_code,scanonly"`
}

// Event is one step of an order's timeline.
type Event struct {
	bun.BaseModel `bun:"table:order_events,alias:ev"`

	ID          uuid.UUID      `bun:"id,pk"`
	OrderID     uuid.UUID      `bun:"order_id"`
	Type        string         `bun:"type"`
	FromStatus  Status         `bun:"from_status"`
	ToStatus    Status         `bun:"to_status"`
	ActorUserID *uuid.UUID     `bun:"actor_user_id"`
	Reason      string         `bun:"reason"`
	Data        map[string]any `bun:"data,type:text"` // JSON
	CreatedAt   time.Time      `bun:"created_at"`
}

// Event types, also the outbox event types (prefixed "order.").
const (
	EvSubmitted       = "SUBMITTED"
	EvCreditHeld      = "CREDIT_HELD"
	EvCreditRelease   = "CREDIT_RELEASED"
	EvAutoApproved    = "AUTO_APPROVED"
	EvApproved        = "APPROVED"
	EvRejected        = "REJECTED"
	EvChanged         = "CHANGED"
	EvCancelled       = "CANCELLED"
	EvShipped         = "SHIPPED"
	EvCompleted       = "COMPLETED"
	EvReturned        = "RETURN_RECEIVED"
	EvRemainderClosed = "REMAINDER_CLOSED"
)

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound            = errors.New("order: not found")
	ErrInvalidInput        = errors.New("order: invalid input")
	ErrEmpty               = errors.New("order: no lines")
	ErrTooManyLines        = errors.New("order: too many lines")
	ErrUnknownSKU          = errors.New("order: unknown SKU")
	ErrNotAuthorised       = errors.New("order: SKU not authorised for the buyer")
	ErrOffShelf            = errors.New("order: SKU off shelf")
	ErrBelowMinimum        = errors.New("order: below the minimum order quantity")
	ErrNotPackMultiple     = errors.New("order: not a multiple of the pack size")
	ErrInvalidQuantity     = errors.New("order: invalid quantity")
	ErrInsufficientStock   = errors.New("order: insufficient stock")
	ErrCreditLimitExceeded = errors.New("order: credit limit exceeded")
	ErrCreditStopped       = errors.New("order: the buyer's credit is stopped")
	ErrPromotionChanged    = errors.New("order: a promotion was used up since the quote")
	ErrKeyReused           = errors.New("order: idempotency key reused for a different order")
	ErrInvalidTransition   = errors.New("order: not allowed in the order's status")
	ErrNotAllowed          = errors.New("order: the caller may not do this to the order")
	ErrReasonRequired      = errors.New("order: reason required")
	ErrReturnTooMuch       = errors.New("order: return exceeds what was delivered")
	ErrNoSupplier          = errors.New("order: the buyer has no supplier")
	ErrSerialMismatch      = errors.New("order: the serials do not match the line (count, SKU without serials, or given twice)")
	ErrSerialUnavailable   = errors.New("order: the unit is not the buyer's from this order, or already on another return")
	ErrShipmentInProgress  = errors.New("order: a shipment of the order is being prepared")
)

// Limits of an order.
const (
	MaxLines       = 200
	MaxNote        = 500
	MaxReason      = 500
	MaxAddressPart = 32 // province, city, district, as party addresses
	MaxStreet      = 128
)
