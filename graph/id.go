package graph

import (
	"errors"
	"strings"

	"github.com/google/uuid"
)

// Global IDs are "<Type>:<uuid>". Clients treat them as opaque; node(id) uses the type.
const (
	typeParty       = "Party"
	typeUser        = "User"
	typeCategory    = "Category"
	typeProduct     = "Product"
	typeSKU         = "SKU"
	typeCatalogRule = "CatalogRule"
	typePriceList   = "PriceList"
	typePromotion   = "Promotion"
	typeWarehouse   = "Warehouse"
	typeParkedEvent = "ParkedEvent"
)

var errInvalidID = errors.New("graph: malformed id")

func globalID(typ string, id uuid.UUID) string { return typ + ":" + id.String() }

// parseID returns the uuid of a global ID of type typ.
func parseID(typ, gid string) (uuid.UUID, error) {
	t, raw, ok := strings.Cut(gid, ":")
	if !ok || t != typ || len(raw) != 36 {
		return uuid.Nil, errInvalidID
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return uuid.Nil, errInvalidID
	}
	return id, nil
}

func parseOptID(typ string, gid *string) (*uuid.UUID, error) {
	if gid == nil {
		return nil, nil
	}
	id, err := parseID(typ, *gid)
	if err != nil {
		return nil, err
	}
	return &id, nil
}
