package party

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/epoch"
	"channelhub/internal/page"
)

// Roles that may list and read users (of parties in their scope).
var userReaders = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager, auth.RoleDistributorAdmin, auth.RoleStoreManager}

// MaxAssignedStores caps one salesman's assignment list.
const MaxAssignedStores = 500

// UserFilter narrows a user list.
type UserFilter struct {
	PartyID *uuid.UUID
	Role    *auth.Role
	Status  *UserStatus
	Search  string
}

// UserPage is one page of users in name order.
type UserPage struct {
	Users   []*User
	HasNext bool
}

// Cursor is the opaque position of u in a name-ordered list.
func (u *User) Cursor() string { return page.Cursor(u.Name, u.ID.String()) }

// Self returns the principal's own user.
func (s *Service) Self(ctx context.Context, p auth.Principal) (*User, error) {
	u := new(User)
	if err := s.db.NewSelect().Model(u).Where("u.id = ?", p.UserID).Scan(ctx); err != nil {
		return nil, fmt.Errorf("party: load self: %w", err)
	}
	return u, nil
}

// User returns one user of a party in the principal's scope, or ErrUserNotFound.
func (s *Service) User(ctx context.Context, p auth.Principal, id uuid.UUID) (*User, error) {
	if err := p.Require(userReaders...); err != nil {
		return nil, err
	}
	u := new(User)
	err := Scope(s.db.NewSelect().Model(u).Where("u.id = ?", id), p, "u.party_id").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrUserNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("party: get user: %w", err)
	}
	return u, nil
}

func (s *Service) usersFiltered(p auth.Principal, f UserFilter) (*bun.SelectQuery, error) {
	q := Scope(s.db.NewSelect().Model((*User)(nil)), p, "u.party_id")
	if f.PartyID != nil {
		q = q.Where("u.party_id = ?", *f.PartyID)
	}
	if f.Role != nil {
		q = q.Where("u.roles LIKE ?", `%"`+string(*f.Role)+`"%`)
	}
	if f.Status != nil {
		q = q.Where("u.status = ?", *f.Status)
	}
	return page.Search(q, f.Search, "u.name", "u.phone")
}

// Users returns a page of users of parties in the principal's scope.
func (s *Service) Users(ctx context.Context, p auth.Principal, f UserFilter, pr page.Request) (*UserPage, error) {
	if err := p.Require(userReaders...); err != nil {
		return nil, err
	}
	q, err := s.usersFiltered(p, f)
	if err != nil {
		return nil, err
	}
	rows, more, err := page.ByName[*User](ctx, q, "u", pr)
	if err != nil {
		return nil, fmt.Errorf("party: list users: %w", err)
	}
	return &UserPage{Users: rows, HasNext: more}, nil
}

// CountUsers returns how many users match f in the principal's scope.
func (s *Service) CountUsers(ctx context.Context, p auth.Principal, f UserFilter) (int, error) {
	if err := p.Require(userReaders...); err != nil {
		return 0, err
	}
	q, err := s.usersFiltered(p, f)
	if err != nil {
		return 0, err
	}
	n, err := q.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("party: count users: %w", err)
	}
	return int(n), nil
}

// UserCreateInput describes a new user.
type UserCreateInput struct {
	PartyID  uuid.UUID
	Phone    string
	Name     string
	Roles    []auth.Role
	Password string
}

// UserUpdateInput changes a user; nil fields stay as they are.
type UserUpdateInput struct {
	Name     *string
	Roles    []auth.Role // nil: unchanged
	Status   *UserStatus
	Password *string
	Reason   string
}

func checkRoles(kind Kind, roles []auth.Role) error {
	if len(roles) == 0 || len(roles) > 4 {
		return fieldErr(ErrInvalidInput, "roles")
	}
	for _, r := range roles {
		if !slices.Contains(kindRoles[kind], r) {
			return fieldErr(ErrRoleNotAllowed, "roles")
		}
	}
	return nil
}

