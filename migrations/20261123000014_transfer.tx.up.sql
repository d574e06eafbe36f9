-- Stock transfers between parties of the same level (distributor to
-- distributor under one supplier, store to store under one distributor),
-- approved by their common supplier and carried by a shipment that belongs to
-- the transfer instead of an order; serials a return sends back.
{{if eq .Dialect "pg"}}
CREATE SEQUENCE doc_seq_tr;
--bun:split
{{end}}
CREATE TABLE transfers (
    id {{.UUID}} PRIMARY KEY,
    number TEXT NOT NULL,
    status TEXT NOT NULL,
    from_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    to_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    supplier_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    requested_by {{.UUID}} NOT NULL REFERENCES users (id),
    note TEXT NOT NULL DEFAULT '',
    decided_by {{.UUID}} REFERENCES users (id),
    decided_at {{.Time}},
    decision_reason TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 1,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL,
    CHECK (from_party_id <> to_party_id)
);
--bun:split
CREATE UNIQUE INDEX transfers_number_key ON transfers (number);
--bun:split
CREATE INDEX transfers_from_idx ON transfers (from_party_id, status, created_at);
--bun:split
CREATE INDEX transfers_to_idx ON transfers (to_party_id, status, created_at);
--bun:split
CREATE INDEX transfers_supplier_idx ON transfers (supplier_party_id, status, created_at);
--bun:split
CREATE TABLE transfer_lines (
    transfer_id {{.UUID}} NOT NULL REFERENCES transfers (id),
    line_no INTEGER NOT NULL,
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    qty BIGINT NOT NULL,
    shipped_qty BIGINT NOT NULL DEFAULT 0,
    received_qty BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (transfer_id, line_no),
    CHECK (qty > 0 AND shipped_qty >= 0 AND shipped_qty <= qty AND received_qty >= 0 AND received_qty <= shipped_qty)
);
--bun:split
CREATE TABLE transfer_reservations (
    transfer_id {{.UUID}} NOT NULL REFERENCES transfers (id),
    warehouse_id {{.UUID}} NOT NULL REFERENCES warehouses (id),
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    qty BIGINT NOT NULL,
    PRIMARY KEY (transfer_id, warehouse_id, sku_id),
    CHECK (qty >= 0)
);
--bun:split
CREATE TABLE transfer_events (
    id {{.UUID}} PRIMARY KEY,
    transfer_id {{.UUID}} NOT NULL REFERENCES transfers (id),
    type TEXT NOT NULL,
    from_status TEXT NOT NULL DEFAULT '',
    to_status TEXT NOT NULL,
    actor_user_id {{.UUID}} REFERENCES users (id),
    reason TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX transfer_events_transfer_idx ON transfer_events (transfer_id, created_at);
--bun:split
CREATE TABLE return_serials (
    return_id {{.UUID}} NOT NULL REFERENCES returns (id),
    serial_id {{.UUID}} NOT NULL REFERENCES serials (id),
    line_no INTEGER NOT NULL,
    PRIMARY KEY (return_id, serial_id)
);
--bun:split
CREATE INDEX return_serials_serial_idx ON return_serials (serial_id);
{{if eq .Dialect "pg"}}
--bun:split
ALTER TABLE shipments ALTER COLUMN order_id DROP NOT NULL;
--bun:split
ALTER TABLE shipments ADD COLUMN transfer_id uuid REFERENCES transfers (id);
--bun:split
ALTER TABLE shipments ADD CONSTRAINT shipments_document_check CHECK ((order_id IS NULL) <> (transfer_id IS NULL));
--bun:split
ALTER TABLE claims ALTER COLUMN order_id DROP NOT NULL;
{{else}}
-- SQLite cannot drop a NOT NULL constraint in place: shipments and claims are
-- rebuilt. Other tables reference both, and a migration runs in a transaction,
-- where PRAGMA foreign_keys cannot be switched off. So the foreign keys are
-- deferred to the commit, the rows are parked in a copy, the table is dropped
-- (which counts each referencing row as a violation) and created again under
-- its own name, and putting the rows back cancels those counts: the commit
-- finds every reference satisfied. The indexes go with the dropped table and
-- are made again.
--bun:split
PRAGMA defer_foreign_keys = ON;
--bun:split
CREATE TABLE shipments_copy AS SELECT * FROM shipments;
--bun:split
DROP TABLE shipments;
--bun:split
CREATE TABLE shipments (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    order_id TEXT REFERENCES orders (id),
    seller_party_id TEXT NOT NULL REFERENCES parties (id),
    buyer_party_id TEXT NOT NULL REFERENCES parties (id),
    warehouse_id TEXT NOT NULL REFERENCES warehouses (id),
    status TEXT NOT NULL,
    carrier TEXT NOT NULL DEFAULT '',
    tracking_number TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    claim_id TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at TIMESTAMP NOT NULL,
    dispatched_at TIMESTAMP,
    delivered_at TIMESTAMP,
    received_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    transfer_id TEXT REFERENCES transfers (id),
    CONSTRAINT shipments_document_check CHECK ((order_id IS NULL) <> (transfer_id IS NULL))
);
--bun:split
INSERT INTO shipments (id, number, order_id, seller_party_id, buyer_party_id, warehouse_id, status, carrier, tracking_number, note,
    claim_id, created_by, created_at, dispatched_at, delivered_at, received_at, updated_at)
SELECT id, number, order_id, seller_party_id, buyer_party_id, warehouse_id, status, carrier, tracking_number, note,
    claim_id, created_by, created_at, dispatched_at, delivered_at, received_at, updated_at FROM shipments_copy;
--bun:split
DROP TABLE shipments_copy;
--bun:split
CREATE UNIQUE INDEX shipments_number_key ON shipments (number);
--bun:split
CREATE INDEX shipments_order_idx ON shipments (order_id, created_at);
--bun:split
CREATE INDEX shipments_buyer_idx ON shipments (buyer_party_id, status, created_at);
--bun:split
CREATE INDEX shipments_seller_idx ON shipments (seller_party_id, status, created_at);
--bun:split
CREATE INDEX shipments_created_idx ON shipments (created_at, id);
--bun:split
CREATE INDEX shipments_tracking_idx ON shipments (tracking_number);
--bun:split
CREATE TABLE claims_copy AS SELECT * FROM claims;
--bun:split
DROP TABLE claims;
--bun:split
CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    receipt_id TEXT NOT NULL REFERENCES receipts (id),
    shipment_id TEXT NOT NULL REFERENCES shipments (id),
    order_id TEXT REFERENCES orders (id),
    buyer_party_id TEXT NOT NULL REFERENCES parties (id),
    seller_party_id TEXT NOT NULL REFERENCES parties (id),
    status TEXT NOT NULL,
    value BIGINT NOT NULL,
    resolution TEXT NOT NULL DEFAULT '',
    resolution_reason TEXT NOT NULL DEFAULT '',
    replacement_shipment_id TEXT,
    resolved_by TEXT,
    resolved_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
--bun:split
INSERT INTO claims (id, number, receipt_id, shipment_id, order_id, buyer_party_id, seller_party_id, status, value, resolution,
    resolution_reason, replacement_shipment_id, resolved_by, resolved_at, created_at)
SELECT id, number, receipt_id, shipment_id, order_id, buyer_party_id, seller_party_id, status, value, resolution,
    resolution_reason, replacement_shipment_id, resolved_by, resolved_at, created_at FROM claims_copy;
--bun:split
DROP TABLE claims_copy;
--bun:split
CREATE UNIQUE INDEX claims_number_key ON claims (number);
--bun:split
CREATE INDEX claims_seller_idx ON claims (seller_party_id, status, created_at);
--bun:split
CREATE INDEX claims_shipment_idx ON claims (shipment_id);
{{end}}
--bun:split
CREATE INDEX shipments_transfer_idx ON shipments (transfer_id, created_at);
