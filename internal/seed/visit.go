package seed

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/party"
	"channelhub/internal/visit"
)

// insertVisits seeds field work: HQ's shelf audit template, and for the
// first salesman a weekly pattern over its stores plus today's route.
func (b *builder) insertVisits(ctx context.Context, tx bun.Tx) error {
	hqAdmin := b.users[0].ID
	i64 := func(v int64) *int64 { return &v }
	t := &visit.Template{ID: uuid.Must(uuid.NewV7()), Name: b.t("seed.audit.name", nil), Active: true, CreatedBy: hqAdmin,
		CreatedAt: b.now, UpdatedAt: b.now, Sections: []visit.Section{
			{Title: b.t("seed.audit.display", nil), Questions: []visit.Question{
				{ID: "q1", Text: b.t("seed.audit.q.brandArea", nil), Type: visit.QYesNo, Weight: 2, Required: true},
				{ID: "q2", Text: b.t("seed.audit.q.displayScore", nil), Type: visit.QScore, Weight: 1},
				{ID: "q3", Text: b.t("seed.audit.q.facings", nil), Type: visit.QNumber, Weight: 1, Target: i64(6)},
				{ID: "q4", Text: b.t("seed.audit.q.price", nil), Type: visit.QPrice, Weight: 1, SuggestedPrice: i64(699900), TolerancePct: 5},
			}},
			{Title: b.t("seed.audit.stock", nil), Questions: []visit.Question{
				{ID: "q5", Text: b.t("seed.audit.q.oos", nil), Type: visit.QOutOfStock, Weight: 1},
				{ID: "q6", Text: b.t("seed.audit.q.competitor", nil), Type: visit.QCompetitor, Weight: 1},
				{ID: "q7", Text: b.t("seed.audit.q.photo", nil), Type: visit.QPhoto, Weight: 1, Required: true},
			}},
		}}
	if _, err := tx.NewInsert().Model(t).Exec(ctx); err != nil {
		return fmt.Errorf("seed: audit template: %w", err)
	}
	var salesman *party.User
	for _, u := range b.users {
		if u.Phone == "13800000021" {
			salesman = u
		}
	}
	var stores []uuid.UUID
	for _, a := range b.assignments {
		if a[0] == salesman.ID {
			stores = append(stores, a[1])
		}
	}
	zone, err := time.LoadLocation("Asia/Shanghai") // the default business zone
	if err != nil {
		zone = time.UTC
	}
	today := b.now.In(zone).Format("2006-01-02")
	for i, s := range stores {
		for wd := 1; wd <= 5; wd++ {
			if _, err := tx.NewRaw(`INSERT INTO visit_patterns (salesman_id, weekday, seq, store_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				salesman.ID, wd, i+1, s, salesman.ID, b.now).Exec(ctx); err != nil {
				return fmt.Errorf("seed: pattern: %w", err)
			}
		}
		if _, err := tx.NewRaw(`INSERT INTO visit_route_stops (salesman_id, day, seq, store_id, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			salesman.ID, today, i+1, s, salesman.ID, b.now).Exec(ctx); err != nil {
			return fmt.Errorf("seed: route: %w", err)
		}
	}
	if _, err := tx.NewRaw(`INSERT INTO visit_routes (salesman_id, day, created_by, updated_at) VALUES (?, ?, ?, ?)`,
		salesman.ID, today, salesman.ID, b.now).Exec(ctx); err != nil {
		return fmt.Errorf("seed: route: %w", err)
	}
	return nil
}
