package shipment

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/inventory"
	"channelhub/internal/order"
	"channelhub/internal/outbox"
	"channelhub/internal/party"
	"channelhub/internal/serial"
)

// Service creates, dispatches and lists shipments.
type Service struct {
	db     *database.DB
	orders *order.Service
	stock  *inventory.Service
	// Transfers books the stock of transfers' shipments; set at start.
	Transfers TransferBook
	Now       func() time.Time
}

// NewService returns a shipment Service.
func NewService(db *database.DB, orders *order.Service, stock *inventory.Service) *Service {
	return &Service{db: db, orders: orders, stock: stock, Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// LineInput ships qty of one order line (a transfer's shipment: one transfer
// line); for a serialised SKU the units are the serials and ranges given
// (exactly qty of them), or picked oldest first when none are.
type LineInput struct {
	OrderLineNo int
	Qty         int64
	Serials     []string
	Ranges      []serial.Range
}

// CreateInput is a new shipment of an order (OrderID) or of a stock transfer (TransferID).
type CreateInput struct {
	OrderID        uuid.UUID
	TransferID     uuid.UUID `json:"-"` // hashed apart, so an order's shipment hashes as it always did
	WarehouseID    *uuid.UUID
	Lines          []LineInput
	Carrier        string
	TrackingNumber string
	Note           string
	IdempotencyKey string
}

// Doc is what a shipment carries goods for, read inside the shipment's
// transaction: an order, or a stock transfer.
type Doc struct {
	OrderID    uuid.UUID // one of OrderID and TransferID
	TransferID uuid.UUID
	SellerID   uuid.UUID // the transfer's sender
	BuyerID    uuid.UUID // the transfer's receiver
	Lines      []DocLine
	Reserved   []Held // what the document holds in the seller's warehouses
}

// DocLine is one line of the document.
type DocLine struct {
	LineNo  int
	SKUID   uuid.UUID
	Qty     int64
	Shipped int64
}

// Held is stock a document holds in one warehouse.
type Held struct {
	WarehouseID uuid.UUID
	SKUID       uuid.UUID
	Qty         int64
}

// Message is the payload of a shipment's outbox events (alerts read shipmentId, number and buyerId).
type Message struct {
	ShipmentID uuid.UUID  `json:"shipmentId"`
	Number     string     `json:"number"`
	OrderID    uuid.UUID  `json:"orderId"`
	TransferID *uuid.UUID `json:"transferId,omitempty"`
	BuyerID    uuid.UUID  `json:"buyerId"`
	SellerID   uuid.UUID  `json:"sellerId"`
	Status     Status     `json:"status"`
	Detail     string     `json:"detail,omitempty"`
}

// TransferTopic is the outbox topic of a stock transfer's events.
func TransferTopic(id uuid.UUID) string { return "transfer:" + id.String() }

// Topic: a shipment's events go to its order's topic (a transfer's shipment:
// the transfer's), so the document's subscribers see its shipments move.
func Topic(sh *Shipment) string {
	if sh.TransferID != uuid.Nil {
		return TransferTopic(sh.TransferID)
	}
	return order.Topic(sh.OrderID)
}

// Event writes a timeline row and its outbox event inside tx.
func (s *Service) Event(ctx context.Context, tx bun.IDB, sh *Shipment, typ, source, detail string, actor *uuid.UUID) error {
	return s.event(ctx, tx, sh, strings.ToUpper(strings.TrimPrefix(typ, "shipment.")), typ, source, detail, actor)
}

// event writes a timeline row of type step and an outbox event of type typ inside tx.
func (s *Service) event(ctx context.Context, tx bun.IDB, sh *Shipment, step, typ, source, detail string, actor *uuid.UUID) error {
	now := s.Now()
	ev := &Event{ID: uuid.Must(uuid.NewV7()), ShipmentID: sh.ID, Type: step,
		Status: sh.Status, Source: source, Detail: detail, ActorUserID: actor, CreatedAt: now}
	if _, err := tx.NewInsert().Model(ev).Exec(ctx); err != nil {
		return fmt.Errorf("shipment: event: %w", err)
	}
	msg := Message{ShipmentID: sh.ID, Number: sh.Number, OrderID: sh.OrderID,
		BuyerID: sh.BuyerID, SellerID: sh.SellerID, Status: sh.Status, Detail: detail}
	if sh.TransferID != uuid.Nil {
		msg.TransferID = &sh.TransferID
	}
	oev, err := outbox.New(Topic(sh), "Shipment", sh.ID.String(), typ, msg, now)
	if err != nil {
		return err
	}
	return outbox.Add(ctx, tx, oev)
}

func checkText(v string, max int, path string) (string, error) {
	v = strings.TrimSpace(v)
	if utf8.RuneCountInString(v) > max {
		return "", field.Err(ErrInvalidInput, path)
	}
	return v, nil
}

// Create makes a shipment of an approved or partly shipped order from one
// warehouse of the seller (the one holding the order's stock when none is named).
// Nothing moves until dispatch; the units it names are set aside for it.
func (s *Service) Create(ctx context.Context, p auth.Principal, in CreateInput) (*Shipment, error) {
	if err := p.Require(Shippers...); err != nil {
		return nil, err
	}
	in.TransferID = uuid.Nil
	o, err := s.orders.Get(ctx, p, in.OrderID)
	if errors.Is(err, order.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	allowed, _, err := s.orders.ActsForSeller(ctx, p, o, Shippers...)
	if err != nil {
		return nil, err
	}
	if !allowed {
		return nil, ErrNotAllowed
	}
	if !o.Status.Allows(order.ActShip) {
		return nil, ErrOrderNotShippable
	}
	return s.create(ctx, p, in, func(ctx context.Context, tx bun.Tx) (*Doc, error) {
		// Take the order's row: shipments of one order are made one at a time,
		// so two cannot both claim the same quantity left to ship.
		if _, err := tx.NewUpdate().Model((*order.Order)(nil)).Set("updated_at = updated_at").Where("id = ?", o.ID).Exec(ctx); err != nil {
			return nil, fmt.Errorf("shipment: take order: %w", err)
		}
		o, err := s.orders.GetTx(ctx, tx, o.ID)
		if err != nil {
			return nil, err
		}
		if !o.Status.Allows(order.ActShip) {
			return nil, ErrOrderNotShippable
		}
		return s.orderDoc(ctx, tx, o)
	})
}

// CreateFor makes a shipment of a stock transfer (in.TransferID): load runs
// first inside the shipment's transaction, takes the transfer's row, checks
// that it may ship and describes it. The caller checked p acts for the sender.
func (s *Service) CreateFor(ctx context.Context, p auth.Principal, in CreateInput, load func(ctx context.Context, tx bun.Tx) (*Doc, error)) (*Shipment, error) {
	in.OrderID = uuid.Nil
	return s.create(ctx, p, in, load)
}

// orderDoc describes an order for its shipment.
func (s *Service) orderDoc(ctx context.Context, tx bun.IDB, o *order.Order) (*Doc, error) {
	var ols []order.Line
	if err := tx.NewSelect().Model(&ols).Where("ol.order_id = ?", o.ID).OrderExpr("ol.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("shipment: order lines: %w", err)
	}
	var res []order.Reservation
	if err := tx.NewSelect().Model(&res).Where("r.order_id = ?", o.ID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("shipment: reservations: %w", err)
	}
	d := &Doc{OrderID: o.ID, SellerID: o.SellerID, BuyerID: o.BuyerID}
	for _, l := range ols {
		d.Lines = append(d.Lines, DocLine{LineNo: l.LineNo, SKUID: l.SKUID, Qty: l.Qty, Shipped: l.ShippedQty})
	}
	for _, r := range res {
		d.Reserved = append(d.Reserved, Held{WarehouseID: r.WarehouseID, SKUID: r.SKUID, Qty: r.Qty})
	}
	return d, nil
}

// create checks the input, then in one transaction claims the idempotency
// key, loads the document, plans the lines and units and records the shipment.
func (s *Service) create(ctx context.Context, p auth.Principal, in CreateInput, load func(ctx context.Context, tx bun.Tx) (*Doc, error)) (*Shipment, error) {
	var errs []error
	carrier, err := checkText(in.Carrier, MaxCarrier, "carrier")
	errs = append(errs, err)
	tracking, err := checkText(in.TrackingNumber, MaxTracking, "trackingNumber")
	errs = append(errs, err)
	note, err := checkText(in.Note, MaxNote, "note")
	errs = append(errs, err)
	if len(in.Lines) == 0 || len(in.Lines) > MaxLines {
		errs = append(errs, field.Err(ErrInvalidInput, "lines"))
	}
	scans := make([]*serial.Scan, len(in.Lines))
	total := 0
	for i, l := range in.Lines {
		if l.Qty < 1 || l.Qty > serial.MaxPerDocument {
			errs = append(errs, field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "qty"))
		}
		if slices.IndexFunc(in.Lines[:i], func(x LineInput) bool { return x.OrderLineNo == l.OrderLineNo }) >= 0 {
			errs = append(errs, field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "orderLineNo"))
		}
		sc, err := serial.Expand(l.Serials, l.Ranges, serial.MaxPerDocument-total, "lines."+fmt.Sprint(i)+".serials", "lines."+fmt.Sprint(i)+".ranges")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(sc.Duplicates) > 0 {
			errs = append(errs, field.Err(ErrSerialCount, "lines", fmt.Sprint(i), "serials"))
		}
		total += len(sc.Numbers)
		scans[i] = sc
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var request any = in
	if in.TransferID != uuid.Nil {
		request = map[string]any{"transfer": in.TransferID, "shipment": in}
	}
	hash, err := idempotency.Hash(request)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	sh := &Shipment{ID: uuid.Must(uuid.NewV7()), Status: StatusCreated,
		Carrier: carrier, TrackingNumber: tracking, Note: note, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "shipmentCreate", in.IdempotencyKey, hash, now)
		switch {
		case errors.Is(err, idempotency.ErrInvalidKey):
			return field.Err(ErrInvalidInput, "idempotencyKey")
		case errors.Is(err, idempotency.ErrKeyReused):
			return field.Err(ErrKeyReused, "idempotencyKey")
		case err != nil:
			return err
		case replay:
			return json.Unmarshal(stored, &sh.ID)
		}
		d, err := load(ctx, tx)
		if err != nil {
			return err
		}
		sh.OrderID, sh.TransferID, sh.SellerID, sh.BuyerID = d.OrderID, d.TransferID, d.SellerID, d.BuyerID
		lines, units, err := s.plan(ctx, tx, d, sh, in, scans)
		if err != nil {
			return err
		}
		if sh.Number, err = s.orders.Number(ctx, tx, "SH", now); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(sh).Exec(ctx); err != nil {
			return fmt.Errorf("shipment: insert: %w", err)
		}
		if _, err := tx.NewInsert().Model(&lines).Exec(ctx); err != nil {
			return fmt.Errorf("shipment: insert lines: %w", err)
		}
		for start := 0; start < len(units); start += 5000 {
			part := units[start:min(start+5000, len(units))]
			if _, err := tx.NewInsert().Model(&part).Exec(ctx); err != nil {
				return fmt.Errorf("shipment: insert serials: %w", err)
			}
		}
		if err := s.Event(ctx, tx, sh, EventCreated, "USER", "", &p.UserID); err != nil {
			return err
		}
		return idempotency.Complete(ctx, tx, p.UserID, "shipmentCreate", in.IdempotencyKey, sh.ID)
	})
	if err != nil {
		return nil, err
	}
	return s.get(ctx, s.db, sh.ID)
}

