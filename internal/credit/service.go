package credit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/outbox"
	"channelhub/internal/page"
	"channelhub/internal/party"
)

// Managers run a seller's credit lines: HQ's finance and admins for HQ's
// buyers, a distributor's admin for the parties it supplies.
var Managers = []auth.Role{auth.RoleHQAdmin, auth.RoleFinance, auth.RoleDistributorAdmin}

// Limits of credit input.
const (
	MaxAmount    = 1_000_000_000_000 // 10 billion yuan in fen
	MaxTolerance = 5000              // 50 %
	MaxReason    = 500
)

// Service runs credit lines for people: summaries, the ledger and finance's actions.
type Service struct {
	db      *database.DB
	parties *party.Service
	Ledger  Ledger
}

// NewService returns a credit Service.
func NewService(db *database.DB, parties *party.Service) *Service {
	return &Service{db: db, parties: parties, Ledger: Ledger{Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}}
}

// Line is a buyer's account with the parties on both sides.
type Line struct {
	Account *Account
	Buyer   *party.Party
	Seller  *party.Party
}

// Summary returns the credit line of buyer (the caller's own party when nil)
// with its supplier, for anyone whose scope covers the buyer.
func (s *Service) Summary(ctx context.Context, p auth.Principal, buyer *uuid.UUID) (*Line, error) {
	id := p.PartyID
	if buyer != nil {
		id = *buyer
	}
	b, err := s.parties.Get(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if len(p.Roles) == 1 && p.Has(auth.RoleSalesman) && b.ID == p.PartyID {
		return nil, party.ErrNotFound // a salesman sees its stores' lines, not its employer's
	}
	sup, err := s.parties.Supplier(ctx, b)
	if errors.Is(err, party.ErrNoSupplier) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	a := new(Account)
	err = s.db.NewSelect().Model(a).Where("ca.buyer_party_id = ? AND ca.seller_party_id = ?", b.ID, sup.ID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		a = &Account{BuyerID: b.ID, SellerID: sup.ID, Policy: PolicyHold, Status: StatusOK}
	} else if err != nil {
		return nil, fmt.Errorf("credit: summary: %w", err)
	}
	return &Line{Account: a, Buyer: b, Seller: sup}, nil
}

// Entries returns a page of the line's ledger, newest first.
func (s *Service) Entries(ctx context.Context, a *Account, pr page.Request) ([]*Entry, bool, error) {
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := page.Decode(pr.After, 1)
	if err != nil {
		return nil, false, err
	}
	var rows []*Entry
	q := s.db.NewSelect().Model(&rows).Where("ce.buyer_party_id = ? AND ce.seller_party_id = ?", a.BuyerID, a.SellerID).
		OrderExpr("ce.id DESC").Limit(int64(size + 1))
	if key != nil {
		id, err := uuid.Parse(key[0])
		if err != nil {
			return nil, false, page.ErrInvalid
		}
		q = q.Where("ce.id < ?", id)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("credit: entries: %w", err)
	}
	if len(rows) > size {
		return rows[:size], true, nil
	}
	return rows, false, nil
}

// Cursor is the entry's position in the ledger.
func (e *Entry) Cursor() string { return page.Cursor(e.ID.String()) }

// managed loads a line the caller runs: its buyer in scope and its seller
// the caller's party (HQ's for HQ roles).
func (s *Service) managed(ctx context.Context, p auth.Principal, buyerID uuid.UUID) (*Line, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	l, err := s.Summary(ctx, p, &buyerID)
	if err != nil {
		return nil, err
	}
	if !s.CanManage(p, l) {
		return nil, ErrNotManager
	}
	return l, nil
}

func checkReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < 1 || n > MaxReason {
		return "", field.Err(ErrReasonRequired, "reason")
	}
	return reason, nil
}

// Payment is money received from a buyer.
type Payment struct {
	BuyerID        uuid.UUID
	Amount         int64
	Reference      string
	IdempotencyKey string
}

