package pricing

import (
	"encoding/binary"
	"errors"
	"go/scanner"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

var at = time.Date(2026, 3, 1, 4, 0, 0, 0, time.UTC)

// id makes distinct, ordered ids: id(1) < id(2) < ...
func id(n int) uuid.UUID {
	u := uuid.UUID{0x01, 0x9c, 0, 0, 0, 0, 0x70, 0, 0x80}
	binary.BigEndian.PutUint32(u[12:], uint32(n))
	return u
}

var (
	skuA       = id(101) // phone, ¥100.00
	skuB       = id(102) // phone, ¥50.00
	skuC       = id(103) // accessory, ¥20.00
	skuGift    = id(150) // accessory, ¥30.00
	skuUnknown = id(199)
	catRoot    = id(400)
	catPhone   = id(401)
	catAcc     = id(402)
	partyID    = id(1)
	buyer      = Buyer{PartyID: partyID, ChannelType: "DISTRIBUTOR", Grade: "GOLD", Region: "GD"}
)

func testItems() map[uuid.UUID]Item {
	return map[uuid.UUID]Item{
		skuA:    {SKUID: skuA, Categories: []uuid.UUID{catPhone, catRoot}, BasePrice: 10000},
		skuB:    {SKUID: skuB, Categories: []uuid.UUID{catPhone, catRoot}, BasePrice: 5000},
		skuC:    {SKUID: skuC, Categories: []uuid.UUID{catAcc, catRoot}, BasePrice: 2000},
		skuGift: {SKUID: skuGift, Categories: []uuid.UUID{catAcc, catRoot}, BasePrice: 3000},
	}
}

func input(lines []LineInput, promos ...Promotion) Input {
	return Input{
		Buyer: buyer, Lines: lines, Items: testItems(), Promotions: promos, At: at,
		GiftStock: map[uuid.UUID]int64{skuGift: 100},
	}
}

func ln(sku uuid.UUID, qty int64) LineInput { return LineInput{SKUID: sku, Qty: qty} }

func lines(l ...LineInput) []LineInput { return l }

func promoStep(t *testing.T, res Result, pid uuid.UUID) Step {
	t.Helper()
	for _, s := range res.Explanation {
		if s.Kind == StepPromotion && s.ID == pid {
			return s
		}
	}
	t.Fatalf("no step for promotion %s", pid)
	return Step{}
}

func lineOf(t *testing.T, res Result, sku uuid.UUID, gift bool) Line {
	t.Helper()
	for _, l := range res.Lines {
		if l.SKUID == sku && l.Gift == gift {
			return l
		}
	}
	t.Fatalf("no line for %s (gift %v)", sku, gift)
	return Line{}
}

func requireReason(t *testing.T, res Result, pid uuid.UUID, want Reason, amount int64) {
	t.Helper()
	s := promoStep(t, res, pid)
	require.Equal(t, want, s.Reason, "promotion %s", pid)
	require.Equal(t, want.Applied(), s.Applied)
	require.Equal(t, amount, s.Amount, "promotion %s amount", pid)
}

func pct(n int, bp int64) Promotion {
	return Promotion{ID: id(300 + n), Name: "pct" + strconv.Itoa(n), Kind: KindPercentOff, Target: Target{Kind: TargetAll}, PercentBP: bp}
}

func threshold(n int, repeat bool, tiers ...Tier) Promotion {
	return Promotion{ID: id(300 + n), Name: "thr" + strconv.Itoa(n), Kind: KindThreshold, Target: Target{Kind: TargetAll}, Tiers: tiers, Repeat: repeat}
}

func gift(n int, repeat bool, g Gift) Promotion {
	return Promotion{ID: id(300 + n), Name: "gift" + strconv.Itoa(n), Kind: KindGift, Target: Target{Kind: TargetAll}, Gift: &g, Repeat: repeat}
}

func bundle(n int, price int64, items ...BundleItem) Promotion {
	return Promotion{ID: id(300 + n), Name: "bundle" + strconv.Itoa(n), Kind: KindBundle, Target: Target{Kind: TargetAll}, Bundle: &Bundle{Items: items, Price: price}}
}

func breaks(n int, br ...Break) Promotion {
	return Promotion{ID: id(300 + n), Name: "qb" + strconv.Itoa(n), Kind: KindQuantityBreak, Target: Target{Kind: TargetAll}, Breaks: br}
}

func with(p Promotion, f func(*Promotion)) Promotion { f(&p); return p }

func intPtr(n int) *int { return &n }

// ---- targets and price precedence ----

func TestTargetMatches(t *testing.T) {
	t.Parallel()
	cases := []struct {
		t    Target
		want bool
	}{
		{Target{Kind: TargetAll}, true},
		{Target{Kind: TargetChannelType, Value: "DISTRIBUTOR"}, true},
		{Target{Kind: TargetChannelType, Value: "RETAILER"}, false},
		{Target{Kind: TargetGrade, Value: "GOLD"}, true},
		{Target{Kind: TargetGrade, Value: "gold"}, false},
		{Target{Kind: TargetRegion, Value: "GD"}, true},
		{Target{Kind: TargetRegion, Value: ""}, false},
		{Target{Kind: TargetParty, Value: partyID.String()}, true},
		{Target{Kind: TargetParty, Value: strings.ToUpper(partyID.String())}, true},
		{Target{Kind: TargetParty, Value: id(2).String()}, false},
		{Target{Kind: TargetParty, Value: "not-a-uuid"}, false},
		{Target{Kind: "BOGUS", Value: "GOLD"}, false},
		{Target{}, false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, c.t.Matches(buyer), "%+v", c.t)
	}
	require.False(t, Target{Kind: TargetGrade, Value: "GOLD"}.Matches(Buyer{}))
	require.False(t, Target{Kind: TargetParty, Value: uuid.Nil.String()}.Matches(Buyer{}))
}

func pl(n int, kind TargetKind, value string, prio int, price int64) PriceList {
	v := value
	if kind == TargetParty && v == "" {
		v = partyID.String()
	}
	return PriceList{
		ID: id(200 + n), Name: "list" + strconv.Itoa(n), Target: Target{Kind: kind, Value: v}, Priority: prio,
		CreatedAt: at.Add(-30 * 24 * time.Hour), Prices: map[uuid.UUID]int64{skuA: price},
	}
}

func TestSelectPricePrecedence(t *testing.T) {
	t.Parallel()
	newer := func(l PriceList) PriceList { l.CreatedAt = l.CreatedAt.Add(time.Hour); return l }
	window := func(l PriceList, from, to time.Time) PriceList { l.ValidFrom, l.ValidTo = from, to; return l }
	onlyB := func(l PriceList) PriceList { l.Prices = map[uuid.UUID]int64{skuB: 1}; return l }
	priced := func(l PriceList, p int64) PriceList { l.Prices = map[uuid.UUID]int64{skuA: p}; return l }
	cases := []struct {
		name     string
		lists    []PriceList
		wantUnit int64
		wantList uuid.UUID // Nil: base
	}{
		{"base without lists", nil, 10000, uuid.Nil},
		{"ALL over base", []PriceList{pl(1, TargetAll, "", 0, 9000)}, 9000, id(201)},
		{"REGION over ALL whatever the priority", []PriceList{pl(1, TargetAll, "", 9, 9000), pl(2, TargetRegion, "GD", 0, 9600)}, 9600, id(202)},
		{"GRADE over REGION", []PriceList{pl(1, TargetRegion, "GD", 9, 8000), pl(2, TargetGrade, "GOLD", 0, 9700)}, 9700, id(202)},
		{"CHANNEL_TYPE over REGION", []PriceList{pl(1, TargetRegion, "GD", 9, 8000), pl(2, TargetChannelType, "DISTRIBUTOR", 0, 9700)}, 9700, id(202)},
		{"PARTY over GRADE and CHANNEL_TYPE", []PriceList{pl(1, TargetGrade, "GOLD", 9, 8000), pl(2, TargetChannelType, "DISTRIBUTOR", 9, 8100), pl(3, TargetParty, "", 0, 9900)}, 9900, id(203)},
		{"GRADE and CHANNEL_TYPE rank equal: priority (channel)", []PriceList{pl(1, TargetGrade, "GOLD", 1, 8800), pl(2, TargetChannelType, "DISTRIBUTOR", 2, 8700)}, 8700, id(202)},
		{"GRADE and CHANNEL_TYPE rank equal: priority (grade)", []PriceList{pl(1, TargetGrade, "GOLD", 3, 8800), pl(2, TargetChannelType, "DISTRIBUTOR", 2, 8700)}, 8800, id(201)},
		{"same rank and priority: newest", []PriceList{newer(pl(1, TargetGrade, "GOLD", 1, 8800)), pl(2, TargetChannelType, "DISTRIBUTOR", 1, 8700)}, 8800, id(201)},
		{"full tie: smaller id", []PriceList{pl(5, TargetAll, "", 1, 8500), pl(4, TargetAll, "", 1, 8400)}, 8400, id(204)},
		{"ValidFrom == At applies", []PriceList{window(pl(1, TargetRegion, "GD", 0, 9100), at, at.Add(time.Hour))}, 9100, id(201)},
		{"ValidTo == At does not apply", []PriceList{window(pl(1, TargetRegion, "GD", 0, 9100), at.Add(-time.Hour), at)}, 10000, uuid.Nil},
		{"not yet valid", []PriceList{window(pl(1, TargetRegion, "GD", 0, 9100), at.Add(time.Second), time.Time{})}, 10000, uuid.Nil},
		{"open-ended window", []PriceList{window(pl(1, TargetRegion, "GD", 0, 9100), time.Time{}, at.Add(time.Nanosecond))}, 9100, id(201)},
		{"expired PARTY falls to GRADE", []PriceList{window(pl(1, TargetParty, "", 0, 7000), time.Time{}, at), pl(2, TargetGrade, "GOLD", 0, 9000)}, 9000, id(202)},
		{"other grade, other party", []PriceList{pl(1, TargetGrade, "SILVER", 0, 7000), pl(2, TargetParty, id(2).String(), 0, 7000)}, 10000, uuid.Nil},
		{"a list without the SKU falls through", []PriceList{onlyB(pl(1, TargetParty, "", 0, 0)), pl(2, TargetGrade, "GOLD", 0, 9000)}, 9000, id(202)},
		{"a negative list price is skipped", []PriceList{priced(pl(1, TargetParty, "", 0, 0), -5), pl(2, TargetAll, "", 0, 9000)}, 9000, id(202)},
		{"a zero list price is a price", []PriceList{priced(pl(1, TargetParty, "", 0, 0), 0), pl(2, TargetAll, "", 0, 9000)}, 0, id(201)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			unit, src, considered := SelectPrice(buyer, testItems()[skuA], c.lists, at)
			require.Equal(t, c.wantUnit, unit)
			require.Len(t, considered, len(c.lists))
			if c.wantList == uuid.Nil {
				require.Equal(t, PriceSource{Kind: SourceBase}, src)
			} else {
				require.Equal(t, SourceList, src.Kind)
				require.Equal(t, c.wantList, src.ListID)
			}
			applied := 0
			for _, s := range considered {
				require.Equal(t, StepPriceList, s.Kind)
				require.Equal(t, skuA, *s.SKUID)
				if s.Applied {
					applied++
					require.Equal(t, c.wantList, s.ID)
				}
			}
			require.LessOrEqual(t, applied, 1)

			// A full quote prices the line the same way.
			in := input(lines(ln(skuA, 2)))
			in.PriceLists = c.lists
			res := Quote(in)
			require.Equal(t, c.wantUnit, res.Lines[0].ListUnitPrice)
			require.Equal(t, src, res.Lines[0].Source)
			require.Equal(t, 2*c.wantUnit, res.Total)
			require.Equal(t, considered, res.Explanation)
		})
	}
}

