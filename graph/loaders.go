package graph

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/order"
	"channelhub/internal/party"
	"channelhub/internal/pricing"
)

// loaders batch the edges between objects within one request, so a page costs
// a constant number of queries however many rows it holds.
type loaders struct {
	party         *dataloadgen.Loader[uuid.UUID, *party.Party]
	category      *dataloadgen.Loader[uuid.UUID, *catalog.Category]
	product       *dataloadgen.Loader[uuid.UUID, *catalog.Product]
	sku           *dataloadgen.Loader[uuid.UUID, *catalog.SKU] // unfiltered: for objects already in scope (rules, carts, quotes)
	price         *dataloadgen.Loader[priceKey, pricing.SKUPrice]
	availability  *dataloadgen.Loader[priceKey, *model.Availability]
	priceCount    *dataloadgen.Loader[uuid.UUID, int]
	listPrices    *dataloadgen.Loader[uuid.UUID, []pricing.ListPrice]
	assigned      *dataloadgen.Loader[assignedKey, *party.Page]
	assignedCount *dataloadgen.Loader[uuid.UUID, int]
	orderLines    *dataloadgen.Loader[uuid.UUID, []order.Line]
	orderEvents   *dataloadgen.Loader[uuid.UUID, []order.Event]
	orderRes      *dataloadgen.Loader[uuid.UUID, []order.Reservation]
	orderReturns  *dataloadgen.Loader[uuid.UUID, []*order.Return]
	order         *dataloadgen.Loader[uuid.UUID, *order.Order]
	counterparty  *dataloadgen.Loader[uuid.UUID, *party.Party] // unscoped: the other side of a document in scope
	visit         *visitLoaders
	ship          *shipLoaders
}

// assignedKey asks for the first Size assigned stores of User.
type assignedKey struct {
	User uuid.UUID
	Size int
}

type loadersKey struct{}

func (r *Resolver) newLoaders() *loaders {
	o := r.batchOpts()
	return &loaders{
		ship: r.newShipLoaders(),
		party: dataloadgen.NewLoader(func(ctx context.Context, ids []uuid.UUID) ([]*party.Party, []error) {
			p, err := auth.FromContext(ctx)
			if err == nil {
				var rows []*party.Party
				if rows, err = r.PartyService.GetMany(ctx, p, ids); err == nil {
					return rows, nil
				}
			}
			return make([]*party.Party, len(ids)), fill(len(ids), err)
		}, o...),
		category: byID(o, r.CatalogService.CategoriesByID),
		product:  byID(o, r.CatalogService.ProductsByID),
		sku: byID(o, func(ctx context.Context, ids []uuid.UUID) ([]*catalog.SKU, error) {
			return r.CatalogService.SKUs(ctx, nil, ids)
		}),
		price:        dataloadgen.NewLoader(r.priceLoaderFetch, o...),
		availability: dataloadgen.NewLoader(r.availabilityFetch, o...),
		listPrices: byID(o, func(ctx context.Context, ids []uuid.UUID) ([][]pricing.ListPrice, error) {
			p, err := auth.FromContext(ctx)
			if err != nil {
				return nil, err
			}
			return r.PricingService.ListPrices(ctx, p, ids, maxListPrices)
		}),
		priceCount: byID(o, func(ctx context.Context, ids []uuid.UUID) ([]int, error) {
			p, err := auth.FromContext(ctx)
			if err != nil {
				return nil, err
			}
			return r.PricingService.CountPrices(ctx, p, ids)
		}),
		assigned: dataloadgen.NewLoader(func(ctx context.Context, keys []assignedKey) ([]*party.Page, []error) {
			p, err := auth.FromContext(ctx)
			if err != nil {
				return nil, fill(len(keys), err)
			}
			// One query per page size; in practice a request uses one size.
			out := make([]*party.Page, len(keys))
			bySize := map[int][]int{}
			for i, k := range keys {
				bySize[k.Size] = append(bySize[k.Size], i)
			}
			for size, idx := range bySize {
				users := make([]uuid.UUID, len(idx))
				for j, i := range idx {
					users[j] = keys[i].User
				}
				pages, err := r.PartyService.AssignedStoresFirstPages(ctx, p, users, size)
				if err != nil {
					return nil, fill(len(keys), err)
				}
				for j, i := range idx {
					out[i] = pages[j]
				}
			}
			return out, nil
		}, o...),
		counterparty: byID(o, r.PartyService.Counterparties),
		visit:        r.newVisitLoaders(),
		orderLines:   grouped(o, r.OrderService.LinesOf),
		orderEvents:  grouped(o, r.OrderService.EventsOf),
		orderRes:     grouped(o, r.OrderService.ReservationsOf),
		orderReturns: grouped(o, r.OrderService.ReturnsOf),
		order: byID(o, func(ctx context.Context, ids []uuid.UUID) ([]*order.Order, error) {
			p, err := auth.FromContext(ctx)
			if err != nil {
				return nil, err
			}
			return r.OrderService.GetMany(ctx, p, ids)
		}),
		assignedCount: dataloadgen.NewLoader(func(ctx context.Context, users []uuid.UUID) ([]int, []error) {
			p, err := auth.FromContext(ctx)
			if err != nil {
				return nil, fill(len(users), err)
			}
			n, err := r.PartyService.CountAssignedStoresMany(ctx, p, users)
			if err != nil {
				return nil, fill(len(users), err)
			}
			return n, nil
		}, o...),
	}
}

