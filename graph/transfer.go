package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/shipment"
	"channelhub/internal/transfer"
)

const typeTransfer = "Transfer"

// transferLoaders batch the edges of transfers.
type transferLoaders struct {
	byID      *dataloadgen.Loader[uuid.UUID, *transfer.Transfer] // unscoped: the transfer of a shipment in scope
	lines     *dataloadgen.Loader[uuid.UUID, []transfer.Line]
	events    *dataloadgen.Loader[uuid.UUID, []transfer.Event]
	holds     *dataloadgen.Loader[uuid.UUID, []transfer.Reservation]
	shipments *dataloadgen.Loader[uuid.UUID, []*shipment.Shipment]
	hq        *dataloadgen.Loader[uuid.UUID, bool] // whether the supplier is HQ
}

func (r *Resolver) newTransferLoaders() *transferLoaders {
	o := r.batchOpts()
	return &transferLoaders{
		byID:      byID(o, r.TransferService.ByID),
		lines:     grouped(o, r.TransferService.LinesOf),
		events:    grouped(o, r.TransferService.EventsOf),
		holds:     grouped(o, r.TransferService.ReservationsOf),
		shipments: grouped(o, r.ShipmentService.OfTransfers),
		hq:        byID(o, r.TransferService.SupplierIsHQ),
	}
}

func transferLoadersFrom(ctx context.Context) *transferLoaders { return shipLoadersFrom(ctx).transfers }

var transferCodes = codeMap[model.TransferErrorCode]{
	{transfer.ErrInvalidInput, model.TransferErrorCodeInvalidInput},
	{transfer.ErrNotAllowed, model.TransferErrorCodeNotAllowed},
	{transfer.ErrInvalidTransition, model.TransferErrorCodeInvalidTransition},
	{transfer.ErrSameParty, model.TransferErrorCodeSameParty},
	{transfer.ErrPartyNotFound, model.TransferErrorCodePartyNotFound},
	{transfer.ErrNotAllowedParties, model.TransferErrorCodeTransferNotAllowed},
	{transfer.ErrUnknownSKU, model.TransferErrorCodeUnknownSku},
	{transfer.ErrNotAuthorised, model.TransferErrorCodeSkuNotAuthorised},
	{transfer.ErrInsufficientStock, model.TransferErrorCodeInsufficientStock},
	{transfer.ErrReasonRequired, model.TransferErrorCodeReasonRequired},
	{transfer.ErrKeyReused, model.TransferErrorCodeIdempotencyKeyReused},
}

func transferPayload(ctx context.Context, t *transfer.Transfer, err error) (*model.TransferPayload, error) {
	errs, err := userErrors(ctx, "transfer", transferCodes, err, func(code model.TransferErrorCode, field []string, msg string) model.TransferError {
		return model.TransferError{Code: code, Field: field, Message: msg}
	})
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		t = nil
	}
	return &model.TransferPayload{Transfer: t, Errors: errs}, nil
}

// transferAct runs a step on the transfer with global ID id.
func (r *Resolver) transferAct(ctx context.Context, id string, fn func(p auth.Principal, id uuid.UUID) (*transfer.Transfer, error)) (*model.TransferPayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	tid, err := parseID(typeTransfer, id)
	if err != nil {
		return nil, err
	}
	t, err := fn(p, tid)
	return transferPayload(ctx, t, err)
}

// transferCan answers a viewerCan* flag of a transfer.
func (r *Resolver) transferCan(ctx context.Context, t *transfer.Transfer, a transfer.Action) (bool, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return false, err
	}
	hq, err := transferLoadersFrom(ctx).hq.Load(ctx, t.ID)
	if err != nil {
		return false, err
	}
	return transfer.Can(p, t, hq, a), nil
}

func transferFilter(f *model.TransferFilter) (transfer.Filter, error) {
	var out transfer.Filter
	if f == nil {
		return out, nil
	}
	out.Statuses = f.Statuses
	out.Number = deref(f.Search)
	if f.Direction != nil {
		out.Direction = *f.Direction
	}
	var err error
	out.PartyID, err = parseOptID(typeParty, f.PartyID)
	return out, err
}

// transferNode answers node(id) for transfers.
func (r *Resolver) transferNode(ctx context.Context, p auth.Principal, gid string) (model.Node, error) {
	id, err := parseID(typeTransfer, gid)
	if err != nil {
		return nil, err
	}
	t, err := r.TransferService.Get(ctx, p, id)
	if errors.Is(err, transfer.ErrNotFound) {
		return nil, nil
	}
	return t, err
}
