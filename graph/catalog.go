package graph

import (
	"context"
	"errors"
	"sort"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/party"
)

var catalogCodes = codeMap[model.CatalogErrorCode]{
	{catalog.ErrInvalidInput, model.CatalogErrorCodeInvalidInput},
	{catalog.ErrCodeTaken, model.CatalogErrorCodeCodeTaken},
	{catalog.ErrNotFound, model.CatalogErrorCodeNotFound},
	{catalog.ErrCategoryNotFound, model.CatalogErrorCodeCategoryNotFound},
	{catalog.ErrProductNotFound, model.CatalogErrorCodeProductNotFound},
	{catalog.ErrCategoryCycle, model.CatalogErrorCodeCategoryCycle},
	{catalog.ErrNegativePrice, model.CatalogErrorCodeNegativePrice},
	{catalog.ErrTooManyRows, model.CatalogErrorCodeTooManyRows},
}

func catalogErrors(ctx context.Context, err error) ([]model.CatalogError, error) {
	return userErrors(ctx, "catalog", catalogCodes, err, func(code model.CatalogErrorCode, field []string, msg string) model.CatalogError {
		return model.CatalogError{Code: code, Field: field, Message: msg}
	})
}

func (r *Resolver) money(minor int64) *model.Money {
	return &model.Money{Amount: model.Decimal(minor), Currency: r.Currency}
}

// buyer resolves whose catalogue is being viewed (see catalog.Service.Buyer).
func (r *Resolver) buyer(ctx context.Context, p auth.Principal, as *string) (*party.Party, error) {
	id, err := parseOptID(typeParty, as)
	if err != nil {
		return nil, err
	}
	b, err := r.CatalogService.Buyer(ctx, p, id)
	if errors.Is(err, catalog.ErrInvalidInput) || errors.Is(err, catalog.ErrBuyerRequired) {
		return nil, errAsPartyRequired
	}
	return b, err
}

var errAsPartyRequired = errors.New("graph: asPartyId must name a distributor or store in the caller's scope")

func (r *Resolver) skuView(ctx context.Context, buyer *party.Party, id uuid.UUID) (*model.SKUView, error) {
	ks, err := r.CatalogService.SKUs(ctx, buyer, []uuid.UUID{id})
	if err != nil {
		return nil, err
	}
	if ks[0] == nil {
		return nil, catalog.ErrNotFound
	}
	return &model.SKUView{SKU: ks[0], Buyer: buyer}, nil
}

// primeSKUs loads, in one query each and without waiting on a loader's
// timer, what the page's rows will ask for, and primes the loaders with it.
func (r *Resolver) primeSKUs(ctx context.Context, buyer *party.Party, skus []*catalog.SKU) error {
	l := loadersFrom(ctx)
	if buyer != nil && (selects(ctx, "edges", "node", "price") || selects(ctx, "edges", "node", "priceExplanation")) {
		prices, err := r.PricingService.Prices(ctx, buyer, skus)
		if err != nil {
			return err
		}
		for i, k := range skus {
			l.price.Prime(priceKey{buyer: buyer, sku: k}, prices[i])
		}
	}
	if buyer != nil && selects(ctx, "edges", "node", "availability") {
		seller, err := r.PricingService.Seller(ctx, buyer)
		if err != nil {
			return err
		}
		levels, err := r.availability(ctx, seller, skus)
		if err != nil {
			return err
		}
		for i, k := range skus {
			l.availability.Prime(priceKey{buyer: buyer, sku: k}, levels[i])
		}
	}
	if selects(ctx, "edges", "node", "product") {
		ids := make([]uuid.UUID, len(skus))
		for i, k := range skus {
			ids[i] = k.ProductID
		}
		if err := prime(ctx, l.product, ids, r.CatalogService.ProductsByID); err != nil {
			return err
		}
	}
	if selects(ctx, "edges", "node", "category") {
		ids := make([]uuid.UUID, len(skus))
		for i, k := range skus {
			ids[i] = k.CategoryID
		}
		if err := prime(ctx, l.category, ids, r.CatalogService.CategoriesByID); err != nil {
			return err
		}
	}
	return nil
}

func skuConnection(pg *catalog.Page, buyer *party.Party, count func(context.Context) (int, error)) *model.SKUConnection {
	c := &model.SKUConnection{Edges: make([]model.SKUEdge, len(pg.SKUs)), Count: count}
	for i, k := range pg.SKUs {
		c.Edges[i] = model.SKUEdge{Node: model.SKUView{SKU: k, Buyer: buyer}, Cursor: k.Cursor()}
	}
	c.PageInfo.HasNextPage = pg.HasNext
	if n := len(c.Edges); n > 0 {
		c.PageInfo.EndCursor = &c.Edges[n-1].Cursor
	}
	return c
}

func catalogFilter(f *model.CatalogFilter) (catalog.Filter, error) {
	if f == nil {
		return catalog.Filter{}, nil
	}
	cat, err := parseOptID(typeCategory, f.CategoryID)
	if err != nil {
		return catalog.Filter{}, err
	}
	prod, err := parseOptID(typeProduct, f.ProductID)
	if err != nil {
		return catalog.Filter{}, err
	}
	return catalog.Filter{CategoryID: cat, ProductID: prod, Search: deref(f.Search)}, nil
}

