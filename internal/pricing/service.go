package pricing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/database"
	"channelhub/internal/epoch"
	"channelhub/internal/party"
)

// Service keeps price lists and promotions and prices SKUs and carts with them.
type Service struct {
	db      *database.DB
	catalog *catalog.Service
	parties *party.Service
	Now     func() time.Time
}

// NewService returns a pricing Service.
func NewService(db *database.DB, cat *catalog.Service, parties *party.Service) *Service {
	return &Service{db: db, catalog: cat, parties: parties, Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Service errors besides the rule errors of quote.go.
var (
	ErrNotFound             = errors.New("pricing: not found")
	ErrInvalidInput         = errors.New("pricing: invalid input")
	ErrOverlappingExclusive = errors.New("pricing: overlaps another promotion of its exclusive group")
	ErrSKUNotFound          = errors.New("pricing: SKU not found")
)

// Sellers may keep price lists and promotions: HQ's managers for HQ, a
// distributor's admin for the stores and sub-distributors it supplies.
var Sellers = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleDistributorAdmin}

// buyerOf is the engine's view of a party.
func buyerOf(b *party.Party) Buyer {
	return Buyer{PartyID: b.ID, ChannelType: string(b.ChannelType), Grade: b.Grade, Region: b.Region}
}

// Seller is who sells to buyer (see party.Service.Supplier).
func (s *Service) Seller(ctx context.Context, buyer *party.Party) (uuid.UUID, error) {
	sup, err := s.parties.Supplier(ctx, buyer)
	if errors.Is(err, party.ErrNoSupplier) {
		return uuid.Nil, ErrNotFound
	}
	if err != nil {
		return uuid.Nil, err
	}
	return sup.ID, nil
}

// targetSQL is the condition "the row's target covers buyer" (alias a).
func targetSQL(a string, b *party.Party) (string, []any) {
	t := bun.Safe(a)
	return "(?.target_kind = 'ALL' OR (?.target_kind = 'CHANNEL_TYPE' AND ?.target_value = ?) OR " +
			"(?.target_kind = 'GRADE' AND ?.target_value = ?) OR (?.target_kind = 'REGION' AND ?.target_value = ?) OR " +
			"(?.target_kind = 'PARTY' AND ?.target_value = ?))",
		[]any{t, t, t, string(b.ChannelType), t, t, b.Grade, t, t, b.Region, t, t, b.ID.String()}
}

// listRow is a price list with one of its prices (none: NULLs).
type listRow struct {
	PriceListRecord `bun:",extend"`
	ItemSKU         uuid.NullUUID `bun:"item_sku_id"`
	ItemPrice       sql.NullInt64 `bun:"item_price"`
}

// lists loads the seller's price lists that target buyer, with their prices
// for skus: one query, each list joined to its prices of skus.
func (s *Service) lists(ctx context.Context, seller uuid.UUID, buyer *party.Party, skus []uuid.UUID) ([]PriceList, error) {
	if len(skus) == 0 {
		return nil, nil
	}
	cond, args := targetSQL("pl", buyer)
	var rows []*listRow
	now := s.Now()
	// Only lists valid now: expired ones are history and future ones are plans a buyer must not see.
	b := s.db.Binds() // every order reads it: planned once per connection
	q := s.db.NewSelect().Model(&rows).ColumnExpr("pl.*").ColumnExpr("pli.sku_id AS item_sku_id, pli.price AS item_price").
		Join("LEFT JOIN price_list_items AS pli ON pli.price_list_id = pl.id AND pli.sku_id IN (?)", b.UUIDs(skus)).
		Where("pl.seller_party_id = ?", b.V(seller)).Where(cond, b.Vs(args)...).
		Where("(pl.valid_from IS NULL OR pl.valid_from <= ?) AND (pl.valid_to IS NULL OR pl.valid_to > ?)", b.V(now), b.V(now)).
		OrderExpr("pl.id")
	if err := s.db.ScanBound(ctx, q, b); err != nil {
		return nil, fmt.Errorf("pricing: load price lists: %w", err)
	}
	var recs []*PriceListRecord
	prices := map[uuid.UUID]map[uuid.UUID]int64{}
	for _, r := range rows {
		if len(recs) == 0 || recs[len(recs)-1].ID != r.ID {
			rec := r.PriceListRecord
			recs = append(recs, &rec)
		}
		if r.ItemSKU.Valid && r.ItemPrice.Valid {
			if prices[r.ID] == nil {
				prices[r.ID] = map[uuid.UUID]int64{}
			}
			prices[r.ID][r.ItemSKU.UUID] = r.ItemPrice.Int64
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	out := make([]PriceList, len(recs))
	for i, r := range recs {
		out[i] = r.engine(prices[r.ID])
	}
	return out, nil
}

// SKUPrice is one SKU's unit price for a buyer and why.
type SKUPrice struct {
	Unit   int64
	Source PriceSource
	Steps  []Step
}

// Prices prices skus for buyer now, in three queries however many SKUs.
func (s *Service) Prices(ctx context.Context, buyer *party.Party, skus []*catalog.SKU) ([]SKUPrice, error) {
	seller, err := s.Seller(ctx, buyer)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(skus))
	for i, k := range skus {
		ids[i] = k.ID
	}
	lists, err := s.lists(ctx, seller, buyer, ids)
	if err != nil {
		return nil, err
	}
	b, now := buyerOf(buyer), s.Now()
	out := make([]SKUPrice, len(skus))
	for i, k := range skus {
		unit, src, steps := SelectPrice(b, Item{SKUID: k.ID, BasePrice: k.BasePrice}, lists, now)
		out[i] = SKUPrice{Unit: unit, Source: src, Steps: visibleSteps(steps)}
	}
	return out, nil
}

// visibleSteps drops steps about rules aimed at other parties: a buyer must
// not learn what others are offered.
func visibleSteps(steps []Step) []Step {
	return slices.DeleteFunc(steps, func(st Step) bool { return st.Reason == ReasonTargetMismatch })
}

// running loads the seller's active promotions that target buyer, with the buyer's uses left.
func (s *Service) running(ctx context.Context, seller uuid.UUID, buyer *party.Party) ([]*PromotionRecord, map[uuid.UUID]*int, error) {
	cond, args := targetSQL("pm", buyer)
	// Each promotion with the buyer's uses of it (the row is unique per party and promotion): one query.
	var rows []*struct {
		PromotionRecord `bun:",extend"`
		BuyerUses       sql.NullInt64 `bun:"buyer_uses"`
	}
	now := s.Now()
	b := s.db.Binds() // every order reads it: planned once per connection
	q := s.db.NewSelect().Model(&rows).ColumnExpr("pm.*").ColumnExpr("pu.uses AS buyer_uses").
		Join("LEFT JOIN promotion_uses AS pu ON pu.promotion_id = pm.id AND pu.party_id = ?", b.V(buyer.ID)).
		Where("pm.seller_party_id = ? AND pm.active", b.V(seller)).Where(cond, b.Vs(args)...).
		Where("(pm.valid_from IS NULL OR pm.valid_from <= ?) AND (pm.valid_to IS NULL OR pm.valid_to > ?)", b.V(now), b.V(now)).
		OrderExpr("pm.priority DESC, pm.id")
	if err := s.db.ScanBound(ctx, q, b); err != nil {
		return nil, nil, fmt.Errorf("pricing: load promotions: %w", err)
	}
	recs := make([]*PromotionRecord, len(rows))
	left := map[uuid.UUID]*int{}
	for i, r := range rows {
		rec := r.PromotionRecord
		recs[i] = &rec
		if rec.PerPartyLimit != nil {
			n := max(0, *rec.PerPartyLimit-int(r.BuyerUses.Int64))
			left[rec.ID] = &n
		}
	}
	return recs, left, nil
}

// RunningPromotions is what a quote needs of the seller's promotions for one buyer,
// read before the quote so that their gift SKUs can be read with the lines'.
type RunningPromotions struct {
	recs []*PromotionRecord
	left map[uuid.UUID]*int
}

// RunningFor reads the seller's promotions running for buyer, with the buyer's uses left.
func (s *Service) RunningFor(ctx context.Context, seller uuid.UUID, buyer *party.Party) (*RunningPromotions, error) {
	recs, left, err := s.running(ctx, seller, buyer)
	if err != nil {
		return nil, err
	}
	return &RunningPromotions{recs: recs, left: left}, nil
}

// GiftSKUs are the SKUs the promotions may give.
func (r *RunningPromotions) GiftSKUs() []uuid.UUID {
	var out []uuid.UUID
	for _, p := range r.recs {
		if p.Rule.Gift != nil && !slices.Contains(out, p.Rule.Gift.SKUID) {
			out = append(out, p.Rule.Gift.SKUID)
		}
	}
	return out
}

// Running returns the promotions valid now for buyer, for the apps' home screens.
func (s *Service) Running(ctx context.Context, buyer *party.Party) ([]*PromotionRecord, error) {
	seller, err := s.Seller(ctx, buyer)
	if err != nil {
		return nil, err
	}
	recs, _, err := s.running(ctx, seller, buyer)
	now := s.Now()
	return slices.DeleteFunc(recs, func(r *PromotionRecord) bool { return !validAt(timeOrZero(r.ValidFrom), timeOrZero(r.ValidTo), now) }), err
}

// Quote prices lines for buyer now with the seller's price lists and
// promotions. Lines of SKUs the buyer may not see come back as UNKNOWN_SKU problems.
func (s *Service) Quote(ctx context.Context, buyer *party.Party, lines []LineInput) (Result, error) {
	seller, err := s.Seller(ctx, buyer)
	if err != nil {
		return Result{}, err
	}
	run, err := s.RunningFor(ctx, seller, buyer)
	if err != nil {
		return Result{}, err
	}
	res, _, err := s.QuoteFor(ctx, seller, buyer, lines, Known{}, run)
	return res, err
}

// Known is what a caller has already read of the catalogue, so a quote does
// not read it again: SKUs by id as everyone sees them, and as the buyer does.
type Known struct {
	All, Visible map[uuid.UUID]*catalog.SKU
	Categories   map[uuid.UUID][]uuid.UUID // category id → the ids on its path, root first
}

// QuoteFor is Quote for a known seller, known SKUs and the promotions read
// by RunningFor; it also returns what the quote takes from them (see Take).
func (s *Service) QuoteFor(ctx context.Context, seller uuid.UUID, buyer *party.Party, lines []LineInput, known Known, run *RunningPromotions) (Result, []Use, error) {
	promos, left := run.recs, run.left
	ids := make([]uuid.UUID, 0, len(lines))
	for _, l := range lines {
		ids = append(ids, l.SKUID)
	}
	gifts := map[uuid.UUID]int64{}
	for _, p := range promos {
		if p.Rule.Gift != nil {
			ids = append(ids, p.Rule.Gift.SKUID)
			gifts[p.Rule.Gift.SKUID] += max(p.Rule.GiftPool-p.GiftsGiven, 0)
		}
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return compareID(a, b) })
	ids = slices.Compact(ids)
	items, err := s.items(ctx, buyer, ids, gifts, known)
	if err != nil {
		return Result{}, nil, err
	}
	lists, err := s.lists(ctx, seller, buyer, ids)
	if err != nil {
		return Result{}, nil, err
	}
	in := Input{Buyer: buyerOf(buyer), Lines: lines, Items: items, PriceLists: lists, At: s.Now(), GiftStock: gifts}
	byID := make(map[uuid.UUID]*PromotionRecord, len(promos))
	for _, p := range promos {
		in.Promotions = append(in.Promotions, p.engine(left[p.ID]))
		byID[p.ID] = p
	}
	res := Quote(in)
	res.Explanation = visibleSteps(res.Explanation)
	uses := Uses(res)
	for i := range uses {
		if r := byID[uses[i].PromotionID]; r != nil {
			uses[i].Limit, uses[i].Pool = r.PerPartyLimit, r.Rule.GiftPool
		}
	}
	return res, uses, nil
}

// items are the engine's facts for the SKUs buyer may see, plus gift SKUs
// (a gift need not be orderable to be given). SKUs in known are not read again.
func (s *Service) items(ctx context.Context, buyer *party.Party, ids []uuid.UUID, gifts map[uuid.UUID]int64, known Known) (map[uuid.UUID]Item, error) {
	out := map[uuid.UUID]Item{}
	if len(ids) == 0 {
		return out, nil
	}
	all := make([]*catalog.SKU, len(ids))
	visible := make([]*catalog.SKU, len(ids))
	var missing, hidden []int // not known at all; to be read as the buyer sees them
	for i, id := range ids {
		k, ok := known.All[id]
		if !ok {
			missing = append(missing, i)
			continue
		}
		all[i], visible[i] = k, known.Visible[id]
		if _, gift := gifts[id]; visible[i] == nil && !gift {
			if _, seen := known.Visible[id]; !seen {
				hidden = append(hidden, i)
			}
		}
	}
	path := map[uuid.UUID][]uuid.UUID{}
	for id, p := range known.Categories {
		path[id] = p
	}
	if len(missing) > 0 { // as everyone and as the buyer sees them, with their categories: one query
		want := make([]uuid.UUID, len(missing))
		for j, i := range missing {
			want[j] = ids[i]
		}
		got, err := s.catalog.SKUsSeen(ctx, buyer, want)
		if err != nil {
			return nil, err
		}
		for j, i := range missing {
			all[i] = got[j].SKU
			if got[j].Seen {
				visible[i] = got[j].SKU
			}
			if k := got[j].SKU; k != nil && got[j].CategoryPath != nil {
				path[k.CategoryID] = got[j].CategoryPath
			}
		}
	}
	if err := s.fill(ctx, buyer, ids, hidden, visible); err != nil {
		return nil, err
	}
	var catIDs []uuid.UUID
	for _, k := range all {
		if k == nil {
			continue
		}
		if _, ok := path[k.CategoryID]; !ok {
			catIDs = append(catIDs, k.CategoryID)
		}
	}
	if len(catIDs) > 0 {
		cats, err := s.catalog.CategoriesByID(ctx, catIDs)
		if err != nil {
			return nil, err
		}
		for _, c := range cats {
			if c != nil {
				path[c.ID] = c.Ancestors()
			}
		}
	}
	for i, k := range all {
		if k == nil {
			continue
		}
		if _, gift := gifts[k.ID]; visible[i] == nil && !gift {
			continue
		}
		out[k.ID] = Item{SKUID: k.ID, Categories: path[k.CategoryID], BasePrice: k.BasePrice}
	}
	return out, nil
}

// fill reads the SKUs at positions at of ids (as buyer sees them; nil: as everyone) into dst.
func (s *Service) fill(ctx context.Context, buyer *party.Party, ids []uuid.UUID, at []int, dst []*catalog.SKU) error {
	if len(at) == 0 {
		return nil
	}
	want := make([]uuid.UUID, len(at))
	for j, i := range at {
		want[j] = ids[i]
	}
	got, err := s.catalog.SKUs(ctx, buyer, want)
	if err != nil {
		return err
	}
	for j, i := range at {
		dst[i] = got[j]
	}
	return nil
}

func (s *Service) requireSeller(p auth.Principal) error { return p.Require(Sellers...) }

// checkTarget refuses a target that can match no party, or a PARTY target
// outside the seller's scope, and sets *value as matching compares it (a
// party id in lowercase).
func (s *Service) checkTarget(ctx context.Context, p auth.Principal, kind TargetKind, value *string) error {
	if err := validateTarget(Target{Kind: kind, Value: *value}); err != nil {
		return err
	}
	v, ok := party.TargetValue(string(kind), *value)
	if !ok {
		return ruleErr(ErrInvalidTarget, "targetValue")
	}
	*value = v
	if kind == TargetParty {
		id, _ := uuid.Parse(v)
		if _, err := s.parties.Get(ctx, p, id); err != nil {
			return ruleErr(ErrInvalidTarget, "targetValue")
		}
	}
	return nil
}

func checkName(name string) error {
	if n := utf8.RuneCountInString(strings.TrimSpace(name)); n < 1 || n > 100 {
		return ruleErr(ErrInvalidInput, "name")
	}
	return nil
}

// PriceListInput creates or changes a price list.
type PriceListInput struct {
	Name        string
	TargetKind  TargetKind
	TargetValue string
	Priority    int
	ValidFrom   *time.Time
	ValidTo     *time.Time
}

// PriceLists returns the caller's own lists (HQ's for HQ's managers), newest first.
func (s *Service) PriceLists(ctx context.Context, p auth.Principal) ([]*PriceListRecord, error) {
	if err := s.requireSeller(p); err != nil {
		return nil, err
	}
	var out []*PriceListRecord
	if err := s.db.NewSelect().Model(&out).Where("pl.seller_party_id = ?", p.PartyID).
		OrderExpr("pl.created_at DESC, pl.id DESC").Limit(500).Scan(ctx); err != nil {
		return nil, fmt.Errorf("pricing: price lists: %w", err)
	}
	return out, nil
}

// SavePriceList creates (id nil) or changes one of the caller's price lists.
func (s *Service) SavePriceList(ctx context.Context, p auth.Principal, id *uuid.UUID, in PriceListInput) (*PriceListRecord, error) {
	if err := s.requireSeller(p); err != nil {
		return nil, err
	}
	in.Name = strings.TrimSpace(in.Name)
	if err := errors.Join(checkName(in.Name), s.checkTarget(ctx, p, in.TargetKind, &in.TargetValue)); err != nil {
		return nil, err
	}
	if err := validateWindow(timeOrZero(in.ValidFrom), timeOrZero(in.ValidTo)); err != nil {
		return nil, err
	}
	var out *PriceListRecord
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.Now()
		r := &PriceListRecord{ID: uuid.Must(uuid.NewV7()), SellerPartyID: p.PartyID, CreatedAt: now}
		var before any
		if id != nil {
			if err := tx.NewSelect().Model(r).Where("id = ? AND seller_party_id = ?", *id, p.PartyID).Scan(ctx); err != nil {
				return notFound(err)
			}
			b := *r
			before = b
		}
		r.Name, r.TargetKind, r.TargetValue, r.Priority, r.ValidFrom, r.ValidTo, r.UpdatedAt =
			in.Name, in.TargetKind, in.TargetValue, in.Priority, in.ValidFrom, in.ValidTo, now
		var err error
		if id == nil {
			_, err = tx.NewInsert().Model(r).Exec(ctx)
		} else {
			_, err = tx.NewUpdate().Model(r).WherePK().ExcludeColumn("seller_party_id", "created_at").Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("pricing: save price list: %w", err)
		}
		out = r
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "pricing.priceList.save", "PriceList", r.ID.String(), before, r, "")
	})
	return out, err
}

