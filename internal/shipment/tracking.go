package shipment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// TrackingStatus is a carrier's report on a parcel.
type TrackingStatus string

const (
	TrackingInTransit      TrackingStatus = "IN_TRANSIT"
	TrackingOutForDelivery TrackingStatus = "OUT_FOR_DELIVERY"
	TrackingDelivered      TrackingStatus = "DELIVERED"
	TrackingException      TrackingStatus = "EXCEPTION"
)

// Valid reports a status the carrier endpoint accepts.
func (t TrackingStatus) Valid() bool {
	switch t {
	case TrackingInTransit, TrackingOutForDelivery, TrackingDelivered, TrackingException:
		return true
	}
	return false
}

// Limits of a tracking update.
const (
	MaxCarrierEventID = 100
	MaxLocation       = 200
)

// Tracking errors; the carrier handler maps each to a code.
var (
	ErrUnknownTrackingStatus = errors.New("shipment: unknown tracking status")
	ErrUnknownTracking       = errors.New("shipment: no shipment has this tracking number")
)

// TrackingUpdate is one status update a carrier posted for a tracking number.
type TrackingUpdate struct {
	EventID        string
	TrackingNumber string
	Status         TrackingStatus
	At             time.Time
	Location       string
	Note           string
}

// TrackingResult is what a tracking update did.
type TrackingResult struct {
	ShipmentID uuid.UUID
	Status     Status // the shipment's status afterwards
	Duplicate  bool   // the event id was applied before; nothing changed
}

// carrierEvent records an applied carrier event id (unique), so a replay is a no-op.
type carrierEvent struct {
	bun.BaseModel `bun:"table:carrier_events"`

	EventID    string    `bun:"event_id,pk"`
	ShipmentID uuid.UUID `bun:"shipment_id"`
	Status     string    `bun:"status"`
	HappenedAt time.Time `bun:"happened_at"`
	CreatedAt  time.Time `bun:"created_at"`
}

func (u *TrackingUpdate) check() error {
	u.EventID, u.TrackingNumber = strings.TrimSpace(u.EventID), strings.TrimSpace(u.TrackingNumber)
	u.Location, u.Note = strings.TrimSpace(u.Location), strings.TrimSpace(u.Note)
	if !u.Status.Valid() {
		return ErrUnknownTrackingStatus
	}
	switch {
	case u.EventID == "" || utf8.RuneCountInString(u.EventID) > MaxCarrierEventID:
		return fmt.Errorf("%w: eventId", ErrInvalidInput)
	case u.TrackingNumber == "" || utf8.RuneCountInString(u.TrackingNumber) > MaxTracking:
		return fmt.Errorf("%w: trackingNumber", ErrInvalidInput)
	case u.At.IsZero():
		return fmt.Errorf("%w: at", ErrInvalidInput)
	case utf8.RuneCountInString(u.Location) > MaxLocation:
		return fmt.Errorf("%w: location", ErrInvalidInput)
	case utf8.RuneCountInString(u.Note) > MaxNote:
		return fmt.Errorf("%w: note", ErrInvalidInput)
	}
	return nil
}

// Track applies a carrier's (already authenticated) update in one transaction:
// the event id is recorded once, a step goes on the shipment's timeline with
// an outbox event, and DELIVERED on a dispatched shipment delivers it exactly
// as Deliver does (emitting shipment.delivered). Other updates emit
// shipment.tracking. A replayed event id changes nothing.
func (s *Service) Track(ctx context.Context, u TrackingUpdate) (*TrackingResult, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	var out *TrackingResult
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		sh := new(Shipment)
		// The newest live shipment with the number: a reshipment may reuse a carrier's number.
		err := tx.NewSelect().Model(sh).Where("sh.tracking_number = ?", u.TrackingNumber).
			Where("sh.status <> ?", StatusCancelled).OrderExpr("sh.created_at DESC, sh.id DESC").Limit(1).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrUnknownTracking
		}
		if err != nil {
			return fmt.Errorf("shipment: tracking: %w", err)
		}
		res, err := tx.NewInsert().Model(&carrierEvent{EventID: u.EventID, ShipmentID: sh.ID, Status: string(u.Status),
			HappenedAt: u.At.UTC(), CreatedAt: s.Now()}).On("CONFLICT (event_id) DO NOTHING").Exec(ctx)
		if err != nil {
			return fmt.Errorf("shipment: carrier event: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			out = &TrackingResult{ShipmentID: sh.ID, Status: sh.Status, Duplicate: true}
			return nil
		}
		detail := trackingDetail(u)
		typ := EventTracking
		if u.Status == TrackingDelivered && sh.Status == StatusDispatched {
			switch err := s.move(ctx, tx, sh, StatusDispatched, StatusDelivered); {
			case err == nil:
				typ = EventDelivered
			case !errors.Is(err, ErrInvalidTransition): // a person delivered it meanwhile: only a timeline step
				return err
			}
		}
		if err := s.event(ctx, tx, sh, string(u.Status), typ, "CARRIER", detail, nil); err != nil {
			return err
		}
		out = &TrackingResult{ShipmentID: sh.ID, Status: sh.Status}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// trackingDetail is the timeline text of an update: when, where and the carrier's note.
func trackingDetail(u TrackingUpdate) string {
	parts := []string{u.At.UTC().Format(time.RFC3339)}
	for _, v := range []string{u.Location, u.Note} {
		if v != "" {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " · ")
}
