package graph_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"

	"channelhub/graph"
	"channelhub/internal/apitest"
	"channelhub/internal/auth"
	"channelhub/internal/seed"
)

// authzAnonymous is the caller without a token, the eleventh "role" of the matrix.
const authzAnonymous = "anonymous"

// authzOutcome is what one caller gets from one root field.
type authzOutcome string

const (
	// authzAllowed: no FORBIDDEN or UNAUTHENTICATED top-level error; payload
	// errors (and NOT_FOUND where the entry says so) are fine.
	authzAllowed         authzOutcome = "ALLOWED"
	authzForbidden       authzOutcome = "FORBIDDEN"
	authzUnauthenticated authzOutcome = "UNAUTHENTICATED"
)

// authzIDs are real ids from the seeded demo channel, used as variables.
type authzIDs struct {
	HQ          string // party HQ-ZJ
	Store       string // party S-0020: the target of the (failing) party mutations
	HQAdmin     string // user 13800000000
	OtherStaff  string // user 13800000013, manager of S-0002: no matrix role signs in as them
	OtherPhone  string // that user's phone, for a real authLogin
	OtherApp    auth.App
	StoreParent string // party D-0004, S-0020's supplier
	Category    string // category PHONE
	Product     string // product P-PH01
	SKU         string // SKU PH01-1-1
}

// authzCase is one root field of the matrix: a representative operation and
// who may call it. Everyone not in allowed is FORBIDDEN, or UNAUTHENTICATED
// when anonymous.
type authzCase struct {
	doc     string
	vars    func(ids authzIDs) map[string]any
	allowed []string
	// okCodes are top-level codes that still count as ALLOWED for this field
	// (NOT_FOUND when the object is outside some allowed caller's scope).
	okCodes []string
	// payloadErrors, for mutations, are the codes the payload's errors must
	// hold when allowed; a business error proves the call changed nothing.
	// nil: not checked; empty: the payload must have no errors.
	payloadErrors []string
}

func authzRoles(rs ...auth.Role) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r)
	}
	return out
}

var (
	authzSignedIn    = authzRoles(auth.AllRoles...)
	authzEveryone    = append(authzRoles(auth.AllRoles...), authzAnonymous)
	authzUserReaders = authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager,
		auth.RoleDistributorAdmin, auth.RoleStoreManager)
	authzHQAdmin         = authzRoles(auth.RoleHQAdmin)
	authzCatalogManagers = authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps)
	authzSellers         = authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleDistributorAdmin)
	authzBuyers          = authzRoles(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleSalesman)
	authzPartyBuyers     = authzRoles(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager)
	authzKeepers         = authzRoles(auth.RoleHQAdmin, auth.RoleGoodsControl, auth.RoleDistributorAdmin)
	authzCreditManagers  = authzRoles(auth.RoleHQAdmin, auth.RoleFinance, auth.RoleDistributorAdmin)
	authzShippers        = authzRoles(auth.RoleHQAdmin, auth.RoleGoodsControl, auth.RoleDistributorAdmin, auth.RoleDistributorStaff)
	// Shipments of transfers are dispatched by the sender's own people, stores too.
	authzSenders = authzRoles(auth.RoleHQAdmin, auth.RoleGoodsControl, auth.RoleDistributorAdmin, auth.RoleDistributorStaff,
		auth.RoleStoreManager, auth.RoleStoreStaff)
	authzTransferAsk      = authzRoles(auth.RoleDistributorAdmin, auth.RoleStoreManager)
	authzDiversionReaders = authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleFinance, auth.RoleGoodsControl, auth.RoleBranchManager)
	// A salesman must name a store in asPartyId; the matrix names none.
	authzBuyerCodes = []string{"INVALID_REQUEST"}
	authzNoSuchID   = "0190b7a8-0000-7000-8000-000000000000"
)

