// Package channel is the read side of the channel as a whole: the
// diversions internal/serial records when a unit turns up outside its
// territory (with their review), and channel inventory, every party's stock,
// goods on the way and sell-in, sell-through and sell-out per SKU.
package channel

import (
	"errors"
	"time"

	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/party"
)

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound        = errors.New("channel: not found")
	ErrInvalidInput    = errors.New("channel: invalid input")
	ErrAlreadyReviewed = errors.New("channel: diversion already reviewed")
)

// Who may do what.
var (
	// DiversionReaders see diversions: HQ everything, a branch manager those
	// whose expected or actual party was under its branch.
	DiversionReaders = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleFinance, auth.RoleGoodsControl, auth.RoleBranchManager}
	// Reviewers confirm or dismiss a diversion they can see.
	Reviewers = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager}
	// InventoryReaders read channel inventory over their scope: HQ all parties,
	// a branch manager its branch's, a distributor itself and its buyers.
	InventoryReaders = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleFinance, auth.RoleGoodsControl,
		auth.RoleBranchManager, auth.RoleDistributorAdmin, auth.RoleDistributorStaff}
)

// Limits.
const (
	MaxPeriodDays = 366
	MaxDepth      = 4 // HQ → branch → distributor → level-2 distributor → store
	MaxNote       = 500
	dayLayout     = "2006-01-02"
)

// Service answers diversions and channel inventory.
type Service struct {
	db      *database.DB
	parties *party.Service
	zone    *time.Location
	Now     func() time.Time
}

// NewService returns a channel Service; zone is the business time zone of periods.
func NewService(db *database.DB, parties *party.Service, zone *time.Location) *Service {
	if zone == nil {
		zone = time.UTC
	}
	return &Service{db: db, parties: parties, zone: zone, Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Period is business days From..To (YYYY-MM-DD, inclusive) in the service's zone.
type Period struct {
	From, To string
}

// bounds turns a period into [start, end) instants; path names the input for errors.
func (s *Service) bounds(pr Period, path ...string) (time.Time, time.Time, error) {
	from, err := time.ParseInLocation(dayLayout, pr.From, s.zone)
	if err != nil {
		return time.Time{}, time.Time{}, field.Err(ErrInvalidInput, append(path, "from")...)
	}
	to, err := time.ParseInLocation(dayLayout, pr.To, s.zone)
	if err != nil {
		return time.Time{}, time.Time{}, field.Err(ErrInvalidInput, append(path, "to")...)
	}
	end := to.AddDate(0, 0, 1)
	if !from.Before(end) || end.After(from.AddDate(0, 0, MaxPeriodDays)) {
		return time.Time{}, time.Time{}, field.Err(ErrInvalidInput, append(path, "to")...)
	}
	return from.UTC(), end.UTC(), nil
}
