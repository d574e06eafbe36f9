package order

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/credit"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/inventory"
	"channelhub/internal/outbox"
	"channelhub/internal/pricing"
	"channelhub/internal/serial"
)

// ReturnStatus is a return's state: REQUESTED → APPROVED | REJECTED, APPROVED → RECEIVED.
type ReturnStatus string

const (
	ReturnRequested ReturnStatus = "REQUESTED"
	ReturnApproved  ReturnStatus = "APPROVED"
	ReturnRejected  ReturnStatus = "REJECTED"
	ReturnReceived  ReturnStatus = "RECEIVED"
)

// Return is goods a buyer sends back against an order; once received, its
// amount is a credit note into the buyer's CASH account.
type Return struct {
	bun.BaseModel `bun:"table:returns,alias:rt"`

	ID        uuid.UUID    `bun:"id,pk"`
	Number    string       `bun:"number"`
	OrderID   uuid.UUID    `bun:"order_id"`
	BuyerID   uuid.UUID    `bun:"buyer_party_id"`
	SellerID  uuid.UUID    `bun:"seller_party_id"`
	Status    ReturnStatus `bun:"status"`
	Reason    string       `bun:"reason"`
	Amount    int64        `bun:"amount"`
	CreatedBy uuid.UUID    `bun:"created_by"`
	CreatedAt time.Time    `bun:"created_at"`
	UpdatedAt time.Time    `bun:"updated_at"`
}

// ReturnLine is a quantity of one order line going back.
type ReturnLine struct {
	bun.BaseModel `bun:"table:return_lines,alias:rl"`

	ReturnID    uuid.UUID `bun:"return_id,pk"`
	LineNo      int       `bun:"line_no,pk"`
	OrderLineNo int       `bun:"order_line_no"`
	SKUID       uuid.UUID `bun:"sku_id"`
	Qty         int64     `bun:"qty"`
	Amount      int64     `bun:"amount"`
	Serials     []string  `bun:"-"` // the units going back (serialised SKUs), by number
}

// ReturnSerial is one serialised unit a return sends back: named by the
// buyer's request, or picked when the return is received.
type ReturnSerial struct {
	bun.BaseModel `bun:"table:return_serials,alias:rs"`

	ReturnID uuid.UUID `bun:"return_id,pk"`
	SerialID uuid.UUID `bun:"serial_id,pk"`
	LineNo   int       `bun:"line_no"`
}

// ReturnLineInput is a quantity of one order line going back and, for a
// serialised SKU, optionally the units (exactly qty of them); units not named
// are picked when the return is received.
type ReturnLineInput struct {
	LineNo  int
	Qty     int64
	Serials []string `json:",omitempty"` // left out when none, so a request hashes as it did before serials
}

// ReturnInput asks to send goods back.
type ReturnInput struct {
	OrderID        uuid.UUID
	Lines          []ReturnLineInput
	Reason         string
	IdempotencyKey string
}

