package visit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/outbox"
	"channelhub/internal/page"
	"channelhub/internal/party"
)

// QuestionType is what an answer must hold.
type QuestionType string

const (
	QYesNo       QuestionType = "YES_NO"       // yes is good
	QScore       QuestionType = "SCORE_1_5"    // 1..5
	QNumber      QuestionType = "NUMBER"       // e.g. facings of a SKU, against a target
	QPrice       QuestionType = "PRICE"        // observed shelf price against the suggested retail price
	QOutOfStock  QuestionType = "OUT_OF_STOCK" // yes = out of stock
	QCompetitor  QuestionType = "COMPETITOR"   // yes = competitor present
	QPhoto       QuestionType = "PHOTO"
	maxSections               = 20
	maxQuestions              = 100
	maxTextRunes              = 200
	maxNumber                 = 1_000_000
)

var questionTypes = []QuestionType{QYesNo, QScore, QNumber, QPrice, QOutOfStock, QCompetitor, QPhoto}

// Managers of templates: HQ.
var TemplateManagers = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps}

// Question is one item of a template.
type Question struct {
	ID             string       `json:"id"` // "q<N>", stable within the template
	Text           string       `json:"text"`
	Type           QuestionType `json:"type"`
	Weight         int          `json:"weight"`
	Required       bool         `json:"required"`
	Target         *int64       `json:"target,omitempty"`         // NUMBER: the minimum expected
	SuggestedPrice *int64       `json:"suggestedPrice,omitempty"` // PRICE: minor units
	TolerancePct   int          `json:"tolerancePct,omitempty"`   // PRICE: allowed deviation
	SKUID          *uuid.UUID   `json:"skuId,omitempty"`
}

// Section groups questions.
type Section struct {
	Title     string     `json:"title"`
	Questions []Question `json:"questions"`
}

// Template is a shelf audit form. Templates are never edited once used:
// HQ creates a new one and deactivates the old, so past audits keep their meaning.
type Template struct {
	bun.BaseModel `bun:"table:audit_templates,alias:t"`

	ID        uuid.UUID `bun:"id,pk"`
	Name      string    `bun:"name"`
	Active    bool      `bun:"active"`
	Sections  []Section `bun:"sections"`
	CreatedBy uuid.UUID `bun:"created_by"`
	CreatedAt time.Time `bun:"created_at"`
	UpdatedAt time.Time `bun:"updated_at"`
}

func (t *Template) question(id string) *Question {
	for i := range t.Sections {
		for j := range t.Sections[i].Questions {
			if t.Sections[i].Questions[j].ID == id {
				return &t.Sections[i].Questions[j]
			}
		}
	}
	return nil
}

func badText(s string) bool { n := utf8.RuneCountInString(s); return n < 1 || n > maxTextRunes }

