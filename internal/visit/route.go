package visit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/field"
)

// Planners may build routes: the salesman for themself, a branch manager for
// the salesmen of its branch, HQ's admin and sales ops for anyone.
var Planners = []auth.Role{auth.RoleSalesman, auth.RoleBranchManager, auth.RoleHQAdmin, auth.RoleSalesOps}

// Stop is one store of a route, in visiting order, with what the salesman
// needs before driving there.
type Stop struct {
	Seq            int        `bun:"seq"`
	StoreID        uuid.UUID  `bun:"store_id"`
	LastAuditScore *int       `bun:"last_score"`
	LastAuditAt    *time.Time `bun:"last_audited_at"`
	Visit          *Visit     `bun:"-"` // this salesman's latest visit there that day
}

// Route is a salesman's plan for one day.
type Route struct {
	SalesmanID  uuid.UUID
	Day         string // "" for a weekday pattern
	Weekday     int    // a weekday pattern's 1 (Monday) .. 7 (Sunday)
	FromPattern bool   // no route was set for the day: the weekday pattern applies
	Stops       []Stop
}

// salesman checks that p may plan for user id, a salesman in p's scope.
func (s *Service) salesman(ctx context.Context, p auth.Principal, id uuid.UUID) error {
	if err := p.Require(Planners...); err != nil {
		return err
	}
	if p.Has(auth.RoleSalesman) && id == p.UserID {
		return nil
	}
	if !p.Has(auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager) {
		return ErrNotFound
	}
	q := s.db.NewSelect().Table("users").ColumnExpr("1").Join("JOIN parties AS sp ON sp.id = users.party_id").
		Where("users.id = ? AND users.roles LIKE ?", id, salesmanRoleSQL)
	if !p.Has(auth.RoleHQAdmin, auth.RoleSalesOps) {
		q = q.Where("sp.path LIKE ?", p.PartyPath+"%")
	}
	ok, err := q.Exists(ctx)
	if err != nil {
		return fmt.Errorf("visit: salesman: %w", err)
	}
	if !ok {
		return ErrNotFound
	}
	return nil
}

// checkStores validates a route's stores: distinct, at most MaxStops, all
// assigned to the salesman.
func (s *Service) checkStores(ctx context.Context, db bun.IDB, salesman uuid.UUID, stores []uuid.UUID) error {
	if len(stores) > MaxStops {
		return field.Err(ErrTooManyStops, "storeIds")
	}
	seen := map[uuid.UUID]bool{}
	for _, id := range stores {
		if seen[id] {
			return field.Err(ErrInvalidInput, "storeIds")
		}
		seen[id] = true
	}
	if len(stores) == 0 {
		return nil
	}
	n, err := db.NewSelect().Table("salesman_stores").Where("user_id = ? AND store_id IN (?)", salesman, bun.In(stores)).Count(ctx)
	if err != nil {
		return fmt.Errorf("visit: stores: %w", err)
	}
	if int(n) != len(stores) {
		return field.Err(ErrStoreNotAssigned, "storeIds")
	}
	return nil
}

type routeStopRow struct {
	bun.BaseModel `bun:"table:visit_route_stops"`

	SalesmanID uuid.UUID `bun:"salesman_id"`
	Day        string    `bun:"day"`
	Seq        int       `bun:"seq"`
	StoreID    uuid.UUID `bun:"store_id"`
	CreatedBy  uuid.UUID `bun:"created_by"`
	CreatedAt  time.Time `bun:"created_at"`
}

type patternRow struct {
	bun.BaseModel `bun:"table:visit_patterns"`

	SalesmanID uuid.UUID `bun:"salesman_id"`
	Weekday    int       `bun:"weekday"`
	Seq        int       `bun:"seq"`
	StoreID    uuid.UUID `bun:"store_id"`
	CreatedBy  uuid.UUID `bun:"created_by"`
	CreatedAt  time.Time `bun:"created_at"`
}

