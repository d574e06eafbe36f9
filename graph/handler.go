package graph

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/clientip"
	"channelhub/internal/i18n"
	"channelhub/internal/persisted"
	"channelhub/internal/ratelimit"
	"channelhub/internal/requestid"
	"channelhub/internal/wsgql"
)

// Options configure the GraphQL endpoint.
type Options struct {
	Resolver        *Resolver
	Development     bool // introspection on
	DepthLimit      int
	ComplexityLimit int
	APQCache        graphql.Cache[string]
	Registerer      prometheus.Registerer
	AllowedOrigins  []string
	MaxBodyBytes    int64
	SessionCheck    time.Duration // how often a WebSocket re-checks its session (default 30 s)
	Limiter         ratelimit.Limiter
	CatalogEpoch    func(context.Context) (int64, error) // nil: no response cache
	CacheTTL        time.Duration
	LoginLimit      ratelimit.Limit // sign-in mutations, per client IP
	MutationLimit   ratelimit.Limit // other mutations, per user (per IP when anonymous)

	// PersistedQueries is off, allow ("", today's default) or enforce; Manifest
	// holds the apps' operations (see mobile-contracts).
	PersistedQueries persisted.Mode
	Manifest         *persisted.Manifest

	// Committed runs after each mutation (its transactions are over): the
	// server wakes its outbox dispatcher there, so events go out at once.
	Committed func()
}

// NewHandler builds the /graphql endpoint: POST, GET, and WebSocket
// (graphql-transport-ws and legacy graphql-ws) with the limits of the house.
func NewHandler(o Options) *handler.Server {
	cfg := Config{Resolvers: o.Resolver, Directives: directives()}
	cfg.Complexity.Query.Parties = func(c int, first *int, _ *string, _ *model.PartyFilter) int { return pageCost(c, first) }
	cfg.Complexity.Query.Users = func(c int, first *int, _ *string, _ *model.UserFilter) int { return pageCost(c, first) }
	cfg.Complexity.User.AssignedStores = func(c int, first *int, _ *string) int { return pageCost(c, first) }
	cfg.Complexity.Query.Catalog = func(c int, first *int, _ *string, _ *model.CatalogFilter, _ *string) int { return pageCost(c, first) }

	srv := handler.New(NewExecutableSchema(cfg))
	ws := wsgql.New(wsgql.Options{
		InitFunc:       wsInit(o.Resolver.AuthService, o.SessionCheck),
		InitTimeout:    10 * time.Second,
		KeepAlive:      25 * time.Second,
		ReadLimit:      o.MaxBodyBytes,
		AllowedOrigins: o.AllowedOrigins,
	})
	registerWebsocketMetrics(o.Registerer, ws)
	srv.AddTransport(ws)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(postTransport{})
	srv.SetQueryCache(newQueryCache())
	if o.Development {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{})
	}
	usePersisted(srv, o)
	srv.Use(extension.FixedComplexityLimit(o.ComplexityLimit))
	srv.Use(depthLimit(o.DepthLimit))
	srv.Use(textGuard{})
	srv.Use(newMetrics(o.Registerer))
	if o.CatalogEpoch != nil {
		srv.Use(newResponseCache(o.CatalogEpoch, o.CacheTTL))
	}
	srv.SetErrorPresenter(presenter(o.Resolver.Log))
	srv.SetRecoverFunc(recoverer(o.Resolver.Log))
	srv.AroundRootFields(o.rateLimit)
	// Loaders per response: a subscription's every message reads fresh.
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(withLoaders(ctx, o.Resolver.newLoaders()))
		if o.Committed != nil && graphql.HasOperationContext(ctx) {
			if op := graphql.GetOperationContext(ctx).Operation; op != nil && op.Operation == ast.Mutation {
				o.Committed()
			}
		}
		return resp
	})
	return srv
}

// signInFields are limited per IP, strictly: they are where passwords are guessed.
var signInFields = map[string]bool{"authLogin": true, "authRefresh": true, "authPasswordChange": true}