// RequestReturn files a return for goods the buyer received on the order
// (its goods receipts). No line may go back more than was received, less
// what earlier returns (open or received) already take.
func (s *Service) RequestReturn(ctx context.Context, p auth.Principal, in ReturnInput) (*Return, error) {
	o, err := s.Get(ctx, p, in.OrderID)
	if err != nil {
		return nil, err
	}
	reason, err := checkReason(in.Reason, true)
	if err != nil {
		return nil, err
	}
	if !o.Status.Allows(ActReturn) {
		return nil, ErrInvalidTransition
	}
	if !buyerSide(p, o) {
		return nil, ErrNotAllowed
	}
	if len(in.Lines) == 0 {
		return nil, field.Err(ErrEmpty, "lines")
	}
	if len(in.Lines) > MaxLines {
		return nil, field.Err(ErrTooManyLines, "lines")
	}
	scans := make([][]string, len(in.Lines))
	total := 0
	named := map[string]bool{} // a unit goes back on one line only
	for i, l := range in.Lines {
		if len(l.Serials) == 0 {
			continue
		}
		path := fmt.Sprintf("lines.%d.serials", i)
		sc, err := serial.Expand(l.Serials, nil, serial.MaxPerDocument-total, path, path)
		if err != nil {
			return nil, err
		}
		again := slices.ContainsFunc(sc.Numbers, func(n string) bool { return named[n] })
		if again || len(sc.Duplicates) > 0 || int64(len(sc.Numbers)) != l.Qty {
			return nil, field.Err(ErrSerialMismatch, "lines", fmt.Sprint(i), "serials")
		}
		for _, n := range sc.Numbers {
			named[n] = true
		}
		total += len(sc.Numbers)
		scans[i] = sc.Numbers
	}
	hash, err := idempotency.Hash(in)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	r := &Return{ID: uuid.Must(uuid.NewV7()), OrderID: o.ID, BuyerID: o.BuyerID, SellerID: o.SellerID, Status: ReturnRequested,
		Reason: reason, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "returnRequest", in.IdempotencyKey, hash, now)
		if err := keyErr(err); err != nil {
			return err
		}
		if replay {
			return json.Unmarshal(stored, &r.ID)
		}
		var ls []Line
		if err := tx.NewSelect().Model(&ls).Where("ol.order_id = ?", o.ID).Scan(ctx); err != nil {
			return fmt.Errorf("order: lines: %w", err)
		}
		var pending []struct {
			OrderLineNo int   `bun:"order_line_no"`
			Qty         int64 `bun:"qty"`
		}
		if err := tx.NewSelect().Model((*ReturnLine)(nil)).ColumnExpr("rl.order_line_no, SUM(rl.qty) AS qty").
			Join("JOIN returns AS rt ON rt.id = rl.return_id").Where("rt.order_id = ? AND rt.status IN (?)", o.ID, bun.List([]ReturnStatus{ReturnRequested, ReturnApproved})).
			GroupExpr("rl.order_line_no").Scan(ctx, &pending); err != nil {
			return fmt.Errorf("order: open returns: %w", err)
		}
		taken := map[int]int64{}
		for _, pd := range pending {
			taken[pd.OrderLineNo] = pd.Qty
		}
		var lines []ReturnLine
		var units []ReturnSerial
		for i, in := range in.Lines {
			j := -1
			for k := range ls {
				if ls[k].LineNo == in.LineNo {
					j = k
				}
			}
			if j < 0 {
				return field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "lineNo")
			}
			l := ls[j]
			before := l.ReturnedQty + taken[l.LineNo]
			taken[l.LineNo] += in.Qty
			if in.Qty < 1 || l.ReturnedQty+taken[l.LineNo] > l.ReceivedQty {
				return field.Err(ErrReturnTooMuch, "lines", fmt.Sprint(i), "qty")
			}
			// The units' worth rounded half-up, as the line's units returned so
			// far: returning the whole line in parts credits its net exactly.
			amount := pricing.Share(l.Net, before+in.Qty, l.Qty) - pricing.Share(l.Net, before, l.Qty)
			r.Amount += amount
			lines = append(lines, ReturnLine{ReturnID: r.ID, LineNo: i + 1, OrderLineNo: l.LineNo, SKUID: l.SKUID, Qty: in.Qty, Amount: amount})
			if scans[i] != nil {
				var serialised bool
				if err := tx.NewSelect().Table("skus").Column("serialised").Where("id = ?", l.SKUID).Scan(ctx, &serialised); err != nil {
					return fmt.Errorf("order: sku: %w", err)
				}
				if !serialised {
					return field.Err(ErrSerialMismatch, "lines", fmt.Sprint(i), "serials")
				}
				ids, err := s.namedReturnUnits(ctx, tx, o, l.SKUID, scans[i], i)
				if err != nil {
					return err
				}
				for _, id := range ids {
					units = append(units, ReturnSerial{ReturnID: r.ID, SerialID: id, LineNo: i + 1})
				}
			}
		}
		if r.Number, err = s.number(ctx, tx, "RT", now); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(r).Exec(ctx); err != nil {
			return fmt.Errorf("order: insert return: %w", err)
		}
		if _, err := tx.NewInsert().Model(&lines).Exec(ctx); err != nil {
			return fmt.Errorf("order: insert return lines: %w", err)
		}
		if err := insertReturnSerials(ctx, tx, units); err != nil {
			return err
		}
		if err := s.returnEvent(ctx, tx, r, "return.requested", ""); err != nil {
			return err
		}
		return idempotency.Complete(ctx, tx, p.UserID, "returnRequest", in.IdempotencyKey, r.ID)
	})
	if err != nil {
		return nil, err
	}
	return s.getReturn(ctx, s.db, r.ID)
}

