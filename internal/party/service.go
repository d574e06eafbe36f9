package party

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/epoch"
	"channelhub/internal/page"
)

// Service answers questions about parties and users, and changes them.
type Service struct {
	db     *database.DB
	hasher *auth.PasswordHasher
	now    func() time.Time
	// SessionsChanged, when set, is called after a commit that may have
	// ended sessions (a user's status or roles, a party's status), so cached
	// session checks are dropped.
	SessionsChanged func()
}

// NewService returns a Service on db; hasher hashes new passwords.
func NewService(db *database.DB, hasher *auth.PasswordHasher) *Service {
	return &Service{db: db, hasher: hasher, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Filter narrows a party list.
type Filter struct {
	Kind     *Kind
	Status   *Status
	Region   *string
	ParentID *uuid.UUID
	Search   string
}

// Page is one page of parties in name order.
type Page struct {
	Parties []*Party
	HasNext bool
}

// Cursor is the opaque position of p in a name-ordered list.
func (p *Party) Cursor() string { return page.Cursor(p.Name, p.ID.String()) }

// Get returns one party in the principal's scope, or ErrNotFound.
func (s *Service) Get(ctx context.Context, p auth.Principal, id uuid.UUID) (*Party, error) {
	pt := new(Party)
	err := Scope(s.db.NewSelect().Model(pt).Where("p.id = ?", id), p, "p.id").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("party: get: %w", err)
	}
	return pt, nil
}

// GetMany returns the parties for ids in order, nil where absent or out of scope.
// It backs the per-request dataloader: one query per batch.
func (s *Service) GetMany(ctx context.Context, p auth.Principal, ids []uuid.UUID) ([]*Party, error) {
	return s.getMany(ctx, &p, ids)
}

// Counterparties returns parties for ids in order, nil where absent, whatever
// the caller's scope: the other side of a document the caller may see (an
// order's seller is shown to its buyer).
func (s *Service) Counterparties(ctx context.Context, ids []uuid.UUID) ([]*Party, error) {
	return s.getMany(ctx, nil, ids)
}

func (s *Service) getMany(ctx context.Context, p *auth.Principal, ids []uuid.UUID) ([]*Party, error) {
	var rows []*Party
	q := s.db.NewSelect().Model(&rows).Where("p.id IN (?)", bun.List(ids))
	if p != nil {
		q = Scope(q, *p, "p.id")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("party: get many: %w", err)
	}
	byID := make(map[uuid.UUID]*Party, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	out := make([]*Party, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out, nil
}

func (s *Service) filtered(p auth.Principal, f Filter) (*bun.SelectQuery, error) {
	q := Scope(s.db.NewSelect().Model((*Party)(nil)), p, "p.id")
	if f.Kind != nil {
		q = q.Where("p.kind = ?", *f.Kind)
	}
	if f.Status != nil {
		q = q.Where("p.status = ?", *f.Status)
	}
	if f.Region != nil {
		q = q.Where("p.region = ?", *f.Region)
	}
	if f.ParentID != nil {
		q = q.Where("p.parent_id = ?", *f.ParentID)
	}
	return page.Search(q, f.Search, "p.name", "p.code")
}

// List returns a page of parties in the principal's scope, ordered by name.
func (s *Service) List(ctx context.Context, p auth.Principal, f Filter, pr page.Request) (*Page, error) {
	q, err := s.filtered(p, f)
	if err != nil {
		return nil, err
	}
	rows, more, err := page.ByName[*Party](ctx, q, "p", pr)
	if err != nil {
		return nil, fmt.Errorf("party: list: %w", err)
	}
	return &Page{Parties: rows, HasNext: more}, nil
}

// Count returns how many parties match f in the principal's scope.
func (s *Service) Count(ctx context.Context, p auth.Principal, f Filter) (int, error) {
	q, err := s.filtered(p, f)
	if err != nil {
		return 0, err
	}
	n, err := q.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("party: count: %w", err)
	}
	return int(n), nil
}

// CreateInput describes a new party.
type CreateInput struct {
	Code         string
	Name         string
	Kind         Kind
	ParentID     *uuid.UUID
	ChannelType  ChannelType
	Grade        string
	Region       string
	Address      Address
	Geo          *GeoPoint
	ContactPhone string
}

// UpdateInput changes a party's profile; nil fields stay as they are.
type UpdateInput struct {
	Name         *string
	ChannelType  *ChannelType
	Grade        *string
	Region       *string
	Address      *Address
	Geo          *GeoPoint
	ContactPhone *string
}

var codeRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{0,31}$`)

func checkLen(s string, min, max int, field ...string) error {
	if n := utf8.RuneCountInString(strings.TrimSpace(s)); n < min || n > max {
		return fieldErr(ErrInvalidInput, field...)
	}
	return nil
}

func checkProfile(name string, grade, region string, a Address, g *GeoPoint, phone string) error {
	errs := []error{
		checkLen(name, 1, 100, "name"), checkLen(grade, 0, 16, "grade"), checkLen(region, 0, 64, "region"),
		checkLen(a.Province, 0, 32, "address", "province"), checkLen(a.City, 0, 32, "address", "city"),
		checkLen(a.District, 0, 32, "address", "district"), checkLen(a.Street, 0, 128, "address", "street"),
	}
	if g != nil && (g.Latitude < -90 || g.Latitude > 90 || g.Longitude < -180 || g.Longitude > 180) {
		errs = append(errs, fieldErr(ErrInvalidInput, "geo"))
	}
	if phone != "" && !ValidPhone(phone) {
		errs = append(errs, fieldErr(ErrPhoneInvalid, "contactPhone"))
	}
	return errors.Join(errs...)
}

// Create adds a party under its parent. New parties start PENDING.
func (s *Service) Create(ctx context.Context, p auth.Principal, in CreateInput) (*Party, error) {
	if err := p.Require(auth.RoleHQAdmin); err != nil {
		return nil, err
	}
	in.Code = strings.TrimSpace(in.Code)
	in.Name = strings.TrimSpace(in.Name)
	var errs []error
	if !codeRE.MatchString(in.Code) {
		errs = append(errs, fieldErr(ErrInvalidInput, "code"))
	}
	if err := checkProfile(in.Name, in.Grade, in.Region, in.Address, in.Geo, in.ContactPhone); err != nil {
		errs = append(errs, err)
	}
	if in.Geo != nil && in.Kind != KindStore {
		errs = append(errs, fieldErr(ErrInvalidInput, "geo"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	now := s.now()
	pt := &Party{
		ID: uuid.Must(uuid.NewV7()), Kind: in.Kind, Code: in.Code, Name: in.Name, ParentID: in.ParentID,
		ChannelType: in.ChannelType, Grade: in.Grade, Region: in.Region, ContactPhone: in.ContactPhone,
		Province: in.Address.Province, City: in.Address.City, District: in.Address.District, Street: in.Address.Street,
		Status: StatusPending, CreatedAt: now, UpdatedAt: now,
	}
	if in.Geo != nil {
		pt.Latitude, pt.Longitude = &in.Geo.Latitude, &in.Geo.Longitude
	}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := placeUnder(ctx, tx, pt); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(pt).Exec(ctx); err != nil {
			if database.IsUniqueViolation(err) {
				return fieldErr(ErrCodeTaken, "code")
			}
			return fmt.Errorf("party: insert: %w", err)
		}
		return audit.Record(ctx, tx, p, "party.create", "Party", pt.ID.String(), nil, pt, "")
	})
	if err != nil {
		return nil, err
	}
	return pt, nil
}

// placeUnder checks the parent's kind and sets the level and path of pt.
func placeUnder(ctx context.Context, tx bun.IDB, pt *Party) error {
	if pt.Kind == KindHQ {
		if pt.ParentID != nil {
			return fieldErr(ErrParentKindInvalid, "parentId")
		}
		n, err := tx.NewSelect().Model((*Party)(nil)).Where("kind = ?", KindHQ).Count(ctx)
		if err != nil {
			return fmt.Errorf("party: count HQ: %w", err)
		}
		if n > 0 {
			return fieldErr(ErrParentKindInvalid, "kind")
		}
		pt.Path = "/" + pt.ID.String() + "/"
		return nil
	}
	if pt.ParentID == nil {
		return fieldErr(ErrParentNotFound, "parentId")
	}
	parent := new(Party)
	if err := tx.NewSelect().Model(parent).Where("id = ?", *pt.ParentID).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fieldErr(ErrParentNotFound, "parentId")
		}
		return fmt.Errorf("party: load parent: %w", err)
	}
	if parent.Status == StatusExited {
		return fieldErr(ErrParentNotFound, "parentId")
	}
	ok := false
	switch pt.Kind {
	case KindBranch:
		ok = parent.Kind == KindHQ
	case KindDistributor:
		ok = parent.Kind == KindHQ || parent.Kind == KindBranch || (parent.Kind == KindDistributor && parent.Level == 1)
		pt.Level = 1
		if parent.Kind == KindDistributor {
			pt.Level = 2
		}
	case KindStore:
		ok = parent.Kind != KindStore
	}
	if !ok {
		return fieldErr(ErrParentKindInvalid, "parentId")
	}
	pt.Path = parent.Path + pt.ID.String() + "/"
	return nil
}

// Update changes a party's profile.
func (s *Service) Update(ctx context.Context, p auth.Principal, id uuid.UUID, in UpdateInput) (*Party, error) {
	if err := p.Require(auth.RoleHQAdmin); err != nil {
		return nil, err
	}
	var out *Party
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		pt := new(Party)
		if err := tx.NewSelect().Model(pt).Where("id = ?", id).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("party: load: %w", err)
		}
		before := *pt
		if in.Name != nil {
			pt.Name = strings.TrimSpace(*in.Name)
		}
		if in.ChannelType != nil {
			pt.ChannelType = *in.ChannelType
		}
		if in.Grade != nil {
			pt.Grade = *in.Grade
		}
		if in.Region != nil {
			pt.Region = *in.Region
		}
		if in.Address != nil {
			pt.Province, pt.City, pt.District, pt.Street = in.Address.Province, in.Address.City, in.Address.District, in.Address.Street
		}
		if in.Geo != nil {
			if pt.Kind != KindStore {
				return fieldErr(ErrInvalidInput, "geo")
			}
			pt.Latitude, pt.Longitude = &in.Geo.Latitude, &in.Geo.Longitude
		}
		if in.ContactPhone != nil {
			pt.ContactPhone = *in.ContactPhone
		}
		if err := checkProfile(pt.Name, pt.Grade, pt.Region, pt.Address(), pt.Geo(), pt.ContactPhone); err != nil {
			return err
		}
		pt.UpdatedAt = s.now()
		// Only the profile: status, place in the tree and kind change elsewhere,
		// and a racing status change must not be written back.
		if _, err := tx.NewUpdate().Model(pt).WherePK().Column("name", "channel_type", "grade", "region",
			"province", "city", "district", "street", "latitude", "longitude", "contact_phone", "updated_at").Exec(ctx); err != nil {
			return fmt.Errorf("party: update: %w", err)
		}
		out = pt
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "party.update", "Party", pt.ID.String(), before, pt, "")
	})
	return out, err
}

// ChangeStatus moves a party through its lifecycle. The move is a conditional
// update on the old status, so two racing changes cannot both apply.
func (s *Service) ChangeStatus(ctx context.Context, p auth.Principal, id uuid.UUID, to Status, reason string) (*Party, error) {
	if err := p.Require(auth.RoleHQAdmin); err != nil {
		return nil, err
	}
	if reason = strings.TrimSpace(reason); !validReason(reason) {
		return nil, fieldErr(ErrReasonRequired, "reason")
	}
	var out *Party
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		pt := new(Party)
		if err := tx.NewSelect().Model(pt).Where("id = ?", id).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return fmt.Errorf("party: load: %w", err)
		}
		from := pt.Status
		if pt.Kind == KindHQ || !slices.Contains(transitions[from], to) { // suspending HQ would lock everyone out
			return fieldErr(ErrStatusTransition, "status")
		}
		pt.Status, pt.UpdatedAt = to, s.now()
		res, err := tx.NewUpdate().Model(pt).Column("status", "updated_at").WherePK().Where("status = ?", from).Exec(ctx)
		if err != nil {
			return fmt.Errorf("party: change status: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fieldErr(ErrStatusTransition, "status")
		}
		if to == StatusSuspended || to == StatusExited {
			// Requests are refused at once by the per-request check; ending the
			// sessions too keeps them from coming back on reactivation.
			if _, err := tx.NewUpdate().Table("sessions").Set("revoked_at = ?", pt.UpdatedAt).Set("revoke_reason = ?", "party "+string(to)).
				Where("revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE party_id = ?)", pt.ID).Exec(ctx); err != nil {
				return fmt.Errorf("party: end sessions: %w", err)
			}
		}
		out = pt
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "party.status", "Party", pt.ID.String(),
			map[string]Status{"status": from}, map[string]Status{"status": to}, reason)
	})
	if err != nil {
		return nil, err
	}
	s.sessionsChanged()
	return out, nil
}

func (s *Service) sessionsChanged() {
	if s.SessionsChanged != nil {
		s.SessionsChanged()
	}
}

// ErrNoSupplier is a party with no distributor or HQ above it.
var ErrNoSupplier = errors.New("party: no supplier")

// Supplier is who sells to buyer: the nearest distributor or HQ above it.
// Branches are HQ's own offices and sell nothing themselves.
func (s *Service) Supplier(ctx context.Context, buyer *Party) (*Party, error) {
	ids := ancestors(buyer.Path, buyer.ID)
	if len(ids) == 0 {
		return nil, ErrNoSupplier
	}
	var up []*Party
	if err := s.db.NewSelect().Model(&up).Where("p.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("party: load suppliers: %w", err)
	}
	return pickSupplier(ids, up)
}

// ancestors are the ids on path above id, root first.
func ancestors(path string, id uuid.UUID) []uuid.UUID {
	var ids []uuid.UUID
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if a, err := uuid.Parse(part); err == nil && a != id {
			ids = append(ids, a)
		}
	}
	return ids
}

// pickSupplier is the nearest distributor or HQ among ids (root first) in rows.
func pickSupplier(ids []uuid.UUID, rows []*Party) (*Party, error) {
	byID := map[uuid.UUID]*Party{}
	for _, p := range rows {
		byID[p.ID] = p
	}
	for i := len(ids) - 1; i >= 0; i-- {
		if p := byID[ids[i]]; p != nil && (p.Kind == KindDistributor || p.Kind == KindHQ) {
			return p, nil
		}
	}
	return nil, ErrNoSupplier
}

// SelfAndSupplier reads the principal's own party and its supplier (as
// Supplier finds it) in one query, using the party path the session check
// read. The own party is always in the scope of a party user. ok is false
// when it cannot tell (no path in the principal, or the party moved since):
// then the caller reads them one by one. supErr is ErrNoSupplier when the
// party has none.
func (s *Service) SelfAndSupplier(ctx context.Context, p auth.Principal) (self, sup *Party, supErr error, ok bool, err error) {
	if p.PartyPath == "" {
		return nil, nil, nil, false, nil
	}
	ids := ancestors(p.PartyPath, p.PartyID)
	var rows []*Party
	b := s.db.Binds() // every order reads it: planned once per connection
	q := s.db.NewSelect().Model(&rows).Where("p.id IN (?)", b.UUIDs(append(slices.Clone(ids), p.PartyID)))
	if err := s.db.ScanBound(ctx, q, b); err != nil {
		return nil, nil, nil, false, fmt.Errorf("party: get with supplier: %w", err)
	}
	for _, r := range rows {
		if r.ID == p.PartyID {
			self = r
		}
	}
	if self == nil || self.Path != p.PartyPath {
		return nil, nil, nil, false, nil
	}
	sup, supErr = pickSupplier(ids, rows)
	return self, sup, supErr, true, nil
}