// SetRoute replaces the salesman's route for day (an empty list plans no
// visits that day, overriding the weekday pattern).
func (s *Service) SetRoute(ctx context.Context, p auth.Principal, salesman uuid.UUID, day string, stores []uuid.UUID) (*Route, error) {
	if _, err := parseDay(day); err != nil {
		return nil, field.Err(err, "day")
	}
	if err := s.salesman(ctx, p, salesman); err != nil {
		return nil, err
	}
	now := s.Now()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.checkStores(ctx, tx, salesman, stores); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Table("visit_route_stops").Where("salesman_id = ? AND day = ?", salesman, day).Exec(ctx); err != nil {
			return fmt.Errorf("visit: route: %w", err)
		}
		if _, err := tx.NewRaw(`INSERT INTO visit_routes (salesman_id, day, created_by, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (salesman_id, day) DO UPDATE SET created_by = EXCLUDED.created_by, updated_at = EXCLUDED.updated_at`,
			salesman, day, p.UserID, now).Exec(ctx); err != nil {
			return fmt.Errorf("visit: route: %w", err)
		}
		if err := audit.Record(ctx, tx, p, "visit.route.set", "VisitRoute", RouteID(salesman, day), nil,
			map[string]any{"salesmanId": salesman, "date": day, "storeIds": stores}, ""); err != nil {
			return err
		}
		if len(stores) == 0 {
			return nil
		}
		rows := make([]routeStopRow, len(stores))
		for i, id := range stores {
			rows[i] = routeStopRow{SalesmanID: salesman, Day: day, Seq: i + 1, StoreID: id, CreatedBy: p.UserID, CreatedAt: now}
		}
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return fmt.Errorf("visit: route stops: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.route(ctx, salesman, day)
}

// SetPattern replaces the salesman's weekly pattern for weekday (1 Monday
// .. 7 Sunday) and returns it as a route without a date.
func (s *Service) SetPattern(ctx context.Context, p auth.Principal, salesman uuid.UUID, weekday int, stores []uuid.UUID) (*Route, error) {
	if weekday < 1 || weekday > 7 {
		return nil, field.Err(ErrInvalidInput, "weekday")
	}
	if err := s.salesman(ctx, p, salesman); err != nil {
		return nil, err
	}
	now := s.Now()
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := s.checkStores(ctx, tx, salesman, stores); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Table("visit_patterns").Where("salesman_id = ? AND weekday = ?", salesman, weekday).Exec(ctx); err != nil {
			return fmt.Errorf("visit: pattern: %w", err)
		}
		if err := audit.Record(ctx, tx, p, "visit.pattern.set", "VisitRoute", PatternID(salesman, weekday), nil,
			map[string]any{"salesmanId": salesman, "weekday": weekday, "storeIds": stores}, ""); err != nil {
			return err
		}
		if len(stores) == 0 {
			return nil
		}
		rows := make([]patternRow, len(stores))
		for i, id := range stores {
			rows[i] = patternRow{SalesmanID: salesman, Weekday: weekday, Seq: i + 1, StoreID: id, CreatedBy: p.UserID, CreatedAt: now}
		}
		if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
			return fmt.Errorf("visit: pattern: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.pattern(ctx, salesman, weekday)
}

// Pattern is the salesman's weekly pattern for weekday as p may see it.
func (s *Service) Pattern(ctx context.Context, p auth.Principal, salesman uuid.UUID, weekday int) (*Route, error) {
	if weekday < 1 || weekday > 7 {
		return nil, ErrNotFound
	}
	if err := s.salesman(ctx, p, salesman); err != nil {
		return nil, err
	}
	return s.pattern(ctx, salesman, weekday)
}

// pattern reads a weekday pattern as a route without a date, with the
// stores' last audit scores, in one statement.
func (s *Service) pattern(ctx context.Context, salesman uuid.UUID, weekday int) (*Route, error) {
	r := &Route{SalesmanID: salesman, Weekday: weekday, FromPattern: true, Stops: []Stop{}}
	err := s.db.NewRaw(`SELECT pt.seq, pt.store_id, l.score AS last_score, l.audited_at AS last_audited_at
		FROM visit_patterns pt LEFT JOIN store_audit_last l ON l.store_id = pt.store_id
		WHERE pt.salesman_id = ? AND pt.weekday = ? ORDER BY pt.seq`, salesman, weekday).Scan(ctx, &r.Stops)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("visit: pattern: %w", err)
	}
	return r, nil
}

// RouteID is a day's route's key: "<salesman>/<YYYY-MM-DD>".
func RouteID(salesman uuid.UUID, day string) string { return salesman.String() + "/" + day }

// PatternID is a weekday pattern's key: "<salesman>/W<1..7>".
func PatternID(salesman uuid.UUID, weekday int) string {
	return salesman.String() + "/W" + strconv.Itoa(weekday)
}

// ID is the route's key: RouteID, or PatternID for a weekday pattern.
func (r *Route) ID() string {
	if r.Day == "" {
		return PatternID(r.SalesmanID, r.Weekday)
	}
	return RouteID(r.SalesmanID, r.Day)
}

// ParseRouteID splits a RouteID or PatternID: day is "" for a pattern.
func ParseRouteID(id string) (salesman uuid.UUID, day string, weekday int, err error) {
	raw, rest, ok := strings.Cut(id, "/")
	if !ok {
		return uuid.Nil, "", 0, ErrInvalidInput
	}
	if salesman, err = uuid.Parse(raw); err != nil || len(raw) != 36 {
		return uuid.Nil, "", 0, ErrInvalidInput
	}
	if w, ok := strings.CutPrefix(rest, "W"); ok {
		if weekday, err = strconv.Atoi(w); err != nil || weekday < 1 || weekday > 7 || len(w) != 1 {
			return uuid.Nil, "", 0, ErrInvalidInput
		}
		return salesman, "", weekday, nil
	}
	if _, err := parseDay(rest); err != nil {
		return uuid.Nil, "", 0, ErrInvalidInput
	}
	return salesman, rest, 0, nil
}

// Route is the salesman's plan for day as p may see it.
func (s *Service) Route(ctx context.Context, p auth.Principal, salesman uuid.UUID, day string) (*Route, error) {
	if _, err := parseDay(day); err != nil {
		return nil, field.Err(err, "date")
	}
	if err := s.salesman(ctx, p, salesman); err != nil {
		return nil, err
	}
	return s.route(ctx, salesman, day)
}

// weekday is 1 (Monday) .. 7 (Sunday).
func weekday(t time.Time) int { return (int(t.Weekday())+6)%7 + 1 }

// plannedSQL selects the stores planned for (salesman, day): the day's route
// when one was set, the weekday pattern otherwise.
const plannedSQL = `SELECT rs.seq, rs.store_id, 0 AS from_pattern FROM visit_route_stops rs WHERE rs.salesman_id = ? AND rs.day = ?
	UNION ALL
	SELECT pt.seq, pt.store_id, 1 AS from_pattern FROM visit_patterns pt WHERE pt.salesman_id = ? AND pt.weekday = ?
	AND NOT EXISTS (SELECT 1 FROM visit_routes r WHERE r.salesman_id = ? AND r.day = ?)`

// route reads the plan in two statements, whatever its length: the stops
// with their stores' last audit scores, then the day's visits.
func (s *Service) route(ctx context.Context, salesman uuid.UUID, day string) (*Route, error) {
	t, _ := parseDay(day)
	var rows []struct {
		Stop
		FromPattern int `bun:"from_pattern"`
	}
	err := s.db.NewRaw(`SELECT st.seq, st.store_id, st.from_pattern, l.score AS last_score, l.audited_at AS last_audited_at
		FROM (`+plannedSQL+`) st LEFT JOIN store_audit_last l ON l.store_id = st.store_id ORDER BY st.seq`,
		salesman, day, salesman, weekday(t), salesman, day).Scan(ctx, &rows)
	if err != nil {
		return nil, fmt.Errorf("visit: route: %w", err)
	}
	r := &Route{SalesmanID: salesman, Day: day, Stops: make([]Stop, len(rows))}
	for i, row := range rows {
		r.Stops[i] = row.Stop
		r.FromPattern = row.FromPattern == 1
	}
	if len(rows) == 0 {
		return r, nil
	}
	var visits []*Visit
	if err := s.db.NewSelect().Model(&visits).Where("salesman_id = ? AND day = ?", salesman, day).
		Order("checked_in_at").Scan(ctx); err != nil {
		return nil, fmt.Errorf("visit: route visits: %w", err)
	}
	last := map[uuid.UUID]*Visit{}
	for _, v := range visits {
		last[v.StoreID] = v
	}
	for i := range r.Stops {
		r.Stops[i].Visit = last[r.Stops[i].StoreID]
	}
	return r, nil
}

// planned reports whether store is on the salesman's plan for day.
func (s *Service) planned(ctx context.Context, db bun.IDB, salesman, store uuid.UUID, day string) (bool, error) {
	t, _ := parseDay(day)
	var n int
	err := db.NewRaw(`SELECT count(*) FROM (`+plannedSQL+`) st WHERE st.store_id = ?`,
		salesman, day, salesman, weekday(t), salesman, day, store).Scan(ctx, &n)
	if err != nil {
		return false, fmt.Errorf("visit: planned: %w", err)
	}
	return n > 0, nil
}