// RecordPayment books a payment into the buyer's CASH account, once per key.
func (s *Service) RecordPayment(ctx context.Context, p auth.Principal, in Payment) (*Line, error) {
	l, err := s.managed(ctx, p, in.BuyerID)
	if err != nil {
		return nil, err
	}
	in.Reference = strings.TrimSpace(in.Reference)
	var errs []error
	if in.Amount <= 0 || in.Amount > MaxAmount {
		errs = append(errs, field.Err(ErrInvalidAmount, "amount"))
	}
	if n := utf8.RuneCountInString(in.Reference); n < 1 || n > 100 {
		errs = append(errs, field.Err(ErrInvalidInput, "reference"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	hash, err := idempotency.Hash(in)
	if err != nil {
		return nil, err
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, replay, err := idempotency.Claim(ctx, tx, p.UserID, "creditPayment", in.IdempotencyKey, hash, s.Ledger.Now())
		switch {
		case errors.Is(err, idempotency.ErrInvalidKey):
			return field.Err(ErrInvalidInput, "idempotencyKey")
		case errors.Is(err, idempotency.ErrKeyReused):
			return field.Err(ErrKeyReused, "idempotencyKey")
		case err != nil:
			return err
		case replay:
			return nil
		}
		m, err := s.Ledger.Pay(ctx, tx, l.Buyer.ID, l.Seller.ID, in.Amount, Source{Type: "PAYMENT", ID: in.Reference, Actor: p.UserID})
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, m.Events...); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, p, "credit.payment", "CreditAccount", l.Buyer.ID.String(), nil,
			map[string]any{"amount": in.Amount, "reference": in.Reference}, ""); err != nil {
			return err
		}
		return idempotency.Complete(ctx, tx, p.UserID, "creditPayment", in.IdempotencyKey, true)
	})
	if err != nil {
		return nil, err
	}
	return s.Summary(ctx, p, &in.BuyerID)
}

// Policy sets how the line treats orders it does not cover, with a tolerance
// in basis points of the limit.
func (s *Service) SetPolicy(ctx context.Context, p auth.Principal, buyerID uuid.UUID, policy Policy, toleranceBP int, reason string) (*Line, error) {
	l, err := s.managed(ctx, p, buyerID)
	if err != nil {
		return nil, err
	}
	var errs []error
	if !policy.Valid() {
		errs = append(errs, field.Err(ErrInvalidInput, "policy"))
	}
	if toleranceBP < 0 || toleranceBP > MaxTolerance {
		errs = append(errs, field.Err(ErrInvalidInput, "tolerancePercent"))
	}
	reason, rerr := checkReason(reason)
	if err := errors.Join(append(errs, rerr)...); err != nil {
		return nil, err
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		a, err := s.Ledger.load(ctx, tx, l.Buyer.ID, l.Seller.ID)
		if err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model((*Account)(nil)).Set("policy = ?, tolerance_bp = ?, updated_at = ?", policy, toleranceBP, s.Ledger.Now()).
			Where("buyer_party_id = ? AND seller_party_id = ?", a.BuyerID, a.SellerID).Exec(ctx); err != nil {
			return fmt.Errorf("credit: set policy: %w", err)
		}
		return audit.Record(ctx, tx, p, "credit.policy", "CreditAccount", a.BuyerID.String(),
			map[string]any{"policy": a.Policy, "toleranceBp": a.ToleranceBP}, map[string]any{"policy": policy, "toleranceBp": toleranceBP}, reason)
	})
	if err != nil {
		return nil, err
	}
	return s.Summary(ctx, p, &buyerID)
}