func normRoles(roles []auth.Role) []auth.Role {
	out := slices.Clone(roles)
	slices.Sort(out)
	return slices.Compact(out)
}

// CreateUser adds a user to a party.
func (s *Service) CreateUser(ctx context.Context, p auth.Principal, in UserCreateInput) (*User, error) {
	if err := p.Require(auth.RoleHQAdmin); err != nil {
		return nil, err
	}
	in.Phone, in.Name = strings.TrimSpace(in.Phone), strings.TrimSpace(in.Name)
	var errs []error
	if !ValidPhone(in.Phone) {
		errs = append(errs, fieldErr(ErrPhoneInvalid, "phone"))
	}
	if err := checkLen(in.Name, 1, 50, "name"); err != nil {
		errs = append(errs, err)
	}
	if err := auth.CheckPasswordPolicy(in.Password); err != nil {
		errs = append(errs, fieldErr(err, "password"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return nil, fmt.Errorf("party: hash password: %w", err)
	}
	now := s.now()
	u := &User{
		ID: uuid.Must(uuid.NewV7()), PartyID: in.PartyID, Phone: in.Phone, Name: in.Name, Roles: normRoles(in.Roles),
		PasswordHash: hash, Status: UserActive, SessionVersion: 1, PasswordChangedAt: now, CreatedAt: now, UpdatedAt: now,
	}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		pt := new(Party)
		if err := tx.NewSelect().Model(pt).Where("id = ?", in.PartyID).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fieldErr(ErrPartyNotFound, "partyId")
			}
			return fmt.Errorf("party: load user's party: %w", err)
		}
		if err := checkRoles(pt.Kind, u.Roles); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(u).Exec(ctx); err != nil {
			if database.IsUniqueViolation(err) {
				return fieldErr(ErrPhoneTaken, "phone")
			}
			return fmt.Errorf("party: insert user: %w", err)
		}
		return audit.Record(ctx, tx, p, "user.create", "User", u.ID.String(), nil,
			map[string]any{"partyId": u.PartyID, "phone": u.Phone, "name": u.Name, "roles": u.Roles}, "")
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// UpdateUser changes a user. A change of roles, status or password bumps the
// session version, so the user's access tokens stop working at once, and ends
// the user's sessions.
func (s *Service) UpdateUser(ctx context.Context, p auth.Principal, id uuid.UUID, in UserUpdateInput) (*User, error) {
	if err := p.Require(auth.RoleHQAdmin); err != nil {
		return nil, err
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if (in.Roles != nil || in.Status != nil || in.Password != nil) && !validReason(in.Reason) {
		return nil, fieldErr(ErrReasonRequired, "reason")
	}
	var hash string
	if in.Password != nil {
		if err := auth.CheckPasswordPolicy(*in.Password); err != nil {
			return nil, fieldErr(err, "password")
		}
		var err error
		if hash, err = s.hasher.Hash(*in.Password); err != nil {
			return nil, fmt.Errorf("party: hash password: %w", err)
		}
	}
	var out *User
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// On PostgreSQL the changes of users take turns: the active HQ admins
		// first (in id order, so that two admins disabling each other cannot
		// both pass keepAnAdmin), then the user, so every change starts from
		// the one before it. SQLite's writer lock does the same.
		pg := tx.Dialect().Name() == dialect.PG
		if pg && (in.Roles != nil || in.Status != nil) {
			if _, err := tx.NewRaw(`SELECT id FROM users WHERE status = ? AND roles LIKE ? ORDER BY id FOR NO KEY UPDATE`,
				UserActive, `%"`+string(auth.RoleHQAdmin)+`"%`).Exec(ctx); err != nil {
				return fmt.Errorf("party: lock admins: %w", err)
			}
		}
		u := new(User)
		load := tx.NewSelect().Model(u).Where("id = ?", id)
		if pg {
			load = load.For("NO KEY UPDATE")
		}
		if err := load.Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrUserNotFound
			}
			return fmt.Errorf("party: load user: %w", err)
		}
		before := map[string]any{"name": u.Name, "roles": u.Roles, "status": u.Status}
		revoke := false
		if in.Name != nil {
			u.Name = strings.TrimSpace(*in.Name)
			if err := checkLen(u.Name, 1, 50, "name"); err != nil {
				return err
			}
		}
		if in.Roles != nil {
			pt := new(Party)
			if err := tx.NewSelect().Model(pt).Where("id = ?", u.PartyID).Scan(ctx); err != nil {
				return fmt.Errorf("party: load user's party: %w", err)
			}
			roles := normRoles(in.Roles)
			if err := checkRoles(pt.Kind, roles); err != nil {
				return err
			}
			revoke = revoke || !slices.Equal(roles, u.Roles)
			u.Roles = roles
		}
		if in.Status != nil {
			if *in.Status != UserActive && *in.Status != UserDisabled {
				return fieldErr(ErrInvalidInput, "status")
			}
			revoke = revoke || *in.Status != u.Status
			u.Status = *in.Status
		}
		now := s.now()
		if in.Password != nil {
			u.PasswordHash, u.PasswordChangedAt, revoke = hash, now, true
		}
		if err := keepAnAdmin(ctx, tx, before["roles"].([]auth.Role), before["status"].(UserStatus), u); err != nil {
			return err
		}
		u.UpdatedAt = now
		cols := []string{"name", "roles", "status", "updated_at"}
		if in.Password != nil {
			cols = append(cols, "password_hash", "password_changed_at")
		}
		q := tx.NewUpdate().Model(u).WherePK().Column(cols...)
		if revoke {
			// An expression, not the value read above: a racing password change bumps it too.
			q = q.Set("session_version = session_version + 1")
			if _, err := tx.NewUpdate().Table("sessions").Set("revoked_at = ?", now).Set("revoke_reason = ?", "user.update").
				Where("user_id = ? AND revoked_at IS NULL", u.ID).Exec(ctx); err != nil {
				return fmt.Errorf("party: end sessions: %w", err)
			}
		}
		if _, err := q.Returning("session_version").Exec(ctx); err != nil {
			return fmt.Errorf("party: update user: %w", err)
		}
		out = u
		after := map[string]any{"name": u.Name, "roles": u.Roles, "status": u.Status, "passwordReset": in.Password != nil}
		return audit.Record(ctx, tx, p, "user.update", "User", u.ID.String(), before, after, in.Reason)
	})
	if err != nil {
		return nil, err
	}
	s.sessionsChanged()
	return out, nil
}

