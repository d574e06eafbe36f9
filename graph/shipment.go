package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/catalog"
	"channelhub/internal/inventory"
	"channelhub/internal/order"
	"channelhub/internal/party"
	"channelhub/internal/receipt"
	"channelhub/internal/serial"
	"channelhub/internal/shipment"
	"channelhub/internal/transfer"
)

const (
	typeSerial   = "Serial"
	typeShipment = "Shipment"
	typeReceipt  = "Receipt"
	typeClaim    = "Claim"
)

// shipLoaders batch the edges of shipments, receipts and claims.
type shipLoaders struct {
	ofOrder   *dataloadgen.Loader[uuid.UUID, []*shipment.Shipment]
	lines     *dataloadgen.Loader[uuid.UUID, []shipment.Line]
	events    *dataloadgen.Loader[uuid.UUID, []shipment.Event]
	receipt   *dataloadgen.Loader[uuid.UUID, *receipt.Receipt] // by shipment
	claimOf   *dataloadgen.Loader[uuid.UUID, *receipt.Claim]   // by receipt
	claim     *dataloadgen.Loader[uuid.UUID, *receipt.Claim]
	items     *dataloadgen.Loader[uuid.UUID, []receipt.Item]
	shipment  *dataloadgen.Loader[uuid.UUID, *shipment.Shipment] // unscoped: the shipment of an object in scope
	sellerIsH *dataloadgen.Loader[uuid.UUID, *order.Order]       // unscoped: a shipment's order, for its flags
	transfers *transferLoaders
}

func (r *Resolver) newShipLoaders() *shipLoaders {
	o := r.batchOpts()
	return &shipLoaders{
		ofOrder: grouped(o, r.ShipmentService.OfOrders),
		lines:   grouped(o, r.ShipmentService.LinesOf),
		events:  grouped(o, r.ShipmentService.EventsOf),
		receipt: byID(o, r.ReceiptService.OfShipments),
		claimOf: byID(o, r.ReceiptService.ClaimsOfReceipts),
		claim:   byID(o, r.ReceiptService.ClaimsByID),
		items:   grouped(o, r.ReceiptService.ItemsOf),
		shipment: byID(o, func(ctx context.Context, ids []uuid.UUID) ([]*shipment.Shipment, error) {
			return r.ShipmentService.ByID(ctx, ids)
		}),
		sellerIsH: byID(o, func(ctx context.Context, ids []uuid.UUID) ([]*order.Order, error) {
			return r.OrderService.GetManyUnscoped(ctx, ids)
		}),
		transfers: r.newTransferLoaders(),
	}
}

func shipLoadersFrom(ctx context.Context) *shipLoaders { return loadersFrom(ctx).ship }

