package graph

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/credit"
	"channelhub/internal/order"
	"channelhub/internal/party"
	"channelhub/internal/serial"
)

const (
	typeOrder        = "Order"
	typeReturn       = "Return"
	typeCart         = "Cart"
	typeLimitRequest = "CreditLimitRequest"
)

var orderCodes = codeMap[model.OrderErrorCode]{
	{order.ErrInvalidInput, model.OrderErrorCodeInvalidInput},
	{order.ErrEmpty, model.OrderErrorCodeCartEmpty},
	{order.ErrTooManyLines, model.OrderErrorCodeTooManyLines},
	{order.ErrUnknownSKU, model.OrderErrorCodeUnknownSku},
	{order.ErrNotAuthorised, model.OrderErrorCodeSkuNotAuthorised},
	{order.ErrOffShelf, model.OrderErrorCodeOffShelf},
	{order.ErrBelowMinimum, model.OrderErrorCodeBelowMinimum},
	{order.ErrNotPackMultiple, model.OrderErrorCodeNotPackMultiple},
	{order.ErrInvalidQuantity, model.OrderErrorCodeInvalidQuantity},
	{order.ErrInsufficientStock, model.OrderErrorCodeInsufficientStock},
	{order.ErrCreditLimitExceeded, model.OrderErrorCodeCreditLimitExceeded},
	{order.ErrCreditStopped, model.OrderErrorCodeCreditStopped},
	{order.ErrPromotionChanged, model.OrderErrorCodePromotionChanged},
	{order.ErrKeyReused, model.OrderErrorCodeIdempotencyKeyReused},
	{order.ErrInvalidTransition, model.OrderErrorCodeInvalidTransition},
	{order.ErrNotAllowed, model.OrderErrorCodeNotAllowed},
	{order.ErrShipmentInProgress, model.OrderErrorCodeShipmentInProgress},
	{order.ErrReasonRequired, model.OrderErrorCodeReasonRequired},
	{order.ErrReturnTooMuch, model.OrderErrorCodeReturnTooMuch},
	{order.ErrNoSupplier, model.OrderErrorCodeNoSupplier},
	{order.ErrSerialMismatch, model.OrderErrorCodeSerialCountMismatch},
	{order.ErrSerialUnavailable, model.OrderErrorCodeSerialUnavailable},
	{serial.ErrMalformed, model.OrderErrorCodeSerialMalformed},
	{serial.ErrTooMany, model.OrderErrorCodeTooManySerials},
}

func orderErrors(ctx context.Context, err error) ([]model.OrderError, error) {
	return userErrors(ctx, "order", orderCodes, err, func(code model.OrderErrorCode, field []string, msg string) model.OrderError {
		return model.OrderError{Code: code, Field: field, Message: msg}
	})
}

func orderPayload(ctx context.Context, o *order.Order, err error) (*model.OrderPayload, error) {
	errs, err := orderErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		o = nil
	}
	return &model.OrderPayload{Order: o, Errors: errs}, nil
}

func returnPayload(ctx context.Context, rt *order.Return, err error) (*model.ReturnPayload, error) {
	errs, err := orderErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		rt = nil
	}
	return &model.ReturnPayload{Return: rt, Errors: errs}, nil
}

// orderLines converts the input lines; client prices are dropped here, the server prices.
func orderLines(in []model.OrderLineInput) ([]order.LineInput, error) {
	out := make([]order.LineInput, len(in))
	for i, l := range in {
		id, err := parseID(typeSKU, l.SkuID)
		if err != nil {
			return nil, err
		}
		out[i] = order.LineInput{SKUID: id, Qty: int64(l.Qty)}
	}
	return out, nil
}

func orderSubmitInput(in model.OrderSubmitInput) (order.SubmitInput, error) {
	out := order.SubmitInput{IdempotencyKey: in.IdempotencyKey, Note: deref(in.Note), Address: address(in.DeliveryAddress)}
	var err error
	if out.BuyerID, err = parseOptID(typeParty, in.AsPartyID); err != nil {
		return out, err
	}
	if in.CartID != nil {
		buyer, err := parseID(typeCart, *in.CartID)
		if err != nil {
			return out, err
		}
		if out.BuyerID != nil && *out.BuyerID != buyer {
			return out, errInvalidID
		}
		out.BuyerID, out.FromCart = &buyer, true
	}
	if in.Lines != nil {
		if out.Lines, err = orderLines(in.Lines); err != nil {
			return out, err
		}
	}
	return out, nil
}

