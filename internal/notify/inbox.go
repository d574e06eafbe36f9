// Package notify keeps each user's notification inbox, the devices that
// receive pushes, and the per-category mutes, and delivers a note to all three:
// inbox row, live subscribers, and a push through a Sender (FCM or the log).
package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/page"
)

// Category groups notifications for mutes.
type Category string

const (
	CategoryOrder     Category = "ORDER"
	CategoryCredit    Category = "CREDIT"
	CategoryShipment  Category = "SHIPMENT"
	CategoryVisit     Category = "VISIT" // field visits: a store's action items
	CategoryDiversion Category = "DIVERSION"
)

// Valid reports a known category.
func (c Category) Valid() bool {
	return c == CategoryOrder || c == CategoryCredit || c == CategoryShipment || c == CategoryVisit || c == CategoryDiversion
}

// Notification is one inbox entry.
type Notification struct {
	bun.BaseModel `bun:"table:notifications,alias:n"`

	ID        uuid.UUID  `bun:"id,pk"`
	UserID    uuid.UUID  `bun:"user_id"`
	EventID   uuid.UUID  `bun:"event_id"`
	Category  Category   `bun:"category"`
	Title     string     `bun:"title"`
	Body      string     `bun:"body"`
	Target    string     `bun:"target"` // deep link, e.g. "order/<id>"
	CreatedAt time.Time  `bun:"created_at"`
	ReadAt    *time.Time `bun:"read_at"`
}

// Cursor is the notification's position in the newest-first inbox.
func (n *Notification) Cursor() string { return page.Cursor(n.ID.String()) }

// Note is what to tell recipients.
type Note struct {
	Category    Category
	Title, Body string // localised
	Target      string
	CollapseKey string
	High        bool
}

// Publisher hands live messages to subscribers (the broker).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Topic is the live topic of a user's new notifications.
func Topic(user uuid.UUID) string { return "inbox:" + user.String() }

// Errors of notify.
var (
	ErrNotFound     = errors.New("notify: not found")
	ErrInvalidInput = errors.New("notify: invalid input")
)

// Limits of the inbox.
const (
	MaxMarkRead = 100
	MaxToken    = 4096
)

// Service runs inboxes, devices and deliveries.
type Service struct {
	db     *database.DB
	sender Sender
	pub    Publisher
	log    *slog.Logger
	Now    func() time.Time
}

// NewService returns a notify Service.
func NewService(db *database.DB, sender Sender, pub Publisher, log *slog.Logger) *Service {
	return &Service{db: db, sender: sender, pub: pub, log: log, Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// Deliver writes the note into each user's inbox once per event (an event
// delivered again finds its rows), tells their live subscriptions, and
// pushes it to their devices unless they muted its category. Tokens FCM
// calls dead are deleted. Only the inbox write can fail the delivery; a
// push that fails is logged, not retried forever.
func (s *Service) Deliver(ctx context.Context, eventID uuid.UUID, users []uuid.UUID, n Note) error {
	if len(users) == 0 {
		return nil
	}
	now := s.Now()
	rows := make([]*Notification, len(users))
	for i, u := range users {
		rows[i] = &Notification{ID: uuid.Must(uuid.NewV7()), UserID: u, EventID: eventID, Category: n.Category, Title: n.Title,
			Body: n.Body, Target: n.Target, CreatedAt: now}
	}
	var fresh []*Notification
	if err := s.db.NewInsert().Model(&rows).On("CONFLICT (user_id, event_id) DO NOTHING").Returning("*").Scan(ctx, &fresh); err != nil &&
		!errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("notify: inbox: %w", err)
	}
	if len(fresh) == 0 {
		return nil // delivered before
	}
	ids := make([]uuid.UUID, len(fresh))
	byUser := map[uuid.UUID]*Notification{}
	for i, f := range fresh {
		ids[i] = f.UserID
		byUser[f.UserID] = f
		if s.pub != nil {
			if err := s.pub.Publish(ctx, Topic(f.UserID), []byte(`{"id":"`+f.ID.String()+`"}`)); err != nil {
				s.log.WarnContext(ctx, "notify: live", "err", err)
			}
		}
	}
	var devices []struct {
		Token  string    `bun:"token"`
		UserID uuid.UUID `bun:"user_id"`
	}
	if err := s.db.NewSelect().TableExpr("device_tokens AS dt").ColumnExpr("dt.token, dt.user_id").
		Join("JOIN sessions AS se ON se.id = dt.session_id AND se.revoked_at IS NULL").
		Join("JOIN users AS u ON u.id = dt.user_id AND u.status = 'ACTIVE'").
		Where("dt.user_id IN (?)", bun.List(ids)).
		Where("NOT EXISTS (SELECT 1 FROM notification_mutes m WHERE m.user_id = dt.user_id AND m.category = ?)", n.Category).
		OrderExpr("dt.token").Scan(ctx, &devices); err != nil {
		return fmt.Errorf("notify: devices: %w", err)
	}
	if len(devices) == 0 || s.sender == nil {
		return nil
	}
	pushes := make([]Push, len(devices))
	for i, d := range devices {
		pushes[i] = Push{Token: d.Token, Title: n.Title, Body: n.Body, CollapseKey: n.CollapseKey, High: n.High,
			Data: map[string]string{"target": n.Target, "notificationId": byUser[d.UserID].ID.String(), "category": string(n.Category)}}
	}
	results, err := s.sender.Send(ctx, pushes)
	if err != nil {
		s.log.WarnContext(ctx, "notify: push", "err", err)
	}
	var dead []string
	for _, r := range results {
		switch r.Outcome {
		case TokenInvalid:
			dead = append(dead, r.Token)
		case Failed:
			s.log.WarnContext(ctx, "notify: push failed", "token", MaskToken(r.Token), "err", r.Err)
		}
	}
	if len(dead) > 0 {
		if _, err := s.db.NewDelete().Table("device_tokens").Where("token IN (?)", bun.List(dead)).Exec(ctx); err != nil {
			return fmt.Errorf("notify: drop dead tokens: %w", err)
		}
	}
	return nil
}

// List returns a page of the caller's inbox, newest first.
func (s *Service) List(ctx context.Context, p auth.Principal, pr page.Request, unreadOnly bool) ([]*Notification, bool, error) {
	q := s.db.NewSelect().Model((*Notification)(nil)).Where("n.user_id = ?", p.UserID)
	if unreadOnly {
		q = q.Where("n.read_at IS NULL")
	}
	rows, more, err := page.Newest[*Notification](ctx, q, "n", pr)
	if err != nil {
		err = fmt.Errorf("notify: list: %w", err)
	}
	return rows, more, err
}

// Get returns one of the caller's notifications.
func (s *Service) Get(ctx context.Context, p auth.Principal, id uuid.UUID) (*Notification, error) {
	n := new(Notification)
	err := s.db.NewSelect().Model(n).Where("n.id = ? AND n.user_id = ?", id, p.UserID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("notify: get: %w", err)
	}
	return n, nil
}

// Unread counts the caller's unread notifications.
func (s *Service) Unread(ctx context.Context, p auth.Principal) (int, error) {
	n, err := s.db.NewSelect().Model((*Notification)(nil)).Where("n.user_id = ? AND n.read_at IS NULL", p.UserID).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("notify: unread: %w", err)
	}
	return int(n), nil
}

