package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"channelhub/internal/auth"
)

// directives are the coarse gate on root fields; services check scope again.
func directives() DirectiveRoot {
	return DirectiveRoot{
		Authenticated: func(ctx context.Context, _ any, next graphql.Resolver) (any, error) {
			if _, err := auth.FromContext(ctx); err != nil {
				return nil, err
			}
			return next(ctx)
		},
		HasRole: func(ctx context.Context, _ any, next graphql.Resolver, roles []auth.Role) (any, error) {
			p, err := auth.FromContext(ctx)
			if err != nil {
				return nil, err
			}
			if !p.Has(roles...) {
				return nil, auth.ErrForbidden
			}
			return next(ctx)
		},
	}
}

// pageCost charges a connection field for every row it may return.
func pageCost(child int, first *int) int {
	n := 50
	if first != nil && *first > 0 {
		n = *first
	}
	return 1 + n*child
}
