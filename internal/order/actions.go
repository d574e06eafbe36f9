package order

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/credit"
	"channelhub/internal/field"
	"channelhub/internal/outbox"
	"channelhub/internal/party"
	"channelhub/internal/pricing"
)

// Roles on the seller's side.
var (
	// Approvers approve and reject: sales ops for HQ, a distributor's admin for its buyers.
	Approvers = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleDistributorAdmin}
	// Shippers fulfil approved orders: HQ's admin and goods control, a distributor's admin and staff.
	Shippers = []auth.Role{auth.RoleHQAdmin, auth.RoleGoodsControl, auth.RoleDistributorAdmin, auth.RoleDistributorStaff}
)

// sellerSide reports whether p acts for the order's seller with one of roles:
// HQ roles for HQ's orders, the distributor's own users for its orders.
func sellerSide(p auth.Principal, o *Order, sellerIsHQ bool, roles ...auth.Role) bool {
	var hq, own []auth.Role
	for _, r := range roles {
		if slices.Contains(auth.HQRoles, r) {
			hq = append(hq, r)
		} else {
			own = append(own, r)
		}
	}
	if sellerIsHQ {
		return p.Has(hq...)
	}
	return p.PartyID == o.SellerID && p.Has(own...)
}

// buyerSide reports whether p ordered for the buyer: its users who may order,
// or the salesman who took the order.
func buyerSide(p auth.Principal, o *Order) bool {
	if p.PartyID == o.BuyerID && p.Has(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager) {
		return true
	}
	return o.SalesmanID != nil && *o.SalesmanID == p.UserID && p.Has(auth.RoleSalesman)
}

// Can answers what p may do to o now: the viewerCan* flags, and the guard of each action.
func (s *Service) Can(p auth.Principal, o *Order, sellerIsHQ bool, a Action) bool {
	if !o.Status.Allows(a) {
		return false
	}
	switch a {
	case ActApprove:
		return sellerSide(p, o, sellerIsHQ, auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleDistributorAdmin)
	case ActReject:
		return sellerSide(p, o, sellerIsHQ, auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleFinance, auth.RoleDistributorAdmin)
	case ActReleaseCredit:
		return sellerSide(p, o, sellerIsHQ, credit.Managers...)
	case ActChange:
		return buyerSide(p, o)
	case ActCancel:
		return buyerSide(p, o) || sellerSide(p, o, sellerIsHQ, Approvers...)
	case ActCloseRemainder:
		return sellerSide(p, o, sellerIsHQ, Approvers...)
	case ActShip, ActComplete:
		return sellerSide(p, o, sellerIsHQ, Shippers...)
	case ActReturn:
		return buyerSide(p, o)
	}
	return false
}

func checkReason(reason string, required bool) (string, error) {
	reason = strings.TrimSpace(reason)
	n := utf8.RuneCountInString(reason)
	if n > MaxReason || (required && n == 0) {
		return "", field.Err(ErrReasonRequired, "reason")
	}
	return reason, nil
}

