package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/api/option"

	"channelhub/internal/auth"
	"channelhub/internal/credit"
	"channelhub/internal/i18n"
	"channelhub/internal/notify"
	"channelhub/internal/order"
	"channelhub/internal/outbox"
	"channelhub/internal/serial"
	"channelhub/internal/visit"
)

// Shipment events, emitted by the shipment issue's code; their alerts live here.
const (
	EventShipmentDispatched = "shipment.dispatched"
	EventShipmentDelivered  = "shipment.delivered"
)

// openSender pushes through FCM when credentials are configured, else to the log.
func (s *Server) openSender(ctx context.Context) (notify.Sender, error) {
	c := s.Config
	if c.FCMCredentialsFile == "" {
		return notify.NewLog(s.log), nil
	}
	var opts []notify.FCMOption
	opts = append(opts, notify.WithLogger(s.log))
	if c.FCMEndpoint != "" {
		opts = append(opts, notify.WithClientOptions(option.WithEndpoint(strings.TrimRight(c.FCMEndpoint, "/")+"/v1")))
	}
	return notify.NewFCM(ctx, c.FCMProjectID, c.FCMCredentialsFile, opts...)
}

// Who hears about a buyer's orders and credit.
var (
	buyerUsers  = []auth.Role{auth.RoleDistributorAdmin, auth.RoleDistributorStaff, auth.RoleStoreManager, auth.RoleStoreStaff}
	buyerAdmins = []auth.Role{auth.RoleDistributorAdmin, auth.RoleStoreManager}
	// A store's action items go to its managers.
	storeManagers = []auth.Role{auth.RoleStoreManager}
)

// orderAlerts are the order events the buyer is told of; high ones buzz.
var orderAlerts = map[string]bool{
	"approved": true, "auto_approved": true, "rejected": true, "credit_held": true,
	"credit_released": false, "cancelled": false, "shipped": true, "completed": false,
}

// alert turns an event into inbox entries and pushes for the users it concerns,
// and for no one else.
func (s *Server) alert(ctx context.Context, e *outbox.Event) error {
	ctx = i18n.WithLanguage(ctx, "zh-CN")
	switch {
	case strings.HasPrefix(e.Type, "order."):
		kind := strings.TrimPrefix(e.Type, "order.")
		high, ok := orderAlerts[kind]
		if !ok {
			return nil
		}
		var m order.Message
		if err := json.Unmarshal([]byte(e.Payload), &m); err != nil {
			return fmt.Errorf("server: alert %s: %w", e.ID, err)
		}
		return s.tell(ctx, e, m.BuyerID, buyerUsers, notify.Note{Category: notify.CategoryOrder, High: high,
			Title:  i18n.T(ctx, "notify.order."+kind+".title", map[string]any{"Number": m.Number}),
			Body:   i18n.T(ctx, "notify.order."+kind+".body", map[string]any{"Number": m.Number, "Reason": m.Reason}),
			Target: "order/" + m.OrderID.String(), CollapseKey: "order:" + m.OrderID.String()})
	case e.Type == credit.EventUpdated:
		var c credit.Change
		if err := json.Unmarshal([]byte(e.Payload), &c); err != nil {
			return fmt.Errorf("server: alert %s: %w", e.ID, err)
		}
		for _, at := range []int64{10000, 8000} { // the higher threshold crossed is the one told
			if c.UseBPWas < at && c.UseBP >= at {
				return s.tell(ctx, e, c.BuyerID, buyerAdmins, notify.Note{Category: notify.CategoryCredit, High: at == 10000,
					Title:  i18n.T(ctx, "notify.credit.use.title", map[string]any{"Percent": at / 100}),
					Body:   i18n.T(ctx, "notify.credit.use.body", map[string]any{"Percent": at / 100}),
					Target: "credit", CollapseKey: "credit"})
			}
		}
	case e.Type == credit.EventStatusChanged:
		var c credit.StatusChange
		if err := json.Unmarshal([]byte(e.Payload), &c); err != nil {
			return fmt.Errorf("server: alert %s: %w", e.ID, err)
		}
		return s.tell(ctx, e, c.BuyerID, buyerAdmins, notify.Note{Category: notify.CategoryCredit, High: c.To != credit.StatusOK,
			Title:  i18n.T(ctx, "notify.credit.status.title", nil),
			Body:   i18n.T(ctx, "notify.credit.status."+string(c.To), nil),
			Target: "credit", CollapseKey: "credit"})
	case e.Type == credit.EventLimitChanged:
		var c struct {
			BuyerID  uuid.UUID `json:"buyerId"`
			NewLimit int64     `json:"newLimit"`
		}
		if err := json.Unmarshal([]byte(e.Payload), &c); err != nil {
			return fmt.Errorf("server: alert %s: %w", e.ID, err)
		}
		return s.tell(ctx, e, c.BuyerID, buyerAdmins, notify.Note{Category: notify.CategoryCredit,
			Title:  i18n.T(ctx, "notify.credit.limit.title", nil),
			Body:   i18n.T(ctx, "notify.credit.limit.body", map[string]any{"Limit": fmt.Sprintf("%d.%02d", c.NewLimit/100, c.NewLimit%100)}),
			Target: "credit", CollapseKey: "credit"})
	case e.Type == visit.EventActionItemCreated || e.Type == visit.EventActionItemClosed:
		var m visit.ActionItemMessage
		if err := json.Unmarshal([]byte(e.Payload), &m); err != nil {
			return fmt.Errorf("server: alert %s: %w", e.ID, err)
		}
		key := strings.TrimPrefix(e.Type, "action_item.")
		n := notify.Note{Category: notify.CategoryVisit,
			Title:  i18n.T(ctx, "notify.action_item."+key+".title", map[string]any{"Title": m.Title}),
			Body:   i18n.T(ctx, "notify.action_item."+key+".body", map[string]any{"Title": m.Title, "Reason": i18n.T(ctx, "notify.action_item.reason."+m.Reason, nil), "Note": m.Note}),
			Target: "actionItem/" + m.ActionItemID.String(), CollapseKey: "actionItems:" + m.StoreID.String()}
		if e.Type == visit.EventActionItemCreated {
			return s.tell(ctx, e, m.StoreID, storeManagers, n)
		}
		s.log.DebugContext(ctx, "alert", slog.String("event", e.Type), slog.Int("users", 1))
		return s.Notify.Deliver(ctx, e.ID, []uuid.UUID{m.SalesmanID}, n)
	case e.Type == EventShipmentDispatched || e.Type == EventShipmentDelivered:
		var m struct {
			ShipmentID uuid.UUID `json:"shipmentId"`
			Number     string    `json:"number"`
			BuyerID    uuid.UUID `json:"buyerId"`
		}
		if err := json.Unmarshal([]byte(e.Payload), &m); err != nil {
			return fmt.Errorf("server: alert %s: %w", e.ID, err)
		}
		return s.tell(ctx, e, m.BuyerID, buyerUsers, notify.Note{Category: notify.CategoryShipment, High: true,
			Title:  i18n.T(ctx, "notify."+e.Type+".title", map[string]any{"Number": m.Number}),
			Body:   i18n.T(ctx, "notify."+e.Type+".body", map[string]any{"Number": m.Number}),
			Target: "shipment/" + m.ShipmentID.String(), CollapseKey: "shipment:" + m.ShipmentID.String()})
	case e.Type == serial.EventDiverted:
		return s.alertDiverted(ctx, e)
	}
	return nil
}