// PriceRow sets (Price not nil) or removes one SKU's price on a list, by SKU code.
type PriceRow struct {
	SKUCode string
	Price   *int64
}

// RowResult is what happened to one row of a bulk change.
type RowResult struct {
	Row int
	Err error
}

// MaxPriceRows caps one bulk price change.
const MaxPriceRows = 1000

// SetPrices changes prices on one of the caller's lists; good rows land, bad rows say why.
func (s *Service) SetPrices(ctx context.Context, p auth.Principal, listID uuid.UUID, rows []PriceRow) ([]RowResult, error) {
	if err := s.requireSeller(p); err != nil {
		return nil, err
	}
	if len(rows) > MaxPriceRows {
		return nil, ruleErr(ErrInvalidInput, "rows")
	}
	seller, err := s.sellerView(ctx, p)
	if err != nil {
		return nil, err
	}
	out := make([]RowResult, len(rows))
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Model((*PriceListRecord)(nil)).Where("id = ? AND seller_party_id = ?", listID, p.PartyID).Count(ctx)
		if err != nil {
			return fmt.Errorf("pricing: load price list: %w", err)
		}
		if n == 0 {
			return ErrNotFound
		}
		for i, row := range rows {
			out[i].Row = i
			if row.Price != nil && *row.Price < 0 {
				out[i].Err = ruleErr(ErrNegativePrice, "price")
				continue
			}
			if row.Price != nil && *row.Price > MaxUnitPrice {
				out[i].Err = ruleErr(ErrPriceTooHigh, "price")
				continue
			}
			var skuID uuid.UUID
			q := tx.NewSelect().Model((*catalog.SKU)(nil)).ColumnExpr("s.id").Where("s.code = ?", row.SKUCode)
			if seller != nil { // a distributor prices only what it may buy itself
				q = catalog.Visible(q, seller)
			}
			if err := q.Scan(ctx, &skuID); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					out[i].Err = ruleErr(ErrSKUNotFound, "skuCode")
					continue
				}
				return fmt.Errorf("pricing: find sku: %w", err)
			}
			if row.Price == nil {
				_, err = tx.NewDelete().Model((*priceItem)(nil)).Where("price_list_id = ? AND sku_id = ?", listID, skuID).Exec(ctx)
			} else {
				_, err = tx.NewInsert().Model(&priceItem{PriceListID: listID, SKUID: skuID, Price: *row.Price}).
					On("CONFLICT (price_list_id, sku_id) DO UPDATE").Set("price = EXCLUDED.price").Exec(ctx)
			}
			if err != nil {
				return fmt.Errorf("pricing: set price: %w", err)
			}
		}
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "pricing.priceList.prices", "PriceList", listID.String(), nil, rows, "")
	})
	return out, err
}

