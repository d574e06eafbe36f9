// Package credit keeps what each buyer may spend with its supplier: cash paid
// in advance, a credit line and rebate, less open receivables and what open
// orders hold. Every change is an entry of an append-only ledger naming its
// source document, and reservations are conditional updates, so concurrent
// orders never overdraw a line.
package credit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"channelhub/internal/outbox"
)

// Policy says what happens to an order the line does not cover.
type Policy string

const (
	PolicyBlock Policy = "BLOCK" // refused with CREDIT_LIMIT_EXCEEDED
	PolicyHold  Policy = "HOLD"  // kept in CREDIT_HOLD for finance to release
	PolicyWarn  Policy = "WARN"  // accepted within the tolerance with a warning, refused beyond it
)

// Valid reports a known policy.
func (p Policy) Valid() bool { return p == PolicyBlock || p == PolicyHold || p == PolicyWarn }

// Status is the buyer's rung on the ladder.
type Status string

const (
	StatusOK    Status = "OK"
	StatusWatch Status = "WATCH" // 90 % or more of the line in use
	StatusHold  Status = "HOLD"  // over the line
	StatusStop  Status = "STOP"  // stopped by finance
)

// Fund names a ledger bucket. CASH, CREDIT and REBATE are the buyer's
// accounts; RECEIVABLE and RESERVED track what is owed and what open orders hold.
type Fund string

const (
	FundCash       Fund = "CASH"
	FundCredit     Fund = "CREDIT"
	FundRebate     Fund = "REBATE"
	FundReceivable Fund = "RECEIVABLE"
	FundReserved   Fund = "RESERVED"
)

// Entry kinds.
const (
	KindPayment     = "PAYMENT"
	KindLimitChange = "LIMIT_CHANGE"
	KindReserve     = "RESERVE"
	KindRelease     = "RELEASE"
	KindShipment    = "SHIPMENT"
	KindCreditNote  = "CREDIT_NOTE"
)

// WatchBP is the share of the line in use, in basis points, from which a buyer is WATCHed.
const WatchBP = 9000

