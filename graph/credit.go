package graph

import (
	"context"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/credit"
)

var creditCodes = codeMap[model.CreditErrorCode]{
	{credit.ErrInvalidInput, model.CreditErrorCodeInvalidInput},
	{credit.ErrInvalidAmount, model.CreditErrorCodeInvalidAmount},
	{credit.ErrReasonRequired, model.CreditErrorCodeReasonRequired},
	{credit.ErrNotManager, model.CreditErrorCodeNotAllowed},
	{credit.ErrSelfApproval, model.CreditErrorCodeSelfApproval},
	{credit.ErrNotPending, model.CreditErrorCodeNotPending},
	{credit.ErrKeyReused, model.CreditErrorCodeIdempotencyKeyReused},
}

func creditErrors(ctx context.Context, err error) ([]model.CreditError, error) {
	return userErrors(ctx, "credit", creditCodes, err, func(code model.CreditErrorCode, field []string, msg string) model.CreditError {
		return model.CreditError{Code: code, Field: field, Message: msg}
	})
}

func creditPayload(ctx context.Context, l *credit.Line, err error) (*model.CreditPayload, error) {
	errs, err := creditErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		l = nil
	}
	return &model.CreditPayload{Credit: l, Errors: errs}, nil
}

func limitRequestPayload(ctx context.Context, r *credit.LimitRequest, err error) (*model.CreditLimitRequestPayload, error) {
	errs, err := creditErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		r = nil
	}
	return &model.CreditLimitRequestPayload{Request: r, Errors: errs}, nil
}

// creditAct runs a finance action on the line of the buyer with global ID buyerID.
func (r *Resolver) creditAct(ctx context.Context, buyerID string, fn func(p auth.Principal, buyer uuid.UUID) (*credit.Line, error)) (*model.CreditPayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseID(typeParty, buyerID)
	if err != nil {
		return nil, err
	}
	l, err := fn(p, id)
	return creditPayload(ctx, l, err)
}

func (r *Resolver) decideLimit(ctx context.Context, id string, approve bool, reason string) (*model.CreditLimitRequestPayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	rid, err := parseID(typeLimitRequest, id)
	if err != nil {
		return nil, err
	}
	req, err := r.CreditService.DecideLimit(ctx, p, rid, approve, reason)
	return limitRequestPayload(ctx, req, err)
}