func attributes(m map[string]string) []model.Attribute {
	out := make([]model.Attribute, 0, len(m))
	for k, v := range m {
		out = append(out, model.Attribute{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func attributeMap(in []model.AttributeInput) map[string]string {
	if in == nil {
		return nil
	}
	m := make(map[string]string, len(in))
	for _, a := range in {
		m[a.Name] = a.Value
	}
	return m
}

func skuCreateInput(in model.SKUCreateInput) (catalog.SKUInput, error) {
	prod, err := parseID(typeProduct, in.ProductID)
	if err != nil {
		return catalog.SKUInput{}, err
	}
	price := int64(in.BasePrice)
	return catalog.SKUInput{
		ProductID: &prod, Code: &in.Code, Name: &in.Name, Attributes: attributeMap(in.Attributes),
		PackSize: in.PackSize, MinOrderQty: in.MinOrderQty, OnShelf: in.OnShelf, Images: in.Images, BasePrice: &price,
	}, nil
}

func skuUpdateInput(in model.SKUUpdateInput) (catalog.SKUInput, error) {
	prod, err := parseOptID(typeProduct, in.ProductID)
	if err != nil {
		return catalog.SKUInput{}, err
	}
	out := catalog.SKUInput{
		ProductID: prod, Code: in.Code, Name: in.Name, Attributes: attributeMap(in.Attributes),
		PackSize: in.PackSize, MinOrderQty: in.MinOrderQty, OnShelf: in.OnShelf, Images: in.Images,
	}
	if in.BasePrice != nil {
		price := int64(*in.BasePrice)
		out.BasePrice = &price
	}
	return out, nil
}

func importRows(in []model.SKUImportRow) []catalog.ImportRow {
	rows := make([]catalog.ImportRow, len(in))
	for i, row := range in {
		price := int64(row.BasePrice)
		rows[i] = catalog.ImportRow{ProductCode: row.ProductCode, SKUInput: catalog.SKUInput{
			Code: &row.Code, Name: &row.Name, Attributes: attributeMap(row.Attributes),
			PackSize: row.PackSize, MinOrderQty: row.MinOrderQty, OnShelf: row.OnShelf, BasePrice: &price,
		}}
	}
	return rows
}

func skuPayload(ctx context.Context, k *catalog.SKU, err error) (*model.SKUPayload, error) {
	errs, err := catalogErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	out := &model.SKUPayload{Errors: errs}
	if len(errs) == 0 && k != nil {
		out.Sku = &model.SKUView{SKU: k}
	}
	return out, nil
}

func importPayload(ctx context.Context, res []catalog.RowResult, err error) (*model.SKUImportPayload, error) {
	errs, err := catalogErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	out := &model.SKUImportPayload{Results: make([]model.SKUImportResult, len(res)), Errors: errs}
	for i, row := range res {
		rowErrs, err := catalogErrors(ctx, row.Err)
		if err != nil {
			return nil, err
		}
		out.Results[i] = model.SKUImportResult{Row: row.Row, Errors: rowErrs}
		if row.Err == nil && row.SKU != nil {
			out.Results[i].Sku = &model.SKUView{SKU: row.SKU}
			out.OkCount++
		}
	}
	return out, nil
}

func (r *Resolver) saveCategory(ctx context.Context, id *uuid.UUID, in model.CategoryInput) (*model.CategoryPayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	parent, err := parseOptID(typeCategory, in.ParentID)
	if err != nil {
		return nil, err
	}
	sort := 0
	if in.SortOrder != nil {
		sort = *in.SortOrder
	}
	c, err := r.CatalogService.SaveCategory(ctx, p, id, catalog.CategoryInput{ParentID: parent, Code: in.Code, Name: in.Name, SortOrder: sort})
	errs, err := catalogErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		c = nil
	}
	return &model.CategoryPayload{Category: c, Errors: errs}, nil
}

func (r *Resolver) saveProduct(ctx context.Context, id *uuid.UUID, in model.ProductInput) (*model.ProductPayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	cat, err := parseID(typeCategory, in.CategoryID)
	if err != nil {
		return nil, err
	}
	pr, err := r.CatalogService.SaveProduct(ctx, p, id, catalog.ProductInput{
		Code: in.Code, Name: in.Name, Brand: deref(in.Brand), CategoryID: cat, Unit: in.Unit,
		Description: deref(in.Description), Serialised: in.Serialised != nil && *in.Serialised,
	})
	errs, err := catalogErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		pr = nil
	}
	return &model.ProductPayload{Product: pr, Errors: errs}, nil
}

func targetValue(v *string) string { return deref(v) }

// deref2 turns the services' pointer slices into the value slices gqlgen wants for lists of objects.
func deref2[T any](in []*T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = *v
	}
	return out
}

// catalogNode resolves node(id) for catalogue objects: categories and products
// for anyone signed in, a SKU only when the caller's catalogue shows it.
func (r *Resolver) catalogNode(ctx context.Context, p auth.Principal, typ, gid string) (model.Node, error) {
	id, err := parseID(typ, gid)
	if err != nil {
		return nil, err
	}
	switch typ {
	case typeCategory:
		c, err := loadersFrom(ctx).category.Load(ctx, id)
		return nilIfNotFound(c, err)
	case typeProduct:
		pr, err := loadersFrom(ctx).product.Load(ctx, id)
		return nilIfNotFound(pr, err)
	}
	buyer, err := r.CatalogService.Buyer(ctx, p, nil)
	if errors.Is(err, catalog.ErrBuyerRequired) {
		return nil, nil // a salesman's catalogue is always some store's
	}
	if err != nil {
		return nil, err
	}
	v, err := r.skuView(ctx, buyer, id)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	return v, err
}
