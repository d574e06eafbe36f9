package transfer

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

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/inventory"
	"channelhub/internal/order"
	"channelhub/internal/outbox"
	"channelhub/internal/party"
	"channelhub/internal/shipment"
)

// Service runs stock transfers.
type Service struct {
	db        *database.DB
	parties   *party.Service
	orders    *order.Service // document numbers
	stock     *inventory.Service
	shipments *shipment.Service
	Now       func() time.Time
}

// NewService returns a transfer Service and makes it the shipments' TransferBook.
func NewService(db *database.DB, parties *party.Service, orders *order.Service, stock *inventory.Service, shipments *shipment.Service) *Service {
	s := &Service{db: db, parties: parties, orders: orders, stock: stock, shipments: shipments,
		Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	shipments.Transfers = s
	return s
}

// LineInput is one SKU and quantity to move.
type LineInput struct {
	SKUID uuid.UUID `json:"skuId"`
	Qty   int64     `json:"qty"`
}

// RequestInput asks to move stock from one party to another; the caller's
// own party is one of the two.
type RequestInput struct {
	FromID         uuid.UUID
	ToID           uuid.UUID
	Lines          []LineInput
	Note           string
	IdempotencyKey string
}

// Topic is the outbox topic of a transfer's events (its shipments' too).
func Topic(id uuid.UUID) string { return shipment.TransferTopic(id) }

// Message is the payload of a transfer's outbox events.
type Message struct {
	TransferID uuid.UUID `json:"transferId"`
	Number     string    `json:"number"`
	FromID     uuid.UUID `json:"fromId"`
	ToID       uuid.UUID `json:"toId"`
	SupplierID uuid.UUID `json:"supplierId"`
	From       Status    `json:"from,omitempty"`
	To         Status    `json:"to"`
	Event      string    `json:"event"`
	Reason     string    `json:"reason,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// record writes a timeline step, its outbox event and an audit row inside tx.
func (s *Service) record(ctx context.Context, tx bun.IDB, p auth.Principal, t *Transfer, typ string, from Status, reason, detail string) error {
	now := s.Now()
	ev := &Event{ID: uuid.Must(uuid.NewV7()), TransferID: t.ID, Type: typ, FromStatus: from, ToStatus: t.Status,
		ActorUserID: &p.UserID, Reason: reason, Detail: detail, CreatedAt: now}
	if _, err := tx.NewInsert().Model(ev).Exec(ctx); err != nil {
		return fmt.Errorf("transfer: event: %w", err)
	}
	oev, err := outbox.New(Topic(t.ID), "Transfer", t.ID.String(), "transfer."+strings.ToLower(typ),
		Message{TransferID: t.ID, Number: t.Number, FromID: t.FromID, ToID: t.ToID, SupplierID: t.SupplierID,
			From: from, To: t.Status, Event: typ, Reason: reason, Detail: detail}, now)
	if err != nil {
		return err
	}
	if err := outbox.Add(ctx, tx, oev); err != nil {
		return err
	}
	var before any
	if from != "" {
		before = map[string]any{"status": from}
	}
	after := map[string]any{"status": t.Status}
	if detail != "" {
		after["document"] = detail
	}
	return audit.Record(ctx, tx, p, "transfer."+strings.ToLower(typ), "Transfer", t.ID.String(), before, after, reason)
}

// Request records a transfer asked for by the sender's or the receiver's
// admin. The two must be different, active parties of the same kind (and
// distributor level) with the same supplier, and the receiver must be
// allowed the SKUs. Nothing is reserved until the supplier approves. A retry
// with the same key returns the first transfer.
func (s *Service) Request(ctx context.Context, p auth.Principal, in RequestInput) (*Transfer, error) {
	if err := p.Require(Requesters...); err != nil {
		return nil, err
	}
	note := strings.TrimSpace(in.Note)
	var errs []error
	if utf8.RuneCountInString(note) > MaxNote {
		errs = append(errs, field.Err(ErrInvalidInput, "note"))
	}
	if len(in.Lines) == 0 || len(in.Lines) > MaxLines {
		errs = append(errs, field.Err(ErrInvalidInput, "lines"))
	}
	for i, l := range in.Lines {
		if l.Qty < 1 || l.Qty > MaxQty {
			errs = append(errs, field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "qty"))
		}
		if slices.IndexFunc(in.Lines[:i], func(x LineInput) bool { return x.SKUID == l.SKUID }) >= 0 {
			errs = append(errs, field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "skuId"))
		}
	}
	if in.FromID == in.ToID {
		errs = append(errs, field.Err(ErrSameParty, "toPartyId"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if p.PartyID != in.FromID && p.PartyID != in.ToID {
		return nil, ErrNotAllowed
	}
	hash, err := idempotency.Hash(map[string]any{"from": in.FromID, "to": in.ToID, "lines": in.Lines, "note": note})
	if err != nil {
		return nil, err
	}
	from, to, supplier, err := s.pair(ctx, p, in.FromID, in.ToID)
	if err != nil {
		return nil, err
	}
	if err := s.checkSKUs(ctx, to, in.Lines); err != nil {
		return nil, err
	}
	now := s.Now()
	t := &Transfer{ID: uuid.Must(uuid.NewV7()), Status: StatusRequested, FromID: from.ID, ToID: to.ID, SupplierID: supplier.ID,
		RequestedBy: p.UserID, Note: note, Version: 1, CreatedAt: now, UpdatedAt: now}
	replayed := false
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "transferRequest", in.IdempotencyKey, hash, now)
		switch {
		case errors.Is(err, idempotency.ErrInvalidKey):
			return field.Err(ErrInvalidInput, "idempotencyKey")
		case errors.Is(err, idempotency.ErrKeyReused):
			return field.Err(ErrKeyReused, "idempotencyKey")
		case err != nil:
			return err
		case replay:
			replayed = true
			return json.Unmarshal(stored, &t.ID)
		}
		if t.Number, err = s.orders.Number(ctx, tx, "TR", now); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(t).Exec(ctx); err != nil {
			return fmt.Errorf("transfer: insert: %w", err)
		}
		lines := make([]Line, len(in.Lines))
		for i, l := range in.Lines {
			lines[i] = Line{TransferID: t.ID, LineNo: i + 1, SKUID: l.SKUID, Qty: l.Qty}
		}
		if _, err := tx.NewInsert().Model(&lines).Exec(ctx); err != nil {
			return fmt.Errorf("transfer: insert lines: %w", err)
		}
		if err := s.record(ctx, tx, p, t, EvRequested, "", "", ""); err != nil {
			return err
		}
		return idempotency.Complete(ctx, tx, p.UserID, "transferRequest", in.IdempotencyKey, t.ID)
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.get(ctx, s.db, t.ID)
	}
	return t, nil
}

// pair loads and checks the two parties of a transfer: the caller acts for
// one of them with the admin role of its kind; both are active, of the same
// kind and distributor level, and have the same supplier.
func (s *Service) pair(ctx context.Context, p auth.Principal, fromID, toID uuid.UUID) (from, to, supplier *party.Party, err error) {
	var ps []*party.Party
	if err := s.db.NewSelect().Model(&ps).Where("p.id IN (?)", bun.List([]uuid.UUID{fromID, toID})).Scan(ctx); err != nil {
		return nil, nil, nil, fmt.Errorf("transfer: parties: %w", err)
	}
	for _, x := range ps {
		switch x.ID {
		case fromID:
			from = x
		case toID:
			to = x
		}
	}
	if from == nil {
		return nil, nil, nil, field.Err(ErrPartyNotFound, "fromPartyId")
	}
	if to == nil {
		return nil, nil, nil, field.Err(ErrPartyNotFound, "toPartyId")
	}
	own, other, otherField := from, to, "toPartyId"
	if p.PartyID == to.ID {
		own, other, otherField = to, from, "fromPartyId"
	}
	if !adminOf(p, own) {
		return nil, nil, nil, ErrNotAllowed
	}
	if other.Kind != own.Kind || (own.Kind != party.KindDistributor && own.Kind != party.KindStore) ||
		(own.Kind == party.KindDistributor && own.Level != other.Level) ||
		own.Status != party.StatusActive || other.Status != party.StatusActive {
		return nil, nil, nil, field.Err(ErrNotAllowedParties, otherField)
	}
	sf, err := s.parties.Supplier(ctx, from)
	if errors.Is(err, party.ErrNoSupplier) {
		return nil, nil, nil, field.Err(ErrNotAllowedParties, otherField)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := s.parties.Supplier(ctx, to)
	if errors.Is(err, party.ErrNoSupplier) || (err == nil && st.ID != sf.ID) {
		return nil, nil, nil, field.Err(ErrNotAllowedParties, otherField)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return from, to, sf, nil
}

// adminOf reports whether p is pt's own admin: a distributor's admin, a store's manager.
func adminOf(p auth.Principal, pt *party.Party) bool {
	if p.PartyID != pt.ID {
		return false
	}
	switch pt.Kind {
	case party.KindDistributor:
		return p.Has(auth.RoleDistributorAdmin)
	case party.KindStore:
		return p.Has(auth.RoleStoreManager)
	}
	return false
}

// checkSKUs refuses SKUs that do not exist or that the receiver's catalogue excludes.
func (s *Service) checkSKUs(ctx context.Context, to *party.Party, lines []LineInput) error {
	ids := make([]uuid.UUID, len(lines))
	for i, l := range lines {
		ids[i] = l.SKUID
	}
	var known, visible []uuid.UUID
	if err := s.db.NewSelect().Model((*catalog.SKU)(nil)).Column("s.id").Where("s.id IN (?)", bun.List(ids)).Scan(ctx, &known); err != nil {
		return fmt.Errorf("transfer: skus: %w", err)
	}
	q := s.db.NewSelect().Model((*catalog.SKU)(nil)).Column("s.id").Where("s.id IN (?)", bun.List(ids))
	if err := catalog.Visible(q, to).Scan(ctx, &visible); err != nil {
		return fmt.Errorf("transfer: visible skus: %w", err)
	}
	var errs []error
	for i, id := range ids {
		switch {
		case !slices.Contains(known, id):
			errs = append(errs, field.Err(ErrUnknownSKU, "lines", fmt.Sprint(i), "skuId"))
		case !slices.Contains(visible, id):
			errs = append(errs, field.Err(ErrNotAuthorised, "lines", fmt.Sprint(i), "skuId"))
		}
	}
	return errors.Join(errs...)
}

// supplierSide reports whether p decides for t's supplier: HQ's admin and
// sales ops when it is HQ, the supplying distributor's admin otherwise.
func supplierSide(p auth.Principal, t *Transfer, supplierIsHQ bool) bool {
	if supplierIsHQ {
		return p.Has(auth.RoleHQAdmin, auth.RoleSalesOps)
	}
	return p.PartyID == t.SupplierID && p.Has(auth.RoleDistributorAdmin)
}

// partySide reports whether p is the sender's or the receiver's admin.
func partySide(p auth.Principal, t *Transfer) bool {
	return (p.PartyID == t.FromID || p.PartyID == t.ToID) && p.Has(Requesters...)
}

// SenderSide reports whether p ships for t's sender: its admins and staff.
func SenderSide(p auth.Principal, t *Transfer) bool {
	return p.PartyID == t.FromID && p.Has(shipment.TransferShippers...)
}

// Can answers what p may do to t now: the viewerCan* flags, and each action's guard.
func Can(p auth.Principal, t *Transfer, supplierIsHQ bool, a Action) bool {
	if !t.Status.Allows(a) {
		return false
	}
	switch a {
	case ActApprove, ActReject:
		return supplierSide(p, t, supplierIsHQ)
	case ActCancel, ActCloseRemainder:
		return partySide(p, t) || supplierSide(p, t, supplierIsHQ)
	case ActShip:
		return SenderSide(p, t)
	}
	return false
}

func (s *Service) supplierIsHQ(ctx context.Context, t *Transfer) (bool, error) {
	var kind party.Kind
	if err := s.db.NewSelect().Model((*party.Party)(nil)).Column("p.kind").Where("p.id = ?", t.SupplierID).Scan(ctx, &kind); err != nil {
		return false, fmt.Errorf("transfer: supplier: %w", err)
	}
	return kind == party.KindHQ, nil
}

// act runs one action on a transfer the caller may see: check the guard,
// take the row with a version-conditional update (two racing actions cannot
// both pass), run effect, set the status and record the step.
func (s *Service) act(ctx context.Context, p auth.Principal, id uuid.UUID, a Action, to Status, typ, reason string,
	effect func(ctx context.Context, tx bun.Tx, t *Transfer) error) (*Transfer, error) {
	t, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	hq, err := s.supplierIsHQ(ctx, t)
	if err != nil {
		return nil, err
	}
	if !t.Status.Allows(a) {
		return nil, ErrInvalidTransition
	}
	if !Can(p, t, hq, a) {
		return nil, ErrNotAllowed
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.Now()
		q := tx.NewUpdate().Model((*Transfer)(nil)).Set("version = version + 1, status = ?, updated_at = ?", to, now).
			Where("id = ? AND version = ?", t.ID, t.Version)
		if a == ActApprove || a == ActReject {
			q = q.Set("decided_by = ?, decided_at = ?, decision_reason = ?", p.UserID, now, reason)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return fmt.Errorf("transfer: take: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrInvalidTransition // another action got there first
		}
		from := t.Status
		t.Status = to
		if effect != nil {
			if err := effect(ctx, tx, t); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, p, t, typ, from, reason, "")
	})
	if err != nil {
		return nil, err
	}
	return s.get(ctx, s.db, t.ID)
}

func checkReason(reason string, required bool) (string, error) {
	reason = strings.TrimSpace(reason)
	n := utf8.RuneCountInString(reason)
	if n > MaxReason || (required && n == 0) {
		return "", field.Err(ErrReasonRequired, "reason")
	}
	return reason, nil
}

// Approve approves a requested transfer for the supplier and reserves its
// stock in the sender's active warehouses (highest priority first): all of
// it, or nothing (INSUFFICIENT_STOCK names the line).
func (s *Service) Approve(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Transfer, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActApprove, StatusApproved, EvApproved, reason, s.reserve)
}

// Reject refuses a requested transfer for the supplier.
func (s *Service) Reject(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Transfer, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActReject, StatusRejected, EvRejected, reason, nil)
}

// Cancel cancels a transfer before anything was dispatched, for either party's
// admin or the supplier: the reserved stock is released and shipments not yet
// dispatched are cancelled with it.
func (s *Service) Cancel(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Transfer, error) {
	reason, err := checkReason(reason, false)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActCancel, StatusCancelled, EvCancelled, reason, func(ctx context.Context, tx bun.Tx, t *Transfer) error {
		if err := s.shipments.CancelOpenTx(ctx, tx, p, t.ID, reason); err != nil {
			return err
		}
		return s.release(ctx, tx, t)
	})
}

// CloseRemainder ends a partly shipped transfer whose rest will not ship,
// for the same people as Cancel (a reason is required): shipments not yet
// dispatched are cancelled, the rest's reserved stock is released, and the
// transfer is SHIPPED, or COMPLETED when everything dispatched was received.
func (s *Service) CloseRemainder(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Transfer, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActCloseRemainder, StatusShipped, EvRemainderClosed, reason, func(ctx context.Context, tx bun.Tx, t *Transfer) error {
		if err := s.shipments.CancelOpenTx(ctx, tx, p, t.ID, reason); err != nil {
			return err
		}
		if err := s.release(ctx, tx, t); err != nil {
			return err
		}
		n, err := tx.NewSelect().Model((*shipment.Shipment)(nil)).Where("sh.transfer_id = ? AND sh.status IN (?)", t.ID,
			bun.List([]shipment.Status{shipment.StatusDispatched, shipment.StatusDelivered})).Count(ctx)
		if err != nil {
			return fmt.Errorf("transfer: open shipments: %w", err)
		}
		if n > 0 {
			return nil // the last receipt completes it
		}
		if _, err := tx.NewUpdate().Model((*Transfer)(nil)).Set("status = ?", StatusCompleted).Where("id = ?", t.ID).Exec(ctx); err != nil {
			return fmt.Errorf("transfer: complete: %w", err)
		}
		t.Status = StatusCompleted
		return nil
	})
}

// reserve holds every line's quantity in the sender's warehouses inside tx.
// The levels are read (on PostgreSQL locked, in SKU and warehouse order as
// every writer of them takes them) and each hold is a conditional update, so
// racing approvals never promise the same units twice.
func (s *Service) reserve(ctx context.Context, tx bun.Tx, t *Transfer) error {
	var lines []Line
	if err := tx.NewSelect().Model(&lines).Where("tl.transfer_id = ?", t.ID).OrderExpr("tl.line_no").Scan(ctx); err != nil {
		return fmt.Errorf("transfer: lines: %w", err)
	}
	var whs []uuid.UUID
	if err := tx.NewSelect().Model((*inventory.Warehouse)(nil)).Column("w.id").Where("w.party_id = ? AND w.active", t.FromID).
		OrderExpr("w.priority DESC, w.code").Scan(ctx, &whs); err != nil {
		return fmt.Errorf("transfer: warehouses: %w", err)
	}
	skus := make([]uuid.UUID, len(lines))
	for i, l := range lines {
		skus[i] = l.SKUID
	}
	free := map[[2]uuid.UUID]int64{}
	if len(whs) > 0 {
		var levels []inventory.Level
		q := tx.NewSelect().Model(&levels).Column("sl.warehouse_id", "sl.sku_id", "sl.on_hand", "sl.reserved").
			Where("sl.warehouse_id IN (?) AND sl.sku_id IN (?)", bun.List(whs), bun.List(skus)).OrderExpr("sl.sku_id, sl.warehouse_id")
		if s.db.IsPostgres() {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("transfer: read stock: %w", err)
		}
		for _, lv := range levels {
			free[[2]uuid.UUID{lv.WarehouseID, lv.SKUID}] = lv.Available()
		}
	}
	byLine := slices.Clone(lines)
	slices.SortFunc(byLine, func(a, b Line) int { return bytes.Compare(a.SKUID[:], b.SKUID[:]) })
	var holds []Reservation
	for _, l := range byLine {
		left := l.Qty
		for _, w := range whs {
			take := min(left, free[[2]uuid.UUID{w, l.SKUID}])
			if take <= 0 {
				continue
			}
			ok, err := s.stock.ReserveTx(ctx, tx, w, l.SKUID, take)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			holds = append(holds, Reservation{TransferID: t.ID, WarehouseID: w, SKUID: l.SKUID, Qty: take})
			left -= take
			if left == 0 {
				break
			}
		}
		if left > 0 {
			return field.Err(ErrInsufficientStock, "lines", fmt.Sprint(l.LineNo-1), "qty")
		}
	}
	if _, err := tx.NewInsert().Model(&holds).Exec(ctx); err != nil {
		return fmt.Errorf("transfer: insert reservations: %w", err)
	}
	return nil
}

// release gives back everything t holds, inside tx.
func (s *Service) release(ctx context.Context, tx bun.IDB, t *Transfer) error {
	var holds []Reservation
	if err := tx.NewSelect().Model(&holds).Where("trr.transfer_id = ?", t.ID).OrderExpr("trr.sku_id, trr.warehouse_id").Scan(ctx); err != nil {
		return fmt.Errorf("transfer: reservations: %w", err)
	}
	for _, h := range holds {
		if err := s.stock.ReleaseTx(ctx, tx, h.WarehouseID, h.SKUID, h.Qty); err != nil {
			return err
		}
	}
	if _, err := tx.NewDelete().Model((*Reservation)(nil)).Where("transfer_id = ?", t.ID).Exec(ctx); err != nil {
		return fmt.Errorf("transfer: drop reservations: %w", err)
	}
	return nil
}

// ShipInput is a shipment of an approved transfer: lines per transfer line,
// the sender's warehouse (by default the one holding most of the first
// line's reservation), carrier and tracking number, an idempotency key.
type ShipInput struct {
	WarehouseID    *uuid.UUID
	Lines          []shipment.LineInput // OrderLineNo is the transfer's line number
	Carrier        string
	TrackingNumber string
	Note           string
	IdempotencyKey string
}

// Ship makes a shipment of an approved (or partly shipped) transfer, for the
// sender: its units are scanned or picked oldest first and set aside; the
// stock leaves on shipmentDispatch.
func (s *Service) Ship(ctx context.Context, p auth.Principal, id uuid.UUID, in ShipInput) (*shipment.Shipment, error) {
	if err := p.Require(shipment.TransferShippers...); err != nil {
		return nil, err
	}
	t, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if !SenderSide(p, t) {
		return nil, ErrNotAllowed
	}
	if !t.Status.Allows(ActShip) {
		return nil, ErrInvalidTransition
	}
	ci := shipment.CreateInput{TransferID: t.ID, WarehouseID: in.WarehouseID, Lines: in.Lines, Carrier: in.Carrier,
		TrackingNumber: in.TrackingNumber, Note: in.Note, IdempotencyKey: in.IdempotencyKey}
	return s.shipments.CreateFor(ctx, p, ci, func(ctx context.Context, tx bun.Tx) (*shipment.Doc, error) {
		// Take the transfer's row: its shipments are made one at a time, so
		// two cannot both claim the same quantity left to ship.
		if _, err := tx.NewUpdate().Model((*Transfer)(nil)).Set("updated_at = updated_at").Where("id = ?", t.ID).Exec(ctx); err != nil {
			return nil, fmt.Errorf("transfer: take: %w", err)
		}
		t, err := s.get(ctx, tx, t.ID)
		if err != nil {
			return nil, err
		}
		if !t.Status.Allows(ActShip) {
			return nil, ErrInvalidTransition
		}
		return s.doc(ctx, tx, t)
	})
}

// doc describes t for its shipment.
func (s *Service) doc(ctx context.Context, tx bun.IDB, t *Transfer) (*shipment.Doc, error) {
	var lines []Line
	if err := tx.NewSelect().Model(&lines).Where("tl.transfer_id = ?", t.ID).OrderExpr("tl.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("transfer: lines: %w", err)
	}
	var holds []Reservation
	if err := tx.NewSelect().Model(&holds).Where("trr.transfer_id = ?", t.ID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("transfer: reservations: %w", err)
	}
	d := &shipment.Doc{TransferID: t.ID, SellerID: t.FromID, BuyerID: t.ToID}
	for _, l := range lines {
		d.Lines = append(d.Lines, shipment.DocLine{LineNo: l.LineNo, SKUID: l.SKUID, Qty: l.Qty, Shipped: l.ShippedQty})
	}
	for _, h := range holds {
		d.Reserved = append(d.Reserved, shipment.Held{WarehouseID: h.WarehouseID, SKUID: h.SKUID, Qty: h.Qty})
	}
	return d, nil
}

// ShipTx (shipment.TransferBook) books a dispatched shipment of a transfer
// inside the dispatch's transaction: each line's units leave the shipment's
// warehouse out of what the transfer holds there (a movement naming the
// transfer), the lines count them as shipped, and the transfer moves to
// PARTIALLY_SHIPPED or SHIPPED.
func (s *Service) ShipTx(ctx context.Context, tx bun.IDB, p auth.Principal, sh *shipment.Shipment, lines []shipment.Line) error {
	t, err := s.take(ctx, tx, sh.TransferID)
	if err != nil {
		return err
	}
	if !t.Status.Allows(ActShip) {
		return ErrInvalidTransition
	}
	var tls []Line
	if err := tx.NewSelect().Model(&tls).Where("tl.transfer_id = ?", t.ID).OrderExpr("tl.line_no").Scan(ctx); err != nil {
		return fmt.Errorf("transfer: lines: %w", err)
	}
	bySKU := slices.Clone(lines)
	slices.SortStableFunc(bySKU, func(a, b shipment.Line) int { return bytes.Compare(a.SKUID[:], b.SKUID[:]) })
	for _, sl := range bySKU {
		j := slices.IndexFunc(tls, func(l Line) bool { return l.LineNo == sl.OrderLineNo })
		if j < 0 || tls[j].ShippedQty+sl.Qty > tls[j].Qty {
			return field.Err(shipment.ErrTooMuch, "lines", fmt.Sprint(sl.LineNo-1), "qty")
		}
		tls[j].ShippedQty += sl.Qty
		if _, err := tx.NewUpdate().Model((*Line)(nil)).Set("shipped_qty = shipped_qty + ?", sl.Qty).
			Where("transfer_id = ? AND line_no = ?", t.ID, sl.OrderLineNo).Exec(ctx); err != nil {
			return fmt.Errorf("transfer: ship line: %w", err)
		}
		res, err := tx.NewUpdate().Model((*Reservation)(nil)).Set("qty = qty - ?", sl.Qty).
			Where("transfer_id = ? AND warehouse_id = ? AND sku_id = ? AND qty >= ?", t.ID, sh.WarehouseID, sl.SKUID, sl.Qty).Exec(ctx)
		if err != nil {
			return fmt.Errorf("transfer: shrink reservation: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return field.Err(shipment.ErrInsufficientStock, "lines", fmt.Sprint(sl.LineNo-1), "qty")
		}
		if _, err := s.stock.ShipReservedTx(ctx, tx, p.UserID, sh.WarehouseID, sl.SKUID, sl.Qty, inventory.MoveTransfer, "TRANSFER", t.Number); err != nil {
			if errors.Is(err, inventory.ErrBelowReserved) {
				return field.Err(shipment.ErrInsufficientStock, "lines", fmt.Sprint(sl.LineNo-1), "qty")
			}
			return err
		}
	}
	if _, err := tx.NewDelete().Model((*Reservation)(nil)).Where("transfer_id = ? AND qty = 0", t.ID).Exec(ctx); err != nil {
		return fmt.Errorf("transfer: drop reservations: %w", err)
	}
	to := StatusShipped
	for _, l := range tls {
		if l.ShippedQty < l.Qty {
			to = StatusPartiallyShipped
		}
	}
	return s.moveTx(ctx, tx, p, t, to, EvShipped, sh.Number)
}

// ReceivedTx (shipment.TransferBook) records what a receipt of one of the
// transfer's shipments accepted, inside the receipt's transaction, and
// completes the transfer once it is all shipped and no shipment waits for
// its receipt (differences go to the receipt's claim, as for orders).
func (s *Service) ReceivedTx(ctx context.Context, tx bun.IDB, p auth.Principal, sh *shipment.Shipment, accepted map[int]int64) error {
	t, err := s.take(ctx, tx, sh.TransferID)
	if err != nil {
		return err
	}
	lineNos := make([]int, 0, len(accepted))
	for ln := range accepted {
		lineNos = append(lineNos, ln)
	}
	slices.Sort(lineNos)
	for _, ln := range lineNos {
		if _, err := tx.NewUpdate().Model((*Line)(nil)).Set("received_qty = received_qty + ?", accepted[ln]).
			Where("transfer_id = ? AND line_no = ?", t.ID, ln).Exec(ctx); err != nil {
			return fmt.Errorf("transfer: receive line: %w", err)
		}
	}
	if !t.Status.Allows(ActComplete) {
		return s.moveTx(ctx, tx, p, t, t.Status, EvReceived, receiptNumber(ctx, tx, sh.ID))
	}
	n, err := tx.NewSelect().Model((*shipment.Shipment)(nil)).Where("sh.transfer_id = ? AND sh.status IN (?)", t.ID,
		bun.List([]shipment.Status{shipment.StatusCreated, shipment.StatusDispatched, shipment.StatusDelivered})).Count(ctx)
	if err != nil {
		return fmt.Errorf("transfer: open shipments: %w", err)
	}
	if n > 0 {
		return s.moveTx(ctx, tx, p, t, t.Status, EvReceived, receiptNumber(ctx, tx, sh.ID))
	}
	return s.moveTx(ctx, tx, p, t, StatusCompleted, EvCompleted, receiptNumber(ctx, tx, sh.ID))
}

// receiptNumber is the number of a shipment's receipt, for the timeline ("" if none yet).
func receiptNumber(ctx context.Context, tx bun.IDB, shipmentID uuid.UUID) string {
	var n string
	_ = tx.NewSelect().Table("receipts").Column("number").Where("shipment_id = ?", shipmentID).Scan(ctx, &n)
	return n
}

// TakeTx (shipment.TransferBook) locks a transfer's row inside tx.
func (s *Service) TakeTx(ctx context.Context, tx bun.IDB, id uuid.UUID) error {
	_, err := s.take(ctx, tx, id)
	return err
}

// take locks t's row inside tx (its version moves on) and loads it.
func (s *Service) take(ctx context.Context, tx bun.IDB, id uuid.UUID) (*Transfer, error) {
	if _, err := tx.NewUpdate().Model((*Transfer)(nil)).Set("version = version + 1, updated_at = ?", s.Now()).Where("id = ?", id).Exec(ctx); err != nil {
		return nil, fmt.Errorf("transfer: take: %w", err)
	}
	return s.get(ctx, tx, id)
}

// moveTx sets t's status inside tx (t's row already taken) and records the step.
func (s *Service) moveTx(ctx context.Context, tx bun.IDB, p auth.Principal, t *Transfer, to Status, typ, detail string) error {
	from := t.Status
	if to != from {
		if _, err := tx.NewUpdate().Model((*Transfer)(nil)).Set("status = ?", to).Where("id = ?", t.ID).Exec(ctx); err != nil {
			return fmt.Errorf("transfer: status: %w", err)
		}
		t.Status = to
	}
	return s.record(ctx, tx, p, t, typ, from, "", detail)
}

func (s *Service) get(ctx context.Context, db bun.IDB, id uuid.UUID) (*Transfer, error) {
	t := new(Transfer)
	err := db.NewSelect().Model(t).Where("tr.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("transfer: get: %w", err)
	}
	return t, nil
}