// act runs one action on an order the caller may see: it checks the guard,
// takes the order's row with a version-conditional update (so two racing
// actions cannot both pass the guard), runs effect, and writes the timeline
// event and its outbox event. effect returns the status the order lands in.
func (s *Service) act(ctx context.Context, p auth.Principal, id uuid.UUID, a Action, reason string, auditIt bool,
	effect func(ctx context.Context, tx bun.Tx, o *Order) (Status, string, map[string]any, error)) (*Order, error) {
	o, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	hq, err := s.isHQ(ctx, s.db, o.SellerID)
	if err != nil {
		return nil, err
	}
	if !o.Status.Allows(a) {
		return nil, ErrInvalidTransition
	}
	if !s.Can(p, o, hq, a) {
		return nil, ErrNotAllowed
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.Now()
		res, err := tx.NewUpdate().Model((*Order)(nil)).Set("version = version + 1, updated_at = ?", now).
			Where("id = ? AND version = ?", o.ID, o.Version).Exec(ctx)
		if err != nil {
			return fmt.Errorf("order: take: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrInvalidTransition // another action got there first
		}
		from := o.Status
		to, typ, data, err := effect(ctx, tx, o)
		if err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model((*Order)(nil)).Set("status = ?", to).Where("id = ?", o.ID).Exec(ctx); err != nil {
			return fmt.Errorf("order: status: %w", err)
		}
		o.Status = to
		ev, oev, err := s.event(o, typ, from, to, &p.UserID, reason, data)
		if err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(ev).Exec(ctx); err != nil {
			return fmt.Errorf("order: insert event: %w", err)
		}
		if err := outbox.Add(ctx, tx, oev); err != nil {
			return err
		}
		if auditIt {
			return audit.Record(ctx, tx, p, "order."+strings.ToLower(string(a)), "Order", o.ID.String(),
				map[string]any{"status": from}, map[string]any{"status": to}, reason)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.get(ctx, s.db, o.ID)
}

// Approve approves a submitted order; the reason is kept in the audit trail.
func (s *Service) Approve(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Order, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActApprove, reason, true, func(ctx context.Context, tx bun.Tx, o *Order) (Status, string, map[string]any, error) {
		return StatusApproved, EvApproved, nil, nil
	})
}

// Reject rejects a submitted or held order and releases all it holds.
func (s *Service) Reject(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Order, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActReject, reason, true, func(ctx context.Context, tx bun.Tx, o *Order) (Status, string, map[string]any, error) {
		return StatusRejected, EvRejected, nil, s.releaseAll(ctx, tx, o, p.UserID)
	})
}

// Cancel cancels an order before shipment, for its buyer (the reason is
// optional) or its seller's approvers (a reason is required).
func (s *Service) Cancel(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Order, error) {
	reason, err := checkReason(reason, false)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActCancel, reason, true, func(ctx context.Context, tx bun.Tx, o *Order) (Status, string, map[string]any, error) {
		if !buyerSide(p, o) && reason == "" {
			return "", "", nil, field.Err(ErrReasonRequired, "reason")
		}
		if err := notPacking(ctx, tx, o.ID); err != nil {
			return "", "", nil, err
		}
		return StatusCancelled, EvCancelled, nil, s.releaseAll(ctx, tx, o, p.UserID)
	})
}

// CloseRemainder ends a partly shipped order for the seller's approvers:
// the stock and credit its unshipped quantities hold are released and it
// counts as shipped, or completed when every shipment was already received.
// The reason is kept in the audit trail.
func (s *Service) CloseRemainder(ctx context.Context, p auth.Principal, id uuid.UUID, reason string) (*Order, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActCloseRemainder, reason, true, func(ctx context.Context, tx bun.Tx, o *Order) (Status, string, map[string]any, error) {
		var packing, travelling int
		if err := tx.NewRaw(`SELECT COALESCE(SUM(CASE WHEN status = 'CREATED' THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN status IN ('DISPATCHED', 'DELIVERED') THEN 1 ELSE 0 END), 0)
			FROM shipments WHERE order_id = ? AND claim_id IS NULL`, o.ID).Scan(ctx, &packing, &travelling); err != nil {
			return "", "", nil, fmt.Errorf("order: shipments: %w", err)
		}
		if packing > 0 {
			return "", "", nil, ErrShipmentInProgress
		}
		var units int64
		if err := tx.NewRaw(`SELECT COALESCE(SUM(qty - shipped_qty), 0) FROM order_lines WHERE order_id = ?`, o.ID).Scan(ctx, &units); err != nil {
			return "", "", nil, fmt.Errorf("order: unshipped: %w", err)
		}
		data := map[string]any{"unitsClosed": units, "creditReleased": o.CreditReserved}
		if err := s.releaseHeld(ctx, tx, o, p.UserID); err != nil { // the promotions were earned: kept
			return "", "", nil, err
		}
		if travelling > 0 {
			return StatusShipped, EvRemainderClosed, data, nil // the last receipt completes it
		}
		return StatusCompleted, EvRemainderClosed, data, nil
	})
}