func TestSelectPriceExplains(t *testing.T) {
	t.Parallel()
	party := pl(1, TargetParty, "", 0, 0)
	party.Prices = map[uuid.UUID]int64{skuB: 4000}
	gold := pl(2, TargetGrade, "GOLD", 1, 8800)
	silver := pl(3, TargetGrade, "SILVER", 5, 7000)
	region := pl(4, TargetRegion, "GD", 9, 9000)
	all := pl(5, TargetAll, "", 0, 8000)
	all.ValidTo = at
	_, _, steps := SelectPrice(buyer, testItems()[skuA], []PriceList{all, region, silver, gold, party}, at)
	got := make([]string, len(steps))
	for i, s := range steps {
		got[i] = s.Name + ":" + string(s.Reason) + ":" + strconv.FormatInt(s.Amount, 10)
	}
	require.Equal(t, []string{
		"list1:NO_PRICE_FOR_SKU:0",
		"list3:TARGET_MISMATCH:0",
		"list2:APPLIED:8800",
		"list4:OUTRANKED:9000",
		"list5:NOT_VALID_NOW:0",
	}, got)
}

// ---- promotions, kind by kind ----

type promoCase struct {
	name  string
	in    Input
	check func(t *testing.T, res Result)
}

func runCases(t *testing.T, cases []promoCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := Quote(c.in)
			requireInvariants(t, c.in, res)
			c.check(t, res)
		})
	}
}

func TestQuantityBreak(t *testing.T) {
	t.Parallel()
	qb := breaks(1, Break{MinQty: 10, UnitPrice: 9500}, Break{MinQty: 50, UnitPrice: 9000})
	runCases(t, []promoCase{
		{"best reached break", input(lines(ln(skuA, 60)), qb), func(t *testing.T, res Result) {
			requireReason(t, res, qb.ID, ReasonApplied, 60000)
			require.Equal(t, int64(540000), res.Total)
			require.Equal(t, []uuid.UUID{qb.ID}, res.Lines[0].Applied)
		}},
		{"lower break", input(lines(ln(skuA, 12)), qb), func(t *testing.T, res Result) {
			requireReason(t, res, qb.ID, ReasonApplied, 6000)
			require.Equal(t, int64(114000), res.Total)
		}},
		{"no break reached", input(lines(ln(skuA, 9)), qb), func(t *testing.T, res Result) {
			requireReason(t, res, qb.ID, ReasonThresholdNotReached, 0)
			require.Equal(t, int64(90000), res.Total)
		}},
		{"by each line's own quantity", input(lines(ln(skuA, 10), ln(skuB, 9)), qb), func(t *testing.T, res Result) {
			require.Equal(t, int64(5000), lineOf(t, res, skuA, false).Discount)
			require.Equal(t, int64(0), lineOf(t, res, skuB, false).Discount)
		}},
		{"scope by category", input(lines(ln(skuA, 60), ln(skuC, 60)), with(qb, func(p *Promotion) { p.Categories = []uuid.UUID{catAcc} })), func(t *testing.T, res Result) {
			require.Equal(t, int64(0), lineOf(t, res, skuA, false).Discount)
			require.Equal(t, int64(0), lineOf(t, res, skuC, false).Discount) // 9000 > 2000: no benefit
			requireReason(t, res, qb.ID, ReasonNoBenefit, 0)
		}},
		{"not in scope", input(lines(ln(skuA, 60)), with(qb, func(p *Promotion) { p.SKUs = []uuid.UUID{skuB} })), func(t *testing.T, res Result) {
			requireReason(t, res, qb.ID, ReasonNotInScope, 0)
		}},
		{"negative break price capped at 0", input(lines(ln(skuA, 10)), breaks(2, Break{MinQty: 10, UnitPrice: -1})), func(t *testing.T, res Result) {
			requireReason(t, res, id(302), ReasonDiscountCapped, 100000)
			require.Equal(t, int64(0), res.Total)
		}},
	})
}

