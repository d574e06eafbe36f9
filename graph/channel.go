package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/channel"
	"channelhub/internal/serial"
)

const typeDiversion = "Diversion"

var diversionCodes = codeMap[model.DiversionErrorCode]{
	{channel.ErrInvalidInput, model.DiversionErrorCodeInvalidInput},
	{channel.ErrNotFound, model.DiversionErrorCodeNotFound},
	{channel.ErrAlreadyReviewed, model.DiversionErrorCodeAlreadyReviewed},
}

func diversionErrors(ctx context.Context, err error) ([]model.DiversionError, error) {
	return userErrors(ctx, "diversion", diversionCodes, err, func(code model.DiversionErrorCode, field []string, msg string) model.DiversionError {
		return model.DiversionError{Code: code, Field: field, Message: msg}
	})
}

// diversionNode answers node(id) for diversions: null outside the viewer's scope.
func (r *Resolver) diversionNode(ctx context.Context, p auth.Principal, gid string) (model.Node, error) {
	id, err := parseID(typeDiversion, gid)
	if err != nil {
		return nil, err
	}
	d, err := r.ChannelService.Diversion(ctx, p, id)
	if errors.Is(err, channel.ErrNotFound) {
		return nil, nil
	}
	return d, err
}

// diversionSide shows one side of a diversion: the parties come unscoped, since
// a branch manager sees a diversion whose other side lies in another branch.
func (r *Resolver) diversionSide(ctx context.Context, partyID uuid.UUID, branchID *uuid.UUID, region string) (*model.DiversionSide, error) {
	l := loadersFrom(ctx).counterparty
	pt, err := l.Load(ctx, partyID)
	if err != nil {
		return nil, err
	}
	out := &model.DiversionSide{Party: pt, Region: region}
	if branchID != nil {
		if out.Branch, err = l.Load(ctx, *branchID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func diversionFilter(f *model.DiversionFilter) (channel.DiversionFilter, error) {
	var out channel.DiversionFilter
	if f == nil {
		return out, nil
	}
	out.Status, out.Kind = f.Status, f.Kind
	if f.Period != nil {
		out.Period = &channel.Period{From: f.Period.From, To: f.Period.To}
	}
	var err error
	out.PartyID, err = parseOptID(typeParty, f.PartyID)
	return out, err
}

// diversionCursor is the opaque position of a diversion in a list.
func diversionCursor(d *serial.Diversion) string { return channel.DiversionCursor(d) }
