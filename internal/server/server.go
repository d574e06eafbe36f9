// Package server assembles the running API from its configuration: database,
// Redis, keys, services, the GraphQL handler and the HTTP routes around it.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/playground"
	"github.com/alexedwards/argon2id"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/rs/cors"

	"channelhub/graph"
	"channelhub/internal/auth"
	"channelhub/internal/broker"
	"channelhub/internal/cart"
	"channelhub/internal/catalog"
	"channelhub/internal/channel"
	"channelhub/internal/config"
	"channelhub/internal/credit"
	"channelhub/internal/database"
	"channelhub/internal/epoch"
	"channelhub/internal/inventory"
	"channelhub/internal/media"
	"channelhub/internal/notify"
	"channelhub/internal/order"
	"channelhub/internal/outbox"
	"channelhub/internal/party"
	"channelhub/internal/persisted"
	"channelhub/internal/pricing"
	"channelhub/internal/ratelimit"
	"channelhub/internal/receipt"
	"channelhub/internal/seed"
	"channelhub/internal/serial"
	"channelhub/internal/shipment"
	"channelhub/internal/transfer"
	"channelhub/internal/visit"
	contracts "channelhub/mobile-contracts"
)

// Deps are the parts a test may swap; zero values take production defaults.
type Deps struct {
	Log            *slog.Logger
	PasswordParams *argon2id.Params
	Auth           auth.Config
	RedisPrefix    string // namespace of every Redis key; default "channelhub:"
}

// Server is one API instance.
type Server struct {
	Config    config.Config
	DB        *database.DB
	Redis     *redis.Client // nil without CHANNELHUB_REDIS_URL
	Keys      *auth.KeySet
	Auth      *auth.Service
	Parties   *party.Service
	Catalog   *catalog.Service
	Pricing   *pricing.Service
	Cart      *cart.Service
	Inventory *inventory.Service
	Credit    *credit.Service
	Orders    *order.Service
	Serials   *serial.Service
	Shipments *shipment.Service
	Receipts  *receipt.Service
	Transfers *transfer.Service
	Broker    broker.Broker
	Notify    *notify.Service
	Media     media.Store // S3 when CHANNELHUB_S3_ENDPOINT is set, else the local directory
	Visits    *visit.Service
	Channel   *channel.Service
	Handler   http.Handler
	Seeded    bool // this start seeded the demo channel

	log         *slog.Logger
	redisPrefix string
	dispatcher  *outbox.Dispatcher
	// catalogEpoch answers the response cache's epoch from memory between
	// catalogue changes.
	catalogEpoch *epoch.Watcher
	manifest     *persisted.Manifest // the apps' operations, for persisted queries
}

// New opens everything cfg names, applies migrations, seeds the demo channel
// when asked and the database is empty, and builds the HTTP handler.
func New(ctx context.Context, cfg config.Config, d Deps) (s *Server, err error) {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.RedisPrefix == "" {
		d.RedisPrefix = "channelhub:"
	}
	s = &Server{Config: cfg, log: d.Log, redisPrefix: d.RedisPrefix}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.DB, err = database.Open(ctx, cfg.DatabaseDSN()); err != nil {
		return nil, err
	}
	if s.DB.IsPostgres() {
		s.DB.SetPoolSize(cfg.DatabaseMaxConns)
	}
	applied, err := s.DB.Migrate(ctx)
	if err != nil {
		return nil, err
	}
	if len(applied) > 0 {
		d.Log.Info("migrations applied", "count", len(applied), "dialect", s.DB.DialectName)
	}
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, errors.New("server: CHANNELHUB_REDIS_URL is invalid")
		}
		s.Redis = redis.NewClient(opt)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := s.Redis.Ping(pctx).Err(); err != nil {
			return nil, fmt.Errorf("server: redis: %w", err)
		}
	}
	if s.Keys, err = auth.LoadKeySet(cfg.JWTSigningKeyFile, cfg.JWTVerifyKeyFiles); err != nil {
		return nil, err
	}
	hasher := auth.NewPasswordHasher(d.PasswordParams)
	ac := d.Auth
	ac.AccessTTL, ac.RefreshTTL, ac.SessionCacheTTL = cfg.AccessTokenTTL, cfg.RefreshTokenTTL, cfg.SessionCacheTTL
	s.Auth = auth.NewService(s.DB, s.Keys, hasher, ac)
	s.Parties = party.NewService(s.DB, hasher)
	s.Catalog = catalog.NewService(s.DB, s.Parties)
	s.Pricing = pricing.NewService(s.DB, s.Catalog, s.Parties)
	s.Cart = cart.NewService(s.DB, s.Parties, s.Catalog, s.Pricing)
	s.Inventory = inventory.NewService(s.DB)
	s.Credit = credit.NewService(s.DB, s.Parties)
	s.Orders = order.NewService(s.DB, s.Parties, s.Pricing, s.Cart, cfg.TimeZone)
	s.Serials = serial.NewService(s.DB, s.Inventory)
	s.Shipments = shipment.NewService(s.DB, s.Orders, s.Inventory)
	s.Receipts = receipt.NewService(s.DB, s.Orders, s.Shipments, s.Inventory)
	s.Transfers = transfer.NewService(s.DB, s.Parties, s.Orders, s.Inventory, s.Shipments)
	if cfg.SeedDemo {
		if s.Seeded, err = seed.Demo(ctx, s.DB, hasher); err != nil {
			return nil, err
		}
	}
	if s.Broker, err = s.openBroker(); err != nil {
		return nil, err
	}
	if err := s.shareSessionChanges(ctx); err != nil {
		return nil, err
	}
	if err := s.shareEpochChanges(ctx); err != nil {
		return nil, err
	}
	sender, err := s.openSender(ctx)
	if err != nil {
		return nil, err
	}
	s.Notify = notify.NewService(s.DB, sender, s.Broker, d.Log)
	if s.manifest, err = contracts.Manifest(); err != nil {
		return nil, err
	}
	if s.Media, err = openMedia(ctx, cfg); err != nil {
		return nil, err
	}
	s.Visits = visit.NewService(s.DB, s.Media, cfg.TimeZone)
	s.Channel = channel.NewService(s.DB, s.Parties, cfg.TimeZone)
	s.Handler = s.routes(d.Log)
	// Start-up garbage (migrations, the seed's 19 MiB password hash) goes back
	// to the OS now rather than minutes later, so an idle instance stays small.
	debug.FreeOSMemory()
	return s, nil
}