// plan checks the lines against the document and the warehouse and sets the units aside.
func (s *Service) plan(ctx context.Context, tx bun.IDB, d *Doc, sh *Shipment, in CreateInput, scans []*serial.Scan) ([]Line, []Unit, error) {
	var open []struct {
		OrderLineNo int   `bun:"order_line_no"`
		Qty         int64 `bun:"qty"`
	}
	q := tx.NewSelect().Model((*Line)(nil)).ColumnExpr("shl.order_line_no, SUM(shl.qty) AS qty").
		Join("JOIN shipments AS sh ON sh.id = shl.shipment_id").Where("sh.status = ? AND sh.claim_id IS NULL", StatusCreated)
	if d.TransferID != uuid.Nil {
		q = q.Where("sh.transfer_id = ?", d.TransferID)
	} else {
		q = q.Where("sh.order_id = ?", d.OrderID)
	}
	if err := q.GroupExpr("shl.order_line_no").Scan(ctx, &open); err != nil {
		return nil, nil, fmt.Errorf("shipment: open shipments: %w", err)
	}
	pending := map[int]int64{}
	for _, x := range open {
		pending[x.OrderLineNo] = x.Qty
	}
	lines := make([]Line, len(in.Lines))
	for i, l := range in.Lines {
		j := slices.IndexFunc(d.Lines, func(dl DocLine) bool { return dl.LineNo == l.OrderLineNo })
		if j < 0 {
			return nil, nil, field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "orderLineNo")
		}
		if l.Qty > d.Lines[j].Qty-d.Lines[j].Shipped-pending[l.OrderLineNo] {
			return nil, nil, field.Err(ErrTooMuch, "lines", fmt.Sprint(i), "qty")
		}
		lines[i] = Line{ShipmentID: sh.ID, LineNo: i + 1, OrderLineNo: l.OrderLineNo, SKUID: d.Lines[j].SKUID, Qty: l.Qty}
	}
	w, err := s.warehouse(ctx, tx, d, in.WarehouseID, lines[0].SKUID)
	if err != nil {
		return nil, nil, err
	}
	sh.WarehouseID = w
	held := map[uuid.UUID]int64{}
	for _, r := range d.Reserved {
		if r.WarehouseID == w {
			held[r.SKUID] += r.Qty
		}
	}
	skuIDs := make([]uuid.UUID, len(lines))
	for i, l := range lines {
		skuIDs[i] = l.SKUID
	}
	var skus []catalog.SKU
	if err := tx.NewSelect().Model(&skus).Where("s.id IN (?)", bun.List(skuIDs)).Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("shipment: skus: %w", err)
	}
	serialised := map[uuid.UUID]bool{}
	for _, k := range skus {
		serialised[k.ID] = k.Serialised
	}
	var units []Unit
	chosen, taken := map[uuid.UUID]bool{}, map[uuid.UUID]int{} // units of this shipment, and their count per SKU
	for i, l := range lines {
		if held[l.SKUID] < l.Qty {
			return nil, nil, field.Err(ErrInsufficientStock, "lines", fmt.Sprint(i), "qty")
		}
		held[l.SKUID] -= l.Qty
		sc := scans[i]
		if !serialised[l.SKUID] {
			if len(sc.Numbers) > 0 {
				return nil, nil, field.Err(ErrSerialCount, "lines", fmt.Sprint(i), "serials")
			}
			continue
		}
		var ids []uuid.UUID
		if len(sc.Numbers) == 0 {
			// Two lines of one SKU (an order's paid and gift lines): a later
			// line picks past the units the earlier ones took.
			ids, err = s.pick(ctx, tx, w, l.SKUID, int(l.Qty)+taken[l.SKUID])
			if err != nil {
				return nil, nil, err
			}
			ids = slices.DeleteFunc(ids, func(id uuid.UUID) bool { return chosen[id] })
			if len(ids) < int(l.Qty) {
				return nil, nil, field.Err(ErrInsufficientSerial, "lines", fmt.Sprint(i), "qty")
			}
			ids = ids[:l.Qty]
		} else {
			if int64(len(sc.Numbers)) != l.Qty {
				return nil, nil, field.Err(ErrSerialCount, "lines", fmt.Sprint(i), "serials")
			}
			if ids, err = s.scanned(ctx, tx, w, l.SKUID, sc.Numbers, i); err != nil {
				return nil, nil, err
			}
			if slices.ContainsFunc(ids, func(id uuid.UUID) bool { return chosen[id] }) {
				return nil, nil, field.Err(ErrSerialCount, "lines", fmt.Sprint(i), "serials") // on another line too
			}
		}
		for _, id := range ids {
			chosen[id] = true
			units = append(units, Unit{ShipmentID: sh.ID, SerialID: id, LineNo: l.LineNo})
		}
		taken[l.SKUID] += len(ids)
	}
	return lines, units, nil
}

