package graph

import (
	"log/slog"

	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/party"
)

// Resolver holds the services the thin resolvers call.
type Resolver struct {
	AuthService    *auth.Service
	PartyService   *party.Service
	CatalogService *catalog.Service
	Currency       string
	Log            *slog.Logger
}
