// Package transfer moves stock between two parties of the same level under
// one supplier: distributor to distributor (both level 1 under HQ, or both
// level 2 under one level-1 distributor) and store to store under one
// distributor. The receiving or the sending party's admin asks
// (transferRequest); their common supplier approves, which reserves the
// stock in the sender's warehouses, or rejects; the sender ships through
// internal/shipment (a shipment that belongs to the transfer, its serials
// scanned or picked oldest first; dispatch takes the stock out of the sender's
// warehouse); the receiver confirms through internal/receipt (stock and
// serials go to it), and the transfer completes. Before anything leaves,
// either party or the supplier may cancel it, which releases the stock.
// Every step writes a timeline row, an outbox event and an audit row in its
// transaction.
package transfer

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
)

// Status is a transfer's state.
type Status string

const (
	StatusRequested        Status = "REQUESTED"
	StatusApproved         Status = "APPROVED"
	StatusRejected         Status = "REJECTED"
	StatusCancelled        Status = "CANCELLED"
	StatusPartiallyShipped Status = "PARTIALLY_SHIPPED"
	StatusShipped          Status = "SHIPPED"
	StatusCompleted        Status = "COMPLETED"
)

// Action is something done to a transfer.
type Action string

const (
	ActApprove  Action = "APPROVE"
	ActReject   Action = "REJECT"
	ActCancel   Action = "CANCEL"
	ActShip     Action = "SHIP"
	ActComplete Action = "COMPLETE"
	// ActCloseRemainder ends a partly shipped transfer: the rest stays home.
	ActCloseRemainder Action = "CLOSE_REMAINDER"
)

// transitions: the actions each state allows. Shipping (dispatch) leads to
// PARTIALLY_SHIPPED or SHIPPED; the last receipt to COMPLETED.
var transitions = map[Status][]Action{
	StatusRequested:        {ActApprove, ActReject, ActCancel},
	StatusApproved:         {ActShip, ActCancel},
	StatusPartiallyShipped: {ActShip, ActCloseRemainder},
	StatusShipped:          {ActComplete},
}

// Allows reports whether action a may be taken on a transfer in status s.
func (s Status) Allows(a Action) bool {
	for _, x := range transitions[s] {
		if x == a {
			return true
		}
	}
	return false
}

// Transfer is stock one party sends another of the same level.
type Transfer struct {
	bun.BaseModel `bun:"table:transfers,alias:tr"`

	ID             uuid.UUID  `bun:"id,pk"`
	Number         string     `bun:"number"`
	Status         Status     `bun:"status"`
	FromID         uuid.UUID  `bun:"from_party_id"`
	ToID           uuid.UUID  `bun:"to_party_id"`
	SupplierID     uuid.UUID  `bun:"supplier_party_id"`
	RequestedBy    uuid.UUID  `bun:"requested_by"`
	Note           string     `bun:"note"`
	DecidedBy      *uuid.UUID `bun:"decided_by"`
	DecidedAt      *time.Time `bun:"decided_at"`
	DecisionReason string     `bun:"decision_reason"`
	Version        int        `bun:"version"`
	CreatedAt      time.Time  `bun:"created_at"`
	UpdatedAt      time.Time  `bun:"updated_at"`
}

// Line is a quantity of one SKU to move, and how much of it has left and arrived.
type Line struct {
	bun.BaseModel `bun:"table:transfer_lines,alias:tl"`

	TransferID  uuid.UUID `bun:"transfer_id,pk"`
	LineNo      int       `bun:"line_no,pk"`
	SKUID       uuid.UUID `bun:"sku_id"`
	Qty         int64     `bun:"qty"`
	ShippedQty  int64     `bun:"shipped_qty"`
	ReceivedQty int64     `bun:"received_qty"`
}

// Reservation is stock an approved transfer holds in one of the sender's warehouses.
type Reservation struct {
	bun.BaseModel `bun:"table:transfer_reservations,alias:trr"`

	TransferID  uuid.UUID `bun:"transfer_id,pk"`
	WarehouseID uuid.UUID `bun:"warehouse_id,pk"`
	SKUID       uuid.UUID `bun:"sku_id,pk"`
	Qty         int64     `bun:"qty"`
	Warehouse   string    `bun:"warehouse_code,scanonly"`
}

// Event is one step of a transfer's timeline.
type Event struct {
	bun.BaseModel `bun:"table:transfer_events,alias:tre"`

	ID          uuid.UUID  `bun:"id,pk"`
	TransferID  uuid.UUID  `bun:"transfer_id"`
	Type        string     `bun:"type"`
	FromStatus  Status     `bun:"from_status"`
	ToStatus    Status     `bun:"to_status"`
	ActorUserID *uuid.UUID `bun:"actor_user_id"`
	Reason      string     `bun:"reason"`
	Detail      string     `bun:"detail"` // the shipment or receipt number of a SHIPPED or RECEIVED step
	CreatedAt   time.Time  `bun:"created_at"`
}

// Timeline step types; the outbox event type is "transfer." + lower case.
const (
	EvRequested       = "REQUESTED"
	EvApproved        = "APPROVED"
	EvRejected        = "REJECTED"
	EvCancelled       = "CANCELLED"
	EvShipped         = "SHIPPED"
	EvReceived        = "RECEIVED"
	EvCompleted       = "COMPLETED"
	EvRemainderClosed = "REMAINDER_CLOSED"
)

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound          = errors.New("transfer: not found")
	ErrInvalidInput      = errors.New("transfer: invalid input")
	ErrSameParty         = errors.New("transfer: a party cannot transfer to itself")
	ErrPartyNotFound     = errors.New("transfer: party not found")
	ErrNotAllowedParties = errors.New("transfer: only parties of the same level under the same supplier transfer stock")
	ErrUnknownSKU        = errors.New("transfer: unknown SKU")
	ErrNotAuthorised     = errors.New("transfer: the receiver may not carry the SKU")
	ErrNotAllowed        = errors.New("transfer: the caller may not do this to the transfer")
	ErrInvalidTransition = errors.New("transfer: not allowed in the transfer's status")
	ErrInsufficientStock = errors.New("transfer: the sender's warehouses hold too little")
	ErrReasonRequired    = errors.New("transfer: reason required")
	ErrKeyReused         = errors.New("transfer: idempotency key reused for a different transfer")
)

// Roles.
var (
	// Requesters ask for a transfer for their own party: a distributor's admin, a store's manager.
	Requesters = []auth.Role{auth.RoleDistributorAdmin, auth.RoleStoreManager}
	// Approvers decide for the supplier: HQ's admin and sales ops, or the supplying distributor's admin.
	Approvers = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleDistributorAdmin}
)

// Limits.
const (
	MaxLines  = 200
	MaxQty    = 100_000
	MaxNote   = 500
	MaxReason = 500
)
