package graph_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"github.com/uptrace/bun"

	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/inventory"
)

const diversionFields = `id kind status serialNumber sku { code } documentType documentNumber detectedAt reviewNote reviewedAt
	viewerCanReview expected { party { code } region branch { code } } actual { party { code } region branch { code } }`

type diversionView struct {
	ID, Kind, Status, SerialNumber, DocumentType, DocumentNumber, DetectedAt, ReviewNote string
	ReviewedAt                                                                           *string
	ViewerCanReview                                                                      bool
	Sku                                                                                  *struct{ Code string }
	Expected, Actual                                                                     struct {
		Party  struct{ Code string }
		Region string
		Branch *struct{ Code string }
	}
}

// partyGID is the global ID of the party with code.
// territoryOf is the code of a unit's territory party, "" when it has none.
func territoryOf(t *testing.T, e *apitest.Env, number string) string {
	t.Helper()
	var code *string
	require.NoError(t, e.Server.DB.NewRaw(`SELECT p.code FROM serials sr LEFT JOIN parties p ON p.id = sr.territory_party_id WHERE sr.number = ?`,
		number).Scan(context.Background(), &code))
	if code == nil {
		return ""
	}
	return *code
}

// freeUnit is a unit of sku in stock at party's warehouses, not set aside for a shipment, not in skip.
func freeUnit(t *testing.T, e *apitest.Env, partyCode, sku string, skip ...string) string {
	t.Helper()
	var numbers []string
	require.NoError(t, e.Server.DB.NewRaw(`SELECT sr.number FROM serials sr JOIN parties p ON p.id = sr.holder_party_id JOIN skus s ON s.id = sr.sku_id
		WHERE p.code = ? AND s.code = ? AND sr.status = 'IN_STOCK'
		AND sr.id NOT IN (SELECT ss.serial_id FROM shipment_serials ss JOIN shipments sh ON sh.id = ss.shipment_id WHERE sh.status = 'CREATED')
		ORDER BY sr.number DESC LIMIT 20`, partyCode, sku).Scan(context.Background(), &numbers))
	for _, n := range numbers {
		if !slices.Contains(skip, n) {
			return n
		}
	}
	t.Fatalf("no free unit of %s at %s", sku, partyCode)
	return ""
}

func diversionList(t *testing.T, e *apitest.Env, token string, filter map[string]any) ([]diversionView, int, []string) {
	t.Helper()
	var d struct {
		Diversions *struct {
			TotalCount int
			Edges      []struct{ Node diversionView }
		}
	}
	r := e.Query(token, `query($f: DiversionFilter) { diversions(first: 50, filter: $f) { totalCount edges { node { `+diversionFields+` } } } }`,
		map[string]any{"f": filter})
	r.Decode(t, &d)
	if d.Diversions == nil {
		return nil, 0, r.Codes()
	}
	var out []diversionView
	for _, ed := range d.Diversions.Edges {
		out = append(out, ed.Node)
	}
	return out, d.Diversions.TotalCount, r.Codes()
}

func diversionReview(t *testing.T, e *apitest.Env, token, id, status, note string) (*diversionView, []string, []string) {
	t.Helper()
	var d struct {
		DiversionReview *struct {
			Diversion *diversionView
			Errors    []struct{ Code string }
		}
	}
	r := e.Query(token, `mutation($id: ID!, $in: DiversionReviewInput!) { diversionReview(id: $id, input: $in) {
		diversion { `+diversionFields+` } errors { code } } }`, map[string]any{"id": id, "in": map[string]any{"status": status, "note": note}})
	r.Decode(t, &d)
	if d.DiversionReview == nil {
		return nil, nil, r.Codes()
	}
	var codes []string
	for _, er := range d.DiversionReview.Errors {
		codes = append(codes, er.Code)
	}
	return d.DiversionReview.Diversion, codes, r.Codes()
}

// storeShipment has S-0001 order n units of sku from D-0001, which approves, ships and dispatches them.
func storeShipment(t *testing.T, e *apitest.Env, key, sku string, n int) *shipmentView {
	t.Helper()
	store, dist, staff := e.As(auth.RoleStoreManager), e.As(auth.RoleDistributorAdmin), e.As(auth.RoleDistributorStaff)
	ids := cartSKUs(t, e, store, sku)
	o, errs := submit(t, e, store, key, []map[string]any{{"skuId": ids[sku], "qty": n}}, nil)
	require.Empty(t, errs)
	_, errs = act(t, e, dist, "orderApprove", o.ID, map[string]any{"reason": "ok"})
	require.Empty(t, errs)
	sh, serrs := shipmentCreate(t, e, staff, map[string]any{"orderId": o.ID, "idempotencyKey": key, "carrier": "own van",
		"lines": []map[string]any{{"orderLineNo": 1, "qty": n}}})
	require.Empty(t, serrs)
	sh, serrs = shipmentDispatch(t, e, staff, sh.ID, nil)
	require.Empty(t, serrs)
	return sh
}

