// Package inventory keeps each party's warehouses, their stock of every SKU
// (on hand and reserved), and the movement ledger behind every change.
package inventory

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
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
	"channelhub/internal/page"
	"channelhub/internal/party"
)

// Warehouse is a stock location of one party.
type Warehouse struct {
	bun.BaseModel `bun:"table:warehouses,alias:w"`

	ID        uuid.UUID `bun:"id,pk"`
	PartyID   uuid.UUID `bun:"party_id"`
	Code      string    `bun:"code"`
	Name      string    `bun:"name"`
	Priority  int       `bun:"priority"` // higher ships first
	Active    bool      `bun:"active"`
	CreatedAt time.Time `bun:"created_at"`
}

// Level is one warehouse's stock of one SKU.
type Level struct {
	bun.BaseModel `bun:"table:stock_levels,alias:sl"`

	WarehouseID uuid.UUID `bun:"warehouse_id,pk"`
	SKUID       uuid.UUID `bun:"sku_id,pk"`
	OnHand      int64     `bun:"on_hand"`
	Reserved    int64     `bun:"reserved"`
	UpdatedAt   time.Time `bun:"updated_at"`
	SKUCode     string    `bun:"sku_code,scanonly"`
}

// Available is what can still be promised.
func (l *Level) Available() int64 { return l.OnHand - l.Reserved }

// Movement kinds.
const (
	MoveReceipt    = "RECEIPT"
	MoveAdjustment = "ADJUSTMENT"
)

type movement struct {
	bun.BaseModel `bun:"table:stock_movements,alias:sm"`

	ID          uuid.UUID  `bun:"id,pk"`
	WarehouseID uuid.UUID  `bun:"warehouse_id"`
	SKUID       uuid.UUID  `bun:"sku_id"`
	Delta       int64      `bun:"delta"`
	OnHandAfter int64      `bun:"on_hand_after"`
	Kind        string     `bun:"kind"`
	Reason      string     `bun:"reason"`
	SourceType  string     `bun:"source_type"`
	SourceID    string     `bun:"source_id"`
	ActorUserID *uuid.UUID `bun:"actor_user_id"`
	CreatedAt   time.Time  `bun:"created_at"`
}

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound       = errors.New("inventory: warehouse not found")
	ErrInvalidInput   = errors.New("inventory: invalid input")
	ErrCodeTaken      = errors.New("inventory: warehouse code taken")
	ErrSKUNotFound    = errors.New("inventory: SKU not found")
	ErrBelowReserved  = errors.New("inventory: stock would fall below what is reserved")
	ErrReasonRequired = errors.New("inventory: reason required")
	ErrKeyReused      = errors.New("inventory: idempotency key reused for a different receipt")
)

func fieldErr(err error, path ...string) error { return field.Err(err, path...) }

// Keepers may manage a party's stock: HQ's admin and goods control for HQ, a
// distributor's admin for its own warehouses.
var Keepers = []auth.Role{auth.RoleHQAdmin, auth.RoleGoodsControl, auth.RoleDistributorAdmin}

// Limits of stock changes.
const (
	MaxQty        = 1_000_000
	MaxLines      = 100
	MaxOnHand     = 2_000_000_000 // stays a GraphQL Int
	MaxWarehouses = 50            // per party
	MaxPriority   = 1000
	LowStockLevel = 10 // at or below this many available units a SKU shows LOW
)

// Service keeps warehouses and stock.
type Service struct {
	db  *database.DB
	now func() time.Time
}