func TestBundle(t *testing.T) {
	t.Parallel()
	ab := bundle(1, 13000, BundleItem{SKUID: skuA, Qty: 1}, BundleItem{SKUID: skuB, Qty: 1})
	runCases(t, []promoCase{
		{"two complete sets, leftover unit at its price", input(lines(ln(skuA, 3), ln(skuB, 2)), ab), func(t *testing.T, res Result) {
			// value of the sets 2*10000 + 2*5000 = 30000, price 26000: 4000 off,
			// spread 20000:10000 → 2666.67/1333.33 → 2667/1333.
			requireReason(t, res, ab.ID, ReasonApplied, 4000)
			require.Equal(t, int64(2667), lineOf(t, res, skuA, false).Discount)
			require.Equal(t, int64(1333), lineOf(t, res, skuB, false).Discount)
			require.Equal(t, int64(36000), res.Total)
		}},
		{"incomplete", input(lines(ln(skuA, 3)), ab), func(t *testing.T, res Result) {
			requireReason(t, res, ab.ID, ReasonIncompleteBundle, 0)
		}},
		{"not enough of one item", input(lines(ln(skuA, 1), ln(skuB, 1)), bundle(2, 20000, BundleItem{SKUID: skuA, Qty: 2}, BundleItem{SKUID: skuB, Qty: 1})), func(t *testing.T, res Result) {
			requireReason(t, res, id(302), ReasonIncompleteBundle, 0)
		}},
		{"none of its SKUs", input(lines(ln(skuC, 3)), ab), func(t *testing.T, res Result) {
			requireReason(t, res, ab.ID, ReasonNotInScope, 0)
		}},
		{"price above the value", input(lines(ln(skuA, 1), ln(skuB, 1)), bundle(3, 15000, BundleItem{SKUID: skuA, Qty: 1}, BundleItem{SKUID: skuB, Qty: 1})), func(t *testing.T, res Result) {
			requireReason(t, res, id(303), ReasonNoBenefit, 0)
		}},
		{"a unit counts in one bundle only", input(lines(ln(skuA, 1), ln(skuB, 1), ln(skuC, 1)),
			with(ab, func(p *Promotion) { p.Priority = 2 }),
			bundle(4, 11000, BundleItem{SKUID: skuA, Qty: 1}, BundleItem{SKUID: skuC, Qty: 1})), func(t *testing.T, res Result) {
			requireReason(t, res, ab.ID, ReasonApplied, 2000)
			requireReason(t, res, id(304), ReasonIncompleteBundle, 0)
		}},
		{"three for the price of two", input(lines(ln(skuC, 7)), bundle(5, 4000, BundleItem{SKUID: skuC, Qty: 3})), func(t *testing.T, res Result) {
			requireReason(t, res, id(305), ReasonApplied, 4000)
			require.Equal(t, int64(10000), res.Total)
		}},
		{"negative price capped at 0", input(lines(ln(skuA, 1), ln(skuB, 1)), bundle(6, -100, BundleItem{SKUID: skuA, Qty: 1}, BundleItem{SKUID: skuB, Qty: 1})), func(t *testing.T, res Result) {
			requireReason(t, res, id(306), ReasonDiscountCapped, 15000)
			require.Equal(t, int64(0), res.Total)
		}},
	})
}

func TestPercentOffRoundsHalfUpPerLine(t *testing.T) {
	t.Parallel()
	x := []uuid.UUID{id(111), id(112), id(113), id(114)}
	in := input(lines(ln(x[0], 1), ln(x[1], 1), ln(x[2], 1), ln(x[3], 1)), pct(1, 1000))
	for i, p := range []int64{15, 14, 25, 5} {
		in.Items[x[i]] = Item{SKUID: x[i], BasePrice: p}
	}
	res := Quote(in)
	requireInvariants(t, in, res)
	var got []int64
	for _, l := range res.Lines {
		got = append(got, l.Discount)
	}
	require.Equal(t, []int64{2, 1, 3, 1}, got) // 1.5→2, 1.4→1, 2.5→3, 0.5→1
	requireReason(t, res, id(301), ReasonApplied, 7)
}

func TestPercentOff(t *testing.T) {
	t.Parallel()
	runCases(t, []promoCase{
		{"on scoped lines", input(lines(ln(skuA, 1), ln(skuC, 1)), with(pct(1, 1250), func(p *Promotion) { p.Categories = []uuid.UUID{catPhone} })), func(t *testing.T, res Result) {
			require.Equal(t, int64(1250), lineOf(t, res, skuA, false).Discount)
			require.Equal(t, int64(0), lineOf(t, res, skuC, false).Discount)
		}},
		{"more than 100 % capped", input(lines(ln(skuA, 1)), pct(2, 12000)), func(t *testing.T, res Result) {
			requireReason(t, res, id(302), ReasonDiscountCapped, 10000)
			require.Equal(t, int64(0), res.Total)
		}},
		{"nothing in scope", input(lines(ln(skuA, 1)), with(pct(3, 500), func(p *Promotion) { p.SKUs = []uuid.UUID{skuC} })), func(t *testing.T, res Result) {
			requireReason(t, res, id(303), ReasonNotInScope, 0)
		}},
		{"a zero price line gains nothing", input(lines(ln(skuA, 1)), pct(1, 10000), pct(2, 500)), func(t *testing.T, res Result) {
			requireReason(t, res, id(301), ReasonApplied, 10000)
			requireReason(t, res, id(302), ReasonNoBenefit, 0)
		}},
	})
}

func TestThreshold(t *testing.T) {
	t.Parallel()
	tiers := threshold(1, false, Tier{Threshold: 100000, Off: 10000}, Tier{Threshold: 300000, Off: 40000})
	every := threshold(2, true, Tier{Threshold: 100000, Off: 10000})
	runCases(t, []promoCase{
		{"lower tier", input(lines(ln(skuA, 25)), tiers), func(t *testing.T, res Result) {
			requireReason(t, res, tiers.ID, ReasonApplied, 10000)
			require.Equal(t, []Discount{{PromotionID: tiers.ID, Name: "thr1", Kind: KindThreshold, Amount: 10000}}, res.OrderDiscounts)
			require.Equal(t, int64(240000), res.Total)
		}},
		{"highest reached tier", input(lines(ln(skuA, 35)), tiers), func(t *testing.T, res Result) {
			requireReason(t, res, tiers.ID, ReasonApplied, 40000)
		}},
		{"exactly on the threshold", input(lines(ln(skuA, 10)), tiers), func(t *testing.T, res Result) {
			requireReason(t, res, tiers.ID, ReasonApplied, 10000)
		}},
		{"not reached", input(lines(ln(skuA, 9), ln(skuB, 1)), tiers), func(t *testing.T, res Result) {
			requireReason(t, res, tiers.ID, ReasonThresholdNotReached, 0)
			require.Empty(t, res.OrderDiscounts)
		}},
		{"¥100 off every ¥1,000", input(lines(ln(skuA, 35)), every), func(t *testing.T, res Result) {
			requireReason(t, res, every.ID, ReasonApplied, 30000)
			require.Equal(t, int64(320000), res.Total)
		}},
		{"off above the scoped net is capped", input(lines(ln(skuC, 1)), threshold(3, false, Tier{Threshold: 1000, Off: 5000})), func(t *testing.T, res Result) {
			requireReason(t, res, id(303), ReasonDiscountCapped, 2000)
			require.Equal(t, int64(0), res.Total)
			require.Equal(t, int64(0), res.Lines[0].Net)
		}},
		{"measured and allocated on scoped lines only", input(lines(ln(skuA, 20), ln(skuC, 10)),
			with(threshold(4, false, Tier{Threshold: 20000, Off: 1000}), func(p *Promotion) { p.Categories = []uuid.UUID{catAcc} })), func(t *testing.T, res Result) {
			require.Equal(t, int64(0), lineOf(t, res, skuA, false).Discount)
			require.Equal(t, int64(1000), lineOf(t, res, skuC, false).Discount)
		}},
	})
}

