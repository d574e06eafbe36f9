package graph

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/cart"
	"channelhub/internal/catalog"
	"channelhub/internal/channel"
	"channelhub/internal/credit"
	"channelhub/internal/i18n"
	"channelhub/internal/inventory"
	"channelhub/internal/order"
	"channelhub/internal/page"
	"channelhub/internal/party"
	"channelhub/internal/receipt"
	"channelhub/internal/requestid"
	"channelhub/internal/serial"
	"channelhub/internal/shipment"
	"channelhub/internal/transfer"
	"channelhub/internal/visit"
)

// topLevel maps the errors allowed in the top-level list to their codes;
// anything else is an internal fault whose detail stays in the log.
var topLevel = []struct {
	err  error
	code model.ErrorCode
	msg  string
}{
	{auth.ErrUnauthenticated, model.ErrorCodeUnauthenticated, "error.UNAUTHENTICATED"},
	{auth.ErrForbidden, model.ErrorCodeForbidden, "error.FORBIDDEN"},
	{party.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{party.ErrUserNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{page.ErrInvalid, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST.page"},
	{page.ErrSearchTooLong, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST.search"},
	{party.ErrInvalidInput, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST"}, // a query's filter; mutations answer it in the payload
	{catalog.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{inventory.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{order.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{credit.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{order.ErrInvalidInput, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST"}, // a query's filter
	{catalog.ErrInvalidInput, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST"},
	{errAsPartyRequired, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST.asParty"},
	{cart.ErrBuyerRequired, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST.asParty"},
	{errInvalidID, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST.id"},
	{errTooManySubscriptions, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST.subscriptions"},
	{model.ErrDecimal, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST.decimal"},
	{visit.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{visit.ErrInvalidInput, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST"}, // a query's date or filter
	{serial.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{shipment.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{receipt.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{shipment.ErrInvalidInput, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST"}, // a query's filter
	{transfer.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{transfer.ErrInvalidInput, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST"}, // a query's filter
	{channel.ErrNotFound, model.ErrorCodeNotFound, "error.NOT_FOUND"},
	{channel.ErrInvalidInput, model.ErrorCodeInvalidRequest, "error.INVALID_REQUEST"}, // a query's period, depth or filter
}

// newError builds a top-level error with a code and a catalogued message.
func newError(ctx context.Context, code model.ErrorCode, msgID string) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    i18n.T(ctx, msgID, nil),
		Extensions: map[string]any{"code": code.String()},
	}
}

// presenter turns any resolver error into a top-level error with a stable code.
func presenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gerr *gqlerror.Error
		if errors.As(err, &gerr) && gerr.Err == nil {
			return requestError(gerr)
		}
		path := graphql.GetPath(ctx)
		for _, m := range topLevel {
			if errors.Is(err, m.err) {
				out := newError(ctx, m.code, m.msg)
				out.Path = path
				return out
			}
		}
		log.ErrorContext(ctx, "internal error", "err", err, "path", path.String(), "request_id", requestid.From(ctx))
		out := newError(ctx, model.ErrorCodeInternal, "error.INTERNAL")
		out.Path = path
		return out
	}
}

// protocolCodes are gqlgen's own codes that clients act on; they pass unchanged.
var protocolCodes = map[any]bool{"PERSISTED_QUERY_NOT_FOUND": true, "PERSISTED_QUERY_NOT_SUPPORTED": true,
	codePersistedQueryNotAllowed: true}

// requestError gives gqlgen's parse, validation and limit errors our code,
// keeping gqlgen's code as the reason.
func requestError(e *gqlerror.Error) *gqlerror.Error {
	code := e.Extensions["code"]
	if protocolCodes[code] {
		return e
	}
	for _, c := range model.AllErrorCode {
		if code == c.String() {
			return e
		}
	}
	ext := map[string]any{"code": model.ErrorCodeInvalidRequest.String()}
	if code != nil {
		ext["reason"] = code
	}
	e.Extensions = ext
	return e
}

// recoverer keeps a panic in a resolver from taking the process down; it is an internal fault.
func recoverer(log *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "panic in resolver", "panic", v, "request_id", requestid.From(ctx))
		return errors.New("graph: panic")
	}
}

// codeMap ties a domain's sentinel errors to its payload error codes.
type codeMap[C ~string] []struct {
	err  error
	code C
}

// fieldPather is a domain error that names the input field at fault.
type fieldPather interface{ FieldPath() []string }

// match finds the code for err, with the field path when the domain gave one.
func (m codeMap[C]) match(err error) (C, []string, bool) {
	var field []string
	var fe fieldPather
	if errors.As(err, &fe) {
		field = fe.FieldPath()
	}
	for _, e := range m {
		if errors.Is(err, e.err) {
			return e.code, field, true
		}
	}
	var zero C
	return zero, nil, false
}

// userErrors splits err (possibly joined) into payload errors; any error that
// is not a business error of this domain is returned for the top-level list.
func userErrors[C ~string, E any](ctx context.Context, prefix string, m codeMap[C], err error, mk func(code C, field []string, msg string) E) ([]E, error) {
	if err == nil {
		return []E{}, nil
	}
	errs := flatten(err)
	out := make([]E, 0, len(errs))
	for _, e := range errs {
		code, field, ok := m.match(e)
		if !ok {
			return nil, e
		}
		out = append(out, mk(code, field, i18n.T(ctx, prefix+"."+string(code), nil)))
	}
	return out, nil
}

var partyCodes = codeMap[model.PartyErrorCode]{
	{party.ErrInvalidInput, model.PartyErrorCodeInvalidInput},
	{party.ErrPhoneInvalid, model.PartyErrorCodeInvalidInput},
	{party.ErrCodeTaken, model.PartyErrorCodeCodeTaken},
	{party.ErrParentNotFound, model.PartyErrorCodeParentNotFound},
	{party.ErrParentKindInvalid, model.PartyErrorCodeParentKindInvalid},
	{party.ErrStatusTransition, model.PartyErrorCodeInvalidStatusTransition},
	{party.ErrReasonRequired, model.PartyErrorCodeReasonRequired},
	{party.ErrNotFound, model.PartyErrorCodeNotFound},
}

var userCodes = codeMap[model.UserErrorCode]{
	{party.ErrInvalidInput, model.UserErrorCodeInvalidInput},
	{party.ErrPhoneInvalid, model.UserErrorCodePhoneInvalid},
	{party.ErrPhoneTaken, model.UserErrorCodePhoneTaken},
	{party.ErrPartyNotFound, model.UserErrorCodePartyNotFound},
	{party.ErrRoleNotAllowed, model.UserErrorCodeRoleNotAllowed},
	{auth.ErrPasswordPolicy, model.UserErrorCodePasswordPolicy},
	{party.ErrStoreNotFound, model.UserErrorCodeStoreNotFound},
	{party.ErrNotSalesman, model.UserErrorCodeNotASalesman},
	{party.ErrReasonRequired, model.UserErrorCodeReasonRequired},
	{party.ErrUserNotFound, model.UserErrorCodeNotFound},
	{party.ErrLastAdmin, model.UserErrorCodeLastAdmin},
}

var authCodes = codeMap[model.AuthErrorCode]{
	{auth.ErrInvalidCredentials, model.AuthErrorCodeInvalidCredentials},
	{auth.ErrTooManyAttempts, model.AuthErrorCodeTooManyAttempts},
	{auth.ErrAccountLocked, model.AuthErrorCodeAccountLocked},
	{auth.ErrAppNotAllowed, model.AuthErrorCodeAppNotAllowed},
	{auth.ErrAccountDisabled, model.AuthErrorCodeAccountDisabled},
	{auth.ErrRefreshInvalid, model.AuthErrorCodeRefreshTokenInvalid},
	{auth.ErrRefreshReused, model.AuthErrorCodeRefreshTokenReused},
	{auth.ErrPasswordIncorrect, model.AuthErrorCodePasswordIncorrect},
	{auth.ErrPasswordPolicy, model.AuthErrorCodePasswordPolicy},
	{auth.ErrInvalidInput, model.AuthErrorCodeInvalidInput},
}

func partyError(code model.PartyErrorCode, field []string, msg string) model.PartyError {
	return model.PartyError{Code: code, Field: field, Message: msg}
}

func userError(code model.UserErrorCode, field []string, msg string) model.UserError {
	return model.UserError{Code: code, Field: field, Message: msg}
}

// flatten lists the leaves of errors.Join trees, so each field error becomes one payload error.
func flatten(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}