func (s *Server) routes(log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.dispatcher = s.newDispatcher(reg)
	var apq graphql.Cache[string] = graph.NewAPQMemoryCache()
	var limiter ratelimit.Limiter = ratelimit.NewMemory(100_000)
	if s.Redis != nil {
		apq = graph.NewAPQRedisCache(s.Redis, s.redisPrefix)
		limiter = ratelimit.NewRedis(s.Redis, s.redisPrefix+"rate:")
	}
	var catalogEpoch func(context.Context) (int64, error)
	if s.Config.ResponseCacheTTL > 0 {
		catalogEpoch = s.catalogEpoch.Read
	}
	gql := graph.NewHandler(graph.Options{
		Resolver: &graph.Resolver{AuthService: s.Auth, PartyService: s.Parties, CatalogService: s.Catalog,
			PricingService: s.Pricing, CartService: s.Cart, InventoryService: s.Inventory,
			CreditService: s.Credit, OrderService: s.Orders, Broker: s.Broker, NotifyService: s.Notify,
			Outbox: outbox.Admin{DB: s.DB}, VisitService: s.Visits,
			SerialService: s.Serials, ShipmentService: s.Shipments, ReceiptService: s.Receipts, TransferService: s.Transfers,
			ChannelService: s.Channel,
			Currency:       s.Config.Currency, Log: log, BatchWait: s.Config.BatchWait},
		Development:     s.Config.Development(),
		DepthLimit:      s.Config.QueryDepthLimit,
		SessionCheck:    s.Config.LiveSessionCheck,
		ComplexityLimit: s.Config.QueryComplexityLimit,
		APQCache:        apq,
		Registerer:      reg,
		AllowedOrigins:  s.Config.AllowedOrigins,
		MaxBodyBytes:    s.Config.MaxBodyBytes,
		Limiter:         limiter,
		CatalogEpoch:    catalogEpoch,
		CacheTTL:        s.Config.ResponseCacheTTL,
		LoginLimit:      ratelimit.PerMinute(s.Config.LoginRatePerMinute, max(1, s.Config.LoginRatePerMinute/3)),
		MutationLimit:   ratelimit.PerMinute(s.Config.MutationRatePerMinute, max(1, s.Config.MutationRatePerMinute/6)),

		PersistedQueries: s.Config.PersistedQueries,
		Manifest:         s.manifest,
		Committed:        s.dispatcher.Wake,
	})
	mux := http.NewServeMux()
	var api http.Handler = limitBody(s.Config.MaxBodyBytes, graph.AuthMiddleware(s.Auth, gql))
	if len(s.Config.AllowedOrigins) > 0 { // without origins, browsers get same-origin only; rs/cors would allow "*"
		api = cors.New(cors.Options{
			AllowedOrigins: s.Config.AllowedOrigins,
			AllowedMethods: []string{http.MethodGet, http.MethodPost},
			AllowedHeaders: []string{"Authorization", "Content-Type", "Accept-Language", "X-Request-Id"},
			ExposedHeaders: []string{"X-Request-Id"},
			MaxAge:         600,
		}).Handler(api)
	}
	mux.Handle("/graphql", api)
	mux.Handle("GET /.well-known/jwks.json", s.Keys)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("POST /carrier/tracking", s.carrierTracking(log))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if h, ok := s.Media.(media.Handler); ok {
		h.Routes(mux)
	}
	if s.Config.Development() {
		mux.Handle("GET /{$}", playground.Handler("Channelhub GraphiQL", "/graphql"))
	}
	return withRequest(log, s.Config.TrustedProxies, mux)
}

// ready answers 200 only when the database and Redis (if configured) answer.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.PingContext(ctx); err != nil {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	if s.Redis != nil {
		if err := s.Redis.Ping(ctx).Err(); err != nil {
			http.Error(w, "redis unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ready\n"))
}

// sweep clears expired sign-in state every interval until ctx ends. Several
// instances sweeping at once only repeat each other's deletes.
func (s *Server) sweep(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a, n, err := s.Auth.Sweep(ctx, 10_000)
			if err != nil {
				s.log.Warn("sweep", "err", err)
				continue
			}
			if a+n > 0 {
				s.log.Info("swept", "login_attempts", a, "sessions", n)
			}
		}
	}
}

// Close releases the broker, the database and Redis.
func (s *Server) Close() {
	if s.catalogEpoch != nil {
		s.catalogEpoch.Close()
	}
	if s.Broker != nil {
		_ = s.Broker.Close()
	}
	if s.Redis != nil {
		_ = s.Redis.Close()
	}
	if s.DB != nil {
		_ = s.DB.Close()
	}
}

// Serve answers on ln until ctx ends, then drains in-flight requests for up
// to the shutdown timeout. ready, if not nil, is called once listening.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	go s.sweep(ctx, 10*time.Minute)
	s.Background(ctx)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.Config.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("server: shutdown: %w", err)
	}
	return nil
}
