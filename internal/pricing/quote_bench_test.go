package pricing

import (
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// benchInput is a 50-line cart with 10 price lists (5 of them for the buyer)
// and 20 running promotions of every kind, two exclusive groups among them.
func benchInput() Input {
	const nSKU = 60
	cats := []uuid.UUID{id(401), id(402), id(403)}
	items := make(map[uuid.UUID]Item, nSKU+2)
	var skus []uuid.UUID
	for i := range nSKU {
		s := id(1000 + i)
		skus = append(skus, s)
		items[s] = Item{SKUID: s, Categories: []uuid.UUID{cats[i%3], catRoot}, BasePrice: int64(5000 + 997*i)}
	}
	gifts := []uuid.UUID{id(2001), id(2002)}
	for _, g := range gifts {
		items[g] = Item{SKUID: g, Categories: []uuid.UUID{catAcc}, BasePrice: 1500}
	}

	targets := []Target{
		{Kind: TargetAll}, {Kind: TargetRegion, Value: "GD"}, {Kind: TargetGrade, Value: "GOLD"},
		{Kind: TargetChannelType, Value: "DISTRIBUTOR"}, {Kind: TargetParty, Value: partyID.String()},
		{Kind: TargetRegion, Value: "SH"}, {Kind: TargetGrade, Value: "SILVER"}, {Kind: TargetParty, Value: id(2).String()},
		{Kind: TargetGrade, Value: "GOLD"}, {Kind: TargetAll},
	}
	var lists []PriceList
	for i, tg := range targets {
		l := PriceList{
			ID: id(200 + i), Name: "list " + strconv.Itoa(i), Target: tg, Priority: i % 3,
			CreatedAt: at.Add(-time.Duration(i) * time.Hour), Prices: map[uuid.UUID]int64{},
		}
		if i == 9 {
			l.ValidTo = at // expired
		}
		for j, s := range skus {
			if (j+i)%3 != 0 {
				l.Prices[s] = items[s].BasePrice * int64(90+i) / 100
			}
		}
		lists = append(lists, l)
	}

	var promos []Promotion
	add := func(p Promotion) {
		p.ID = id(300 + len(promos))
		p.Name = "promo " + strconv.Itoa(len(promos))
		if p.Target.Kind == "" {
			p.Target = Target{Kind: TargetAll}
		}
		promos = append(promos, p)
	}
	add(Promotion{Kind: KindQuantityBreak, Categories: []uuid.UUID{cats[0]}, Breaks: []Break{{MinQty: 5, UnitPrice: 6000}, {MinQty: 10, UnitPrice: 5500}}})
	add(Promotion{Kind: KindQuantityBreak, SKUs: skus[:10], Breaks: []Break{{MinQty: 3, UnitPrice: 7000}}})
	add(Promotion{Kind: KindQuantityBreak, Categories: []uuid.UUID{cats[1]}, Breaks: []Break{{MinQty: 8, UnitPrice: 20000}}, Target: Target{Kind: TargetGrade, Value: "GOLD"}})
	add(Promotion{Kind: KindBundle, Bundle: &Bundle{Items: []BundleItem{{SKUID: skus[1], Qty: 1}, {SKUID: skus[2], Qty: 1}}, Price: 12000}})
	add(Promotion{Kind: KindBundle, Bundle: &Bundle{Items: []BundleItem{{SKUID: skus[4], Qty: 2}, {SKUID: skus[5], Qty: 1}}, Price: 30000}})
	add(Promotion{Kind: KindBundle, Bundle: &Bundle{Items: []BundleItem{{SKUID: skus[7], Qty: 3}}, Price: 25000}, Group: "launch"})
	add(Promotion{Kind: KindBundle, Bundle: &Bundle{Items: []BundleItem{{SKUID: skus[58], Qty: 1}, {SKUID: skus[59], Qty: 1}}, Price: 1000}})
	add(Promotion{Kind: KindPercentOff, PercentBP: 500})
	add(Promotion{Kind: KindPercentOff, PercentBP: 300, Categories: []uuid.UUID{cats[2]}})
	add(Promotion{Kind: KindPercentOff, PercentBP: 800, Group: "launch"})
	add(Promotion{Kind: KindPercentOff, PercentBP: 1200, Group: "member", Target: Target{Kind: TargetParty, Value: partyID.String()}})
	add(Promotion{Kind: KindPercentOff, PercentBP: 1500, Group: "member", UsesLeft: intPtr(0)})
	add(Promotion{Kind: KindThreshold, Tiers: []Tier{{Threshold: 100000, Off: 10000}}, Repeat: true})
	add(Promotion{Kind: KindThreshold, Tiers: []Tier{{Threshold: 500000, Off: 30000}, {Threshold: 1000000, Off: 80000}}, Categories: []uuid.UUID{cats[0]}})
	add(Promotion{Kind: KindThreshold, Tiers: []Tier{{Threshold: 300000, Off: 25000}}, Group: "member"})
	add(Promotion{Kind: KindThreshold, Tiers: []Tier{{Threshold: 99_000_000, Off: 1}}})
	add(Promotion{Kind: KindGift, Gift: &Gift{SKUID: gifts[0], Qty: 1, Threshold: 200000}, Repeat: true})
	add(Promotion{Kind: KindGift, Gift: &Gift{SKUID: gifts[1], Qty: 2, MinQty: 20}, Categories: []uuid.UUID{cats[1]}})
	add(Promotion{Kind: KindGift, Gift: &Gift{SKUID: gifts[0], Qty: 1}, Group: "launch"})
	add(Promotion{Kind: KindGift, Gift: &Gift{SKUID: gifts[1], Qty: 1}, ValidFrom: at.Add(time.Hour)})

	var lines []LineInput
	for i := range 50 {
		lines = append(lines, LineInput{SKUID: skus[(i*7)%nSKU], Qty: int64(1 + (i*13)%15)})
	}
	return Input{
		Buyer: buyer, Lines: lines, Items: items, PriceLists: lists, Promotions: promos, At: at,
		GiftStock: map[uuid.UUID]int64{gifts[0]: 5, gifts[1]: 100},
	}
}

func BenchmarkQuote(b *testing.B) {
	in := benchInput()
	if res := Quote(in); len(res.Lines) < 50 || len(res.Problems) != 0 {
		b.Fatalf("bench cart: %d lines, %d problems", len(res.Lines), len(res.Problems))
	}
	b.ReportAllocs()
	for b.Loop() {
		Quote(in)
	}
}

func BenchmarkSelectPrice(b *testing.B) {
	in := benchInput()
	it := in.Items[in.Lines[0].SKUID]
	b.ReportAllocs()
	for b.Loop() {
		SelectPrice(in.Buyer, it, in.PriceLists, in.At)
	}
}

func TestBenchInputIsSound(t *testing.T) {
	t.Parallel()
	in := benchInput()
	res := Quote(in)
	requireInvariants(t, in, res)
	applied := map[PromotionKind]int{}
	for _, s := range res.Explanation {
		if s.Kind == StepPromotion && s.Applied {
			for _, p := range in.Promotions {
				if p.ID == s.ID {
					applied[p.Kind]++
				}
			}
		}
	}
	for _, k := range Stages {
		if applied[k] == 0 {
			t.Errorf("no %s promotion applies in the bench cart", k)
		}
	}
}