// notPacking refuses an action while a shipment of the order is being packed
// (CREATED): it was planned from the order as it stands and holds its units.
// Creating a shipment takes the order's row, as act does, so the read is current.
func notPacking(ctx context.Context, tx bun.IDB, id uuid.UUID) error {
	var packing bool
	if err := tx.NewRaw("SELECT EXISTS (SELECT 1 FROM shipments WHERE order_id = ? AND status = 'CREATED')", id).Scan(ctx, &packing); err != nil {
		return fmt.Errorf("order: open shipments: %w", err)
	}
	if packing {
		return ErrShipmentInProgress
	}
	return nil
}

// ReleaseCredit takes an order off credit hold: the line must cover it now,
// unless override, finance's decision to let it through anyway (audited with the reason).
func (s *Service) ReleaseCredit(ctx context.Context, p auth.Principal, id uuid.UUID, override bool, reason string) (*Order, error) {
	reason, err := checkReason(reason, true)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActReleaseCredit, reason, true, func(ctx context.Context, tx bun.Tx, o *Order) (Status, string, map[string]any, error) {
		src := credit.Source{Type: "ORDER", ID: o.ID.String(), Actor: p.UserID, Note: reason}
		out, m, err := s.ledger.Reserve(ctx, tx, o.BuyerID, o.SellerID, o.Total, src)
		if err != nil {
			return "", "", nil, err
		}
		if out == credit.Over || out == credit.Stopped {
			if !override {
				if out == credit.Stopped {
					return "", "", nil, ErrCreditStopped
				}
				return "", "", nil, ErrCreditLimitExceeded
			}
			if m, err = s.ledger.Override(ctx, tx, o.BuyerID, o.SellerID, o.Total, src); err != nil {
				return "", "", nil, err
			}
		}
		if err := outbox.Add(ctx, tx, m.Events...); err != nil {
			return "", "", nil, err
		}
		overridden := out == credit.Over || out == credit.Stopped
		if err := s.setCredit(ctx, tx, o, o.Total, out != credit.Reserved); err != nil {
			return "", "", nil, err
		}
		return StatusSubmitted, EvCreditRelease, map[string]any{"override": overridden}, nil
	})
}

func (s *Service) setCredit(ctx context.Context, tx bun.IDB, o *Order, reserved int64, warning bool) error {
	if _, err := tx.NewUpdate().Model((*Order)(nil)).Set("credit_reserved = ?, credit_warning = ?", reserved, warning).
		Where("id = ?", o.ID).Exec(ctx); err != nil {
		return fmt.Errorf("order: credit: %w", err)
	}
	o.CreditReserved, o.CreditWarning = reserved, warning
	return nil
}

// releaseAll gives back everything an open order holds: its credit, its
// stock reservations and its promotion uses.
func (s *Service) releaseAll(ctx context.Context, tx bun.IDB, o *Order, actor uuid.UUID) error {
	if err := s.releaseHeld(ctx, tx, o, actor); err != nil {
		return err
	}
	return s.pricing.GiveBack(ctx, tx, o.BuyerID, o.Promotions)
}

// releaseHeld gives back the credit and stock an order still holds.
func (s *Service) releaseHeld(ctx context.Context, tx bun.IDB, o *Order, actor uuid.UUID) error {
	if o.CreditReserved > 0 {
		m, err := s.ledger.Release(ctx, tx, o.BuyerID, o.SellerID, o.CreditReserved, credit.Source{Type: "ORDER", ID: o.ID.String(), Actor: actor})
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, m.Events...); err != nil {
			return err
		}
		if err := s.setCredit(ctx, tx, o, 0, false); err != nil {
			return err
		}
	}
	return releaseStock(ctx, tx, o.ID)
}

// releaseStock gives back the order's stock reservations, in SKU then warehouse order.
func releaseStock(ctx context.Context, tx bun.IDB, orderID uuid.UUID) error {
	var rs []Reservation
	if err := tx.NewSelect().Model(&rs).Where("r.order_id = ?", orderID).OrderExpr("r.sku_id, r.warehouse_id").Scan(ctx); err != nil {
		return fmt.Errorf("order: load reservations: %w", err)
	}
	for _, r := range rs {
		if _, err := tx.NewRaw(`UPDATE stock_levels SET reserved = reserved - ? WHERE warehouse_id = ? AND sku_id = ?`,
			r.Qty, r.WarehouseID, r.SKUID).Exec(ctx); err != nil {
			return fmt.Errorf("order: release stock: %w", err)
		}
	}
	if _, err := tx.NewDelete().Model((*Reservation)(nil)).Where("order_id = ?", orderID).Exec(ctx); err != nil {
		return fmt.Errorf("order: drop reservations: %w", err)
	}
	return nil
}