var shipmentCodes = codeMap[model.ShipmentErrorCode]{
	{shipment.ErrInvalidInput, model.ShipmentErrorCodeInvalidInput},
	{shipment.ErrNotFound, model.ShipmentErrorCodeNotFound},
	{shipment.ErrNotAllowed, model.ShipmentErrorCodeNotAllowed},
	{shipment.ErrInvalidTransition, model.ShipmentErrorCodeInvalidTransition},
	{shipment.ErrOrderNotShippable, model.ShipmentErrorCodeOrderNotShippable},
	{shipment.ErrTooMuch, model.ShipmentErrorCodeTooMuch},
	{shipment.ErrWarehouse, model.ShipmentErrorCodeWarehouseInvalid},
	{shipment.ErrInsufficientStock, model.ShipmentErrorCodeInsufficientStock},
	{shipment.ErrSerialCount, model.ShipmentErrorCodeSerialCountMismatch},
	{shipment.ErrSerialUnavailable, model.ShipmentErrorCodeSerialUnavailable},
	{shipment.ErrInsufficientSerial, model.ShipmentErrorCodeInsufficientSerials},
	{shipment.ErrCarrierRequired, model.ShipmentErrorCodeCarrierRequired},
	{shipment.ErrKeyReused, model.ShipmentErrorCodeIdempotencyKeyReused},
	{serial.ErrMalformed, model.ShipmentErrorCodeSerialMalformed},
	{serial.ErrRangeInvalid, model.ShipmentErrorCodeSerialRangeInvalid},
	{serial.ErrTooMany, model.ShipmentErrorCodeTooManySerials},
	{serial.ErrExists, model.ShipmentErrorCodeSerialExists},
	{serial.ErrNotSerialised, model.ShipmentErrorCodeSkuNotSerialised},
	{serial.ErrUnavailable, model.ShipmentErrorCodeSerialUnavailable},
	{serial.ErrKeyReused, model.ShipmentErrorCodeIdempotencyKeyReused},
	{serial.ErrInvalidInput, model.ShipmentErrorCodeInvalidInput},
	{inventory.ErrSKUNotFound, model.ShipmentErrorCodeSkuNotFound},
	{inventory.ErrNotFound, model.ShipmentErrorCodeWarehouseInvalid},
	{inventory.ErrBelowReserved, model.ShipmentErrorCodeInsufficientStock},
	{receipt.ErrInvalidInput, model.ShipmentErrorCodeInvalidInput},
	{receipt.ErrNotFound, model.ShipmentErrorCodeNotFound},
	{receipt.ErrNotBuyer, model.ShipmentErrorCodeNotBuyer},
	{receipt.ErrNotReceivable, model.ShipmentErrorCodeNotReceivable},
	{receipt.ErrSerialOther, model.ShipmentErrorCodeSerialOtherShipment},
	{receipt.ErrTooMuch, model.ShipmentErrorCodeReceiptTooMuch},
	{receipt.ErrReasonRequired, model.ShipmentErrorCodeReasonRequired},
	{receipt.ErrKeyReused, model.ShipmentErrorCodeIdempotencyKeyReused},
	{receipt.ErrClaimResolved, model.ShipmentErrorCodeClaimResolved},
	{receipt.ErrNotAllowed, model.ShipmentErrorCodeNotAllowed},
	{receipt.ErrInvalidResolution, model.ShipmentErrorCodeInvalidInput},
	{transfer.ErrNotFound, model.ShipmentErrorCodeNotFound},
	{transfer.ErrNotAllowed, model.ShipmentErrorCodeNotAllowed},
	{transfer.ErrInvalidTransition, model.ShipmentErrorCodeInvalidTransition},
}

func shipmentErrors(ctx context.Context, err error) ([]model.ShipmentError, error) {
	return userErrors(ctx, "shipment", shipmentCodes, err, func(code model.ShipmentErrorCode, field []string, msg string) model.ShipmentError {
		return model.ShipmentError{Code: code, Field: field, Message: msg}
	})
}

func shipmentPayload(ctx context.Context, sh *shipment.Shipment, err error) (*model.ShipmentPayload, error) {
	errs, err := shipmentErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		sh = nil
	}
	return &model.ShipmentPayload{Shipment: sh, Errors: errs}, nil
}

// shipmentAct runs a step on the shipment with global ID id.
func (r *Resolver) shipmentAct(ctx context.Context, id string, fn func(p auth.Principal, id uuid.UUID) (*shipment.Shipment, error)) (*model.ShipmentPayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	sid, err := parseID(typeShipment, id)
	if err != nil {
		return nil, err
	}
	sh, err := fn(p, sid)
	return shipmentPayload(ctx, sh, err)
}

func serialRanges(in []model.SerialRangeInput) []serial.Range {
	out := make([]serial.Range, len(in))
	for i, r := range in {
		out[i] = serial.Range{From: r.From, To: r.To}
	}
	return out
}