// CreateTemplate stores a new active template; question ids are assigned here.
func (s *Service) CreateTemplate(ctx context.Context, p auth.Principal, name string, sections []Section) (*Template, error) {
	if err := p.Require(TemplateManagers...); err != nil {
		return nil, err
	}
	var errs []error
	if badText(name) {
		errs = append(errs, field.Err(ErrInvalidInput, "name"))
	}
	if len(sections) < 1 || len(sections) > maxSections {
		errs = append(errs, field.Err(ErrInvalidInput, "sections"))
	}
	n := 0
	for i := range sections {
		si := strconv.Itoa(i)
		if badText(sections[i].Title) {
			errs = append(errs, field.Err(ErrInvalidInput, "sections", si, "title"))
		}
		if len(sections[i].Questions) == 0 {
			errs = append(errs, field.Err(ErrInvalidInput, "sections", si, "questions"))
		}
		for j := range sections[i].Questions {
			n++
			q := &sections[i].Questions[j]
			q.ID = "q" + strconv.Itoa(n)
			at := func(f string) error {
				return field.Err(ErrInvalidInput, "sections", si, "questions", strconv.Itoa(j), f)
			}
			if badText(q.Text) {
				errs = append(errs, at("text"))
			}
			if !isType(q.Type) {
				errs = append(errs, at("type"))
			}
			if q.Weight == 0 {
				q.Weight = 1
			}
			if q.Weight < 0 || q.Weight > 10 {
				errs = append(errs, at("weight"))
			}
			if q.Type == QNumber && (q.Target == nil || *q.Target < 0 || *q.Target > maxNumber) {
				errs = append(errs, at("target"))
			}
			if q.Type == QPrice {
				if q.SuggestedPrice == nil || *q.SuggestedPrice <= 0 {
					errs = append(errs, at("suggestedPrice"))
				}
				if q.TolerancePct == 0 {
					q.TolerancePct = 5
				}
				if q.TolerancePct < 0 || q.TolerancePct > 100 {
					errs = append(errs, at("tolerancePercent"))
				}
			}
		}
	}
	if n > maxQuestions {
		errs = append(errs, field.Err(ErrInvalidInput, "sections"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	now := s.Now()
	t := &Template{ID: uuid.Must(uuid.NewV7()), Name: name, Active: true, Sections: sections, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	if _, err := s.db.NewInsert().Model(t).Exec(ctx); err != nil {
		return nil, fmt.Errorf("visit: template: %w", err)
	}
	return t, nil
}

func isType(t QuestionType) bool {
	for _, q := range questionTypes {
		if q == t {
			return true
		}
	}
	return false
}

// SetTemplateActive turns a template on or off for new audits.
func (s *Service) SetTemplateActive(ctx context.Context, p auth.Principal, id uuid.UUID, active bool) (*Template, error) {
	if err := p.Require(TemplateManagers...); err != nil {
		return nil, err
	}
	res, err := s.db.NewUpdate().Model((*Template)(nil)).Set("active = ?", active).Set("updated_at = ?", s.Now()).
		Where("id = ?", id).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("visit: template: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, ErrNotFound
	}
	return s.template(ctx, s.db, id)
}

func (s *Service) template(ctx context.Context, db bun.IDB, id uuid.UUID) (*Template, error) {
	t := new(Template)
	err := db.NewSelect().Model(t).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("visit: template: %w", err)
	}
	return t, nil
}

// Templates lists templates, newest first; only active ones unless all.
// Every role that audits or plans may read them.
func (s *Service) Templates(ctx context.Context, p auth.Principal, all bool) ([]*Template, error) {
	if err := p.Require(append(TemplateManagers, auth.RoleBranchManager, auth.RoleSalesman)...); err != nil {
		return nil, err
	}
	var ts []*Template
	q := s.db.NewSelect().Model(&ts).Order("id DESC").Limit(page.MaxSize)
	if !all {
		q = q.Where("active")
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("visit: templates: %w", err)
	}
	return ts, nil
}

// Answer is one typed answer; exactly the field the question's type needs is set.
type Answer struct {
	QuestionID string  `json:"questionId"`
	Yes        *bool   `json:"yes,omitempty"`
	Score      *int    `json:"score,omitempty"`
	Number     *int64  `json:"number,omitempty"`
	Price      *int64  `json:"price,omitempty"` // minor units
	PhotoKey   *string `json:"photoKey,omitempty"`
	Note       string  `json:"note,omitempty"`
	Points     float64 `json:"points"` // 0..1, set by the server
}

// Audit is a filled template.
type Audit struct {
	bun.BaseModel `bun:"table:shelf_audits,alias:a"`

	ID         uuid.UUID `bun:"id,pk"`
	VisitID    uuid.UUID `bun:"visit_id"`
	TemplateID uuid.UUID `bun:"template_id"`
	StoreID    uuid.UUID `bun:"store_id"`
	SalesmanID uuid.UUID `bun:"salesman_id"`
	Score      int       `bun:"score"` // 0..100
	Answers    []Answer  `bun:"answers"`
	CreatedAt  time.Time `bun:"created_at"`
}

// IssueKind says why an answer became an action item.
type IssueKind string

const (
	IssueAnsweredNo     IssueKind = "ANSWERED_NO"
	IssueLowScore       IssueKind = "LOW_SCORE"
	IssueBelowTarget    IssueKind = "BELOW_TARGET"
	IssuePriceDeviation IssueKind = "PRICE_DEVIATION"
	IssueOutOfStock     IssueKind = "OUT_OF_STOCK"
)

// ActionItem is an issue an audit found, for the store to fix and close.
type ActionItem struct {
	bun.BaseModel `bun:"table:action_items,alias:ai"`

	ID         uuid.UUID  `bun:"id,pk"`
	StoreID    uuid.UUID  `bun:"store_id"`
	AuditID    uuid.UUID  `bun:"audit_id"`
	QuestionID string     `bun:"question_id"`
	Title      string     `bun:"title"`
	Detail     string     `bun:"detail"` // the IssueKind
	Status     string     `bun:"status"` // OPEN, CLOSED
	CreatedAt  time.Time  `bun:"created_at"`
	ClosedAt   *time.Time `bun:"closed_at"`
	ClosedBy   *uuid.UUID `bun:"closed_by"`
	CloseNote  string     `bun:"close_note"`

	AuditSalesmanID uuid.UUID `bun:"audit_salesman_id,scanonly"` // read where asked: who audited
}

// Events of action items, and what their payload holds.
const (
	EventActionItemCreated = "action_item.created" // the store's managers are told
	EventActionItemClosed  = "action_item.closed"  // the salesman whose audit found it is told
)

// ActionItemMessage is the payload of the action item events.
type ActionItemMessage struct {
	ActionItemID uuid.UUID `json:"actionItemId"`
	StoreID      uuid.UUID `json:"storeId"`
	SalesmanID   uuid.UUID `json:"salesmanId"` // who audited the store
	Title        string    `json:"title"`
	Reason       string    `json:"reason"`
	Note         string    `json:"note,omitempty"`
}

// score checks a against q's type and returns its points and the issue it raises.
func score(q *Question, a *Answer) (float64, IssueKind, error) {
	set := 0
	for _, b := range []bool{a.Yes != nil, a.Score != nil, a.Number != nil, a.Price != nil, a.PhotoKey != nil} {
		if b {
			set++
		}
	}
	want := map[QuestionType]bool{QYesNo: a.Yes != nil, QOutOfStock: a.Yes != nil, QCompetitor: a.Yes != nil,
		QScore: a.Score != nil, QNumber: a.Number != nil, QPrice: a.Price != nil, QPhoto: a.PhotoKey != nil}
	if set != 1 || !want[q.Type] {
		return 0, "", ErrAnswerType
	}
	switch q.Type {
	case QYesNo:
		if *a.Yes {
			return 1, "", nil
		}
		return 0, IssueAnsweredNo, nil
	case QOutOfStock:
		if *a.Yes {
			return 0, IssueOutOfStock, nil
		}
		return 1, "", nil
	case QCompetitor:
		if *a.Yes {
			return 0, "", nil // noted for HQ, nothing the store fixes
		}
		return 1, "", nil
	case QScore:
		if *a.Score < 1 || *a.Score > 5 {
			return 0, "", ErrAnswerOutOfRange
		}
		pts := float64(*a.Score-1) / 4
		if *a.Score <= 2 {
			return pts, IssueLowScore, nil
		}
		return pts, "", nil
	case QNumber:
		if *a.Number < 0 || *a.Number > maxNumber {
			return 0, "", ErrAnswerOutOfRange
		}
		if *q.Target == 0 {
			return 1, "", nil
		}
		if *a.Number < *q.Target {
			return float64(*a.Number) / float64(*q.Target), IssueBelowTarget, nil
		}
		return 1, "", nil
	case QPrice:
		if *a.Price <= 0 || *a.Price > 1_000_000_000 {
			return 0, "", ErrAnswerOutOfRange
		}
		dev := math.Abs(float64(*a.Price-*q.SuggestedPrice)) * 100 / float64(*q.SuggestedPrice)
		if dev > float64(q.TolerancePct) {
			return 0, IssuePriceDeviation, nil
		}
		return 1, "", nil
	default: // QPhoto: checked by the caller against the salesman's uploads
		return 1, "", nil
	}
}

// SubmitAuditInput is an audit as the salesman fills it.
type SubmitAuditInput struct {
	VisitID        uuid.UUID
	TemplateID     uuid.UUID
	Answers        []Answer
	IdempotencyKey string
}

// SubmitAudit scores a template filled during the salesman's open visit and
// turns the issues found into the store's action items, in one transaction.
// A retry with the same key returns the first audit, even after check-out.
func (s *Service) SubmitAudit(ctx context.Context, p auth.Principal, in SubmitAuditInput) (*Audit, error) {
	if err := requireSalesman(p); err != nil {
		return nil, err
	}
	hash, err := idempotency.Hash(map[string]any{"visit": in.VisitID, "template": in.TemplateID, "answers": in.Answers})
	if err != nil {
		return nil, err
	}
	if id, err := s.replayed(ctx, p, "shelfAuditSubmit", in.IdempotencyKey, hash); id != uuid.Nil || err != nil {
		if err != nil {
			return nil, field.Err(err, "idempotencyKey")
		}
		return s.audit(ctx, id)
	}
	v, err := s.get(ctx, in.VisitID)
	if err != nil || v.SalesmanID != p.UserID {
		return nil, field.Err(ErrNotFound, "visitId")
	}
	if !v.Open() {
		return nil, field.Err(ErrVisitNotOpen, "visitId")
	}
	t, err := s.template(ctx, s.db, in.TemplateID)
	if errors.Is(err, ErrNotFound) {
		return nil, field.Err(ErrNotFound, "templateId")
	}
	if err != nil {
		return nil, err
	}
	if !t.Active {
		return nil, field.Err(ErrTemplateInactive, "templateId")
	}
	if len(in.Answers) > maxQuestions {
		return nil, field.Err(ErrInvalidInput, "answers")
	}
	now := s.Now()
	a := &Audit{ID: uuid.Must(uuid.NewV7()), VisitID: v.ID, TemplateID: t.ID, StoreID: v.StoreID, SalesmanID: p.UserID, CreatedAt: now}
	var errs []error
	var items []*ActionItem
	var photos []string
	seen := map[string]bool{}
	var got, total float64
	for i := range in.Answers {
		ans := in.Answers[i]
		at := []string{"answers", strconv.Itoa(i)}
		q := t.question(ans.QuestionID)
		if q == nil || seen[ans.QuestionID] {
			errs = append(errs, field.Err(ErrUnknownQuestion, append(at, "questionId")...))
			continue
		}
		seen[ans.QuestionID] = true
		if utf8.RuneCountInString(ans.Note) > MaxNoteRunes {
			errs = append(errs, field.Err(ErrInvalidInput, append(at, "note")...))
			continue
		}
		pts, issue, err := score(q, &ans)
		if err != nil {
			errs = append(errs, field.Err(err, at...))
			continue
		}
		if q.Type == QPhoto {
			if _, err := s.photo(ctx, p.UserID, *ans.PhotoKey); err != nil {
				errs = append(errs, field.Err(err, append(at, "photoKey")...))
				continue
			}
			photos = append(photos, *ans.PhotoKey)
		}
		ans.Points = math.Round(pts*1000) / 1000
		got += pts * float64(q.Weight)
		a.Answers = append(a.Answers, ans)
		if issue != "" {
			items = append(items, &ActionItem{ID: uuid.Must(uuid.NewV7()), StoreID: v.StoreID, AuditID: a.ID, QuestionID: q.ID,
				Title: q.Text, Detail: string(issue), Status: "OPEN", CreatedAt: now})
		}
	}
	for _, sec := range t.Sections {
		for _, q := range sec.Questions {
			total += float64(q.Weight)
			if q.Required && !seen[q.ID] {
				errs = append(errs, field.Err(ErrAnswerRequired, "answers", q.ID))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Unanswered optional questions earn nothing: skipping cannot raise a score.
	a.Score = int(math.Round(100 * got / total))
	var replayed bool
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "shelfAuditSubmit", in.IdempotencyKey, hash, now)
		if err := keyErr(err); err != nil {
			return err
		}
		if replayed = replay; replay {
			return json.Unmarshal(stored, &a.ID)
		}
		if _, err := tx.NewInsert().Model(a).Exec(ctx); err != nil {
			if database.IsUniqueViolation(err) {
				return ErrAlreadyAudited
			}
			return fmt.Errorf("visit: audit: %w", err)
		}
		events := make([]*outbox.Event, 0, len(items)+1)
		if len(items) > 0 {
			if _, err := tx.NewInsert().Model(&items).Exec(ctx); err != nil {
				return fmt.Errorf("visit: action items: %w", err)
			}
			for _, it := range items {
				ev, err := outbox.New("store:"+it.StoreID.String(), "ActionItem", it.ID.String(), EventActionItemCreated,
					ActionItemMessage{ActionItemID: it.ID, StoreID: it.StoreID, SalesmanID: p.UserID, Title: it.Title, Reason: it.Detail}, now)
				if err != nil {
					return err
				}
				events = append(events, ev)
			}
		}
		if len(photos) > 0 {
			if _, err := tx.NewUpdate().Table("media_uploads").Set("used_at = ?", now).
				Where("key IN (?) AND used_at IS NULL", bun.In(photos)).Exec(ctx); err != nil {
				return fmt.Errorf("visit: audit photos: %w", err)
			}
		}
		if err := audit.Record(ctx, tx, p, "visit.audit.submit", "ShelfAudit", a.ID.String(), nil,
			map[string]any{"visitId": a.VisitID, "templateId": a.TemplateID, "storeId": a.StoreID, "score": a.Score, "actionItems": len(items)}, ""); err != nil {
			return err
		}
		if _, err := tx.NewRaw(`INSERT INTO store_audit_last (store_id, audit_id, score, audited_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (store_id) DO UPDATE SET audit_id = EXCLUDED.audit_id, score = EXCLUDED.score, audited_at = EXCLUDED.audited_at`,
			a.StoreID, a.ID, a.Score, now).Exec(ctx); err != nil {
			return fmt.Errorf("visit: last audit: %w", err)
		}
		ev, err := outbox.New("store:"+a.StoreID.String(), "ShelfAudit", a.ID.String(), "audit.submitted",
			map[string]any{"auditId": a.ID, "storeId": a.StoreID, "score": a.Score, "actionItems": len(items)}, now)
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, append(events, ev)...); err != nil {
			return err
		}
		return idempotency.Complete(ctx, tx, p.UserID, "shelfAuditSubmit", in.IdempotencyKey, a.ID)
	})
	if err != nil {
		return nil, err
	}
	if replayed {
		return s.audit(ctx, a.ID)
	}
	return a, nil
}

// audit reads one audit.
func (s *Service) audit(ctx context.Context, id uuid.UUID) (*Audit, error) {
	a := new(Audit)
	if err := s.db.NewSelect().Model(a).Where("a.id = ?", id).Scan(ctx); err != nil {
		return nil, fmt.Errorf("visit: audit: %w", err)
	}
	return a, nil
}

// AuditsOfVisits returns the audits of each visit, in key order (a loader's batch).
func (s *Service) AuditsOfVisits(ctx context.Context, ids []uuid.UUID) ([][]*Audit, error) {
	var rows []*Audit
	if err := s.db.NewSelect().Model(&rows).Where("visit_id IN (?)", bun.In(ids)).Order("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("visit: audits: %w", err)
	}
	by := map[uuid.UUID][]*Audit{}
	for _, a := range rows {
		by[a.VisitID] = append(by[a.VisitID], a)
	}
	out := make([][]*Audit, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}

// ActionItems lists the action items of stores in p's scope, newest first.
func (s *Service) ActionItems(ctx context.Context, p auth.Principal, status string, store *uuid.UUID, pr page.Request) ([]*ActionItem, bool, error) {
	q := actionItemsFilter(party.Scope(s.db.NewSelect().Model((*ActionItem)(nil)), p, "ai.store_id"), status, store)
	rows, more, err := page.Newest[*ActionItem](ctx, q, "ai", pr)
	if err != nil {
		err = fmt.Errorf("visit: action items: %w", err)
	}
	return rows, more, err
}

func actionItemsFilter(q *bun.SelectQuery, status string, store *uuid.UUID) *bun.SelectQuery {
	if status != "" {
		q = q.Where("ai.status = ?", status)
	}
	if store != nil {
		q = q.Where("ai.store_id = ?", *store)
	}
	return q
}

// CountActionItems is how many action items ActionItems lists for p (every page).
func (s *Service) CountActionItems(ctx context.Context, p auth.Principal, status string, store *uuid.UUID) (int, error) {
	n, err := actionItemsFilter(party.Scope(s.db.NewSelect().Model((*ActionItem)(nil)), p, "ai.store_id"), status, store).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("visit: action items: %w", err)
	}
	return int(n), nil
}

// ActionItem is one action item of a store in p's scope.
func (s *Service) ActionItem(ctx context.Context, p auth.Principal, id uuid.UUID) (*ActionItem, error) {
	it := new(ActionItem)
	err := party.Scope(s.db.NewSelect().Model(it).Where("ai.id = ?", id), p, "ai.store_id").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("visit: action item: %w", err)
	}
	return it, nil
}

// Audit is one shelf audit in p's scope: a salesman its own, others those of
// stores in their party scope.
func (s *Service) Audit(ctx context.Context, p auth.Principal, id uuid.UUID) (*Audit, error) {
	a := new(Audit)
	q := s.db.NewSelect().Model(a).Where("a.id = ?", id)
	if p.Has(auth.RoleSalesman) && len(p.Roles) == 1 {
		q = q.Where("a.salesman_id = ?", p.UserID)
	} else {
		q = party.Scope(q, p, "a.store_id")
	}
	err := q.Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("visit: audit: %w", err)
	}
	return a, nil
}