// Account is one buyer's position with its seller.
type Account struct {
	bun.BaseModel `bun:"table:credit_accounts,alias:ca"`

	BuyerID     uuid.UUID `bun:"buyer_party_id,pk"`
	SellerID    uuid.UUID `bun:"seller_party_id,pk"`
	Cash        int64     `bun:"cash"`
	Limit       int64     `bun:"credit_limit"`
	Rebate      int64     `bun:"rebate"`
	Receivable  int64     `bun:"receivable"`
	Reserved    int64     `bun:"reserved"`
	Policy      Policy    `bun:"policy"`
	ToleranceBP int       `bun:"tolerance_bp"`
	Stopped     bool      `bun:"stopped"`
	Status      Status    `bun:"status"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

// Capacity is what the buyer may owe and hold at most: cash + limit + rebate.
func (a *Account) Capacity() int64 { return a.Cash + a.Limit + a.Rebate }

// Used is what is owed or held: open receivables + reserved.
func (a *Account) Used() int64 { return a.Receivable + a.Reserved }

// Available is what the buyer may still spend; negative after an override.
func (a *Account) Available() int64 { return a.Capacity() - a.Used() }

// UseBP is the share of the capacity in use, in basis points (10000 = all of it).
func (a *Account) UseBP() int64 {
	c, u := a.Capacity(), a.Used()
	switch {
	case u <= 0:
		return 0
	case c <= 0:
		return 10000 + 1
	}
	return u * 10000 / c
}

// Rung is the status the figures put the buyer on.
func (a *Account) Rung() Status {
	switch {
	case a.Stopped:
		return StatusStop
	case a.Used() > a.Capacity():
		return StatusHold
	case a.UseBP() >= WatchBP:
		return StatusWatch
	}
	return StatusOK
}

// Entry is one line of the ledger.
type Entry struct {
	bun.BaseModel `bun:"table:credit_entries,alias:ce"`

	ID           uuid.UUID  `bun:"id,pk"`
	BuyerID      uuid.UUID  `bun:"buyer_party_id"`
	SellerID     uuid.UUID  `bun:"seller_party_id"`
	Fund         Fund       `bun:"fund"`
	Kind         string     `bun:"kind"`
	Amount       int64      `bun:"amount"`
	BalanceAfter int64      `bun:"balance_after"`
	SourceType   string     `bun:"source_type"`
	SourceID     string     `bun:"source_id"`
	ActorUserID  *uuid.UUID `bun:"actor_user_id"`
	Note         string     `bun:"note"`
	CreatedAt    time.Time  `bun:"created_at"`
}

// Source names the document behind a ledger entry.
type Source struct {
	Type  string
	ID    string
	Actor uuid.UUID // uuid.Nil for the system
	Note  string
}

// Errors of credit.
var (
	ErrNotFound       = errors.New("credit: not found")
	ErrInvalidInput   = errors.New("credit: invalid input")
	ErrInvalidAmount  = errors.New("credit: amount must be positive")
	ErrReasonRequired = errors.New("credit: reason required")
	ErrNotManager     = errors.New("credit: the caller does not run this credit line")
	ErrSelfApproval   = errors.New("credit: a request cannot be decided by its requester")
	ErrNotPending     = errors.New("credit: request already decided")
	ErrKeyReused      = errors.New("credit: idempotency key reused for a different payment")
)

// Outcome is what a reservation came to.
type Outcome int

const (
	Reserved Outcome = iota // within the line
	Warned                  // within the tolerance only: reserved with a warning
	Over                    // not covered: nothing reserved
	Stopped                 // the buyer is stopped: nothing reserved
)

// Movement is the result of a change inside a transaction: the account after
// it and the events the caller must add to the outbox.
type Movement struct {
	Account *Account
	Events  []*outbox.Event
}

// Ledger applies changes to accounts inside a caller's transaction.
type Ledger struct {
	Now func() time.Time
	// Queue, when set, takes the writes that follow a change (the ledger
	// entry, a status move) for the caller to send in its own batch, which
	// saves a round trip while the account row is locked.
	Queue func(fmt.Stringer)
}

// load reads an account, creating the default one (no line, HOLD) if absent.
func (l Ledger) load(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID) (*Account, error) {
	a := new(Account)
	err := tx.NewSelect().Model(a).Where("ca.buyer_party_id = ? AND ca.seller_party_id = ?", buyer, seller).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		a = &Account{BuyerID: buyer, SellerID: seller, Policy: PolicyHold, Status: StatusOK, UpdatedAt: l.Now()}
		if _, err := tx.NewInsert().Model(a).On("CONFLICT DO NOTHING").Exec(ctx); err != nil {
			return nil, fmt.Errorf("credit: open account: %w", err)
		}
		err = tx.NewSelect().Model(a).Where("ca.buyer_party_id = ? AND ca.seller_party_id = ?", buyer, seller).Scan(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("credit: load account: %w", err)
	}
	return a, nil
}

// Reserve holds amount for an order when the line (and, under WARN, the
// tolerance) covers it, with one conditional update. Over and Stopped
// reserve nothing and return the account as it stands.
func (l Ledger) Reserve(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID, amount int64, src Source) (Outcome, *Movement, error) {
	if amount < 0 {
		return Over, nil, ErrInvalidAmount
	}
	a := new(Account)
	err := tx.NewRaw(`UPDATE credit_accounts SET reserved = reserved + ?, updated_at = ?
		WHERE buyer_party_id = ? AND seller_party_id = ? AND NOT stopped
		AND cash + credit_limit + rebate - receivable - reserved
			+ CASE WHEN policy = 'WARN' THEN credit_limit * tolerance_bp / 10000 ELSE 0 END >= ?
		RETURNING *`, amount, l.Now(), buyer, seller, amount).Scan(ctx, a)
	if errors.Is(err, sql.ErrNoRows) {
		if a, err = l.load(ctx, tx, buyer, seller); err != nil {
			return Over, nil, err
		}
		if a.Stopped {
			return Stopped, &Movement{Account: a}, nil
		}
		return Over, &Movement{Account: a}, nil
	}
	if err != nil {
		return Over, nil, fmt.Errorf("credit: reserve: %w", err)
	}
	m, err := l.after(ctx, tx, a, FundReserved, KindReserve, amount, a.Reserved, src)
	if err != nil {
		return Over, nil, err
	}
	if a.Available() < 0 {
		return Warned, m, nil
	}
	return Reserved, m, nil
}

// Override holds amount whatever the line says: finance's decision, audited by the caller.
func (l Ledger) Override(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID, amount int64, src Source) (*Movement, error) {
	return l.bump(ctx, tx, buyer, seller, "reserved", FundReserved, KindReserve, amount, src)
}

// Release gives back amount an order held.
func (l Ledger) Release(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID, amount int64, src Source) (*Movement, error) {
	return l.bump(ctx, tx, buyer, seller, "reserved", FundReserved, KindRelease, -amount, src)
}

// Ship turns amount an order held into an open receivable.
func (l Ledger) Ship(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID, amount int64, src Source) (*Movement, error) {
	if _, err := l.bump(ctx, tx, buyer, seller, "reserved", FundReserved, KindShipment, -amount, src); err != nil {
		return nil, err
	}
	return l.bump(ctx, tx, buyer, seller, "receivable", FundReceivable, KindShipment, amount, src)
}

// Pay books money from the buyer into its CASH account.
func (l Ledger) Pay(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID, amount int64, src Source) (*Movement, error) {
	if amount <= 0 {
		return nil, ErrInvalidAmount
	}
	return l.bump(ctx, tx, buyer, seller, "cash", FundCash, KindPayment, amount, src)
}

// CreditNote books money owed back to the buyer (a return) into its CASH account.
func (l Ledger) CreditNote(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID, amount int64, src Source) (*Movement, error) {
	if amount <= 0 {
		return nil, ErrInvalidAmount
	}
	return l.bump(ctx, tx, buyer, seller, "cash", FundCash, KindCreditNote, amount, src)
}

// SetLimit sets the credit line to limit.
func (l Ledger) SetLimit(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID, limit int64, src Source) (*Movement, error) {
	if _, err := l.load(ctx, tx, buyer, seller); err != nil { // opens the account when new
		return nil, err
	}
	// The change is a difference from the limit as it stands: read it under
	// the row's lock, or two approvals at once would add up (SQLite's writer
	// holds the database already).
	a := new(Account)
	q := tx.NewSelect().Model(a).Where("ca.buyer_party_id = ? AND ca.seller_party_id = ?", buyer, seller)
	if tx.Dialect().Name() == dialect.PG {
		q = q.For("NO KEY UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("credit: lock account: %w", err)
	}
	return l.bump(ctx, tx, buyer, seller, "credit_limit", FundCredit, KindLimitChange, limit-a.Limit, src)
}

// columns that bump may change; a fixed set, never client input.
var bumpable = map[string]bool{"reserved": true, "receivable": true, "cash": true, "credit_limit": true}

// bump adds delta to one column and writes the entry. The table's CHECK keeps
// every bucket at zero or above, so a bad delta fails instead of going negative.
func (l Ledger) bump(ctx context.Context, tx bun.IDB, buyer, seller uuid.UUID, col string, fund Fund, kind string, delta int64, src Source) (*Movement, error) {
	if !bumpable[col] {
		return nil, fmt.Errorf("credit: unknown column %q", col)
	}
	a := new(Account)
	update := func() error {
		return tx.NewRaw(`UPDATE credit_accounts SET ? = ? + ?, updated_at = ? WHERE buyer_party_id = ? AND seller_party_id = ? RETURNING *`,
			bun.Ident(col), bun.Ident(col), delta, l.Now(), buyer, seller).Scan(ctx, a)
	}
	err := update()
	if errors.Is(err, sql.ErrNoRows) { // no account yet: open it and try again
		if _, err = l.load(ctx, tx, buyer, seller); err == nil {
			err = update()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("credit: update %s: %w", col, err)
	}
	bal := map[string]int64{"reserved": a.Reserved, "receivable": a.Receivable, "cash": a.Cash, "credit_limit": a.Limit}[col]
	return l.after(ctx, tx, a, fund, kind, delta, bal, src)
}

// after writes the ledger entry of a change, moves the status ladder when the
// figures say so, and returns the events of the change.
func (l Ledger) after(ctx context.Context, tx bun.IDB, a *Account, fund Fund, kind string, amount, balance int64, src Source) (*Movement, error) {
	now := l.Now()
	e := &Entry{ID: uuid.Must(uuid.NewV7()), BuyerID: a.BuyerID, SellerID: a.SellerID, Fund: fund, Kind: kind, Amount: amount,
		BalanceAfter: balance, SourceType: src.Type, SourceID: src.ID, Note: src.Note, CreatedAt: now}
	if src.Actor != uuid.Nil {
		e.ActorUserID = &src.Actor
	}
	if err := l.write(ctx, tx.NewInsert().Model(e)); err != nil {
		return nil, fmt.Errorf("credit: ledger: %w", err)
	}
	m := &Movement{Account: a}
	before := a.Status
	if rung := a.Rung(); rung != before {
		if err := l.write(ctx, tx.NewUpdate().Model((*Account)(nil)).Set("status = ?", rung).
			Where("buyer_party_id = ? AND seller_party_id = ?", a.BuyerID, a.SellerID)); err != nil {
			return nil, fmt.Errorf("credit: status: %w", err)
		}
		a.Status = rung
		ev, err := outbox.New(Topic(a.BuyerID), "CreditAccount", a.BuyerID.String()+"/"+a.SellerID.String(), EventStatusChanged,
			StatusChange{BuyerID: a.BuyerID, SellerID: a.SellerID, From: before, To: rung}, now)
		if err != nil {
			return nil, err
		}
		m.Events = append(m.Events, ev)
	}
	was := *a
	switch fund {
	case FundReserved:
		was.Reserved -= amount
	case FundReceivable:
		was.Receivable -= amount
	case FundCash:
		was.Cash -= amount
	case FundCredit:
		was.Limit -= amount
	}
	ev, err := outbox.New(Topic(a.BuyerID), "CreditAccount", a.BuyerID.String()+"/"+a.SellerID.String(), EventUpdated,
		Change{BuyerID: a.BuyerID, SellerID: a.SellerID, Fund: fund, Kind: kind, Amount: amount, Available: a.Available(), UseBP: a.UseBP(),
			UseBPWas: was.UseBP(), SourceType: src.Type, SourceID: src.ID}, now)
	if err != nil {
		return nil, err
	}
	m.Events = append(m.Events, ev)
	return m, nil
}

// write runs q now, or queues it when the caller batches.
func (l Ledger) write(ctx context.Context, q interface {
	fmt.Stringer
	Exec(context.Context, ...any) (sql.Result, error)
}) error {
	if l.Queue != nil {
		l.Queue(q)
		return nil
	}
	_, err := q.Exec(ctx)
	return err
}

// Event types of credit.
const (
	EventUpdated       = "credit.updated"
	EventStatusChanged = "credit.status_changed"
	EventLimitChanged  = "credit.limit_changed"
)

// Topic is the outbox topic of a buyer's credit events.
func Topic(buyer uuid.UUID) string { return "credit:" + buyer.String() }

// Change is the payload of credit.updated: what moved and where the line stands.
type Change struct {
	BuyerID    uuid.UUID `json:"buyerId"`
	SellerID   uuid.UUID `json:"sellerId"`
	Fund       Fund      `json:"fund"`
	Kind       string    `json:"kind"`
	Amount     int64     `json:"amount"`
	Available  int64     `json:"available"`
	UseBP      int64     `json:"useBp"`
	UseBPWas   int64     `json:"useBpWas"` // before the change, to spot a threshold crossed
	SourceType string    `json:"sourceType"`
	SourceID   string    `json:"sourceId"`
}

// StatusChange is the payload of credit.status_changed.
type StatusChange struct {
	BuyerID  uuid.UUID `json:"buyerId"`
	SellerID uuid.UUID `json:"sellerId"`
	From     Status    `json:"from"`
	To       Status    `json:"to"`
}