// warehouse checks the named warehouse, or picks the one holding most of the
// first line's reservation, or the seller's first.
func (s *Service) warehouse(ctx context.Context, tx bun.IDB, d *Doc, named *uuid.UUID, sku uuid.UUID) (uuid.UUID, error) {
	if named != nil {
		n, err := tx.NewSelect().Model((*inventory.Warehouse)(nil)).Where("w.id = ? AND w.party_id = ? AND w.active", *named, d.SellerID).Count(ctx)
		if err != nil {
			return uuid.Nil, fmt.Errorf("shipment: warehouse: %w", err)
		}
		if n == 0 {
			return uuid.Nil, field.Err(ErrWarehouse, "warehouseId")
		}
		return *named, nil
	}
	var best *Held
	for i, r := range d.Reserved {
		if r.SKUID == sku && (best == nil || r.Qty > best.Qty || r.Qty == best.Qty && bytes.Compare(r.WarehouseID[:], best.WarehouseID[:]) < 0) {
			best = &d.Reserved[i]
		}
	}
	if best != nil {
		return best.WarehouseID, nil
	}
	var id uuid.UUID
	err := tx.NewSelect().Model((*inventory.Warehouse)(nil)).Column("w.id").Where("w.party_id = ? AND w.active", d.SellerID).
		OrderExpr("w.priority DESC, w.code").Limit(1).Scan(ctx, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return uuid.Nil, field.Err(ErrWarehouse, "warehouseId")
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("shipment: default warehouse: %w", err)
	}
	return id, nil
}