func (s *Service) returnEvent(ctx context.Context, tx bun.IDB, r *Return, typ, reason string) error {
	ev, err := outbox.New(Topic(r.OrderID), "Return", r.ID.String(), typ,
		map[string]any{"returnId": r.ID, "number": r.Number, "orderId": r.OrderID, "buyerId": r.BuyerID, "sellerId": r.SellerID,
			"status": r.Status, "amount": r.Amount, "reason": reason}, s.Now())
	if err != nil {
		return err
	}
	return outbox.Add(ctx, tx, ev)
}

func (s *Service) getReturn(ctx context.Context, db bun.IDB, id uuid.UUID) (*Return, error) {
	r := new(Return)
	err := db.NewSelect().Model(r).Where("rt.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("order: load return: %w", err)
	}
	return r, nil
}

// Return returns a return the caller may see (through its order).
func (s *Service) Return(ctx context.Context, p auth.Principal, id uuid.UUID) (*Return, *Order, error) {
	r, err := s.getReturn(ctx, s.db, id)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.Get(ctx, p, r.OrderID)
	if err != nil {
		return nil, nil, err
	}
	return r, o, nil
}

// ReturnsOf lists the returns of orders, oldest first: one query.
func (s *Service) ReturnsOf(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]*Return, error) {
	var rows []*Return
	if err := s.db.NewSelect().Model(&rows).Where("rt.order_id IN (?)", bun.List(ids)).OrderExpr("rt.order_id, rt.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: returns: %w", err)
	}
	out := map[uuid.UUID][]*Return{}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r)
	}
	return out, nil
}

// ReturnLines lists a return's lines with their units' numbers.
func (s *Service) ReturnLines(ctx context.Context, id uuid.UUID) ([]ReturnLine, error) {
	return s.returnLines(ctx, s.db, id)
}

func (s *Service) returnLines(ctx context.Context, db bun.IDB, id uuid.UUID) ([]ReturnLine, error) {
	var rows []ReturnLine
	if err := db.NewSelect().Model(&rows).Where("rl.return_id = ?", id).OrderExpr("rl.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: return lines: %w", err)
	}
	var units []struct {
		LineNo int    `bun:"line_no"`
		Number string `bun:"number"`
	}
	if err := db.NewSelect().Model((*ReturnSerial)(nil)).ColumnExpr("rs.line_no, sr.number").Join("JOIN serials AS sr ON sr.id = rs.serial_id").
		Where("rs.return_id = ?", id).OrderExpr("rs.line_no, sr.number").Scan(ctx, &units); err != nil {
		return nil, fmt.Errorf("order: return serials: %w", err)
	}
	for i := range rows {
		rows[i].Serials = []string{}
	}
	for _, u := range units {
		if i := u.LineNo - 1; i >= 0 && i < len(rows) && rows[i].LineNo == u.LineNo {
			rows[i].Serials = append(rows[i].Serials, u.Number)
		}
	}
	return rows, nil
}

