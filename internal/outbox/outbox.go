// Package outbox keeps the events that domain transactions write beside their
// changes, so a committed change is never without its event and an event never
// describes a change that rolled back. Delivery reads them from the table.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Event is one fact for subscribers and pushes. ID lets consumers drop
// duplicates, since delivery is at least once.
type Event struct {
	bun.BaseModel `bun:"table:outbox_events,alias:oe"`

	ID            uuid.UUID  `bun:"id,pk"`
	Topic         string     `bun:"topic"`
	AggregateType string     `bun:"aggregate_type"`
	AggregateID   string     `bun:"aggregate_id"`
	Type          string     `bun:"type"`
	Payload       string     `bun:"payload"`
	CreatedAt     time.Time  `bun:"created_at"`
	Attempts      int        `bun:"attempts"`
	NextAttemptAt time.Time  `bun:"next_attempt_at"`
	DeliveredAt   *time.Time `bun:"delivered_at"`
	ParkedAt      *time.Time `bun:"parked_at"`
	LastError     string     `bun:"last_error"`
}

// New builds an event; payload is marshalled as JSON.
func New(topic, aggregateType, aggregateID, typ string, payload any, at time.Time) (*Event, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("outbox: payload of %s: %w", typ, err)
	}
	return &Event{ID: uuid.Must(uuid.NewV7()), Topic: topic, AggregateType: aggregateType, AggregateID: aggregateID,
		Type: typ, Payload: string(b), CreatedAt: at, NextAttemptAt: at}, nil
}

// Add writes events inside the caller's transaction.
func Add(ctx context.Context, tx bun.IDB, events ...*Event) error {
	if len(events) == 0 {
		return nil
	}
	if _, err := Insert(tx, events).Exec(ctx); err != nil {
		return fmt.Errorf("outbox: add: %w", err)
	}
	return nil
}

// Insert is Add's statement, for a caller that batches its writes.
func Insert(tx bun.IDB, events []*Event) *bun.InsertQuery {
	return tx.NewInsert().Model(&events)
}