// ListPrice is one SKU's price on a list.
type ListPrice struct {
	SKUID uuid.UUID `bun:"sku_id"`
	Price int64     `bun:"price"`
}

// ListPrices returns up to limit prices of each of the caller's lists, by SKU
// code, in one query (a window per list) for the dataloader. A distributor
// sees only SKUs it may still buy itself.
func (s *Service) ListPrices(ctx context.Context, p auth.Principal, listIDs []uuid.UUID, limit int) ([][]ListPrice, error) {
	if err := s.requireSeller(p); err != nil {
		return nil, err
	}
	seller, err := s.sellerView(ctx, p)
	if err != nil {
		return nil, err
	}
	inner := s.db.NewSelect().Model((*priceItem)(nil)).
		ColumnExpr("pli.price_list_id, pli.sku_id, pli.price, ROW_NUMBER() OVER (PARTITION BY pli.price_list_id ORDER BY s.code) AS rn").
		Join("JOIN skus AS s ON s.id = pli.sku_id").Join("JOIN price_lists AS pl ON pl.id = pli.price_list_id").
		Where("pli.price_list_id IN (?) AND pl.seller_party_id = ?", bun.List(listIDs), p.PartyID)
	if seller != nil {
		inner = catalog.Visible(inner, seller)
	}
	var rows []struct {
		ListID uuid.UUID `bun:"price_list_id"`
		ListPrice
	}
	if err := s.db.NewSelect().TableExpr("(?) AS t", inner).ColumnExpr("t.price_list_id, t.sku_id, t.price").
		Where("t.rn <= ?", limit).OrderExpr("t.price_list_id, t.rn").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("pricing: list prices: %w", err)
	}
	by := map[uuid.UUID][]ListPrice{}
	for _, r := range rows {
		by[r.ListID] = append(by[r.ListID], r.ListPrice)
	}
	out := make([][]ListPrice, len(listIDs))
	for i, id := range listIDs {
		out[i] = by[id]
	}
	return out, nil
}