// decideReturn moves a return from one status to another for the seller's roles.
func (s *Service) decideReturn(ctx context.Context, p auth.Principal, id uuid.UUID, from, to ReturnStatus, roles []auth.Role, reason string,
	effect func(ctx context.Context, tx bun.Tx, r *Return, o *Order) error) (*Return, error) {
	r, o, err := s.Return(ctx, p, id)
	if err != nil {
		return nil, err
	}
	hq, err := s.isHQ(ctx, s.db, o.SellerID)
	if err != nil {
		return nil, err
	}
	if !sellerSide(p, o, hq, roles...) {
		return nil, ErrNotAllowed
	}
	if r.Status != from {
		return nil, ErrInvalidTransition
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*Return)(nil)).Set("status = ?, updated_at = ?", to, s.Now()).
			Where("id = ? AND status = ?", r.ID, from).Exec(ctx)
		if err != nil {
			return fmt.Errorf("order: return status: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrInvalidTransition
		}
		r.Status = to
		if effect != nil {
			if err := effect(ctx, tx, r, o); err != nil {
				return err
			}
		}
		if err := s.returnEvent(ctx, tx, r, "return."+string(to), reason); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "return."+string(to), "Return", r.ID.String(), map[string]any{"status": from}, map[string]any{"status": to}, reason)
	})
	if err != nil {
		return nil, err
	}
	return s.getReturn(ctx, s.db, r.ID)
}

// ApproveReturn accepts a requested return.
func (s *Service) ApproveReturn(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Return, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.decideReturn(ctx, p, id, ReturnRequested, ReturnApproved, Approvers, reason, nil)
}

// RejectReturn refuses a requested return.
func (s *Service) RejectReturn(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Return, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.decideReturn(ctx, p, id, ReturnRequested, ReturnRejected, Approvers, reason, nil)
}