// validReason checks the reason an access change must carry into the audit log.
func validReason(r string) bool { return r != "" && utf8.RuneCountInString(r) <= 500 }

// keepAnAdmin refuses a change that would leave the channel without an active HQ admin.
func keepAnAdmin(ctx context.Context, tx bun.IDB, rolesBefore []auth.Role, statusBefore UserStatus, u *User) error {
	wasAdmin := slices.Contains(rolesBefore, auth.RoleHQAdmin) && statusBefore == UserActive
	isAdmin := slices.Contains(u.Roles, auth.RoleHQAdmin) && u.Status == UserActive
	if !wasAdmin || isAdmin {
		return nil
	}
	n, err := tx.NewSelect().Model((*User)(nil)).
		Where("u.id <> ? AND u.status = ? AND u.roles LIKE ?", u.ID, UserActive, `%"`+string(auth.RoleHQAdmin)+`"%`).Count(ctx)
	if err != nil {
		return fmt.Errorf("party: count admins: %w", err)
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

// AssignStores replaces the set of stores a salesman visits.
func (s *Service) AssignStores(ctx context.Context, p auth.Principal, userID uuid.UUID, storeIDs []uuid.UUID, reason string) (*User, error) {
	if err := p.Require(auth.RoleHQAdmin); err != nil {
		return nil, err
	}
	if len(storeIDs) > MaxAssignedStores {
		return nil, fieldErr(ErrInvalidInput, "storeIds")
	}
	if reason = strings.TrimSpace(reason); !validReason(reason) {
		return nil, fieldErr(ErrReasonRequired, "reason")
	}
	storeIDs = slices.Clone(storeIDs)
	slices.SortFunc(storeIDs, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	storeIDs = slices.Compact(storeIDs)
	var out *User
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		u := new(User)
		load := tx.NewSelect().Model(u).Where("id = ?", userID)
		if tx.Dialect().Name() == dialect.PG {
			load = load.For("NO KEY UPDATE") // two replacements of the set take turns
		}
		if err := load.Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrUserNotFound
			}
			return fmt.Errorf("party: load user: %w", err)
		}
		if !slices.Contains(u.Roles, auth.RoleSalesman) {
			return ErrNotSalesman
		}
		if len(storeIDs) > 0 {
			n, err := tx.NewSelect().Model((*Party)(nil)).Where("id IN (?) AND kind = ?", bun.List(storeIDs), KindStore).Count(ctx)
			if err != nil {
				return fmt.Errorf("party: check stores: %w", err)
			}
			if int(n) != len(storeIDs) {
				return fieldErr(ErrStoreNotFound, "storeIds")
			}
		}
		var before []uuid.UUID
		if err := tx.NewSelect().Table("salesman_stores").Column("store_id").Where("user_id = ?", u.ID).Scan(ctx, &before); err != nil {
			return fmt.Errorf("party: load assignments: %w", err)
		}
		if _, err := tx.NewDelete().Table("salesman_stores").Where("user_id = ?", u.ID).Exec(ctx); err != nil {
			return fmt.Errorf("party: clear assignments: %w", err)
		}
		if len(storeIDs) > 0 {
			now := s.now()
			rows := make([]assignment, len(storeIDs))
			for i, id := range storeIDs {
				rows[i] = assignment{UserID: u.ID, StoreID: id, CreatedAt: now}
			}
			if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
				return fmt.Errorf("party: insert assignments: %w", err)
			}
		}
		out = u
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "user.assignStores", "User", u.ID.String(), before, storeIDs, reason)
	})
	return out, err
}