// ChangeInput is a change of an order before shipment; nil fields stay.
type ChangeInput struct {
	Lines   []LineInput
	Address *party.Address
	Note    *string
}

// Change replaces an order's lines, address or note before shipment. New
// lines are re-priced and re-checked against credit and stock as a new
// order would be; the order goes back to SUBMITTED (or CREDIT_HOLD, or
// APPROVED by the auto-approval rule) for a fresh decision.
func (s *Service) Change(ctx context.Context, p auth.Principal, id uuid.UUID, in ChangeInput) (*Order, error) {
	o, err := s.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	buyer, err := s.parties.Get(ctx, p, o.BuyerID)
	if err != nil {
		return nil, err
	}
	note := o.Note
	if in.Note != nil {
		note = *in.Note
	}
	addrIn := in.Address
	if addrIn == nil {
		addrIn = &o.DeliveryAddress
	}
	note, addr, err := checkHeader(note, addrIn, buyer)
	if err != nil {
		return nil, err
	}
	var q *quoted
	if in.Lines != nil {
		if q, err = s.quote(ctx, o.SellerID, buyer, in.Lines); err != nil {
			return nil, err
		}
	}
	whs, err := s.warehouses(ctx, o.SellerID)
	if err != nil {
		return nil, err
	}
	autoMax, err := s.autoApproveMax(ctx, o.SellerID)
	if err != nil {
		return nil, err
	}
	return s.act(ctx, p, id, ActChange, "", false, func(ctx context.Context, tx bun.Tx, o *Order) (Status, string, map[string]any, error) {
		if err := notPacking(ctx, tx, o.ID); err != nil {
			return "", "", nil, err
		}
		data := map[string]any{"totalBefore": o.Total}
		if _, err := tx.NewUpdate().Model((*Order)(nil)).Set("note = ?, delivery_address = ?", note, addr).Where("id = ?", o.ID).Exec(ctx); err != nil {
			return "", "", nil, fmt.Errorf("order: change header: %w", err)
		}
		if q == nil {
			return o.Status, EvChanged, data, nil
		}
		if err := s.releaseAll(ctx, tx, o, p.UserID); err != nil {
			return "", "", nil, err
		}
		o.setQuote(q)
		steps, evs, err := s.reserveCredit(ctx, tx, o, o.BuyerID, autoMax, p.UserID, nil)
		if err != nil {
			return "", "", nil, err
		}
		if err := outbox.Add(ctx, tx, evs...); err != nil {
			return "", "", nil, err
		}
		if err := s.pricing.Take(ctx, tx, o.BuyerID, o.Promotions); err != nil {
			if errors.Is(err, pricing.ErrPromotionUsedUp) {
				return "", "", nil, ErrPromotionChanged
			}
			return "", "", nil, err
		}
		var b batch
		b.add(tx.NewDelete().Model((*Line)(nil)).Where("order_id = ?", o.ID))
		b.add(linesInsert(tx, o.ID, q.lines))
		b.add(tx.NewUpdate().Model(o).Column("subtotal", "discount", "total", "credit_reserved", "credit_warning", "explanation", "promotions").WherePK())
		if err := b.exec(ctx, tx); err != nil {
			return "", "", nil, err
		}
		if err := s.reserveStock(ctx, txOf(tx), o.ID, whs, q.stockNeed(), nil, nil, nil); err != nil {
			return "", "", nil, q.stockErr(err)
		}
		data["totalAfter"] = o.Total
		return steps[len(steps)-1].status, EvChanged, data, nil
	})
}

// ShipLine is a quantity of one order line leaving the seller's warehouse.
type ShipLine struct {
	LineNo int
	Qty    int64
}

