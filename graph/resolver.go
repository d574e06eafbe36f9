package graph

import (
	"log/slog"

	"channelhub/internal/auth"
	"channelhub/internal/party"
)

// Resolver holds the services the thin resolvers call.
type Resolver struct {
	AuthService  *auth.Service
	PartyService *party.Service
	Log          *slog.Logger
}