// AssignedStores returns a page of the stores assigned to a salesman, in the principal's scope.
func (s *Service) AssignedStores(ctx context.Context, p auth.Principal, userID uuid.UUID, pr page.Request) (*Page, error) {
	q := Scope(s.db.NewSelect().Model((*Party)(nil)), p, "p.id").
		Where("p.id IN (SELECT store_id FROM salesman_stores WHERE user_id = ?)", userID)
	rows, more, err := page.ByName[*Party](ctx, q, "p", pr)
	if err != nil {
		return nil, fmt.Errorf("party: assigned stores: %w", err)
	}
	return &Page{Parties: rows, HasNext: more}, nil
}

type assignment struct {
	bun.BaseModel `bun:"table:salesman_stores"`
	UserID        uuid.UUID `bun:"user_id,pk"`
	StoreID       uuid.UUID `bun:"store_id,pk"`
	CreatedAt     time.Time `bun:"created_at"`
}

type assignedRow struct {
	Party `bun:",extend"`
	Owner uuid.UUID `bun:"owner"`
	RN    int       `bun:"rn"`
}

// AssignedStoresFirstPages returns the first page of each user's assigned
// stores in the principal's scope, for many users in one query (a window per
// user), so a page of salesmen with their stores costs a constant number of queries.
func (s *Service) AssignedStoresFirstPages(ctx context.Context, p auth.Principal, userIDs []uuid.UUID, size int) ([]*Page, error) {
	inner := Scope(s.db.NewSelect().Model((*Party)(nil)).
		ColumnExpr("p.*, ss.user_id AS owner, ROW_NUMBER() OVER (PARTITION BY ss.user_id ORDER BY p.name, p.id) AS rn").
		Join("JOIN salesman_stores AS ss ON ss.store_id = p.id").
		Where("ss.user_id IN (?)", bun.List(userIDs)), p, "p.id")
	var rows []assignedRow
	if err := s.db.NewSelect().TableExpr("(?) AS t", inner).ColumnExpr("t.*").
		Where("t.rn <= ?", size+1).OrderExpr("t.owner, t.rn").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("party: assigned stores: %w", err)
	}
	by := make(map[uuid.UUID]*Page, len(userIDs))
	for i := range rows {
		pg := by[rows[i].Owner]
		if pg == nil {
			pg = &Page{}
			by[rows[i].Owner] = pg
		}
		if rows[i].RN > size {
			pg.HasNext = true
			continue
		}
		pg.Parties = append(pg.Parties, &rows[i].Party)
	}
	out := make([]*Page, len(userIDs))
	for i, id := range userIDs {
		if out[i] = by[id]; out[i] == nil {
			out[i] = &Page{}
		}
	}
	return out, nil
}