// ShipTx books goods leaving for the order inside the caller's transaction
// (the shipment's): the reservations of the shipped units become stock
// out of the warehouse, their share of the reserved credit becomes an open
// receivable, and the order moves to PARTIALLY_SHIPPED or SHIPPED.
func (s *Service) ShipTx(ctx context.Context, tx bun.IDB, p auth.Principal, id uuid.UUID, lines []ShipLine) (*Order, error) {
	return s.ShipFromTx(ctx, tx, p, id, nil, lines)
}

// ShipFromTx is ShipTx taking the stock from one warehouse's reservations
// only (a shipment leaves one warehouse); their shortfall there is
// ErrInsufficientStock. A nil warehouse takes from any, in warehouse order.
func (s *Service) ShipFromTx(ctx context.Context, tx bun.IDB, p auth.Principal, id uuid.UUID, warehouse *uuid.UUID, lines []ShipLine) (*Order, error) {
	o, err := s.LockTx(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	// Inside tx: on SQLite another connection would wait for this one's
	// writer lock while writers queued for the lock hold the pool.
	hq, err := s.isHQ(ctx, tx, o.SellerID)
	if err != nil {
		return nil, err
	}
	if !o.Status.Allows(ActShip) {
		return nil, ErrInvalidTransition
	}
	if !s.Can(p, o, hq, ActShip) {
		return nil, ErrNotAllowed
	}
	var ls []Line
	if err := tx.NewSelect().Model(&ls).Where("ol.order_id = ?", id).OrderExpr("ol.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: lines: %w", err)
	}
	// Stock rows are taken in SKU order, as every writer of them does.
	sku := func(no int) []byte {
		if j := slices.IndexFunc(ls, func(l Line) bool { return l.LineNo == no }); j >= 0 {
			return ls[j].SKUID[:]
		}
		return nil
	}
	at := make([]int, len(lines))
	for i := range at {
		at[i] = i
	}
	slices.SortStableFunc(at, func(a, b int) int { return bytes.Compare(sku(lines[a].LineNo), sku(lines[b].LineNo)) })
	// Checked and valued first: the credit account is written before the
	// stock levels, in the order submit, change and cancel take them, so a
	// dispatch and a cancel of the buyer's orders cannot deadlock.
	var value int64
	for _, i := range at {
		sl := lines[i]
		j := slices.IndexFunc(ls, func(l Line) bool { return l.LineNo == sl.LineNo })
		if j < 0 || sl.Qty < 1 || ls[j].ShippedQty+sl.Qty > ls[j].Qty {
			return nil, field.Err(ErrInvalidQuantity, "lines", fmt.Sprint(i), "qty")
		}
		before := ls[j].ShippedQty
		ls[j].ShippedQty += sl.Qty
		value += pricing.Share(ls[j].Net, ls[j].ShippedQty, ls[j].Qty) - pricing.Share(ls[j].Net, before, ls[j].Qty)
	}
	all := true
	for _, l := range ls {
		all = all && l.ShippedQty == l.Qty
	}
	if all || value > o.CreditReserved {
		value = o.CreditReserved // the last shipment takes what rounding left
	}
	if value > 0 {
		m, err := s.ledger.Ship(ctx, tx, o.BuyerID, o.SellerID, value, credit.Source{Type: "ORDER", ID: o.ID.String(), Actor: p.UserID})
		if err != nil {
			return nil, err
		}
		if err := outbox.Add(ctx, tx, m.Events...); err != nil {
			return nil, err
		}
		if err := s.setCredit(ctx, tx, o, o.CreditReserved-value, o.CreditWarning); err != nil {
			return nil, err
		}
	}
	for _, i := range at {
		sl := lines[i]
		sku := ls[slices.IndexFunc(ls, func(l Line) bool { return l.LineNo == sl.LineNo })].SKUID
		if _, err := tx.NewUpdate().Model((*Line)(nil)).Set("shipped_qty = shipped_qty + ?", sl.Qty).
			Where("order_id = ? AND line_no = ?", id, sl.LineNo).Exec(ctx); err != nil {
			return nil, fmt.Errorf("order: ship line: %w", err)
		}
		if err := shipStock(ctx, tx, o, warehouse, sku, sl.Qty, p.UserID); err != nil {
			if errors.Is(err, ErrInsufficientStock) {
				return nil, field.Err(err, "lines", fmt.Sprint(i), "qty")
			}
			return nil, err
		}
	}
	to := StatusPartiallyShipped
	if all {
		to = StatusShipped
	}
	return o, s.moveTx(ctx, tx, p, o, to, EvShipped, map[string]any{"value": value})
}

