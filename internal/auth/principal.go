// Package auth signs people in and tells every service who is calling:
// passwords, access and refresh tokens, sessions, and the Principal.
package auth

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Role is what a user may do. A user holds one or more.
type Role string

const (
	RoleHQAdmin          Role = "HQ_ADMIN"
	RoleSalesOps         Role = "SALES_OPS"
	RoleFinance          Role = "FINANCE"
	RoleGoodsControl     Role = "GOODS_CONTROL"
	RoleBranchManager    Role = "BRANCH_MANAGER"
	RoleDistributorAdmin Role = "DISTRIBUTOR_ADMIN"
	RoleDistributorStaff Role = "DISTRIBUTOR_STAFF"
	RoleStoreManager     Role = "STORE_MANAGER"
	RoleStoreStaff       Role = "STORE_STAFF"
	RoleSalesman         Role = "SALESMAN"
)

// AllRoles lists every role, in the schema's order.
var AllRoles = []Role{RoleHQAdmin, RoleSalesOps, RoleFinance, RoleGoodsControl, RoleBranchManager,
	RoleDistributorAdmin, RoleDistributorStaff, RoleStoreManager, RoleStoreStaff, RoleSalesman}

// HQRoles see the whole channel.
var HQRoles = []Role{RoleHQAdmin, RoleSalesOps, RoleFinance, RoleGoodsControl}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(AllRoles, r) }

// App is the client a session belongs to.
type App string

const (
	AppDistributor App = "DISTRIBUTOR"
	AppStore       App = "STORE"
	AppSalesman    App = "SALESMAN"
	AppConsole     App = "CONSOLE"
)

// appRoles says which roles may use which app.
var appRoles = map[App][]Role{
	AppDistributor: {RoleDistributorAdmin, RoleDistributorStaff},
	AppStore:       {RoleStoreManager, RoleStoreStaff},
	AppSalesman:    {RoleSalesman},
	AppConsole:     {RoleHQAdmin, RoleSalesOps, RoleFinance, RoleGoodsControl, RoleBranchManager},
}

// Valid reports whether a is a known app.
func (a App) Valid() bool { _, ok := appRoles[a]; return ok }

// RolesFor returns the subset of roles that fit app, in the order of AllRoles.
func RolesFor(app App, roles []Role) []Role {
	var out []Role
	for _, r := range AllRoles {
		if slices.Contains(roles, r) && slices.Contains(appRoles[app], r) {
			out = append(out, r)
		}
	}
	return out
}

var phoneRE = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// ValidPhone reports whether s is a mainland mobile number, the sign-in name of every user.
func ValidPhone(s string) bool { return phoneRE.MatchString(s) }

// Principal is the authenticated caller of one request.
type Principal struct {
	UserID         uuid.UUID
	PartyID        uuid.UUID
	PartyPath      string // the party's place in the tree, "/<hq>/.../<party>/": its subtree is this prefix
	SessionID      uuid.UUID
	Roles          []Role // only those fitting App
	App            App
	SessionVersion int64
	ExpiresAt      time.Time // of the access token; a WebSocket closes then
}

// Errors every service returns for callers it must refuse.
var (
	ErrUnauthenticated = errors.New("auth: unauthenticated")
	ErrForbidden       = errors.New("auth: forbidden")
)

// Has reports whether the principal holds any of roles.
func (p Principal) Has(roles ...Role) bool {
	for _, r := range roles {
		if slices.Contains(p.Roles, r) {
			return true
		}
	}
	return false
}

// IsHQ reports whether the principal sees the whole channel.
func (p Principal) IsHQ() bool { return p.Has(HQRoles...) }

// Require returns ErrForbidden unless the principal holds one of roles.
func (p Principal) Require(roles ...Role) error {
	if p.UserID == uuid.Nil {
		return ErrUnauthenticated
	}
	if !p.Has(roles...) {
		return ErrForbidden
	}
	return nil
}

type principalKey struct{}

// WithPrincipal stores p in ctx.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller, or ErrUnauthenticated when nobody signed in.
func FromContext(ctx context.Context) (Principal, error) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if !ok || p.UserID == uuid.Nil {
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}
