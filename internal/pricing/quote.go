// Package pricing turns a buyer's cart into money: which price list prices
// each SKU, which promotions apply, and why. The quote engine (Quote) is a
// pure, deterministic function with no I/O; the rules below are the single
// statement of how a price is reached, and the schema descriptions quote them.
//
// # Money
//
// Money is int64 minor units (fen) everywhere. Percentages are basis points
// (1 % = 100 bp). Rounding is half-up at line level, in integers. No floating
// point is used anywhere in this package.
//
// # Price precedence (one SKU)
//
// A price list is eligible for a SKU when it is valid at the quote time
// (ValidFrom <= At < ValidTo; a zero bound is open), its target matches the
// buyer, and it prices the SKU (at 0..MaxUnitPrice). Among eligible lists:
//
//  1. target rank: PARTY beats GRADE and CHANNEL_TYPE (equal rank), which
//     beat REGION, which beats ALL;
//  2. then higher Priority;
//  3. then the newest CreatedAt;
//  4. then the smaller ID, as a final tie-break.
//
// With no eligible list the SKU costs its base price (source BASE).
//
// # Promotions
//
// A promotion is a candidate when it is valid at the quote time, its target
// matches the buyer and its UsesLeft is nil (unlimited) or above 0. Its scope
// is its SKUs and Categories (a line is in scope when its SKU is listed or
// any of its categories, ancestors included, is listed); both empty means
// every line. BUNDLE promotions are scoped by their bundle items instead.
//
// Promotions apply in stages, in this fixed order, each stage seeing the line
// nets left by the previous one:
//
//  1. QUANTITY_BREAK: on each scoped line, the reached break (MinQty <= line
//     quantity) with the lowest UnitPrice makes the line's net at most
//     qty*UnitPrice.
//  2. BUNDLE: each complete set (every item's Qty) costs Price instead of the
//     value of its units. Units are valued at the average current net of the
//     line's units not yet in a bundle; a unit counts in one bundle at most.
//     The bundle discount is spread over the set's lines by the largest
//     remainder method.
//  3. PERCENT_OFF: each scoped line loses round-half-up(net*bp/10000).
//  4. THRESHOLD: measured on the net of the scoped lines; the highest reached
//     tier's Off applies (with Repeat, Off for every whole Threshold). The
//     discount is an order discount, allocated onto the scoped lines in
//     proportion to their nets by the largest remainder method, so the line
//     shares sum exactly to it.
//  5. GIFT: on the net (Threshold) and/or total quantity (MinQty) of the scoped
//     lines (neither set: any scoped line); Qty once, or with Repeat Qty for
//     every whole Threshold/MinQty (the smaller count when both are set). The
//     gift line is capped by the gift stock (missing = 0) and is shared by
//     gift promotions in application order.
//
// Within a stage, promotions apply by higher Priority, then smaller ID.
// Ungrouped promotions stack. Promotions sharing a non-empty Group are
// exclusive: when the stage of the group's earliest member comes, every
// candidate of the group is evaluated alone on the same basis (the nets at
// that point) and only the one with the largest buyer benefit (discount; for
// GIFT the gift's base-price value) applies, at its own stage; ties go to the
// higher Priority, then the smaller ID. The others are explained as
// EXCLUSIVE_GROUP_LOST.
//
// A discount never exceeds what it acts on: a threshold discount is capped at
// the scoped net, a percentage at 100 %, a bundle or break price at 0
// (explained as DISCOUNT_CAPPED), so no line's net is ever below 0. Each
// promotion applies at most once per quote (Repeat multiplies within that one
// application); Quote never decrements UsesLeft, the order service consumes
// one use per applied promotion when it places an order.
//
// # Lines and totals
//
// Lines of the same SKU are merged (quantities summed) and priced lines come
// in SKU id order, so the order of the input never matters; gift lines follow,
// also in SKU id order. A gift line's Amount is qty*base price and its
// Discount equals its Amount (net 0). Subtotal is Σ line Amount, Discount is
// Σ line Discount and Total = Subtotal - Discount = Σ line Net >= 0; all three
// include gift lines. A line that cannot be priced is left out and reported
// as a LineProblem: UNKNOWN_SKU, INVALID_QUANTITY (any input line of the SKU
// <= 0 or > MaxQty, or a merged quantity > MaxQty), INVALID_PRICE (the chosen
// unit price is outside 0..MaxUnitPrice) or TOO_MANY_LINES (beyond MaxLines
// priced SKUs).
package pricing

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"channelhub/internal/catalog"
)

// Limits that keep every sum within int64: MaxLines * MaxQty * MaxUnitPrice
// is 5e18.
const (
	MaxQty       int64 = 1_000_000
	MaxUnitPrice int64 = 10_000_000_000 // ¥100,000,000.00
	MaxLines           = 500
)

// TargetKind is who a price list or promotion is for: the catalogue's kinds,
// so authorisation rules, price lists and promotions target alike.
type TargetKind = catalog.TargetKind

// Target kinds, from the widest to the narrowest.
const (
	TargetAll         = catalog.TargetAll
	TargetChannelType = catalog.TargetChannelType
	TargetGrade       = catalog.TargetGrade
	TargetRegion      = catalog.TargetRegion
	TargetParty       = catalog.TargetParty
)

// Target names the buyers a rule is for. Value is a channel type, grade,
// region or party UUID string; it is empty for ALL.
type Target struct {
	Kind  TargetKind
	Value string
}

// Matches reports whether the target covers the buyer. Values compare
// exactly; an empty buyer attribute never matches; an unknown kind matches
// no one.
func (t Target) Matches(b Buyer) bool {
	switch t.Kind {
	case TargetAll:
		return true
	case TargetChannelType:
		return t.Value != "" && t.Value == b.ChannelType
	case TargetGrade:
		return t.Value != "" && t.Value == b.Grade
	case TargetRegion:
		return t.Value != "" && t.Value == b.Region
	case TargetParty:
		id, err := uuid.Parse(t.Value)
		return err == nil && id != uuid.Nil && id == b.PartyID
	}
	return false
}