// Who hears of diversions: HQ's channel managers, and the managers of the
// branches above either side; nobody at the parties involved.
var hqDiversionUsers = []auth.Role{auth.RoleHQAdmin, auth.RoleSalesOps}

// alertDiverted tells one document's diversions in one note.
func (s *Server) alertDiverted(ctx context.Context, e *outbox.Event) error {
	var m serial.Diverted
	if err := json.Unmarshal([]byte(e.Payload), &m); err != nil {
		return fmt.Errorf("server: alert %s: %w", e.ID, err)
	}
	users, err := s.Parties.Recipients(ctx, m.HQID, hqDiversionUsers...)
	if err != nil {
		return err
	}
	seen := map[uuid.UUID]bool{}
	for _, u := range users {
		seen[u] = true
	}
	for _, b := range m.BranchIDs {
		managers, err := s.Parties.Recipients(ctx, b, auth.RoleBranchManager)
		if err != nil {
			return err
		}
		for _, u := range managers {
			if !seen[u] {
				seen[u] = true
				users = append(users, u)
			}
		}
	}
	expected := strings.Join(m.ExpectedCodes[:min(len(m.ExpectedCodes), 5)], ", ")
	if len(m.ExpectedCodes) > 5 {
		expected += ", …"
	}
	data := map[string]any{"Count": m.Count, "More": m.Count - 1, "Actual": m.ActualCode, "Expected": expected,
		"Serial": m.SerialNumber, "Document": m.DocumentNumber}
	target := "diversions"
	if m.Count == 1 {
		target = "diversion/" + m.DiversionID.String()
	}
	s.log.DebugContext(ctx, "alert", slog.String("event", e.Type), slog.Int("users", len(users)))
	return s.Notify.Deliver(ctx, e.ID, users, notify.Note{Category: notify.CategoryDiversion, High: true,
		Title:  i18n.T(ctx, "notify.serial.diverted."+string(m.Kind)+".title", data),
		Body:   i18n.T(ctx, "notify.serial.diverted."+string(m.Kind)+".body", data),
		Target: target, CollapseKey: "diversion:" + m.DiversionID.String()})
}

func (s *Server) tell(ctx context.Context, e *outbox.Event, party uuid.UUID, roles []auth.Role, n notify.Note) error {
	users, err := s.Parties.Recipients(ctx, party, roles...)
	if err != nil {
		return err
	}
	s.log.DebugContext(ctx, "alert", slog.String("event", e.Type), slog.Int("users", len(users)))
	return s.Notify.Deliver(ctx, e.ID, users, n)
}