// CountAssignedStoresMany counts each user's assigned stores in the principal's scope, in one query.
func (s *Service) CountAssignedStoresMany(ctx context.Context, p auth.Principal, userIDs []uuid.UUID) ([]int, error) {
	var rows []struct {
		Owner uuid.UUID `bun:"owner"`
		N     int       `bun:"n"`
	}
	if err := Scope(s.db.NewSelect().Model((*Party)(nil)).ColumnExpr("ss.user_id AS owner, COUNT(*) AS n").
		Join("JOIN salesman_stores AS ss ON ss.store_id = p.id").
		Where("ss.user_id IN (?)", bun.List(userIDs)), p, "p.id").GroupExpr("ss.user_id").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("party: count assigned stores: %w", err)
	}
	by := make(map[uuid.UUID]int, len(rows))
	for _, r := range rows {
		by[r.Owner] = r.N
	}
	out := make([]int, len(userIDs))
	for i, id := range userIDs {
		out[i] = by[id]
	}
	return out, nil
}

// StoresOf lists the ids of the stores assigned to a salesman (at most 1,000).
func (s *Service) StoresOf(ctx context.Context, salesman uuid.UUID) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	if err := s.db.NewSelect().Table("salesman_stores").Column("store_id").Where("user_id = ?", salesman).
		OrderExpr("store_id").Limit(1000).Scan(ctx, &ids); err != nil {
		return nil, fmt.Errorf("party: stores of: %w", err)
	}
	return ids, nil
}

// Path returns a party's place in the tree, "/<hq>/.../<party>/", for any party.
func (s *Service) Path(ctx context.Context, id uuid.UUID) (string, error) {
	var path string
	if err := s.db.NewSelect().Model((*Party)(nil)).Column("p.path").Where("p.id = ?", id).Scan(ctx, &path); err != nil {
		return "", fmt.Errorf("party: path: %w", err)
	}
	return path, nil
}

// Recipients lists the active users of a party holding any of roles, for alerts.
func (s *Service) Recipients(ctx context.Context, partyID uuid.UUID, roles ...auth.Role) ([]uuid.UUID, error) {
	q := s.db.NewSelect().Table("users").Column("id").Where("party_id = ? AND status = 'ACTIVE'", partyID).OrderExpr("id")
	q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		for _, r := range roles {
			q = q.WhereOr("roles LIKE ?", `%"`+string(r)+`"%`)
		}
		return q
	})
	var ids []uuid.UUID
	if err := q.Scan(ctx, &ids); err != nil {
		return nil, fmt.Errorf("party: recipients: %w", err)
	}
	return ids, nil
}
