package graph

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"channelhub/internal/auth"
	"channelhub/internal/party"
)

// loaders batch the edges between objects within one request, so a page costs
// a constant number of queries however many rows it holds.
type loaders struct {
	party *dataloadgen.Loader[uuid.UUID, *party.Party]
}

type loadersKey struct{}

func (r *Resolver) newLoaders() *loaders {
	return &loaders{
		party: dataloadgen.NewLoader(func(ctx context.Context, ids []uuid.UUID) ([]*party.Party, []error) {
			p, err := auth.FromContext(ctx)
			if err == nil {
				var rows []*party.Party
				if rows, err = r.PartyService.GetMany(ctx, p, ids); err == nil {
					return rows, nil
				}
			}
			errs := make([]error, len(ids))
			for i := range errs {
				errs[i] = err
			}
			return make([]*party.Party, len(ids)), errs
		}, dataloadgen.WithWait(time.Millisecond), dataloadgen.WithBatchCapacity(100)),
	}
}

func withLoaders(ctx context.Context, l *loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

func loadersFrom(ctx context.Context) *loaders { return ctx.Value(loadersKey{}).(*loaders) }

// loadParty returns a party in scope, or nil when it is absent or out of scope.
func loadParty(ctx context.Context, id uuid.UUID) (*party.Party, error) {
	return loadersFrom(ctx).party.Load(ctx, id)
}
