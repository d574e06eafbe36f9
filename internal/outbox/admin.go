package outbox

import (
	"context"
	"time"

	"github.com/google/uuid"

	"channelhub/internal/auth"
	"channelhub/internal/database"
)

// Admin shows HQ admins the events the dispatcher gave up on, and retries them.
type Admin struct{ DB *database.DB }

// Parked lists parked events, newest first, at most limit (1..100).
func (a Admin) Parked(ctx context.Context, p auth.Principal, limit int) ([]*Event, error) {
	if err := p.Require(auth.RoleHQAdmin); err != nil {
		return nil, err
	}
	return Parked(ctx, a.DB, min(max(limit, 1), 100))
}

// Retry queues a parked event again.
func (a Admin) Retry(ctx context.Context, p auth.Principal, id uuid.UUID) (bool, error) {
	if err := p.Require(auth.RoleHQAdmin); err != nil {
		return false, err
	}
	return Retry(ctx, a.DB, id, time.Now().UTC())
}
