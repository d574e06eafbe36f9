package order

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/credit"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/outbox"
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
}

// ReturnInput asks to send goods back.
type ReturnInput struct {
	OrderID        uuid.UUID
	Lines          []ShipLine // order line numbers and quantities
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
			taken[l.LineNo] += in.Qty
			if in.Qty < 1 || l.ReturnedQty+taken[l.LineNo] > l.ReceivedQty {
				return field.Err(ErrReturnTooMuch, "lines", fmt.Sprint(i), "qty")
			}
			amount := l.Net * in.Qty / l.Qty
			r.Amount += amount
			lines = append(lines, ReturnLine{ReturnID: r.ID, LineNo: i + 1, OrderLineNo: l.LineNo, SKUID: l.SKUID, Qty: in.Qty, Amount: amount})
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

// ReturnLines lists a return's lines.
func (s *Service) ReturnLines(ctx context.Context, id uuid.UUID) ([]ReturnLine, error) {
	var rows []ReturnLine
	if err := s.db.NewSelect().Model(&rows).Where("rl.return_id = ?", id).OrderExpr("rl.line_no").Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: return lines: %w", err)
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
	hq, err := s.isHQ(ctx, o.SellerID)
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

// ReceiveReturn books the returned goods into the seller's first warehouse,
// marks the order lines returned, and writes the credit note into the buyer's account.
func (s *Service) ReceiveReturn(ctx context.Context, p auth.Principal, id uuid.UUID) (*Return, error) {
	return s.decideReturn(ctx, p, id, ReturnApproved, ReturnReceived, Shippers, "", func(ctx context.Context, tx bun.Tx, r *Return, o *Order) error {
		lines, err := s.ReturnLines(ctx, r.ID)
		if err != nil {
			return err
		}
		whs, err := s.warehouses(ctx, o.SellerID)
		if err != nil {
			return err
		}
		now := s.Now()
		for _, l := range lines {
			res, err := tx.NewUpdate().Model((*Line)(nil)).Set("returned_qty = returned_qty + ?", l.Qty).
				Where("order_id = ? AND line_no = ? AND returned_qty + ? <= received_qty", o.ID, l.OrderLineNo, l.Qty).Exec(ctx)
			if err != nil {
				return fmt.Errorf("order: return line: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return ErrReturnTooMuch
			}
			if len(whs) == 0 {
				continue // the seller does not track stock
			}
			if _, err := tx.NewRaw(`INSERT INTO stock_levels (warehouse_id, sku_id, on_hand, reserved, updated_at) VALUES (?, ?, ?, 0, ?)
				ON CONFLICT (warehouse_id, sku_id) DO UPDATE SET on_hand = stock_levels.on_hand + excluded.on_hand, updated_at = excluded.updated_at`,
				whs[0], l.SKUID, l.Qty, now).Exec(ctx); err != nil {
				return fmt.Errorf("order: return stock: %w", err)
			}
			if _, err := tx.NewRaw(`INSERT INTO stock_movements (id, warehouse_id, sku_id, delta, on_hand_after, kind, reason, source_type, source_id, actor_user_id, created_at)
				SELECT ?, warehouse_id, sku_id, ?, on_hand, 'RETURN', '', 'RETURN', ?, ?, ? FROM stock_levels WHERE warehouse_id = ? AND sku_id = ?`,
				uuid.Must(uuid.NewV7()), l.Qty, r.Number, p.UserID, now, whs[0], l.SKUID).Exec(ctx); err != nil {
				return fmt.Errorf("order: return movement: %w", err)
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
