// Package visit is the salesman's day in the field: routes and weekly
// patterns, photo check-ins checked against the store's geofence, shelf
// audits with their action items, and the field KPIs built from them.
package visit

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/media"
)

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound          = errors.New("visit: not found")
	ErrInvalidInput      = errors.New("visit: invalid input")
	ErrStoreNotAssigned  = errors.New("visit: store not assigned to the salesman")
	ErrPositionInvalid   = errors.New("visit: position out of range")
	ErrPhotoNotFound     = errors.New("visit: photo not uploaded")
	ErrPhotoTooLarge     = errors.New("visit: photo too large")
	ErrPhotoNotImage     = errors.New("visit: photo is not an allowed image")
	ErrAlreadyCheckedIn  = errors.New("visit: another visit is open")
	ErrVisitNotOpen      = errors.New("visit: visit is not open")
	ErrKeyReused         = errors.New("visit: idempotency key reused")
	ErrTemplateInactive  = errors.New("visit: audit template inactive")
	ErrAlreadyAudited    = errors.New("visit: visit already audited with this template")
	ErrUnknownQuestion   = errors.New("visit: unknown question")
	ErrAnswerType        = errors.New("visit: answer of the wrong type")
	ErrAnswerOutOfRange  = errors.New("visit: answer out of range")
	ErrAnswerRequired    = errors.New("visit: required answer missing")
	ErrActionItemClosed  = errors.New("visit: action item already closed")
	ErrTooManyStops      = errors.New("visit: too many stops")
	ErrSalesmanNotInRole = errors.New("visit: user is not a salesman in scope")
)

// Limits stated in the schema.
const (
	DefaultRadiusM  = 200              // geofence when the branch sets none
	MaxPhotoBytes   = 8 << 20          // one photo
	UploadTTL       = 10 * time.Minute // a presigned upload
	PhotoURLTTL     = 5 * time.Minute  // a signed photo URL
	LowAccuracyM    = 100              // a fix less precise than this is flagged
	StaleAfter      = 10 * time.Minute // capturedAt further from server time is flagged
	MaxStops        = 60               // stores on one route or weekday pattern
	MaxKPIDays      = 92               // one KPI period
	MaxNoteRunes    = 500
	MaxRadiusM      = 5000
	MinRadiusM      = 20
	MaxAccuracyM    = 100_000
	dayLayout       = "2006-01-02"
	photoKeyPrefix  = "visits/"
	purposeCheckIn  = "CHECK_IN"
	purposeAudit    = "AUDIT"
	salesmanRoleSQL = `%"SALESMAN"%`
)

// Service runs visits.
type Service struct {
	db    *database.DB
	media media.Store
	zone  *time.Location
	Now   func() time.Time
}

// NewService returns a visit Service; zone is the business time zone of route days.
func NewService(db *database.DB, store media.Store, zone *time.Location) *Service {
	if zone == nil {
		zone = time.UTC
	}
	return &Service{db: db, media: store, zone: zone, Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Flag marks what a check-in looked like; check-ins are never refused for them.
type Flag string

const (
	FlagOutOfFence     Flag = "OUT_OF_FENCE"
	FlagLowAccuracy    Flag = "LOW_ACCURACY"
	FlagStalePhoto     Flag = "STALE_PHOTO"
	FlagDuplicatePhoto Flag = "DUPLICATE_PHOTO"
	FlagUnplannedStore Flag = "UNPLANNED_STORE"
	FlagNoStorePos     Flag = "NO_STORE_POSITION"
)

// AllFlags lists the flags in the schema's order.
var AllFlags = []Flag{FlagOutOfFence, FlagLowAccuracy, FlagStalePhoto, FlagDuplicatePhoto, FlagUnplannedStore, FlagNoStorePos}

// Visit is one check-in at a store, open until checked out.
type Visit struct {
	bun.BaseModel `bun:"table:visits,alias:v"`

	ID             uuid.UUID  `bun:"id,pk"`
	SalesmanID     uuid.UUID  `bun:"salesman_id"`
	StoreID        uuid.UUID  `bun:"store_id"`
	Day            string     `bun:"day"`
	Planned        bool       `bun:"planned"`
	OpenSalesmanID *uuid.UUID `bun:"open_salesman_id"` // set while open: a unique index keeps one open visit per salesman
	CheckedInAt    time.Time  `bun:"checked_in_at"`
	CheckedOutAt   *time.Time `bun:"checked_out_at"`
	DurationS      *int64     `bun:"duration_s"`
	Latitude       float64    `bun:"latitude"`
	Longitude      float64    `bun:"longitude"`
	AccuracyM      float64    `bun:"accuracy_m"`
	DistanceM      *float64   `bun:"distance_m"`
	RadiusM        int        `bun:"radius_m"`
	Flags          []Flag     `bun:"flags"`
	PhotoKey       string     `bun:"photo_key"`
	PhotoETag      string     `bun:"photo_etag"`
	CapturedAt     time.Time  `bun:"captured_at"`
	Note           string     `bun:"note"`
}

// Open reports whether the visit is not checked out yet.
func (v *Visit) Open() bool { return v.CheckedOutAt == nil }

// upload is a presigned upload handed to a salesman, verified and marked
// used by the check-in or audit that uses it; one never used is swept.
type upload struct {
	bun.BaseModel `bun:"table:media_uploads,alias:mu"`

	Key         string     `bun:"key,pk"`
	UserID      uuid.UUID  `bun:"user_id"`
	Purpose     string     `bun:"purpose"`
	MaxBytes    int64      `bun:"max_bytes"`
	CreatedAt   time.Time  `bun:"created_at"`
	ExpiresAt   time.Time  `bun:"expires_at"`
	Size        *int64     `bun:"size"`
	ETag        *string    `bun:"etag"`
	ContentType *string    `bun:"content_type"`
	VerifiedAt  *time.Time `bun:"verified_at"`
	UsedAt      *time.Time `bun:"used_at"`
}

// requireSalesman refuses anyone but a salesman.
func requireSalesman(p auth.Principal) error { return p.Require(auth.RoleSalesman) }

// day is the business day of t.
func (s *Service) day(t time.Time) string { return t.In(s.zone).Format(dayLayout) }

// parseDay checks a "YYYY-MM-DD" day.
func parseDay(d string) (time.Time, error) {
	t, err := time.Parse(dayLayout, d)
	if err != nil {
		return time.Time{}, ErrInvalidInput
	}
	return t, nil
}

// PhotoURL signs a short-lived URL for key; callers have checked the scope.
func (s *Service) PhotoURL(ctx context.Context, key string) (string, error) {
	return s.media.DownloadURL(ctx, key, s.Now().Add(PhotoURLTTL))
}

// Zone is the business time zone of route days.
func (s *Service) Zone() *time.Location { return s.zone }
