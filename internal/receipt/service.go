package receipt

import (
	"bytes"
	"context"
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
	"channelhub/internal/credit"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/inventory"
	"channelhub/internal/order"
	"channelhub/internal/outbox"
	"channelhub/internal/serial"
	"channelhub/internal/shipment"
)

// Service confirms receipts and settles claims.
type Service struct {
	db        *database.DB
	orders    *order.Service
	shipments *shipment.Service
	stock     *inventory.Service
	ledger    credit.Ledger
	Now       func() time.Time
	// SkipDiversions turns the diversion check of receipts off; only
	// benchmarks set it, to measure what the check costs.
	SkipDiversions bool
}

// NewService returns a receipt Service.
func NewService(db *database.DB, orders *order.Service, shipments *shipment.Service, stock *inventory.Service) *Service {
	s := &Service{db: db, orders: orders, shipments: shipments, stock: stock,
		Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	s.ledger = credit.Ledger{Now: func() time.Time { return s.Now() }}
	return s
}

// LineInput is what arrived of one shipment line of a SKU without serials.
type LineInput struct {
	LineNo   int
	Accepted int64
	Rejected int64
	Reason   string
}

// ConfirmInput is a buyer's receipt of a shipment.
type ConfirmInput struct {
	IdempotencyKey string
	Serials        []string
	Ranges         []serial.Range
	Damaged        []string
	Lines          []LineInput
	Note           string
	CapturedAt     *time.Time
}

// Result is a confirmed receipt and the serials scanned twice in the request.
type Result struct {
	Receipt    *Receipt `json:"-"`
	ID         uuid.UUID
	Duplicates []string
}

// unit is one serialised unit on the shipment.
type unit struct {
	SerialID uuid.UUID `bun:"serial_id"`
	LineNo   int       `bun:"line_no"`
	Number   string    `bun:"number"`
	outcome  Kind
}

// Confirm records what arrived on a shipment, for its buyer. Serials count
// once however often scanned; a serial of another shipment is refused; an
// unknown one, a shipped one not scanned and a damaged one become the
// claim's items. Everything is bulk statements: a few per 5,000 serials.
func (s *Service) Confirm(ctx context.Context, p auth.Principal, shipmentID uuid.UUID, in ConfirmInput) (*Result, error) {
	if err := p.Require(Receivers...); err != nil {
		return nil, err
	}
	sh, err := s.shipments.Get(ctx, p, shipmentID)
	if errors.Is(err, shipment.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var o *order.Order // nil for a transfer's shipment
	if sh.OrderID != uuid.Nil {
		if o, err = s.orders.GetTx(ctx, s.db, sh.OrderID); err != nil {
			return nil, err
		}
	}
	if !shipment.BuyerSide(p, sh) {
		return nil, ErrNotBuyer
	}
	in.Note = strings.TrimSpace(in.Note)
	if utf8.RuneCountInString(in.Note) > MaxNote {
		return nil, field.Err(ErrInvalidInput, "note")
	}
	if len(in.Lines) > MaxLines {
		return nil, field.Err(ErrInvalidInput, "lines")
	}
	if len(in.Serials)+len(in.Damaged) > MaxSerial {
		return nil, field.Err(serial.ErrTooMany, "serials")
	}
	scan, err := serial.Expand(in.Serials, in.Ranges, MaxSerial-len(in.Damaged), "serials", "ranges")
	if err != nil {
		return nil, err
	}
	damaged, err := serial.Expand(in.Damaged, nil, MaxSerial, "damagedSerials", "damagedSerials")
	if err != nil {
		return nil, err
	}
	dups := slices.Clone(scan.Duplicates)
	isDamaged := make(map[string]bool, len(damaged.Numbers))
	for _, n := range damaged.Numbers {
		isDamaged[n] = true
	}
	dups = append(dups, damaged.Duplicates...)
	accepted := scan.Numbers[:0:0]
	for _, n := range scan.Numbers {
		if isDamaged[n] {
			dups = append(dups, n) // scanned and marked damaged: damaged wins
			continue
		}
		accepted = append(accepted, n)
	}
	for i, l := range in.Lines {
		if l.Accepted < 0 || l.Rejected < 0 {
			return nil, field.Err(ErrInvalidInput, "lines", fmt.Sprint(i))
		}
		if l.Rejected > 0 && strings.TrimSpace(l.Reason) == "" || utf8.RuneCountInString(l.Reason) > MaxReason {
			return nil, field.Err(ErrReasonRequired, "lines", fmt.Sprint(i), "reason")
		}
	}
	hash, err := idempotency.Hash(map[string]any{"shipment": shipmentID, "in": in})
	if err != nil {
		return nil, err
	}
	out := &Result{Duplicates: dups}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.Now()
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "receiptConfirm", in.IdempotencyKey, hash, now)
		switch {
		case errors.Is(err, idempotency.ErrInvalidKey):
			return field.Err(ErrInvalidInput, "idempotencyKey")
		case errors.Is(err, idempotency.ErrKeyReused):
			return field.Err(ErrKeyReused, "idempotencyKey")
		case err != nil:
			return err
		case replay:
			return json.Unmarshal(stored, out)
		}
		if sh.TransferID != uuid.Nil && s.shipments.Transfers != nil {
			// A transfer's row goes before its shipment's, as in every step on them.
			if err := s.shipments.Transfers.TakeTx(ctx, tx, sh.TransferID); err != nil {
				return err
			}
		}
		// Take the shipment: one receipt per shipment, even under racing retries with new keys.
		res, err := tx.NewUpdate().Model((*shipment.Shipment)(nil)).Set("status = ?, received_at = ?, updated_at = ?", shipment.StatusReceived, now, now).
			Where("id = ? AND status IN (?)", sh.ID, bun.List([]shipment.Status{shipment.StatusDispatched, shipment.StatusDelivered})).Exec(ctx)
		if err != nil {
			return fmt.Errorf("receipt: take shipment: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrNotReceivable
		}
		if sh.OrderID != uuid.Nil {
			// Then the order's row, as a dispatch takes them: receipts of one
			// order take turns, so the last one sees the others and completes it.
			if _, err := s.orders.LockTx(ctx, tx, sh.OrderID); err != nil {
				return err
			}
		}
		r, err := s.book(ctx, tx, p, sh, o, in, accepted, damaged.Numbers, len(dups), now)
		if err != nil {
			return err
		}
		out.ID, out.Receipt = r.ID, r
		return idempotency.Complete(ctx, tx, p.UserID, "receiptConfirm", in.IdempotencyKey, out)
	})
	if err != nil {
		return nil, err
	}
	if out.Receipt == nil {
		if out.Receipt, err = s.get(ctx, out.ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// book does the receipt's work inside its transaction, the shipment already taken.
func (s *Service) book(ctx context.Context, tx bun.IDB, p auth.Principal, sh *shipment.Shipment, o *order.Order, in ConfirmInput,
	scanned, damaged []string, dupScans int, now time.Time) (*Receipt, error) {
	var lines []shipment.Line
	if err := tx.NewSelect().Model(&lines).Where("shl.shipment_id = ?", sh.ID).OrderExpr("shl.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("receipt: lines: %w", err)
	}
	var units []*unit
	if err := tx.NewSelect().TableExpr("shipment_serials AS ss").ColumnExpr("ss.serial_id, ss.line_no, sr.number").
		Join("JOIN serials AS sr ON sr.id = ss.serial_id").Where("ss.shipment_id = ?", sh.ID).Scan(ctx, &units); err != nil {
		return nil, fmt.Errorf("receipt: units: %w", err)
	}
	byNumber := make(map[string]*unit, len(units))
	serialLine := map[int]bool{}
	for _, u := range units {
		u.outcome = Missing
		byNumber[u.Number] = u
		serialLine[u.LineNo] = true
	}
	var items []Item
	var strangers []string
	var strays []*serial.Serial // known units scanned but not on the shipment: checked for diversion
	mark := func(numbers []string, k Kind) {
		for _, n := range numbers {
			if u := byNumber[n]; u != nil {
				u.outcome = k
			} else {
				strangers = append(strangers, n)
			}
		}
	}
	mark(scanned, "")
	mark(damaged, Damaged)
	if len(strangers) > 0 {
		known, err := serial.ByNumbers(ctx, tx, strangers)
		if err != nil {
			return nil, err
		}
		for _, n := range strangers {
			it := Item{Kind: Unexpected, SerialNumber: n, Qty: 1}
			if k := known[n]; k != nil {
				// A unit in transit on another shipment, or written back to a seller
				// after one, belongs to that shipment; any other known unit is a stray.
				if k.Status == serial.StatusInTransit || k.Status == serial.StatusReturned {
					return nil, field.Err(ErrSerialOther, serialPath(in, n)...)
				}
				it.SKUID = &k.SKUID
				strays = append(strays, k)
			}
			items = append(items, it)
		}
	}
	// Per line: serialised lines count their units, the others take the input (all accepted by default).
	acc := make(map[int]int64, len(lines))
	rej := make(map[int]int64, len(lines))
	for _, u := range units {
		switch u.outcome {
		case "":
			acc[u.LineNo]++
		case Damaged:
			rej[u.LineNo]++
		}
	}
	given := map[int]bool{}
	for i, l := range in.Lines {
		j := slices.IndexFunc(lines, func(x shipment.Line) bool { return x.LineNo == l.LineNo })
		if j < 0 || serialLine[l.LineNo] || given[l.LineNo] {
			return nil, field.Err(ErrInvalidInput, "lines", fmt.Sprint(i), "lineNo")
		}
		if l.Accepted > lines[j].Qty || l.Rejected > lines[j].Qty || l.Accepted+l.Rejected > lines[j].Qty { // each first: no sum wraps
			return nil, field.Err(ErrTooMuch, "lines", fmt.Sprint(i), "accepted")
		}
		given[l.LineNo] = true
		acc[l.LineNo], rej[l.LineNo] = l.Accepted, l.Rejected
		if l.Rejected > 0 {
			ln := l.LineNo
			items = append(items, Item{Kind: Damaged, SKUID: &lines[j].SKUID, ShipmentLineNo: &ln, Qty: l.Rejected, Reason: strings.TrimSpace(l.Reason)})
		}
	}
	var olines []order.Line
	if o != nil {
		if err := tx.NewSelect().Model(&olines).Where("ol.order_id = ?", o.ID).Scan(ctx); err != nil {
			return nil, fmt.Errorf("receipt: order lines: %w", err)
		}
	}
	// A claim's items are valued at the order's net prices; a transfer moves no money.
	unitValue := func(orderLineNo int) (int64, int64) {
		j := slices.IndexFunc(olines, func(l order.Line) bool { return l.LineNo == orderLineNo })
		if j < 0 {
			return 0, 1
		}
		return olines[j].Net, olines[j].Qty
	}
	for _, l := range lines {
		if !serialLine[l.LineNo] && !given[l.LineNo] {
			acc[l.LineNo] = l.Qty
		}
		if miss := l.Qty - acc[l.LineNo] - rej[l.LineNo]; miss > 0 && !serialLine[l.LineNo] {
			ln := l.LineNo
			items = append(items, Item{Kind: Missing, SKUID: &l.SKUID, ShipmentLineNo: &ln, Qty: miss})
		}
	}
	for _, u := range units {
		if u.outcome == Missing || u.outcome == Damaged {
			ln := u.LineNo
			j := slices.IndexFunc(lines, func(x shipment.Line) bool { return x.LineNo == ln })
			items = append(items, Item{Kind: u.outcome, SKUID: &lines[j].SKUID, ShipmentLineNo: &ln, SerialNumber: u.Number, Qty: 1})
		}
	}
	w, err := s.stock.DefaultWarehouse(ctx, tx, sh.BuyerID)
	if err != nil {
		return nil, err
	}
	r := &Receipt{ID: uuid.Must(uuid.NewV7()), ShipmentID: sh.ID, BuyerID: sh.BuyerID, WarehouseID: w.ID, Note: in.Note,
		DuplicateScans: dupScans, CreatedBy: p.UserID, CapturedAt: in.CapturedAt, CreatedAt: now, WarehouseCode: w.Code}
	if r.Number, err = s.orders.Number(ctx, tx, "GR", now); err != nil {
		return nil, err
	}
	// Stock in, one movement per SKU in SKU order; lines and order lines take their counts.
	perSKU := map[uuid.UUID]int64{}
	var skus []uuid.UUID
	byDocLine := map[int]int64{} // a transfer's lines: accepted per transfer line
	for _, l := range lines {
		a := acc[l.LineNo]
		r.AcceptedQty += a
		if _, err := tx.NewUpdate().Model((*shipment.Line)(nil)).Set("accepted_qty = ?, rejected_qty = ?", a, rej[l.LineNo]).
			Where("shipment_id = ? AND line_no = ?", sh.ID, l.LineNo).Exec(ctx); err != nil {
			return nil, fmt.Errorf("receipt: line: %w", err)
		}
		if a == 0 {
			continue
		}
		if o == nil {
			byDocLine[l.OrderLineNo] += a
		} else if _, err := tx.NewUpdate().Model((*order.Line)(nil)).Set("received_qty = received_qty + ?", a).
			Where("order_id = ? AND line_no = ?", o.ID, l.OrderLineNo).Exec(ctx); err != nil {
			return nil, fmt.Errorf("receipt: order line: %w", err)
		}
		if _, ok := perSKU[l.SKUID]; !ok {
			skus = append(skus, l.SKUID)
		}
		perSKU[l.SKUID] += a
	}
	slices.SortFunc(skus, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	for _, k := range skus {
		if _, err := s.stock.MoveTx(ctx, tx, p.UserID, w.ID, k, perSKU[k], inventory.MoveGoodsIn, "RECEIPT", r.Number); err != nil {
			return nil, err
		}
	}
	if _, err := tx.NewInsert().Model(r).Exec(ctx); err != nil {
		return nil, fmt.Errorf("receipt: insert: %w", err)
	}
	if err := s.moveUnits(ctx, tx, p, sh, r, w.ID, units, now); err != nil {
		return nil, err
	}
	if len(strays) > 0 && !s.SkipDiversions { // strays from outside the buyer's line are diverted
		doc := serial.Doc{Type: "RECEIPT", ID: r.ID, Number: r.Number, Actor: p.UserID, At: now}
		if _, err := serial.Divert(ctx, tx, serial.ReceivedOutside, sh.BuyerID, strays, doc); err != nil {
			return nil, err
		}
	}
	status := shipment.StatusReceived
	if len(items) > 0 {
		status = shipment.StatusPartiallyReceived
		if err := s.openClaim(ctx, tx, sh, o, r, items, lines, unitValue, now); err != nil {
			return nil, err
		}
		if _, err := tx.NewUpdate().Model((*shipment.Shipment)(nil)).Set("status = ?", status).Where("id = ?", sh.ID).Exec(ctx); err != nil {
			return nil, fmt.Errorf("receipt: shipment status: %w", err)
		}
	}
	sh.Status = status
	if err := s.shipments.Event(ctx, tx, sh, shipment.EventReceived, "USER", r.Number, &p.UserID); err != nil {
		return nil, err
	}
	if o == nil {
		if s.shipments.Transfers == nil {
			return nil, shipment.ErrNoTransfers
		}
		return r, s.shipments.Transfers.ReceivedTx(ctx, tx, p, sh, byDocLine)
	}
	return r, s.completeOrder(ctx, tx, p, o.ID)
}

// serialPath names where a serial was given in the input.
func serialPath(in ConfirmInput, n string) []string {
	for i, raw := range in.Serials {
		if v, _ := serial.Normalize(raw); v == n {
			return []string{"serials", fmt.Sprint(i)}
		}
	}
	for i, raw := range in.Damaged {
		if v, _ := serial.Normalize(raw); v == n {
			return []string{"damagedSerials", fmt.Sprint(i)}
		}
	}
	return []string{"ranges"}
}

// moveUnits: received units join the buyer's stock; missing and damaged ones go back on the seller's books.
func (s *Service) moveUnits(ctx context.Context, tx bun.IDB, p auth.Principal, sh *shipment.Shipment, r *Receipt, w uuid.UUID, units []*unit, now time.Time) error {
	var got, lost []uuid.UUID
	outcome := map[Kind][]uuid.UUID{}
	for _, u := range units {
		k := u.outcome
		if k == "" {
			k = "RECEIVED"
			got = append(got, u.SerialID)
		} else {
			lost = append(lost, u.SerialID)
		}
		outcome[k] = append(outcome[k], u.SerialID)
	}
	doc := serial.Doc{Type: "RECEIPT", ID: r.ID, Number: r.Number, Actor: p.UserID, At: now}
	from := []serial.Status{serial.StatusInTransit}
	if err := serial.Apply(ctx, tx, got, serial.Move{From: from, FromShipment: &sh.ID, To: serial.StatusInStock, Holder: sh.BuyerID,
		Warehouse: &w, Event: serial.EvReceived}, doc); err != nil {
		return err
	}
	if err := serial.Apply(ctx, tx, lost, serial.Move{From: from, FromShipment: &sh.ID, To: serial.StatusReturned, Holder: sh.SellerID,
		Event: serial.EvClaimed}, doc); err != nil {
		return err
	}
	for k, ids := range outcome {
		for start := 0; start < len(ids); start += 5000 {
			part := ids[start:min(start+5000, len(ids))]
			if _, err := tx.NewUpdate().Model((*shipment.Unit)(nil)).Set("outcome = ?", string(k)).
				Where("shipment_id = ? AND serial_id IN (?)", sh.ID, bun.List(part)).Exec(ctx); err != nil {
				return fmt.Errorf("receipt: unit outcome: %w", err)
			}
		}
	}
	return nil
}

// openClaim writes the receipt's differences as a claim, each valued at the order's net price.
func (s *Service) openClaim(ctx context.Context, tx bun.IDB, sh *shipment.Shipment, o *order.Order, r *Receipt, items []Item,
	lines []shipment.Line, unitValue func(int) (int64, int64), now time.Time) error {
	c := &Claim{ID: uuid.Must(uuid.NewV7()), ReceiptID: r.ID, ShipmentID: sh.ID, OrderID: sh.OrderID, BuyerID: sh.BuyerID, SellerID: sh.SellerID,
		Status: ClaimOpen, CreatedAt: now}
	var err error
	if c.Number, err = s.orders.Number(ctx, tx, "CL", now); err != nil {
		return err
	}
	for i := range items {
		it := &items[i]
		it.ClaimID, it.ItemNo = c.ID, i+1
		if it.ShipmentLineNo != nil && it.Kind != Unexpected {
			j := slices.IndexFunc(lines, func(x shipment.Line) bool { return x.LineNo == *it.ShipmentLineNo })
			net, qty := unitValue(lines[j].OrderLineNo)
			it.Value = net * it.Qty / qty
		}
		c.Value += it.Value
	}
	if _, err := tx.NewInsert().Model(c).Exec(ctx); err != nil {
		return fmt.Errorf("receipt: claim: %w", err)
	}
	for start := 0; start < len(items); start += 5000 {
		part := items[start:min(start+5000, len(items))]
		if _, err := tx.NewInsert().Model(&part).Exec(ctx); err != nil {
			return fmt.Errorf("receipt: claim items: %w", err)
		}
	}
	ev, err := outbox.New(shipment.Topic(sh), "Claim", c.ID.String(), "claim.opened",
		claimMessage(c, sh, map[string]any{"sellerId": c.SellerID, "value": c.Value}), now)
	if err != nil {
		return err
	}
	return outbox.Add(ctx, tx, ev)
}

// completeOrder completes a shipped order once none of its shipments waits for a receipt.
func (s *Service) completeOrder(ctx context.Context, tx bun.IDB, p auth.Principal, orderID uuid.UUID) error {
	o, err := s.orders.GetTx(ctx, tx, orderID)
	if err != nil {
		return err
	}
	if !o.Status.Allows(order.ActComplete) {
		return nil
	}
	n, err := tx.NewSelect().Model((*shipment.Shipment)(nil)).Where("sh.order_id = ? AND sh.status IN (?)", orderID,
		bun.List([]shipment.Status{shipment.StatusCreated, shipment.StatusDispatched, shipment.StatusDelivered})).Count(ctx)
	if err != nil {
		return fmt.Errorf("receipt: open shipments: %w", err)
	}
	if n > 0 {
		return nil
	}
	_, err = s.orders.CompleteTx(ctx, tx, p, orderID)
	return err
}

// Resolve settles an open claim for the seller: a credit note of its value
// into the buyer's CASH, or a reshipment of the missing and damaged goods.
func (s *Service) Resolve(ctx context.Context, p auth.Principal, id uuid.UUID, res Resolution, reason string) (*Claim, error) {
	if err := p.Require(Resolvers...); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < 1 || n > MaxNote {
		return nil, field.Err(ErrReasonRequired, "reason")
	}
	if res != Reship && res != CreditNote {
		return nil, field.Err(ErrInvalidResolution, "resolution")
	}
	c, err := s.Claim(ctx, p, id)
	if err != nil {
		return nil, err
	}
	orig, err := s.shipments.GetTx(ctx, s.db, c.ShipmentID)
	if err != nil {
		return nil, err
	}
	allowed := TransferSellerSide(p, c)
	if c.OrderID != uuid.Nil {
		o, err := s.orders.GetTx(ctx, s.db, c.OrderID)
		if err != nil {
			return nil, err
		}
		if allowed, _, err = s.orders.ActsForSeller(ctx, p, o, Resolvers...); err != nil {
			return nil, err
		}
	}
	if !allowed {
		return nil, ErrNotAllowed
	}
	if c.Status != ClaimOpen {
		return nil, ErrClaimResolved
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.Now()
		upd, err := tx.NewUpdate().Model((*Claim)(nil)).Set("status = ?, resolution = ?, resolution_reason = ?, resolved_by = ?, resolved_at = ?",
			ClaimResolved, res, reason, p.UserID, now).Where("id = ? AND status = ?", c.ID, ClaimOpen).Exec(ctx)
		if err != nil {
			return fmt.Errorf("receipt: resolve: %w", err)
		}
		if n, _ := upd.RowsAffected(); n != 1 {
			return ErrClaimResolved
		}
		switch res {
		case CreditNote:
			if c.Value > 0 {
				m, err := s.ledger.CreditNote(ctx, tx, c.BuyerID, c.SellerID, c.Value, credit.Source{Type: "CLAIM", ID: c.Number, Actor: p.UserID, Note: reason})
				if err != nil {
					return err
				}
				if err := outbox.Add(ctx, tx, m.Events...); err != nil {
					return err
				}
			}
		case Reship:
			if err := s.reship(ctx, tx, p, c, orig); err != nil {
				return err
			}
		}
		ev, err := outbox.New(shipment.Topic(orig), "Claim", c.ID.String(), "claim.resolved",
			claimMessage(c, orig, map[string]any{"resolution": res}), now)
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, ev); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "claim.resolve", "Claim", c.ID.String(), map[string]any{"status": ClaimOpen},
			map[string]any{"status": ClaimResolved, "resolution": res, "value": c.Value}, reason)
	})
	if err != nil {
		return nil, err
	}
	return s.claim(ctx, s.db, c.ID)
}

// reship sends the claim's missing and damaged quantities again on a new shipment.
func (s *Service) reship(ctx context.Context, tx bun.IDB, p auth.Principal, c *Claim, orig *shipment.Shipment) error {
	var items []Item
	if err := tx.NewSelect().Model(&items).Where("ci.claim_id = ? AND ci.kind <> ?", c.ID, Unexpected).OrderExpr("ci.item_no").Scan(ctx); err != nil {
		return fmt.Errorf("receipt: claim items: %w", err)
	}
	qty := map[int]int64{}
	var order []int
	for _, it := range items {
		if it.ShipmentLineNo == nil {
			continue
		}
		if _, ok := qty[*it.ShipmentLineNo]; !ok {
			order = append(order, *it.ShipmentLineNo)
		}
		qty[*it.ShipmentLineNo] += it.Qty
	}
	if len(order) == 0 {
		return field.Err(ErrInvalidResolution, "resolution") // only unexpected units: nothing to send
	}
	want := make([]shipment.ReshipLine, len(order))
	for i, ln := range order {
		want[i] = shipment.ReshipLine{LineNo: ln, Qty: qty[ln]}
	}
	sh, err := s.shipments.CreateReshipTx(ctx, tx, p, orig, c.ID, want)
	if err != nil {
		return err
	}
	_, err = tx.NewUpdate().Model((*Claim)(nil)).Set("replacement_shipment_id = ?", sh.ID).Where("id = ?", c.ID).Exec(ctx)
	return err
}

// TransferResolvers settle the claims of a transfer's shipments for its sender.
var TransferResolvers = []auth.Role{auth.RoleDistributorAdmin, auth.RoleStoreManager}

// TransferSellerSide reports whether p settles c, a claim on a transfer's
// shipment, for the sender (false for an order's claim).
func TransferSellerSide(p auth.Principal, c *Claim) bool {
	return c.OrderID == uuid.Nil && p.PartyID == c.SellerID && p.Has(TransferResolvers...)
}

// claimMessage is a claim event's payload: the claim, its document and its buyer, and more.
func claimMessage(c *Claim, sh *shipment.Shipment, more map[string]any) map[string]any {
	m := map[string]any{"claimId": c.ID, "number": c.Number, "orderId": c.OrderID, "buyerId": c.BuyerID}
	if sh.TransferID != uuid.Nil {
		m["transferId"] = sh.TransferID
	}
	for k, v := range more {
		m[k] = v
	}
	return m
}