func TestThresholdAllocationIsExact(t *testing.T) {
	t.Parallel()
	in := input(lines(ln(skuC, 1), ln(skuA, 1), ln(skuB, 1)), threshold(1, false, Tier{Threshold: 10000, Off: 1000}))
	res := Quote(in)
	requireInvariants(t, in, res)
	// 1000 over 10000:5000:2000 = 588.2 / 294.1 / 117.6: the spare unit goes
	// to the largest remainder (C).
	require.Equal(t, int64(588), lineOf(t, res, skuA, false).Discount)
	require.Equal(t, int64(294), lineOf(t, res, skuB, false).Discount)
	require.Equal(t, int64(118), lineOf(t, res, skuC, false).Discount)
	require.Equal(t, int64(1000), res.Discount)

	// Equal remainders go to the lines first in SKU order.
	x := []uuid.UUID{id(111), id(112), id(113)}
	in = input(lines(ln(x[2], 1), ln(x[1], 1), ln(x[0], 1)), threshold(2, false, Tier{Threshold: 3, Off: 2}))
	for _, s := range x {
		in.Items[s] = Item{SKUID: s, BasePrice: 1}
	}
	res = Quote(in)
	requireInvariants(t, in, res)
	require.Equal(t, []int64{1, 1, 0}, []int64{res.Lines[0].Discount, res.Lines[1].Discount, res.Lines[2].Discount})
}

func TestGift(t *testing.T) {
	t.Parallel()
	g := gift(1, true, Gift{SKUID: skuGift, Qty: 1, Threshold: 100000})
	stock := func(in Input, n int64, ok bool) Input {
		in.GiftStock = map[uuid.UUID]int64{}
		if ok {
			in.GiftStock[skuGift] = n
		}
		return in
	}
	runCases(t, []promoCase{
		{"one for every ¥1,000", stock(input(lines(ln(skuA, 35)), g), 5, true), func(t *testing.T, res Result) {
			requireReason(t, res, g.ID, ReasonApplied, 9000)
			gl := lineOf(t, res, skuGift, true)
			require.Equal(t, Line{
				SKUID: skuGift, Qty: 3, ListUnitPrice: 3000, Source: PriceSource{Kind: SourceBase},
				Amount: 9000, Discount: 9000, Net: 0, Gift: true, Applied: []uuid.UUID{g.ID},
				Adjustments: []Adjustment{{PromotionID: g.ID, Kind: KindGift, Amount: 9000, GiftQty: 3}},
			}, gl)
			require.Equal(t, int64(359000), res.Subtotal)
			require.Equal(t, int64(9000), res.Discount)
			require.Equal(t, int64(350000), res.Total)
			require.Equal(t, skuGift, res.Lines[len(res.Lines)-1].SKUID)
		}},
		{"partial stock", stock(input(lines(ln(skuA, 35)), g), 2, true), func(t *testing.T, res Result) {
			requireReason(t, res, g.ID, ReasonGiftPartial, 6000)
			require.Equal(t, int64(2), lineOf(t, res, skuGift, true).Qty)
		}},
		{"no stock entry", stock(input(lines(ln(skuA, 35)), g), 0, false), func(t *testing.T, res Result) {
			requireReason(t, res, g.ID, ReasonGiftOutOfStock, 0)
			require.Len(t, res.Lines, 1)
			require.Equal(t, int64(350000), res.Subtotal)
		}},
		{"zero stock", stock(input(lines(ln(skuA, 35)), g), 0, true), func(t *testing.T, res Result) {
			requireReason(t, res, g.ID, ReasonGiftOutOfStock, 0)
		}},
		{"once without Repeat", input(lines(ln(skuA, 35)), gift(2, false, Gift{SKUID: skuGift, Qty: 2, Threshold: 100000})), func(t *testing.T, res Result) {
			require.Equal(t, int64(2), lineOf(t, res, skuGift, true).Qty)
		}},
		{"by quantity", input(lines(ln(skuA, 25)), gift(3, true, Gift{SKUID: skuGift, Qty: 1, MinQty: 10})), func(t *testing.T, res Result) {
			require.Equal(t, int64(2), lineOf(t, res, skuGift, true).Qty)
		}},
		{"amount and quantity: the smaller count", input(lines(ln(skuA, 35)), gift(4, true, Gift{SKUID: skuGift, Qty: 1, Threshold: 100000, MinQty: 30})), func(t *testing.T, res Result) {
			require.Equal(t, int64(1), lineOf(t, res, skuGift, true).Qty)
		}},
		{"not reached", input(lines(ln(skuA, 9)), g), func(t *testing.T, res Result) {
			requireReason(t, res, g.ID, ReasonThresholdNotReached, 0)
		}},
		{"gift promotions share the stock; one gift line", stock(input(lines(ln(skuA, 10)),
			gift(5, false, Gift{SKUID: skuGift, Qty: 2}), with(gift(6, false, Gift{SKUID: skuGift, Qty: 2}), func(p *Promotion) { p.Priority = 1 })), 3, true), func(t *testing.T, res Result) {
			requireReason(t, res, id(306), ReasonApplied, 6000)
			requireReason(t, res, id(305), ReasonGiftPartial, 3000)
			gl := lineOf(t, res, skuGift, true)
			require.Equal(t, int64(3), gl.Qty)
			require.Equal(t, []uuid.UUID{id(306), id(305)}, gl.Applied)
			require.Len(t, res.Lines, 2)
		}},
		{"a bought gift SKU stays a separate line", input(lines(ln(skuGift, 1), ln(skuA, 10)), gift(7, false, Gift{SKUID: skuGift, Qty: 1})), func(t *testing.T, res Result) {
			require.Len(t, res.Lines, 3)
			require.False(t, res.Lines[1].Gift)
			require.True(t, res.Lines[2].Gift)
			require.Equal(t, int64(103000), res.Total)
		}},
		{"gift SKU not in the catalogue facts", input(lines(ln(skuA, 10)), gift(8, false, Gift{SKUID: skuUnknown, Qty: 1})), func(t *testing.T, res Result) {
			requireReason(t, res, id(308), ReasonInvalidRule, 0)
		}},
	})
}

// ---- eligibility, groups, stacking ----

func TestEligibility(t *testing.T) {
	t.Parallel()
	p := pct(1, 1000)
	cart := lines(ln(skuA, 1))
	cases := []struct {
		name string
		mod  func(*Promotion)
		want Reason
	}{
		{"ValidFrom == At applies", func(p *Promotion) { p.ValidFrom = at }, ReasonApplied},
		{"ValidTo == At does not", func(p *Promotion) { p.ValidTo = at }, ReasonNotValidNow},
		{"not started", func(p *Promotion) { p.ValidFrom = at.Add(time.Second) }, ReasonNotValidNow},
		{"for the party", func(p *Promotion) { p.Target = Target{Kind: TargetParty, Value: partyID.String()} }, ReasonApplied},
		{"for another grade", func(p *Promotion) { p.Target = Target{Kind: TargetGrade, Value: "SILVER"} }, ReasonTargetMismatch},
		{"uses left", func(p *Promotion) { p.UsesLeft = intPtr(1) }, ReasonApplied},
		{"no uses left", func(p *Promotion) { p.UsesLeft = intPtr(0) }, ReasonUseLimitReached},
		{"unknown kind", func(p *Promotion) { p.Kind = "BOGO" }, ReasonInvalidRule},
		{"zero percent", func(p *Promotion) { p.PercentBP = 0 }, ReasonInvalidRule},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := Quote(input(cart, with(p, c.mod)))
			require.Equal(t, c.want, promoStep(t, res, p.ID).Reason)
		})
	}
}