// rateLimit refuses a mutation over its caller's budget with RATE_LIMITED and
// retryAfterSeconds. A limiter fault lets the call through: an outage of Redis
// must not lock everyone out; the per-phone login lock still holds.
func (o Options) rateLimit(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	oc := graphql.GetOperationContext(ctx)
	if o.Limiter == nil || oc.Operation == nil || oc.Operation.Operation != ast.Mutation {
		return next(ctx)
	}
	field := graphql.GetRootFieldContext(ctx).Field.Name
	key, lim := "mut:ip:"+clientip.From(ctx), o.MutationLimit
	if signInFields[field] {
		key, lim = "login:ip:"+clientip.From(ctx), o.LoginLimit
	} else if p, err := auth.FromContext(ctx); err == nil {
		key = "mut:user:" + p.UserID.String()
	}
	ok, retry, err := o.Limiter.Allow(ctx, key, lim)
	if err != nil {
		o.Resolver.Log.WarnContext(ctx, "rate limiter unavailable", "err", err)
		return next(ctx)
	}
	if ok {
		return next(ctx)
	}
	e := newError(ctx, model.ErrorCodeRateLimited, "error.RATE_LIMITED")
	e.Path = ast.Path{ast.PathName(field)}
	e.Extensions["retryAfterSeconds"] = int(math.Ceil(retry.Seconds()))
	graphql.AddError(ctx, e)
	return graphql.Null
}

// wsInit authenticates a WebSocket from its connection_init payload; a bad
// token closes the socket with 4403, the only signal graphql-transport-ws
// has. A fault on our side closes it with 1011, which clients retry: it
// must not tell the phone its session is dead.
func wsInit(a *auth.Service, every time.Duration) func(context.Context, wsgql.InitPayload) (context.Context, error) {
	if every <= 0 {
		every = 30 * time.Second
	}
	return func(ctx context.Context, payload wsgql.InitPayload) (context.Context, error) {
		token := strings.TrimSpace(strings.TrimPrefix(payload.Authorization(), "Bearer "))
		p, err := a.Authenticate(ctx, token)
		if errors.Is(err, auth.ErrUnauthenticated) {
			return nil, &wsgql.CloseError{Code: wsgql.CloseForbidden, Reason: "Forbidden"}
		}
		if err != nil {
			slog.ErrorContext(ctx, "authenticate websocket", "err", err, "request_id", requestid.From(ctx))
			return nil, &wsgql.CloseError{Code: wsgql.CloseInternal, Reason: "internal error: try again"}
		}
		return liveSession(auth.WithPrincipal(ctx, p), a, p, every), nil
	}
}

// registerWebsocketMetrics puts the transport's open sockets and slow-reader
// closes on /metrics.
func registerWebsocketMetrics(reg prometheus.Registerer, ws *wsgql.Transport) {
	if reg == nil {
		return
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "channelhub", Name: "websockets_open",
			Help: "Open GraphQL WebSockets."}, func() float64 { return float64(ws.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "channelhub", Name: "websockets_slow_closed_total",
			Help: "WebSockets closed with 4410 because their send buffer overflowed (the client reads too slowly)."},
			func() float64 { return float64(ws.SlowClosed()) }),
	)
}

// depth rejects operations nested deeper than a limit, before any resolver
// runs. Introspection fields are exempt: they only run in development.
type depth int

func depthLimit(n int) depth { return depth(n) }

func (depth) ExtensionName() string                   { return "DepthLimit" }
func (depth) Validate(graphql.ExecutableSchema) error { return nil }
func (d depth) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Doc.Operations.ForName(oc.OperationName)
	if op == nil {
		return nil
	}
	if selectionDepth(op.SelectionSet, oc.Doc.Fragments, 0) > int(d) {
		return &gqlerror.Error{
			Message:    i18n.T(ctx, "error.INVALID_REQUEST.depth", nil),
			Extensions: map[string]any{"code": model.ErrorCodeInvalidRequest.String(), "reason": "DEPTH_LIMIT_EXCEEDED"},
		}
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, frags ast.FragmentDefinitionList, level int) int {
	if level > 100 { // validation forbids fragment cycles; this bounds the walk anyway
		return level
	}
	most := level
	for _, s := range set {
		var d int
		switch s := s.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				continue
			}
			d = level + 1
			if len(s.SelectionSet) > 0 {
				d = selectionDepth(s.SelectionSet, frags, level+1)
			}
		case *ast.InlineFragment:
			d = selectionDepth(s.SelectionSet, frags, level)
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil {
				d = selectionDepth(f.SelectionSet, frags, level)
			}
		}
		most = max(most, d)
	}
	return most
}

// textGuard refuses NUL bytes and invalid UTF-8 anywhere in a request's text:
// PostgreSQL cannot store them and no person types them.
type textGuard struct{}

