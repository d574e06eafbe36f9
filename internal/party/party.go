// Package party holds the channel tree (HQ, branches, distributors, stores),
// its users and salesman assignments, and the scope rule every service uses.
package party

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/field"
)

// Kind is a party's place in the tree.
type Kind string

const (
	KindHQ          Kind = "HQ"
	KindBranch      Kind = "BRANCH"
	KindDistributor Kind = "DISTRIBUTOR"
	KindStore       Kind = "STORE"
)

// ChannelType is how a party trades.
type ChannelType string

const (
	ChannelAgent       ChannelType = "AGENT"
	ChannelOperator    ChannelType = "OPERATOR"
	ChannelDistributor ChannelType = "DISTRIBUTOR"
	ChannelKeyAccount  ChannelType = "KEY_ACCOUNT"
	ChannelRetailer    ChannelType = "RETAILER"
)

// TargetValue is a rule's target value as matching compares it (a party id
// in its canonical lowercase form, a known channel type, a grade or region
// of 1..64 bytes), or false when the value can match no party. Kind is one of
// ALL, PARTY, CHANNEL_TYPE, GRADE and REGION, as catalogue rules, price lists
// and promotions name them.
func TargetValue(kind, value string) (string, bool) {
	switch kind {
	case "ALL":
		return "", value == ""
	case "PARTY":
		id, err := uuid.Parse(value)
		return id.String(), err == nil && id != uuid.Nil
	case "CHANNEL_TYPE":
		switch ChannelType(value) {
		case ChannelAgent, ChannelOperator, ChannelDistributor, ChannelKeyAccount, ChannelRetailer:
			return value, true
		}
	case "GRADE", "REGION":
		return value, value != "" && len(value) <= 64
	}
	return "", false
}

// Status is a party's lifecycle state.
type Status string

const (
	StatusPending   Status = "PENDING"
	StatusActive    Status = "ACTIVE"
	StatusSuspended Status = "SUSPENDED"
	StatusExited    Status = "EXITED"
)

// transitions lists the lifecycle moves a console user may make.
var transitions = map[Status][]Status{
	StatusPending:   {StatusActive, StatusExited},
	StatusActive:    {StatusSuspended, StatusExited},
	StatusSuspended: {StatusActive, StatusExited},
}

// Party is an organisation in the channel.
type Party struct {
	bun.BaseModel `bun:"table:parties,alias:p"`

	ID           uuid.UUID   `bun:"id,pk"`
	Kind         Kind        `bun:"kind"`
	Code         string      `bun:"code"`
	Name         string      `bun:"name"`
	ParentID     *uuid.UUID  `bun:"parent_id"`
	Path         string      `bun:"path"` // "/<hq>/<branch>/.../<self>/": a subtree is a prefix
	Level        int         `bun:"level"`
	ChannelType  ChannelType `bun:"channel_type"`
	Grade        string      `bun:"grade"`
	Region       string      `bun:"region"`
	Province     string      `bun:"province"`
	City         string      `bun:"city"`
	District     string      `bun:"district"`
	Street       string      `bun:"street"`
	Latitude     *float64    `bun:"latitude"`
	Longitude    *float64    `bun:"longitude"`
	ContactPhone string      `bun:"contact_phone"`
	Status       Status      `bun:"status"`
	CreatedAt    time.Time   `bun:"created_at"`
	UpdatedAt    time.Time   `bun:"updated_at"`
}

// Address is a mainland address.
type Address struct {
	Province string `json:"province"`
	City     string `json:"city"`
	District string `json:"district"`
	Street   string `json:"street"`
}

// GeoPoint is a WGS-84 position.
type GeoPoint struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// Address returns the party's address.
func (p *Party) Address() Address {
	return Address{Province: p.Province, City: p.City, District: p.District, Street: p.Street}
}

// Geo returns the position, or nil when the party has none.
func (p *Party) Geo() *GeoPoint {
	if p.Latitude == nil || p.Longitude == nil {
		return nil
	}
	return &GeoPoint{Latitude: *p.Latitude, Longitude: *p.Longitude}
}

// UserStatus tells whether a user may sign in.
type UserStatus string

const (
	UserActive   UserStatus = "ACTIVE"
	UserDisabled UserStatus = "DISABLED"
)

// User is a person with one party and one or more roles.
type User struct {
	bun.BaseModel `bun:"table:users,alias:u"`

	ID                uuid.UUID   `bun:"id,pk"`
	PartyID           uuid.UUID   `bun:"party_id"`
	Phone             string      `bun:"phone"`
	Name              string      `bun:"name"`
	Roles             []auth.Role `bun:"roles"` // JSON array; filter with LIKE %"ROLE"%
	PasswordHash      string      `bun:"password_hash"`
	Status            UserStatus  `bun:"status"`
	SessionVersion    int64       `bun:"session_version"`
	PasswordChangedAt time.Time   `bun:"password_changed_at"`
	CreatedAt         time.Time   `bun:"created_at"`
	UpdatedAt         time.Time   `bun:"updated_at"`
}

// kindRoles says which roles a user of each kind of party may hold.
var kindRoles = map[Kind][]auth.Role{
	KindHQ: {auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleFinance, auth.RoleGoodsControl, auth.RoleSalesman},
	// HQ roles see the whole channel, so only HQ's own people may hold them.
	KindBranch:      {auth.RoleBranchManager, auth.RoleSalesman},
	KindDistributor: {auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleSalesman},
	KindStore:       {auth.RoleStoreManager, auth.RoleStoreStaff},
}

// ValidPhone reports whether s is a mainland mobile number.
func ValidPhone(s string) bool { return auth.ValidPhone(s) }

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound          = errors.New("party: not found")
	ErrInvalidInput      = errors.New("party: invalid input")
	ErrCodeTaken         = errors.New("party: code taken")
	ErrParentNotFound    = errors.New("party: parent not found")
	ErrParentKindInvalid = errors.New("party: parent kind invalid")
	ErrStatusTransition  = errors.New("party: status transition not allowed")
	ErrReasonRequired    = errors.New("party: reason required")
	ErrPhoneInvalid      = errors.New("party: phone invalid")
	ErrPhoneTaken        = errors.New("party: phone taken")
	ErrPartyNotFound     = errors.New("party: user's party not found")
	ErrRoleNotAllowed    = errors.New("party: role not allowed for party kind")
	ErrStoreNotFound     = errors.New("party: store not found")
	ErrNotSalesman       = errors.New("party: user is not a salesman")
	ErrUserNotFound      = errors.New("party: user not found")
	ErrLastAdmin         = errors.New("party: the last active HQ admin cannot be removed")
)

func fieldErr(err error, path ...string) error { return field.Err(err, path...) }