// Rank is the target's place in the price precedence: PARTY 3, GRADE and
// CHANNEL_TYPE 2, REGION 1, ALL 0, an unknown kind -1.
func (t Target) Rank() int {
	switch t.Kind {
	case TargetParty:
		return 3
	case TargetGrade, TargetChannelType:
		return 2
	case TargetRegion:
		return 1
	case TargetAll:
		return 0
	}
	return -1
}

// Buyer is the party a quote is for, with the attributes targets match on.
type Buyer struct {
	PartyID     uuid.UUID
	ChannelType string
	Grade       string
	Region      string
}

// Item is what the engine needs to know about a SKU.
type Item struct {
	SKUID      uuid.UUID
	Categories []uuid.UUID // its category and all its ancestors
	BasePrice  int64
}

// LineInput is one cart line.
type LineInput struct {
	SKUID uuid.UUID
	Qty   int64
}

// PriceList prices SKUs for a target within a validity window.
type PriceList struct {
	ID        uuid.UUID
	Name      string
	Target    Target
	Priority  int
	ValidFrom time.Time // zero: open
	ValidTo   time.Time // zero: open; exclusive
	CreatedAt time.Time
	Prices    map[uuid.UUID]int64
}

// PromotionKind is the rule a promotion applies.
type PromotionKind string

// Promotion kinds, in their stage order.
const (
	KindQuantityBreak PromotionKind = "QUANTITY_BREAK"
	KindBundle        PromotionKind = "BUNDLE"
	KindPercentOff    PromotionKind = "PERCENT_OFF"
	KindThreshold     PromotionKind = "THRESHOLD"
	KindGift          PromotionKind = "GIFT"
)

// Stages is the fixed order in which promotion kinds apply.
var Stages = []PromotionKind{KindQuantityBreak, KindBundle, KindPercentOff, KindThreshold, KindGift}

func stageOf(k PromotionKind) int {
	switch k {
	case KindQuantityBreak:
		return 0
	case KindBundle:
		return 1
	case KindPercentOff:
		return 2
	case KindThreshold:
		return 3
	case KindGift:
		return 4
	}
	return len(Stages)
}

// Tier is one step of a THRESHOLD promotion: Off taken when the scoped net
// reaches Threshold.
type Tier struct {
	Threshold int64
	Off       int64
}

// Gift is what a GIFT promotion gives: Qty of SKUID once the scoped net
// reaches Threshold and/or the scoped quantity reaches MinQty (0 = not a
// condition).
type Gift struct {
	SKUID     uuid.UUID
	Qty       int64
	Threshold int64
	MinQty    int64
}

// BundleItem is one SKU of a bundle set.
type BundleItem struct {
	SKUID uuid.UUID
	Qty   int64
}

// Bundle is a set of SKUs sold together at Price per complete set.
type Bundle struct {
	Items []BundleItem
	Price int64
}

// Break is one step of a QUANTITY_BREAK: UnitPrice from MinQty units of a line.
type Break struct {
	MinQty    int64
	UnitPrice int64
}

// Promotion is a discount rule. Only the fields of its Kind are used.
type Promotion struct {
	ID        uuid.UUID
	Name      string
	Kind      PromotionKind
	Target    Target
	ValidFrom time.Time
	ValidTo   time.Time
	Priority  int
	// Group makes promotions exclusive: of those sharing a non-empty Group,
	// only the best one for the buyer applies.
	Group string
	// UsesLeft is the buyer's remaining uses (nil = unlimited; 0 = none).
	UsesLeft *int
	// SKUs and Categories are the scope; both empty = every line.
	SKUs       []uuid.UUID
	Categories []uuid.UUID
	Tiers      []Tier // THRESHOLD
	Repeat     bool   // THRESHOLD and GIFT: for every Threshold reached
	PercentBP  int64  // PERCENT_OFF: 1..10000
	Gift       *Gift  // GIFT
	// GiftLeft is what the promotion's own gift pool still holds (nil: only
	// GiftStock limits it). Promotions giving the same SKU share GiftStock,
	// but none gives more than its own pool.
	GiftLeft *int64
	Bundle   *Bundle
	Breaks   []Break // QUANTITY_BREAK
}

// Input is everything a quote depends on.
type Input struct {
	Buyer      Buyer
	Lines      []LineInput
	Items      map[uuid.UUID]Item // catalogue facts by SKU id
	PriceLists []PriceList
	Promotions []Promotion
	At         time.Time
	GiftStock  map[uuid.UUID]int64 // gift stock by SKU id; missing = 0
}

// PriceSourceKind says where a line's list unit price came from.
type PriceSourceKind string

// Price sources.
const (
	SourceBase PriceSourceKind = "BASE"
	SourceList PriceSourceKind = "LIST"
)

// PriceSource is where a unit price came from; ListID and ListName are set
// for LIST.
type PriceSource struct {
	Kind     PriceSourceKind
	ListID   uuid.UUID
	ListName string
}

// Adjustment is one promotion's discount on one line.
type Adjustment struct {
	PromotionID uuid.UUID
	Kind        PromotionKind
	Amount      int64
	// GiftQty is the units a GIFT adjustment gives (its Amount is their list
	// value, which is 0 for a gift priced at 0).
	GiftQty int64 `json:",omitempty"`
}

// Line is a priced line. Net = Amount - Discount >= 0.
type Line struct {
	SKUID         uuid.UUID
	Qty           int64
	ListUnitPrice int64
	Source        PriceSource
	Amount        int64 // Qty * ListUnitPrice
	Discount      int64 // Σ Adjustments
	Net           int64
	Gift          bool
	Applied       []uuid.UUID  // promotions that touched the line, in order
	Adjustments   []Adjustment // the same, with amounts
}

