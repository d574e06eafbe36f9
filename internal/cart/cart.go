// Package cart keeps each buyer's cart and favourites and prices the cart on
// every change, with a stable code for every line that cannot be ordered.
package cart

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/database"
	"channelhub/internal/party"
	"channelhub/internal/pricing"
)

// Roles that may keep a cart: those who may order.
var Roles = []auth.Role{auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleSalesman}

// Limits of a cart.
const (
	MaxLines      = 200 // lines in one cart
	MaxLinesOnce  = 100 // lines in one change
	MaxFavourites = 200
	MaxQty        = catalog.MaxQuantity
)

// Problem says why a line cannot be ordered as it stands.
type Problem string

const (
	UnknownSKU       Problem = "UNKNOWN_SKU"
	NotAuthorised    Problem = "SKU_NOT_AUTHORISED"
	OffShelf         Problem = "OFF_SHELF"
	BelowMinimum     Problem = "BELOW_MINIMUM"
	NotPackMultiple  Problem = "NOT_PACK_MULTIPLE"
	InvalidQuantity  Problem = "INVALID_QUANTITY"
	CartFull         Problem = "CART_FULL"
	TooManyLinesOnce Problem = "TOO_MANY_LINES"
)

// Errors of the cart service.
var (
	ErrBuyerRequired = errors.New("cart: a salesman must name the store to order for")
	ErrNotInCart     = errors.New("cart: SKU not in cart")
)

