// Package shipment sends an approved order's goods from one of the seller's
// warehouses: one or more shipments per order, each with its lines and, for
// serialised SKUs, the exact units (scanned, or picked oldest first). Dispatch
// books the stock out through the order (ShipFromTx), puts the units in
// transit and tells the buyer; the buyer's receipt closes it. A stock
// transfer (internal/transfer) ships the same way: its shipment belongs to the
// transfer instead of an order, the sender is the seller and the receiver the
// buyer, and the transfer books the stock (TransferBook).
package shipment

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/order"
)

// Status is a shipment's state: CREATED → DISPATCHED → DELIVERED →
// RECEIVED | PARTIALLY_RECEIVED; CREATED → CANCELLED. A buyer may confirm
// its receipt straight from DISPATCHED.
type Status string

const (
	StatusCreated           Status = "CREATED"
	StatusDispatched        Status = "DISPATCHED"
	StatusDelivered         Status = "DELIVERED"
	StatusReceived          Status = "RECEIVED"
	StatusPartiallyReceived Status = "PARTIALLY_RECEIVED"
	StatusCancelled         Status = "CANCELLED"
)

// Receivable reports a shipment whose goods the buyer may confirm.
func (s Status) Receivable() bool { return s == StatusDispatched || s == StatusDelivered }

// Shipment is goods leaving one warehouse of the seller for one order, or of
// a transfer's sender for the transfer (exactly one of OrderID and TransferID is set).
type Shipment struct {
	bun.BaseModel `bun:"table:shipments,alias:sh"`

	ID             uuid.UUID  `bun:"id,pk"`
	Number         string     `bun:"number"`
	OrderID        uuid.UUID  `bun:"order_id,nullzero"`    // uuid.Nil for a transfer's shipment
	TransferID     uuid.UUID  `bun:"transfer_id,nullzero"` // uuid.Nil for an order's shipment
	SellerID       uuid.UUID  `bun:"seller_party_id"`
	BuyerID        uuid.UUID  `bun:"buyer_party_id"`
	WarehouseID    uuid.UUID  `bun:"warehouse_id"`
	Status         Status     `bun:"status"`
	Carrier        string     `bun:"carrier"`
	TrackingNumber string     `bun:"tracking_number"`
	Note           string     `bun:"note"`
	ClaimID        *uuid.UUID `bun:"claim_id"` // a reshipment for this claim: its stock leaves without the order
	CreatedBy      uuid.UUID  `bun:"created_by"`
	CreatedAt      time.Time  `bun:"created_at"`
	DispatchedAt   *time.Time `bun:"dispatched_at"`
	DeliveredAt    *time.Time `bun:"delivered_at"`
	ReceivedAt     *time.Time `bun:"received_at"`
	UpdatedAt      time.Time  `bun:"updated_at"`
	WarehouseCode  string     `bun:"warehouse_code,scanonly"`
}

// Line is a quantity of one order line (or transfer line) on a shipment, and what the receipt made of it.
type Line struct {
	bun.BaseModel `bun:"table:shipment_lines,alias:shl"`

	ShipmentID  uuid.UUID `bun:"shipment_id,pk"`
	LineNo      int       `bun:"line_no,pk"`
	OrderLineNo int       `bun:"order_line_no"`
	SKUID       uuid.UUID `bun:"sku_id"`
	Qty         int64     `bun:"qty"`
	AcceptedQty int64     `bun:"accepted_qty"`
	RejectedQty int64     `bun:"rejected_qty"`
}

// Unit is one serialised unit on a shipment.
type Unit struct {
	bun.BaseModel `bun:"table:shipment_serials,alias:ss"`

	ShipmentID uuid.UUID `bun:"shipment_id,pk"`
	SerialID   uuid.UUID `bun:"serial_id,pk"`
	LineNo     int       `bun:"line_no"`
	Outcome    string    `bun:"outcome"` // after the receipt: RECEIVED, MISSING, DAMAGED
	Number     string    `bun:"number,scanonly"`
}

// Event is one step of a shipment's timeline, by a person or by the carrier.
type Event struct {
	bun.BaseModel `bun:"table:shipment_events,alias:she"`

	ID          uuid.UUID  `bun:"id,pk"`
	ShipmentID  uuid.UUID  `bun:"shipment_id"`
	Type        string     `bun:"type"`
	Status      Status     `bun:"status"`
	Source      string     `bun:"source"` // USER or CARRIER
	Detail      string     `bun:"detail"`
	ActorUserID *uuid.UUID `bun:"actor_user_id"`
	CreatedAt   time.Time  `bun:"created_at"`
}

// Outbox event types; alerts (internal/server) push the dispatched and delivered ones to the buyer.
const (
	EventCreated    = "shipment.created"
	EventDispatched = "shipment.dispatched"
	EventDelivered  = "shipment.delivered"
	EventCancelled  = "shipment.cancelled"
	EventTracking   = "shipment.tracking"
	EventReceived   = "shipment.received"
)

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound           = errors.New("shipment: not found")
	ErrInvalidInput       = errors.New("shipment: invalid input")
	ErrOrderNotShippable  = errors.New("shipment: the order cannot ship in its status")
	ErrNotAllowed         = errors.New("shipment: the caller may not do this to the shipment")
	ErrInvalidTransition  = errors.New("shipment: not allowed in the shipment's status")
	ErrTooMuch            = errors.New("shipment: more than the order line has left to ship")
	ErrWarehouse          = errors.New("shipment: not an active warehouse of the seller")
	ErrInsufficientStock  = errors.New("shipment: the warehouse holds too little of the order's stock")
	ErrSerialCount        = errors.New("shipment: serials do not match the quantity")
	ErrSerialUnavailable  = errors.New("shipment: serial not in stock in the warehouse")
	ErrInsufficientSerial = errors.New("shipment: too few serials in stock to pick")
	ErrCarrierRequired    = errors.New("shipment: carrier required to dispatch")
	ErrKeyReused          = errors.New("shipment: idempotency key reused for a different shipment")
)

// Shippers act for the seller: HQ's goods control and admin on HQ's orders,
// a distributor's admin and staff on its own sales.
var Shippers = order.Shippers

// TransferShippers act for a transfer's sender: its own admins and staff.
var TransferShippers = []auth.Role{auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff}

// Receivers confirm what arrived for their own party.
var Receivers = []auth.Role{auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff}

// TransferBook is what the shipments of stock transfers need of the transfer
// service (internal/transfer sets it on the Service at start).
type TransferBook interface {
	// TakeTx locks the transfer's row inside tx: every step on a transfer's
	// shipment takes it before the shipment's, as the transfer's own steps do.
	TakeTx(ctx context.Context, tx bun.IDB, transferID uuid.UUID) error
	// ShipTx books a dispatched transfer shipment's lines out of the
	// transfer's reservations in the shipment's warehouse and advances the
	// transfer, inside the dispatch's transaction.
	ShipTx(ctx context.Context, tx bun.IDB, p auth.Principal, sh *Shipment, lines []Line) error
	// ReceivedTx records what a receipt accepted of each transfer line
	// (by transfer line number) and completes the transfer when nothing more
	// waits, inside the receipt's transaction.
	ReceivedTx(ctx context.Context, tx bun.IDB, p auth.Principal, sh *Shipment, accepted map[int]int64) error
}

// ErrNoTransfers: a transfer's shipment on a server without the transfer service.
var ErrNoTransfers = errors.New("shipment: transfers are not wired")

// Limits.
const (
	MaxLines    = 200
	MaxCarrier  = 50
	MaxTracking = 64
	MaxNote     = 500
)