// authzMatrix has one entry per root field, keyed "Query.<field>" or
// "Mutation.<field>". TestAuthzMatrixCoversSchema fails when a field lacks one.
var authzMatrix = map[string]authzCase{
	"Query.parkedEvents": {
		doc:     `{ parkedEvents(first: 5) { id type attempts lastError } }`,
		allowed: authzHQAdmin,
	},
	"Mutation.parkedEventRetry": {
		doc:           `mutation { parkedEventRetry(id: "ParkedEvent:` + authzNoSuchID + `") { retried } }`,
		allowed:       authzHQAdmin,
		payloadErrors: nil,
	},
	"Query.notifications": {
		doc:     `{ notifications(first: 5) { edges { node { id title read } } } }`,
		allowed: authzSignedIn,
	},
	"Query.notificationUnreadCount": {
		doc:     `{ notificationUnreadCount }`,
		allowed: authzSignedIn,
	},
	"Query.notificationMutes": {
		doc:     `{ notificationMutes }`,
		allowed: authzSignedIn,
	},
	"Mutation.notificationsMarkRead": {
		doc:           `mutation { notificationsMarkRead(ids: ["Notification:` + authzNoSuchID + `"]) { unreadCount errors { code } } }`,
		allowed:       authzSignedIn,
		payloadErrors: []string{},
	},
	"Mutation.notificationsMarkAllRead": {
		doc:           `mutation { notificationsMarkAllRead { unreadCount errors { code } } }`,
		allowed:       authzSignedIn,
		payloadErrors: []string{},
	},
	"Mutation.notificationMuteSet": {
		doc:           `mutation { notificationMuteSet(category: SHIPMENT, muted: false) { muted errors { code } } }`,
		allowed:       authzSignedIn,
		payloadErrors: []string{},
	},
	"Mutation.deviceRegister": {
		doc:           `mutation { deviceRegister(input: {token: "", platform: ANDROID}) { devices errors { code } } }`,
		allowed:       authzSignedIn,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.deviceUnregister": {
		doc:           `mutation { deviceUnregister(token: "none") { devices errors { code } } }`,
		allowed:       authzSignedIn,
		payloadErrors: []string{},
	},
	// Field visits (issue 8).
	"Query.myRoute": {
		doc:     `{ myRoute { date stops { seq } } }`,
		allowed: authzRoles(auth.RoleSalesman),
	},
	"Query.visitRoute": {
		doc:     `{ visitRoute(salesmanId: "User:` + authzNoSuchID + `", date: "2026-11-23") { date } }`,
		allowed: authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager, auth.RoleSalesman),
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.myOpenVisit": {
		doc:     `{ myOpenVisit { id } }`,
		allowed: authzRoles(auth.RoleSalesman),
	},
	"Query.visit": {
		doc:     `{ visit(id: "Visit:` + authzNoSuchID + `") { id } }`,
		allowed: authzSignedIn,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.visits": {
		doc:     `{ visits(first: 5) { edges { node { id } } } }`,
		allowed: authzSignedIn,
	},
	"Query.auditTemplates": {
		doc:     `{ auditTemplates { id name } }`,
		allowed: authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager, auth.RoleSalesman),
	},
	"Query.actionItems": {
		doc:     `{ actionItems(first: 5) { edges { node { id } } } }`,
		allowed: authzSignedIn,
	},
	"Query.fieldKpis": {
		doc:     `{ fieldKpis(filter: {from: "2026-11-01", to: "2026-11-23"}) { edges { node { visits } } } }`,
		allowed: authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager, auth.RoleSalesman),
	},
	"Mutation.visitRouteSet": {
		doc:           `mutation { visitRouteSet(input: {date: "not-a-day", storeIds: []}) { route { date } errors { code } } }`,
		allowed:       authzRoles(auth.RoleSalesman, auth.RoleBranchManager, auth.RoleHQAdmin, auth.RoleSalesOps),
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.visitPatternSet": {
		doc:           `mutation { visitPatternSet(input: {weekday: 9, storeIds: []}) { route { fromPattern } errors { code } } }`,
		allowed:       authzRoles(auth.RoleSalesman, auth.RoleBranchManager, auth.RoleHQAdmin, auth.RoleSalesOps),
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.visitGeofenceSet": {
		doc:           `mutation { visitGeofenceSet(branchId: "Party:` + authzNoSuchID + `", radiusMeters: 1) { radiusMeters errors { code } } }`,
		allowed:       authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager),
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.visitPhotoUploadCreate": {
		doc:           `mutation { visitPhotoUploadCreate(input: {contentType: "text/plain"}) { upload { key } errors { code } } }`,
		allowed:       authzRoles(auth.RoleSalesman),
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.visitCheckIn": {
		doc: `mutation { visitCheckIn(input: {storeId: "Party:` + authzNoSuchID + `", position: {lat: 91, lng: 0, accuracyMeters: 5},
			photoKey: "x", capturedAt: "2026-11-23T00:00:00Z", idempotencyKey: "k1"}) { visit { id } errors { code } } }`,
		allowed:       authzRoles(auth.RoleSalesman),
		payloadErrors: []string{"POSITION_OUT_OF_RANGE"},
	},
	"Mutation.visitCheckOut": {
		doc:           `mutation { visitCheckOut(id: "Visit:` + authzNoSuchID + `") { visit { id } errors { code } } }`,
		allowed:       authzRoles(auth.RoleSalesman),
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.auditTemplateCreate": {
		doc:           `mutation { auditTemplateCreate(input: {name: "", sections: [{title: "s", questions: [{text: "q", type: YES_NO}]}]}) { template { id } errors { code } } }`,
		allowed:       authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps),
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.auditTemplateActiveSet": {
		doc:           `mutation { auditTemplateActiveSet(id: "AuditTemplate:` + authzNoSuchID + `", active: false) { template { id } errors { code } } }`,
		allowed:       authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps),
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.shelfAuditSubmit": {
		doc:           `mutation { shelfAuditSubmit(input: {visitId: "Visit:` + authzNoSuchID + `", templateId: "AuditTemplate:` + authzNoSuchID + `", answers: [], idempotencyKey: "k"}) { audit { id } errors { code } } }`,
		allowed:       authzRoles(auth.RoleSalesman),
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.actionItemClose": {
		doc:     `mutation { actionItemClose(id: "ActionItem:` + authzNoSuchID + `") { actionItem { id } errors { code } } }`,
		allowed: authzRoles(auth.RoleStoreManager, auth.RoleStoreStaff),
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.orders": {
		doc:     `{ orders(first: 1) { totalCount edges { node { id number } } } }`,
		allowed: authzSignedIn,
	},
	"Query.order": {
		doc:     `{ order(id: "Order:` + authzNoSuchID + `") { id } }`,
		allowed: authzSignedIn,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.orderAutoApproval": {
		doc:     `{ orderAutoApproval { amount } }`,
		allowed: authzSellers,
	},
	"Query.creditSummary": {
		doc:     `query($id: ID) { creditSummary(buyerId: $id) { available { amount } status } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.Store} },
		allowed: authzSignedIn,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.creditLimitRequests": {
		doc:     `{ creditLimitRequests { id } }`,
		allowed: authzCreditManagers,
	},
	"Mutation.orderSubmit": {
		doc:           `mutation { orderSubmit(input: {lines: [], idempotencyKey: "k1"}) { order { id } errors { code } } }`,
		allowed:       authzBuyers,
		okCodes:       authzBuyerCodes,
		payloadErrors: []string{"CART_EMPTY"},
	},
	"Mutation.orderApprove": {
		doc:     `mutation { orderApprove(id: "Order:` + authzNoSuchID + `", input: {reason: "x"}) { order { id } errors { code } } }`,
		allowed: authzSellers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.orderCloseRemainder": {
		doc:     `mutation { orderCloseRemainder(id: "Order:` + authzNoSuchID + `", input: {reason: "x"}) { order { id } errors { code } } }`,
		allowed: authzSellers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.orderReject": {
		doc:     `mutation { orderReject(id: "Order:` + authzNoSuchID + `", input: {reason: "x"}) { order { id } errors { code } } }`,
		allowed: authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleFinance, auth.RoleDistributorAdmin),
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.orderCancel": {
		doc:     `mutation { orderCancel(id: "Order:` + authzNoSuchID + `", input: {reason: "x"}) { order { id } errors { code } } }`,
		allowed: append(authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps), authzBuyers...),
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.orderCreditRelease": {
		doc:     `mutation { orderCreditRelease(id: "Order:` + authzNoSuchID + `", input: {reason: "x"}) { order { id } errors { code } } }`,
		allowed: authzCreditManagers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.orderChangeRequest": {
		doc:     `mutation { orderChangeRequest(id: "Order:` + authzNoSuchID + `", input: {note: "x"}) { order { id } errors { code } } }`,
		allowed: authzBuyers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.orderAutoApprovalSet": {
		doc:           `mutation { orderAutoApprovalSet(input: {maxTotal: "1.00", reason: ""}) { maxTotal { amount } errors { code } } }`,
		allowed:       authzSellers,
		payloadErrors: []string{"REASON_REQUIRED"},
	},
	"Mutation.returnRequest": {
		doc:     `mutation { returnRequest(input: {orderId: "Order:` + authzNoSuchID + `", lines: [{lineNo: 1, qty: 1}], reason: "x", idempotencyKey: "k1"}) { return { id } errors { code } } }`,
		allowed: authzBuyers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.returnApprove": {
		doc:     `mutation { returnApprove(id: "Return:` + authzNoSuchID + `", input: {reason: "x"}) { return { id } errors { code } } }`,
		allowed: authzSellers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.returnReject": {
		doc:     `mutation { returnReject(id: "Return:` + authzNoSuchID + `", input: {reason: "x"}) { return { id } errors { code } } }`,
		allowed: authzSellers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.returnReceive": {
		doc:     `mutation { returnReceive(id: "Return:` + authzNoSuchID + `") { return { id } errors { code } } }`,
		allowed: authzKeepers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.creditPaymentRecord": {
		doc:     `mutation($id: ID!) { creditPaymentRecord(input: {buyerId: $id, amount: "-1.00", reference: "x", idempotencyKey: "k1"}) { credit { available { amount } } errors { code } } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.Store} },
		allowed: authzCreditManagers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.creditLimitChangeRequest": {
		doc:     `mutation($id: ID!) { creditLimitChangeRequest(input: {buyerId: $id, newLimit: "1.00", reason: ""}) { request { id } errors { code } } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.Store} },
		allowed: authzCreditManagers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.creditLimitChangeApprove": {
		doc:     `mutation { creditLimitChangeApprove(id: "CreditLimitRequest:` + authzNoSuchID + `", input: {reason: "x"}) { request { id } errors { code } } }`,
		allowed: authzCreditManagers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.creditLimitChangeReject": {
		doc:     `mutation { creditLimitChangeReject(id: "CreditLimitRequest:` + authzNoSuchID + `", input: {reason: "x"}) { request { id } errors { code } } }`,
		allowed: authzCreditManagers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.creditPolicySet": {
		doc:     `mutation($id: ID!) { creditPolicySet(input: {buyerId: $id, policy: BLOCK, reason: ""}) { credit { policy } errors { code } } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.Store} },
		allowed: authzCreditManagers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.creditStopSet": {
		doc:     `mutation($id: ID!) { creditStopSet(input: {buyerId: $id, stopped: true, reason: ""}) { credit { status } errors { code } } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.Store} },
		allowed: authzCreditManagers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.node": {
		doc:     `query($id: ID!) { node(id: $id) { id } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.HQ} },
		allowed: authzSignedIn,
	},
	"Query.viewer": {
		doc:     `{ viewer { app roles user { id } party { id } } }`,
		allowed: authzSignedIn,
	},
	"Query.parties": {
		doc:     `{ parties(first: 1) { totalCount edges { node { id } } } }`,
		allowed: authzSignedIn,
	},
	"Query.party": {
		doc:     `query($id: ID!) { party(id: $id) { id } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.HQ} },
		allowed: authzSignedIn,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.users": {
		doc:     `{ users(first: 1) { totalCount edges { node { id } } } }`,
		allowed: authzUserReaders,
	},
	"Query.user": {
		doc:     `query($id: ID!) { user(id: $id) { id } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.HQAdmin} },
		allowed: authzUserReaders,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.catalog": {
		doc:     `{ catalog(first: 2) { totalCount edges { node { id code } } } }`,
		allowed: authzSignedIn,
		okCodes: []string{"INVALID_REQUEST"}, // a salesman must name a store in asPartyId
	},
	"Query.sku": {
		doc:     `query($id: ID!) { sku(id: $id) { id code } }`,
		vars:    func(ids authzIDs) map[string]any { return map[string]any{"id": ids.SKU} },
		allowed: authzSignedIn,
		okCodes: []string{"INVALID_REQUEST", "NOT_FOUND"},
	},
	"Query.categories": {
		doc:     `{ categories { id name parent { id } } }`,
		allowed: authzSignedIn,
	},
	"Query.catalogRules": {
		doc:     `{ catalogRules { id effect targetKind } }`,
		allowed: authzCatalogManagers,
	},
	"Mutation.categoryCreate": {
		doc:           `mutation { categoryCreate(input: {code: "not a code", name: "x"}) { category { id } errors { code } } }`,
		allowed:       authzCatalogManagers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.categoryUpdate": {
		doc:           `mutation($id: ID!) { categoryUpdate(id: $id, input: {code: "not a code", name: "x"}) { category { id } errors { code } } }`,
		vars:          func(ids authzIDs) map[string]any { return map[string]any{"id": ids.Category} },
		allowed:       authzCatalogManagers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.productCreate": {
		doc:           `mutation($c: ID!) { productCreate(input: {code: "not a code", name: "x", categoryId: $c, unit: "台"}) { product { id } errors { code } } }`,
		vars:          func(ids authzIDs) map[string]any { return map[string]any{"c": ids.Category} },
		allowed:       authzCatalogManagers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.productUpdate": {
		doc:           `mutation($id: ID!, $c: ID!) { productUpdate(id: $id, input: {code: "not a code", name: "x", categoryId: $c, unit: "台"}) { product { id } errors { code } } }`,
		vars:          func(ids authzIDs) map[string]any { return map[string]any{"id": ids.Product, "c": ids.Category} },
		allowed:       authzCatalogManagers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.skuCreate": {
		doc:           `mutation($p: ID!) { skuCreate(input: {productId: $p, code: "not a code", name: "x", basePrice: "1.00"}) { sku { id } errors { code } } }`,
		vars:          func(ids authzIDs) map[string]any { return map[string]any{"p": ids.Product} },
		allowed:       authzCatalogManagers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.skuUpdate": {
		doc:           `mutation($id: ID!) { skuUpdate(id: $id, input: {name: ""}) { sku { id } errors { code } } }`,
		vars:          func(ids authzIDs) map[string]any { return map[string]any{"id": ids.SKU} },
		allowed:       authzCatalogManagers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.skuImport": {
		doc:           `mutation { skuImport(input: {rows: [{productCode: "P-NONE", code: "X-1", name: "x", basePrice: "1"}]}) { okCount errors { code } } }`,
		allowed:       authzCatalogManagers,
		payloadErrors: []string{},
	},
	"Mutation.skuBasePriceImport": {
		doc:           `mutation { skuBasePriceImport(input: {rows: [{code: "X-NONE", basePrice: "1"}]}) { okCount errors { code } } }`,
		allowed:       authzCatalogManagers,
		payloadErrors: []string{},
	},
	"Mutation.catalogRuleCreate": {
		doc:           `mutation { catalogRuleCreate(input: {effect: INCLUDE, targetKind: ALL}) { rule { id } errors { code } } }`,
		allowed:       authzCatalogManagers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.catalogRuleDelete": {
		doc:           `mutation { catalogRuleDelete(id: "CatalogRule:0190b7a8-0000-7000-8000-000000000000") { deletedId errors { code } } }`,
		allowed:       authzCatalogManagers,
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Query.cart": {
		doc:     `{ cart { buyer { id } lines { skuId } quote { total { amount } } } }`,
		allowed: authzBuyers,
		okCodes: authzBuyerCodes,
	},
	"Query.favourites": {
		doc:     `{ favourites { id } }`,
		allowed: authzPartyBuyers,
	},
	"Query.runningPromotions": {
		doc:     `{ runningPromotions { id name kind } }`,
		allowed: authzBuyers,
		okCodes: authzBuyerCodes,
	},
	"Query.priceLists": {
		doc:     `{ priceLists { id name priceCount } }`,
		allowed: authzSellers,
	},
	"Query.promotions": {
		doc:     `{ promotions { id name ruleJson } }`,
		allowed: authzSellers,
	},
	"Mutation.cartAddLines": {
		doc:           `mutation($sku: ID!) { cartAddLines(input: {lines: [{skuId: $sku, qty: 0}]}) { cart { lines { qty } } errors { code } } }`,
		vars:          func(ids authzIDs) map[string]any { return map[string]any{"sku": ids.SKU} },
		allowed:       authzBuyers,
		okCodes:       authzBuyerCodes,
		payloadErrors: []string{"INVALID_QUANTITY"},
	},
	"Mutation.cartUpdateLine": {
		doc:           `mutation($sku: ID!) { cartUpdateLine(input: {skuId: $sku, qty: 0}) { cart { lines { qty } } errors { code } } }`,
		vars:          func(ids authzIDs) map[string]any { return map[string]any{"sku": ids.SKU} },
		allowed:       authzBuyers,
		okCodes:       authzBuyerCodes,
		payloadErrors: []string{"INVALID_QUANTITY"},
	},
	"Mutation.cartRemoveLines": {
		doc:           `mutation { cartRemoveLines(input: {skuIds: []}) { cart { lines { qty } } errors { code } } }`,
		allowed:       authzBuyers,
		okCodes:       authzBuyerCodes,
		payloadErrors: []string{},
	},
	"Mutation.cartClear": {
		doc:           `mutation { cartClear(input: {}) { cart { lines { qty } } errors { code } } }`,
		allowed:       authzBuyers,
		okCodes:       authzBuyerCodes,
		payloadErrors: []string{},
	},
	"Mutation.favouriteAdd": {
		doc:           `mutation { favouriteAdd(skuId: "SKU:` + authzNoSuchID + `") { sku { id } errors { code } } }`,
		allowed:       authzPartyBuyers,
		payloadErrors: []string{"UNKNOWN_SKU"},
	},
	"Mutation.favouriteRemove": {
		doc:           `mutation { favouriteRemove(skuId: "SKU:` + authzNoSuchID + `") { errors { code } } }`,
		allowed:       authzPartyBuyers,
		payloadErrors: []string{},
	},
	"Mutation.priceListCreate": {
		doc:           `mutation { priceListCreate(input: {name: "", targetKind: ALL}) { priceList { id } errors { code } } }`,
		allowed:       authzSellers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.priceListUpdate": {
		doc:           `mutation { priceListUpdate(id: "PriceList:` + authzNoSuchID + `", input: {name: "", targetKind: ALL}) { priceList { id } errors { code } } }`,
		allowed:       authzSellers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.priceListPricesSet": {
		doc:           `mutation { priceListPricesSet(id: "PriceList:` + authzNoSuchID + `", input: {rows: []}) { okCount errors { code } } }`,
		allowed:       authzSellers,
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.promotionCreate": {
		doc:           `mutation { promotionCreate(input: {name: "", kind: PERCENT_OFF, targetKind: ALL, percent: "5"}) { promotion { id } errors { code } } }`,
		allowed:       authzSellers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.promotionUpdate": {
		doc:           `mutation { promotionUpdate(id: "Promotion:` + authzNoSuchID + `", input: {name: "", kind: PERCENT_OFF, targetKind: ALL, percent: "5"}) { promotion { id } errors { code } } }`,
		allowed:       authzSellers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.promotionActiveSet": {
		doc:           `mutation { promotionActiveSet(id: "Promotion:` + authzNoSuchID + `", active: false, reason: "") { promotion { id } errors { code } } }`,
		allowed:       authzSellers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Query.warehouses": {
		doc:     `{ warehouses { id code stock(first: 2) { edges { node { onHand available sku { code } } } } } }`,
		allowed: authzKeepers,
	},
	"Mutation.warehouseCreate": {
		doc:           `mutation { warehouseCreate(input: {code: "not a code", name: "x"}) { warehouse { id } errors { code } } }`,
		allowed:       authzKeepers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.stockReceive": {
		doc:           `mutation { stockReceive(input: {warehouseId: "Warehouse:` + authzNoSuchID + `", lines: [], reference: "x", idempotencyKey: "k1"}) { levels { onHand } errors { code } } }`,
		allowed:       authzKeepers,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.stockAdjust": {
		doc:           `mutation { stockAdjust(input: {warehouseId: "Warehouse:` + authzNoSuchID + `", skuId: "SKU:` + authzNoSuchID + `", delta: 1, reason: ""}) { levels { onHand } errors { code } } }`,
		allowed:       authzKeepers,
		payloadErrors: []string{"REASON_REQUIRED"},
	},
	// Shipments, receipts, serials and claims (issue 6).
	"Query.serial": {
		doc:     `{ serial(number: "860000000000001") { number status trail { type } } }`,
		allowed: authzSignedIn,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.shipments": {
		doc:     `{ shipments(first: 5) { totalCount edges { node { id number status } } } }`,
		allowed: authzSignedIn,
	},
	"Query.shipment": {
		doc:     `{ shipment(id: "Shipment:` + authzNoSuchID + `") { id } }`,
		allowed: authzSignedIn,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.claims": {
		doc:     `{ claims(first: 5) { edges { node { id number } } } }`,
		allowed: authzSignedIn,
	},
	"Mutation.sellOutReport": {
		doc:           `mutation { sellOutReport(input: {serials: ["bad serial!"], idempotencyKey: "k1"}) { sold errors { code } } }`,
		allowed:       authzRoles(auth.RoleStoreManager, auth.RoleStoreStaff),
		payloadErrors: []string{"SERIAL_MALFORMED"},
	},
	"Mutation.serialReceive": {
		doc: `mutation { serialReceive(input: {warehouseId: "Warehouse:` + authzNoSuchID + `", skuId: "SKU:` + authzNoSuchID + `",
			serials: ["bad serial!"], reference: "x", idempotencyKey: "k1"}) { received errors { code } } }`,
		allowed:       authzRoles(auth.RoleHQAdmin, auth.RoleGoodsControl),
		payloadErrors: []string{"SERIAL_MALFORMED"},
	},
	"Mutation.shipmentCreate": {
		doc: `mutation { shipmentCreate(input: {orderId: "Order:` + authzNoSuchID + `", lines: [{orderLineNo: 1, qty: 1}],
			idempotencyKey: "k1"}) { shipment { id } errors { code } } }`,
		allowed:       authzShippers,
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.shipmentDispatch": {
		doc:           `mutation { shipmentDispatch(id: "Shipment:` + authzNoSuchID + `", input: {carrier: "SF"}) { shipment { id } errors { code } } }`,
		allowed:       authzSenders,
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.shipmentCancel": {
		doc:           `mutation { shipmentCancel(id: "Shipment:` + authzNoSuchID + `") { shipment { id } errors { code } } }`,
		allowed:       authzSenders,
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.shipmentDeliver": {
		doc:           `mutation { shipmentDeliver(id: "Shipment:` + authzNoSuchID + `") { shipment { id } errors { code } } }`,
		allowed:       authzSenders,
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.receiptConfirm": {
		doc: `mutation { receiptConfirm(shipmentId: "Shipment:` + authzNoSuchID + `", input: {idempotencyKey: "k1", serials: []}) {
			receipt { id } errors { code } } }`,
		allowed:       authzRoles(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff),
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.claimResolve": {
		doc:           `mutation { claimResolve(id: "Claim:` + authzNoSuchID + `", input: {resolution: CREDIT_NOTE, reason: "checked"}) { claim { id } errors { code } } }`,
		allowed:       authzRoles(auth.RoleHQAdmin, auth.RoleGoodsControl, auth.RoleSalesOps, auth.RoleDistributorAdmin, auth.RoleStoreManager),
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Query.transfers": {
		doc:     `{ transfers(first: 5, filter: {direction: INCOMING}) { totalCount edges { node { id number status } } } }`,
		allowed: authzSignedIn,
	},
	"Query.transfer": {
		doc:     `{ transfer(id: "Transfer:` + authzNoSuchID + `") { id } }`,
		allowed: authzSignedIn,
		okCodes: []string{"NOT_FOUND"},
	},
	"Query.transferPartners": {
		doc:     `{ transferPartners(first: 5) { id code } }`,
		allowed: authzTransferAsk,
	},
	"Query.channelInventory": {
		doc: `{ channelInventory(period: {from: "2026-11-01", to: "2026-11-30"}, first: 5) { edges { node { onHand inTransit sellIn sellThrough sellOut } } } }`,
		allowed: authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleFinance, auth.RoleGoodsControl, auth.RoleBranchManager,
			auth.RoleDistributorAdmin, auth.RoleDistributorStaff),
	},
	"Query.diversions": {
		doc:     `{ diversions(first: 5) { totalCount edges { node { id kind status } } } }`,
		allowed: authzDiversionReaders,
	},
	"Query.diversion": {
		doc:     `{ diversion(id: "Diversion:` + authzNoSuchID + `") { id } }`,
		allowed: authzDiversionReaders,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.diversionReview": {
		doc:     `mutation { diversionReview(id: "Diversion:` + authzNoSuchID + `", input: {status: DISMISSED, note: "ok"}) { diversion { id } errors { code } } }`,
		allowed: authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager),
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.transferRequest": {
		doc: `mutation { transferRequest(input: {fromPartyId: "Party:` + authzNoSuchID + `", toPartyId: "Party:0190b7a8-0000-7000-8000-000000000001",
			lines: [{skuId: "SKU:` + authzNoSuchID + `", qty: 1}], idempotencyKey: "k1"}) { transfer { id } errors { code } } }`,
		allowed:       authzTransferAsk,
		payloadErrors: []string{"NOT_ALLOWED"},
	},
	"Mutation.transferApprove": {
		doc:     `mutation { transferApprove(id: "Transfer:` + authzNoSuchID + `", input: {reason: "ok"}) { transfer { id } errors { code } } }`,
		allowed: authzSellers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.transferReject": {
		doc:     `mutation { transferReject(id: "Transfer:` + authzNoSuchID + `", input: {reason: "no"}) { transfer { id } errors { code } } }`,
		allowed: authzSellers,
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.transferCancel": {
		doc:     `mutation { transferCancel(id: "Transfer:` + authzNoSuchID + `") { transfer { id } errors { code } } }`,
		allowed: authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleDistributorAdmin, auth.RoleStoreManager),
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.transferCloseRemainder": {
		doc:     `mutation { transferCloseRemainder(id: "Transfer:` + authzNoSuchID + `", input: {reason: "x"}) { transfer { id } errors { code } } }`,
		allowed: authzRoles(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleDistributorAdmin, auth.RoleStoreManager),
		okCodes: []string{"NOT_FOUND"},
	},
	"Mutation.transferShip": {
		doc: `mutation { transferShip(id: "Transfer:` + authzNoSuchID + `", input: {lines: [{lineNo: 1, qty: 1}], idempotencyKey: "k1"}) {
			shipment { id } errors { code } } }`,
		allowed:       authzRoles(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff),
		payloadErrors: []string{"NOT_FOUND"},
	},
	"Mutation.authLogin": {
		doc: `mutation($in: AuthLoginInput!) { authLogin(input: $in) { session { accessToken } errors { code } } }`,
		vars: func(ids authzIDs) map[string]any {
			return map[string]any{"in": map[string]any{"phone": ids.OtherPhone, "password": seed.DemoPassword, "app": ids.OtherApp}}
		},
		allowed:       authzEveryone,
		payloadErrors: []string{},
	},
	"Mutation.authRefresh": {
		doc:           `mutation { authRefresh(input: {refreshToken: "not-a-refresh-token"}) { session { accessToken } errors { code } } }`,
		allowed:       authzEveryone,
		payloadErrors: []string{"REFRESH_TOKEN_INVALID"},
	},
	"Mutation.authLogout": {
		doc:           `mutation { authLogout(input: {refreshToken: "not-a-refresh-token"}) { ok errors { code } } }`,
		allowed:       authzEveryone,
		payloadErrors: []string{"REFRESH_TOKEN_INVALID"},
	},
	"Mutation.authPasswordChange": {
		doc: `mutation { authPasswordChange(input: {currentPassword: "not-the-password", newPassword: "another-secret-42"}) {
			session { accessToken } errors { code } } }`,
		allowed:       authzSignedIn,
		payloadErrors: []string{"PASSWORD_INCORRECT"},
	},
	"Mutation.partyCreate": {
		doc: `mutation($in: PartyCreateInput!) { partyCreate(input: $in) { party { id } errors { code } } }`,
		vars: func(ids authzIDs) map[string]any {
			return map[string]any{"in": map[string]any{
				"code": "not a code", "name": "x", "kind": "STORE", "parentId": ids.StoreParent, "channelType": "RETAILER",
			}}
		},
		allowed:       authzHQAdmin,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.partyUpdate": {
		doc: `mutation($id: ID!) { partyUpdate(id: $id, input: {name: ""}) { party { id } errors { code } } }`,
		vars: func(ids authzIDs) map[string]any {
			return map[string]any{"id": ids.Store}
		},
		allowed:       authzHQAdmin,
		payloadErrors: []string{"INVALID_INPUT"},
	},
	"Mutation.partyStatusChange": {
		doc: `mutation($id: ID!) { partyStatusChange(id: $id, input: {status: SUSPENDED, reason: " "}) {
			party { id } errors { code } } }`,
		vars:          func(ids authzIDs) map[string]any { return map[string]any{"id": ids.Store} },
		allowed:       authzHQAdmin,
		payloadErrors: []string{"REASON_REQUIRED"},
	},
	"Mutation.userCreate": {
		doc: `mutation($in: UserCreateInput!) { userCreate(input: $in) { user { id } errors { code } } }`,
		vars: func(ids authzIDs) map[string]any {
			return map[string]any{"in": map[string]any{
				"partyId": ids.Store, "phone": "12345", "name": "x", "roles": []string{"STORE_STAFF"}, "password": "another-secret-42",
			}}
		},
		allowed:       authzHQAdmin,
		payloadErrors: []string{"PHONE_INVALID"},
	},
	"Mutation.userUpdate": {
		doc: `mutation($id: ID!) { userUpdate(id: $id, input: {roles: [STORE_STAFF]}) { user { id } errors { code } } }`,
		vars: func(ids authzIDs) map[string]any {
			return map[string]any{"id": ids.OtherStaff}
		},
		allowed:       authzHQAdmin,
		payloadErrors: []string{"REASON_REQUIRED"},
	},
	"Mutation.userAssignedStoresSet": {
		doc: `mutation($id: ID!) { userAssignedStoresSet(id: $id, input: {storeIds: [], reason: "matrix"}) { user { id } errors { code } } }`,
		vars: func(ids authzIDs) map[string]any {
			return map[string]any{"id": ids.OtherStaff}
		},
		allowed:       authzHQAdmin,
		payloadErrors: []string{"NOT_A_SALESMAN"},
	},
}