// allocated is the units set aside for shipments not yet dispatched.
const allocated = "SELECT ssa.serial_id FROM shipment_serials AS ssa JOIN shipments AS sha ON sha.id = ssa.shipment_id WHERE sha.status = 'CREATED'"

// pick returns up to n units of sku in stock in warehouse w and not set aside, oldest first.
//
// On PostgreSQL two shipments made at once would both see the same units
// free (neither sees the other's uncommitted set-aside). So the picked units'
// rows are locked (in id order, so two pickers never wait on each other
// crosswise) and the pick is read again: a later statement sees what a
// shipment that held those locks committed, and picks around it. SQLite runs
// one writer at a time and needs none of this. Dispatch checks every unit
// again in any case (serial.Apply moves only units still in stock there).
func (s *Service) pick(ctx context.Context, tx bun.IDB, w, sku uuid.UUID, n int) ([]uuid.UUID, error) {
	read := func() ([]uuid.UUID, error) {
		var ids []uuid.UUID
		if err := tx.NewSelect().Model((*serial.Serial)(nil)).Column("sr.id").
			Where("sr.warehouse_id = ? AND sr.sku_id = ? AND sr.status = ?", w, sku, serial.StatusInStock).
			Where("sr.id NOT IN ("+allocated+")").OrderExpr("sr.received_at, sr.number").Limit(int64(n)).Scan(ctx, &ids); err != nil {
			return nil, fmt.Errorf("shipment: pick serials: %w", err)
		}
		return ids, nil
	}
	ids, err := read()
	if err != nil || !s.db.IsPostgres() || len(ids) == 0 {
		return ids, err
	}
	locked := map[uuid.UUID]bool{}
	for range 8 {
		var fresh []uuid.UUID
		for _, id := range ids {
			if !locked[id] {
				fresh = append(fresh, id)
			}
		}
		if len(fresh) == 0 {
			return ids, nil
		}
		if err := lockSerials(ctx, tx, fresh); err != nil {
			return nil, err
		}
		for _, id := range fresh {
			locked[id] = true
		}
		if ids, err = read(); err != nil {
			return nil, err
		}
	}
	return nil, ErrSerialUnavailable // the units keep being taken from under us
}