// Discount is an order-level discount (THRESHOLD), already allocated onto
// the lines' Adjustments.
type Discount struct {
	PromotionID uuid.UUID
	Name        string
	Kind        PromotionKind
	Amount      int64
}

// ProblemCode says why a line could not be priced.
type ProblemCode string

// Line problems.
const (
	ProblemUnknownSKU      ProblemCode = "UNKNOWN_SKU"
	ProblemInvalidQuantity ProblemCode = "INVALID_QUANTITY"
	ProblemInvalidPrice    ProblemCode = "INVALID_PRICE"
	ProblemTooManyLines    ProblemCode = "TOO_MANY_LINES"
)

// LineProblem is a line left out of the quote. Qty is the SKU's merged
// quantity.
type LineProblem struct {
	SKUID uuid.UUID
	Qty   int64
	Code  ProblemCode
}

// Result is a quote.
type Result struct {
	Lines          []Line
	OrderDiscounts []Discount
	Subtotal       int64
	Discount       int64
	Total          int64
	Explanation    []Step
	Problems       []LineProblem
}

// validAt reports ValidFrom <= at < ValidTo, zero bounds open.
func validAt(from, to, at time.Time) bool {
	return (from.IsZero() || !at.Before(from)) && (to.IsZero() || at.Before(to))
}

