package channel

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/field"
	"channelhub/internal/page"
	"channelhub/internal/serial"
)

// DiversionFilter narrows a list of diversions.
type DiversionFilter struct {
	Status *serial.DiversionStatus
	Kind   *serial.DiversionKind
	// PartyID keeps diversions whose expected or actual party lies in this
	// party's subtree; the party must be in the caller's scope.
	PartyID *uuid.UUID
	Period  *Period // by detection time
}

// diversionScope limits q (over "diversions AS dv") to what p may see: HQ
// everything, a branch manager the diversions whose expected or actual party
// was under its branch when detected, anyone else nothing.
func diversionScope(q *bun.SelectQuery, p auth.Principal) *bun.SelectQuery {
	switch {
	case p.IsHQ():
		return q
	case p.Has(auth.RoleBranchManager):
		return q.Where("(dv.expected_branch_id = ? OR dv.actual_branch_id = ?)", p.PartyID, p.PartyID)
	}
	return q.Where("1 = 0")
}

func (s *Service) diversions(ctx context.Context, p auth.Principal, f DiversionFilter) (*bun.SelectQuery, error) {
	if err := p.Require(DiversionReaders...); err != nil {
		return nil, err
	}
	q := diversionScope(s.db.NewSelect().Model((*serial.Diversion)(nil)), p)
	if f.Status != nil {
		switch *f.Status {
		case serial.DiversionOpen, serial.DiversionConfirmed, serial.DiversionDismissed:
		default:
			return nil, field.Err(ErrInvalidInput, "filter", "status")
		}
		q = q.Where("dv.status = ?", *f.Status)
	}
	if f.Kind != nil {
		if *f.Kind != serial.ReceivedOutside && *f.Kind != serial.SoldOutside {
			return nil, field.Err(ErrInvalidInput, "filter", "kind")
		}
		q = q.Where("dv.kind = ?", *f.Kind)
	}
	if f.PartyID != nil {
		pt, err := s.parties.Get(ctx, p, *f.PartyID) // NOT_FOUND outside the caller's scope
		if err != nil {
			return nil, err
		}
		q = q.Where("EXISTS (SELECT 1 FROM parties AS fp WHERE fp.id IN (dv.expected_party_id, dv.actual_party_id) AND fp.path LIKE ?)",
			pt.Path+"%")
	}
	if f.Period != nil {
		start, end, err := s.bounds(*f.Period, "filter", "period")
		if err != nil {
			return nil, err
		}
		q = q.Where("dv.detected_at >= ? AND dv.detected_at < ?", start, end)
	}
	return q, nil
}

// Diversions returns a page of the diversions p may see, newest first.
func (s *Service) Diversions(ctx context.Context, p auth.Principal, f DiversionFilter, pr page.Request) ([]*serial.Diversion, bool, error) {
	q, err := s.diversions(ctx, p, f)
	if err != nil {
		return nil, false, err
	}
	rows, more, err := page.Newest[*serial.Diversion](ctx, q, "dv", pr)
	if err != nil {
		err = fmt.Errorf("channel: diversions: %w", err)
	}
	return rows, more, err
}

// CountDiversions counts what the filter matches.
func (s *Service) CountDiversions(ctx context.Context, p auth.Principal, f DiversionFilter) (int, error) {
	q, err := s.diversions(ctx, p, f)
	if err != nil {
		return 0, err
	}
	n, err := q.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("channel: count diversions: %w", err)
	}
	return int(n), nil
}

// DiversionCursor is the opaque position of a diversion in a list.
func DiversionCursor(d *serial.Diversion) string { return page.Cursor(d.ID.String()) }

// Diversion returns one diversion p may see; ErrNotFound otherwise.
func (s *Service) Diversion(ctx context.Context, p auth.Principal, id uuid.UUID) (*serial.Diversion, error) {
	if !p.Has(DiversionReaders...) {
		return nil, ErrNotFound
	}
	return s.diversion(ctx, s.db, p, id)
}

func (s *Service) diversion(ctx context.Context, db bun.IDB, p auth.Principal, id uuid.UUID) (*serial.Diversion, error) {
	d := new(serial.Diversion)
	err := diversionScope(db.NewSelect().Model(d).Where("dv.id = ?", id), p).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("channel: diversion: %w", err)
	}
	return d, nil
}

// CanReview reports whether p may review d (it sees d already).
func CanReview(p auth.Principal, d *serial.Diversion) bool {
	return d.Status == serial.DiversionOpen && p.Has(Reviewers...)
}

// Review confirms or dismisses an open diversion p may see, with a note kept
// in the audit log. A diversion is reviewed once: ErrAlreadyReviewed after.
func (s *Service) Review(ctx context.Context, p auth.Principal, id uuid.UUID, status serial.DiversionStatus, note string) (*serial.Diversion, error) {
	if err := p.Require(Reviewers...); err != nil {
		return nil, err
	}
	if status != serial.DiversionConfirmed && status != serial.DiversionDismissed {
		return nil, field.Err(ErrInvalidInput, "status")
	}
	note = strings.TrimSpace(note)
	if n := utf8.RuneCountInString(note); n < 1 || n > MaxNote {
		return nil, field.Err(ErrInvalidInput, "note")
	}
	var out *serial.Diversion
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		d, err := s.diversion(ctx, tx, p, id)
		if err != nil {
			return err
		}
		if d.Status != serial.DiversionOpen {
			return ErrAlreadyReviewed
		}
		now := s.Now()
		res, err := tx.NewUpdate().Model((*serial.Diversion)(nil)).
			Set("status = ?, review_note = ?, reviewed_by = ?, reviewed_at = ?", status, note, p.UserID, now).
			Where("id = ? AND status = ?", d.ID, serial.DiversionOpen).Exec(ctx)
		if err != nil {
			return fmt.Errorf("channel: review: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrAlreadyReviewed // a racing review came first
		}
		if err := audit.Record(ctx, tx, p, "diversion.review", "Diversion", d.ID.String(), map[string]any{"status": d.Status},
			map[string]any{"status": status, "serial": d.SerialNumber}, note); err != nil {
			return err
		}
		d.Status, d.ReviewNote, d.ReviewedBy, d.ReviewedAt = status, note, &p.UserID, &now
		out = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