// Template is one audit template, for the roles that may read templates.
func (s *Service) Template(ctx context.Context, p auth.Principal, id uuid.UUID) (*Template, error) {
	if err := p.Require(append(TemplateManagers, auth.RoleBranchManager, auth.RoleSalesman)...); err != nil {
		return nil, ErrNotFound
	}
	return s.template(ctx, s.db, id)
}

// CloseActionItem is the store saying it fixed the issue.
func (s *Service) CloseActionItem(ctx context.Context, p auth.Principal, id uuid.UUID, note string) (*ActionItem, error) {
	if err := p.Require(auth.RoleStoreManager, auth.RoleStoreStaff); err != nil {
		return nil, err
	}
	if utf8.RuneCountInString(note) > MaxNoteRunes {
		return nil, field.Err(ErrInvalidInput, "note")
	}
	it := new(ActionItem)
	err := party.Scope(s.db.NewSelect().Model(it).ColumnExpr("ai.*").ColumnExpr("sa.salesman_id AS audit_salesman_id").
		Join("JOIN shelf_audits AS sa ON sa.id = ai.audit_id").Where("ai.id = ?", id), p, "ai.store_id").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("visit: action item: %w", err)
	}
	now := s.Now()
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewUpdate().Model((*ActionItem)(nil)).Set("status = 'CLOSED'").Set("closed_at = ?", now).
			Set("closed_by = ?", p.UserID).Set("close_note = ?", note).Where("id = ? AND status = 'OPEN'", id).Exec(ctx)
		if err != nil {
			return fmt.Errorf("visit: close: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrActionItemClosed
		}
		ev, err := outbox.New("store:"+it.StoreID.String(), "ActionItem", it.ID.String(), EventActionItemClosed,
			ActionItemMessage{ActionItemID: it.ID, StoreID: it.StoreID, SalesmanID: it.AuditSalesmanID, Title: it.Title, Reason: it.Detail, Note: note}, now)
		if err != nil {
			return err
		}
		if err := outbox.Add(ctx, tx, ev); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "visit.action_item.close", "ActionItem", it.ID.String(),
			map[string]any{"status": it.Status}, map[string]any{"status": "CLOSED", "note": note}, "")
	})
	if err != nil {
		return nil, err
	}
	it.Status, it.ClosedAt, it.ClosedBy, it.CloseNote = "CLOSED", &now, &p.UserID, note
	return it, nil
}

// TemplatesByID returns templates in key order (a loader's batch), nil where absent.
func (s *Service) TemplatesByID(ctx context.Context, ids []uuid.UUID) ([]*Template, error) {
	var rows []*Template
	if err := s.db.NewSelect().Model(&rows).Where("id IN (?)", bun.In(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("visit: templates: %w", err)
	}
	by := map[uuid.UUID]*Template{}
	for _, t := range rows {
		by[t.ID] = t
	}
	out := make([]*Template, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}

// UsersByID returns users in key order (a loader's batch), for visits and KPIs already in scope.
func (s *Service) UsersByID(ctx context.Context, ids []uuid.UUID) ([]*party.User, error) {
	var rows []*party.User
	if err := s.db.NewSelect().Model(&rows).Where("u.id IN (?)", bun.In(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("visit: users: %w", err)
	}
	by := map[uuid.UUID]*party.User{}
	for _, u := range rows {
		by[u.ID] = u
	}
	out := make([]*party.User, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out, nil
}