// byID makes a loader of a batch function that returns rows in key order.
func byID[T any](o []dataloadgen.Option, fetch func(context.Context, []uuid.UUID) ([]T, error)) *dataloadgen.Loader[uuid.UUID, T] {
	return dataloadgen.NewLoader(func(ctx context.Context, ids []uuid.UUID) ([]T, []error) {
		rows, err := fetch(ctx, ids)
		if err != nil {
			return make([]T, len(ids)), fill(len(ids), err)
		}
		return rows, nil
	}, o...)
}

// grouped makes a loader of a batch function that returns rows grouped by key.
func grouped[T any](o []dataloadgen.Option, fetch func(context.Context, []uuid.UUID) (map[uuid.UUID][]T, error)) *dataloadgen.Loader[uuid.UUID, []T] {
	return byID(o, func(ctx context.Context, ids []uuid.UUID) ([][]T, error) {
		by, err := fetch(ctx, ids)
		if err != nil {
			return nil, err
		}
		out := make([][]T, len(ids))
		for i, id := range ids {
			out[i] = by[id]
		}
		return out, nil
	})
}

// maxListPrices caps PriceList.prices, as the schema says.
const maxListPrices = 1000

// batchOpts: a longer wait gathers more keys per query on a busy machine, at
// the price of latency per level of a query.
func (r *Resolver) batchOpts() []dataloadgen.Option {
	wait := r.BatchWait
	if wait <= 0 {
		wait = time.Millisecond
	}
	return []dataloadgen.Option{dataloadgen.WithWait(wait), dataloadgen.WithBatchCapacity(100)}
}

func fill(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

func withLoaders(ctx context.Context, l *loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

func loadersFrom(ctx context.Context) *loaders { return ctx.Value(loadersKey{}).(*loaders) }

// loadParty returns a party in scope, or nil when it is absent or out of scope.
func loadParty(ctx context.Context, id uuid.UUID) (*party.Party, error) {
	return loadersFrom(ctx).party.Load(ctx, id)
}

// prime fetches ids in one call and puts the rows into loader l, so the rows'
// resolvers find them without a batch round.
func prime[T any](ctx context.Context, l *dataloadgen.Loader[uuid.UUID, T], ids []uuid.UUID, fetch func(context.Context, []uuid.UUID) ([]T, error)) error {
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	rows, err := fetch(ctx, ids)
	if err != nil {
		return err
	}
	for i, id := range ids {
		l.Prime(id, rows[i])
	}
	return nil
}

// selects reports whether the current field's selection reaches path (through
// fragments), so a list resolver can fill its rows' loaders in one batch
// instead of trusting the rows' resolvers to arrive within the loader's wait.
func selects(ctx context.Context, path ...string) bool {
	fc, oc := graphql.GetFieldContext(ctx), graphql.GetOperationContext(ctx)
	if fc == nil || oc == nil || fc.Field.Field == nil {
		return false
	}
	return hasPath(fc.Field.Selections, oc.Doc.Fragments, path, 0)
}

func hasPath(set ast.SelectionSet, frags ast.FragmentDefinitionList, path []string, depth int) bool {
	if len(path) == 0 {
		return true
	}
	if depth > 32 {
		return false
	}
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if s.Name == path[0] && hasPath(s.SelectionSet, frags, path[1:], depth+1) {
				return true
			}
		case *ast.InlineFragment:
			if hasPath(s.SelectionSet, frags, path, depth+1) {
				return true
			}
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil && hasPath(f.SelectionSet, frags, path, depth+1) {
				return true
			}
		}
	}
	return false
}
