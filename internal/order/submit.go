package order

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
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
	"channelhub/internal/cart"
	"channelhub/internal/credit"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/inventory"
	"channelhub/internal/outbox"
	"channelhub/internal/party"
	"channelhub/internal/pricing"
)

// Service takes and runs orders.
type Service struct {
	db      *database.DB
	parties *party.Service
	pricing *pricing.Service
	carts   *cart.Service
	stock   *inventory.Service
	ledger  credit.Ledger
	zone    *time.Location
	Now     func() time.Time
}

// NewService returns an order Service; zone is the business time zone of document numbers.
func NewService(db *database.DB, parties *party.Service, pr *pricing.Service, carts *cart.Service, zone *time.Location) *Service {
	if zone == nil {
		zone = time.UTC
	}
	s := &Service{db: db, parties: parties, pricing: pr, carts: carts, stock: inventory.NewService(db), zone: zone,
		Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
	s.ledger = credit.Ledger{Now: func() time.Time { return s.Now() }}
	return s
}

// LineInput is one line as the buyer asks for it; the server prices it.
type LineInput struct {
	SKUID uuid.UUID `json:"skuId"`
	Qty   int64     `json:"qty"`
}

// SubmitInput is an order as submitted: the cart's lines or the given ones.
type SubmitInput struct {
	BuyerID        *uuid.UUID // a salesman's store; nil for the caller's own party
	FromCart       bool
	Lines          []LineInput
	IdempotencyKey string
	Note           string
	Address        *party.Address // nil: the buyer's own address
}

// Orderers may submit orders: the roles that keep a cart.
var Orderers = cart.Roles

// Submit prices the order, reserves credit and stock and records it, all in
// one transaction. A retry with the same key returns the first order.
func (s *Service) Submit(ctx context.Context, p auth.Principal, in SubmitInput) (*Order, error) {
	buyer, seller, supErr, err := s.carts.BuyerAndSupplier(ctx, p, in.BuyerID)
	if err != nil {
		return nil, err
	}
	note, addr, err := checkHeader(in.Note, in.Address, buyer)
	if err != nil {
		return nil, err
	}
	if in.FromCart && len(in.Lines) > 0 {
		return nil, field.Err(ErrInvalidInput, "lines")
	}
	hash, err := idempotency.Hash(map[string]any{"buyer": buyer.ID, "cart": in.FromCart, "lines": in.Lines, "note": note, "address": addr})
	if err != nil {
		return nil, err
	}
	// A retry normally finds its first result in the transaction's claim of
	// the key. Only when the work before it fails (the first submit emptied
	// the cart, took the last stock...) is the key looked up on its own, so
	// the first order still comes back.
	orReplay := func(err error) (*Order, error) {
		if o, rerr := s.replay(ctx, p, "orderSubmit", in.IdempotencyKey, hash); o != nil || rerr != nil {
			return o, rerr
		}
		return nil, err
	}
	lines := in.Lines
	if in.FromCart {
		cl, err := s.carts.Lines(ctx, p, buyer)
		if err != nil {
			return orReplay(err)
		}
		lines = make([]LineInput, len(cl))
		for i, c := range cl {
			lines[i] = LineInput{SKUID: c.SKUID, Qty: c.Qty}
		}
	}
	if errors.Is(supErr, party.ErrNoSupplier) {
		return orReplay(ErrNoSupplier)
	}
	if supErr != nil {
		return orReplay(supErr)
	}
	q, err := s.quote(ctx, seller.ID, buyer, lines)
	if err != nil {
		return orReplay(err)
	}
	now := s.Now()
	need := q.stockNeed()
	sf, err := s.sellerFacts(ctx, seller.ID, need, "SO", now)
	if err != nil {
		return orReplay(err)
	}
	whs, autoMax, plan := sf.whs, sf.autoMax, sf.plan
	o := &Order{ID: uuid.Must(uuid.NewV7()), Kind: KindSellThrough, BuyerID: buyer.ID, SellerID: seller.ID, CreatedBy: p.UserID,
		Note: note, DeliveryAddress: addr, Version: 1, SubmittedAt: now, UpdatedAt: now}
	if seller.Kind == party.KindHQ {
		o.Kind = KindSellIn
	}
	if buyer.ID != p.PartyID {
		o.SalesmanID = &p.UserID
	}
	o.setQuote(q)
	o.Number = sf.number
	var replayed bool
	err = s.retryDeadlock(ctx, func(ctx context.Context, t *txn) error {
		claim, err := idempotency.ClaimQuery(t, p.UserID, "orderSubmit", in.IdempotencyKey, hash, o.ID, now)
		if err := keyErr(err); err != nil {
			return err
		}
		res, err := t.send(ctx, claim.String())
		if err != nil {
			return fmt.Errorf("order: claim key: %w", err)
		}
		n, _ := res.RowsAffected()
		stored, replay, err := idempotency.Claimed(ctx, t, n == 1, p.UserID, "orderSubmit", in.IdempotencyKey, hash)
		if err := keyErr(err); err != nil {
			return err
		}
		if replayed = replay; replay {
			return json.Unmarshal(stored, &o.ID)
		}
		if o.Number == "" {
			if o.Number, err = s.tableNumber(ctx, t, "SO", now); err != nil {
				return err
			}
		}
		var b batch
		to, events, err := s.reserveCredit(ctx, t, o, buyer.ID, autoMax, p.UserID, b.add)
		if err != nil {
			return err
		}
		o.Status = to[len(to)-1].status
		b.add(t.NewInsert().Model(o))
		b.add(linesInsert(t, o.ID, q.lines))
		from := Status("")
		var timeline []*Event
		for _, st := range to {
			ev, oev, err := s.event(o, st.typ, from, st.status, &p.UserID, st.reason, map[string]any{"total": o.Total})
			if err != nil {
				return err
			}
			timeline = append(timeline, ev)
			events = append(events, oev)
			from = st.status
		}
		b.add(t.NewInsert().Model(&timeline))
		b.add(outbox.Insert(t, events))
		if in.FromCart {
			b.add(cart.ClearQuery(t, p, buyer.ID))
		}
		// The rows every order shares go last: stock levels, then a gift
		// promotion's pool, the single hottest row. On PostgreSQL they travel
		// with the writes above and the COMMIT in one round trip, so they are
		// held for little more than the commit itself.
		var tail []string
		if t.commits {
			tail = pricing.TakeStatements(t, buyer.ID, o.Promotions)
		}
		if err := q.stockErr(s.reserveStock(ctx, t, o.ID, whs, need, plan, &b, tail)); err != nil {
			if pricing.IsUsedUp(err) {
				return ErrPromotionChanged
			}
			return err
		}
		if t.commits {
			return nil
		}
		if err := s.pricing.Take(ctx, t, buyer.ID, o.Promotions); err != nil {
			if errors.Is(err, pricing.ErrPromotionUsedUp) {
				return ErrPromotionChanged
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.get(ctx, s.db, o.ID)
	}
	return o, nil
}

// retryDeadlock runs fn in a transaction, again (at most twice more) when
// PostgreSQL chose it as a deadlock victim: an order racing a change or a
// cancel over the same stock rows should not fail for that.
func (s *Service) retryDeadlock(ctx context.Context, fn func(ctx context.Context, t *txn) error) error {
	var err error
	for range 3 {
		if err = s.inTx(ctx, fn); !database.IsDeadlock(err) {
			return err
		}
	}
	return err
}

// txn is the transaction an order is placed in. On PostgreSQL it is an
// explicit BEGIN on one connection, sent with the first statement (which
// must go through send), and the last batch carries the COMMIT (commits), so
// no lock waits for a round trip to the server and back.
type txn struct {
	bun.IDB
	raw       func(ctx context.Context, query string) (sql.Result, error) // runs formatted statements as they are
	begin     string                                                      // "BEGIN" until sent
	commits   bool                                                        // the final batch must end with COMMIT
	committed bool
}

// send runs formatted statements, after the BEGIN when it is still due.
func (t *txn) send(ctx context.Context, query string) (sql.Result, error) {
	if t.begin != "" {
		query, t.begin = t.begin+";\n"+query, ""
	}
	return t.raw(ctx, query)
}

func (t *txn) exec(ctx context.Context, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	if _, err := t.send(ctx, strings.Join(stmts, ";\n")); err != nil {
		return fmt.Errorf("order: write: %w", err)
	}
	return nil
}

// txOf wraps a bun transaction (which commits itself) for the helpers.
func txOf(tx bun.Tx) *txn {
	return &txn{IDB: tx, raw: func(ctx context.Context, q string) (sql.Result, error) {
		return tx.Tx.ExecContext(ctx, q)
	}}
}

// inTx runs fn in a transaction: bun's on SQLite, an explicit one on
// PostgreSQL, rolled back when fn fails and committed when fn's last batch
// did not. A connection left in an unknown state is thrown away.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context, t *txn) error) error {
	if !s.db.IsPostgres() {
		return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return fn(ctx, txOf(tx)) })
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("order: connection: %w", err)
	}
	defer conn.Close()
	raw := func(ctx context.Context, q string) (sql.Result, error) { return conn.Conn.ExecContext(ctx, q) }
	t := &txn{IDB: conn, raw: raw, begin: "BEGIN", commits: true}
	err = fn(ctx, t)
	if t.begin != "" { // nothing was sent
		return err
	}
	if err == nil && !t.committed {
		if _, err = raw(ctx, "COMMIT"); err != nil {
			err = fmt.Errorf("order: commit: %w", err)
		}
	}
	if err != nil && !t.committed {
		if _, rerr := raw(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}
	return err
}

// batch is writes a transaction sends in one round trip. Statements are
// formatted by bun (values inlined and escaped), as every bun query is.
type batch struct{ stmts []string }

func (b *batch) add(q fmt.Stringer) { b.stmts = append(b.stmts, q.String()) }

func (b *batch) exec(ctx context.Context, tx bun.Tx) error { return txOf(tx).exec(ctx, b.stmts) }

// step is one transition an action makes.
type step struct {
	typ    string
	status Status
	reason string
}

// reserveCredit holds the order's total on the buyer's line and decides where
// the order lands: SUBMITTED, APPROVED by the seller's auto-approval rule, or
// CREDIT_HOLD when the line does not cover it and the policy holds. Under
// BLOCK and WARN an uncovered order is refused.
// With queue set, the ledger's writes join the caller's batch.
func (s *Service) reserveCredit(ctx context.Context, tx bun.IDB, o *Order, buyer uuid.UUID, autoMax *int64, actor uuid.UUID, queue func(fmt.Stringer)) ([]step, []*outbox.Event, error) {
	l := s.ledger
	l.Queue = queue
	out, m, err := l.Reserve(ctx, tx, buyer, o.SellerID, o.Total, credit.Source{Type: "ORDER", ID: o.ID.String(), Actor: actor})
	if err != nil {
		return nil, nil, err
	}
	steps := []step{{typ: EvSubmitted, status: StatusSubmitted}}
	switch out {
	case credit.Reserved, credit.Warned:
		o.CreditReserved = o.Total
		o.CreditWarning = out == credit.Warned
		if !o.CreditWarning && autoMax != nil && o.Total <= *autoMax {
			steps = append(steps, step{typ: EvAutoApproved, status: StatusApproved})
		}
		return steps, m.Events, nil
	case credit.Stopped:
		if m.Account.Policy != credit.PolicyHold {
			return nil, nil, ErrCreditStopped
		}
	default:
		if m.Account.Policy != credit.PolicyHold {
			return nil, nil, ErrCreditLimitExceeded
		}
	}
	o.CreditReserved = 0
	return append(steps, step{typ: EvCreditHeld, status: StatusCreditHold}), nil, nil
}

// replay answers a key already used: the first order, or ErrKeyReused for a
// different request. It reads outside the transaction, so a retry after the
// first commit costs one query; concurrent retries meet in Claim.
func (s *Service) replay(ctx context.Context, p auth.Principal, scope, key, hash string) (*Order, error) {
	var row struct {
		RequestHash string `bun:"request_hash"`
		Result      string `bun:"result"`
	}
	err := s.db.NewSelect().Table("idempotency_keys").Column("request_hash", "result").
		Where("user_id = ? AND scope = ? AND key = ?", p.UserID, scope, key).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && row.Result == "") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("order: idempotency: %w", err)
	}
	if row.RequestHash != hash {
		return nil, field.Err(ErrKeyReused, "idempotencyKey")
	}
	var id uuid.UUID
	if err := json.Unmarshal([]byte(row.Result), &id); err != nil {
		return nil, fmt.Errorf("order: idempotency result: %w", err)
	}
	return s.get(ctx, s.db, id)
}