// shipStock takes qty units of sku out of the warehouses that hold them for the order.
func shipStock(ctx context.Context, tx bun.IDB, o *Order, warehouse *uuid.UUID, sku uuid.UUID, qty int64, actor uuid.UUID) error {
	var rs []Reservation
	q := tx.NewSelect().Model(&rs).Where("r.order_id = ? AND r.sku_id = ?", o.ID, sku).OrderExpr("r.warehouse_id")
	if warehouse != nil {
		q = q.Where("r.warehouse_id = ?", *warehouse)
	}
	if err := q.Scan(ctx); err != nil {
		return fmt.Errorf("order: load reservations: %w", err)
	}
	if warehouse != nil {
		var held int64
		for _, r := range rs {
			held += r.Qty
		}
		if held < qty {
			return ErrInsufficientStock
		}
	}
	for _, r := range rs {
		take := min(qty, r.Qty)
		if take <= 0 {
			break
		}
		if _, err := tx.NewRaw(`UPDATE stock_levels SET on_hand = on_hand - ?, reserved = reserved - ? WHERE warehouse_id = ? AND sku_id = ?`,
			take, take, r.WarehouseID, sku).Exec(ctx); err != nil {
			return fmt.Errorf("order: ship stock: %w", err)
		}
		if _, err := tx.NewRaw(`INSERT INTO stock_movements (id, warehouse_id, sku_id, delta, on_hand_after, kind, reason, source_type, source_id, actor_user_id, created_at)
			SELECT ?, warehouse_id, sku_id, ?, on_hand, 'SHIPMENT', '', 'ORDER', ?, ?, updated_at FROM stock_levels WHERE warehouse_id = ? AND sku_id = ?`,
			uuid.Must(uuid.NewV7()), -take, o.Number, actor, r.WarehouseID, sku).Exec(ctx); err != nil {
			return fmt.Errorf("order: ship movement: %w", err)
		}
		if take == r.Qty {
			_, err := tx.NewDelete().Model((*Reservation)(nil)).Where("order_id = ? AND warehouse_id = ? AND sku_id = ?", o.ID, r.WarehouseID, sku).Exec(ctx)
			if err != nil {
				return fmt.Errorf("order: drop reservation: %w", err)
			}
		} else if _, err := tx.NewUpdate().Model((*Reservation)(nil)).Set("qty = qty - ?", take).
			Where("order_id = ? AND warehouse_id = ? AND sku_id = ?", o.ID, r.WarehouseID, sku).Exec(ctx); err != nil {
			return fmt.Errorf("order: shrink reservation: %w", err)
		}
		qty -= take
	}
	return nil
}

// CompleteTx closes a shipped order once everything shipped was received or
// claimed (the receipt's transaction decides that).
func (s *Service) CompleteTx(ctx context.Context, tx bun.IDB, p auth.Principal, id uuid.UUID) (*Order, error) {
	o, err := s.LockTx(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if !o.Status.Allows(ActComplete) {
		return nil, ErrInvalidTransition
	}
	return o, s.moveTx(ctx, tx, p, o, StatusCompleted, EvCompleted, nil)
}

// moveTx sets a new status with its timeline and outbox events.
func (s *Service) moveTx(ctx context.Context, tx bun.IDB, p auth.Principal, o *Order, to Status, typ string, data map[string]any) error {
	from := o.Status
	if _, err := tx.NewUpdate().Model((*Order)(nil)).Set("status = ?, version = version + 1, updated_at = ?", to, s.Now()).
		Where("id = ?", o.ID).Exec(ctx); err != nil {
		return fmt.Errorf("order: status: %w", err)
	}
	o.Status = to
	o.Version++
	ev, oev, err := s.event(o, typ, from, to, &p.UserID, "", data)
	if err != nil {
		return err
	}
	if _, err := tx.NewInsert().Model(ev).Exec(ctx); err != nil {
		return fmt.Errorf("order: insert event: %w", err)
	}
	return outbox.Add(ctx, tx, oev)
}
