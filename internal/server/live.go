package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"channelhub/internal/broker"
	"channelhub/internal/database"
	"channelhub/internal/order"
	"channelhub/internal/outbox"
)

// openBroker is Redis pub/sub when Redis is configured (every instance's
// subscribers hear every instance's events), in-process otherwise.
func (s *Server) openBroker() (broker.Broker, error) {
	if s.Redis == nil {
		return broker.NewMemory(broker.Options{}), nil
	}
	return broker.NewRedis(s.Redis, s.redisPrefix+"live:", broker.Options{})
}

// newDispatcher delivers outbox events to the broker; its outcomes and the
// parked count are on /metrics.
func (s *Server) newDispatcher(reg prometheus.Registerer) *outbox.Dispatcher {
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "channelhub_outbox_events_total", Help: "Outbox events by dispatch outcome (delivered, retry, parked).",
	}, []string{"outcome"})
	parked := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "channelhub_outbox_parked_events", Help: "Outbox events parked after their last attempt.",
	}, func() float64 {
		n, err := outbox.CountParked(context.Background(), s.DB)
		if err != nil {
			return -1
		}
		return float64(n)
	})
	reg.MustRegister(outcomes, parked)
	return &outbox.Dispatcher{DB: s.DB, Log: s.log, Handlers: []outbox.Handler{s.publish, s.alert},
		Observe: func(o string) { outcomes.WithLabelValues(o).Inc() }}
}

// publish sends an event to the topics its subscribers follow: its own (an
// order's, a buyer's credit), and for orders, returns, shipments and claims, the topic of every
// party above the buyer, so myOrdersUpdated hears its whole scope.
func (s *Server) publish(ctx context.Context, e *outbox.Event) error {
	topics := []string{e.Topic}
	switch e.AggregateType {
	case "Order", "Return", "Shipment", "Claim":
		var p struct {
			BuyerID uuid.UUID `json:"buyerId"`
		}
		if err := json.Unmarshal([]byte(e.Payload), &p); err != nil {
			return fmt.Errorf("server: event %s: %w", e.ID, err)
		}
		path, err := s.Parties.Path(ctx, p.BuyerID)
		if err != nil {
			return err
		}
		for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
			if id, err := uuid.Parse(part); err == nil {
				topics = append(topics, order.PartyTopic(id))
			}
		}
	}
	for _, t := range topics {
		if err := s.Broker.Publish(ctx, t, []byte(e.Payload)); err != nil {
			return err
		}
	}
	return nil
}

// Background runs the outbox dispatcher until ctx ends; Serve starts it, and
// tests that serve through httptest call it themselves.
func (s *Server) Background(ctx context.Context) {
	go s.dispatcher.Run(database.Uncounted(ctx))
}
