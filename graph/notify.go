package graph

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"channelhub/graph/model"
	"channelhub/internal/auth"
	"channelhub/internal/broker"
	"channelhub/internal/notify"
)

const typeNotification = "Notification"

var notifyCodes = codeMap[model.NotifyErrorCode]{
	{notify.ErrInvalidInput, model.NotifyErrorCodeInvalidInput},
}

func notifyErrors(ctx context.Context, err error) ([]model.NotifyError, error) {
	return userErrors(ctx, "notify", notifyCodes, err, func(code model.NotifyErrorCode, field []string, msg string) model.NotifyError {
		return model.NotifyError{Code: code, Field: field, Message: msg}
	})
}

// inboxPayload answers a change of the inbox with the unread count after it.
func (r *Resolver) inboxPayload(ctx context.Context, p auth.Principal, err error) (*model.InboxPayload, error) {
	errs, err := notifyErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	n, err := r.NotifyService.Unread(ctx, p)
	if err != nil {
		return nil, err
	}
	return &model.InboxPayload{UnreadCount: n, Errors: errs}, nil
}

func (r *Resolver) devicePayload(ctx context.Context, p auth.Principal, err error) (*model.DevicePayload, error) {
	errs, err := notifyErrors(ctx, err)
	if err != nil {
		return nil, err
	}
	n, err := r.NotifyService.Devices(ctx, p)
	if err != nil {
		return nil, err
	}
	return &model.DevicePayload{Devices: n, Errors: errs}, nil
}

// notificationOf reads a live inbox message's notification id.
func notificationOf(m broker.Message) (uuid.UUID, bool) {
	var v struct {
		ID uuid.UUID `json:"id"`
	}
	if err := json.Unmarshal(m.Payload, &v); err != nil || v.ID == uuid.Nil {
		return uuid.Nil, false
	}
	return v.ID, true
}
