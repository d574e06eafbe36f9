package visit

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/field"
	"channelhub/internal/page"
)

// KPIReaders may read field KPIs: HQ and branch managers over their salesmen,
// a salesman over itself.
var KPIReaders = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps, auth.RoleBranchManager, auth.RoleSalesman}

// KPIFilter picks the period (business days, inclusive) and optionally salesmen.
type KPIFilter struct {
	From, To string
	Salesmen []uuid.UUID
}

// KPI is one salesman's figures over a period.
type KPI struct {
	SalesmanID    uuid.UUID
	Planned       int // stops planned (routes, or weekday patterns on days without one)
	Done          int // planned stops visited
	Unplanned     int // visits to stores off the plan
	Visits        int
	TimeInStoreS  int64 // checked-out visits only
	Flags         map[Flag]int
	Audits        int
	AvgAuditScore *float64
	OrdersTaken   int
	OrdersTotal   int64 // minor units
}

// KPIs computes the figures of the salesmen in p's scope, a page at a time
// in user id order, with a constant number of statements per page.
func (s *Service) KPIs(ctx context.Context, p auth.Principal, f KPIFilter, pr page.Request) ([]*KPI, bool, error) {
	if err := p.Require(KPIReaders...); err != nil {
		return nil, false, err
	}
	from, err := parseDay(f.From)
	if err != nil {
		return nil, false, field.Err(err, "filter", "from")
	}
	to, err := parseDay(f.To)
	if err != nil {
		return nil, false, field.Err(err, "filter", "to")
	}
	days := int(to.Sub(from)/(24*time.Hour)) + 1
	if days < 1 || days > MaxKPIDays {
		return nil, false, field.Err(ErrInvalidInput, "filter", "to")
	}
	if len(f.Salesmen) > page.MaxSize {
		return nil, false, field.Err(ErrInvalidInput, "filter", "salesmanIds")
	}
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := page.Decode(pr.After, 1)
	if err != nil {
		return nil, false, err
	}
	var ids []uuid.UUID
	q := s.kpiSalesmen(p, f).Column("users.id").OrderExpr("users.id").Limit(int64(size + 1))
	if key != nil {
		id, err := uuid.Parse(key[0])
		if err != nil {
			return nil, false, page.ErrInvalid
		}
		q = q.Where("users.id > ?", id)
	}
	if err := q.Scan(ctx, &ids); err != nil {
		return nil, false, fmt.Errorf("visit: kpi salesmen: %w", err)
	}
	more := len(ids) > size
	if more {
		ids = ids[:size]
	}
	if len(ids) == 0 {
		return nil, false, nil
	}
	out, err := s.kpis(ctx, ids, from, to)
	return out, more, err
}

// kpiSalesmen selects the salesmen of f in p's scope.
func (s *Service) kpiSalesmen(p auth.Principal, f KPIFilter) *bun.SelectQuery {
	q := s.db.NewSelect().Table("users").Join("JOIN parties AS sp ON sp.id = users.party_id").
		Where("users.roles LIKE ?", salesmanRoleSQL)
	switch {
	case p.Has(auth.RoleHQAdmin, auth.RoleSalesOps):
	case p.Has(auth.RoleBranchManager):
		q = q.Where("sp.path LIKE ?", p.PartyPath+"%")
	default:
		q = q.Where("users.id = ?", p.UserID)
	}
	if len(f.Salesmen) > 0 {
		q = q.Where("users.id IN (?)", bun.In(f.Salesmen))
	}
	return q
}

// CountKPIs is how many salesmen KPIs with f list for p (every page).
func (s *Service) CountKPIs(ctx context.Context, p auth.Principal, f KPIFilter) (int, error) {
	n, err := s.kpiSalesmen(p, f).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("visit: kpi count: %w", err)
	}
	return int(n), nil
}