// act runs an order action on the order with global ID id.
func (r *Resolver) orderAct(ctx context.Context, id string, fn func(p auth.Principal, id uuid.UUID) (*order.Order, error)) (*model.OrderPayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	oid, err := parseID(typeOrder, id)
	if err != nil {
		return nil, err
	}
	o, err := fn(p, oid)
	return orderPayload(ctx, o, err)
}

func (r *Resolver) returnAct(ctx context.Context, id string, fn func(p auth.Principal, id uuid.UUID) (*order.Return, error)) (*model.ReturnPayload, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	rid, err := parseID(typeReturn, id)
	if err != nil {
		return nil, err
	}
	rt, err := fn(p, rid)
	return returnPayload(ctx, rt, err)
}

// viewerCan answers a viewerCan* flag of an order.
func (r *Resolver) viewerCan(ctx context.Context, o *order.Order, a order.Action) (bool, error) {
	p, err := auth.FromContext(ctx)
	if err != nil {
		return false, err
	}
	seller, err := loadersFrom(ctx).counterparty.Load(ctx, o.SellerID)
	if err != nil {
		return false, err
	}
	return r.OrderService.Can(p, o, seller != nil && seller.Kind == party.KindHQ, a), nil
}

// userOrNil loads a user the viewer may see; nil when it may not.
func (r *Resolver) userOrNil(ctx context.Context, id *uuid.UUID) (*party.User, error) {
	if id == nil {
		return nil, nil
	}
	p, err := auth.FromContext(ctx)
	if err != nil {
		return nil, err
	}
	u, err := r.PartyService.User(ctx, p, *id)
	if errors.Is(err, auth.ErrForbidden) || errors.Is(err, party.ErrUserNotFound) || errors.Is(err, party.ErrNotFound) {
		return nil, nil
	}
	return u, err
}

// orderFilter converts the list filter.
func orderFilter(f *model.OrderFilter) (order.Filter, error) {
	var out order.Filter
	if f == nil {
		return out, nil
	}
	if len(f.Statuses) > 8 {
		return out, order.ErrInvalidInputAt("filter", "statuses")
	}
	out.Statuses = f.Statuses
	out.Kind = f.Kind
	out.From, out.To = f.SubmittedFrom, f.SubmittedTo
	out.Number = deref(f.Number)
	var err error
	out.BuyerID, err = parseOptID(typeParty, f.BuyerID)
	return out, err
}

// orderNode answers node(id) for orders, returns and credit limit requests.
func (r *Resolver) orderNode(ctx context.Context, p auth.Principal, typ, gid string) (model.Node, error) {
	id, err := parseID(typ, gid)
	if err != nil {
		return nil, err
	}
	switch typ {
	case typeOrder:
		o, err := r.OrderService.Get(ctx, p, id)
		if errors.Is(err, order.ErrNotFound) {
			return nil, nil
		}
		return o, err
	case typeReturn:
		rt, _, err := r.OrderService.Return(ctx, p, id)
		if errors.Is(err, order.ErrNotFound) {
			return nil, nil
		}
		return rt, err
	}
	req, err := r.CreditService.Request(ctx, p, id)
	if errors.Is(err, credit.ErrNotFound) || errors.Is(err, auth.ErrForbidden) {
		return nil, nil
	}
	return req, err
}

// myOrderTopics are the topics of the orders in p's scope: its party's
// subtree, or for a salesman alone, its stores.
func (r *Resolver) myOrderTopics(ctx context.Context, p auth.Principal) ([]string, error) {
	if !p.Has(auth.RoleSalesman) || len(p.Roles) > 1 {
		return []string{order.PartyTopic(p.PartyID)}, nil
	}
	stores, err := r.PartyService.StoresOf(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	topics := make([]string, len(stores))
	for i, s := range stores {
		topics[i] = order.PartyTopic(s)
	}
	return topics, nil
}