type line struct {
	bun.BaseModel `bun:"table:cart_lines,alias:cl"`

	UserID    uuid.UUID `bun:"user_id,pk"`
	PartyID   uuid.UUID `bun:"party_id,pk"`
	SKUID     uuid.UUID `bun:"sku_id,pk"`
	Qty       int64     `bun:"qty"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedAt time.Time `bun:"updated_at"`
}

// Line is one cart line as the buyer sees it; SKU is nil for an unknown SKU.
type Line struct {
	SKUID   uuid.UUID
	SKU     *catalog.SKU
	Qty     int64
	Problem Problem // "" when the line can be ordered
}

// View is a cart with its quote.
type View struct {
	Buyer *party.Party
	Lines []Line
	Quote pricing.Result
}

// LineError is a line of a change that was refused.
type LineError struct {
	Index   int
	SKUID   uuid.UUID
	Problem Problem
}

// Service keeps carts.
type Service struct {
	db      *database.DB
	parties *party.Service
	catalog *catalog.Service
	pricing *pricing.Service
	now     func() time.Time
}

// NewService returns a cart Service.
func NewService(db *database.DB, parties *party.Service, cat *catalog.Service, pr *pricing.Service) *Service {
	return &Service{db: db, parties: parties, catalog: cat, pricing: pr, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Buyer is the party the principal's cart is for: its own party, or for a
// salesman one of the stores assigned to them.
func (s *Service) Buyer(ctx context.Context, p auth.Principal, as *uuid.UUID) (*party.Party, error) {
	if err := p.Require(Roles...); err != nil {
		return nil, err
	}
	if as == nil || *as == p.PartyID {
		if !p.Has(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager) {
			return nil, ErrBuyerRequired
		}
		return s.parties.Get(ctx, p, p.PartyID)
	}
	if !p.Has(auth.RoleSalesman) {
		return nil, party.ErrNotFound
	}
	b, err := s.parties.Get(ctx, p, *as)
	if err != nil {
		return nil, err
	}
	if b.Kind != party.KindStore {
		return nil, party.ErrNotFound
	}
	return b, nil
}

// BuyerAndSupplier is Buyer and the buyer's supplier (supErr
// party.ErrNoSupplier when it has none): one read when the buyer is the
// caller's own party.
func (s *Service) BuyerAndSupplier(ctx context.Context, p auth.Principal, as *uuid.UUID) (buyer, sup *party.Party, supErr, err error) {
	if (as == nil || *as == p.PartyID) && p.Require(Roles...) == nil &&
		p.Has(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager) {
		b, sup, supErr, ok, err := s.parties.SelfAndSupplier(ctx, p)
		if err != nil || ok {
			return b, sup, supErr, err
		}
	}
	if buyer, err = s.Buyer(ctx, p, as); err != nil {
		return nil, nil, nil, err
	}
	sup, supErr = s.parties.Supplier(ctx, buyer)
	return buyer, sup, supErr, nil
}

// lookup reads the SKUs and which of them buyer may see, in one query, with
// each SKU's category path (ids, root first) for a quote that follows.
func (s *Service) lookup(ctx context.Context, buyer *party.Party, ids []uuid.UUID) (all, visible []*catalog.SKU, paths [][]uuid.UUID, err error) {
	seen, err := s.catalog.SKUsSeen(ctx, buyer, ids)
	if err != nil {
		return nil, nil, nil, err
	}
	all, visible, paths = make([]*catalog.SKU, len(ids)), make([]*catalog.SKU, len(ids)), make([][]uuid.UUID, len(ids))
	for i, k := range seen {
		all[i], paths[i] = k.SKU, k.CategoryPath
		if k.Seen {
			visible[i] = k.SKU
		}
	}
	return all, visible, paths, nil
}

// problem is why qty of SKU k (nil: unknown; seen: visible to the buyer) cannot be ordered, or "".
func problem(k *catalog.SKU, seen bool, qty int64) Problem {
	switch {
	case k == nil:
		return UnknownSKU
	case !k.OnShelf:
		return OffShelf
	case !seen:
		return NotAuthorised
	case qty <= 0 || qty > MaxQty:
		return InvalidQuantity
	case qty < int64(k.MinOrderQty):
		return BelowMinimum
	case qty%int64(k.PackSize) != 0:
		return NotPackMultiple
	}
	return ""
}

// check finds the problem of ordering qty of each SKU, if any.
func (s *Service) check(ctx context.Context, buyer *party.Party, ids []uuid.UUID, qty []int64) ([]*catalog.SKU, []Problem, error) {
	all, visible, _, err := s.lookup(ctx, buyer, ids)
	if err != nil {
		return nil, nil, err
	}
	probs := make([]Problem, len(ids))
	for i, k := range all {
		probs[i] = problem(k, visible[i] != nil, qty[i])
	}
	return all, probs, nil
}

// Get returns the cart, every line re-checked (the catalogue may have
// changed since it was added) and the orderable lines priced.
func (s *Service) Get(ctx context.Context, p auth.Principal, as *uuid.UUID) (*View, error) {
	buyer, err := s.Buyer(ctx, p, as)
	if err != nil {
		return nil, err
	}
	return s.view(ctx, p, buyer)
}

func (s *Service) view(ctx context.Context, p auth.Principal, buyer *party.Party) (*View, error) {
	var rows []line
	if err := s.db.NewSelect().Model(&rows).Where("cl.user_id = ? AND cl.party_id = ?", p.UserID, buyer.ID).
		OrderExpr("cl.created_at, cl.sku_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("cart: load: %w", err)
	}
	ids, qty := make([]uuid.UUID, len(rows)), make([]int64, len(rows))
	for i, r := range rows {
		ids[i], qty[i] = r.SKUID, r.Qty
	}
	v := &View{Buyer: buyer, Lines: make([]Line, len(rows))}
	var priced []pricing.LineInput
	if len(rows) > 0 {
		skus, probs, err := s.check(ctx, buyer, ids, qty)
		if err != nil {
			return nil, err
		}
		for i := range rows {
			v.Lines[i] = Line{SKUID: ids[i], SKU: skus[i], Qty: qty[i], Problem: probs[i]}
			if probs[i] == "" {
				priced = append(priced, pricing.LineInput{SKUID: ids[i], Qty: qty[i]})
			}
		}
	}
	q, err := s.pricing.Quote(ctx, buyer, priced)
	if err != nil {
		return nil, err
	}
	v.Quote = q
	return v, nil
}

// Change is one line of a cart change.
type Change struct {
	SKUID uuid.UUID
	Qty   int64
}

// Add adds quantities to the cart (a SKU already there grows). Lines that
// cannot be ordered are refused with their problem; the others land.
func (s *Service) Add(ctx context.Context, p auth.Principal, as *uuid.UUID, changes []Change) (*View, []LineError, error) {
	return s.change(ctx, p, as, changes, true)
}

// Set sets the quantities of SKUs already in the cart.
func (s *Service) Set(ctx context.Context, p auth.Principal, as *uuid.UUID, changes []Change) (*View, []LineError, error) {
	return s.change(ctx, p, as, changes, false)
}

func (s *Service) change(ctx context.Context, p auth.Principal, as *uuid.UUID, changes []Change, add bool) (*View, []LineError, error) {
	buyer, err := s.Buyer(ctx, p, as)
	if err != nil {
		return nil, nil, err
	}
	if len(changes) > MaxLinesOnce {
		return nil, []LineError{{Index: MaxLinesOnce, Problem: TooManyLinesOnce}}, nil
	}
	// The catalogue is read before the transaction: a transaction that waited
	// for a second connection while holding the write lock could starve the pool.
	skuIDs := make([]uuid.UUID, len(changes))
	for i, c := range changes {
		skuIDs[i] = c.SKUID
	}
	all, visible, _, err := s.lookup(ctx, buyer, skuIDs)
	if err != nil {
		return nil, nil, err
	}
	var refused []LineError
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if s.db.IsPostgres() { // one change of a user's cart at a time; SQLite's write transactions queue already
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", "cart:"+p.UserID.String()); err != nil {
				return fmt.Errorf("cart: lock: %w", err)
			}
		}
		var have []line
		if err := tx.NewSelect().Model(&have).Where("cl.user_id = ? AND cl.party_id = ?", p.UserID, buyer.ID).Scan(ctx); err != nil {
			return fmt.Errorf("cart: load: %w", err)
		}
		current := map[uuid.UUID]int64{}
		for _, h := range have {
			current[h.SKUID] = h.Qty
		}
		// Lines of one SKU in one change add up (or, when setting, the last wins):
		// each SKU is checked once, on its final quantity, and reported at its first line.
		ids, qty := make([]uuid.UUID, len(changes)), make([]int64, len(changes))
		first := map[uuid.UUID]int{}
		for i, c := range changes {
			ids[i], qty[i] = c.SKUID, c.Qty
			if c.Qty <= 0 || c.Qty > MaxQty {
				continue // the line itself is wrong, whatever the cart holds
			}
			j, seen := first[c.SKUID]
			switch {
			case !seen:
				first[c.SKUID] = i
				if add {
					qty[i] = current[c.SKUID] + c.Qty
				}
			case add:
				qty[j] += c.Qty
				qty[i] = 0 // folded into line j
			default:
				qty[j] = c.Qty
				qty[i] = 0
			}
		}
		probs := make([]Problem, len(ids))
		for i := range ids {
			probs[i] = problem(all[i], visible[i] != nil, qty[i])
		}
		now := s.now()
		for i, c := range changes {
			if j, ok := first[c.SKUID]; ok && j != i && c.Qty > 0 && c.Qty <= MaxQty {
				continue // merged into its first line
			}
			if probs[i] == "" && !add {
				if _, ok := current[c.SKUID]; !ok {
					probs[i] = UnknownSKU
				}
			}
			if _, ok := current[c.SKUID]; probs[i] == "" && !ok && len(current) >= MaxLines {
				probs[i] = CartFull
			}
			if probs[i] != "" {
				refused = append(refused, LineError{Index: i, SKUID: c.SKUID, Problem: probs[i]})
				continue
			}
			current[c.SKUID] = qty[i]
			if _, err := tx.NewInsert().Model(&line{UserID: p.UserID, PartyID: buyer.ID, SKUID: c.SKUID, Qty: qty[i], CreatedAt: now, UpdatedAt: now}).
				On("CONFLICT (user_id, party_id, sku_id) DO UPDATE").Set("qty = EXCLUDED.qty").Set("updated_at = EXCLUDED.updated_at").Exec(ctx); err != nil {
				return fmt.Errorf("cart: save line: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	v, err := s.view(ctx, p, buyer)
	return v, refused, err
}

// Remove takes SKUs out of the cart; SKUs not in it are ignored.
func (s *Service) Remove(ctx context.Context, p auth.Principal, as *uuid.UUID, skus []uuid.UUID) (*View, error) {
	buyer, err := s.Buyer(ctx, p, as)
	if err != nil {
		return nil, err
	}
	if len(skus) > MaxLines {
		skus = skus[:MaxLines]
	}
	q := s.db.NewDelete().Model((*line)(nil)).Where("user_id = ? AND party_id = ?", p.UserID, buyer.ID)
	if skus != nil {
		if len(skus) == 0 {
			return s.view(ctx, p, buyer)
		}
		q = q.Where("sku_id IN (?)", bun.List(skus))
	}
	if _, err := q.Exec(ctx); err != nil {
		return nil, fmt.Errorf("cart: remove: %w", err)
	}
	return s.view(ctx, p, buyer)
}

type favourite struct {
	bun.BaseModel `bun:"table:favourites,alias:f"`

	UserID    uuid.UUID `bun:"user_id,pk"`
	SKUID     uuid.UUID `bun:"sku_id,pk"`
	CreatedAt time.Time `bun:"created_at"`
}

// Favourites returns the user's favourite SKUs that the user's party may still see, newest first.
func (s *Service) Favourites(ctx context.Context, p auth.Principal) (*party.Party, []*catalog.SKU, error) {
	buyer, err := s.Buyer(ctx, p, nil)
	if err != nil {
		return nil, nil, err
	}
	var favs []favourite
	if err := s.db.NewSelect().Model(&favs).Where("f.user_id = ?", p.UserID).OrderExpr("f.created_at DESC").Limit(MaxFavourites).Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("cart: favourites: %w", err)
	}
	ids := make([]uuid.UUID, len(favs))
	for i, f := range favs {
		ids[i] = f.SKUID
	}
	skus, err := s.catalog.SKUs(ctx, buyer, ids)
	if err != nil {
		return nil, nil, err
	}
	return buyer, slices.DeleteFunc(skus, func(k *catalog.SKU) bool { return k == nil }), nil
}

// SetFavourite marks or unmarks a SKU the user's party may order as a favourite,
// and returns the buyer and the SKU as that buyer sees it.
func (s *Service) SetFavourite(ctx context.Context, p auth.Principal, sku uuid.UUID, on bool) (*party.Party, *catalog.SKU, error) {
	buyer, err := s.Buyer(ctx, p, nil)
	if err != nil {
		return nil, nil, err
	}
	if !on {
		_, err := s.db.NewDelete().Model((*favourite)(nil)).Where("user_id = ? AND sku_id = ?", p.UserID, sku).Exec(ctx)
		return buyer, nil, err
	}
	ks, err := s.catalog.SKUs(ctx, buyer, []uuid.UUID{sku})
	if err != nil {
		return nil, nil, err
	}
	if ks[0] == nil {
		return nil, nil, catalog.ErrNotFound
	}
	n, err := s.db.NewSelect().Model((*favourite)(nil)).Where("user_id = ?", p.UserID).Count(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("cart: count favourites: %w", err)
	}
	if n >= MaxFavourites {
		return nil, nil, ErrFavouritesFull
	}
	_, err = s.db.NewInsert().Model(&favourite{UserID: p.UserID, SKUID: sku, CreatedAt: s.now()}).On("CONFLICT DO NOTHING").Exec(ctx)
	return buyer, ks[0], err
}

// ErrFavouritesFull refuses a favourite beyond MaxFavourites.
var ErrFavouritesFull = errors.New("cart: too many favourites")

// Check merges lines of one SKU (quantities add up, reported at the first
// line) and finds the problem of each merged line, as an order would take it.
// It returns the SKUs it read, for a quote that follows, with also's
// (a quote's gift SKUs, read in the same query).
func (s *Service) Check(ctx context.Context, buyer *party.Party, changes []Change, also ...uuid.UUID) ([]Change, []LineError, pricing.Known, error) {
	first := map[uuid.UUID]int{}
	var merged []Change
	var at []int
	for i, c := range changes {
		if j, ok := first[c.SKUID]; ok {
			merged[j].Qty += c.Qty
			continue
		}
		first[c.SKUID] = len(merged)
		merged = append(merged, c)
		at = append(at, i)
	}
	ids := make([]uuid.UUID, len(merged), len(merged)+len(also))
	for i, c := range merged {
		ids[i] = c.SKUID
	}
	for _, id := range also {
		if _, ok := first[id]; !ok && !slices.Contains(ids[len(merged):], id) {
			ids = append(ids, id)
		}
	}
	all, visible, paths, err := s.lookup(ctx, buyer, ids)
	if err != nil {
		return nil, nil, pricing.Known{}, err
	}
	known := pricing.Known{All: map[uuid.UUID]*catalog.SKU{}, Visible: map[uuid.UUID]*catalog.SKU{}, Categories: map[uuid.UUID][]uuid.UUID{}}
	for i, id := range ids {
		known.All[id], known.Visible[id] = all[i], visible[i]
		if all[i] != nil && paths[i] != nil {
			known.Categories[all[i].CategoryID] = paths[i]
		}
	}
	var refused []LineError
	for i, c := range merged {
		if pr := problem(all[i], visible[i] != nil, c.Qty); pr != "" {
			refused = append(refused, LineError{Index: at[i], SKUID: c.SKUID, Problem: pr})
		}
	}
	return merged, refused, known, nil
}

// Lines returns the principal's cart for buyer as it stands, oldest line first.
func (s *Service) Lines(ctx context.Context, p auth.Principal, buyer *party.Party) ([]Change, error) {
	var rows []line
	if err := s.db.NewSelect().Model(&rows).Where("cl.user_id = ? AND cl.party_id = ?", p.UserID, buyer.ID).
		OrderExpr("cl.created_at, cl.sku_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("cart: load: %w", err)
	}
	out := make([]Change, len(rows))
	for i, r := range rows {
		out[i] = Change{SKUID: r.SKUID, Qty: r.Qty}
	}
	return out, nil
}

// ClearQuery empties the principal's cart for buyer inside the caller's
// transaction (an order took it).
func ClearQuery(tx bun.IDB, p auth.Principal, buyer uuid.UUID) *bun.DeleteQuery {
	return tx.NewDelete().Model((*line)(nil)).Where("user_id = ? AND party_id = ?", p.UserID, buyer)
}
