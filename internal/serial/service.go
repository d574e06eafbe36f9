package serial

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
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
// scope covers any party that ever held it; ErrNotFound otherwise. One
// statement reads the unit, its SKU, its holder and its trail with each
// event's warehouse code: a row per event (a unit has a handful), joined
// without LATERAL so that it runs on both dialects. On PostgreSQL it is
// prepared once per connection, so the joins cost no planning per lookup.
func (s *Service) Get(ctx context.Context, p auth.Principal, number string) (*Serial, error) {
	n, ok := Normalize(number)
	if !ok {
		return nil, ErrNotFound
	}
	var rows []lookupRow
	if err := s.lookup(ctx, p, n, &rows); err != nil {
		return nil, fmt.Errorf("serial: get: %w", err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	sr := &rows[0].S
	if rows[0].K.ID != uuid.Nil {
		sr.SKU = &rows[0].K
	}
	if rows[0].H.ID != uuid.Nil {
		sr.Holder = &rows[0].H
	}
	sr.Trail = make([]*Event, 0, len(rows))
	for i := range rows {
		if rows[i].E.ID != uuid.Nil { // a unit without events has the LEFT JOIN's one empty row
			sr.Trail = append(sr.Trail, &rows[i].E)
		}
	}
	return sr, nil
}

// lookup runs Get's statement. On PostgreSQL the number is a parameter of a
// statement prepared once per connection (and per scope): a scanner's lookups
// skip planning the joins.
func (s *Service) lookup(ctx context.Context, p auth.Principal, n string, rows *[]lookupRow) error {
	if !s.db.IsPostgres() {
		return lookupQuery(s.db, p, n).Model(rows).Scan(ctx)
	}
	r, err := s.db.QueryCached(ctx, lookupQuery(s.db, p, bun.Safe("$1")).String(), n)
	if err != nil {
		return err
	}
	return s.db.ScanRows(ctx, r, rows)
}

// lookupQuery is Get's statement for number n (a value or a placeholder).
func lookupQuery(db bun.IDB, p auth.Principal, n any) *bun.SelectQuery {
	q := db.NewSelect().Model((*lookupRow)(nil)).ColumnExpr(lookupColumns(db)).
		Join("LEFT JOIN skus AS k ON k.id = sr.sku_id").
		Join("LEFT JOIN parties AS hp ON hp.id = sr.holder_party_id").
		Join("LEFT JOIN serial_events AS se ON se.serial_id = sr.id").
		Join("LEFT JOIN warehouses AS w ON w.id = se.warehouse_id").
		Where("sr.number = ?", n).
		OrderExpr("se.created_at, se.id").Limit(MaxTrail)
	if !p.IsHQ() {
		held := db.NewSelect().TableExpr("parties AS p").ColumnExpr("1").
			Where("p.id IN (SELECT hse.holder_party_id FROM serial_events AS hse WHERE hse.serial_id = sr.id)")
		q = q.Where("EXISTS (?)", party.Scope(held, p, "p.id"))
	}
	return q
}

// lookupRow is one row of Get: the unit and one event of its trail. Columns
// are named "<field>__<column>", which bun scans into the nested structs.
type lookupRow struct {
	bun.BaseModel `bun:"table:serials,alias:sr"`

	S Serial      `bun:"s"`
	K catalog.SKU `bun:"k"`
	H party.Party `bun:"h"`
	E Event       `bun:"e"`
}

// lookupCols caches lookupColumns per dialect.
var lookupCols sync.Map

// lookupColumns lists the columns of the four tables as `alias.col AS
// "field__col"`, built once per dialect from bun's table schemas.
func lookupColumns(db bun.IDB) string {
	name := db.Dialect().Name()
	if v, ok := lookupCols.Load(name); ok {
		return v.(string)
	}
	tables, q := db.Dialect().Tables(), string(db.Dialect().IdentQuote())
	var b strings.Builder
	col := func(src, as string) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(src + " AS " + q + as + q)
	}
	add := func(typ reflect.Type, alias, field string) {
		for _, f := range tables.Get(typ).Fields {
			col(alias+"."+string(f.SQLName), field+"__"+f.Name)
		}
	}
	add(reflect.TypeFor[Serial](), "sr", "s")
	add(reflect.TypeFor[catalog.SKU](), "k", "k")
	add(reflect.TypeFor[party.Party](), "hp", "h")
	add(reflect.TypeFor[Event](), "se", "e")
	col("w.code", "e__warehouse_code")
	lookupCols.Store(name, b.String())
	return b.String()
}