// CountPrices counts the prices of several of the caller's lists in one query
// (for the dataloader); a distributor counts only SKUs it may still buy.
func (s *Service) CountPrices(ctx context.Context, p auth.Principal, listIDs []uuid.UUID) ([]int, error) {
	if err := s.requireSeller(p); err != nil {
		return nil, err
	}
	seller, err := s.sellerView(ctx, p)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		ID uuid.UUID `bun:"price_list_id"`
		N  int       `bun:"n"`
	}
	q := s.db.NewSelect().Model((*priceItem)(nil)).ColumnExpr("pli.price_list_id, COUNT(*) AS n").
		Join("JOIN skus AS s ON s.id = pli.sku_id").Join("JOIN price_lists AS pl ON pl.id = pli.price_list_id").
		Where("pli.price_list_id IN (?) AND pl.seller_party_id = ?", bun.List(listIDs), p.PartyID).GroupExpr("pli.price_list_id")
	if seller != nil {
		q = catalog.Visible(q, seller)
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("pricing: count prices: %w", err)
	}
	by := make(map[uuid.UUID]int, len(rows))
	for _, r := range rows {
		by[r.ID] = r.N
	}
	out := make([]int, len(listIDs))
	for i, id := range listIDs {
		out[i] = by[id]
	}
	return out, nil
}