func compareID(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

// ---- price lists ----

type listRef struct {
	l      *PriceList
	rank   int
	reason Reason // NOT_VALID_NOW or TARGET_MISMATCH, "" when eligible for the buyer
}

// prepareLists sorts the lists by precedence and marks those the buyer
// cannot use at all.
func prepareLists(b Buyer, lists []PriceList, at time.Time) []listRef {
	refs := make([]listRef, len(lists))
	for i := range lists {
		l := &lists[i]
		r := listRef{l: l, rank: l.Target.Rank()}
		switch {
		case !validAt(l.ValidFrom, l.ValidTo, at):
			r.reason = ReasonNotValidNow
		case !l.Target.Matches(b):
			r.reason = ReasonTargetMismatch
		}
		refs[i] = r
	}
	slices.SortStableFunc(refs, func(a, b listRef) int {
		if a.rank != b.rank {
			return b.rank - a.rank
		}
		if a.l.Priority != b.l.Priority {
			if a.l.Priority > b.l.Priority {
				return -1
			}
			return 1
		}
		if c := b.l.CreatedAt.Compare(a.l.CreatedAt); c != 0 {
			return c
		}
		return compareID(a.l.ID, b.l.ID)
	})
	return refs
}

// selectPrice walks the lists in precedence order, appending a step for each.
func selectPrice(sku uuid.UUID, base int64, refs []listRef, skuPtr *uuid.UUID, steps []Step) (int64, PriceSource, []Step) {
	unit, src := base, PriceSource{Kind: SourceBase}
	found := false
	for _, r := range refs {
		st := Step{Kind: StepPriceList, ID: r.l.ID, Name: r.l.Name, SKUID: skuPtr, Reason: r.reason}
		if st.Reason == "" {
			p, ok := r.l.Prices[sku]
			switch {
			case !ok:
				st.Reason = ReasonNoPriceForSKU
			case p < 0 || p > MaxUnitPrice:
				st.Reason = ReasonInvalidPrice
			case found:
				st.Reason, st.Amount = ReasonOutranked, p
			default:
				found = true
				st.Reason, st.Applied, st.Amount = ReasonApplied, true, p
				unit, src = p, PriceSource{Kind: SourceList, ListID: r.l.ID, ListName: r.l.Name}
			}
		}
		steps = append(steps, st)
	}
	return unit, src, steps
}

// SelectPrice prices one SKU for a buyer at a time by the price precedence
// (see the package documentation), without a full quote. considered has one
// step per list, in precedence order. With no eligible list it returns the
// item's base price and source BASE.
func SelectPrice(b Buyer, it Item, lists []PriceList, at time.Time) (unit int64, src PriceSource, considered []Step) {
	refs := prepareLists(b, lists, at)
	sku := it.SKUID
	return selectPrice(sku, it.BasePrice, refs, &sku, make([]Step, 0, len(refs)))
}

// ---- the quote ----

type lineState struct {
	sku     uuid.UUID
	cats    []uuid.UUID
	qty     int64
	unit    int64
	src     PriceSource
	amount  int64
	disc    int64
	freeQty int64 // units not yet in a bundle
	freeNet int64 // their net
	nadj    int   // adjustments recorded for the line
	out     int   // index of the line in the result
}

func (l *lineState) net() int64 { return l.amount - l.disc }

type promoRef struct {
	p       *Promotion
	stage   int
	reason  Reason // outcome
	amount  int64
	settled bool // outcome final (not a candidate, or lost its group)
}

type quoter struct {
	in        *Input
	lines     []*lineState
	gifts     []*lineState
	adjs      []adjustment // every line adjustment, in application order
	giftGiven map[uuid.UUID]int64
	discounts []Discount
	steps     []Step
	problems  []LineProblem
	// scratch, one slot per line, overwritten by each evaluation
	disc, val, use []int64
	bundling       bool
}

// adjustment is an Adjustment waiting for its line's slice in the result.
type adjustment struct {
	line *lineState
	adj  Adjustment
}

func (q *quoter) adjust(l *lineState, p *Promotion, amount int64) {
	q.adjs = append(q.adjs, adjustment{line: l, adj: Adjustment{PromotionID: p.ID, Kind: p.Kind, Amount: amount}})
	l.nadj++
}

// effect is what one promotion would do to the current state; the per-line
// amounts are in the quoter's scratch slices.
type effect struct {
	reason   Reason
	benefit  int64
	giftSKU  uuid.UUID
	giftQty  int64
	giftUnit int64
}

func (e effect) ok() bool { return e.reason.Applied() }

// Quote prices a cart. It is pure and deterministic: the same input always
// gives the same result, whatever the order of its lines, price lists and
// promotions (IDs being unique). The rules are in the package documentation.
func Quote(in Input) Result {
	q := &quoter{in: &in}
	q.priceLines()
	promos := q.runPromotions()
	return q.result(promos)
}

type merged struct {
	pos, neg int64
	bad      bool
}

func (q *quoter) priceLines() {
	in := q.in
	byID := make(map[uuid.UUID]merged, len(in.Lines))
	for _, l := range in.Lines {
		m := byID[l.SKUID]
		if l.Qty <= 0 || l.Qty > MaxQty {
			m.bad = true
		}
		if l.Qty > 0 {
			m.pos = satAdd(m.pos, l.Qty)
		} else if m.neg < math.MinInt64-l.Qty {
			m.neg = math.MinInt64
		} else {
			m.neg += l.Qty
		}
		byID[l.SKUID] = m
	}
	keys := make([]uuid.UUID, 0, len(byID))
	for k := range byID {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareID)

	refs := prepareLists(in.Buyer, in.PriceLists, in.At)
	q.steps = make([]Step, 0, len(keys)*len(refs)+len(in.Promotions))
	states := make([]lineState, 0, len(keys))
	q.lines = make([]*lineState, 0, len(keys))
	for i := range keys {
		sku := &keys[i]
		m := byID[*sku]
		qty := m.pos + m.neg
		it, known := in.Items[*sku]
		switch {
		case !known:
			q.problem(*sku, qty, ProblemUnknownSKU)
			continue
		case m.bad || qty > MaxQty:
			q.problem(*sku, qty, ProblemInvalidQuantity)
			continue
		}
		mark := len(q.steps)
		var unit int64
		var src PriceSource
		unit, src, q.steps = selectPrice(*sku, it.BasePrice, refs, sku, q.steps)
		switch {
		case unit < 0 || unit > MaxUnitPrice:
			q.problem(*sku, qty, ProblemInvalidPrice)
			continue
		case len(states) >= MaxLines:
			q.steps = q.steps[:mark]
			q.problem(*sku, qty, ProblemTooManyLines)
			continue
		}
		states = append(states, lineState{
			sku: *sku, cats: it.Categories, qty: qty, unit: unit, src: src, amount: qty * unit,
		})
		q.lines = append(q.lines, &states[len(states)-1])
	}
	n := len(q.lines)
	scratch := make([]int64, 3*n)
	q.disc, q.val, q.use = scratch[:n], scratch[n:2*n], scratch[2*n:]
	q.adjs = make([]adjustment, 0, 2*n)
}

func (q *quoter) problem(sku uuid.UUID, qty int64, code ProblemCode) {
	q.problems = append(q.problems, LineProblem{SKUID: sku, Qty: qty, Code: code})
}

// findLine finds the priced line of a SKU (lines are sorted by SKU id).
func (q *quoter) findLine(sku uuid.UUID) (int, bool) {
	return slices.BinarySearchFunc(q.lines, sku, func(l *lineState, id uuid.UUID) int { return compareID(l.sku, id) })
}

// precheck gives the reason a promotion is not a candidate, or "".
func (q *quoter) precheck(p *Promotion) Reason {
	switch {
	case !usable(p, q.in.Items):
		return ReasonInvalidRule
	case !validAt(p.ValidFrom, p.ValidTo, q.in.At):
		return ReasonNotValidNow
	case !p.Target.Matches(q.in.Buyer):
		return ReasonTargetMismatch
	case p.UsesLeft != nil && *p.UsesLeft <= 0:
		return ReasonUseLimitReached
	}
	return ""
}

// usable reports whether the engine can evaluate a promotion at all. Values
// that merely over-discount (Off >= Threshold, more than 100 %, a negative
// bundle or break price) are usable and get capped.
func usable(p *Promotion, items map[uuid.UUID]Item) bool {
	switch p.Kind {
	case KindQuantityBreak:
		if len(p.Breaks) == 0 {
			return false
		}
		for _, b := range p.Breaks {
			if b.MinQty <= 0 {
				return false
			}
		}
	case KindBundle:
		if p.Bundle == nil || len(p.Bundle.Items) == 0 {
			return false
		}
		for i, it := range p.Bundle.Items {
			if it.Qty <= 0 || it.Qty > MaxQty {
				return false
			}
			for _, o := range p.Bundle.Items[:i] {
				if o.SKUID == it.SKUID {
					return false
				}
			}
		}
	case KindPercentOff:
		return p.PercentBP > 0
	case KindThreshold:
		if len(p.Tiers) == 0 {
			return false
		}
		for _, t := range p.Tiers {
			if t.Threshold <= 0 {
				return false
			}
		}
	case KindGift:
		g := p.Gift
		if g == nil || g.Qty <= 0 || g.Threshold < 0 || g.MinQty < 0 {
			return false
		}
		it, ok := items[g.SKUID]
		return ok && it.BasePrice >= 0 && it.BasePrice <= MaxUnitPrice
	default:
		return false
	}
	return true
}

func inScope(p *Promotion, l *lineState) bool {
	if len(p.SKUs) == 0 && len(p.Categories) == 0 {
		return true
	}
	if slices.Contains(p.SKUs, l.sku) {
		return true
	}
	for _, c := range p.Categories {
		if slices.Contains(l.cats, c) {
			return true
		}
	}
	return false
}

func (q *quoter) runPromotions() []promoRef {
	ps := q.in.Promotions
	refs := make([]promoRef, len(ps))
	for i := range ps {
		refs[i] = promoRef{p: &ps[i], stage: stageOf(ps[i].Kind)}
	}
	slices.SortStableFunc(refs, func(a, b promoRef) int {
		if a.stage != b.stage {
			return a.stage - b.stage
		}
		if a.p.Priority != b.p.Priority {
			if a.p.Priority > b.p.Priority {
				return -1
			}
			return 1
		}
		return compareID(a.p.ID, b.p.ID)
	})

	type group struct {
		name    string
		members []int
	}
	var groups []group
	for i := range refs {
		r := &refs[i]
		if r.reason = q.precheck(r.p); r.reason != "" {
			r.settled = true
			continue
		}
		if r.p.Group == "" {
			continue
		}
		gi := slices.IndexFunc(groups, func(g group) bool { return g.name == r.p.Group })
		if gi < 0 {
			groups = append(groups, group{name: r.p.Group})
			gi = len(groups) - 1
		}
		groups[gi].members = append(groups[gi].members, i)
	}

	for stage := range len(Stages) {
		if stage == stageOf(KindBundle) {
			q.bundling = true
			for _, l := range q.lines {
				l.freeQty, l.freeNet = l.qty, l.net()
			}
		}
		// Resolve the groups whose earliest member is in this stage (members
		// are in stage order, so that is the first one).
		for _, g := range groups {
			if refs[g.members[0]].stage != stage || len(g.members) < 2 {
				continue
			}
			q.resolveGroup(refs, g.members)
		}
		for i := range refs {
			r := &refs[i]
			if r.stage != stage || r.settled {
				continue
			}
			e := q.evaluate(r.p)
			r.reason, r.settled = e.reason, true
			if e.ok() {
				r.amount = e.benefit
				q.apply(r.p, e)
			}
		}
	}
	return refs
}

// resolveGroup evaluates each member alone on the current state and settles
// every member but the winner.
func (q *quoter) resolveGroup(refs []promoRef, members []int) {
	win := -1
	for _, i := range members {
		r := &refs[i]
		e := q.evaluate(r.p)
		r.reason = e.reason
		if !e.ok() {
			r.settled = true
			continue
		}
		r.amount = e.benefit
		if win < 0 || better(r, &refs[win]) {
			win = i
		}
	}
	for _, i := range members {
		r := &refs[i]
		if i == win || r.settled {
			continue
		}
		r.reason, r.settled = ReasonExclusiveGroupLost, true
	}
	if win >= 0 {
		refs[win].amount = 0 // set again when it applies at its stage
	}
}

// better reports whether a beats b in an exclusive group: larger benefit,
// then higher Priority, then smaller ID.
func better(a, b *promoRef) bool {
	if a.amount != b.amount {
		return a.amount > b.amount
	}
	if a.p.Priority != b.p.Priority {
		return a.p.Priority > b.p.Priority
	}
	return compareID(a.p.ID, b.p.ID) < 0
}

// evaluate works out what p would do now, without changing the state. Line
// discounts go to q.disc; a bundle's used units and values to q.use/q.val.
func (q *quoter) evaluate(p *Promotion) effect {
	clear(q.disc)
	switch p.Kind {
	case KindQuantityBreak:
		return q.evalBreaks(p)
	case KindBundle:
		return q.evalBundle(p)
	case KindPercentOff:
		return q.evalPercent(p)
	case KindThreshold:
		return q.evalThreshold(p)
	case KindGift:
		return q.evalGift(p)
	}
	return effect{reason: ReasonInvalidRule}
}

func discountReason(total int64, capped bool) Reason {
	switch {
	case total <= 0:
		return ReasonNoBenefit
	case capped:
		return ReasonDiscountCapped
	}
	return ReasonApplied
}

func (q *quoter) evalBreaks(p *Promotion) effect {
	scoped, reached, capped := false, false, false
	var total int64
	for i, l := range q.lines {
		if !inScope(p, l) {
			continue
		}
		scoped = true
		var unit int64
		found, neg := false, false
		for _, b := range p.Breaks {
			if b.MinQty > l.qty {
				continue
			}
			u := max(b.UnitPrice, 0)
			if !found || u < unit {
				unit, neg = u, b.UnitPrice < 0
			}
			found = true
		}
		if !found {
			continue
		}
		reached = true
		if unit >= l.unit { // cannot lower the line (and qty*unit might overflow)
			continue
		}
		if d := l.net() - l.qty*unit; d > 0 {
			q.disc[i] = d
			total += d
			capped = capped || neg
		}
	}
	switch {
	case !scoped:
		return effect{reason: ReasonNotInScope}
	case !reached:
		return effect{reason: ReasonThresholdNotReached}
	}
	return effect{reason: discountReason(total, capped), benefit: total}
}

func (q *quoter) free(l *lineState) (qty, net int64) {
	if q.bundling {
		return l.freeQty, l.freeNet
	}
	return l.qty, l.net()
}

func (q *quoter) evalBundle(p *Promotion) effect {
	clear(q.val)
	clear(q.use)
	b := p.Bundle
	present := 0
	sets := int64(math.MaxInt64)
	for _, it := range b.Items {
		i, ok := q.findLine(it.SKUID)
		if !ok {
			sets = 0
			continue
		}
		present++
		fq, _ := q.free(q.lines[i])
		sets = min(sets, fq/it.Qty)
	}
	switch {
	case present == 0:
		return effect{reason: ReasonNotInScope}
	case sets == 0:
		return effect{reason: ReasonIncompleteBundle}
	}
	var value int64
	for _, it := range b.Items {
		i, _ := q.findLine(it.SKUID)
		fq, fn := q.free(q.lines[i])
		units := sets * it.Qty // <= fq
		v := fn
		if units < fq {
			v = mulDivHalfUp(fn, units, fq)
		}
		q.use[i], q.val[i] = units, v
		value += v
	}
	price := max(b.Price, 0)
	var cost int64
	if price > 0 {
		if sets > value/price {
			return effect{reason: ReasonNoBenefit}
		}
		cost = sets * price
	}
	d := value - cost
	if d <= 0 {
		return effect{reason: ReasonNoBenefit}
	}
	allocateInto(q.disc, d, q.val)
	return effect{reason: discountReason(d, b.Price < 0), benefit: d}
}

func (q *quoter) evalPercent(p *Promotion) effect {
	bp := p.PercentBP
	capped := bp > BPDenominator
	scoped := false
	var total int64
	for i, l := range q.lines {
		if !inScope(p, l) {
			continue
		}
		scoped = true
		d := ApplyBP(l.net(), bp)
		q.disc[i] = d
		total += d
	}
	if !scoped {
		return effect{reason: ReasonNotInScope}
	}
	return effect{reason: discountReason(total, capped), benefit: total}
}

func (q *quoter) evalThreshold(p *Promotion) effect {
	clear(q.val)
	scoped := false
	var base int64
	for i, l := range q.lines {
		if !inScope(p, l) {
			continue
		}
		scoped = true
		q.val[i] = l.net()
		base += l.net()
	}
	if !scoped {
		return effect{reason: ReasonNotInScope}
	}
	var tier Tier
	found := false
	for _, t := range p.Tiers {
		if t.Threshold > base {
			continue
		}
		if !found || t.Threshold > tier.Threshold || (t.Threshold == tier.Threshold && t.Off > tier.Off) {
			tier, found = t, true
		}
	}
	if !found {
		return effect{reason: ReasonThresholdNotReached}
	}
	if tier.Off <= 0 {
		return effect{reason: ReasonNoBenefit}
	}
	d := tier.Off
	if p.Repeat {
		d = satMul(tier.Off, base/tier.Threshold)
	}
	capped := d > base
	d = min(d, base)
	if d <= 0 {
		return effect{reason: ReasonNoBenefit}
	}
	allocateInto(q.disc, d, q.val)
	return effect{reason: discountReason(d, capped), benefit: d}
}

func (q *quoter) evalGift(p *Promotion) effect {
	g := p.Gift
	scoped := false
	var net, qty int64
	for _, l := range q.lines {
		if !inScope(p, l) {
			continue
		}
		scoped = true
		net += l.net()
		qty += l.qty
	}
	if !scoped {
		return effect{reason: ReasonNotInScope}
	}
	times := func(have, need int64) int64 {
		if p.Repeat {
			return have / need
		}
		if have >= need {
			return 1
		}
		return 0
	}
	var count int64
	switch {
	case g.Threshold > 0 && g.MinQty > 0:
		count = min(times(net, g.Threshold), times(qty, g.MinQty))
	case g.Threshold > 0:
		count = times(net, g.Threshold)
	case g.MinQty > 0:
		count = times(qty, g.MinQty)
	default:
		count = 1
	}
	if count <= 0 {
		return effect{reason: ReasonThresholdNotReached}
	}
	want := min(satMul(g.Qty, count), MaxQty)
	given := q.giftGiven[g.SKUID]
	stock := max(q.in.GiftStock[g.SKUID]-given, 0)
	give := min(want, stock, MaxQty-given)
	if p.GiftLeft != nil {
		give = min(give, *p.GiftLeft)
	}
	if give <= 0 {
		return effect{reason: ReasonGiftOutOfStock}
	}
	unit := q.in.Items[g.SKUID].BasePrice
	r := ReasonApplied
	if give < want {
		r = ReasonGiftPartial
	}
	return effect{reason: r, benefit: give * unit, giftSKU: g.SKUID, giftQty: give, giftUnit: unit}
}

// apply makes an evaluated effect real.
func (q *quoter) apply(p *Promotion, e effect) {
	if p.Kind == KindGift {
		q.addGift(p, e)
		return
	}
	for i, d := range q.disc {
		if d <= 0 {
			continue
		}
		l := q.lines[i]
		l.disc += d
		q.adjust(l, p, d)
	}
	if p.Kind == KindBundle {
		for i, u := range q.use {
			if u > 0 {
				l := q.lines[i]
				l.freeQty -= u
				l.freeNet -= q.val[i]
			}
		}
	}
	if p.Kind == KindThreshold {
		q.discounts = append(q.discounts, Discount{PromotionID: p.ID, Name: p.Name, Kind: p.Kind, Amount: e.benefit})
	}
}

func (q *quoter) addGift(p *Promotion, e effect) {
	if q.giftGiven == nil {
		q.giftGiven = make(map[uuid.UUID]int64)
	}
	q.giftGiven[e.giftSKU] += e.giftQty
	i := slices.IndexFunc(q.gifts, func(l *lineState) bool { return l.sku == e.giftSKU })
	if i < 0 {
		q.gifts = append(q.gifts, &lineState{sku: e.giftSKU, unit: e.giftUnit, src: PriceSource{Kind: SourceBase}})
		i = len(q.gifts) - 1
	}
	l := q.gifts[i]
	l.qty += e.giftQty
	l.amount = l.qty * l.unit
	l.disc = l.amount
	q.adjust(l, p, e.benefit)
	q.adjs[len(q.adjs)-1].adj.GiftQty = e.giftQty
}

func (q *quoter) result(refs []promoRef) Result {
	slices.SortFunc(q.gifts, func(a, b *lineState) int { return compareID(a.sku, b.sku) })
	res := Result{
		Lines:          make([]Line, len(q.lines)+len(q.gifts)),
		OrderDiscounts: q.discounts,
		Problems:       q.problems,
	}
	// Each line's Adjustments and Applied are windows of two shared arrays,
	// capped so that appending to one never writes into the next.
	adjs := make([]Adjustment, len(q.adjs))
	applied := make([]uuid.UUID, len(q.adjs))
	off := 0
	for i := range res.Lines {
		l, gift := q.lineAt(i)
		line := &res.Lines[i]
		*line = Line{
			SKUID: l.sku, Qty: l.qty, ListUnitPrice: l.unit, Source: l.src,
			Amount: l.amount, Discount: l.disc, Net: l.amount - l.disc, Gift: gift,
		}
		l.out = i
		if l.nadj > 0 {
			line.Adjustments = adjs[off : off : off+l.nadj]
			line.Applied = applied[off : off : off+l.nadj]
			off += l.nadj
		}
		res.Subtotal += line.Amount
		res.Discount += line.Discount
	}
	for _, a := range q.adjs {
		line := &res.Lines[a.line.out]
		line.Adjustments = append(line.Adjustments, a.adj)
		if !slices.Contains(line.Applied, a.adj.PromotionID) {
			line.Applied = append(line.Applied, a.adj.PromotionID)
		}
	}
	res.Total = max(res.Subtotal-res.Discount, 0)

	res.Explanation = q.steps
	for _, r := range refs {
		st := Step{Kind: StepPromotion, ID: r.p.ID, Name: r.p.Name, Reason: r.reason, Applied: r.reason.Applied()}
		if st.Applied || r.reason == ReasonExclusiveGroupLost {
			st.Amount = r.amount
		}
		res.Explanation = append(res.Explanation, st)
	}
	return res
}

// lineAt is the i-th result line: priced lines, then gift lines.
func (q *quoter) lineAt(i int) (*lineState, bool) {
	if i < len(q.lines) {
		return q.lines[i], false
	}
	return q.gifts[i-len(q.lines)], true
}

// ---- validation ----

// Rule errors. ValidatePromotion and ValidatePriceList wrap them in a
// *RuleError naming the field; test with errors.Is.
var (
	ErrInvalidKind          = errors.New("pricing: unknown promotion kind")
	ErrInvalidTarget        = errors.New("pricing: invalid target")
	ErrValidityOrder        = errors.New("pricing: validity ends before it starts")
	ErrEmptyRule            = errors.New("pricing: rule has nothing to apply")
	ErrInvalidPercent       = errors.New("pricing: percentage must be 1..10000 basis points")
	ErrDiscountExceedsPrice = errors.New("pricing: discount exceeds the price")
	ErrInvalidDiscount      = errors.New("pricing: discount must be above 0")
	ErrNegativePrice        = errors.New("pricing: negative price")
	ErrPriceTooHigh         = errors.New("pricing: price above the maximum")
	ErrInvalidQuantity      = errors.New("pricing: quantity must be 1..1000000")
	ErrInvalidThreshold     = errors.New("pricing: invalid threshold")
	ErrDuplicateEntry       = errors.New("pricing: duplicate tier, break or bundle item")
	ErrInvalidUseLimit      = errors.New("pricing: use limit below 0")
)

// RuleError ties a rule error to the field at fault, e.g. ["tiers", "1", "off"].
type RuleError struct {
	Field []string
	Err   error
}

func (e *RuleError) Error() string {
	s := ""
	for i, f := range e.Field {
		if i > 0 {
			s += "."
		}
		s += f
	}
	return e.Err.Error() + " (" + s + ")"
}

// Unwrap returns the sentinel.
func (e *RuleError) Unwrap() error { return e.Err }

// FieldPath is the input field at fault, for the graph layer.
func (e *RuleError) FieldPath() []string { return e.Field }

func ruleErr(err error, field ...string) error { return &RuleError{Field: field, Err: err} }

func validateTarget(t Target) error {
	switch t.Kind {
	case TargetAll:
		if t.Value != "" {
			return ruleErr(ErrInvalidTarget, "target", "value")
		}
	case TargetChannelType, TargetGrade, TargetRegion:
		if t.Value == "" {
			return ruleErr(ErrInvalidTarget, "target", "value")
		}
	case TargetParty:
		if id, err := uuid.Parse(t.Value); err != nil || id == uuid.Nil {
			return ruleErr(ErrInvalidTarget, "target", "value")
		}
	default:
		return ruleErr(ErrInvalidTarget, "target", "kind")
	}
	return nil
}

func validateWindow(from, to time.Time) error {
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return ruleErr(ErrValidityOrder, "validTo")
	}
	return nil
}

