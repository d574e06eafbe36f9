package graph

import (
	"context"
	"errors"
	"math"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/page"
	"channelhub/internal/party"
)

func authErrors(ctx context.Context, err error) ([]model.AuthError, error) {
	return userErrors(ctx, "auth", authCodes, err, func(code model.AuthErrorCode, field []string, msg string) model.AuthError {
		e := model.AuthError{Code: code, Field: field, Message: msg}
		var re *auth.RetryError
		if errors.As(err, &re) {
			secs := int(math.Ceil(re.RetryAfter.Seconds()))
			e.RetryAfterSeconds = &secs
		}
		return e
	})
}

func authPayload(ctx context.Context, s *auth.Session, err error) (*model.AuthPayload, error) {
	errs, err := authErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	out := &model.AuthPayload{Errors: errs}
	if s != nil {
		out.Session = &model.AuthSession{
			AccessToken: s.AccessToken, AccessTokenExpiresAt: s.AccessExpiresAt,
			RefreshToken: s.RefreshToken, RefreshTokenExpiresAt: s.RefreshExpiresAt,
			Viewer: &model.Viewer{Principal: s.Principal},
		}
	}
	return out, nil
}

func partyPayload(ctx context.Context, pt *party.Party, err error) (*model.PartyPayload, error) {
	errs, err := userErrors(ctx, "party", partyCodes, err, partyError)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		pt = nil
	}
	return &model.PartyPayload{Party: pt, Errors: errs}, nil
}

func userPayload(ctx context.Context, u *party.User, err error) (*model.UserPayload, error) {
	errs, err := userErrors(ctx, "user", userCodes, err, userError)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		u = nil
	}
	return &model.UserPayload{User: u, Errors: errs}, nil
}

func pageRequest(first *int, after *string) page.Request {
	r := page.Request{}
	if first != nil {
		r.First = *first
		if r.First == 0 {
			r.First = -1 // an explicit 0 is invalid, not "default"
		}
	}
	if after != nil {
		r.After = *after
	}
	return r
}

func partyConnection(pg *party.Page, count func(context.Context) (int, error)) *model.PartyConnection {
	c := &model.PartyConnection{Edges: make([]model.PartyEdge, len(pg.Parties)), Count: count}
	for i, p := range pg.Parties {
		c.Edges[i] = model.PartyEdge{Node: p, Cursor: p.Cursor()}
	}
	c.PageInfo.HasNextPage = pg.HasNext
	if n := len(c.Edges); n > 0 {
		c.PageInfo.EndCursor = &c.Edges[n-1].Cursor
	}
	return c
}

func userConnection(pg *party.UserPage, count func(context.Context) (int, error)) *model.UserConnection {
	c := &model.UserConnection{Edges: make([]model.UserEdge, len(pg.Users)), Count: count}
	for i, u := range pg.Users {
		c.Edges[i] = model.UserEdge{Node: u, Cursor: u.Cursor()}
	}
	c.PageInfo.HasNextPage = pg.HasNext
	if n := len(c.Edges); n > 0 {
		c.PageInfo.EndCursor = &c.Edges[n-1].Cursor
	}
	return c
}

func partyFilter(f *model.PartyFilter) (party.Filter, error) {
	if f == nil {
		return party.Filter{}, nil
	}
	parent, err := parseOptID(typeParty, f.ParentID)
	if err != nil {
		return party.Filter{}, err
	}
	out := party.Filter{Kind: f.Kind, Status: f.Status, Region: f.Region, ParentID: parent}
	if f.Search != nil {
		out.Search = *f.Search
	}
	return out, nil
}

func userFilter(f *model.UserFilter) (party.UserFilter, error) {
	if f == nil {
		return party.UserFilter{}, nil
	}
	pid, err := parseOptID(typeParty, f.PartyID)
	if err != nil {
		return party.UserFilter{}, err
	}
	out := party.UserFilter{PartyID: pid, Role: f.Role, Status: f.Status}
	if f.Search != nil {
		out.Search = *f.Search
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func address(a *model.AddressInput) *party.Address {
	if a == nil {
		return nil
	}
	return &party.Address{Province: a.Province, City: a.City, District: a.District, Street: a.Street}
}

func geo(g *model.GeoPointInput) *party.GeoPoint {
	if g == nil {
		return nil
	}
	return &party.GeoPoint{Latitude: g.Latitude, Longitude: g.Longitude}
}

func parseIDs(typ string, gids []string) ([]uuid.UUID, error) {
	out := make([]uuid.UUID, len(gids))
	for i, g := range gids {
		id, err := parseID(typ, g)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}

// nilIfNotFound turns an absent or out-of-scope object into node's null.
func nilIfNotFound[T any](v *T, err error) (model.Node, error) {
	if errors.Is(err, party.ErrNotFound) || errors.Is(err, party.ErrUserNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil // a typed nil would not be null to gqlgen
	}
	return v, nil
}
