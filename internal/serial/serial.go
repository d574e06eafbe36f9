// Package serial keeps one row per serialised unit (a phone's IMEI): its
// status, who holds it and where, and an append-only trail of every move, so
// a unit can be traced from HQ's warehouse to the shelf it was sold from.
package serial

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/catalog"
	"channelhub/internal/party"
)

// Status is where a unit stands.
type Status string

const (
	StatusInStock   Status = "IN_STOCK"
	StatusInTransit Status = "IN_TRANSIT"
	StatusSold      Status = "SOLD"
	StatusReturned  Status = "RETURNED"
)

// Event types of the trail.
const (
	EvStockedIn  = "STOCKED_IN"  // registered into a warehouse
	EvDispatched = "DISPATCHED"  // left on a shipment
	EvReceived   = "RECEIVED"    // confirmed by the receiving party
	EvClaimed    = "CLAIMED"     // missing or damaged on a receipt, written back to the seller
	EvSold       = "SOLD"        // sold to a consumer
	EvDelivered  = "DELIVERED"   // the carrier delivered its shipment
	EvCancelled  = "UNALLOCATED" // its shipment was cancelled before dispatch
	EvReturned   = "RETURNED"    // a buyer's return brought it back to the seller
)

// Serial is one unit.
type Serial struct {
	bun.BaseModel `bun:"table:serials,alias:sr"`

	ID          uuid.UUID    `bun:"id,pk"`
	Number      string       `bun:"number"`
	SKUID       uuid.UUID    `bun:"sku_id"`
	Status      Status       `bun:"status"`
	HolderID    uuid.UUID    `bun:"holder_party_id"`
	WarehouseID *uuid.UUID   `bun:"warehouse_id"`
	ShipmentID  *uuid.UUID   `bun:"shipment_id"`
	TerritoryID *uuid.UUID   `bun:"territory_party_id"` // last shipped to and received by; nil until it first leaves HQ
	ReceivedAt  time.Time    `bun:"received_at"`        // into its current holder's stock: FIFO order
	UpdatedAt   time.Time    `bun:"updated_at"`
	Trail       []*Event     `bun:"-"` // filled by Get
	SKU         *catalog.SKU `bun:"-"` // filled by Get
	Holder      *party.Party `bun:"-"` // filled by Get
}

// Event is one step of a unit's trail.
type Event struct {
	bun.BaseModel `bun:"table:serial_events,alias:se"`

	ID             uuid.UUID  `bun:"id,pk"`
	SerialID       uuid.UUID  `bun:"serial_id"`
	Type           string     `bun:"type"`
	Status         Status     `bun:"status"`
	HolderID       uuid.UUID  `bun:"holder_party_id"`
	WarehouseID    *uuid.UUID `bun:"warehouse_id"`
	DocumentType   string     `bun:"document_type"`
	DocumentID     *uuid.UUID `bun:"document_id"`
	DocumentNumber string     `bun:"document_number"`
	ActorUserID    *uuid.UUID `bun:"actor_user_id"`
	CreatedAt      time.Time  `bun:"created_at"`
	WarehouseCode  string     `bun:"warehouse_code,scanonly"`
}

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound      = errors.New("serial: not found")
	ErrMalformed     = errors.New("serial: malformed serial number")
	ErrRangeInvalid  = errors.New("serial: invalid range")
	ErrTooMany       = errors.New("serial: too many serials in one document")
	ErrExists        = errors.New("serial: serial already registered")
	ErrUnavailable   = errors.New("serial: serial not available here")
	ErrNotSerialised = errors.New("serial: the SKU carries no serials")
)

// chunk is how many rows one bulk statement touches. bun renders values into
// the SQL text, so no bind-parameter limit applies; this only bounds a statement's size.
const chunk = 5000

func chunks[T any](s []T) [][]T {
	var out [][]T
	for len(s) > chunk {
		out = append(out, s[:chunk])
		s = s[chunk:]
	}
	if len(s) > 0 {
		out = append(out, s)
	}
	return out
}

// ByNumbers loads the units with these numbers, keyed by number: one statement per 5,000.
func ByNumbers(ctx context.Context, db bun.IDB, numbers []string) (map[string]*Serial, error) {
	out := make(map[string]*Serial, len(numbers))
	for _, c := range chunks(numbers) {
		var rows []*Serial
		if err := db.NewSelect().Model(&rows).Where("sr.number IN (?)", bun.List(c)).Scan(ctx); err != nil {
			return nil, fmt.Errorf("serial: load: %w", err)
		}
		for _, r := range rows {
			out[r.Number] = r
		}
	}
	return out, nil
}

