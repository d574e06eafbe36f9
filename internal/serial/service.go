package serial

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/database"
	"channelhub/internal/field"
	"channelhub/internal/idempotency"
	"channelhub/internal/inventory"
	"channelhub/internal/party"
)

// Receivers register serialised stock into HQ's warehouses.
var Receivers = []auth.Role{auth.RoleHQAdmin, auth.RoleGoodsControl}

// MaxTrail caps the events one lookup shows; a unit's life is a handful of moves.
const MaxTrail = 200

// Service registers units and answers their trail.
type Service struct {
	db    *database.DB
	stock *inventory.Service
	Now   func() time.Time
	// SkipDiversions turns the diversion check of sell-outs off; only
	// benchmarks set it, to measure what the check costs.
	SkipDiversions bool
}

// NewService returns a serial Service.
func NewService(db *database.DB, stock *inventory.Service) *Service {
	return &Service{db: db, stock: stock, Now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

// ReceiveInput books new serialised units into one of HQ's warehouses.
type ReceiveInput struct {
	WarehouseID    uuid.UUID
	SKUID          uuid.UUID
	Numbers        []string
	Ranges         []Range
	Reference      string
	IdempotencyKey string
}

// ReceiveResult is what a stock-in booked.
type ReceiveResult struct {
	Received   int              `json:"received"`
	Duplicates []string         `json:"duplicates"`
	Level      *inventory.Level `json:"level"`
}

// ErrKeyReused is an idempotency key sent again with another request.
var ErrKeyReused = errors.New("serial: idempotency key reused for a different request")

// Receive registers the units (a list, ranges, or both; at most 20,000) as
// IN_STOCK in one of the caller's party's warehouses and adds them to its
// stock, in one transaction. Numbers given twice are reported and booked once.
func (s *Service) Receive(ctx context.Context, p auth.Principal, in ReceiveInput) (*ReceiveResult, error) {
	if err := p.Require(Receivers...); err != nil {
		return nil, err
	}
	in.Reference = strings.TrimSpace(in.Reference)
	if n := utf8.RuneCountInString(in.Reference); n < 1 || n > 100 {
		return nil, field.Err(ErrMalformed, "reference")
	}
	scan, err := Expand(in.Numbers, in.Ranges, MaxPerDocument, "serials", "ranges")
	if err != nil {
		return nil, err
	}
	if len(scan.Numbers) == 0 {
		return nil, field.Err(ErrMalformed, "serials")
	}
	hash, err := idempotency.Hash(in)
	if err != nil {
		return nil, err
	}
	out := &ReceiveResult{Received: len(scan.Numbers), Duplicates: scan.Duplicates}
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w := new(inventory.Warehouse)
		err := tx.NewSelect().Model(w).Where("w.id = ? AND w.party_id = ?", in.WarehouseID, p.PartyID).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("serial: warehouse: %w", err)
		}
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "serialReceive", in.IdempotencyKey, hash, s.Now())
		switch {
		case errors.Is(err, idempotency.ErrInvalidKey):
			return field.Err(ErrMalformed, "idempotencyKey")
		case errors.Is(err, idempotency.ErrKeyReused):
			return field.Err(ErrKeyReused, "idempotencyKey")
		case err != nil:
			return err
		case replay:
			return json.Unmarshal(stored, out)
		}
		sku := new(catalog.SKU)
		if err := tx.NewSelect().Model(sku).Where("s.id = ?", in.SKUID).Scan(ctx); errors.Is(err, sql.ErrNoRows) {
			return field.Err(inventory.ErrSKUNotFound, "skuId")
		} else if err != nil {
			return fmt.Errorf("serial: sku: %w", err)
		}
		if !sku.Serialised {
			return field.Err(ErrNotSerialised, "skuId")
		}
		doc := Doc{Type: "STOCK_IN", Number: in.Reference, Actor: p.UserID, At: s.Now()}
		if _, err := Insert(ctx, tx, scan.Numbers, sku.ID, p.PartyID, w.ID, doc); errors.Is(err, ErrExists) {
			return s.existing(ctx, tx, scan.Numbers, in)
		} else if err != nil {
			return err
		}
		lv, err := s.stock.MoveTx(ctx, tx, p.UserID, w.ID, sku.ID, int64(len(scan.Numbers)), inventory.MoveReceipt, "RECEIPT", in.Reference)
		if err != nil {
			return err
		}
		out.Level = lv
		if err := audit.Record(ctx, tx, p, "serial.receive", "Warehouse", w.ID.String(), nil,
			map[string]any{"sku": sku.Code, "count": len(scan.Numbers)}, in.Reference); err != nil {
			return err
		}
		return idempotency.Complete(ctx, tx, p.UserID, "serialReceive", in.IdempotencyKey, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// existing names the first input number already registered, for the error's field path.
func (s *Service) existing(ctx context.Context, tx bun.IDB, numbers []string, in ReceiveInput) error {
	found, err := ByNumbers(ctx, tx, numbers)
	if err != nil {
		return err
	}
	for i, raw := range in.Numbers {
		if n, _ := Normalize(raw); found[n] != nil {
			return field.Err(ErrExists, "serials", fmt.Sprint(i))
		}
	}
	for i, r := range in.Ranges {
		if n, _ := Normalize(r.From); found[n] != nil {
			return field.Err(ErrExists, "ranges", fmt.Sprint(i))
		}
	}
	return field.Err(ErrExists, "ranges")
}

// Get returns a unit and its whole trail (oldest first) when the caller's
// scope covers any party that ever held it; ErrNotFound otherwise.
func (s *Service) Get(ctx context.Context, p auth.Principal, number string) (*Serial, error) {
	n, ok := Normalize(number)
	if !ok {
		return nil, ErrNotFound
	}
	sr := new(Serial)
	q := s.db.NewSelect().Model(sr).Where("sr.number = ?", n)
	if !p.IsHQ() {
		held := s.db.NewSelect().TableExpr("parties AS p").ColumnExpr("1").
			Where("p.id IN (SELECT se.holder_party_id FROM serial_events AS se WHERE se.serial_id = sr.id)")
		q = q.Where("EXISTS (?)", party.Scope(held, p, "p.id"))
	}
	err := q.Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("serial: get: %w", err)
	}
	var evs []*Event
	if err := s.db.NewSelect().Model(&evs).ColumnExpr("se.*, w.code AS warehouse_code").
		Join("LEFT JOIN warehouses AS w ON w.id = se.warehouse_id").
		Where("se.serial_id = ?", sr.ID).OrderExpr("se.created_at, se.id").Limit(MaxTrail).Scan(ctx); err != nil {
		return nil, fmt.Errorf("serial: trail: %w", err)
	}
	sr.Trail = evs
	return sr, nil
}