func (s *Service) kpis(ctx context.Context, ids []uuid.UUID, from, to time.Time) ([]*KPI, error) {
	d0, d1 := from.Format(dayLayout), to.Format(dayLayout)
	by := map[uuid.UUID]*KPI{}
	out := make([]*KPI, len(ids))
	for i, id := range ids {
		out[i] = &KPI{SalesmanID: id, Flags: map[Flag]int{}}
		by[id] = out[i]
	}
	// Planned: each day's route where one was set, the weekday pattern otherwise.
	var routes []struct {
		SalesmanID uuid.UUID `bun:"salesman_id"`
		Day        string    `bun:"day"`
		Stops      int       `bun:"stops"`
	}
	if err := s.db.NewRaw(`SELECT r.salesman_id, r.day, (SELECT count(*) FROM visit_route_stops rs WHERE rs.salesman_id = r.salesman_id AND rs.day = r.day) AS stops
		FROM visit_routes r WHERE r.salesman_id IN (?) AND r.day BETWEEN ? AND ?`, bun.In(ids), d0, d1).Scan(ctx, &routes); err != nil {
		return nil, fmt.Errorf("visit: kpi routes: %w", err)
	}
	var patterns []struct {
		SalesmanID uuid.UUID `bun:"salesman_id"`
		Weekday    int       `bun:"weekday"`
		Stops      int       `bun:"stops"`
	}
	if err := s.db.NewRaw(`SELECT salesman_id, weekday, count(*) AS stops FROM visit_patterns WHERE salesman_id IN (?) GROUP BY salesman_id, weekday`,
		bun.In(ids)).Scan(ctx, &patterns); err != nil {
		return nil, fmt.Errorf("visit: kpi patterns: %w", err)
	}
	set := map[uuid.UUID]map[string]int{}
	for _, r := range routes {
		if set[r.SalesmanID] == nil {
			set[r.SalesmanID] = map[string]int{}
		}
		set[r.SalesmanID][r.Day] = r.Stops
	}
	weekly := map[uuid.UUID][8]int{}
	for _, pt := range patterns {
		w := weekly[pt.SalesmanID]
		w[pt.Weekday] = pt.Stops
		weekly[pt.SalesmanID] = w
	}
	for _, k := range out {
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			if n, ok := set[k.SalesmanID][d.Format(dayLayout)]; ok {
				k.Planned += n
			} else {
				k.Planned += weekly[k.SalesmanID][weekday(d)]
			}
		}
	}
	var visits []*Visit
	if err := s.db.NewSelect().Model(&visits).Column("salesman_id", "planned", "duration_s", "flags", "store_id", "day").
		Where("salesman_id IN (?) AND day BETWEEN ? AND ?", bun.In(ids), d0, d1).Scan(ctx); err != nil {
		return nil, fmt.Errorf("visit: kpi visits: %w", err)
	}
	type dayStore struct {
		day   string
		store uuid.UUID
	}
	doneStops := map[uuid.UUID]map[dayStore]bool{}
	for _, v := range visits {
		k := by[v.SalesmanID]
		k.Visits++
		if v.Planned {
			if doneStops[v.SalesmanID] == nil {
				doneStops[v.SalesmanID] = map[dayStore]bool{}
			}
			doneStops[v.SalesmanID][dayStore{v.Day, v.StoreID}] = true // two visits to one stop count once
		} else {
			k.Unplanned++
		}
		if v.DurationS != nil {
			k.TimeInStoreS += *v.DurationS
		}
		for _, f := range v.Flags {
			k.Flags[f]++
		}
	}
	for id, m := range doneStops {
		by[id].Done = len(m)
	}
	// Audits and orders over the period's instants in the business zone.
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, s.zone).UTC()
	end := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, s.zone).AddDate(0, 0, 1).UTC()
	var audits []struct {
		SalesmanID uuid.UUID `bun:"salesman_id"`
		N          int       `bun:"n"`
		Sum        int64     `bun:"total"`
	}
	if err := s.db.NewRaw(`SELECT salesman_id, count(*) AS n, sum(score) AS total FROM shelf_audits
		WHERE salesman_id IN (?) AND created_at >= ? AND created_at < ? GROUP BY salesman_id`, bun.In(ids), start, end).Scan(ctx, &audits); err != nil {
		return nil, fmt.Errorf("visit: kpi audits: %w", err)
	}
	for _, a := range audits {
		k := by[a.SalesmanID]
		k.Audits = a.N
		avg := float64(a.Sum) / float64(a.N)
		k.AvgAuditScore = &avg
	}
	var orders []struct {
		SalesmanID uuid.UUID `bun:"salesman_user_id"`
		N          int       `bun:"n"`
		Total      int64     `bun:"total"`
	}
	if err := s.db.NewRaw(`SELECT salesman_user_id, count(*) AS n, sum(total) AS total FROM orders
		WHERE salesman_user_id IN (?) AND submitted_at >= ? AND submitted_at < ? AND status NOT IN ('REJECTED', 'CANCELLED')
		GROUP BY salesman_user_id`, bun.In(ids), start, end).Scan(ctx, &orders); err != nil {
		return nil, fmt.Errorf("visit: kpi orders: %w", err)
	}
	for _, o := range orders {
		by[o.SalesmanID].OrdersTaken, by[o.SalesmanID].OrdersTotal = o.N, o.Total
	}
	return out, nil
}

// Visits lists visits in p's scope, newest first, optionally of one salesman or store.
func (s *Service) Visits(ctx context.Context, p auth.Principal, salesman, store *uuid.UUID, pr page.Request) ([]*Visit, bool, error) {
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := page.Decode(pr.After, 1)
	if err != nil {
		return nil, false, err
	}
	var rows []*Visit
	q := visitsFilter(scope(s.db.NewSelect().Model(&rows), p), salesman, store).OrderExpr("v.id DESC").Limit(int64(size + 1))
	if key != nil {
		id, err := uuid.Parse(key[0])
		if err != nil {
			return nil, false, page.ErrInvalid
		}
		q = q.Where("v.id < ?", id)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("visit: visits: %w", err)
	}
	if len(rows) > size {
		return rows[:size], true, nil
	}
	return rows, false, nil
}

func visitsFilter(q *bun.SelectQuery, salesman, store *uuid.UUID) *bun.SelectQuery {
	if salesman != nil {
		q = q.Where("v.salesman_id = ?", *salesman)
	}
	if store != nil {
		q = q.Where("v.store_id = ?", *store)
	}
	return q
}

// CountVisits is how many visits Visits lists for p (every page).
func (s *Service) CountVisits(ctx context.Context, p auth.Principal, salesman, store *uuid.UUID) (int, error) {
	n, err := visitsFilter(scope(s.db.NewSelect().Model((*Visit)(nil)), p), salesman, store).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("visit: count: %w", err)
	}
	return int(n), nil
}
