package auth

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Live reports which of the principals' sessions still stand: not revoked,
// the user and its party active, the session version unchanged. It is
// Authenticate's database check for many open sockets at once, without the
// token (its signature cannot change; its expiry is the socket's deadline):
// one query per 1,000 sessions.
func (s *Service) Live(ctx context.Context, ps []Principal) (map[uuid.UUID]bool, error) {
	live := make(map[uuid.UUID]bool, len(ps))
	for chunk := range slices.Chunk(ps, 1000) {
		ids := make([]uuid.UUID, len(chunk))
		for i, p := range chunk {
			ids[i] = p.SessionID
		}
		var rows []struct {
			SessionID      uuid.UUID `bun:"session_id"`
			UserID         uuid.UUID `bun:"user_id"`
			PartyID        uuid.UUID `bun:"party_id"`
			SessionVersion int64     `bun:"session_version"`
		}
		err := s.db.NewSelect().TableExpr("sessions AS s").
			Join("JOIN users AS u ON u.id = s.user_id").
			Join("JOIN parties AS p ON p.id = u.party_id").
			ColumnExpr("s.id AS session_id, u.id AS user_id, u.party_id, u.session_version").
			Where("s.id IN (?) AND s.revoked_at IS NULL AND u.status = 'ACTIVE' AND p.status = 'ACTIVE'", bun.List(ids)).
			Scan(ctx, &rows)
		if err != nil {
			return nil, fmt.Errorf("auth: check sessions: %w", err)
		}
		type key struct {
			session, user, party uuid.UUID
			version              int64
		}
		good := make(map[key]bool, len(rows))
		for _, r := range rows {
			good[key{r.SessionID, r.UserID, r.PartyID, r.SessionVersion}] = true
		}
		for _, p := range chunk {
			live[p.SessionID] = good[key{p.SessionID, p.UserID, p.PartyID, p.SessionVersion}]
		}
	}
	return live, nil
}