// NewService returns an inventory Service.
func NewService(db *database.DB) *Service {
	return &Service{db: db, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

var codeRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{0,19}$`)

// Warehouses lists the caller's party's warehouses, highest priority first.
func (s *Service) Warehouses(ctx context.Context, p auth.Principal) ([]*Warehouse, error) {
	if err := p.Require(Keepers...); err != nil {
		return nil, err
	}
	var out []*Warehouse
	if err := s.db.NewSelect().Model(&out).Where("w.party_id = ?", p.PartyID).OrderExpr("w.priority DESC, w.code").Scan(ctx); err != nil {
		return nil, fmt.Errorf("inventory: warehouses: %w", err)
	}
	return out, nil
}

// CreateWarehouse adds a warehouse to the caller's party.
func (s *Service) CreateWarehouse(ctx context.Context, p auth.Principal, code, name string, priority int) (*Warehouse, error) {
	if err := p.Require(Keepers...); err != nil {
		return nil, err
	}
	code, name = strings.TrimSpace(code), strings.TrimSpace(name)
	var errs []error
	if !codeRE.MatchString(code) {
		errs = append(errs, fieldErr(ErrInvalidInput, "code"))
	}
	if n := utf8.RuneCountInString(name); n < 1 || n > 50 {
		errs = append(errs, fieldErr(ErrInvalidInput, "name"))
	}
	if priority < 0 || priority > MaxPriority {
		errs = append(errs, fieldErr(ErrInvalidInput, "priority"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	w := &Warehouse{ID: uuid.Must(uuid.NewV7()), PartyID: p.PartyID, Code: code, Name: name, Priority: priority, Active: true, CreatedAt: s.now()}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Model((*Warehouse)(nil)).Where("w.party_id = ?", p.PartyID).Count(ctx)
		if err != nil {
			return fmt.Errorf("inventory: count warehouses: %w", err)
		}
		if n >= MaxWarehouses {
			return fieldErr(ErrInvalidInput, "code")
		}
		if _, err := tx.NewInsert().Model(w).Exec(ctx); err != nil {
			if database.IsUniqueViolation(err) {
				return fieldErr(ErrCodeTaken, "code")
			}
			return fmt.Errorf("inventory: insert warehouse: %w", err)
		}
		return audit.Record(ctx, tx, p, "inventory.warehouse.create", "Warehouse", w.ID.String(), nil, w, "")
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

func (s *Service) ownWarehouse(ctx context.Context, db bun.IDB, p auth.Principal, id uuid.UUID) (*Warehouse, error) {
	w := new(Warehouse)
	err := db.NewSelect().Model(w).Where("w.id = ? AND w.party_id = ?", id, p.PartyID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: load warehouse: %w", err)
	}
	return w, nil
}

// Line is one SKU and quantity of a stock change.
type Line struct {
	SKUID uuid.UUID
	Qty   int64
}

// Receive books goods into one of the caller's warehouses, each line a
// movement of the ledger naming the reference document. key makes a retry
// return the first receipt's levels instead of booking the goods twice.
func (s *Service) Receive(ctx context.Context, p auth.Principal, warehouseID uuid.UUID, lines []Line, reference, key string) ([]*Level, error) {
	if err := p.Require(Keepers...); err != nil {
		return nil, err
	}
	reference = strings.TrimSpace(reference)
	if len(lines) == 0 || len(lines) > MaxLines {
		return nil, fieldErr(ErrInvalidInput, "lines")
	}
	if n := utf8.RuneCountInString(reference); n < 1 || n > 100 {
		return nil, fieldErr(ErrInvalidInput, "reference")
	}
	for i, l := range lines {
		if l.Qty < 1 || l.Qty > MaxQty {
			return nil, fieldErr(ErrInvalidInput, "lines", fmt.Sprint(i), "qty")
		}
	}
	// One line per SKU, taken in SKU order: two receipts never lock the same rows crosswise.
	merged := map[uuid.UUID]int64{}
	first := map[uuid.UUID]int{}
	var order []uuid.UUID
	for i, l := range lines {
		if _, ok := merged[l.SKUID]; !ok {
			first[l.SKUID] = i
			order = append(order, l.SKUID)
		}
		merged[l.SKUID] += l.Qty
	}
	slices.SortFunc(order, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	hash, err := idempotency.Hash(map[string]any{"warehouse": warehouseID, "lines": lines, "reference": reference})
	if err != nil {
		return nil, err
	}
	var out []*Level
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := s.ownWarehouse(ctx, tx, p, warehouseID); err != nil {
			return err
		}
		stored, replay, err := idempotency.Claim(ctx, tx, p.UserID, "stockReceive", key, hash, s.now())
		if errors.Is(err, idempotency.ErrInvalidKey) {
			return fieldErr(ErrInvalidInput, "idempotencyKey")
		}
		if errors.Is(err, idempotency.ErrKeyReused) {
			return fieldErr(ErrKeyReused, "idempotencyKey")
		}
		if err != nil {
			return err
		}
		if replay {
			return json.Unmarshal(stored, &out)
		}
		if missing, err := s.unknownSKUs(ctx, tx, p, order); err != nil {
			return err
		} else if len(missing) > 0 {
			return fieldErr(ErrSKUNotFound, "lines", fmt.Sprint(first[missing[0]]), "skuId")
		}
		for _, sku := range order {
			lv, err := s.move(ctx, tx, p, warehouseID, sku, merged[sku], MoveReceipt, "", "RECEIPT", reference)
			if err != nil {
				if errors.Is(err, errTooMuch) {
					return fieldErr(ErrInvalidInput, "lines", fmt.Sprint(first[sku]), "qty")
				}
				return err
			}
			out = append(out, lv)
		}
		return idempotency.Complete(ctx, tx, p.UserID, "stockReceive", key, out)
	})
	return out, err
}

// errTooMuch is a receipt that would take on hand past MaxOnHand.
var errTooMuch = errors.New("inventory: on hand would exceed the maximum")

// unknownSKUs returns the SKUs of ids that do not exist or, for a caller
// outside HQ, that its own party may not see in the catalogue.
func (s *Service) unknownSKUs(ctx context.Context, tx bun.IDB, p auth.Principal, ids []uuid.UUID) ([]uuid.UUID, error) {
	q := tx.NewSelect().Model((*catalog.SKU)(nil)).ColumnExpr("s.id").Where("s.id IN (?)", bun.List(ids))
	if !p.IsHQ() {
		own := new(party.Party)
		if err := tx.NewSelect().Model(own).Where("p.id = ?", p.PartyID).Scan(ctx); err != nil {
			return nil, fmt.Errorf("inventory: load own party: %w", err)
		}
		q = catalog.Visible(q, own)
	}
	var found []uuid.UUID
	if err := q.Scan(ctx, &found); err != nil {
		return nil, fmt.Errorf("inventory: check skus: %w", err)
	}
	var missing []uuid.UUID
	for _, id := range ids {
		if !slices.Contains(found, id) {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// Adjust corrects one SKU's stock in one of the caller's warehouses by delta,
// never below what is reserved, with a reason for the ledger and the audit log.
func (s *Service) Adjust(ctx context.Context, p auth.Principal, warehouseID, sku uuid.UUID, delta int64, reason string) (*Level, error) {
	if err := p.Require(Keepers...); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(reason); n < 1 || n > 500 {
		return nil, fieldErr(ErrReasonRequired, "reason")
	}
	if delta == 0 || delta > MaxQty || delta < -MaxQty {
		return nil, fieldErr(ErrInvalidInput, "delta")
	}
	var out *Level
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := s.ownWarehouse(ctx, tx, p, warehouseID); err != nil {
			return err
		}
		if missing, err := s.unknownSKUs(ctx, tx, p, []uuid.UUID{sku}); err != nil {
			return err
		} else if len(missing) > 0 {
			return fieldErr(ErrSKUNotFound, "skuId")
		}
		lv, err := s.move(ctx, tx, p, warehouseID, sku, delta, MoveAdjustment, reason, "", "")
		if errors.Is(err, errTooMuch) {
			return fieldErr(ErrInvalidInput, "delta")
		}
		if err != nil {
			return err
		}
		out = lv
		return audit.Record(ctx, tx, p, "inventory.adjust", "StockLevel", warehouseID.String()+"/"+sku.String(),
			map[string]int64{"onHand": lv.OnHand - delta}, map[string]int64{"onHand": lv.OnHand}, reason)
	})
	return out, err
}

// move changes on hand by delta with one conditional statement (so racing
// changes never take stock below what is reserved) and writes the movement.
func (s *Service) move(ctx context.Context, tx bun.IDB, p auth.Principal, warehouseID, sku uuid.UUID, delta int64, kind, reason, sourceType, sourceID string) (*Level, error) {
	now := s.now()
	lv := &Level{WarehouseID: warehouseID, SKUID: sku}
	var err error
	if delta > MaxOnHand { // the insert below takes it as it is
		return nil, errTooMuch
	}
	if delta > 0 {
		err = tx.NewRaw(`INSERT INTO stock_levels (warehouse_id, sku_id, on_hand, reserved, updated_at) VALUES (?, ?, ?, 0, ?)
			ON CONFLICT (warehouse_id, sku_id) DO UPDATE SET on_hand = stock_levels.on_hand + excluded.on_hand, updated_at = excluded.updated_at
			WHERE stock_levels.on_hand + excluded.on_hand <= ?
			RETURNING on_hand, reserved`, warehouseID, sku, delta, now, MaxOnHand).Scan(ctx, &lv.OnHand, &lv.Reserved)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errTooMuch
		}
	} else {
		err = tx.NewRaw(`UPDATE stock_levels SET on_hand = on_hand + ?, updated_at = ?
			WHERE warehouse_id = ? AND sku_id = ? AND on_hand + ? >= reserved RETURNING on_hand, reserved`,
			delta, now, warehouseID, sku, delta).Scan(ctx, &lv.OnHand, &lv.Reserved)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fieldErr(ErrBelowReserved, "delta")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: move stock: %w", err)
	}
	lv.UpdatedAt = now
	m := &movement{ID: uuid.Must(uuid.NewV7()), WarehouseID: warehouseID, SKUID: sku, Delta: delta, OnHandAfter: lv.OnHand,
		Kind: kind, Reason: reason, SourceType: sourceType, SourceID: sourceID, ActorUserID: &p.UserID, CreatedAt: now}
	if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
		return nil, fmt.Errorf("inventory: record movement: %w", err)
	}
	return lv, nil
}

// Levels returns a page of one of the caller's warehouses' stock, by SKU code.
func (s *Service) Levels(ctx context.Context, p auth.Principal, w *Warehouse, pr page.Request) ([]*Level, bool, error) {
	if err := p.Require(Keepers...); err != nil {
		return nil, false, err
	}
	if w.PartyID != p.PartyID {
		return nil, false, ErrNotFound
	}
	warehouseID := w.ID
	size, err := pr.Size()
	if err != nil {
		return nil, false, err
	}
	key, err := page.Decode(pr.After, 1)
	if err != nil {
		return nil, false, err
	}
	var rows []*Level
	q := s.db.NewSelect().Model(&rows).ColumnExpr("sl.*, s.code AS sku_code").Join("JOIN skus AS s ON s.id = sl.sku_id").
		Where("sl.warehouse_id = ?", warehouseID).OrderExpr("s.code").Limit(int64(size + 1))
	if key != nil {
		q = q.Where("s.code > ?", key[0])
	}
	if err := q.Scan(ctx); err != nil {
		return nil, false, fmt.Errorf("inventory: levels: %w", err)
	}
	if len(rows) > size {
		return rows[:size], true, nil
	}
	return rows, false, nil
}

// Cursor is the opaque position of a level in a code-ordered list.
func (l *Level) Cursor() string { return page.Cursor(l.SKUCode) }

// Available returns, for each SKU, what seller can still promise across its
// active warehouses; tracked is false when the seller keeps no warehouse.
func (s *Service) Available(ctx context.Context, seller uuid.UUID, skus []uuid.UUID) (avail []int64, tracked bool, err error) {
	n, err := s.db.NewSelect().Model((*Warehouse)(nil)).Where("w.party_id = ? AND w.active", seller).Count(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("inventory: count warehouses: %w", err)
	}
	avail = make([]int64, len(skus))
	if n == 0 || len(skus) == 0 {
		return avail, n > 0, nil
	}
	var rows []struct {
		SKUID uuid.UUID `bun:"sku_id"`
		N     int64     `bun:"n"`
	}
	if err := s.db.NewSelect().Model((*Level)(nil)).ColumnExpr("sl.sku_id, SUM(sl.on_hand - sl.reserved) AS n").
		Join("JOIN warehouses AS w ON w.id = sl.warehouse_id").
		Where("w.party_id = ? AND w.active AND sl.sku_id IN (?)", seller, bun.List(skus)).GroupExpr("sl.sku_id").Scan(ctx, &rows); err != nil {
		return nil, false, fmt.Errorf("inventory: available: %w", err)
	}
	by := make(map[uuid.UUID]int64, len(rows))
	for _, r := range rows {
		by[r.SKUID] = r.N
	}
	for i, id := range skus {
		avail[i] = by[id]
	}
	return avail, true, nil
}

// MoveTx changes one SKU's stock by delta inside the caller's transaction (a
// shipment's, a receipt's), with its movement naming the source document.
// Stock never falls below what is reserved (ErrBelowReserved).
func (s *Service) MoveTx(ctx context.Context, tx bun.IDB, actor, warehouseID, sku uuid.UUID, delta int64, kind, sourceType, sourceID string) (*Level, error) {
	return s.move(ctx, tx, auth.Principal{UserID: actor}, warehouseID, sku, delta, kind, "", sourceType, sourceID)
}

// DefaultWarehouse returns party's highest-priority active warehouse,
// creating "<party code>-WH1" when the party keeps none (a store's first receipt).
func (s *Service) DefaultWarehouse(ctx context.Context, tx bun.IDB, partyID uuid.UUID) (*Warehouse, error) {
	w := new(Warehouse)
	err := tx.NewSelect().Model(w).Where("w.party_id = ? AND w.active", partyID).OrderExpr("w.priority DESC, w.code").Limit(1).Scan(ctx)
	if err == nil {
		return w, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("inventory: default warehouse: %w", err)
	}
	var code string
	if err := tx.NewSelect().Table("parties").Column("code").Where("id = ?", partyID).Scan(ctx, &code); err != nil {
		return nil, fmt.Errorf("inventory: party code: %w", err)
	}
	code = strings.ToUpper(code)
	if len(code) > 16 {
		code = code[:16]
	}
	// The first free of <code>-WH1, -WH2, ... (a warehouse the party closed
	// keeps its code). A racing first receipt may create one meanwhile: then
	// the insert does nothing and that one is read back.
	for n := 1; n <= 20; n++ {
		name := fmt.Sprintf("%s-WH%d", code, n)
		w = &Warehouse{ID: uuid.Must(uuid.NewV7()), PartyID: partyID, Code: name, Name: name, Priority: 0, Active: true, CreatedAt: s.now()}
		res, err := tx.NewInsert().Model(w).On("CONFLICT (party_id, code) DO NOTHING").Exec(ctx)
		if err != nil {
			return nil, fmt.Errorf("inventory: create default warehouse: %w", err)
		}
		if k, _ := res.RowsAffected(); k == 1 {
			return w, nil
		}
		got := new(Warehouse)
		err = tx.NewSelect().Model(got).Where("w.party_id = ? AND w.code = ? AND w.active", partyID, name).Scan(ctx)
		if err == nil {
			return got, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("inventory: default warehouse: %w", err)
		}
	}
	return nil, fmt.Errorf("inventory: no free default warehouse code for %s", code)
}

// Movement kinds of goods that leave or arrive on documents.
const (
	MoveShipment    = "SHIPMENT"
	MoveGoodsIn     = "GOODS_RECEIPT"
	MoveSellOut     = "SELL_OUT"
	MoveClaimReturn = "CLAIM"
)

// ReserveTx sets qty units of sku in a warehouse aside for a document inside
// tx, with one conditional statement: false when fewer are free (on hand less
// reserved), so racing documents never promise the same units twice.
func (s *Service) ReserveTx(ctx context.Context, tx bun.IDB, warehouseID, sku uuid.UUID, qty int64) (bool, error) {
	res, err := tx.NewRaw(`UPDATE stock_levels SET reserved = reserved + ?, updated_at = ? WHERE warehouse_id = ? AND sku_id = ? AND on_hand - reserved >= ?`,
		qty, s.now(), warehouseID, sku, qty).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("inventory: reserve: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleaseTx gives back qty units a document held reserved inside tx.
func (s *Service) ReleaseTx(ctx context.Context, tx bun.IDB, warehouseID, sku uuid.UUID, qty int64) error {
	res, err := tx.NewRaw(`UPDATE stock_levels SET reserved = reserved - ?, updated_at = ? WHERE warehouse_id = ? AND sku_id = ? AND reserved >= ?`,
		qty, s.now(), warehouseID, sku, qty).Exec(ctx)
	if err != nil {
		return fmt.Errorf("inventory: release: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("inventory: release %d of %s in %s: %w", qty, sku, warehouseID, ErrBelowReserved)
	}
	return nil
}

// ShipReservedTx takes qty units a document held reserved out of a warehouse
// inside tx (on hand and reserved both fall), with the movement naming the
// source document; ErrBelowReserved when fewer are reserved.
func (s *Service) ShipReservedTx(ctx context.Context, tx bun.IDB, actor, warehouseID, sku uuid.UUID, qty int64, kind, sourceType, sourceID string) (*Level, error) {
	now := s.now()
	lv := &Level{WarehouseID: warehouseID, SKUID: sku, UpdatedAt: now}
	err := tx.NewRaw(`UPDATE stock_levels SET on_hand = on_hand - ?, reserved = reserved - ?, updated_at = ?
		WHERE warehouse_id = ? AND sku_id = ? AND reserved >= ? RETURNING on_hand, reserved`,
		qty, qty, now, warehouseID, sku, qty).Scan(ctx, &lv.OnHand, &lv.Reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrBelowReserved
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: ship reserved: %w", err)
	}
	m := &movement{ID: uuid.Must(uuid.NewV7()), WarehouseID: warehouseID, SKUID: sku, Delta: -qty, OnHandAfter: lv.OnHand,
		Kind: kind, SourceType: sourceType, SourceID: sourceID, ActorUserID: &actor, CreatedAt: now}
	if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
		return nil, fmt.Errorf("inventory: record movement: %w", err)
	}
	return lv, nil
}

// Movement kinds of stock transfers and returns.
const (
	MoveTransfer = "TRANSFER"
	MoveReturn   = "RETURN"
)
