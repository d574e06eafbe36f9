-- Carrier tracking updates already applied, by the carrier's event id: a
-- replayed update finds its id here and changes nothing.
CREATE TABLE carrier_events (
    event_id TEXT PRIMARY KEY,
    shipment_id {{.UUID}} NOT NULL REFERENCES shipments (id),
    status TEXT NOT NULL,
    happened_at {{.Time}} NOT NULL,
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX carrier_events_shipment_idx ON carrier_events (shipment_id, created_at);