func TestExclusiveGroups(t *testing.T) {
	t.Parallel()
	grp := func(p Promotion, prio int) Promotion {
		p.Group, p.Priority = "launch", prio
		return p
	}
	cart := lines(ln(skuA, 10)) // ¥1,000.00
	runCases(t, []promoCase{
		{"largest benefit wins", input(cart, grp(pct(1, 500), 9), grp(pct(2, 800), 0)), func(t *testing.T, res Result) {
			requireReason(t, res, id(302), ReasonApplied, 8000)
			requireReason(t, res, id(301), ReasonExclusiveGroupLost, 5000)
			require.Equal(t, int64(92000), res.Total)
		}},
		{"tie: higher priority", input(cart, grp(pct(1, 500), 1), grp(pct(2, 500), 2)), func(t *testing.T, res Result) {
			requireReason(t, res, id(302), ReasonApplied, 5000)
			requireReason(t, res, id(301), ReasonExclusiveGroupLost, 5000)
		}},
		{"tie: smaller id", input(cart, grp(pct(2, 500), 1), grp(pct(1, 500), 1)), func(t *testing.T, res Result) {
			requireReason(t, res, id(301), ReasonApplied, 5000)
			requireReason(t, res, id(302), ReasonExclusiveGroupLost, 5000)
		}},
		{"across kinds: a later stage can win", input(cart, grp(pct(1, 800), 0), grp(threshold(2, false, Tier{Threshold: 100000, Off: 10000}), 0)), func(t *testing.T, res Result) {
			requireReason(t, res, id(302), ReasonApplied, 10000)
			requireReason(t, res, id(301), ReasonExclusiveGroupLost, 8000)
			require.Equal(t, int64(90000), res.Total)
		}},
		{"a gift competes by its base value", input(cart, grp(pct(1, 200), 0), grp(gift(2, false, Gift{SKUID: skuGift, Qty: 1}), 0)), func(t *testing.T, res Result) {
			requireReason(t, res, id(302), ReasonApplied, 3000)
			requireReason(t, res, id(301), ReasonExclusiveGroupLost, 2000)
		}},
		{"members that cannot apply do not compete", input(cart, grp(with(pct(1, 5000), func(p *Promotion) { p.ValidTo = at }), 0),
			grp(pct(2, 500), 0), grp(threshold(3, false, Tier{Threshold: 500000, Off: 1000}), 0)), func(t *testing.T, res Result) {
			requireReason(t, res, id(301), ReasonNotValidNow, 0)
			requireReason(t, res, id(302), ReasonApplied, 5000)
			requireReason(t, res, id(303), ReasonThresholdNotReached, 0)
		}},
		{"other groups and ungrouped promotions stack", input(cart, grp(pct(1, 500), 0), with(pct(2, 1000), func(p *Promotion) { p.Group = "other" }), pct(3, 1000)), func(t *testing.T, res Result) {
			// 5 % of 100000, then 10 % of 95000, then 10 % of 85500
			requireReason(t, res, id(301), ReasonApplied, 5000)
			requireReason(t, res, id(302), ReasonApplied, 9500)
			requireReason(t, res, id(303), ReasonApplied, 8550)
			require.Equal(t, int64(76950), res.Total)
		}},
	})
}

func TestStackingOrder(t *testing.T) {
	t.Parallel()
	qb := breaks(1, Break{MinQty: 50, UnitPrice: 9000})
	p := pct(2, 1000)
	thr := threshold(3, false, Tier{Threshold: 400000, Off: 40000})
	g1 := gift(4, false, Gift{SKUID: skuGift, Qty: 1, Threshold: 450000})
	g2 := gift(5, false, Gift{SKUID: skuGift, Qty: 1, Threshold: 400000})
	// given in reverse order; applied QUANTITY_BREAK, BUNDLE, PERCENT_OFF, THRESHOLD, GIFT
	in := input(lines(ln(skuA, 60)), g2, g1, thr, p, qb)
	res := Quote(in)
	requireInvariants(t, in, res)
	// 600000 → break 540000 → 10 % 486000 → ¥400 off 446000 → gift at ¥4,500
	// not reached, gift at ¥4,000 given.
	a := lineOf(t, res, skuA, false)
	require.Equal(t, []Adjustment{
		{PromotionID: qb.ID, Kind: KindQuantityBreak, Amount: 60000},
		{PromotionID: p.ID, Kind: KindPercentOff, Amount: 54000},
		{PromotionID: thr.ID, Kind: KindThreshold, Amount: 40000},
	}, a.Adjustments)
	require.Equal(t, int64(446000), a.Net)
	requireReason(t, res, g1.ID, ReasonThresholdNotReached, 0)
	requireReason(t, res, g2.ID, ReasonApplied, 3000)
	require.Equal(t, int64(603000), res.Subtotal)
	require.Equal(t, int64(157000), res.Discount)
	require.Equal(t, int64(446000), res.Total)
	var order []uuid.UUID
	for _, s := range res.Explanation {
		if s.Kind == StepPromotion {
			order = append(order, s.ID)
		}
	}
	require.Equal(t, []uuid.UUID{qb.ID, p.ID, thr.ID, g1.ID, g2.ID}, order)
}

func TestLineProblems(t *testing.T) {
	t.Parallel()
	res := Quote(input(lines(ln(skuUnknown, 1), ln(skuA, 0), ln(skuA, 5), ln(skuB, -1), ln(skuC, MaxQty+1), ln(skuGift, 2))))
	require.Equal(t, []LineProblem{
		{SKUID: skuA, Qty: 5, Code: ProblemInvalidQuantity},
		{SKUID: skuB, Qty: -1, Code: ProblemInvalidQuantity},
		{SKUID: skuC, Qty: MaxQty + 1, Code: ProblemInvalidQuantity},
		{SKUID: skuUnknown, Qty: 1, Code: ProblemUnknownSKU},
	}, res.Problems)
	require.Len(t, res.Lines, 1)
	require.Equal(t, int64(6000), res.Total)

	res = Quote(input(lines(ln(skuA, 2), ln(skuB, 1), ln(skuA, 3))))
	require.Empty(t, res.Problems)
	require.Equal(t, []uuid.UUID{skuA, skuB}, []uuid.UUID{res.Lines[0].SKUID, res.Lines[1].SKUID})
	require.Equal(t, int64(5), res.Lines[0].Qty)

	res = Quote(input(lines(ln(skuA, MaxQty), ln(skuA, 1))))
	require.Equal(t, []LineProblem{{SKUID: skuA, Qty: MaxQty + 1, Code: ProblemInvalidQuantity}}, res.Problems)

	res = Quote(input(lines(ln(skuA, MaxQty))))
	require.Empty(t, res.Problems)
	require.Equal(t, MaxQty*10000, res.Total)

	in := input(lines(ln(skuA, 1)))
	in.Items[skuA] = Item{SKUID: skuA, BasePrice: -1}
	res = Quote(in)
	require.Equal(t, []LineProblem{{SKUID: skuA, Qty: 1, Code: ProblemInvalidPrice}}, res.Problems)

	in = input(nil)
	for i := range MaxLines + 1 {
		s := id(1000 + i)
		in.Items[s] = Item{SKUID: s, BasePrice: MaxUnitPrice}
		in.Lines = append(in.Lines, ln(s, MaxQty))
	}
	res = Quote(in)
	require.Len(t, res.Lines, MaxLines)
	require.Equal(t, []LineProblem{{SKUID: id(1000 + MaxLines), Qty: MaxQty, Code: ProblemTooManyLines}}, res.Problems)
	require.Equal(t, int64(MaxLines)*MaxQty*MaxUnitPrice, res.Total)
}

func TestEmptyCart(t *testing.T) {
	t.Parallel()
	in := input(nil, pct(1, 500), threshold(2, false, Tier{Threshold: 1, Off: 1}), gift(3, false, Gift{SKUID: skuGift, Qty: 1}))
	res := Quote(in)
	requireInvariants(t, in, res)
	require.Empty(t, res.Lines)
	require.Zero(t, res.Total)
	for _, s := range res.Explanation {
		require.Equal(t, ReasonNotInScope, s.Reason)
	}
}

// ---- validation ----