// ReceiveReturn takes the returned goods back, in one transaction: out of
// the buyer's stock (serialised units from where they stand, other goods from
// its warehouses in priority order) and into the seller's first warehouse,
// each a movement naming the return; serialised units (those the request named,
// or else the buyer's units of the order picked oldest first) go back to the
// seller's stock with a RETURNED step in their trail. The order lines count
// the units returned, and the credit note goes into the buyer's account.
func (s *Service) ReceiveReturn(ctx context.Context, p auth.Principal, id uuid.UUID) (*Return, error) {
	return s.decideReturn(ctx, p, id, ReturnApproved, ReturnReceived, Shippers, "", func(ctx context.Context, tx bun.Tx, r *Return, o *Order) error {
		lines, err := s.returnLines(ctx, tx, r.ID)
		if err != nil {
			return err
		}
		whs, err := s.warehouses(ctx, o.SellerID)
		if err != nil {
			return err
		}
		for _, l := range lines {
			res, err := tx.NewUpdate().Model((*Line)(nil)).Set("returned_qty = returned_qty + ?", l.Qty).
				Where("order_id = ? AND line_no = ? AND returned_qty + ? <= received_qty", o.ID, l.OrderLineNo, l.Qty).Exec(ctx)
			if err != nil {
				return fmt.Errorf("order: return line: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return ErrReturnTooMuch
			}
		}
		// Stock rows in SKU order, as every writer of them takes them.
		bySKU := slices.Clone(lines)
		slices.SortStableFunc(bySKU, func(a, b ReturnLine) int { return bytes.Compare(a.SKUID[:], b.SKUID[:]) })
		for _, l := range bySKU {
			if err := s.returnLine(ctx, tx, p, r, o, l, whs); err != nil {
				return err
			}
		}
		if r.Amount > 0 {
			m, err := s.ledger.CreditNote(ctx, tx, o.BuyerID, o.SellerID, r.Amount, credit.Source{Type: "RETURN", ID: r.Number, Actor: p.UserID})
			if err != nil {
				return err
			}
			if err := outbox.Add(ctx, tx, m.Events...); err != nil {
				return err
			}
		}
		ev, oev, err := s.event(o, EvReturned, o.Status, o.Status, &p.UserID, "", map[string]any{"return": r.Number, "amount": r.Amount})
		if err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(ev).Exec(ctx); err != nil {
			return fmt.Errorf("order: insert event: %w", err)
		}
		return outbox.Add(ctx, tx, oev)
	})
}

// returnLine moves one return line's goods from the buyer back to the seller inside tx.
func (s *Service) returnLine(ctx context.Context, tx bun.IDB, p auth.Principal, r *Return, o *Order, l ReturnLine, whs []uuid.UUID) error {
	path := []string{"lines", fmt.Sprint(l.LineNo - 1), "qty"}
	var serialised bool
	if err := tx.NewSelect().Table("skus").Column("serialised").Where("id = ?", l.SKUID).Scan(ctx, &serialised); err != nil {
		return fmt.Errorf("order: sku: %w", err)
	}
	// Out of the buyer's stock.
	var units []*serial.Serial
	if serialised {
		var err error
		if units, err = s.returnUnits(ctx, tx, r, o, l); err != nil {
			return err
		}
		perWarehouse := map[uuid.UUID]int64{}
		var order []uuid.UUID
		for _, u := range units {
			if u.WarehouseID == nil {
				return field.Err(ErrSerialUnavailable, "lines", fmt.Sprint(l.LineNo-1), "serials", u.Number)
			}
			if _, ok := perWarehouse[*u.WarehouseID]; !ok {
				order = append(order, *u.WarehouseID)
			}
			perWarehouse[*u.WarehouseID]++
		}
		slices.SortFunc(order, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		for _, w := range order {
			if _, err := s.stock.MoveTx(ctx, tx, p.UserID, w, l.SKUID, -perWarehouse[w], inventory.MoveReturn, "RETURN", r.Number); err != nil {
				if errors.Is(err, inventory.ErrBelowReserved) {
					return field.Err(ErrInsufficientStock, path...)
				}
				return err
			}
		}
	} else if err := s.takeFromBuyer(ctx, tx, p, r, o.BuyerID, l, path); err != nil {
		return err
	}
	// Into the seller's first warehouse (a seller without warehouses does not track stock).
	var into *uuid.UUID
	if len(whs) > 0 {
		into = &whs[0]
		if _, err := s.stock.MoveTx(ctx, tx, p.UserID, whs[0], l.SKUID, l.Qty, inventory.MoveReturn, "RETURN", r.Number); err != nil {
			return err
		}
	}
	if len(units) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, len(units))
	for i, u := range units {
		ids[i] = u.ID
	}
	status := serial.StatusInStock
	if into == nil {
		status = serial.StatusReturned
	}
	err := serial.Apply(ctx, tx, ids, serial.Move{From: []serial.Status{serial.StatusInStock}, FromHolder: &o.BuyerID,
		To: status, Holder: o.SellerID, Warehouse: into, Event: serial.EvReturned},
		serial.Doc{Type: "RETURN", ID: r.ID, Number: r.Number, Actor: p.UserID, At: s.Now()})
	if errors.Is(err, serial.ErrUnavailable) {
		return field.Err(ErrSerialUnavailable, "lines", fmt.Sprint(l.LineNo-1), "serials")
	}
	return err
}

// takeFromBuyer takes a line of a SKU without serials out of the buyer's
// warehouses, highest priority first, never below what they hold reserved.
func (s *Service) takeFromBuyer(ctx context.Context, tx bun.IDB, p auth.Principal, r *Return, buyer uuid.UUID, l ReturnLine, path []string) error {
	var levels []inventory.Level
	if err := tx.NewSelect().Model(&levels).Column("sl.warehouse_id", "sl.on_hand", "sl.reserved").
		Join("JOIN warehouses AS w ON w.id = sl.warehouse_id").Where("w.party_id = ? AND sl.sku_id = ?", buyer, l.SKUID).
		OrderExpr("w.active DESC, w.priority DESC, w.code").Scan(ctx); err != nil {
		return fmt.Errorf("order: buyer stock: %w", err)
	}
	left := l.Qty
	for _, lv := range levels {
		take := min(left, lv.Available())
		if take <= 0 {
			continue
		}
		if _, err := s.stock.MoveTx(ctx, tx, p.UserID, lv.WarehouseID, l.SKUID, -take, inventory.MoveReturn, "RETURN", r.Number); err != nil {
			if errors.Is(err, inventory.ErrBelowReserved) {
				return field.Err(ErrInsufficientStock, path...)
			}
			return err
		}
		if left -= take; left == 0 {
			return nil
		}
	}
	return field.Err(ErrInsufficientStock, path...)
}

// openReturnUnits is the units that returns not yet received set aside.
const openReturnUnits = `SELECT rso.serial_id FROM return_serials AS rso JOIN returns AS rto ON rto.id = rso.return_id
	WHERE rto.status IN ('REQUESTED', 'APPROVED')`

// receivedOnOrder limits units ("sr") to those the buyer received on the order's shipments.
const receivedOnOrder = `EXISTS (SELECT 1 FROM shipment_serials AS ss JOIN shipments AS sh ON sh.id = ss.shipment_id
	WHERE ss.serial_id = sr.id AND sh.order_id = ? AND ss.outcome = 'RECEIVED')`

// namedReturnUnits checks the units a return request names: the SKU's, held
// in stock by the buyer, received on this order, in no other open return.
func (s *Service) namedReturnUnits(ctx context.Context, tx bun.IDB, o *Order, sku uuid.UUID, numbers []string, line int) ([]uuid.UUID, error) {
	found, err := serial.ByNumbers(ctx, tx, numbers)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(numbers))
	for i, n := range numbers {
		sr := found[n]
		if sr == nil || sr.SKUID != sku || sr.Status != serial.StatusInStock || sr.HolderID != o.BuyerID {
			return nil, field.Err(ErrSerialUnavailable, "lines", fmt.Sprint(line), "serials", n)
		}
		ids[i] = sr.ID
	}
	for start := 0; start < len(ids); start += 5000 {
		part := ids[start:min(start+5000, len(ids))]
		var ok []uuid.UUID
		if err := tx.NewSelect().Model((*serial.Serial)(nil)).Column("sr.id").Where("sr.id IN (?)", bun.List(part)).
			Where(receivedOnOrder, o.ID).Where("sr.id NOT IN ("+openReturnUnits+")").Scan(ctx, &ok); err != nil {
			return nil, fmt.Errorf("order: return serials: %w", err)
		}
		if len(ok) != len(part) {
			for _, id := range part {
				if !slices.Contains(ok, id) {
					for n, sr := range found {
						if sr.ID == id {
							return nil, field.Err(ErrSerialUnavailable, "lines", fmt.Sprint(line), "serials", n)
						}
					}
				}
			}
		}
	}
	return ids, nil
}