// SetStop puts the buyer on STOP (no order is accepted on the line) or takes it off.
func (s *Service) SetStop(ctx context.Context, p auth.Principal, buyerID uuid.UUID, stop bool, reason string) (*Line, error) {
	l, err := s.managed(ctx, p, buyerID)
	if err != nil {
		return nil, err
	}
	if reason, err = checkReason(reason); err != nil {
		return nil, err
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		a, err := s.Ledger.load(ctx, tx, l.Buyer.ID, l.Seller.ID)
		if err != nil {
			return err
		}
		before := a.Status
		a.Stopped = stop
		rung := a.Rung()
		if _, err := tx.NewUpdate().Model((*Account)(nil)).Set("stopped = ?, status = ?, updated_at = ?", stop, rung, s.Ledger.Now()).
			Where("buyer_party_id = ? AND seller_party_id = ?", a.BuyerID, a.SellerID).Exec(ctx); err != nil {
			return fmt.Errorf("credit: stop: %w", err)
		}
		if rung != before {
			ev, err := outbox.New(Topic(a.BuyerID), "CreditAccount", a.BuyerID.String()+"/"+a.SellerID.String(), EventStatusChanged,
				StatusChange{BuyerID: a.BuyerID, SellerID: a.SellerID, From: before, To: rung}, s.Ledger.Now())
			if err != nil {
				return err
			}
			if err := outbox.Add(ctx, tx, ev); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, p, "credit.stop", "CreditAccount", a.BuyerID.String(), map[string]any{"status": before}, map[string]any{"status": rung}, reason)
	})
	if err != nil {
		return nil, err
	}
	return s.Summary(ctx, p, &buyerID)
}

// LimitRequest asks for a new credit limit; another manager decides it.
type LimitRequest struct {
	bun.BaseModel `bun:"table:credit_limit_requests,alias:clr"`

	ID             uuid.UUID  `bun:"id,pk"`
	BuyerID        uuid.UUID  `bun:"buyer_party_id"`
	SellerID       uuid.UUID  `bun:"seller_party_id"`
	OldLimit       int64      `bun:"old_limit"`
	NewLimit       int64      `bun:"new_limit"`
	Reason         string     `bun:"reason"`
	Status         string     `bun:"status"` // PENDING, APPROVED, REJECTED
	RequestedBy    uuid.UUID  `bun:"requested_by"`
	DecidedBy      *uuid.UUID `bun:"decided_by"`
	DecisionReason string     `bun:"decision_reason"`
	CreatedAt      time.Time  `bun:"created_at"`
	DecidedAt      *time.Time `bun:"decided_at"`
}

// Request states.
const (
	RequestPending  = "PENDING"
	RequestApproved = "APPROVED"
	RequestRejected = "REJECTED"
)

// RequestLimit files a change of the buyer's credit limit for another manager to decide.
// With a key, a retry returns the first request instead of filing a second.
func (s *Service) RequestLimit(ctx context.Context, p auth.Principal, buyerID uuid.UUID, newLimit int64, reason, key string) (*LimitRequest, error) {
	l, err := s.managed(ctx, p, buyerID)
	if err != nil {
		return nil, err
	}
	var errs []error
	if newLimit < 0 || newLimit > MaxAmount {
		errs = append(errs, field.Err(ErrInvalidAmount, "newLimit"))
	}
	reason, rerr := checkReason(reason)
	if err := errors.Join(append(errs, rerr)...); err != nil {
		return nil, err
	}
	r := &LimitRequest{ID: uuid.Must(uuid.NewV7()), BuyerID: l.Buyer.ID, SellerID: l.Seller.ID, NewLimit: newLimit, Reason: reason,
		Status: RequestPending, RequestedBy: p.UserID, CreatedAt: s.Ledger.Now()}
	hash, err := idempotency.Hash(map[string]any{"buyer": l.Buyer.ID, "limit": newLimit, "reason": reason})
	if err != nil {
		return nil, err
	}
	var replayed bool
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if key != "" {
			stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "creditLimitRequest", key, hash, r.CreatedAt)
			switch {
			case errors.Is(err, idempotency.ErrInvalidKey):
				return field.Err(ErrInvalidInput, "idempotencyKey")
			case errors.Is(err, idempotency.ErrKeyReused):
				return field.Err(ErrKeyReused, "idempotencyKey")
			case err != nil:
				return err
			}
			if replayed = replay; replay {
				return json.Unmarshal(stored, &r.ID)
			}
			if err := idempotency.Complete(ctx, tx, p.UserID, "creditLimitRequest", key, r.ID); err != nil {
				return err
			}
		}
		a, err := s.Ledger.load(ctx, tx, l.Buyer.ID, l.Seller.ID)
		if err != nil {
			return err
		}
		r.OldLimit = a.Limit
		if _, err := tx.NewInsert().Model(r).Exec(ctx); err != nil {
			return fmt.Errorf("credit: file request: %w", err)
		}
		return audit.Record(ctx, tx, p, "credit.limit.request", "CreditLimitRequest", r.ID.String(), nil, r, reason)
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.Request(ctx, p, r.ID)
	}
	return r, nil
}

