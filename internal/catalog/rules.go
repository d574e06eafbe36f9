package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/epoch"
	"channelhub/internal/party"
)

// RuleInput describes a new authorisation rule: exactly one of SKUID and CategoryID.
type RuleInput struct {
	Effect      Effect
	SKUID       *uuid.UUID
	CategoryID  *uuid.UUID
	TargetKind  TargetKind
	TargetValue string
}

// Rules lists every authorisation rule, newest first.
func (s *Service) Rules(ctx context.Context, p auth.Principal) ([]*Rule, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	var out []*Rule
	if err := s.db.NewSelect().Model(&out).OrderExpr("r.created_at DESC, r.id DESC").Limit(1000).Scan(ctx); err != nil {
		return nil, fmt.Errorf("catalog: rules: %w", err)
	}
	return out, nil
}

// CreateRule adds an authorisation rule.
func (s *Service) CreateRule(ctx context.Context, p auth.Principal, in RuleInput) (*Rule, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	if (in.SKUID == nil) == (in.CategoryID == nil) {
		return nil, fieldErr(ErrInvalidInput, "skuId")
	}
	if in.Effect != Include && in.Effect != Exclude {
		return nil, fieldErr(ErrInvalidInput, "effect")
	}
	value, ok := party.TargetValue(string(in.TargetKind), in.TargetValue)
	if !ok {
		return nil, fieldErr(ErrInvalidInput, "targetValue")
	}
	in.TargetValue = value // as matching compares it
	r := &Rule{ID: uuid.Must(uuid.NewV7()), Effect: in.Effect, SKUID: in.SKUID, CategoryID: in.CategoryID,
		TargetKind: in.TargetKind, TargetValue: in.TargetValue, CreatedAt: s.now()}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if in.SKUID != nil {
			if n, err := tx.NewSelect().Model((*SKU)(nil)).Where("id = ?", *in.SKUID).Count(ctx); err != nil || n == 0 {
				return errors.Join(err, fieldErr(ErrNotFound, "skuId"))
			}
		} else if n, err := tx.NewSelect().Model((*Category)(nil)).Where("id = ?", *in.CategoryID).Count(ctx); err != nil || n == 0 {
			return errors.Join(err, fieldErr(ErrCategoryNotFound, "categoryId"))
		}
		if _, err := tx.NewInsert().Model(r).Exec(ctx); err != nil {
			return fmt.Errorf("catalog: insert rule: %w", err)
		}
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "catalog.rule.create", "CatalogRule", r.ID.String(), nil, r, "")
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DeleteRule removes an authorisation rule.
func (s *Service) DeleteRule(ctx context.Context, p auth.Principal, id uuid.UUID) error {
	if err := p.Require(Managers...); err != nil {
		return err
	}
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		r := new(Rule)
		if err := tx.NewSelect().Model(r).Where("id = ?", id).Scan(ctx); err != nil {
			return notFound(err, ErrNotFound)
		}
		if _, err := tx.NewDelete().Model(r).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("catalog: delete rule: %w", err)
		}
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "catalog.rule.delete", "CatalogRule", r.ID.String(), r, nil, "")
	})
}