func TestValidatePromotion(t *testing.T) {
	t.Parallel()
	ok := []Promotion{
		pct(1, 1), pct(1, 10000),
		threshold(1, true, Tier{Threshold: 100000, Off: 10000}),
		gift(1, false, Gift{SKUID: skuGift, Qty: 1}),
		bundle(1, 0, BundleItem{SKUID: skuA, Qty: 1}),
		breaks(1, Break{MinQty: 1, UnitPrice: 0}),
	}
	for _, p := range ok {
		require.NoError(t, ValidatePromotion(p), "%+v", p)
	}
	cases := []struct {
		name  string
		p     Promotion
		err   error
		field []string
	}{
		{"kind", with(pct(1, 10), func(p *Promotion) { p.Kind = "BOGO" }), ErrInvalidKind, []string{"kind"}},
		{"target kind", with(pct(1, 10), func(p *Promotion) { p.Target = Target{} }), ErrInvalidTarget, []string{"target", "kind"}},
		{"target party", with(pct(1, 10), func(p *Promotion) { p.Target = Target{Kind: TargetParty, Value: "x"} }), ErrInvalidTarget, []string{"target", "value"}},
		{"target grade", with(pct(1, 10), func(p *Promotion) { p.Target = Target{Kind: TargetGrade} }), ErrInvalidTarget, []string{"target", "value"}},
		{"validity ends before it starts", with(pct(1, 10), func(p *Promotion) { p.ValidFrom, p.ValidTo = at, at.Add(-time.Hour) }), ErrValidityOrder, []string{"validTo"}},
		{"validity empty", with(pct(1, 10), func(p *Promotion) { p.ValidFrom, p.ValidTo = at, at }), ErrValidityOrder, []string{"validTo"}},
		{"uses", with(pct(1, 10), func(p *Promotion) { p.UsesLeft = intPtr(-1) }), ErrInvalidUseLimit, []string{"usesLeft"}},
		{"percent 0", pct(1, 0), ErrInvalidPercent, []string{"percentBp"}},
		{"percent above 100", pct(1, 10001), ErrInvalidPercent, []string{"percentBp"}},
		{"no tiers", threshold(1, false), ErrEmptyRule, []string{"tiers"}},
		{"tier off equals threshold", threshold(1, false, Tier{Threshold: 100, Off: 100}), ErrDiscountExceedsPrice, []string{"tiers", "0", "off"}},
		{"tier off above threshold", threshold(1, false, Tier{Threshold: 100, Off: 10}, Tier{Threshold: 1000, Off: 2000}), ErrDiscountExceedsPrice, []string{"tiers", "1", "off"}},
		{"tier off 0", threshold(1, false, Tier{Threshold: 100, Off: 0}), ErrInvalidDiscount, []string{"tiers", "0", "off"}},
		{"tier threshold 0", threshold(1, false, Tier{Threshold: 0, Off: 0}), ErrInvalidThreshold, []string{"tiers", "0", "threshold"}},
		{"duplicate tier", threshold(1, false, Tier{Threshold: 100, Off: 10}, Tier{Threshold: 100, Off: 20}), ErrDuplicateEntry, []string{"tiers", "1", "threshold"}},
		{"no gift", with(gift(1, false, Gift{}), func(p *Promotion) { p.Gift = nil }), ErrEmptyRule, []string{"gift", "skuId"}},
		{"gift qty", gift(1, false, Gift{SKUID: skuGift}), ErrInvalidQuantity, []string{"gift", "qty"}},
		{"gift threshold", gift(1, false, Gift{SKUID: skuGift, Qty: 1, Threshold: -1}), ErrInvalidThreshold, []string{"gift", "threshold"}},
		{"no bundle items", bundle(1, 100), ErrEmptyRule, []string{"bundle", "items"}},
		{"bundle qty", bundle(1, 100, BundleItem{SKUID: skuA}), ErrInvalidQuantity, []string{"bundle", "items", "0", "qty"}},
		{"bundle duplicate", bundle(1, 100, BundleItem{SKUID: skuA, Qty: 1}, BundleItem{SKUID: skuA, Qty: 2}), ErrDuplicateEntry, []string{"bundle", "items", "1", "skuId"}},
		{"bundle price below 0", bundle(1, -1, BundleItem{SKUID: skuA, Qty: 1}), ErrDiscountExceedsPrice, []string{"bundle", "price"}},
		{"no breaks", breaks(1), ErrEmptyRule, []string{"breaks"}},
		{"break min qty", breaks(1, Break{MinQty: 0, UnitPrice: 1}), ErrInvalidQuantity, []string{"breaks", "0", "minQty"}},
		{"break price below 0", breaks(1, Break{MinQty: 10, UnitPrice: -1}), ErrDiscountExceedsPrice, []string{"breaks", "0", "unitPrice"}},
		{"break price too high", breaks(1, Break{MinQty: 10, UnitPrice: MaxUnitPrice + 1}), ErrPriceTooHigh, []string{"breaks", "0", "unitPrice"}},
		{"duplicate break", breaks(1, Break{MinQty: 10, UnitPrice: 1}, Break{MinQty: 10, UnitPrice: 2}), ErrDuplicateEntry, []string{"breaks", "1", "minQty"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := ValidatePromotion(c.p)
			require.ErrorIs(t, err, c.err)
			var re *RuleError
			require.True(t, errors.As(err, &re))
			require.Equal(t, c.field, re.FieldPath())
			require.Contains(t, err.Error(), strings.Join(c.field, "."))
		})
	}
}

func TestValidatePriceList(t *testing.T) {
	t.Parallel()
	good := pl(1, TargetGrade, "GOLD", 0, 9000)
	require.NoError(t, ValidatePriceList(good))
	good.Prices[skuB] = 0
	require.NoError(t, ValidatePriceList(good))

	bad := func(f func(*PriceList)) PriceList {
		l := pl(1, TargetGrade, "GOLD", 0, 9000)
		f(&l)
		return l
	}
	cases := []struct {
		l     PriceList
		err   error
		field []string
	}{
		{bad(func(l *PriceList) { l.ValidFrom, l.ValidTo = at, at.Add(-time.Second) }), ErrValidityOrder, []string{"validTo"}},
		{bad(func(l *PriceList) { l.Target = Target{Kind: TargetAll, Value: "x"} }), ErrInvalidTarget, []string{"target", "value"}},
		{bad(func(l *PriceList) { l.Prices = nil }), ErrEmptyRule, []string{"prices"}},
		{bad(func(l *PriceList) { l.Prices[skuC] = -1; l.Prices[skuB] = -2 }), ErrNegativePrice, []string{"prices", skuB.String()}},
		{bad(func(l *PriceList) { l.Prices[skuC] = MaxUnitPrice + 1 }), ErrPriceTooHigh, []string{"prices", skuC.String()}},
	}
	for _, c := range cases {
		err := ValidatePriceList(c.l)
		require.ErrorIs(t, err, c.err)
		var re *RuleError
		require.ErrorAs(t, err, &re)
		require.Equal(t, c.field, re.Field)
	}
}

func TestOverlappingExclusive(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	p := func(n int, group string, target Target, from, to time.Time) Promotion {
		x := pct(n, 100)
		x.Group, x.Target, x.ValidFrom, x.ValidTo = group, target, from, to
		return x
	}
	all := Target{Kind: TargetAll}
	gold := Target{Kind: TargetGrade, Value: "GOLD"}
	silver := Target{Kind: TargetGrade, Value: "SILVER"}
	ps := []Promotion{
		p(7, "g", silver, at.Add(10*day), at.Add(11*day)),
		p(1, "g", all, at, at.Add(10*day)),
		p(2, "g", all, at.Add(5*day), at.Add(20*day)),
		p(3, "g", gold, at.Add(10*day), at.Add(12*day)), // starts when 1 ends: no overlap with 1
		p(4, "h", all, time.Time{}, time.Time{}),
		p(5, "g", Target{Kind: TargetRegion, Value: "GD"}, at.Add(-10*day), at.Add(-5*day)),
		p(6, "", all, time.Time{}, time.Time{}),
		p(8, "g", all, at.Add(3*day), at.Add(2*day)), // empty window
		p(9, "h", gold, time.Time{}, at.Add(-100*day)),
	}
	require.Equal(t, [][2]uuid.UUID{
		{id(301), id(302)},
		{id(302), id(303)},
		{id(302), id(307)},
		{id(304), id(309)},
	}, OverlappingExclusive(ps))
	require.Empty(t, OverlappingExclusive(nil))
}