// Request returns a limit request the caller may decide or follow.
func (s *Service) Request(ctx context.Context, p auth.Principal, id uuid.UUID) (*LimitRequest, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	r := new(LimitRequest)
	err := s.db.NewSelect().Model(r).Where("clr.id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("credit: load request: %w", err)
	}
	if _, err := s.managed(ctx, p, r.BuyerID); err != nil {
		if errors.Is(err, party.ErrNotFound) || errors.Is(err, ErrNotManager) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	return r, nil
}

// PendingRequests lists the open limit requests of the caller's seller, oldest first (at most 100).
func (s *Service) PendingRequests(ctx context.Context, p auth.Principal) ([]*LimitRequest, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	var out []*LimitRequest
	q := s.db.NewSelect().Model(&out).Where("clr.status = ?", RequestPending).OrderExpr("clr.created_at, clr.id").Limit(100)
	if p.Has(auth.RoleHQAdmin, auth.RoleFinance) {
		q = q.Where("clr.seller_party_id IN (SELECT id FROM parties WHERE kind = 'HQ')")
	} else {
		q = q.Where("clr.seller_party_id = ?", p.PartyID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("credit: pending requests: %w", err)
	}
	return out, nil
}

// DecideLimit approves (setting the new limit) or rejects a request. Its
// requester may not decide it.
func (s *Service) DecideLimit(ctx context.Context, p auth.Principal, id uuid.UUID, approve bool, reason string) (*LimitRequest, error) {
	r, err := s.Request(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if reason, err = checkReason(reason); err != nil {
		return nil, err
	}
	if r.RequestedBy == p.UserID {
		return nil, ErrSelfApproval
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		status := RequestRejected
		if approve {
			status = RequestApproved
		}
		now := s.Ledger.Now()
		res, err := tx.NewUpdate().Model((*LimitRequest)(nil)).Set("status = ?, decided_by = ?, decision_reason = ?, decided_at = ?", status, p.UserID, reason, now).
			Where("id = ? AND status = ?", r.ID, RequestPending).Exec(ctx)
		if err != nil {
			return fmt.Errorf("credit: decide: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrNotPending
		}
		r.Status, r.DecidedBy, r.DecisionReason, r.DecidedAt = status, &p.UserID, reason, &now
		if approve {
			m, err := s.Ledger.SetLimit(ctx, tx, r.BuyerID, r.SellerID, r.NewLimit, Source{Type: "CREDIT_LIMIT_REQUEST", ID: r.ID.String(), Actor: p.UserID, Note: reason})
			if err != nil {
				return err
			}
			ev, err := outbox.New(Topic(r.BuyerID), "CreditAccount", r.BuyerID.String()+"/"+r.SellerID.String(), EventLimitChanged,
				map[string]any{"buyerId": r.BuyerID, "sellerId": r.SellerID, "oldLimit": r.OldLimit, "newLimit": r.NewLimit}, now)
			if err != nil {
				return err
			}
			if err := outbox.Add(ctx, tx, append(m.Events, ev)...); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx, p, "credit.limit."+strings.ToLower(status), "CreditLimitRequest", r.ID.String(),
			map[string]any{"limit": r.OldLimit}, map[string]any{"limit": r.NewLimit, "status": status}, reason)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// CanManage reports whether p runs the line (see managed), without a query.
func (s *Service) CanManage(p auth.Principal, l *Line) bool {
	switch {
	case p.Has(auth.RoleHQAdmin, auth.RoleFinance) && l.Seller.Kind == party.KindHQ:
		return true
	case p.Has(auth.RoleDistributorAdmin) && l.Seller.ID == p.PartyID:
		return true
	}
	return false
}