func keyErr(err error) error {
	switch {
	case errors.Is(err, idempotency.ErrInvalidKey):
		return field.Err(ErrInvalidInput, "idempotencyKey")
	case errors.Is(err, idempotency.ErrKeyReused):
		return field.Err(ErrKeyReused, "idempotencyKey")
	}
	return err
}

// checkHeader validates the note and the delivery address (the buyer's own when nil).
func checkHeader(note string, a *party.Address, buyer *party.Party) (string, party.Address, error) {
	note = strings.TrimSpace(note)
	var errs []error
	if utf8.RuneCountInString(note) > MaxNote {
		errs = append(errs, field.Err(ErrInvalidInput, "note"))
	}
	addr := buyer.Address()
	if a != nil {
		addr = party.Address{Province: strings.TrimSpace(a.Province), City: strings.TrimSpace(a.City),
			District: strings.TrimSpace(a.District), Street: strings.TrimSpace(a.Street)}
		for _, part := range []struct {
			name  string
			value string
			max   int
		}{{"province", addr.Province, MaxAddressPart}, {"city", addr.City, MaxAddressPart}, {"district", addr.District, MaxAddressPart}, {"street", addr.Street, MaxStreet}} {
			if n := utf8.RuneCountInString(part.value); n < 1 || n > part.max {
				errs = append(errs, field.Err(ErrInvalidInput, "deliveryAddress", part.name))
			}
		}
	}
	return note, addr, errors.Join(errs...)
}

