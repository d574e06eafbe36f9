// Package audit writes the append-only log of console actions that change
// money, credit, prices, status or access.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/requestid"
)

// Entry is one audited action.
type Entry struct {
	bun.BaseModel `bun:"table:audit_log"`

	ID           uuid.UUID  `bun:"id,pk"`
	At           time.Time  `bun:"at"`
	ActorUserID  *uuid.UUID `bun:"actor_user_id"`
	ActorPartyID *uuid.UUID `bun:"actor_party_id"`
	Action       string     `bun:"action"`
	TargetType   string     `bun:"target_type"`
	TargetID     string     `bun:"target_id"`
	BeforeJSON   string     `bun:"before_json"`
	AfterJSON    string     `bun:"after_json"`
	Reason       string     `bun:"reason"`
	RequestID    string     `bun:"request_id"`
}

// Record writes one entry inside the caller's transaction, so the action and
// its audit line commit or roll back together. before and after are marshalled as JSON.
func Record(ctx context.Context, db bun.IDB, p auth.Principal, action, targetType, targetID string, before, after any, reason string) error {
	q, err := Insert(ctx, db, p, action, targetType, targetID, before, after, reason)
	if err != nil {
		return err
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("audit: record %s: %w", action, err)
	}
	return nil
}

// Insert is Record's statement, for a caller that sends its writes together.
func Insert(ctx context.Context, db bun.IDB, p auth.Principal, action, targetType, targetID string, before, after any, reason string) (*bun.InsertQuery, error) {
	e := &Entry{
		ID: uuid.Must(uuid.NewV7()), At: time.Now().UTC(),
		Action: action, TargetType: targetType, TargetID: targetID,
		Reason: reason, RequestID: requestid.From(ctx),
	}
	if p.UserID != uuid.Nil {
		e.ActorUserID, e.ActorPartyID = &p.UserID, &p.PartyID
	}
	var err error
	if e.BeforeJSON, err = marshal(before); err != nil {
		return nil, err
	}
	if e.AfterJSON, err = marshal(after); err != nil {
		return nil, err
	}
	return db.NewInsert().Model(e), nil
}

func marshal(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("audit: marshal: %w", err)
	}
	return string(b), nil
}