// shipmentCan answers a viewerCan* flag of a shipment.
func (r *Resolver) shipmentCan(ctx context.Context, sh *shipment.Shipment, a string) (bool, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return false, err
	}
	if sh.TransferID != uuid.Nil {
		return r.ShipmentService.Can(p, sh, nil, false, a), nil
	}
	o, err := shipLoadersFrom(ctx).sellerIsH.Load(ctx, sh.OrderID)
	if err != nil || o == nil {
		return false, err
	}
	seller, err := loadersFrom(ctx).counterparty.Load(ctx, sh.SellerID)
	if err != nil {
		return false, err
	}
	return r.ShipmentService.Can(p, sh, o, seller != nil && seller.Kind == party.KindHQ, a), nil
}

func shipmentFilter(f *model.ShipmentFilter) (shipment.Filter, error) {
	var out shipment.Filter
	if f == nil {
		return out, nil
	}
	out.Statuses = f.Statuses
	out.Number = deref(f.Search)
	out.Incoming = f.Incoming != nil && *f.Incoming
	var err error
	if out.OrderID, err = parseOptID(typeOrder, f.OrderID); err != nil {
		return out, err
	}
	if out.TransferID, err = parseOptID(typeTransfer, f.TransferID); err != nil {
		return out, err
	}
	out.BuyerID, err = parseOptID(typeParty, f.BuyerID)
	return out, err
}

// shipmentNode answers node(id) for shipments, receipts' claims and claims.
func (r *Resolver) shipmentNode(ctx context.Context, p auth.Principal, typ, gid string) (model.Node, error) {
	id, err := parseID(typ, gid)
	if err != nil {
		return nil, err
	}
	switch typ {
	case typeShipment:
		sh, err := r.ShipmentService.Get(ctx, p, id)
		if errors.Is(err, shipment.ErrNotFound) {
			return nil, nil
		}
		return sh, err
	case typeClaim:
		c, err := r.ReceiptService.Claim(ctx, p, id)
		if errors.Is(err, receipt.ErrNotFound) {
			return nil, nil
		}
		return c, err
	}
	return nil, nil
}

// pageOf is the connection bookkeeping shared by the lists here.
func pageInfo[T any](rows []T, more bool, cursor func(T) string) model.PageInfo {
	pi := model.PageInfo{HasNextPage: more}
	if n := len(rows); n > 0 {
		c := cursor(rows[n-1])
		pi.EndCursor = &c
	}
	return pi
}

// skuOrNil shows a SKU the catalogue still knows.
func (r *Resolver) skuOrNil(ctx context.Context, id *uuid.UUID) (*model.SKUView, error) {
	if id == nil {
		return nil, nil
	}
	v, err := r.loadSKUView(ctx, *id, nil)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	return v, err
}

// mustShipment loads the shipment of an object already in scope.
func (r *Resolver) mustShipment(ctx context.Context, id uuid.UUID) (*shipment.Shipment, error) {
	sh, err := shipLoadersFrom(ctx).shipment.Load(ctx, id)
	if err == nil && sh == nil {
		return nil, shipment.ErrNotFound
	}
	return sh, err
}

// primeSerial fills the request's loaders with the unit's SKU and holder (read
// with the unit) and the parties of its territory and trail that the query
// selects (one statement, only when needed), so their resolvers do not wait a
// batch window.
func (r *Resolver) primeSerial(ctx context.Context, sr *serial.Serial) error {
	l := loadersFrom(ctx)
	if sr.SKU != nil {
		l.sku.Prime(sr.SKUID, sr.SKU)
	}
	if sr.Holder != nil {
		l.counterparty.Prime(sr.HolderID, sr.Holder)
	}
	var ids []uuid.UUID
	if sr.TerritoryID != nil && *sr.TerritoryID != sr.HolderID && selects(ctx, "territory") {
		ids = append(ids, *sr.TerritoryID)
	}
	if selects(ctx, "trail", "holder") {
		for _, e := range sr.Trail {
			if e.HolderID != sr.HolderID {
				ids = append(ids, e.HolderID)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return prime(ctx, l.counterparty, ids, r.PartyService.Counterparties)
}
