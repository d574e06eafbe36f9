package graph

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/page"
	"channelhub/internal/visit"
)

const (
	typeVisit         = "Visit"
	typeAuditTemplate = "AuditTemplate"
	typeShelfAudit    = "ShelfAudit"
	typeActionItem    = "ActionItem"
	typeVisitRoute    = "VisitRoute" // "VisitRoute:<salesman uuid>/<YYYY-MM-DD>", or "/W<weekday>" for a pattern
)

// visitNode answers node(id) for the visit types, nil outside the viewer's scope.
func (r *Resolver) visitNode(ctx context.Context, p auth.Principal, typ, gid string) (model.Node, error) {
	var n model.Node
	var err error
	if typ == typeVisitRoute {
		salesman, day, wd, perr := visit.ParseRouteID(strings.TrimPrefix(gid, typeVisitRoute+":"))
		if perr != nil {
			return nil, errInvalidID
		}
		if day != "" {
			n, err = r.VisitService.Route(ctx, p, salesman, day)
		} else {
			n, err = r.VisitService.Pattern(ctx, p, salesman, wd)
		}
	} else {
		id, perr := parseID(typ, gid)
		if perr != nil {
			return nil, perr
		}
		switch typ {
		case typeVisit:
			n, err = r.VisitService.Get(ctx, p, id)
		case typeShelfAudit:
			n, err = r.VisitService.Audit(ctx, p, id)
		case typeActionItem:
			n, err = r.VisitService.ActionItem(ctx, p, id)
		case typeAuditTemplate:
			n, err = r.VisitService.Template(ctx, p, id)
		}
	}
	if errors.Is(err, visit.ErrNotFound) || errors.Is(err, auth.ErrForbidden) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return n, nil
}

var visitCodes = codeMap[model.VisitErrorCode]{
	{visit.ErrInvalidInput, model.VisitErrorCodeInvalidInput},
	{visit.ErrNotFound, model.VisitErrorCodeNotFound},
	{visit.ErrStoreNotAssigned, model.VisitErrorCodeStoreNotAssigned},
	{visit.ErrTooManyStops, model.VisitErrorCodeTooManyStops},
	{visit.ErrPositionInvalid, model.VisitErrorCodePositionOutOfRange},
	{visit.ErrPhotoNotFound, model.VisitErrorCodePhotoNotFound},
	{visit.ErrPhotoTooLarge, model.VisitErrorCodePhotoTooLarge},
	{visit.ErrPhotoNotImage, model.VisitErrorCodePhotoNotAnImage},
	{visit.ErrAlreadyCheckedIn, model.VisitErrorCodeAlreadyCheckedIn},
	{visit.ErrVisitNotOpen, model.VisitErrorCodeVisitNotOpen},
	{visit.ErrKeyReused, model.VisitErrorCodeIdempotencyKeyReused},
	{visit.ErrTemplateInactive, model.VisitErrorCodeTemplateInactive},
	{visit.ErrAlreadyAudited, model.VisitErrorCodeAlreadyAudited},
	{visit.ErrUnknownQuestion, model.VisitErrorCodeUnknownQuestion},
	{visit.ErrAnswerType, model.VisitErrorCodeAnswerTypeMismatch},
	{visit.ErrAnswerOutOfRange, model.VisitErrorCodeAnswerOutOfRange},
	{visit.ErrAnswerRequired, model.VisitErrorCodeAnswerRequired},
	{visit.ErrActionItemClosed, model.VisitErrorCodeActionItemClosed},
}

func visitErrors(ctx context.Context, err error) ([]model.VisitError, error) {
	return userErrors(ctx, "visit", visitCodes, err, func(code model.VisitErrorCode, field []string, msg string) model.VisitError {
		return model.VisitError{Code: code, Field: field, Message: msg}
	})
}

// visitPayload runs fn for the signed-in caller and splits its error into payload errors.
func visitPayload[T any](ctx context.Context, fn func(p auth.Principal) (T, error)) (T, []model.VisitError, error) {
	var zero T
	p, err := auth.FromContext(ctx)
	if err != nil {
		return zero, nil, err
	}
	v, err := fn(p)
	errs, err := visitErrors(ctx, err)
	if err != nil || len(errs) > 0 {
		return zero, errs, err
	}
	return v, errs, nil
}

// ids parses a list of global IDs of type typ.
func ids(typ string, in []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, len(in))
	for i, s := range in {
		id, err := parseID(typ, s)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

// today is the current business day.
func (r *Resolver) today() string {
	return time.Now().In(r.VisitService.Zone()).Format("2006-01-02")
}

func pageReq(first *int, after *string) page.Request {
	return page.Request{First: derefInt(first), After: deref(after)}
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func visitFlags(fs []visit.Flag) []model.VisitFlag {
	out := make([]model.VisitFlag, len(fs))
	for i, f := range fs {
		out[i] = model.VisitFlag(f)
	}
	return out
}

func derefSlice[T any](in []*T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = *v
	}
	return out
}

// routeInput parses a route's salesman (the viewer by default) and stores.
func routeInput(ctx context.Context, salesman *string, stores []string) (uuid.UUID, []uuid.UUID, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return uuid.Nil, nil, err
	}
	id := p.UserID
	if salesman != nil {
		if id, err = parseID(typeUser, *salesman); err != nil {
			return uuid.Nil, nil, err
		}
	}
	ss, err := ids(typeParty, stores)
	return id, ss, err
}

func templateSections(in []model.AuditSectionInput) ([]visit.Section, error) {
	out := make([]visit.Section, len(in))
	for i, s := range in {
		out[i].Title = s.Title
		out[i].Questions = make([]visit.Question, len(s.Questions))
		for j, q := range s.Questions {
			vq := visit.Question{Text: q.Text, Type: visit.QuestionType(q.Type), Weight: derefInt(q.Weight),
				Required: q.Required != nil && *q.Required, TolerancePct: derefInt(q.TolerancePercent)}
			if q.Target != nil {
				t := int64(*q.Target)
				vq.Target = &t
			}
			if q.SuggestedPrice != nil {
				p := int64(*q.SuggestedPrice)
				vq.SuggestedPrice = &p
			}
			out[i].Questions[j] = vq
		}
	}
	return out, nil
}

func auditAnswers(in []model.AuditAnswerInput) []visit.Answer {
	out := make([]visit.Answer, len(in))
	for i, a := range in {
		out[i] = visit.Answer{QuestionID: a.QuestionID, Yes: a.Yes, Score: a.Score, PhotoKey: a.PhotoKey, Note: deref(a.Note)}
		if a.Number != nil {
			n := int64(*a.Number)
			out[i].Number = &n
		}
		if a.Price != nil {
			p := int64(*a.Price)
			out[i].Price = &p
		}
	}
	return out
}
