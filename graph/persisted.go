package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"channelhub/internal/auth"
	"channelhub/internal/i18n"
	"channelhub/internal/persisted"
)

// codePersistedQueryNotAllowed answers an operation outside the manifest when
// persisted queries are enforced: an app build that is not released.
const codePersistedQueryNotAllowed = "PERSISTED_QUERY_NOT_ALLOWED"

// usePersisted wires persisted queries by mode: off runs only full texts;
// allow (the zero value) looks a hash up in the manifest and then in the
// automatic persisted-query cache; enforce runs only manifest operations.
func usePersisted(srv *handler.Server, o Options) {
	switch o.PersistedQueries {
	case persisted.Off:
		return
	case persisted.Enforce:
		srv.Use(extension.AutomaticPersistedQuery{Cache: manifestCache{m: o.Manifest}})
		srv.Use(enforcePersisted{m: o.Manifest, adHocAdmins: o.Development, known: lru.New[bool](1000)})
	default:
		srv.Use(extension.AutomaticPersistedQuery{Cache: manifestCache{m: o.Manifest, next: o.APQCache}})
	}
}

// manifestCache answers hashes from the manifest first, then from next (nil:
// nothing else; registrations are dropped).
type manifestCache struct {
	m    *persisted.Manifest
	next graphql.Cache[string]
}

func (c manifestCache) Get(ctx context.Context, key string) (string, bool) {
	if body, ok := c.m.Body(key); ok {
		return body, true
	}
	if c.next == nil {
		return "", false
	}
	return c.next.Get(ctx, key)
}

func (c manifestCache) Add(ctx context.Context, key, value string) {
	if c.next != nil {
		c.next.Add(ctx, key, value)
	}
}

// enforcePersisted lets through only operations whose canonical text is in
// the manifest, whatever layout, comments or fragment order the client sent.
// In development an HQ admin may run anything, to explore.
type enforcePersisted struct {
	m           *persisted.Manifest
	adHocAdmins bool
	known       graphql.Cache[bool] // texts seen, by hash and operation: printing one costs ~0.4 ms
}

func (enforcePersisted) ExtensionName() string                   { return "PersistedQueryEnforce" }
func (enforcePersisted) Validate(graphql.ExecutableSchema) error { return nil }
func (e enforcePersisted) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	raw := persisted.Hash(oc.RawQuery)
	if _, ok := e.m.Body(raw); ok {
		return nil
	}
	key := raw + "/" + oc.OperationName
	allowed, seen := e.known.Get(ctx, key)
	if !seen {
		if op := oc.Doc.Operations.ForName(oc.OperationName); op != nil {
			_, allowed = e.m.Body(persisted.Hash(persisted.Canonical(oc.Doc, op)))
		}
		e.known.Add(ctx, key, allowed)
	}
	if allowed {
		return nil
	}
	if p, err := auth.FromContext(ctx); e.adHocAdmins && err == nil && p.Has(auth.RoleHQAdmin) {
		return nil
	}
	return &gqlerror.Error{
		Message:    i18n.T(ctx, "error.PERSISTED_QUERY_NOT_ALLOWED", nil),
		Extensions: map[string]any{"code": codePersistedQueryNotAllowed},
	}
}