// ---- rounding helpers ----

func TestApplyBPAndAllocate(t *testing.T) {
	t.Parallel()
	require.Equal(t, int64(2), ApplyBP(15, 1000))
	require.Equal(t, int64(1), ApplyBP(14, 1000))
	require.Equal(t, int64(0), ApplyBP(4, 1000))
	require.Equal(t, int64(1), ApplyBP(5, 1000))
	require.Equal(t, int64(15), ApplyBP(15, 20000))
	require.Equal(t, int64(0), ApplyBP(-15, 1000))
	big := int64(9_000_000_000_000_000_000)
	require.Equal(t, big/10000*9999, ApplyBP(big, 9999)) // no overflow in amount*bp

	require.Equal(t, []int64{1, 1, 0}, Allocate(2, []int64{1, 1, 1}))
	require.Equal(t, []int64{588, 294, 118}, Allocate(1000, []int64{10000, 5000, 2000}))
	require.Equal(t, []int64{0, 3, 0}, Allocate(3, []int64{0, 7, -1}))
	require.Equal(t, []int64{2, 5}, Allocate(100, []int64{2, 5}))
	require.Equal(t, []int64{0, 0}, Allocate(-1, []int64{2, 5}))
	require.Equal(t, []int64{big / 2, big / 2}, Allocate(big, []int64{big / 2, big / 2}))
	require.Equal(t, []int64{big/4 + 1, big / 4}, Allocate(big/2+1, []int64{big / 2, big / 2}))
}

// TestIntegerMoneyOnly fails if a float type or function is named, or a
// non-integer number literal written, anywhere in the package's Go code
// (comments and string literals aside).
func TestIntegerMoneyOnly(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		var s scanner.Scanner
		fset := token.NewFileSet()
		s.Init(fset.AddFile(f, -1, len(src)), src, nil, 0)
		for {
			pos, tok, lit := s.Scan()
			if tok == token.EOF {
				break
			}
			integral := slices.Contains([]token.Token{token.IDENT, token.INT, token.STRING, token.CHAR}, tok)
			if (tok.IsLiteral() && !integral) || (tok == token.IDENT && strings.Contains(strings.ToLower(lit), "float")) {
				t.Errorf("%s: %s %q", fset.Position(pos), tok, lit)
			}
		}
	}
}

// ---- properties ----

// requireInvariants checks what must hold for every quote.
func requireInvariants(t require.TestingT, in Input, res Result) {
	var sumAmount, sumDisc, sumNet int64
	seenGift := false
	for i, l := range res.Lines {
		require.Equal(t, l.Qty*l.ListUnitPrice, l.Amount)
		require.GreaterOrEqual(t, l.Discount, int64(0))
		require.GreaterOrEqual(t, l.Net, int64(0))
		require.Equal(t, l.Amount-l.Discount, l.Net)
		var adj int64
		for _, a := range l.Adjustments {
			if l.Gift {
				require.GreaterOrEqual(t, a.Amount, int64(0)) // a gift may have no value
			} else {
				require.Positive(t, a.Amount)
			}
			require.Contains(t, l.Applied, a.PromotionID)
			adj += a.Amount
		}
		require.Equal(t, l.Discount, adj)
		if l.Gift {
			seenGift = true
			require.Zero(t, l.Net)
			require.Equal(t, PriceSource{Kind: SourceBase}, l.Source)
		} else {
			require.False(t, seenGift, "gift lines come last")
			require.Positive(t, l.Qty)
			require.LessOrEqual(t, l.Qty, MaxQty)
			unit, src, _ := SelectPrice(in.Buyer, in.Items[l.SKUID], in.PriceLists, in.At)
			require.Equal(t, unit, l.ListUnitPrice)
			require.Equal(t, src, l.Source)
		}
		if i > 0 && l.Gift == res.Lines[i-1].Gift {
			require.Negative(t, compareID(res.Lines[i-1].SKUID, l.SKUID), "lines in SKU order, each SKU once")
		}
		sumAmount += l.Amount
		sumDisc += l.Discount
		sumNet += l.Net
	}
	require.Equal(t, sumAmount, res.Subtotal)
	require.Equal(t, sumDisc, res.Discount)
	require.Equal(t, res.Subtotal-res.Discount, res.Total)
	require.Equal(t, sumNet, res.Total)
	require.GreaterOrEqual(t, res.Total, int64(0))

	for _, d := range res.OrderDiscounts {
		var allocated int64
		for _, l := range res.Lines {
			for _, a := range l.Adjustments {
				if a.PromotionID == d.PromotionID {
					allocated += a.Amount
				}
			}
		}
		require.Equal(t, d.Amount, allocated, "order discount allocated exactly")
	}
	promoSteps := 0
	for _, s := range res.Explanation {
		require.Equal(t, s.Reason.Applied(), s.Applied)
		if s.Kind == StepPromotion {
			promoSteps++
			require.Nil(t, s.SKUID)
		} else {
			require.Zero(t, promoSteps, "price steps first")
			require.NotNil(t, s.SKUID)
		}
	}
	require.Equal(t, len(in.Promotions), promoSteps)
	for i := 1; i < len(res.Problems); i++ {
		require.Negative(t, compareID(res.Problems[i-1].SKUID, res.Problems[i].SKUID))
	}
}

var (
	propSKUs    = []uuid.UUID{id(101), id(102), id(103), id(104), id(105), id(106)}
	propTargets = []Target{
		{Kind: TargetAll}, {Kind: TargetGrade, Value: "GOLD"}, {Kind: TargetGrade, Value: "SILVER"},
		{Kind: TargetChannelType, Value: "DISTRIBUTOR"}, {Kind: TargetRegion, Value: "GD"}, {Kind: TargetRegion, Value: "SH"},
		{Kind: TargetParty, Value: partyID.String()}, {Kind: TargetParty, Value: id(2).String()},
	}
	propBounds = []time.Time{{}, at.Add(-time.Hour), at, at.Add(time.Hour)}
)