// Doc names the document behind a move, for the trail.
type Doc struct {
	Type   string
	ID     uuid.UUID
	Number string
	Actor  uuid.UUID
	At     time.Time
}

// Insert registers new units as IN_STOCK in a warehouse of holder, with their
// first trail event. A number already registered answers ErrExists.
func Insert(ctx context.Context, tx bun.IDB, numbers []string, sku, holder, warehouse uuid.UUID, doc Doc) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, len(numbers))
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	for start := 0; start < len(numbers); start += chunk {
		end := min(start+chunk, len(numbers))
		rows := make([]Serial, 0, end-start)
		for i := start; i < end; i++ {
			rows = append(rows, Serial{ID: ids[i], Number: numbers[i], SKUID: sku, Status: StatusInStock, HolderID: holder,
				WarehouseID: &warehouse, ReceivedAt: doc.At, UpdatedAt: doc.At})
		}
		res, err := tx.NewInsert().Model(&rows).On("CONFLICT (number) DO NOTHING").Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("serial: insert: %w", err)
		}
		if n, _ := res.RowsAffected(); int(n) != len(rows) {
			return nil, ErrExists
		}
	}
	return ids, addEvents(ctx, tx, ids, EvStockedIn, StatusInStock, holder, &warehouse, doc)
}

// Move is one change of many units' status, holder and place, taken only from
// the units that still stand where From says (so two racing documents cannot both move a unit).
type Move struct {
	From          []Status
	FromWarehouse *uuid.UUID
	FromShipment  *uuid.UUID
	FromHolder    *uuid.UUID

	To        Status
	Holder    uuid.UUID
	Warehouse *uuid.UUID
	Shipment  *uuid.UUID
	Event     string
}

// Apply moves the units ids as m says, one statement per 5,000 units plus
// their trail events; ErrUnavailable when any unit no longer stands where m.From says.
// A move into stock off a shipment (the receipt of a shipment that listed the
// units, whether an order's or a transfer's) also makes the receiver the
// units' territory, in the same statement: the party they were legitimately
// shipped to and received by.
func Apply(ctx context.Context, tx bun.IDB, ids []uuid.UUID, m Move, doc Doc) error {
	for _, c := range chunks(ids) {
		q := tx.NewUpdate().Model((*Serial)(nil)).
			Set("status = ?, holder_party_id = ?, warehouse_id = ?, shipment_id = ?, updated_at = ?", m.To, m.Holder, m.Warehouse, m.Shipment, doc.At).
			Where("id IN (?)", bun.List(c)).Where("status IN (?)", bun.List(m.From))
		if m.To == StatusInStock {
			q = q.Set("received_at = ?", doc.At)
		}
		if m.To == StatusInStock && m.FromShipment != nil { // taken into stock off a shipment that listed it
			q = q.Set("territory_party_id = ?", m.Holder)
		}
		if m.FromWarehouse != nil {
			q = q.Where("warehouse_id = ?", *m.FromWarehouse)
		}
		if m.FromShipment != nil {
			q = q.Where("shipment_id = ?", *m.FromShipment)
		}
		if m.FromHolder != nil {
			q = q.Where("holder_party_id = ?", *m.FromHolder)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return fmt.Errorf("serial: move: %w", err)
		}
		if n, _ := res.RowsAffected(); int(n) != len(c) {
			return ErrUnavailable
		}
	}
	return addEvents(ctx, tx, ids, m.Event, m.To, m.Holder, m.Warehouse, doc)
}

func addEvents(ctx context.Context, tx bun.IDB, ids []uuid.UUID, typ string, st Status, holder uuid.UUID, warehouse *uuid.UUID, doc Doc) error {
	var docID, actor *uuid.UUID
	if doc.ID != uuid.Nil {
		docID = &doc.ID
	}
	if doc.Actor != uuid.Nil {
		actor = &doc.Actor
	}
	for _, c := range chunks(ids) {
		evs := make([]Event, len(c))
		for i, id := range c {
			evs[i] = Event{ID: uuid.Must(uuid.NewV7()), SerialID: id, Type: typ, Status: st, HolderID: holder, WarehouseID: warehouse,
				DocumentType: doc.Type, DocumentID: docID, DocumentNumber: doc.Number, ActorUserID: actor, CreatedAt: doc.At}
		}
		if _, err := tx.NewInsert().Model(&evs).Exec(ctx); err != nil {
			return fmt.Errorf("serial: trail: %w", err)
		}
	}
	return nil
}