// ValidatePriceList checks a price list before it is saved: a known target,
// ValidTo after ValidFrom when both are set, at least one price, and every
// price in 0..MaxUnitPrice. The first fault is returned as a *RuleError
// (prices are checked in SKU id order).
func ValidatePriceList(l PriceList) error {
	if err := validateTarget(l.Target); err != nil {
		return err
	}
	if err := validateWindow(l.ValidFrom, l.ValidTo); err != nil {
		return err
	}
	if len(l.Prices) == 0 {
		return ruleErr(ErrEmptyRule, "prices")
	}
	var bad uuid.UUID
	var badErr error
	for sku, p := range l.Prices {
		var err error
		switch {
		case p < 0:
			err = ErrNegativePrice
		case p > MaxUnitPrice:
			err = ErrPriceTooHigh
		}
		if err != nil && (badErr == nil || compareID(sku, bad) < 0) {
			bad, badErr = sku, err
		}
	}
	if badErr != nil {
		return ruleErr(badErr, "prices", bad.String())
	}
	return nil
}

// ValidatePromotion checks a promotion before it is saved. Beside the target
// and validity window it checks, by kind:
//   - THRESHOLD: at least one tier; each Threshold > 0, Off > 0 and
//     Off < Threshold (else ErrDiscountExceedsPrice); no two tiers with the
//     same Threshold.
//   - PERCENT_OFF: PercentBP in 1..10000.
//   - GIFT: a gift with a SKU, Qty 1..MaxQty, Threshold and MinQty >= 0.
//   - BUNDLE: at least one item, each Qty 1..MaxQty, distinct SKUs, Price >= 0
//     (else ErrDiscountExceedsPrice).
//   - QUANTITY_BREAK: at least one break, each MinQty 1..MaxQty and
//     UnitPrice >= 0 (else ErrDiscountExceedsPrice), distinct MinQty.
//
// UsesLeft, when set, must be >= 0. The first fault is returned as a
// *RuleError.
func ValidatePromotion(p Promotion) error {
	if stageOf(p.Kind) >= len(Stages) {
		return ruleErr(ErrInvalidKind, "kind")
	}
	if err := validateTarget(p.Target); err != nil {
		return err
	}
	if err := validateWindow(p.ValidFrom, p.ValidTo); err != nil {
		return err
	}
	if p.UsesLeft != nil && *p.UsesLeft < 0 {
		return ruleErr(ErrInvalidUseLimit, "usesLeft")
	}
	idx := strconv.Itoa
	switch p.Kind {
	case KindThreshold:
		if len(p.Tiers) == 0 {
			return ruleErr(ErrEmptyRule, "tiers")
		}
		for i, t := range p.Tiers {
			switch {
			case t.Threshold <= 0:
				return ruleErr(ErrInvalidThreshold, "tiers", idx(i), "threshold")
			case t.Off <= 0:
				return ruleErr(ErrInvalidDiscount, "tiers", idx(i), "off")
			case t.Off >= t.Threshold:
				return ruleErr(ErrDiscountExceedsPrice, "tiers", idx(i), "off")
			}
			for _, o := range p.Tiers[:i] {
				if o.Threshold == t.Threshold {
					return ruleErr(ErrDuplicateEntry, "tiers", idx(i), "threshold")
				}
			}
		}
	case KindPercentOff:
		if p.PercentBP < 1 || p.PercentBP > BPDenominator {
			return ruleErr(ErrInvalidPercent, "percentBp")
		}
	case KindGift:
		g := p.Gift
		switch {
		case g == nil || g.SKUID == uuid.Nil:
			return ruleErr(ErrEmptyRule, "gift", "skuId")
		case g.Qty <= 0 || g.Qty > MaxQty:
			return ruleErr(ErrInvalidQuantity, "gift", "qty")
		case g.Threshold < 0:
			return ruleErr(ErrInvalidThreshold, "gift", "threshold")
		case g.MinQty < 0:
			return ruleErr(ErrInvalidThreshold, "gift", "minQty")
		}
	case KindBundle:
		b := p.Bundle
		if b == nil || len(b.Items) == 0 {
			return ruleErr(ErrEmptyRule, "bundle", "items")
		}
		for i, it := range b.Items {
			switch {
			case it.SKUID == uuid.Nil:
				return ruleErr(ErrEmptyRule, "bundle", "items", idx(i), "skuId")
			case it.Qty <= 0 || it.Qty > MaxQty:
				return ruleErr(ErrInvalidQuantity, "bundle", "items", idx(i), "qty")
			}
			for _, o := range b.Items[:i] {
				if o.SKUID == it.SKUID {
					return ruleErr(ErrDuplicateEntry, "bundle", "items", idx(i), "skuId")
				}
			}
		}
		if b.Price < 0 {
			return ruleErr(ErrDiscountExceedsPrice, "bundle", "price")
		}
	case KindQuantityBreak:
		if len(p.Breaks) == 0 {
			return ruleErr(ErrEmptyRule, "breaks")
		}
		for i, br := range p.Breaks {
			switch {
			case br.MinQty <= 0 || br.MinQty > MaxQty:
				return ruleErr(ErrInvalidQuantity, "breaks", idx(i), "minQty")
			case br.UnitPrice < 0:
				return ruleErr(ErrDiscountExceedsPrice, "breaks", idx(i), "unitPrice")
			case br.UnitPrice > MaxUnitPrice:
				return ruleErr(ErrPriceTooHigh, "breaks", idx(i), "unitPrice")
			}
			for _, o := range p.Breaks[:i] {
				if o.MinQty == br.MinQty {
					return ruleErr(ErrDuplicateEntry, "breaks", idx(i), "minQty")
				}
			}
		}
	}
	return nil
}