// returnUnits are the units a return line sends back: those its request
// named, or else (recorded now) the buyer's units of the SKU received on the
// order, in its stock and in no other open return, oldest first.
func (s *Service) returnUnits(ctx context.Context, tx bun.IDB, r *Return, o *Order, l ReturnLine) ([]*serial.Serial, error) {
	var units []*serial.Serial
	if err := tx.NewSelect().Model(&units).Join("JOIN return_serials AS rs ON rs.serial_id = sr.id").
		Where("rs.return_id = ? AND rs.line_no = ?", r.ID, l.LineNo).OrderExpr("sr.number").Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: return serials: %w", err)
	}
	if len(units) > 0 {
		return units, nil
	}
	if err := tx.NewSelect().Model(&units).
		Where("sr.sku_id = ? AND sr.holder_party_id = ? AND sr.status = ?", l.SKUID, o.BuyerID, serial.StatusInStock).
		Where(receivedOnOrder, o.ID).Where("sr.id NOT IN (" + openReturnUnits + ")").
		OrderExpr("sr.received_at, sr.number").Limit(l.Qty).Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: pick return serials: %w", err)
	}
	if int64(len(units)) < l.Qty {
		return nil, field.Err(ErrSerialUnavailable, "lines", fmt.Sprint(l.LineNo-1), "qty")
	}
	picked := make([]ReturnSerial, len(units))
	for i, u := range units {
		picked[i] = ReturnSerial{ReturnID: r.ID, SerialID: u.ID, LineNo: l.LineNo}
	}
	return units, insertReturnSerials(ctx, tx, picked)
}

func insertReturnSerials(ctx context.Context, tx bun.IDB, units []ReturnSerial) error {
	for start := 0; start < len(units); start += 5000 {
		part := units[start:min(start+5000, len(units))]
		if _, err := tx.NewInsert().Model(&part).Exec(ctx); err != nil {
			return fmt.Errorf("order: insert return serials: %w", err)
		}
	}
	return nil
}
