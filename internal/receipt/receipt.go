// Package receipt closes a shipment with its buyer's goods receipt: what
// arrived is taken into the buyer's stock with its serials, every difference
// (missing, unexpected, damaged) opens a claim the seller settles by
// reshipping or by a credit note, and the order completes once everything
// shipped was received or claimed.
package receipt

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/serial"
)

// Receipt is a buyer's confirmation of one shipment.
type Receipt struct {
	bun.BaseModel `bun:"table:receipts,alias:gr"`

	ID             uuid.UUID  `bun:"id,pk"`
	Number         string     `bun:"number"`
	ShipmentID     uuid.UUID  `bun:"shipment_id"`
	BuyerID        uuid.UUID  `bun:"buyer_party_id"`
	WarehouseID    uuid.UUID  `bun:"warehouse_id"`
	Note           string     `bun:"note"`
	AcceptedQty    int64      `bun:"accepted_qty"`
	DuplicateScans int        `bun:"duplicate_scans"`
	CreatedBy      uuid.UUID  `bun:"created_by"`
	CapturedAt     *time.Time `bun:"captured_at"`
	CreatedAt      time.Time  `bun:"created_at"`
	WarehouseCode  string     `bun:"warehouse_code,scanonly"`
}

// ClaimStatus is OPEN until the seller resolves it.
type ClaimStatus string

const (
	ClaimOpen     ClaimStatus = "OPEN"
	ClaimResolved ClaimStatus = "RESOLVED"
)

// Resolution is how a seller settles a claim.
type Resolution string

const (
	Reship     Resolution = "RESHIP"
	CreditNote Resolution = "CREDIT_NOTE"
)

// Claim is the differences of one receipt, for the seller to settle.
type Claim struct {
	bun.BaseModel `bun:"table:claims,alias:cl"`

	ID                    uuid.UUID   `bun:"id,pk"`
	Number                string      `bun:"number"`
	ReceiptID             uuid.UUID   `bun:"receipt_id"`
	ShipmentID            uuid.UUID   `bun:"shipment_id"`
	OrderID               uuid.UUID   `bun:"order_id,nullzero"` // uuid.Nil for a transfer's shipment
	BuyerID               uuid.UUID   `bun:"buyer_party_id"`
	SellerID              uuid.UUID   `bun:"seller_party_id"`
	Status                ClaimStatus `bun:"status"`
	Value                 int64       `bun:"value"`
	Resolution            Resolution  `bun:"resolution"`
	ResolutionReason      string      `bun:"resolution_reason"`
	ReplacementShipmentID *uuid.UUID  `bun:"replacement_shipment_id"`
	ResolvedBy            *uuid.UUID  `bun:"resolved_by"`
	ResolvedAt            *time.Time  `bun:"resolved_at"`
	CreatedAt             time.Time   `bun:"created_at"`
}

// Kind is a kind of difference.
type Kind string

const (
	Missing    Kind = "MISSING"
	Unexpected Kind = "UNEXPECTED"
	Damaged    Kind = "DAMAGED"
)

// Item is one difference of a claim: a unit, or a quantity of a line.
type Item struct {
	bun.BaseModel `bun:"table:claim_items,alias:ci"`

	ClaimID        uuid.UUID  `bun:"claim_id,pk"`
	ItemNo         int        `bun:"item_no,pk"`
	Kind           Kind       `bun:"kind"`
	SKUID          *uuid.UUID `bun:"sku_id"`
	ShipmentLineNo *int       `bun:"shipment_line_no"`
	SerialNumber   string     `bun:"serial_number"`
	Qty            int64      `bun:"qty"`
	Value          int64      `bun:"value"`
	Reason         string     `bun:"reason"`
}

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound           = errors.New("receipt: not found")
	ErrInvalidInput       = errors.New("receipt: invalid input")
	ErrNotBuyer           = errors.New("receipt: only the shipment's buyer confirms its receipt")
	ErrNotReceivable      = errors.New("receipt: the shipment cannot be received in its status")
	ErrSerialOther        = errors.New("receipt: the serial belongs to another shipment")
	ErrTooMuch            = errors.New("receipt: accepted and rejected exceed the line")
	ErrReasonRequired     = errors.New("receipt: reason required")
	ErrKeyReused          = errors.New("receipt: idempotency key reused for a different receipt")
	ErrClaimResolved      = errors.New("receipt: claim already resolved")
	ErrNotAllowed         = errors.New("receipt: the caller may not resolve the claim")
	ErrInvalidResolution  = errors.New("receipt: unknown resolution")
	errReceiptNotRecorded = errors.New("receipt: the shipment's receipt vanished")
)

// Receivers confirm receipts for their own party.
var Receivers = []auth.Role{auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff}

// Resolvers settle claims for the seller: HQ's admin, goods control and sales
// ops, a distributor's admin; for a transfer's claims, the sender's admin (a
// distributor's admin or a store's manager).
var Resolvers = []auth.Role{auth.RoleHQAdmin, auth.RoleGoodsControl, auth.RoleSalesOps, auth.RoleDistributorAdmin, auth.RoleStoreManager}

// Limits.
const (
	MaxLines  = 200
	MaxNote   = 500
	MaxReason = 200
	MaxSerial = serial.MaxPerDocument
)