func (textGuard) ExtensionName() string                   { return "TextGuard" }
func (textGuard) Validate(graphql.ExecutableSchema) error { return nil }
func (textGuard) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if cleanText(oc.RawQuery) && !strings.Contains(oc.RawQuery, `\u0000`) && cleanValue(oc.Variables, 0) {
		return nil
	}
	return &gqlerror.Error{
		Message:    i18n.T(ctx, "error.INVALID_REQUEST", nil),
		Extensions: map[string]any{"code": model.ErrorCodeInvalidRequest.String(), "reason": "INVALID_TEXT"},
	}
}

func cleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

func cleanValue(v any, level int) bool {
	if level > 64 {
		return false
	}
	switch v := v.(type) {
	case string:
		return cleanText(v)
	case map[string]any:
		for k, x := range v {
			if !cleanText(k) || !cleanValue(x, level+1) {
				return false
			}
		}
	case []any:
		for _, x := range v {
			if !cleanValue(x, level+1) {
				return false
			}
		}
	}
	return true
}

// noIntrospection refuses __schema and __type outside development with a
// clear code, instead of the resolver error gqlgen would raise.
type noIntrospection struct{}

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }
func (noIntrospection) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Doc.Operations.ForName(oc.OperationName)
	if op == nil || !hasIntrospection(op.SelectionSet, oc.Doc.Fragments, 0) {
		return nil
	}
	return &gqlerror.Error{
		Message:    i18n.T(ctx, "error.INVALID_REQUEST.introspection", nil),
		Extensions: map[string]any{"code": model.ErrorCodeInvalidRequest.String(), "reason": "INTROSPECTION_DISABLED"},
	}
}

func hasIntrospection(set ast.SelectionSet, frags ast.FragmentDefinitionList, level int) bool {
	if level > 100 {
		return false
	}
	for _, s := range set {
		switch s := s.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" || hasIntrospection(s.SelectionSet, frags, level+1) {
				return true
			}
		case *ast.InlineFragment:
			if hasIntrospection(s.SelectionSet, frags, level+1) {
				return true
			}
		case *ast.FragmentSpread:
			if f := frags.ForName(s.Name); f != nil && hasIntrospection(f.SelectionSet, frags, level+1) {
				return true
			}
		}
	}
	return false
}

// metrics records each operation's latency by name, for /metrics.
type metrics struct{ hist *prometheus.HistogramVec }

var opNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

func newMetrics(reg prometheus.Registerer) metrics {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "channelhub", Name: "graphql_operation_duration_seconds",
		Help:    "Latency of GraphQL operations by operation name, type and outcome.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"operation", "type", "outcome"})
	if reg != nil {
		reg.MustRegister(h)
	}
	return metrics{hist: h}
}

func (metrics) ExtensionName() string                   { return "Metrics" }
func (metrics) Validate(graphql.ExecutableSchema) error { return nil }
func (m metrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	name, typ := "invalid", "unknown"
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		start = oc.Stats.OperationStart
		name = "anonymous"
		opName := oc.OperationName
		if opName == "" && oc.Operation != nil {
			opName = oc.Operation.Name
		}
		if opName != "" {
			name = "other"
			if opNameRE.MatchString(opName) {
				name = opName
			}
		}
		if oc.Operation != nil {
			typ = string(oc.Operation.Operation)
		}
	}
	if typ == string(ast.Subscription) {
		return resp // a subscription's responses are events, not latency
	}
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "error"
	}
	m.hist.WithLabelValues(name, typ, outcome).Observe(time.Since(start).Seconds())
	return resp
}

// AuthMiddleware puts the Principal of a valid Bearer token into the request
// context. A missing token leaves the request anonymous; a bad one is refused
// with 401, so a client never mistakes an expired session for a public answer.
func AuthMiddleware(a *auth.Service, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		scheme, token, _ := strings.Cut(h, " ")
		p, err := a.Authenticate(r.Context(), strings.TrimSpace(token))
		if !strings.EqualFold(scheme, "Bearer") || errors.Is(err, auth.ErrUnauthenticated) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			WriteError(w, r, http.StatusUnauthorized, model.ErrorCodeUnauthenticated, "error.UNAUTHENTICATED")
			return
		}
		if err != nil { // a fault on our side must not tell the phone its session is dead
			slog.ErrorContext(r.Context(), "authenticate", "err", err, "request_id", requestid.From(r.Context()))
			WriteError(w, r, http.StatusServiceUnavailable, model.ErrorCodeInternal, "error.INTERNAL")
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// WriteError answers a request refused before GraphQL runs, in GraphQL's shape.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code model.ErrorCode, msgID string) {
	resp := graphql.Response{Errors: gqlerror.List{newError(r.Context(), code, msgID)}}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = jsonEncode(w, resp)
}