// lockSerials takes the rows of units ids (PostgreSQL), in id order.
func lockSerials(ctx context.Context, tx bun.IDB, ids []uuid.UUID) error {
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	for _, c := range chunked(sorted) {
		var got []uuid.UUID
		if err := tx.NewSelect().Model((*serial.Serial)(nil)).Column("sr.id").Where("sr.id IN (?)", bun.List(c)).
			OrderExpr("sr.id").For("UPDATE").Scan(ctx, &got); err != nil {
			return fmt.Errorf("shipment: lock serials: %w", err)
		}
	}
	return nil
}

func chunked(ids []uuid.UUID) [][]uuid.UUID {
	var out [][]uuid.UUID
	for start := 0; start < len(ids); start += 5000 {
		out = append(out, ids[start:min(start+5000, len(ids))])
	}
	return out
}

// scanned checks that every scanned unit is sku, in stock in w and not set
// aside (on PostgreSQL with the units' rows locked first, as pick does).
func (s *Service) scanned(ctx context.Context, tx bun.IDB, w, sku uuid.UUID, numbers []string, line int) ([]uuid.UUID, error) {
	found, err := serial.ByNumbers(ctx, tx, numbers)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(numbers))
	for i, n := range numbers {
		sr := found[n]
		if sr == nil || sr.SKUID != sku || sr.Status != serial.StatusInStock || sr.WarehouseID == nil || *sr.WarehouseID != w {
			return nil, field.Err(ErrSerialUnavailable, "lines", fmt.Sprint(line), "serials", n)
		}
		ids[i] = sr.ID
	}
	if s.db.IsPostgres() {
		if err := lockSerials(ctx, tx, ids); err != nil {
			return nil, err
		}
	}
	var taken []string
	for _, part := range chunked(ids) {
		var t []string
		if err := tx.NewSelect().Model((*serial.Serial)(nil)).Column("sr.number").
			Where("sr.id IN (?)", bun.List(part)).
			WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
				return q.Where("sr.id IN ("+allocated+")").WhereOr("sr.status <> ?", serial.StatusInStock).WhereOr("sr.warehouse_id <> ?", w)
			}).Limit(1).Scan(ctx, &t); err != nil {
			return nil, fmt.Errorf("shipment: allocated serials: %w", err)
		}
		taken = append(taken, t...)
	}
	if len(taken) > 0 {
		return nil, field.Err(ErrSerialUnavailable, "lines", fmt.Sprint(line), "serials", taken[0])
	}
	return ids, nil
}

// sellerSide reports whether p acts for sh's seller (for an order, with o
// and whether its seller is HQ; for a transfer, its sender's own people).
func sellerSide(p auth.Principal, sh *Shipment, o *order.Order, sellerIsHQ bool) bool {
	if sh.TransferID != uuid.Nil {
		return p.PartyID == sh.SellerID && p.Has(TransferShippers...)
	}
	return o != nil && order.SellerSide(p, o, sellerIsHQ, Shippers...)
}

// BuyerSide reports whether p confirms what arrives on sh: the buyer's (receiver's) own people.
func BuyerSide(p auth.Principal, sh *Shipment) bool {
	return p.PartyID == sh.BuyerID && p.Has(Receivers...)
}

// Can answers whether p may take action a ("DISPATCH", "CANCEL", "DELIVER",
// "RECEIVE") on sh now; o is its order (nil for a transfer's shipment).
func (s *Service) Can(p auth.Principal, sh *Shipment, o *order.Order, sellerIsHQ bool, a string) bool {
	switch a {
	case "DISPATCH":
		return sh.Status == StatusCreated && sellerSide(p, sh, o, sellerIsHQ)
	case "CANCEL": // a reshipment is how its claim was settled: it must go
		return sh.Status == StatusCreated && sh.ClaimID == nil && sellerSide(p, sh, o, sellerIsHQ)
	case "DELIVER":
		return sh.Status == StatusDispatched && sellerSide(p, sh, o, sellerIsHQ)
	case "RECEIVE":
		return sh.Status.Receivable() && BuyerSide(p, sh)
	}
	return false
}