// PromotionInput creates a promotion.
type PromotionInput struct {
	Name           string
	Kind           PromotionKind
	TargetKind     TargetKind
	TargetValue    string
	ValidFrom      *time.Time
	ValidTo        *time.Time
	Priority       int
	ExclusiveGroup string
	PerPartyLimit  *int
	Rule           PromotionRule
}

// Promotions returns the caller's own promotions, newest first.
func (s *Service) Promotions(ctx context.Context, p auth.Principal) ([]*PromotionRecord, error) {
	if err := s.requireSeller(p); err != nil {
		return nil, err
	}
	var out []*PromotionRecord
	if err := s.db.NewSelect().Model(&out).Where("pm.seller_party_id = ?", p.PartyID).
		OrderExpr("pm.created_at DESC, pm.id DESC").Limit(500).Scan(ctx); err != nil {
		return nil, fmt.Errorf("pricing: promotions: %w", err)
	}
	return out, nil
}

// SavePromotion validates and stores a new promotion (id nil) or a change to
// one of the caller's. An exclusive promotion whose window overlaps another
// active one of its group for the same buyers is refused: which one applies
// would depend on the cart, not on the plan.
func (s *Service) SavePromotion(ctx context.Context, p auth.Principal, id *uuid.UUID, in PromotionInput) (*PromotionRecord, error) {
	if err := s.requireSeller(p); err != nil {
		return nil, err
	}
	in.Name = strings.TrimSpace(in.Name)
	now := s.Now()
	r := &PromotionRecord{ID: uuid.Must(uuid.NewV7()), SellerPartyID: p.PartyID, Name: in.Name, Kind: in.Kind,
		TargetKind: in.TargetKind, TargetValue: in.TargetValue, ValidFrom: in.ValidFrom, ValidTo: in.ValidTo,
		Priority: in.Priority, ExclusiveGroup: strings.TrimSpace(in.ExclusiveGroup), PerPartyLimit: in.PerPartyLimit,
		Rule: in.Rule, Active: true, CreatedAt: now, UpdatedAt: now}
	if id != nil {
		r.ID = *id
	}
	if err := errors.Join(checkName(in.Name), s.checkTarget(ctx, p, in.TargetKind, &r.TargetValue)); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(r.ExclusiveGroup) > 50 {
		return nil, ruleErr(ErrInvalidInput, "exclusiveGroup")
	}
	if in.Rule.GiftPool < 0 {
		return nil, ruleErr(ErrInvalidInput, "gift", "pool")
	}
	if in.PerPartyLimit != nil && *in.PerPartyLimit < 1 {
		return nil, ruleErr(ErrInvalidUseLimit, "perPartyLimit")
	}
	if len(in.Rule.Tiers) > MaxSteps || len(in.Rule.Breaks) > MaxSteps {
		return nil, ruleErr(ErrInvalidInput, "tiers")
	}
	if len(in.Rule.SKUs) > MaxScope || len(in.Rule.Categories) > MaxScope {
		return nil, ruleErr(ErrInvalidInput, "skuIds")
	}
	if in.Rule.Bundle != nil && len(in.Rule.Bundle.Items) > MaxSteps {
		return nil, ruleErr(ErrInvalidInput, "bundleItems")
	}
	if err := ValidatePromotion(r.engine(nil)); err != nil {
		return nil, err
	}
	if err := s.checkRuleSKUs(ctx, p, in.Rule); err != nil {
		return nil, err
	}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var before *PromotionRecord
		if id != nil {
			before = new(PromotionRecord)
			if err := tx.NewSelect().Model(before).Where("id = ? AND seller_party_id = ?", *id, p.PartyID).Scan(ctx); err != nil {
				return notFound(err)
			}
			r.Active, r.CreatedAt, r.GiftsGiven = before.Active, before.CreatedAt, before.GiftsGiven
		}
		if r.ExclusiveGroup != "" && r.Active {
			if err := s.checkOverlap(ctx, tx, p, r); err != nil {
				return err
			}
		}
		var err error
		if id == nil {
			_, err = tx.NewInsert().Model(r).Exec(ctx)
		} else {
			_, err = tx.NewUpdate().Model(r).WherePK().ExcludeColumn("seller_party_id", "created_at", "active", "gifts_given").Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("pricing: save promotion: %w", err)
		}
		var b any
		if before != nil {
			b = before
		}
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "pricing.promotion.save", "Promotion", r.ID.String(), b, r, "")
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Limits of a promotion rule: tiers, breaks and bundle items; scoped SKUs and categories.
const (
	MaxSteps = 10
	MaxScope = 500
)