// authzRootFields lists the schema's root Query and Mutation fields as
// "Query.<field>" / "Mutation.<field>", from the executable schema itself.
func authzRootFields(t *testing.T) []string {
	t.Helper()
	s := graph.NewExecutableSchema(graph.Config{}).Schema()
	require.NotNil(t, s.Query)
	require.NotNil(t, s.Mutation)
	var out []string
	for _, def := range []*ast.Definition{s.Query, s.Mutation} {
		for _, f := range def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue // introspection
			}
			out = append(out, def.Name+"."+f.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestAuthzMatrixCoversSchema makes a new root field impossible to ship
// without deciding who may call it.
func TestAuthzMatrixCoversSchema(t *testing.T) {
	t.Parallel()
	fields := authzRootFields(t)
	require.NotEmpty(t, fields)
	for _, f := range fields {
		_, ok := authzMatrix[f]
		require.Truef(t, ok, "root field %s has no entry in authzMatrix (graph/authz_test.go)", f)
	}
	for _, k := range slices.Sorted(maps.Keys(authzMatrix)) {
		require.Containsf(t, fields, k, "authzMatrix entry %s names no root field of the schema", k)
		c := authzMatrix[k]
		require.NotEmptyf(t, c.doc, "%s: no operation", k)
		for _, r := range c.allowed {
			require.Truef(t, r == authzAnonymous || auth.Role(r).Valid(), "%s: unknown role %q", k, r)
		}
	}
	for _, r := range auth.AllRoles {
		_, ok := apitest.Demo[r]
		require.Truef(t, ok, "apitest.Demo has no user for role %s", r)
	}
}

// authzWant is the outcome the matrix expects for caller on field c.
func authzWant(c authzCase, caller string) authzOutcome {
	switch {
	case slices.Contains(c.allowed, caller):
		return authzAllowed
	case caller == authzAnonymous:
		return authzUnauthenticated
	default:
		return authzForbidden
	}
}

// authzFor returns a copy of e that reports to t, so parallel subtests fail themselves.
func authzFor(t *testing.T, e *apitest.Env) *apitest.Env {
	c := *e
	c.T = t
	return &c
}

// authzLookupIDs reads the ids the matrix needs from the seeded channel.
func authzLookupIDs(t *testing.T, e *apitest.Env, hqToken string) authzIDs {
	t.Helper()
	r := e.Query(hqToken, `{ parties(first: 100) { edges { node { id code } } }
		users(first: 100) { edges { node { id phone } } }
		categories { id code }
		catalog(filter: {search: "PH01-1-1"}) { edges { node { id code product { id code } } } } }`, nil)
	require.Empty(t, r.Errors)
	var d struct {
		Parties struct {
			Edges []struct{ Node struct{ ID, Code string } }
		}
		Users struct {
			Edges []struct{ Node struct{ ID, Phone string } }
		}
		Categories []struct{ ID, Code string }
		Catalog    struct {
			Edges []struct {
				Node struct {
					ID, Code string
					Product  struct{ ID, Code string }
				}
			}
		}
	}
	r.Decode(t, &d)
	party := map[string]string{}
	for _, e := range d.Parties.Edges {
		party[e.Node.Code] = e.Node.ID
	}
	user := map[string]string{}
	for _, e := range d.Users.Edges {
		user[e.Node.Phone] = e.Node.ID
	}
	ids := authzIDs{
		HQ: party["HQ-ZJ"], Store: party["S-0020"], StoreParent: party["D-0004"],
		HQAdmin: user["13800000000"], OtherStaff: user["13800000013"], OtherPhone: "13800000013", OtherApp: auth.AppStore,
	}
	for _, c := range d.Categories {
		if c.Code == "PHONE" {
			ids.Category = c.ID
		}
	}
	for _, k := range d.Catalog.Edges {
		if k.Node.Code == "PH01-1-1" {
			ids.SKU, ids.Product = k.Node.ID, k.Node.Product.ID
		}
	}
	for _, id := range []string{ids.HQ, ids.Store, ids.StoreParent, ids.HQAdmin, ids.OtherStaff, ids.Category, ids.Product, ids.SKU} {
		require.NotEmpty(t, id, "seed lookup: %+v", ids)
	}
	return ids
}

// authzCallers lists every role and anonymous, in a stable order.
func authzCallers() []string {
	return append(authzRoles(auth.AllRoles...), authzAnonymous)
}

// TestAuthzMatrix calls every root field as every role and as anonymous,
// and checks each outcome against the matrix.
func TestAuthzMatrix(t *testing.T) {
	t.Parallel()
	apitest.Each(t, apitest.Options{}, func(t *testing.T, e *apitest.Env) {
		tokens := map[string]string{authzAnonymous: ""}
		for _, r := range auth.AllRoles {
			tokens[string(r)] = e.As(r)
		}
		ids := authzLookupIDs(t, e, tokens[string(auth.RoleHQAdmin)])
		t.Run("bad token", func(t *testing.T) {
			t.Parallel()
			authzBadToken(t, authzFor(t, e))
		})
		for _, field := range authzRootFields(t) {
			c, ok := authzMatrix[field]
			if !ok {
				continue // TestAuthzMatrixCoversSchema reports it
			}
			t.Run(field, func(t *testing.T) {
				t.Parallel()
				env := authzFor(t, e)
				var vars map[string]any
				if c.vars != nil {
					vars = c.vars(ids)
				}
				_, name, _ := strings.Cut(field, ".")
				for _, caller := range authzCallers() {
					authzCheck(t, env, c, name, caller, tokens[caller], vars)
				}
			})
		}
	})
}

// authzCheck runs one cell of the matrix.
func authzCheck(t *testing.T, e *apitest.Env, c authzCase, name, caller, token string, vars map[string]any) {
	t.Helper()
	want := authzWant(c, caller)
	r := e.Query(token, c.doc, vars)
	codes := r.Codes()
	var data map[string]json.RawMessage
	if len(r.Data) > 0 && string(r.Data) != "null" {
		require.NoError(t, json.Unmarshal(r.Data, &data), "%s as %s", name, caller)
	}
	switch want {
	case authzAllowed:
		for _, code := range codes {
			require.Containsf(t, c.okCodes, code, "%s as %s: want ALLOWED, got top-level %v (data %s)", name, caller, r.Errors, r.Data)
		}
		require.Equalf(t, http.StatusOK, r.Status, "%s as %s", name, caller)
		if len(codes) > 0 {
			return // an accepted top-level code (NOT_FOUND, INVALID_REQUEST) nulls the field
		}
		raw, ok := data[name]
		require.Truef(t, ok, "%s as %s: no data.%s in %s", name, caller, name, r.Data)
		if c.payloadErrors != nil {
			var p struct{ Errors []struct{ Code string } }
			require.NoError(t, json.Unmarshal(raw, &p), "%s as %s", name, caller)
			got := make([]string, len(p.Errors))
			for i, pe := range p.Errors {
				got[i] = pe.Code
			}
			require.ElementsMatchf(t, c.payloadErrors, got, "%s as %s: payload errors (data %s)", name, caller, r.Data)
		}
	default:
		require.Equalf(t, []string{string(want)}, codes, "%s as %s: want %s, got %v (data %s)", name, caller, want, r.Errors, r.Data)
		require.Equalf(t, []any{name}, r.Errors[0].Path, "%s as %s: error path", name, caller)
		if raw, ok := data[name]; ok {
			require.Equalf(t, "null", string(raw), "%s as %s: a refused field must carry no data", name, caller)
		}
	}
}

// authzBadToken: a token that is present but invalid is refused before any
// field runs, even for the fields open to anonymous callers.
func authzBadToken(t *testing.T, e *apitest.Env) {
	for _, doc := range []string{
		`{ viewer { app } }`,
		`mutation { authRefresh(input: {refreshToken: "x"}) { errors { code } } }`,
	} {
		r := e.Query("not-a-jwt", doc, nil)
		require.Equal(t, http.StatusUnauthorized, r.Status, doc)
		require.Equal(t, []string{"UNAUTHENTICATED"}, r.Codes(), doc)
	}
}
