package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"

	"channelhub/internal/broker"
	"channelhub/internal/database"
	"channelhub/internal/epoch"
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
	return &outbox.Dispatcher{DB: s.DB, Log: s.log, Batches: []outbox.BatchHandler{s.publish}, Handlers: []outbox.Handler{s.alert},
		Observe: func(o string) { outcomes.WithLabelValues(o).Inc() }}
}

// publish sends each event of a claimed batch to the topics its subscribers
// follow: its own (an order's, a buyer's credit), and for orders, returns,
// shipments and claims, the topic of every party above the buyer, so myOrdersUpdated hears its
// whole scope. A batch costs one query (the buyers' paths) and one Redis
// round trip, however many events it holds.
func (s *Server) publish(ctx context.Context, events []*outbox.Event) []error {
	errs := make([]error, len(events))
	buyers := make([]uuid.UUID, len(events))
	var ids []uuid.UUID
	for i, e := range events {
		switch e.AggregateType {
		case "Order", "Return", "Shipment", "Claim":
		default:
			continue
		}
		var p struct {
			BuyerID uuid.UUID `json:"buyerId"`
		}
		if err := json.Unmarshal([]byte(e.Payload), &p); err != nil {
			errs[i] = fmt.Errorf("server: event %s: %w", e.ID, err)
			continue
		}
		buyers[i] = p.BuyerID
		ids = append(ids, p.BuyerID)
	}
	paths := map[uuid.UUID]string{}
	if len(ids) > 0 {
		var rows []struct {
			ID   uuid.UUID `bun:"id"`
			Path string    `bun:"path"`
		}
		if err := s.DB.NewSelect().Table("parties").Column("id", "path").Where("id IN (?)", bun.List(ids)).
			Scan(ctx, &rows); err != nil {
			for i := range events {
				if buyers[i] != uuid.Nil {
					errs[i] = fmt.Errorf("server: buyers' paths: %w", err)
				}
			}
		}
		for _, r := range rows {
			paths[r.ID] = r.Path
		}
	}
	var msgs []broker.Message
	var sent []int // the event of each message
	for i, e := range events {
		if errs[i] != nil {
			continue
		}
		payload := []byte(e.Payload)
		msgs, sent = append(msgs, broker.Message{Topic: e.Topic, Payload: payload}), append(sent, i)
		if buyers[i] == uuid.Nil {
			continue
		}
		path, ok := paths[buyers[i]]
		if !ok {
			errs[i] = fmt.Errorf("server: event %s: no party %s", e.ID, buyers[i])
			continue
		}
		for part := range strings.SplitSeq(strings.Trim(path, "/"), "/") {
			if id, err := uuid.Parse(part); err == nil {
				msgs, sent = append(msgs, broker.Message{Topic: order.PartyTopic(id), Payload: payload}), append(sent, i)
			}
		}
	}
	if err := s.Broker.PublishMany(ctx, msgs); err != nil {
		for _, i := range sent {
			errs[i] = err
		}
	}
	return errs
}

// Background runs the outbox dispatcher and the upload sweeper until ctx
// ends; Serve starts it, and tests that serve through httptest call it themselves.
func (s *Server) Background(ctx context.Context) {
	ctx = database.Uncounted(ctx)
	go s.dispatcher.Run(ctx)
	go s.sweepUploads(ctx, time.Minute, time.Hour)
}

// sweepUploads deletes presigned uploads unused for visit.UploadUnusedFor,
// first after wait, then every interval, a batch at a time until none is
// left. Several instances sweeping at once only repeat each other's deletes.
func (s *Server) sweepUploads(ctx context.Context, wait, every time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ctx.Err() == nil {
			n, err := s.Visits.SweepUploads(ctx, 500)
			if err != nil {
				s.log.Warn("upload sweep", "err", err)
			}
			if n > 0 {
				s.log.Info("uploads swept", "count", n)
			}
			if n < 500 || err != nil {
				break
			}
		}
		t.Reset(every)
	}
}

// sessionsTopic carries "sessions may have ended" between instances.
const sessionsTopic = "auth:sessions-changed"

// shareSessionChanges makes a change that may end sessions (logout, password,
// user or party status) clear the cached session checks of every instance.
func (s *Server) shareSessionChanges(ctx context.Context) error {
	announce, err := s.announcer(ctx, sessionsTopic, "session change", s.Auth.ForgetSessions)
	if err != nil {
		return err
	}
	s.Auth.Announce = announce
	s.Parties.SessionsChanged = s.Auth.SessionsChanged
	return nil
}

// epochTopic carries "the catalogue epoch is about to change" between instances.
const epochTopic = "epoch:" + epoch.Catalog

// shareEpochChanges keeps the catalogue epoch in memory between changes: a
// bump on this instance marks it changed at once, one on another instance
// through the broker.
func (s *Server) shareEpochChanges(ctx context.Context) error {
	s.catalogEpoch = epoch.NewWatcher(s.DB, epoch.Catalog, 5*time.Second, time.Minute)
	announce, err := s.announcer(ctx, epochTopic, "catalogue change", s.catalogEpoch.Changed)
	if err != nil {
		return err
	}
	// Bump runs inside the changing transaction: the announcement goes out
	// beside it, so a slow Redis never holds the transaction's locks.
	s.catalogEpoch.Announce = func() { go announce() }
	return nil
}

// announcer subscribes changed to topic, called for every announcement from
// any instance and for every gap (one may have been lost), and returns the
// function that announces. A failed announcement is logged: the receivers'
// own expiry still bounds what they miss.
func (s *Server) announcer(ctx context.Context, topic, what string, changed func()) (func(), error) {
	// The subscription lives until the broker closes.
	if err := s.Broker.SubscribeTo(context.WithoutCancel(ctx), receiverFunc(changed), topic); err != nil {
		return nil, fmt.Errorf("server: subscribe to %s: %w", topic, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.Broker.Publish(ctx, topic, nil); err != nil {
			s.log.Warn("announce "+what, "err", err)
		}
	}, nil
}

// receiverFunc is a broker.Receiver that calls itself on every message.
type receiverFunc func()

func (f receiverFunc) Deliver(broker.Message) { f() }
func (receiverFunc) End()                     {}