// actors are the roles that may act on some shipment's seller side.
var actors = append(slices.Clone(Shippers), auth.RoleStoreManager, auth.RoleStoreStaff)

// act runs a seller's step on a shipment: load in scope, check, take the row
// with a status-conditional update, run effect, write the event.
func (s *Service) act(ctx context.Context, p auth.Principal, id uuid.UUID, a string, to Status, typ, detail string,
	effect func(ctx context.Context, tx bun.Tx, sh *Shipment) error) (*Shipment, error) {
	if err := p.Require(actors...); err != nil {
		return nil, err
	}
	sh, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	var o *order.Order
	allowed, hq := false, false
	if sh.TransferID != uuid.Nil {
		allowed = sellerSide(p, sh, nil, false)
	} else {
		if o, err = s.orders.GetTx(ctx, s.db, sh.OrderID); err != nil {
			return nil, err
		}
		if allowed, hq, err = s.orders.ActsForSeller(ctx, p, o, Shippers...); err != nil {
			return nil, err
		}
	}
	if !allowed {
		return nil, ErrNotAllowed
	}
	if !s.Can(p, sh, o, hq, a) {
		return nil, ErrInvalidTransition
	}
	from := sh.Status
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if sh.TransferID != uuid.Nil {
			if s.Transfers == nil {
				return ErrNoTransfers
			}
			if err := s.Transfers.TakeTx(ctx, tx, sh.TransferID); err != nil {
				return err
			}
		}
		if err := s.move(ctx, tx, sh, from, to); err != nil {
			return err
		}
		if effect != nil {
			if err := effect(ctx, tx, sh); err != nil {
				return err
			}
		}
		return s.Event(ctx, tx, sh, typ, "USER", detail, &p.UserID)
	})
	if err != nil {
		return nil, err
	}
	return s.get(ctx, s.db, sh.ID)
}

// move takes sh from status from to status to with a status-conditional
// update inside tx (ErrInvalidTransition when another step got there first).
func (s *Service) move(ctx context.Context, tx bun.IDB, sh *Shipment, from, to Status) error {
	now := s.Now()
	q := tx.NewUpdate().Model((*Shipment)(nil)).Set("status = ?, updated_at = ?", to, now).Where("id = ? AND status = ?", sh.ID, from)
	switch to {
	case StatusDispatched:
		q = q.Set("dispatched_at = ?", now)
	case StatusDelivered:
		q = q.Set("delivered_at = ?", now)
	}
	res, err := q.Exec(ctx)
	if err != nil {
		return fmt.Errorf("shipment: status: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrInvalidTransition
	}
	sh.Status = to
	return nil
}

// Dispatch sends a created shipment: the order books the stock out of the
// shipment's warehouse (reservations → shipped, credit → receivable), the
// units go in transit, and the buyer is told. Carrier and tracking number
// may be given or changed here; a carrier is required.
func (s *Service) Dispatch(ctx context.Context, p auth.Principal, id uuid.UUID, carrier, tracking *string) (*Shipment, error) {
	var errs []error
	var c, t string
	var err error
	if carrier != nil {
		c, err = checkText(*carrier, MaxCarrier, "carrier")
		errs = append(errs, err)
	}
	if tracking != nil {
		t, err = checkText(*tracking, MaxTracking, "trackingNumber")
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, "DISPATCH", StatusDispatched, EventDispatched, "", func(ctx context.Context, tx bun.Tx, sh *Shipment) error {
		if carrier != nil {
			sh.Carrier = c
		}
		if tracking != nil {
			sh.TrackingNumber = t
		}
		if sh.Carrier == "" {
			return field.Err(ErrCarrierRequired, "carrier")
		}
		if _, err := tx.NewUpdate().Model(sh).Column("carrier", "tracking_number").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("shipment: carrier: %w", err)
		}
		var lines []Line
		if err := tx.NewSelect().Model(&lines).Where("shl.shipment_id = ?", sh.ID).OrderExpr("shl.line_no").Scan(ctx); err != nil {
			return fmt.Errorf("shipment: lines: %w", err)
		}
		if err := s.shipStock(ctx, tx, p, sh, lines); err != nil {
			return err
		}
		var units []uuid.UUID
		if err := tx.NewSelect().Model((*Unit)(nil)).Column("ss.serial_id").Where("ss.shipment_id = ?", sh.ID).OrderExpr("ss.serial_id").Scan(ctx, &units); err != nil {
			return fmt.Errorf("shipment: units: %w", err)
		}
		err := serial.Apply(ctx, tx, units, serial.Move{From: []serial.Status{serial.StatusInStock}, FromWarehouse: &sh.WarehouseID,
			To: serial.StatusInTransit, Holder: sh.BuyerID, Shipment: &sh.ID, Event: serial.EvDispatched},
			serial.Doc{Type: "SHIPMENT", ID: sh.ID, Number: sh.Number, Actor: p.UserID, At: s.Now()})
		if errors.Is(err, serial.ErrUnavailable) {
			return ErrSerialUnavailable
		}
		return err
	})
}