// quoted is an order's lines priced by the server.
type quoted struct {
	res   pricing.Result
	uses  []pricing.Use
	lines []Line
	index map[uuid.UUID]int // SKU → index of the caller's line (first line of the SKU)
}

// quote checks every line against the catalogue and prices them; the
// client's prices, if any, never reach here.
func (s *Service) quote(ctx context.Context, seller uuid.UUID, buyer *party.Party, in []LineInput) (*quoted, error) {
	if len(in) == 0 {
		return nil, field.Err(ErrEmpty, "lines")
	}
	if len(in) > MaxLines {
		return nil, field.Err(ErrTooManyLines, "lines")
	}
	var errs []error
	changes := make([]cart.Change, len(in))
	index := map[uuid.UUID]int{}
	for i, l := range in {
		if l.Qty < 1 || l.Qty > cart.MaxQty {
			errs = append(errs, field.Err(ErrInvalidQuantity, "lines", fmt.Sprint(i), "qty"))
		}
		if _, ok := index[l.SKUID]; !ok {
			index[l.SKUID] = i
		}
		changes[i] = cart.Change{SKUID: l.SKUID, Qty: l.Qty}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	run, err := s.pricing.RunningFor(ctx, seller, buyer)
	if err != nil {
		return nil, err
	}
	merged, refused, known, err := s.carts.Check(ctx, buyer, changes, run.GiftSKUs()...)
	if err != nil {
		return nil, err
	}
	for _, r := range refused {
		f := "skuId"
		if r.Problem == cart.BelowMinimum || r.Problem == cart.NotPackMultiple || r.Problem == cart.InvalidQuantity {
			f = "qty"
		}
		errs = append(errs, field.Err(problemErr[r.Problem], "lines", fmt.Sprint(r.Index), f))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pl := make([]pricing.LineInput, len(merged))
	for i, c := range merged {
		pl[i] = pricing.LineInput{SKUID: c.SKUID, Qty: c.Qty}
	}
	res, uses, err := s.pricing.QuoteFor(ctx, seller, buyer, pl, known, run)
	if err != nil {
		return nil, err
	}
	for _, pr := range res.Problems {
		errs = append(errs, field.Err(ErrUnknownSKU, "lines", fmt.Sprint(index[pr.SKUID]), "skuId"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	q := &quoted{res: res, uses: uses, index: index}
	for i, l := range res.Lines {
		ln := Line{LineNo: i + 1, SKUID: l.SKUID, Qty: l.Qty, UnitPrice: l.ListUnitPrice, Amount: l.Amount, Discount: l.Discount,
			Net: l.Net, Gift: l.Gift, PriceSource: l.Source.Kind, Adjustments: l.Adjustments}
		if l.Source.Kind == pricing.SourceList {
			id := l.Source.ListID
			ln.PriceListID = &id
		}
		if ln.Adjustments == nil {
			ln.Adjustments = []pricing.Adjustment{}
		}
		q.lines = append(q.lines, ln)
	}
	return q, nil
}

var problemErr = map[cart.Problem]error{
	cart.UnknownSKU:      ErrUnknownSKU,
	cart.NotAuthorised:   ErrNotAuthorised,
	cart.OffShelf:        ErrOffShelf,
	cart.BelowMinimum:    ErrBelowMinimum,
	cart.NotPackMultiple: ErrNotPackMultiple,
	cart.InvalidQuantity: ErrInvalidQuantity,
}

// setQuote locks the quote's figures onto the order.
func (o *Order) setQuote(q *quoted) {
	o.Subtotal, o.Discount, o.Total = q.res.Subtotal, q.res.Discount, q.res.Total
	o.Explanation = q.res.Explanation
	if o.Explanation == nil {
		o.Explanation = []pricing.Step{}
	}
	o.Promotions = q.uses
	if o.Promotions == nil {
		o.Promotions = []pricing.Use{}
	}
}

// stockNeed is the units of each SKU the order must hold, gifts included.
func (q *quoted) stockNeed() map[uuid.UUID]int64 {
	need := map[uuid.UUID]int64{}
	for _, l := range q.lines {
		need[l.SKUID] += l.Qty
	}
	return need
}

// stockErr names the caller's line of a SKU short of stock (gifts: the gift line).
func (q *quoted) stockErr(err error) error {
	var short *shortage
	if !errors.As(err, &short) {
		return err
	}
	if i, ok := q.index[short.sku]; ok {
		return field.Err(ErrInsufficientStock, "lines", fmt.Sprint(i), "qty")
	}
	return field.Err(ErrInsufficientStock, "gifts")
}

func linesInsert(tx bun.IDB, id uuid.UUID, lines []Line) *bun.InsertQuery {
	for i := range lines {
		lines[i].OrderID = id
	}
	return tx.NewInsert().Model(&lines)
}

// warehouses are the seller's active warehouses, highest priority first.
func (s *Service) warehouses(ctx context.Context, seller uuid.UUID) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	if err := s.db.NewSelect().Model((*inventory.Warehouse)(nil)).Column("w.id").Where("w.party_id = ? AND w.active", seller).
		OrderExpr("w.priority DESC, w.code").Scan(ctx, &ids); err != nil {
		return nil, fmt.Errorf("order: warehouses: %w", err)
	}
	return ids, nil
}

// shortage is a SKU the seller's warehouses cannot cover.
type shortage struct{ sku uuid.UUID }

func (e *shortage) Error() string { return "order: insufficient stock of " + e.sku.String() }
func (e *shortage) Unwrap() error { return ErrInsufficientStock }

// reserveStock holds need across the seller's warehouses (priority order),
// SKUs in id order. plan is the levels as committed before the transaction
// (nil: read them now). One round trip carries head (the transaction's
// other writes), a savepoint, the reservation rows, one update per level,
// tail, and the COMMIT when t commits. The stock table's CHECK
// (reserved <= on hand) refuses a plan a concurrent order made stale; then
// it plans again under lock (PostgreSQL: FOR UPDATE; SQLite's writer holds
// the lock already) and sends the rest again. A seller without warehouses
// does not track stock and reserves nothing.
func (s *Service) reserveStock(ctx context.Context, t *txn, orderID uuid.UUID, whs []uuid.UUID, need map[uuid.UUID]int64,
	plan map[[2]uuid.UUID]int64, head *batch, tail []string) error {
	if len(whs) == 0 {
		need = nil
	}
	skus := make([]uuid.UUID, 0, len(need))
	for id := range need {
		skus = append(skus, id)
	}
	slices.SortFunc(skus, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	var base []string // sent with the first attempt only
	if head != nil {
		base = head.stmts
	}
	if len(skus) > 0 {
		base = append(base, "SAVEPOINT stock")
	}
	for locked := false; ; locked = true {
		if plan == nil || locked {
			var err error
			if plan, err = s.levels(ctx, t, whs, need, locked); err != nil {
				return err
			}
		}
		stmts, err := s.allocate(t, orderID, whs, skus, need, plan)
		if err != nil {
			if locked {
				return err
			}
			continue // short on a plan read before the transaction: look again under lock
		}
		stmts = append(append(base, stmts...), tail...)
		if t.commits {
			stmts = append(stmts, "COMMIT")
		}
		err = t.exec(ctx, stmts)
		if err == nil {
			t.committed = t.commits
			return nil
		}
		if locked || len(skus) == 0 || !database.IsCheckViolation(err) {
			return err
		}
		// A stale plan: what base wrote stays, the stock part goes.
		if _, err := t.raw(ctx, "ROLLBACK TO SAVEPOINT stock"); err != nil {
			return fmt.Errorf("order: stock savepoint: %w", err)
		}
		base = nil
	}
}

// allocate turns a plan into the reservation rows and the updates of the
// levels, or names the first SKU the plan cannot cover.
func (s *Service) allocate(t *txn, orderID uuid.UUID, whs, skus []uuid.UUID, need map[uuid.UUID]int64, plan map[[2]uuid.UUID]int64) ([]string, error) {
	var stmts []string
	var res []Reservation
	for _, sku := range skus {
		left := need[sku]
		for _, w := range whs {
			take := min(left, plan[[2]uuid.UUID{w, sku}])
			if take <= 0 {
				continue
			}
			left -= take
			res = append(res, Reservation{OrderID: orderID, WarehouseID: w, SKUID: sku, Qty: take})
			stmts = append(stmts, t.NewRaw("UPDATE stock_levels SET reserved = reserved + ? WHERE warehouse_id = ? AND sku_id = ?", take, w, sku).String())
		}
		if left > 0 {
			return nil, &shortage{sku: sku}
		}
	}
	if len(res) > 0 { // before the updates: the rows they lock wait for nothing else
		stmts = append([]string{t.NewInsert().Model(&res).String()}, stmts...)
	}
	return stmts, nil
}

// levels reads what each (warehouse, SKU) can still promise, locking the
// rows when lock (PostgreSQL only: SQLite's writer holds the database).
func (s *Service) levels(ctx context.Context, db bun.IDB, whs []uuid.UUID, need map[uuid.UUID]int64, lock bool) (map[[2]uuid.UUID]int64, error) {
	if len(whs) == 0 || len(need) == 0 {
		return map[[2]uuid.UUID]int64{}, nil
	}
	skus := make([]uuid.UUID, 0, len(need))
	for id := range need {
		skus = append(skus, id)
	}
	var rows []inventory.Level
	q := db.NewSelect().Model(&rows).Column("sl.warehouse_id", "sl.sku_id", "sl.on_hand", "sl.reserved").
		Where("sl.warehouse_id IN (?) AND sl.sku_id IN (?)", bun.List(whs), bun.List(skus)).OrderExpr("sl.sku_id, sl.warehouse_id")
	if lock && s.db.IsPostgres() {
		q = q.For("UPDATE")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("order: read stock: %w", err)
	}
	out := make(map[[2]uuid.UUID]int64, len(rows))
	for _, r := range rows {
		out[[2]uuid.UUID{r.WarehouseID, r.SKUID}] = r.Available()
	}
	return out, nil
}

// sellerFacts is what an order needs of its seller besides prices, read in
// one statement before the transaction: the active warehouses (highest
// priority first), the auto-approval ceiling, what each (warehouse, SKU) of
// need can still promise as committed now, and on PostgreSQL the next
// document number of prefix ("" on SQLite: the transaction takes it).
type sellerFacts struct {
	whs     []uuid.UUID
	autoMax *int64
	plan    map[[2]uuid.UUID]int64
	number  string
}

func (s *Service) sellerFacts(ctx context.Context, seller uuid.UUID, need map[uuid.UUID]int64, prefix string, at time.Time) (*sellerFacts, error) {
	skus := make([]uuid.UUID, 0, len(need))
	for id := range need {
		skus = append(skus, id)
	}
	// One row per fact, told apart by k: 0 a warehouse, 1 a stock level, 2 the
	// approval ceiling, 3 the sequence's next value.
	b := s.db.Binds() // every order reads it: planned once per connection
	parts := []string{`WITH w AS (SELECT id, priority, code FROM warehouses WHERE party_id = ? AND active)
SELECT 0 AS k, w.id AS wh, NULL AS sku, w.priority AS n, w.code AS code FROM w`}
	args := []any{b.V(seller)}
	if len(skus) > 0 {
		parts = append(parts, `SELECT 1, sl.warehouse_id, sl.sku_id, sl.on_hand - sl.reserved, '' FROM stock_levels sl
WHERE sl.warehouse_id IN (SELECT id FROM w) AND sl.sku_id IN (?)`)
		args = append(args, b.UUIDs(skus))
	}
	parts = append(parts, `SELECT 2, NULL, NULL, auto_approve_max, '' FROM approval_rules WHERE seller_party_id = ? AND auto_approve_max IS NOT NULL`)
	args = append(args, b.V(seller))
	if s.db.IsPostgres() {
		parts = append(parts, `SELECT 3, NULL, NULL, nextval(?), ''`)
		args = append(args, "doc_seq_"+strings.ToLower(prefix))
	}
	var rows []struct {
		K    int           `bun:"k"`
		WH   uuid.NullUUID `bun:"wh"`
		SKU  uuid.NullUUID `bun:"sku"`
		N    int64         `bun:"n"`
		Code string        `bun:"code"`
	}
	if err := s.db.ScanBound(ctx, s.db.NewRaw(strings.Join(parts, "\nUNION ALL\n"), args...), b, &rows); err != nil {
		return nil, fmt.Errorf("order: seller facts: %w", err)
	}
	out := &sellerFacts{plan: map[[2]uuid.UUID]int64{}}
	type wh struct {
		id       uuid.UUID
		priority int64
		code     string
	}
	var whs []wh
	for _, r := range rows {
		switch r.K {
		case 0:
			whs = append(whs, wh{r.WH.UUID, r.N, r.Code})
		case 1:
			out.plan[[2]uuid.UUID{r.WH.UUID, r.SKU.UUID}] = r.N
		case 2:
			n := r.N
			out.autoMax = &n
		case 3:
			out.number = s.format(prefix, at, r.N)
		}
	}
	slices.SortFunc(whs, func(a, b wh) int {
		if a.priority != b.priority {
			return cmp.Compare(b.priority, a.priority)
		}
		return strings.Compare(a.code, b.code)
	})
	for _, w := range whs {
		out.whs = append(out.whs, w.id)
	}
	return out, nil
}

// autoApproveMax is the seller's auto-approval ceiling, nil when off.
func (s *Service) autoApproveMax(ctx context.Context, seller uuid.UUID) (*int64, error) {
	var max sql.NullInt64
	err := s.db.NewSelect().Table("approval_rules").Column("auto_approve_max").Where("seller_party_id = ?", seller).Scan(ctx, &max)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !max.Valid) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("order: approval rule: %w", err)
	}
	return &max.Int64, nil
}

// sequenceNumber takes the next document number of a type, e.g.
// SO-2026-000123, from a PostgreSQL sequence: outside the transaction, so
// no lock is shared by every order (an order that fails leaves a gap).
// On SQLite it answers "" and the transaction takes the number from the
// table (its writers are serial anyway).
func (s *Service) sequenceNumber(ctx context.Context, prefix string, at time.Time) (string, error) {
	if !s.db.IsPostgres() {
		return "", nil
	}
	var n int64
	if err := s.db.NewRaw("SELECT nextval(?)", "doc_seq_"+strings.ToLower(prefix)).Scan(ctx, &n); err != nil {
		return "", fmt.Errorf("order: number: %w", err)
	}
	return s.format(prefix, at, n), nil
}

func (s *Service) tableNumber(ctx context.Context, tx bun.IDB, prefix string, at time.Time) (string, error) {
	var n int64
	if err := tx.NewRaw(`INSERT INTO doc_sequences (kind, last) VALUES (?, 1)
		ON CONFLICT (kind) DO UPDATE SET last = doc_sequences.last + 1 RETURNING last`, prefix).Scan(ctx, &n); err != nil {
		return "", fmt.Errorf("order: number: %w", err)
	}
	return s.format(prefix, at, n), nil
}

// format writes a number with the business year of at.
func (s *Service) format(prefix string, at time.Time, n int64) string {
	return fmt.Sprintf("%s-%d-%06d", prefix, at.In(s.zone).Year(), n)
}

// number takes a document number inside tx.
func (s *Service) number(ctx context.Context, tx bun.IDB, prefix string, at time.Time) (string, error) {
	if n, err := s.sequenceNumber(ctx, prefix, at); n != "" || err != nil {
		return n, err
	}
	return s.tableNumber(ctx, tx, prefix, at)
}

// Topic is the outbox topic of an order's events.
func Topic(id uuid.UUID) string { return "order:" + id.String() }

// Message is the payload of an order's outbox events.
type Message struct {
	OrderID  uuid.UUID `json:"orderId"`
	Number   string    `json:"number"`
	BuyerID  uuid.UUID `json:"buyerId"`
	SellerID uuid.UUID `json:"sellerId"`
	From     Status    `json:"from,omitempty"`
	To       Status    `json:"to"`
	Event    string    `json:"event"`
	Reason   string    `json:"reason,omitempty"`
}

// event builds a timeline row and its outbox event.
func (s *Service) event(o *Order, typ string, from, to Status, actor *uuid.UUID, reason string, data map[string]any) (*Event, *outbox.Event, error) {
	now := s.Now()
	if data == nil {
		data = map[string]any{}
	}
	ev := &Event{ID: uuid.Must(uuid.NewV7()), OrderID: o.ID, Type: typ, FromStatus: from, ToStatus: to, ActorUserID: actor, Reason: reason, Data: data, CreatedAt: now}
	oev, err := outbox.New(Topic(o.ID), "Order", o.ID.String(), "order."+strings.ToLower(typ),
		Message{OrderID: o.ID, Number: o.Number, BuyerID: o.BuyerID, SellerID: o.SellerID, From: from, To: to, Event: typ, Reason: reason}, now)
	return ev, oev, err
}

// PartyTopic is the topic of every order event whose buyer lies under party
// (the party itself included): what myOrdersUpdated follows.
func PartyTopic(party uuid.UUID) string { return "orders-under:" + party.String() }