// checkRuleSKUs refuses a rule naming SKUs or categories that do not exist,
// or, for a distributor, SKUs it may not see itself.
func (s *Service) checkRuleSKUs(ctx context.Context, p auth.Principal, r PromotionRule) error {
	ids := slices.Clone(r.SKUs)
	if r.Gift != nil {
		ids = append(ids, r.Gift.SKUID)
	}
	if r.Bundle != nil {
		for _, it := range r.Bundle.Items {
			ids = append(ids, it.SKUID)
		}
	}
	if len(ids) > 0 {
		seller, err := s.sellerView(ctx, p)
		if err != nil {
			return err
		}
		ks, err := s.catalog.SKUs(ctx, seller, ids)
		if err != nil {
			return err
		}
		if slices.Contains(ks, nil) {
			return ruleErr(ErrSKUNotFound, "skuIds")
		}
	}
	if len(r.Categories) > 0 {
		cs, err := s.catalog.CategoriesByID(ctx, r.Categories)
		if err != nil {
			return err
		}
		if slices.Contains(cs, nil) {
			return ruleErr(ErrInvalidInput, "categoryIds")
		}
	}
	return nil
}

// sellerView is the party whose catalogue a seller may use: nil (everything) for HQ's managers.
func (s *Service) sellerView(ctx context.Context, p auth.Principal) (*party.Party, error) {
	if p.IsHQ() {
		return nil, nil
	}
	return s.parties.Get(ctx, p, p.PartyID)
}