// shipStock books the lines out of the shipment's warehouse: through the
// order (reservations, receivables, its status) for a normal shipment, through
// the transfer (its reservations and status) for a transfer's, straight from
// free stock for a reshipment, whose goods the order already billed (or the
// transfer already moved).
func (s *Service) shipStock(ctx context.Context, tx bun.IDB, p auth.Principal, sh *Shipment, lines []Line) error {
	if sh.ClaimID == nil && sh.TransferID != uuid.Nil {
		if s.Transfers == nil {
			return ErrNoTransfers
		}
		return s.Transfers.ShipTx(ctx, tx, p, sh, lines)
	}
	if sh.ClaimID == nil {
		ship := make([]order.ShipLine, len(lines))
		for i, l := range lines {
			ship[i] = order.ShipLine{LineNo: l.OrderLineNo, Qty: l.Qty}
		}
		_, err := s.orders.ShipFromTx(ctx, tx, p, sh.OrderID, &sh.WarehouseID, ship)
		return shipErr(err)
	}
	byLine := slices.Clone(lines)
	slices.SortFunc(byLine, func(a, b Line) int { return bytes.Compare(a.SKUID[:], b.SKUID[:]) })
	for _, l := range byLine {
		_, err := s.stock.MoveTx(ctx, tx, p.UserID, sh.WarehouseID, l.SKUID, -l.Qty, inventory.MoveShipment, "SHIPMENT", sh.Number)
		if errors.Is(err, inventory.ErrBelowReserved) {
			return field.Err(ErrInsufficientStock, "lines", fmt.Sprint(l.LineNo-1), "qty")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// shipErr turns the order's refusals of a dispatch into the shipment's.
func shipErr(err error) error {
	if err == nil {
		return nil
	}
	var fe interface{ FieldPath() []string }
	path := []string{"lines"}
	if errors.As(err, &fe) {
		path = fe.FieldPath()
	}
	switch {
	case errors.Is(err, order.ErrInsufficientStock):
		return field.Err(ErrInsufficientStock, path...)
	case errors.Is(err, order.ErrInvalidQuantity):
		return field.Err(ErrTooMuch, path...)
	case errors.Is(err, order.ErrInvalidTransition):
		return ErrOrderNotShippable
	case errors.Is(err, order.ErrNotAllowed):
		return ErrNotAllowed
	}
	return err
}

// Cancel cancels a shipment before dispatch; its units are free again.
func (s *Service) Cancel(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Shipment, error) {
	reason, err := checkText(reason, MaxNote, "reason")
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, "CANCEL", StatusCancelled, EventCancelled, reason, nil)
}

// Deliver records that a dispatched shipment arrived (the seller's own van; a
// carrier reports it through the tracking endpoint).
func (s *Service) Deliver(ctx context.Context, p auth.Principal, id uuid.UUID) (*Shipment, error) {
	return s.act(ctx, p, id, "DELIVER", StatusDelivered, EventDelivered, "", nil)
}

// scope limits q (shipments as "sh") to those whose buyer or seller p may see.
func scope(q *bun.SelectQuery, db bun.IDB, p auth.Principal) *bun.SelectQuery {
	if p.IsHQ() {
		return q
	}
	in := func() *bun.SelectQuery {
		return party.Scope(db.NewSelect().TableExpr("parties AS p").Column("p.id"), p, "p.id")
	}
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("sh.buyer_party_id IN (?)", in()).WhereOr("sh.seller_party_id IN (?)", in())
	})
}

func (s *Service) get(ctx context.Context, db bun.IDB, id uuid.UUID) (*Shipment, error) {
	sh := new(Shipment)
	err := db.NewSelect().Model(sh).ColumnExpr("sh.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = sh.warehouse_id").
		Where("sh.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("shipment: get: %w", err)
	}
	return sh, nil
}

// Get returns a shipment whose buyer or seller the caller may see.
func (s *Service) Get(ctx context.Context, p auth.Principal, id uuid.UUID) (*Shipment, error) {
	sh := new(Shipment)
	q := s.db.NewSelect().Model(sh).ColumnExpr("sh.*, w.code AS warehouse_code").Join("JOIN warehouses AS w ON w.id = sh.warehouse_id").
		Where("sh.id = ?", id)
	err := scope(q, s.db, p).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("shipment: get: %w", err)
	}
	return sh, nil
}