// MarkRead marks some of the caller's notifications read (others' ids are
// ignored), or all of them when ids is nil.
func (s *Service) MarkRead(ctx context.Context, p auth.Principal, ids []uuid.UUID) error {
	if ids != nil && (len(ids) == 0 || len(ids) > MaxMarkRead) {
		return ErrInvalidInput
	}
	q := s.db.NewUpdate().Model((*Notification)(nil)).Set("read_at = ?", s.Now()).Where("user_id = ? AND read_at IS NULL", p.UserID)
	if ids != nil {
		q = q.Where("id IN (?)", bun.List(ids))
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("notify: mark read: %w", err)
	}
	return nil
}

// Mutes lists the categories the caller muted (no pushes; the inbox still fills).
func (s *Service) Mutes(ctx context.Context, p auth.Principal) ([]Category, error) {
	var out []Category
	if err := s.db.NewSelect().Table("notification_mutes").Column("category").Where("user_id = ?", p.UserID).
		OrderExpr("category").Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("notify: mutes: %w", err)
	}
	return out, nil
}

// SetMute mutes or unmutes a category for the caller.
func (s *Service) SetMute(ctx context.Context, p auth.Principal, c Category, muted bool) error {
	if !c.Valid() {
		return ErrInvalidInput
	}
	var err error
	if muted {
		_, err = s.db.NewRaw("INSERT INTO notification_mutes (user_id, category) VALUES (?, ?) ON CONFLICT DO NOTHING", p.UserID, c).Exec(ctx)
	} else {
		_, err = s.db.NewDelete().Table("notification_mutes").Where("user_id = ? AND category = ?", p.UserID, c).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("notify: mute: %w", err)
	}
	return nil
}

// Platforms a device may have.
var Platforms = map[string]bool{"ANDROID": true, "IOS": true}

// RegisterDevice binds an FCM token to the caller's session: pushes reach it
// until the session ends. A token registered again moves to its last user.
func (s *Service) RegisterDevice(ctx context.Context, p auth.Principal, token, platform string) error {
	token = strings.TrimSpace(token)
	if n := utf8.RuneCountInString(token); n < 1 || n > MaxToken || !Platforms[platform] {
		return ErrInvalidInput
	}
	now := s.Now()
	_, err := s.db.NewRaw(`INSERT INTO device_tokens (token, user_id, session_id, platform, app, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, session_id = excluded.session_id, platform = excluded.platform,
		app = excluded.app, updated_at = excluded.updated_at`, token, p.UserID, p.SessionID, platform, string(p.App), now, now).Exec(ctx)
	if err != nil {
		return fmt.Errorf("notify: register device: %w", err)
	}
	return nil
}

// UnregisterDevice forgets one of the caller's tokens; others' are left alone.
func (s *Service) UnregisterDevice(ctx context.Context, p auth.Principal, token string) error {
	if _, err := s.db.NewDelete().Table("device_tokens").Where("token = ? AND user_id = ?", strings.TrimSpace(token), p.UserID).Exec(ctx); err != nil {
		return fmt.Errorf("notify: unregister device: %w", err)
	}
	return nil
}

// Devices counts the caller's registered devices.
func (s *Service) Devices(ctx context.Context, p auth.Principal) (int, error) {
	n, err := s.db.NewSelect().Table("device_tokens").Where("user_id = ?", p.UserID).Count(ctx)
	return int(n), err
}
