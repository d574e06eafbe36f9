// Package model holds the GraphQL-only types: connections, payloads and inputs.
package model

import (
	"context"

	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/inventory"
	"channelhub/internal/order"
	"channelhub/internal/party"
	"channelhub/internal/visit"
)

// PartyConnection is a page of parties; TotalCount runs its query only when asked for.
type PartyConnection struct {
	Edges    []PartyEdge
	PageInfo PageInfo
	Count    func(ctx context.Context) (int, error)
}

// PartyEdge is one party in a connection.
type PartyEdge struct {
	Node   *party.Party
	Cursor string
}

// UserConnection is a page of users.
type UserConnection struct {
	Edges    []UserEdge
	PageInfo PageInfo
	Count    func(ctx context.Context) (int, error)
}

// UserEdge is one user in a connection.
type UserEdge struct {
	Node   *party.User
	Cursor string
}

// Viewer is the signed-in caller; user and party are resolved on demand.
type Viewer struct {
	Principal auth.Principal
}

// Roles are the caller's roles valid in this app.
func (v Viewer) Roles() []auth.Role { return v.Principal.Roles }

// App is the session's app.
func (v Viewer) App() auth.App { return v.Principal.App }

// SKUView is a SKU as one buyer's catalogue shows it; Buyer is nil in the
// console view, where no price applies.
type SKUView struct {
	*catalog.SKU
	Buyer *party.Party
}

// GlobalID is the SKU's Node ID. A plain method, not a resolver, so a page of
// SKUs does not spawn a goroutine per row for it.
func (v SKUView) GlobalID() string { return "SKU:" + v.SKU.ID.String() }

// SKUConnection is a page of the catalogue.
type SKUConnection struct {
	Edges    []SKUEdge
	PageInfo PageInfo
	Count    func(ctx context.Context) (int, error)
}

// SKUEdge is one SKU in a connection.
type SKUEdge struct {
	Node   SKUView
	Cursor string
}

// StockLevelConnection is a page of a warehouse's stock.
type StockLevelConnection struct {
	Edges    []StockLevelEdge
	PageInfo PageInfo
}

// StockLevelEdge is one level in a connection.
type StockLevelEdge struct {
	Node   *inventory.Level
	Cursor string
}

// Node is any object with a global ID; domain types satisfy it without knowing GraphQL.
type Node any

// OrderConnection is a page of orders; TotalCount runs its query only when asked for.
type OrderConnection struct {
	Edges    []OrderEdge
	PageInfo PageInfo
	Count    func(ctx context.Context) (int, error)
}

// OrderEdge is one order in a connection.
type OrderEdge struct {
	Node   *order.Order
	Cursor string
}

// VisitConnection is a page of visits; TotalCount runs its query only when asked for.
type VisitConnection struct {
	Edges    []VisitEdge
	PageInfo *PageInfo
	Count    func(ctx context.Context) (int, error)
}

// VisitEdge is one visit in a connection.
type VisitEdge struct {
	Node   *visit.Visit
	Cursor string
}

// ActionItemConnection is a page of action items; TotalCount runs its query only when asked for.
type ActionItemConnection struct {
	Edges    []ActionItemEdge
	PageInfo *PageInfo
	Count    func(ctx context.Context) (int, error)
}

// ActionItemEdge is one action item in a connection.
type ActionItemEdge struct {
	Node   *visit.ActionItem
	Cursor string
}

// FieldKpiConnection is a page of field KPIs; TotalCount runs its query only when asked for.
type FieldKpiConnection struct {
	Edges    []FieldKpiEdge
	PageInfo *PageInfo
	Count    func(ctx context.Context) (int, error)
}

// FieldKpiEdge is one salesman's KPIs in a connection.
type FieldKpiEdge struct {
	Node   *visit.KPI
	Cursor string
}