// GetTx loads a shipment inside tx, whatever the caller's scope (the caller checked it).
func (s *Service) GetTx(ctx context.Context, tx bun.IDB, id uuid.UUID) (*Shipment, error) {
	return s.get(ctx, tx, id)
}

// ReshipLine is a quantity of one line of the original shipment to send again.
type ReshipLine struct {
	LineNo int
	Qty    int64
}

// CreateReshipTx makes, inside the claim's transaction, a shipment that sends
// goods again from the original's warehouse (units picked oldest first). Its
// dispatch takes free stock: the order already shipped and billed these goods.
func (s *Service) CreateReshipTx(ctx context.Context, tx bun.IDB, p auth.Principal, orig *Shipment, claimID uuid.UUID, want []ReshipLine) (*Shipment, error) {
	var ols []Line
	if err := tx.NewSelect().Model(&ols).Where("shl.shipment_id = ?", orig.ID).OrderExpr("shl.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("shipment: lines: %w", err)
	}
	now := s.Now()
	sh := &Shipment{ID: uuid.Must(uuid.NewV7()), OrderID: orig.OrderID, TransferID: orig.TransferID, SellerID: orig.SellerID, BuyerID: orig.BuyerID, WarehouseID: orig.WarehouseID,
		Status: StatusCreated, Carrier: orig.Carrier, ClaimID: &claimID, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	var lines []Line
	var units []Unit
	chosen, taken := map[uuid.UUID]bool{}, map[uuid.UUID]int{}
	for _, w := range want {
		j := slices.IndexFunc(ols, func(l Line) bool { return l.LineNo == w.LineNo })
		if j < 0 || w.Qty < 1 {
			continue
		}
		l := Line{ShipmentID: sh.ID, LineNo: len(lines) + 1, OrderLineNo: ols[j].OrderLineNo, SKUID: ols[j].SKUID, Qty: w.Qty}
		lines = append(lines, l)
		var serialised bool
		if err := tx.NewSelect().Model((*catalog.SKU)(nil)).Column("s.serialised").Where("s.id = ?", l.SKUID).Scan(ctx, &serialised); err != nil {
			return nil, fmt.Errorf("shipment: sku: %w", err)
		}
		if !serialised {
			continue
		}
		ids, err := s.pick(ctx, tx, sh.WarehouseID, l.SKUID, int(l.Qty)+taken[l.SKUID])
		if err != nil {
			return nil, err
		}
		ids = slices.DeleteFunc(ids, func(id uuid.UUID) bool { return chosen[id] }) // an earlier line's
		if len(ids) < int(l.Qty) {
			return nil, ErrInsufficientSerial
		}
		for _, id := range ids[:l.Qty] {
			chosen[id] = true
			units = append(units, Unit{ShipmentID: sh.ID, SerialID: id, LineNo: l.LineNo})
		}
		taken[l.SKUID] += int(l.Qty)
	}
	if len(lines) == 0 {
		return nil, ErrInvalidInput
	}
	var err error
	if sh.Number, err = s.orders.Number(ctx, tx, "SH", now); err != nil {
		return nil, err
	}
	if _, err := tx.NewInsert().Model(sh).Exec(ctx); err != nil {
		return nil, fmt.Errorf("shipment: insert: %w", err)
	}
	if _, err := tx.NewInsert().Model(&lines).Exec(ctx); err != nil {
		return nil, fmt.Errorf("shipment: insert lines: %w", err)
	}
	if len(units) > 0 {
		if _, err := tx.NewInsert().Model(&units).Exec(ctx); err != nil {
			return nil, fmt.Errorf("shipment: insert serials: %w", err)
		}
	}
	return sh, s.Event(ctx, tx, sh, EventCreated, "USER", "reship", &p.UserID)
}

// CancelOpenTx cancels, inside tx, a transfer's shipments not dispatched yet
// (the transfer itself is being cancelled); their units are free again.
func (s *Service) CancelOpenTx(ctx context.Context, tx bun.IDB, p auth.Principal, transferID uuid.UUID, reason string) error {
	var open []*Shipment
	if err := tx.NewSelect().Model(&open).Where("sh.transfer_id = ? AND sh.status = ?", transferID, StatusCreated).
		OrderExpr("sh.id").Scan(ctx); err != nil {
		return fmt.Errorf("shipment: open shipments: %w", err)
	}
	for _, sh := range open {
		if err := s.move(ctx, tx, sh, StatusCreated, StatusCancelled); err != nil {
			return err
		}
		if err := s.Event(ctx, tx, sh, EventCancelled, "USER", reason, &p.UserID); err != nil {
			return err
		}
	}
	return nil
}