// TestDiversion: receipts set territories; a stray unit of another branch's
// distributor on a receipt and a unit sold by a store outside its territory's
// line raise diversions with their evidence, seen by HQ and the branches
// concerned only, alerted to them only, and reviewed once.
func TestDiversion(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		ctx := context.Background()
		hq, ops, gc := e.As(auth.RoleHQAdmin), e.As(auth.RoleSalesOps), e.As(auth.RoleGoodsControl)
		guide, branch := e.As(auth.RoleStoreStaff), e.As(auth.RoleBranchManager)
		d2 := e.Login("13800000002", auth.AppDistributor).AccessToken
		u := userCreate(t, e, hq, map[string]any{"partyId": partyGID(t, e, "BR-NB"), "phone": "13800000062", "name": "宁波经理",
			"roles": []string{"BRANCH_MANAGER"}, "password": "channelhub-demo"})
		require.Empty(t, u.Errors)
		branchNB := e.Login("13800000062", auth.AppConsole).AccessToken

		// D-0001 ships three phones to its store S-0001; the store's receipt
		// makes S-0001 their territory. It also scans a unit still at D-0001,
		// whose territory is the store's supplier: unexpected, not diverted.
		require.Equal(t, "D-0001", territoryOf(t, e, freeUnit(t, e, "D-0001", "PH01-1-1")), "opening stock is its holder's territory")
		sh := storeShipment(t, e, "dv-1", "PH01-1-1", 3)
		units := sh.numbers()
		require.Len(t, units, 3)
		stray := freeUnit(t, e, "D-0001", "PH01-1-1")
		rc, _, errs := receiptConfirm(t, e, guide, sh.ID, map[string]any{"idempotencyKey": "dv-gr-1", "serials": append(slices.Clone(units), stray)})
		require.Empty(t, errs)
		require.Equal(t, 3, rc.Accepted)
		require.Equal(t, "UNEXPECTED", rc.Claim.Items[0].Kind)
		require.Equal(t, stray, rc.Claim.Items[0].SerialNumber)
		for _, n := range units {
			require.Equal(t, "S-0001", territoryOf(t, e, n), "the receipt of its shipment sets a unit's territory")
		}
		var unit struct {
			Serial struct{ Territory *struct{ Code string } }
		}
		e.Query(guide, `query($n: String!) { serial(number: $n) { territory { code } } }`, map[string]any{"n": units[0]}).Decode(t, &unit)
		require.Equal(t, "S-0001", unit.Serial.Territory.Code)
		require.Equal(t, "D-0001", territoryOf(t, e, stray), "a stray keeps its territory")
		all, n, codes := diversionList(t, e, hq, nil)
		require.Empty(t, codes)
		require.Zero(t, n, "the store's supplier is in its line: %v", all)

		// The store sells its three phones. One came from D-0003's territory
		// (outside the store's line: diverted), one from D-0001's (its supplier:
		// fine), one is its own.
		_, err := e.Server.DB.NewRaw(`UPDATE serials SET territory_party_id = (SELECT id FROM parties WHERE code = 'D-0003') WHERE number = ?`, units[0]).Exec(ctx)
		require.NoError(t, err)
		_, err = e.Server.DB.NewRaw(`UPDATE serials SET territory_party_id = (SELECT id FROM parties WHERE code = 'D-0001') WHERE number = ?`, units[1]).Exec(ctx)
		require.NoError(t, err)
		var sold struct {
			SellOutReport struct {
				Sold   int
				Errors []shipErr
			}
		}
		e.Query(guide, `mutation($in: SellOutInput!) { sellOutReport(input: $in) { sold errors { code field } } }`,
			map[string]any{"in": map[string]any{"serials": units, "idempotencyKey": "dv-so-1"}}).Decode(t, &sold)
		require.Empty(t, sold.SellOutReport.Errors)
		require.Equal(t, 3, sold.SellOutReport.Sold)

		// HQ ships one phone to D-0002 (branch BR-NB); its receipt scans it, a unit
		// of D-0001's territory (branch BR-HZ: diverted) and one of HQ's that
		// never left (no territory: unexpected only).
		ids := cartSKUs(t, e, d2, "PH01-2-1")
		o, oerrs := submit(t, e, d2, "dv-2", []map[string]any{{"skuId": ids["PH01-2-1"], "qty": 1}}, nil)
		require.Empty(t, oerrs)
		_, oerrs = act(t, e, ops, "orderApprove", o.ID, map[string]any{"reason": "ok"})
		require.Empty(t, oerrs)
		sh2, serrs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "dv-2", "carrier": "SF",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 1}}})
		require.Empty(t, serrs)
		_, serrs = shipmentDispatch(t, e, gc, sh2.ID, nil)
		require.Empty(t, serrs)
		grey, hqUnit := freeUnit(t, e, "D-0001", "PH01-2-1"), freeUnit(t, e, "HQ-ZJ", "PH01-2-1")
		rc2, _, errs := receiptConfirm(t, e, d2, sh2.ID, map[string]any{"idempotencyKey": "dv-gr-2",
			"serials": []string{sh2.numbers()[0], grey, hqUnit}})
		require.Empty(t, errs)
		require.Equal(t, 1, rc2.Accepted)
		require.Len(t, rc2.Claim.Items, 2)
		require.Equal(t, "D-0002", territoryOf(t, e, sh2.numbers()[0]))

		// What HQ sees: both, newest first, with the evidence.
		all, n, codes = diversionList(t, e, hq, nil)
		require.Empty(t, codes)
		require.Equal(t, 2, n)
		recv, sell := all[0], all[1]
		require.Equal(t, "RECEIVED_OUTSIDE", recv.Kind)
		require.Equal(t, "OPEN", recv.Status)
		require.Equal(t, grey, recv.SerialNumber)
		require.Equal(t, "PH01-2-1", recv.Sku.Code)
		require.Equal(t, "RECEIPT", recv.DocumentType)
		require.Equal(t, rc2.Number, recv.DocumentNumber)
		require.Equal(t, "D-0001", recv.Expected.Party.Code)
		require.Equal(t, "BR-HZ", recv.Expected.Branch.Code)
		require.Equal(t, "D-0002", recv.Actual.Party.Code)
		require.Equal(t, "BR-NB", recv.Actual.Branch.Code)
		require.NotEmpty(t, recv.Actual.Region)
		require.True(t, recv.ViewerCanReview)
		require.Equal(t, "SOLD_OUTSIDE", sell.Kind)
		require.Equal(t, units[0], sell.SerialNumber)
		require.Equal(t, "SELL_OUT", sell.DocumentType)
		require.Equal(t, "dv-so-1", sell.DocumentNumber)
		require.Equal(t, "D-0003", sell.Expected.Party.Code)
		require.Equal(t, "BR-HZ", sell.Expected.Branch.Code)
		require.Equal(t, "S-0001", sell.Actual.Party.Code)
		require.Equal(t, "BR-HZ", sell.Actual.Branch.Code)
		_, err = time.Parse(time.RFC3339, sell.DetectedAt)
		require.NoError(t, err)

		// Role by role: HQ sees both, each branch the ones above either side, nobody else anything.
		for _, role := range []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleFinance, auth.RoleGoodsControl} {
			_, n, codes := diversionList(t, e, e.As(role), nil)
			require.Empty(t, codes, role)
			require.Equal(t, 2, n, role)
		}
		got, n, _ := diversionList(t, e, branch, nil)
		require.Equal(t, 2, n, "BR-HZ is above D-0001, D-0003 and S-0001")
		require.Len(t, got, 2)
		got, n, _ = diversionList(t, e, branchNB, nil)
		require.Equal(t, 1, n, "BR-NB is above D-0002 only")
		require.Equal(t, recv.ID, got[0].ID)
		var one struct{ Diversion *diversionView }
		r := e.Query(branchNB, `query($id: ID!) { diversion(id: $id) { id } }`, map[string]any{"id": sell.ID})
		require.Equal(t, []string{"NOT_FOUND"}, r.Codes(), "another branch's diversion")
		var node struct{ Node *struct{ ID string } }
		e.Query(branchNB, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": sell.ID}).Decode(t, &node)
		require.Nil(t, node.Node)
		e.Query(branchNB, `query($id: ID!) { node(id: $id) { id ... on Diversion { kind } } }`, map[string]any{"id": recv.ID}).Decode(t, &node)
		require.NotNil(t, node.Node)
		e.Query(branch, `query($id: ID!) { diversion(id: $id) { `+diversionFields+` } }`, map[string]any{"id": sell.ID}).Decode(t, &one)
		require.Equal(t, sell, *one.Diversion)
		for _, role := range []auth.Role{auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff, auth.RoleSalesman} {
			tok := e.As(role)
			_, _, codes := diversionList(t, e, tok, nil)
			require.Equal(t, []string{"FORBIDDEN"}, codes, role)
			r := e.Query(tok, `query($id: ID!) { diversion(id: $id) { id } }`, map[string]any{"id": recv.ID})
			require.Equal(t, []string{"FORBIDDEN"}, r.Codes(), role)
			var node struct{ Node *struct{ ID string } }
			e.Query(tok, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": recv.ID}).Decode(t, &node)
			require.Nil(t, node.Node, role)
		}
		for _, tok := range []string{d2, e.Login("13800000013", auth.AppStore).AccessToken, e.Login("13800000003", auth.AppDistributor).AccessToken} {
			_, _, codes := diversionList(t, e, tok, nil)
			require.Equal(t, []string{"FORBIDDEN"}, codes, "a party involved does not see it either")
		}

		// Filters.
		got, _, _ = diversionList(t, e, hq, map[string]any{"kind": "SOLD_OUTSIDE"})
		require.Len(t, got, 1)
		require.Equal(t, sell.ID, got[0].ID)
		got, _, _ = diversionList(t, e, hq, map[string]any{"partyId": partyGID(t, e, "D-0002")})
		require.Len(t, got, 1)
		require.Equal(t, recv.ID, got[0].ID)
		got, _, _ = diversionList(t, e, hq, map[string]any{"partyId": partyGID(t, e, "BR-HZ")})
		require.Len(t, got, 2, "a party's subtree: BR-HZ holds a side of both")
		today := time.Now().In(e.Server.Config.TimeZone).Format("2006-01-02")
		_, n, _ = diversionList(t, e, hq, map[string]any{"period": map[string]any{"from": today, "to": today}})
		require.Equal(t, 2, n)
		_, n, _ = diversionList(t, e, hq, map[string]any{"period": map[string]any{"from": "2020-01-01", "to": "2020-12-31"}})
		require.Zero(t, n)

		// Bad input.
		_, _, codes = diversionList(t, e, branchNB, map[string]any{"partyId": partyGID(t, e, "D-0001")})
		require.Equal(t, []string{"NOT_FOUND"}, codes, "another branch's party")
		for _, p := range []map[string]any{{"from": "2026-02-30", "to": "2026-03-01"}, {"from": today, "to": "2020-01-01"},
			{"from": "2024-01-01", "to": "2025-12-31"}, {"from": "yesterday", "to": today}} {
			_, _, codes = diversionList(t, e, hq, map[string]any{"period": p})
			require.Equal(t, []string{"INVALID_REQUEST"}, codes, "%v", p)
		}
		r = e.Query(hq, `{ diversions(first: 1000) { totalCount } }`, nil)
		require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes(), "a huge page")
		r = e.Query(hq, `{ diversions(first: 1, after: "bm90IGEgY3Vyc29y") { totalCount } }`, nil)
		require.Equal(t, []string{"INVALID_REQUEST"}, r.Codes(), "a bad cursor")
		var page struct {
			Diversions struct {
				Edges    []struct{ Node struct{ ID string } }
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		e.Query(hq, `{ diversions(first: 1) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`, nil).Decode(t, &page)
		require.True(t, page.Diversions.PageInfo.HasNextPage)
		e.Query(hq, `query($a: String) { diversions(first: 1, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"a": page.Diversions.PageInfo.EndCursor}).Decode(t, &page)
		require.Equal(t, sell.ID, page.Diversions.Edges[0].Node.ID)
		require.False(t, page.Diversions.PageInfo.HasNextPage)

		// Review: only inside scope, with a note, once.
		_, errCodes, codes := diversionReview(t, e, branchNB, sell.ID, "CONFIRMED", "seen")
		require.Empty(t, codes)
		require.Equal(t, []string{"NOT_FOUND"}, errCodes, "a branch outside the diversion")
		_, _, codes = diversionReview(t, e, e.As(auth.RoleFinance), sell.ID, "CONFIRMED", "seen")
		require.Equal(t, []string{"FORBIDDEN"}, codes)
		_, _, codes = diversionReview(t, e, e.As(auth.RoleDistributorAdmin), sell.ID, "CONFIRMED", "seen")
		require.Equal(t, []string{"FORBIDDEN"}, codes)
		_, _, codes = diversionReview(t, e, branch, sell.ID, "OPEN", "seen")
		require.Equal(t, []string{"INVALID_REQUEST"}, codes, "OPEN is no outcome")
		_, errCodes, _ = diversionReview(t, e, branch, sell.ID, "CONFIRMED", "  ")
		require.Equal(t, []string{"INVALID_INPUT"}, errCodes, "a note is required")
		_, errCodes, _ = diversionReview(t, e, branch, sell.ID, "CONFIRMED", strings.Repeat("长", 501))
		require.Equal(t, []string{"INVALID_INPUT"}, errCodes)
		_, _, codes = diversionReview(t, e, branch, "Diversion:nope", "CONFIRMED", "x")
		require.Equal(t, []string{"INVALID_REQUEST"}, codes)
		dv, errCodes, _ := diversionReview(t, e, branch, sell.ID, "CONFIRMED", "sold across the river")
		require.Empty(t, errCodes)
		require.Equal(t, "CONFIRMED", dv.Status)
		require.Equal(t, "sold across the river", dv.ReviewNote)
		require.NotNil(t, dv.ReviewedAt)
		require.False(t, dv.ViewerCanReview)
		_, errCodes, _ = diversionReview(t, e, hq, sell.ID, "DISMISSED", "again")
		require.Equal(t, []string{"ALREADY_REVIEWED"}, errCodes, "reviewed once")
		dv, errCodes, _ = diversionReview(t, e, branchNB, recv.ID, "DISMISSED", "a transfer we approved by phone")
		require.Empty(t, errCodes)
		require.Equal(t, "DISMISSED", dv.Status)
		got, _, _ = diversionList(t, e, hq, map[string]any{"status": "OPEN"})
		require.Empty(t, got)
		got, _, _ = diversionList(t, e, hq, map[string]any{"status": "CONFIRMED"})
		require.Len(t, got, 1)
		var audits int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM audit_log WHERE action = 'diversion.review'`).Scan(ctx, &audits))
		require.Equal(t, 2, audits)

		// One serial.diverted event per document, alerting HQ's admin and sales
		// ops and the managers of the branches concerned, and nobody else.
		var events int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(*) FROM outbox_events WHERE type = 'serial.diverted'`).Scan(ctx, &events))
		require.Equal(t, 2, events)
		told := func() map[string]int {
			var rows []struct {
				Phone string `bun:"phone"`
				N     int    `bun:"n"`
			}
			require.NoError(t, e.Server.DB.NewRaw(`SELECT u.phone, COUNT(*) AS n FROM notifications n JOIN users u ON u.id = n.user_id
				JOIN outbox_events oe ON oe.id = n.event_id WHERE oe.type = 'serial.diverted' AND n.category = 'DIVERSION' GROUP BY u.phone`).Scan(ctx, &rows))
			out := map[string]int{}
			for _, r := range rows {
				out[r.Phone] = r.N
			}
			return out
		}
		want := map[string]int{"13800000000": 2, "13800000041": 2, "13800000061": 2, "13800000062": 1}
		require.Eventually(t, func() bool { return len(told()) == len(want) }, 10*time.Second, 50*time.Millisecond)
		require.Equal(t, want, told())
		var inbox struct {
			Notifications struct {
				Edges []struct {
					Node struct{ Category, Title, Body, Target string }
				}
			}
		}
		e.Query(branchNB, `{ notifications(first: 5) { edges { node { category title body target } } } }`, nil).Decode(t, &inbox)
		require.Len(t, inbox.Notifications.Edges, 1)
		note := inbox.Notifications.Edges[0].Node
		require.Equal(t, "DIVERSION", note.Category)
		require.Equal(t, "diversion/"+strings.TrimPrefix(recv.ID, "Diversion:"), note.Target)
		require.Contains(t, note.Body, grey)
		require.Contains(t, note.Body, "D-0002")
	})
}

// TestReceiptStraysOfOtherShipments: a unit in transit on another shipment
// or written back after one is still refused; an approved move (a receipt of a
// shipment that listed the unit, as a transfer's is) is never a diversion.
func TestDiversionNotForListedUnits(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		guide, hq := e.As(auth.RoleStoreStaff), e.As(auth.RoleHQAdmin)
		a := storeShipment(t, e, "nl-1", "PH01-1-1", 1)
		b := storeShipment(t, e, "nl-2", "PH01-1-1", 1)
		// Units whose territory lies elsewhere (as after a transfer's receipt elsewhere) arrive on a
		// shipment that lists them: received, territory moved, nothing diverted.
		_, err := e.Server.DB.NewRaw(`UPDATE serials SET territory_party_id = (SELECT id FROM parties WHERE code = 'D-0002') WHERE number = ?`,
			a.numbers()[0]).Exec(context.Background())
		require.NoError(t, err)
		_, _, errs := receiptConfirm(t, e, guide, a.ID, map[string]any{"idempotencyKey": "nl-gr-1", "serials": []string{a.numbers()[0], b.numbers()[0]}})
		require.Equal(t, []shipErr{{Code: "SERIAL_OTHER_SHIPMENT", Field: []string{"serials", "1"}}}, errs, "in transit on another shipment")
		rc, _, errs := receiptConfirm(t, e, guide, a.ID, map[string]any{"idempotencyKey": "nl-gr-2", "serials": a.numbers()})
		require.Empty(t, errs)
		require.Nil(t, rc.Claim)
		require.Equal(t, "S-0001", territoryOf(t, e, a.numbers()[0]))
		_, n, _ := diversionList(t, e, hq, nil)
		require.Zero(t, n)
	})
}

type inventoryRow struct {
	Party                                           struct{ Code, Kind string }
	Sku                                             *struct{ Code string }
	OnHand, InTransit, SellIn, SellThrough, SellOut int
}

const inventoryQuery = `query($period: PeriodInput!, $party: ID, $depth: Int, $kind: PartyKind, $sku: ID, $first: Int, $after: String) {
	channelInventory(period: $period, partyId: $party, depth: $depth, kind: $kind, skuId: $sku, first: $first, after: $after) {
		edges { cursor node { party { code kind } sku { code } onHand inTransit sellIn sellThrough sellOut } }
		pageInfo { hasNextPage endCursor } } }`

type inventoryPage struct {
	Rows    []inventoryRow
	More    bool
	EndCurs string
	Codes   []string
}

func channelInventory(t *testing.T, e *apitest.Env, token string, vars map[string]any) inventoryPage {
	t.Helper()
	var d struct {
		ChannelInventory *struct {
			Edges    []struct{ Node inventoryRow }
			PageInfo struct {
				HasNextPage bool
				EndCursor   *string
			}
		}
	}
	r := e.Query(token, inventoryQuery, vars)
	r.Decode(t, &d)
	out := inventoryPage{Codes: r.Codes()}
	if c := d.ChannelInventory; c != nil {
		for _, ed := range c.Edges {
			out.Rows = append(out.Rows, ed.Node)
		}
		out.More = c.PageInfo.HasNextPage
		if c.PageInfo.EndCursor != nil {
			out.EndCurs = *c.PageInfo.EndCursor
		}
	}
	return out
}

// byKey indexes rows by "party/sku".
func byKey(rows []inventoryRow) map[string]inventoryRow {
	out := map[string]inventoryRow{}
	for _, r := range rows {
		out[r.Party.Code+"/"+r.Sku.Code] = r
	}
	return out
}

// TestChannelInventory: on hand, in transit, sell-in, sell-through and
// sell-out per party and SKU, scoped like parties, paged with a constant
// number of statements, and bad input refused.
func TestChannelInventory(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{SteadyBatches: true}, func(t *testing.T, e *apitest.Env) {
		hq, dist, gc, guide := e.As(auth.RoleHQAdmin), e.As(auth.RoleDistributorAdmin), e.As(auth.RoleGoodsControl), e.As(auth.RoleStoreStaff)
		branch := e.As(auth.RoleBranchManager)
		// HQ → D-0001: two phones received, one more on the way.
		o := approvedOrder(t, e, "ci-1", map[string]int{"PH01-2-1": 3})
		sh1, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "ci-sh1", "carrier": "SF",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 2}}})
		require.Empty(t, errs)
		_, errs = shipmentDispatch(t, e, gc, sh1.ID, nil)
		require.Empty(t, errs)
		_, _, errs = receiptConfirm(t, e, dist, sh1.ID, map[string]any{"idempotencyKey": "ci-gr1", "serials": sh1.numbers()})
		require.Empty(t, errs)
		sh2, errs := shipmentCreate(t, e, gc, map[string]any{"orderId": o.ID, "idempotencyKey": "ci-sh2", "carrier": "SF",
			"lines": []map[string]any{{"orderLineNo": 1, "qty": 1}}})
		require.Empty(t, errs)
		_, errs = shipmentDispatch(t, e, gc, sh2.ID, nil)
		require.Empty(t, errs)
		// D-0001 → S-0001: three phones received, one sold to a consumer.
		st := storeShipment(t, e, "ci-3", "PH01-1-1", 3)
		_, _, errs = receiptConfirm(t, e, guide, st.ID, map[string]any{"idempotencyKey": "ci-gr3", "serials": st.numbers()})
		require.Empty(t, errs)
		var sold struct{ SellOutReport struct{ Errors []shipErr } }
		e.Query(guide, `mutation($in: SellOutInput!) { sellOutReport(input: $in) { errors { code } } }`,
			map[string]any{"in": map[string]any{"serials": st.numbers()[:1], "idempotencyKey": "ci-so"}}).Decode(t, &sold)
		require.Empty(t, sold.SellOutReport.Errors)

		today := time.Now().In(e.Server.Config.TimeZone).Format("2006-01-02")
		period := map[string]any{"from": today, "to": today}
		ph2, ph1 := cartSKUs(t, e, hq, "PH01-2-1")["PH01-2-1"], cartSKUs(t, e, hq, "PH01-1-1")["PH01-1-1"]

		// HQ over the whole channel, one SKU.
		pg := channelInventory(t, e, hq, map[string]any{"period": period, "depth": 4, "sku": ph2})
		require.Empty(t, pg.Codes)
		rows := byKey(pg.Rows)
		require.Equal(t, inventoryRow{Party: struct{ Code, Kind string }{"HQ-ZJ", "HQ"}, Sku: &struct{ Code string }{"PH01-2-1"},
			OnHand: int(stockOf(t, e, "HQ-ZJ", "PH01-2-1")), SellThrough: 3}, rows["HQ-ZJ/PH01-2-1"])
		d1 := rows["D-0001/PH01-2-1"]
		require.Equal(t, int(stockOf(t, e, "D-0001", "PH01-2-1")), d1.OnHand)
		require.Equal(t, 1, d1.InTransit)
		require.Equal(t, 2, d1.SellIn)
		require.Zero(t, d1.SellThrough)
		pg = channelInventory(t, e, hq, map[string]any{"period": period, "depth": 4, "sku": ph1})
		rows = byKey(pg.Rows)
		require.Equal(t, 3, rows["D-0001/PH01-1-1"].SellThrough)
		s1 := rows["S-0001/PH01-1-1"]
		require.Equal(t, inventoryRow{Party: struct{ Code, Kind string }{"S-0001", "STORE"}, Sku: &struct{ Code string }{"PH01-1-1"},
			OnHand: 2, SellIn: 3, SellOut: 1}, s1)
		pg = channelInventory(t, e, hq, map[string]any{"period": period, "depth": 4, "sku": ph1, "kind": "STORE"})
		require.Len(t, pg.Rows, 1)
		require.Equal(t, "S-0001", pg.Rows[0].Party.Code)
		pg = channelInventory(t, e, hq, map[string]any{"period": map[string]any{"from": "2020-01-01", "to": "2020-01-31"}, "depth": 4, "sku": ph1})
		rows = byKey(pg.Rows)
		require.Equal(t, 2, rows["S-0001/PH01-1-1"].OnHand, "stock is now whatever the period")
		require.Zero(t, rows["S-0001/PH01-1-1"].SellIn+rows["S-0001/PH01-1-1"].SellOut, "flows are the period's")

		// Scope: a distributor sees itself and the parties it supplies, a branch its subtree.
		pg = channelInventory(t, e, dist, map[string]any{"period": period})
		require.Empty(t, pg.Codes)
		require.NotEmpty(t, pg.Rows)
		for pg.More {
			next := channelInventory(t, e, dist, map[string]any{"period": period, "after": pg.EndCurs})
			pg.Rows, pg.More, pg.EndCurs = append(pg.Rows, next.Rows...), next.More, next.EndCurs
		}
		parties := map[string]bool{}
		for _, r := range pg.Rows {
			parties[r.Party.Code] = true
		}
		require.True(t, parties["D-0001"] && parties["S-0001"], "%v", parties)
		require.False(t, parties["HQ-ZJ"] || parties["D-0002"], "%v", parties)
		require.Equal(t, s1, byKey(pg.Rows)["S-0001/PH01-1-1"])
		pg = channelInventory(t, e, dist, map[string]any{"period": period, "party": partyGID(t, e, "S-0001"), "depth": 0, "sku": ph1})
		require.Equal(t, []inventoryRow{s1}, pg.Rows)
		pg = channelInventory(t, e, branch, map[string]any{"period": period, "depth": 3, "sku": ph1})
		require.Equal(t, s1, byKey(pg.Rows)["S-0001/PH01-1-1"])
		for _, c := range []struct {
			token, party string
		}{{dist, "D-0002"}, {dist, "HQ-ZJ"}, {dist, "BR-HZ"}, {branch, "D-0002"}, {branch, "HQ-ZJ"}} {
			pg = channelInventory(t, e, c.token, map[string]any{"period": period, "party": partyGID(t, e, c.party)})
			require.Equal(t, []string{"NOT_FOUND"}, pg.Codes, c.party)
		}
		for _, role := range []auth.Role{auth.RoleStoreManager, auth.RoleStoreStaff, auth.RoleSalesman} {
			pg = channelInventory(t, e, e.As(role), map[string]any{"period": period})
			require.Equal(t, []string{"FORBIDDEN"}, pg.Codes, role)
		}

		// Bad input.
		for _, v := range []map[string]any{
			{"period": map[string]any{"from": "2026-02-30", "to": today}},
			{"period": map[string]any{"from": today, "to": "2020-01-01"}},
			{"period": map[string]any{"from": "2024-01-01", "to": "2025-06-30"}},
			{"period": map[string]any{"from": "", "to": today}},
			{"period": period, "depth": 5},
			{"period": period, "depth": -1},
			{"period": period, "first": 1000},
			{"period": period, "first": 0},
			{"period": period, "after": "garbage"},
			{"period": period, "party": "Party:not-a-uuid"},
			{"period": period, "sku": "Party:" + strings.TrimPrefix(ph1, "SKU:")},
		} {
			require.Equal(t, []string{"INVALID_REQUEST"}, channelInventory(t, e, hq, v).Codes, "%v", v)
		}

		// Paging over HQ's own ~200 SKUs: keyset pages in (party, SKU) order, every row once.
		var want int
		require.NoError(t, e.Server.DB.NewRaw(`SELECT COUNT(DISTINCT sl.sku_id) FROM stock_levels sl JOIN warehouses w ON w.id = sl.warehouse_id
			JOIN parties p ON p.id = w.party_id WHERE p.code = 'HQ-ZJ'`).Scan(context.Background(), &want))
		var all []string
		vars := map[string]any{"period": period, "depth": 0, "first": 37}
		for {
			pg = channelInventory(t, e, hq, vars)
			require.Empty(t, pg.Codes)
			for _, r := range pg.Rows {
				all = append(all, r.Party.Code+"/"+r.Sku.Code)
			}
			if !pg.More {
				break
			}
			vars["after"] = pg.EndCurs
		}
		require.Len(t, all, want)
		require.True(t, slices.IsSorted(all))
		require.Len(t, slices.Compact(slices.Clone(all)), want)

		// A page costs a constant number of statements however many rows and
		// parties it holds: auth, the top party, the page, then one batch each of
		// parties and SKUs (a busy machine may split a loader batch, hence the room).
		// Every store gets stock of five SKUs, so a page of 100 spans 20 parties.
		ctx := context.Background()
		var stores, skus []uuid.UUID
		require.NoError(t, e.Server.DB.NewRaw(`SELECT id FROM parties WHERE kind = 'STORE' ORDER BY code`).Scan(ctx, &stores))
		require.NoError(t, e.Server.DB.NewRaw(`SELECT id FROM skus ORDER BY code LIMIT 5`).Scan(ctx, &skus))
		now := time.Now().UTC()
		for i, st := range stores {
			w := &inventory.Warehouse{ID: uuid.Must(uuid.NewV7()), PartyID: st, Code: fmt.Sprintf("CI-%02d", i), Name: "ci", Active: true, CreatedAt: now}
			_, err := e.Server.DB.NewInsert().Model(w).Exec(ctx)
			require.NoError(t, err)
			for _, k := range skus {
				_, err := e.Server.DB.NewInsert().Model(&inventory.Level{WarehouseID: w.ID, SKUID: k, OnHand: 7, UpdatedAt: now}).Exec(ctx)
				require.NoError(t, err)
			}
		}
		cost := func(first int) (int64, int) {
			best, parties := int64(-1), 0
			for range 5 {
				before := e.Server.DB.Queries()
				pg := channelInventory(t, e, hq, map[string]any{"period": period, "depth": 4, "kind": "STORE", "first": first})
				require.Empty(t, pg.Codes)
				require.Len(t, pg.Rows, first)
				if n := e.Server.DB.Queries() - before; best < 0 || n < best {
					best = n
				}
				seen := map[string]bool{}
				for _, r := range pg.Rows {
					seen[r.Party.Code] = true
				}
				parties = len(seen)
			}
			return best, parties
		}
		small, _ := cost(3)
		large, spread := cost(100)
		require.Equal(t, 20, spread, "the large page spans every store")
		require.LessOrEqual(t, small, int64(6))
		require.LessOrEqual(t, large, int64(6))
	})
}

// TestChannelInventoryTransfers: a transfer's shipment (no order) is in
// transit to its receiver until received, and is neither the sender's
// sell-through nor, once received, the receiver's sell-in.
func TestChannelInventoryTransfers(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		hq, ops, d1staff := e.As(auth.RoleHQAdmin), e.As(auth.RoleSalesOps), e.As(auth.RoleDistributorStaff)
		d2 := e.Login("13800000002", auth.AppDistributor).AccessToken
		tr, errs := transferRequest(t, e, d2, "cit-1", "D-0001", "D-0002", "PH01-1-1", 2)
		require.Empty(t, errs)
		_, errs = transferDecide(t, e, ops, "transferApprove", tr.ID, "stock balancing")
		require.Empty(t, errs)
		sh, serrs := transferShip(t, e, d1staff, tr.ID, map[string]any{"idempotencyKey": "cit-sh", "carrier": "own van", "lines": []map[string]any{{"lineNo": 1, "qty": 2}}})
		require.Empty(t, serrs)
		_, serrs = shipmentDispatch(t, e, d1staff, sh.ID, nil)
		require.Empty(t, serrs)

		today := time.Now().In(e.Server.Config.TimeZone).Format("2006-01-02")
		vars := map[string]any{"period": map[string]any{"from": today, "to": today}, "depth": 4, "sku": skuGID(t, e, "PH01-1-1")}
		rows := byKey(channelInventory(t, e, hq, vars).Rows)
		require.Equal(t, 2, rows["D-0002/PH01-1-1"].InTransit, "a transfer's dispatched shipment is in transit to its receiver")
		require.Zero(t, rows["D-0002/PH01-1-1"].SellIn)
		require.Zero(t, rows["D-0001/PH01-1-1"].SellThrough, "a transfer is no sale into the channel")
		require.Equal(t, int(stockOf(t, e, "D-0001", "PH01-1-1")), rows["D-0001/PH01-1-1"].OnHand)
		own := channelInventory(t, e, d2, map[string]any{"period": vars["period"], "depth": 0, "sku": vars["sku"]})
		require.Empty(t, own.Codes)
		require.Equal(t, []inventoryRow{rows["D-0002/PH01-1-1"]}, own.Rows, "the receiver sees the same row")

		_, _, errs2 := receiptConfirm(t, e, d2, sh.ID, map[string]any{"idempotencyKey": "cit-gr", "serials": sh.numbers()})
		require.Empty(t, errs2)
		rows = byKey(channelInventory(t, e, hq, vars).Rows)
		d2row := rows["D-0002/PH01-1-1"]
		require.Zero(t, d2row.InTransit)
		require.Zero(t, d2row.SellIn, "received on a transfer, not bought")
		require.Equal(t, int(stockOf(t, e, "D-0002", "PH01-1-1")), d2row.OnHand)
		require.Positive(t, d2row.OnHand)
		require.Zero(t, rows["D-0001/PH01-1-1"].SellThrough)
	})
}

// TestDiversionStatements: recording diversions costs the same statements
// whether a receipt or a sell-out diverts one unit or several.
func TestDiversionStatements(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{Env: map[string]string{"CHANNELHUB_SESSION_CACHE_TTL": "0"}}, func(t *testing.T, e *apitest.Env) {
		ctx := context.Background()
		guide, hq := e.As(auth.RoleStoreStaff), e.As(auth.RoleHQAdmin)
		cost := func(f func()) int64 {
			before := e.Server.DB.Queries()
			f()
			return e.Server.DB.Queries() - before
		}
		receive := func(key string) func([]string) {
			sh := storeShipment(t, e, key, "PH01-1-1", 1)
			return func(extra []string) {
				rc, _, errs := receiptConfirm(t, e, guide, sh.ID, map[string]any{"idempotencyKey": key + "-gr", "serials": append(sh.numbers(), extra...)})
				require.Empty(t, errs)
				if len(extra) == 0 {
					require.Nil(t, rc.Claim)
				} else {
					require.Len(t, rc.Claim.Items, len(extra))
				}
			}
		}
		receive("ds-0")(nil) // the first receipt of a run costs a few statements more
		// Receipts at S-0001 of one-unit shipments that also scan units of
		// D-0001 from D-0003's territory: one stray, then three.
		one, three := receive("ds-1"), receive("ds-2")
		var strays []string
		for range 4 {
			strays = append(strays, freeUnit(t, e, "D-0001", "PH01-1-1", strays...))
		}
		_, err := e.Server.DB.NewRaw(`UPDATE serials SET territory_party_id = (SELECT id FROM parties WHERE code = 'D-0003') WHERE number IN (?)`,
			bun.List(strays)).Exec(ctx)
		require.NoError(t, err)
		require.Equal(t, cost(func() { one(strays[:1]) }), cost(func() { three(strays[1:]) }), "a receipt diverting one unit or three")
		_, n, _ := diversionList(t, e, hq, map[string]any{"kind": "RECEIVED_OUTSIDE"})
		require.Equal(t, 4, n)

		// Sell-outs at S-0001 of units from D-0003's territory: one, then four.
		sh := storeShipment(t, e, "ds-3", "PH01-1-1", 6)
		units := sh.numbers()
		_, _, errs := receiptConfirm(t, e, guide, sh.ID, map[string]any{"idempotencyKey": "ds-3-gr", "serials": units})
		require.Empty(t, errs)
		_, err = e.Server.DB.NewRaw(`UPDATE serials SET territory_party_id = (SELECT id FROM parties WHERE code = 'D-0003') WHERE number IN (?)`,
			bun.List(units)).Exec(ctx)
		require.NoError(t, err)
		sell := func(key string, numbers []string) func() {
			return func() {
				var d struct{ SellOutReport struct{ Sold int } }
				r := e.Query(guide, `mutation($in: SellOutInput!) { sellOutReport(input: $in) { sold errors { code } } }`,
					map[string]any{"in": map[string]any{"serials": numbers, "idempotencyKey": key}})
				r.Decode(t, &d)
				require.Equal(t, len(numbers), d.SellOutReport.Sold, "%s", r.Data)
			}
		}
		sell("ds-so-0", units[:1])() // likewise
		require.Equal(t, cost(sell("ds-so-1", units[1:2])), cost(sell("ds-so-2", units[2:])), "a sell-out diverting one unit or four")
		_, n, _ = diversionList(t, e, hq, map[string]any{"kind": "SOLD_OUTSIDE"})
		require.Equal(t, 6, n)
	})
}