// SetPromotionActive starts or stops one of the caller's promotions.
func (s *Service) SetPromotionActive(ctx context.Context, p auth.Principal, id uuid.UUID, active bool, reason string) (*PromotionRecord, error) {
	if err := s.requireSeller(p); err != nil {
		return nil, err
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(reason)); n < 1 || n > 500 {
		return nil, ruleErr(ErrInvalidInput, "reason")
	}
	var out *PromotionRecord
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		r := new(PromotionRecord)
		if err := tx.NewSelect().Model(r).Where("id = ? AND seller_party_id = ?", id, p.PartyID).Scan(ctx); err != nil {
			return notFound(err)
		}
		before := r.Active
		r.Active, r.UpdatedAt = active, s.Now()
		if active && !before && r.ExclusiveGroup != "" {
			if err := s.checkOverlap(ctx, tx, p, r); err != nil {
				return err
			}
		}
		if _, err := tx.NewUpdate().Model(r).WherePK().Column("active", "updated_at").Exec(ctx); err != nil {
			return fmt.Errorf("pricing: set active: %w", err)
		}
		out = r
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "pricing.promotion.active", "Promotion", r.ID.String(),
			map[string]bool{"active": before}, map[string]bool{"active": active}, reason)
	})
	return out, err
}

// checkOverlap refuses r when its window overlaps another active promotion of its exclusive group.
func (s *Service) checkOverlap(ctx context.Context, tx bun.IDB, p auth.Principal, r *PromotionRecord) error {
	if tx.Dialect().Name() == dialect.PG {
		// The seller's saves take turns here, or two overlapping exclusive
		// promotions saved at once would each miss the other.
		if _, err := tx.NewRaw("SELECT 1 FROM parties WHERE id = ? FOR NO KEY UPDATE", p.PartyID).Exec(ctx); err != nil {
			return fmt.Errorf("pricing: lock seller: %w", err)
		}
	}
	var others []*PromotionRecord
	if err := tx.NewSelect().Model(&others).Where("pm.seller_party_id = ? AND pm.active AND pm.exclusive_group = ? AND pm.id <> ?",
		p.PartyID, r.ExclusiveGroup, r.ID).Scan(ctx); err != nil {
		return fmt.Errorf("pricing: load group: %w", err)
	}
	all := []Promotion{r.engine(nil)}
	for _, o := range others {
		all = append(all, o.engine(nil))
	}
	for _, pair := range OverlappingExclusive(all) {
		if pair[0] == r.ID || pair[1] == r.ID {
			return ruleErr(ErrOverlappingExclusive, "exclusiveGroup")
		}
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// ErrPromotionUsedUp is a quote whose promotion another order used up in the
// meantime (its per-party uses or gift pool): the buyer must re-quote.
var ErrPromotionUsedUp = errors.New("pricing: promotion used up since the quote")

// Use is what an order took from a promotion: one use, and gift units. Limit
// and Pool are the promotion's per-party limit and gift pool when it was quoted.
type Use struct {
	PromotionID uuid.UUID `json:"promotionId"`
	Gifts       int64     `json:"gifts,omitempty"`
	Limit       *int      `json:"limit,omitempty"`
	Pool        int64     `json:"pool,omitempty"`
}

// Uses lists what a quote takes from its promotions: every applied promotion
// once, and each gift line's units drawn from the gift promotions that gave it.
func Uses(res Result) []Use {
	idx := map[uuid.UUID]int{}
	var out []Use
	add := func(id uuid.UUID) int {
		i, ok := idx[id]
		if !ok {
			i = len(out)
			idx[id] = i
			out = append(out, Use{PromotionID: id})
		}
		return i
	}
	for _, l := range res.Lines {
		for _, a := range l.Adjustments {
			i := add(a.PromotionID)
			if l.Gift && a.Kind == KindGift {
				out[i].Gifts += a.GiftQty
			}
		}
	}
	for _, d := range res.OrderDiscounts {
		add(d.PromotionID)
	}
	return out
}

// Take books uses for buyer inside the order's transaction, each with a
// conditional update: a promotion at its per-party limit, or a gift pool run
// dry, fails with ErrPromotionUsedUp. Uses are taken in id order.
func (s *Service) Take(ctx context.Context, tx bun.IDB, buyer uuid.UUID, uses []Use) error {
	uses = slices.Clone(uses)
	slices.SortFunc(uses, func(a, b Use) int { return compareID(a.PromotionID, b.PromotionID) })
	for _, u := range uses {
		if u.Limit != nil {
			res, err := tx.NewRaw(`INSERT INTO promotion_uses (promotion_id, party_id, uses) VALUES (?, ?, 1)
				ON CONFLICT (promotion_id, party_id) DO UPDATE SET uses = promotion_uses.uses + 1 WHERE promotion_uses.uses < ?`,
				u.PromotionID, buyer, *u.Limit).Exec(ctx)
			if err != nil {
				return fmt.Errorf("pricing: take use: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return ErrPromotionUsedUp
			}
		}
		if u.Gifts > 0 {
			res, err := tx.NewRaw(`UPDATE promotions SET gifts_given = gifts_given + ? WHERE id = ? AND gifts_given + ? <= ?`,
				u.Gifts, u.PromotionID, u.Gifts, u.Pool).Exec(ctx)
			if err != nil {
				return fmt.Errorf("pricing: draw gifts: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return ErrPromotionUsedUp
			}
		}
	}
	return nil
}

// TakeStatements are Take's updates for a PostgreSQL batch, which cannot
// look at each statement's affected rows: each statement fails with
// division_by_zero when its conditional update matches no row (see
// IsUsedUp), which aborts the batch and its transaction.
func TakeStatements(tx bun.IDB, buyer uuid.UUID, uses []Use) []string {
	uses = slices.Clone(uses)
	slices.SortFunc(uses, func(a, b Use) int { return compareID(a.PromotionID, b.PromotionID) })
	var out []string
	must := func(update string, args ...any) {
		out = append(out, tx.NewRaw("WITH u AS ("+update+" RETURNING 1) SELECT 1 / (SELECT count(*) FROM u)::int", args...).String())
	}
	for _, u := range uses {
		if u.Limit != nil {
			must(`INSERT INTO promotion_uses (promotion_id, party_id, uses) VALUES (?, ?, 1)
				ON CONFLICT (promotion_id, party_id) DO UPDATE SET uses = promotion_uses.uses + 1 WHERE promotion_uses.uses < ?`,
				u.PromotionID, buyer, *u.Limit)
		}
		if u.Gifts > 0 {
			must(`UPDATE promotions SET gifts_given = gifts_given + ? WHERE id = ? AND gifts_given + ? <= ?`,
				u.Gifts, u.PromotionID, u.Gifts, u.Pool)
		}
	}
	return out
}

// IsUsedUp tells whether a batch with TakeStatements failed on a use.
func IsUsedUp(err error) bool {
	var pe interface{ SQLState() string }
	return errors.As(err, &pe) && pe.SQLState() == "22012"
}

// GiveBack returns what a cancelled order took from its promotions.
func (s *Service) GiveBack(ctx context.Context, tx bun.IDB, buyer uuid.UUID, uses []Use) error {
	uses = slices.Clone(uses)
	slices.SortFunc(uses, func(a, b Use) int { return compareID(a.PromotionID, b.PromotionID) })
	for _, u := range uses {
		if _, err := tx.NewRaw(`UPDATE promotion_uses SET uses = uses - 1 WHERE promotion_id = ? AND party_id = ? AND uses > 0`,
			u.PromotionID, buyer).Exec(ctx); err != nil {
			return fmt.Errorf("pricing: give back use: %w", err)
		}
		if u.Gifts > 0 {
			if _, err := tx.NewRaw(`UPDATE promotions SET gifts_given = gifts_given - ? WHERE id = ? AND gifts_given >= ?`,
				u.Gifts, u.PromotionID, u.Gifts).Exec(ctx); err != nil {
				return fmt.Errorf("pricing: give back gifts: %w", err)
			}
		}
	}
	return nil
}