func genInput(t *rapid.T) Input {
	items := map[uuid.UUID]Item{}
	cats := []uuid.UUID{catPhone, catAcc}
	for i, s := range propSKUs {
		if i < 5 || rapid.Bool().Draw(t, "known") {
			items[s] = Item{SKUID: s, Categories: []uuid.UUID{rapid.SampledFrom(cats).Draw(t, "cat"), catRoot}, BasePrice: rapid.Int64Range(0, 300000).Draw(t, "base")}
		}
	}
	items[skuGift] = Item{SKUID: skuGift, Categories: []uuid.UUID{catAcc}, BasePrice: rapid.Int64Range(0, 5000).Draw(t, "giftBase")}
	anySKU := append(slices.Clone(propSKUs), skuGift, skuUnknown)

	qty := rapid.OneOf(rapid.Int64Range(1, 40), rapid.Int64Range(1, 40), rapid.Int64Range(-1, 0), rapid.Just(MaxQty+1))
	lineGen := rapid.Custom(func(t *rapid.T) LineInput {
		return LineInput{SKUID: rapid.SampledFrom(anySKU).Draw(t, "sku"), Qty: qty.Draw(t, "qty")}
	})
	in := Input{
		Buyer: buyer, Items: items, At: at,
		Lines: rapid.SliceOfN(lineGen, 0, 10).Draw(t, "lines"),
	}
	for i := range rapid.IntRange(0, 5).Draw(t, "lists") {
		l := PriceList{
			ID: id(200 + i), Name: "l", Target: rapid.SampledFrom(propTargets).Draw(t, "target"),
			Priority:  rapid.IntRange(0, 2).Draw(t, "prio"),
			ValidFrom: rapid.SampledFrom(propBounds).Draw(t, "from"), ValidTo: rapid.SampledFrom(propBounds).Draw(t, "to"),
			CreatedAt: at.Add(-time.Duration(rapid.IntRange(0, 3).Draw(t, "age")) * time.Hour),
			Prices:    map[uuid.UUID]int64{},
		}
		for _, s := range propSKUs {
			if rapid.Bool().Draw(t, "priced") {
				l.Prices[s] = rapid.Int64Range(-5, 300000).Draw(t, "price")
			}
		}
		in.PriceLists = append(in.PriceLists, l)
	}
	kinds := []PromotionKind{KindQuantityBreak, KindBundle, KindPercentOff, KindThreshold, KindGift, "BOGUS"}
	tier := rapid.Custom(func(t *rapid.T) Tier {
		return Tier{Threshold: rapid.Int64Range(0, 500000).Draw(t, "thr"), Off: rapid.Int64Range(0, 600000).Draw(t, "off")}
	})
	brk := rapid.Custom(func(t *rapid.T) Break {
		return Break{MinQty: rapid.Int64Range(0, 20).Draw(t, "min"), UnitPrice: rapid.Int64Range(-100, 300000).Draw(t, "unit")}
	})
	bitem := rapid.Custom(func(t *rapid.T) BundleItem {
		return BundleItem{SKUID: rapid.SampledFrom(propSKUs).Draw(t, "sku"), Qty: rapid.Int64Range(0, 3).Draw(t, "qty")}
	})
	for i := range rapid.IntRange(0, 8).Draw(t, "promos") {
		p := Promotion{
			ID: id(300 + i), Name: "p" + strconv.Itoa(i), Kind: rapid.SampledFrom(kinds).Draw(t, "kind"),
			Target:    rapid.SampledFrom(propTargets).Draw(t, "target"),
			ValidFrom: rapid.SampledFrom(propBounds).Draw(t, "from"), ValidTo: rapid.SampledFrom(propBounds).Draw(t, "to"),
			Priority: rapid.IntRange(0, 2).Draw(t, "prio"),
			Group:    rapid.SampledFrom([]string{"", "", "g1", "g2"}).Draw(t, "group"),
			UsesLeft: rapid.Ptr(rapid.IntRange(0, 2), true).Draw(t, "uses"),
			Repeat:   rapid.Bool().Draw(t, "repeat"),
		}
		if rapid.Bool().Draw(t, "scoped") {
			p.SKUs = rapid.SliceOfN(rapid.SampledFrom(propSKUs), 0, 2).Draw(t, "skus")
			p.Categories = rapid.SliceOfN(rapid.SampledFrom([]uuid.UUID{catRoot, catPhone, catAcc}), 0, 1).Draw(t, "cats")
		}
		switch p.Kind {
		case KindThreshold:
			p.Tiers = rapid.SliceOfN(tier, 0, 3).Draw(t, "tiers")
		case KindPercentOff:
			p.PercentBP = rapid.Int64Range(0, 12000).Draw(t, "bp")
		case KindGift:
			p.Gift = &Gift{
				SKUID:     rapid.SampledFrom([]uuid.UUID{skuGift, skuGift, propSKUs[0], skuUnknown}).Draw(t, "giftSku"),
				Qty:       rapid.Int64Range(0, 3).Draw(t, "giftQty"),
				Threshold: rapid.Int64Range(0, 300000).Draw(t, "giftThr"),
				MinQty:    rapid.Int64Range(0, 20).Draw(t, "giftMin"),
			}
		case KindBundle:
			p.Bundle = &Bundle{Items: rapid.SliceOfN(bitem, 0, 3).Draw(t, "items"), Price: rapid.Int64Range(-100, 400000).Draw(t, "price")}
		case KindQuantityBreak:
			p.Breaks = rapid.SliceOfN(brk, 0, 3).Draw(t, "breaks")
		}
		in.Promotions = append(in.Promotions, p)
	}
	if rapid.Bool().Draw(t, "stock") {
		in.GiftStock = map[uuid.UUID]int64{skuGift: rapid.Int64Range(-1, 10).Draw(t, "giftStock")}
	}
	return in
}

func cloneInput(in Input) Input {
	out := in
	out.Lines = slices.Clone(in.Lines)
	out.Items = maps.Clone(in.Items)
	out.PriceLists = slices.Clone(in.PriceLists)
	for i := range out.PriceLists {
		out.PriceLists[i].Prices = maps.Clone(in.PriceLists[i].Prices)
	}
	out.Promotions = slices.Clone(in.Promotions)
	out.GiftStock = maps.Clone(in.GiftStock)
	return out
}

func TestQuoteProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t)
		before := cloneInput(in)
		res := Quote(in)
		requireInvariants(t, in, res)
		require.True(t, reflect.DeepEqual(before, in), "input unchanged")

		// Same input, same result.
		require.True(t, reflect.DeepEqual(res, Quote(cloneInput(in))), "deterministic")

		// The order of lines, price lists and promotions does not matter.
		shuffled := cloneInput(in)
		shuffled.Lines = rapid.Permutation(in.Lines).Draw(t, "lineOrder")
		shuffled.PriceLists = rapid.Permutation(in.PriceLists).Draw(t, "listOrder")
		shuffled.Promotions = rapid.Permutation(in.Promotions).Draw(t, "promoOrder")
		require.Equal(t, res, Quote(shuffled))

		// Splitting a line into two of the same SKU changes nothing.
		split := cloneInput(in)
		split.Lines = nil
		for _, l := range in.Lines {
			if l.Qty >= 2 && rapid.Bool().Draw(t, "split") {
				k := rapid.Int64Range(1, l.Qty-1).Draw(t, "at")
				split.Lines = append(split.Lines, ln(l.SKUID, k), ln(l.SKUID, l.Qty-k))
				continue
			}
			split.Lines = append(split.Lines, l)
		}
		require.Equal(t, res, Quote(split))
	})
}

// Two promotions giving the same SKU share its stock, but each gives no more
// than its own pool holds; what a quote takes from each pool counts units,
// so a gift priced at 0 draws on its pool like any other.
func TestGiftOwnPoolAndUses(t *testing.T) {
	t.Parallel()
	left := func(p Promotion, n int64) Promotion { p.GiftLeft = &n; return p }
	spent := left(gift(1, false, Gift{SKUID: skuGift, Qty: 2, Threshold: 100000}), 0)
	open := left(gift(2, false, Gift{SKUID: skuGift, Qty: 2, Threshold: 100000}), 1)
	spent.Priority, open.Priority = 2, 1
	in := input(lines(ln(skuA, 35)), spent, open)
	res := Quote(in)
	requireInvariants(t, in, res)
	requireReason(t, res, spent.ID, ReasonGiftOutOfStock, 0)
	requireReason(t, res, open.ID, ReasonGiftPartial, 3000)
	require.Equal(t, int64(1), lineOf(t, res, skuGift, true).Qty, "the open pool's last unit, not the spent pool's")
	require.Equal(t, []Use{{PromotionID: open.ID, Gifts: 1}}, Uses(res))

	in = input(lines(ln(skuA, 35)), gift(3, false, Gift{SKUID: skuGift, Qty: 2, Threshold: 100000}))
	in.Items[skuGift] = Item{SKUID: skuGift, Categories: []uuid.UUID{catAcc, catRoot}, BasePrice: 0}
	res = Quote(in)
	require.Equal(t, int64(2), lineOf(t, res, skuGift, true).Qty)
	require.Equal(t, []Use{{PromotionID: id(303), Gifts: 2}}, Uses(res), "a free gift still takes two from the pool")
}
