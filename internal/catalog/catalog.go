// Package catalog holds what is sold: the category tree, products and their
// SKUs, and the authorisation rules that decide which parties may see and
// order each SKU.
package catalog

import (
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"channelhub/internal/field"
)

// Category is a node of the category tree.
type Category struct {
	bun.BaseModel `bun:"table:categories,alias:c"`

	ID        uuid.UUID  `bun:"id,pk"`
	ParentID  *uuid.UUID `bun:"parent_id"`
	Code      string     `bun:"code"`
	Name      string     `bun:"name"`
	Path      string     `bun:"path"` // "/<root id>/.../<own id>/": ancestors are the path's ids
	SortOrder int        `bun:"sort_order"`
	CreatedAt time.Time  `bun:"created_at"`
	UpdatedAt time.Time  `bun:"updated_at"`
}

// Ancestors returns the ids on the category's path, root first, itself last.
func (c *Category) Ancestors() []uuid.UUID { return pathIDs(c.Path) }

// Product groups the SKUs of one model.
type Product struct {
	bun.BaseModel `bun:"table:products,alias:pr"`

	ID          uuid.UUID `bun:"id,pk"`
	Code        string    `bun:"code"`
	Name        string    `bun:"name"`
	Brand       string    `bun:"brand"`
	CategoryID  uuid.UUID `bun:"category_id"`
	Unit        string    `bun:"unit"`
	Description string    `bun:"description"`
	Serialised  bool      `bun:"serialised"`
	CreatedAt   time.Time `bun:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

// SKU is one sellable variant of a product.
type SKU struct {
	bun.BaseModel `bun:"table:skus,alias:s"`

	ID          uuid.UUID         `bun:"id,pk"`
	ProductID   uuid.UUID         `bun:"product_id"`
	CategoryID  uuid.UUID         `bun:"category_id"` // the product's, kept here so filters need no join
	Code        string            `bun:"code"`
	Name        string            `bun:"name"`
	Attributes  map[string]string `bun:"attributes"` // e.g. colour, storage; JSON
	PackSize    int               `bun:"pack_size"`
	MinOrderQty int               `bun:"min_order_qty"`
	OnShelf     bool              `bun:"on_shelf"`
	Serialised  bool              `bun:"serialised"`
	Images      []string          `bun:"images"`     // object keys; JSON
	BasePrice   int64             `bun:"base_price"` // minor units
	CreatedAt   time.Time         `bun:"created_at"`
	UpdatedAt   time.Time         `bun:"updated_at"`
}

// Effect is what an authorisation rule does.
type Effect string

const (
	Include Effect = "INCLUDE"
	Exclude Effect = "EXCLUDE"
)

// TargetKind says which parties a rule (or price list, or promotion) is for.
type TargetKind string

const (
	TargetAll         TargetKind = "ALL"
	TargetChannelType TargetKind = "CHANNEL_TYPE"
	TargetGrade       TargetKind = "GRADE"
	TargetRegion      TargetKind = "REGION"
	TargetParty       TargetKind = "PARTY"
)

// Rule includes or excludes a SKU or a category subtree for some parties. A
// party sees a SKU when it is on shelf, at least one INCLUDE rule for the
// party covers it, and no EXCLUDE rule for the party does: exclusion wins.
type Rule struct {
	bun.BaseModel `bun:"table:catalog_rules,alias:r"`

	ID          uuid.UUID  `bun:"id,pk"`
	Effect      Effect     `bun:"effect"`
	SKUID       *uuid.UUID `bun:"sku_id"`
	CategoryID  *uuid.UUID `bun:"category_id"`
	TargetKind  TargetKind `bun:"target_kind"`
	TargetValue string     `bun:"target_value"`
	CreatedAt   time.Time  `bun:"created_at"`
}

// Business errors; the graph layer maps each to a code.
var (
	ErrNotFound         = errors.New("catalog: not found")
	ErrInvalidInput     = errors.New("catalog: invalid input")
	ErrCodeTaken        = errors.New("catalog: code taken")
	ErrCategoryNotFound = errors.New("catalog: category not found")
	ErrProductNotFound  = errors.New("catalog: product not found")
	ErrCategoryCycle    = errors.New("catalog: category cannot move under itself")
	ErrNegativePrice    = errors.New("catalog: negative price")
)

func fieldErr(err error, path ...string) error { return field.Err(err, path...) }

func pathIDs(path string) []uuid.UUID {
	var out []uuid.UUID
	for i := 0; i+37 <= len(path); i += 37 {
		if id, err := uuid.Parse(path[i+1 : i+37]); err == nil {
			out = append(out, id)
		}
	}
	return out
}