// OverlappingExclusive finds pairs of promotions in the same exclusive Group
// whose validity windows overlap and whose targets may reach the same buyer
// (equal targets, or either one ALL). Each pair is (smaller ID, larger ID);
// pairs come sorted. Promotions with an empty window (ValidTo <= ValidFrom)
// overlap nothing.
func OverlappingExclusive(ps []Promotion) [][2]uuid.UUID {
	var out [][2]uuid.UUID
	for i := range ps {
		a := &ps[i]
		if a.Group == "" || !nonEmpty(a.ValidFrom, a.ValidTo) {
			continue
		}
		for j := i + 1; j < len(ps); j++ {
			b := &ps[j]
			if b.Group != a.Group || b.ID == a.ID || !nonEmpty(b.ValidFrom, b.ValidTo) {
				continue
			}
			sameTarget := a.Target == b.Target || a.Target.Kind == TargetAll || b.Target.Kind == TargetAll
			if !sameTarget || !startsBefore(a.ValidFrom, b.ValidTo) || !startsBefore(b.ValidFrom, a.ValidTo) {
				continue
			}
			pair := [2]uuid.UUID{a.ID, b.ID}
			if compareID(pair[0], pair[1]) > 0 {
				pair[0], pair[1] = pair[1], pair[0]
			}
			out = append(out, pair)
		}
	}
	slices.SortFunc(out, func(x, y [2]uuid.UUID) int {
		if c := compareID(x[0], y[0]); c != 0 {
			return c
		}
		return compareID(x[1], y[1])
	})
	return slices.Compact(out)
}

func nonEmpty(from, to time.Time) bool { return from.IsZero() || to.IsZero() || from.Before(to) }

// startsBefore reports whether a window starting at from begins before one
// ending at to (zero bounds open).
func startsBefore(from, to time.Time) bool { return from.IsZero() || to.IsZero() || from.Before(to) }
