package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/audit"
	"channelhub/internal/auth"
	"channelhub/internal/database"
	"channelhub/internal/epoch"
	"channelhub/internal/page"
	"channelhub/internal/party"
)

// Managers may change the catalogue.
var Managers = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps}

// Service reads and changes the catalogue.
type Service struct {
	db      *database.DB
	parties *party.Service
	now     func() time.Time
}

// NewService returns a catalogue Service.
func NewService(db *database.DB, parties *party.Service) *Service {
	return &Service{db: db, parties: parties, now: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }}
}

var codeRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{0,39}$`)

func checkCode(code string) error {
	if !codeRE.MatchString(code) {
		return fieldErr(ErrInvalidInput, "code")
	}
	return nil
}

func checkLen(s string, min, max int, field ...string) error {
	if n := utf8.RuneCountInString(strings.TrimSpace(s)); n < min || n > max {
		return fieldErr(ErrInvalidInput, field...)
	}
	return nil
}

// Categories returns the whole category tree in path order; it is small and every app shows it.
func (s *Service) Categories(ctx context.Context, p auth.Principal) ([]*Category, error) {
	if p.UserID == uuid.Nil {
		return nil, auth.ErrUnauthenticated
	}
	var out []*Category
	if err := s.db.NewSelect().Model(&out).OrderExpr("c.sort_order, c.name, c.id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("catalog: categories: %w", err)
	}
	return out, nil
}

// CategoriesByID returns categories in the order of ids, nil where absent (for the dataloader).
func (s *Service) CategoriesByID(ctx context.Context, ids []uuid.UUID) ([]*Category, error) {
	var rows []*Category
	if err := s.db.NewSelect().Model(&rows).Where("c.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("catalog: categories by id: %w", err)
	}
	return inOrder(ids, rows, func(c *Category) uuid.UUID { return c.ID }), nil
}

// ProductsByID returns products in the order of ids, nil where absent (for the dataloader).
func (s *Service) ProductsByID(ctx context.Context, ids []uuid.UUID) ([]*Product, error) {
	var rows []*Product
	if err := s.db.NewSelect().Model(&rows).Where("pr.id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("catalog: products by id: %w", err)
	}
	return inOrder(ids, rows, func(p *Product) uuid.UUID { return p.ID }), nil
}

func inOrder[T any](ids []uuid.UUID, rows []T, key func(T) uuid.UUID) []T {
	by := make(map[uuid.UUID]T, len(rows))
	for _, r := range rows {
		by[key(r)] = r
	}
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = by[id]
	}
	return out
}

// CategoryInput creates or changes a category.
type CategoryInput struct {
	ParentID  *uuid.UUID
	Code      string
	Name      string
	SortOrder int
}

// SaveCategory creates a category (id nil) or changes one, moving its subtree with it.
func (s *Service) SaveCategory(ctx context.Context, p auth.Principal, id *uuid.UUID, in CategoryInput) (*Category, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	in.Code, in.Name = strings.TrimSpace(in.Code), strings.TrimSpace(in.Name)
	if err := errors.Join(checkCode(in.Code), checkLen(in.Name, 1, 50, "name")); err != nil {
		return nil, err
	}
	var out *Category
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		now := s.now()
		c := &Category{ID: uuid.Must(uuid.NewV7()), CreatedAt: now}
		var before Category
		if id != nil {
			if err := tx.NewSelect().Model(c).Where("id = ?", *id).Scan(ctx); err != nil {
				return notFound(err, ErrNotFound)
			}
			before = *c
		}
		parentPath := "/"
		if in.ParentID != nil {
			parent := new(Category)
			if err := tx.NewSelect().Model(parent).Where("id = ?", *in.ParentID).Scan(ctx); err != nil {
				return fieldErr(notFound(err, ErrCategoryNotFound), "parentId")
			}
			if id != nil && strings.Contains(parent.Path, "/"+id.String()+"/") {
				return fieldErr(ErrCategoryCycle, "parentId")
			}
			parentPath = parent.Path
		}
		oldPath := c.Path
		c.ParentID, c.Code, c.Name, c.SortOrder, c.UpdatedAt = in.ParentID, in.Code, in.Name, in.SortOrder, now
		c.Path = parentPath + c.ID.String() + "/"
		var err error
		if id == nil {
			_, err = tx.NewInsert().Model(c).Exec(ctx)
		} else {
			_, err = tx.NewUpdate().Model(c).WherePK().Exec(ctx)
			if err == nil && oldPath != c.Path { // move the subtree along
				_, err = tx.NewUpdate().Model((*Category)(nil)).
					Set("path = ? || SUBSTR(path, ?)", c.Path, len(oldPath)+1).
					Where("path LIKE ? AND id <> ?", oldPath+"%", c.ID).Exec(ctx)
			}
		}
		if database.IsUniqueViolation(err) {
			return fieldErr(ErrCodeTaken, "code")
		}
		if err != nil {
			return fmt.Errorf("catalog: save category: %w", err)
		}
		out = c
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "catalog.category.save", "Category", c.ID.String(), nilIfZero(before.ID, before), c, "")
	})
	return out, err
}

// ProductInput creates or changes a product.
type ProductInput struct {
	Code        string
	Name        string
	Brand       string
	CategoryID  uuid.UUID
	Unit        string
	Description string
	Serialised  bool
}

// SaveProduct creates a product (id nil) or changes one. Its SKUs follow its category and serialised flag.
func (s *Service) SaveProduct(ctx context.Context, p auth.Principal, id *uuid.UUID, in ProductInput) (*Product, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	in.Code, in.Name = strings.TrimSpace(in.Code), strings.TrimSpace(in.Name)
	if err := errors.Join(checkCode(in.Code), checkLen(in.Name, 1, 100, "name"), checkLen(in.Brand, 0, 50, "brand"),
		checkLen(in.Unit, 1, 10, "unit"), checkLen(in.Description, 0, 2000, "description")); err != nil {
		return nil, err
	}
	var out *Product
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model((*Category)(nil)).Where("id = ?", in.CategoryID).Column("id").Scan(ctx, new(uuid.UUID)); err != nil {
			return fieldErr(notFound(err, ErrCategoryNotFound), "categoryId")
		}
		now := s.now()
		pr := &Product{ID: uuid.Must(uuid.NewV7()), CreatedAt: now}
		var before Product
		if id != nil {
			if err := tx.NewSelect().Model(pr).Where("id = ?", *id).Scan(ctx); err != nil {
				return notFound(err, ErrNotFound)
			}
			before = *pr
		}
		pr.Code, pr.Name, pr.Brand, pr.CategoryID, pr.Unit, pr.Description, pr.Serialised, pr.UpdatedAt =
			in.Code, in.Name, in.Brand, in.CategoryID, in.Unit, in.Description, in.Serialised, now
		var err error
		if id == nil {
			_, err = tx.NewInsert().Model(pr).Exec(ctx)
		} else {
			_, err = tx.NewUpdate().Model(pr).WherePK().Exec(ctx)
			if err == nil {
				_, err = tx.NewUpdate().Model((*SKU)(nil)).Set("category_id = ?", pr.CategoryID).
					Set("serialised = ?", pr.Serialised).Where("product_id = ?", pr.ID).Exec(ctx)
			}
		}
		if database.IsUniqueViolation(err) {
			return fieldErr(ErrCodeTaken, "code")
		}
		if err != nil {
			return fmt.Errorf("catalog: save product: %w", err)
		}
		out = pr
		if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
			return err
		}
		return audit.Record(ctx, tx, p, "catalog.product.save", "Product", pr.ID.String(), nilIfZero(before.ID, before), pr, "")
	})
	return out, err
}

// SKUInput creates a SKU; for changes nil fields stay as they are.
type SKUInput struct {
	ProductID   *uuid.UUID // required on create
	Code        *string
	Name        *string
	Attributes  map[string]string
	PackSize    *int
	MinOrderQty *int
	OnShelf     *bool
	Images      []string
	BasePrice   *int64
}

// Limits of a SKU's fields.
const (
	MaxAttributes = 20
	MaxImages     = 20
	MaxQuantity   = 1_000_000
	MaxPrice      = 100_000_000_00 // ¥100 million in fen
)

func (in *SKUInput) apply(sku *SKU) error {
	var errs []error
	if in.Code != nil {
		sku.Code = strings.TrimSpace(*in.Code)
	}
	if in.Name != nil {
		sku.Name = strings.TrimSpace(*in.Name)
	}
	if in.Attributes != nil {
		sku.Attributes = in.Attributes
	}
	if in.PackSize != nil {
		sku.PackSize = *in.PackSize
	}
	if in.MinOrderQty != nil {
		sku.MinOrderQty = *in.MinOrderQty
	}
	if in.OnShelf != nil {
		sku.OnShelf = *in.OnShelf
	}
	if in.Images != nil {
		sku.Images = in.Images
	}
	if in.BasePrice != nil {
		sku.BasePrice = *in.BasePrice
	}
	errs = append(errs, checkCode(sku.Code), checkLen(sku.Name, 1, 100, "name"))
	if len(sku.Attributes) > MaxAttributes {
		errs = append(errs, fieldErr(ErrInvalidInput, "attributes"))
	}
	for k, v := range sku.Attributes {
		if checkLen(k, 1, 20) != nil || checkLen(v, 1, 50) != nil {
			errs = append(errs, fieldErr(ErrInvalidInput, "attributes"))
			break
		}
	}
	if len(sku.Images) > MaxImages {
		errs = append(errs, fieldErr(ErrInvalidInput, "images"))
	}
	for _, img := range sku.Images {
		if checkLen(img, 1, 200) != nil {
			errs = append(errs, fieldErr(ErrInvalidInput, "images"))
			break
		}
	}
	if sku.PackSize < 1 || sku.PackSize > MaxQuantity {
		errs = append(errs, fieldErr(ErrInvalidInput, "packSize"))
	}
	if sku.MinOrderQty < 1 || sku.MinOrderQty > MaxQuantity {
		errs = append(errs, fieldErr(ErrInvalidInput, "minOrderQty"))
	}
	if sku.BasePrice < 0 {
		errs = append(errs, fieldErr(ErrNegativePrice, "basePrice"))
	} else if sku.BasePrice > MaxPrice {
		errs = append(errs, fieldErr(ErrInvalidInput, "basePrice"))
	}
	return errors.Join(errs...)
}

// SaveSKU creates a SKU (id nil) or changes one.
func (s *Service) SaveSKU(ctx context.Context, p auth.Principal, id *uuid.UUID, in SKUInput) (*SKU, error) {
	if err := p.Require(Managers...); err != nil {
		return nil, err
	}
	var out *SKU
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = s.saveSKU(ctx, tx, p, id, in)
		return err
	})
	return out, err
}

func (s *Service) saveSKU(ctx context.Context, tx bun.IDB, p auth.Principal, id *uuid.UUID, in SKUInput) (*SKU, error) {
	now := s.now()
	sku := &SKU{ID: uuid.Must(uuid.NewV7()), PackSize: 1, MinOrderQty: 1, OnShelf: true, CreatedAt: now,
		Attributes: map[string]string{}, Images: []string{}}
	var before SKU
	if id != nil {
		if err := tx.NewSelect().Model(sku).Where("id = ?", *id).Scan(ctx); err != nil {
			return nil, notFound(err, ErrNotFound)
		}
		before = *sku
	} else {
		if in.ProductID == nil {
			return nil, fieldErr(ErrProductNotFound, "productId")
		}
		if in.Code == nil || in.Name == nil || in.BasePrice == nil {
			return nil, fieldErr(ErrInvalidInput, "code")
		}
	}
	if err := in.apply(sku); err != nil {
		return nil, err
	}
	if in.ProductID != nil {
		pr := new(Product)
		if err := tx.NewSelect().Model(pr).Where("id = ?", *in.ProductID).Scan(ctx); err != nil {
			return nil, fieldErr(notFound(err, ErrProductNotFound), "productId")
		}
		sku.ProductID, sku.CategoryID, sku.Serialised = pr.ID, pr.CategoryID, pr.Serialised
	}
	sku.UpdatedAt = now
	var err error
	if id == nil {
		_, err = tx.NewInsert().Model(sku).Exec(ctx)
	} else {
		_, err = tx.NewUpdate().Model(sku).WherePK().Exec(ctx)
	}
	if database.IsUniqueViolation(err) {
		return nil, fieldErr(ErrCodeTaken, "code")
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: save sku: %w", err)
	}
	if err := epoch.Bump(ctx, tx, epoch.Catalog); err != nil {
		return nil, err
	}
	return sku, audit.Record(ctx, tx, p, "catalog.sku.save", "SKU", sku.ID.String(), nilIfZero(before.ID, before), sku, "")
}

func notFound(err, as error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return as
	}
	return err
}

func nilIfZero[T any](id uuid.UUID, v T) any {
	if id == uuid.Nil {
		return nil
	}
	return v
}

// Filter narrows a catalogue page.
type Filter struct {
	CategoryID *uuid.UUID // the category and everything below it
	ProductID  *uuid.UUID
	Search     string // name or code, case-insensitive
}

// Page is one page of SKUs in name order.
type Page struct {
	SKUs    []*SKU
	HasNext bool
}

// Cursor is the opaque position of a SKU in a name-ordered list.
func (k *SKU) Cursor() string { return page.Cursor(k.Name, k.ID.String()) }

// ErrBuyerRequired means the caller must say which party the catalogue is for.
var ErrBuyerRequired = errors.New("catalog: asPartyId is required for this role")

// Buyer resolves whose catalogue the principal is looking at: the party named
// by as (which must be in the principal's scope), else the principal's own
// party for distributor and store users. HQ and branch roles without as get
// nil: the unfiltered console view. Salesmen must name a store.
func (s *Service) Buyer(ctx context.Context, p auth.Principal, as *uuid.UUID) (*party.Party, error) {
	if as != nil {
		b, err := s.parties.Get(ctx, p, *as)
		if err != nil {
			return nil, err
		}
		if b.Kind == party.KindHQ || b.Kind == party.KindBranch {
			return nil, fieldErr(ErrInvalidInput, "asPartyId")
		}
		// A salesman reaches parties only as the stores he serves: his own
		// distributor's purchase prices are not his to see.
		salesmanOnly := !p.IsHQ() && !p.Has(auth.RoleBranchManager, auth.RoleDistributorAdmin, auth.RoleDistributorStaff)
		if salesmanOnly && b.Kind != party.KindStore {
			return nil, fieldErr(ErrInvalidInput, "asPartyId")
		}
		return b, nil
	}
	switch {
	case p.IsHQ() || p.Has(auth.RoleBranchManager):
		return nil, nil
	case p.Has(auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff):
		return s.parties.Get(ctx, p, p.PartyID)
	}
	return nil, ErrBuyerRequired
}

func (s *Service) query(q *bun.SelectQuery, buyer *party.Party, f Filter) (*bun.SelectQuery, error) {
	if buyer != nil {
		q = Visible(q, buyer)
	}
	if f.CategoryID != nil {
		q = q.Where("s.category_id IN (SELECT sc.id FROM categories sc, categories sp WHERE sp.id = ? AND sc.path LIKE sp.path || '%')", *f.CategoryID)
	}
	if f.ProductID != nil {
		q = q.Where("s.product_id = ?", *f.ProductID)
	}
	return page.Search(q, f.Search, "s.name", "s.code")
}

// Browse returns a page of the SKUs buyer may see (all SKUs when buyer is nil), by name.
func (s *Service) Browse(ctx context.Context, buyer *party.Party, f Filter, pr page.Request) (*Page, error) {
	q, err := s.query(s.db.NewSelect().Model((*SKU)(nil)), buyer, f)
	if err != nil {
		return nil, err
	}
	rows, more, err := page.ByName[*SKU](ctx, q, "s", pr)
	if err != nil {
		return nil, fmt.Errorf("catalog: browse: %w", err)
	}
	return &Page{SKUs: rows, HasNext: more}, nil
}

// Count returns how many SKUs Browse would list in all.
func (s *Service) Count(ctx context.Context, buyer *party.Party, f Filter) (int, error) {
	q, err := s.query(s.db.NewSelect().Model((*SKU)(nil)), buyer, f)
	if err != nil {
		return 0, err
	}
	n, err := q.Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("catalog: count: %w", err)
	}
	return int(n), nil
}

// SeenSKU is a SKU as everyone sees it, whether one buyer may see and order
// it (Visible's rule), and the ids on its category's path, root first.
type SeenSKU struct {
	SKU          *SKU
	Seen         bool
	CategoryPath []uuid.UUID
}

type seenRow struct {
	SKU          `bun:",extend"`
	Seen         bool           `bun:"seen"`
	CategoryPath sql.NullString `bun:"category_path"`
}

// SKUsSeen reads the SKUs of ids for buyer in one query: in order, a nil SKU
// where absent. It answers what SKUs(nil, ids), SKUs(buyer, ids) and the
// SKUs' categories would in three.
func (s *Service) SKUsSeen(ctx context.Context, buyer *party.Party, ids []uuid.UUID) ([]SeenSKU, error) {
	var rows []*seenRow
	cond, args := visibleCond(buyer)
	b := s.db.Binds() // every order reads it: planned once per connection
	q := s.db.NewSelect().Model(&rows).ColumnExpr("s.*").ColumnExpr(cond+" AS seen", b.Vs(args)...).
		ColumnExpr("sc.path AS category_path").Join("LEFT JOIN categories AS sc ON sc.id = s.category_id").
		Where("s.id IN (?)", b.UUIDs(ids))
	if err := s.db.ScanBound(ctx, q, b); err != nil {
		return nil, fmt.Errorf("catalog: skus seen: %w", err)
	}
	byID := make(map[uuid.UUID]*seenRow, len(rows))
	for _, r := range rows {
		byID[r.ID] = r
	}
	out := make([]SeenSKU, len(ids))
	for i, id := range ids {
		if r := byID[id]; r != nil {
			k := r.SKU
			out[i] = SeenSKU{SKU: &k, Seen: r.Seen}
			if r.CategoryPath.Valid {
				out[i].CategoryPath = pathIDs(r.CategoryPath.String)
			}
		}
	}
	return out, nil
}

// SKUs returns the SKUs of ids in order, nil where absent or not visible to buyer (nil buyer: all).
func (s *Service) SKUs(ctx context.Context, buyer *party.Party, ids []uuid.UUID) ([]*SKU, error) {
	var rows []*SKU
	q := s.db.NewSelect().Model(&rows).Where("s.id IN (?)", bun.List(ids))
	if buyer != nil {
		q = Visible(q, buyer)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("catalog: skus: %w", err)
	}
	return inOrder(ids, rows, func(k *SKU) uuid.UUID { return k.ID }), nil
}
