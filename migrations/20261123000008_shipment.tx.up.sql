CREATE TABLE serials (
    id {{.UUID}} PRIMARY KEY,
    number TEXT NOT NULL,
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    status TEXT NOT NULL,
    holder_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    warehouse_id {{.UUID}} REFERENCES warehouses (id),
    shipment_id {{.UUID}},
    received_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX serials_number_key ON serials (number);
--bun:split
CREATE INDEX serials_stock_idx ON serials (warehouse_id, sku_id, status, received_at);
--bun:split
CREATE INDEX serials_holder_idx ON serials (holder_party_id, sku_id, status);
--bun:split
CREATE INDEX serials_shipment_idx ON serials (shipment_id);
--bun:split
CREATE TABLE serial_events (
    id {{.UUID}} PRIMARY KEY,
    serial_id {{.UUID}} NOT NULL REFERENCES serials (id),
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    holder_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    warehouse_id {{.UUID}},
    document_type TEXT NOT NULL DEFAULT '',
    document_id {{.UUID}},
    document_number TEXT NOT NULL DEFAULT '',
    actor_user_id {{.UUID}},
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX serial_events_serial_idx ON serial_events (serial_id, created_at);
{{if eq .Dialect "pg"}}
--bun:split
CREATE SEQUENCE doc_seq_sh;
--bun:split
CREATE SEQUENCE doc_seq_gr;
--bun:split
CREATE SEQUENCE doc_seq_cl;
{{end}}
--bun:split
CREATE TABLE shipments (
    id {{.UUID}} PRIMARY KEY,
    number TEXT NOT NULL,
    order_id {{.UUID}} NOT NULL REFERENCES orders (id),
    seller_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    buyer_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    warehouse_id {{.UUID}} NOT NULL REFERENCES warehouses (id),
    status TEXT NOT NULL,
    carrier TEXT NOT NULL DEFAULT '',
    tracking_number TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    claim_id {{.UUID}},
    created_by {{.UUID}} NOT NULL REFERENCES users (id),
    created_at {{.Time}} NOT NULL,
    dispatched_at {{.Time}},
    delivered_at {{.Time}},
    received_at {{.Time}},
    updated_at {{.Time}} NOT NULL
);
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
CREATE TABLE shipment_lines (
    shipment_id {{.UUID}} NOT NULL REFERENCES shipments (id),
    line_no INTEGER NOT NULL,
    order_line_no INTEGER NOT NULL,
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    qty BIGINT NOT NULL,
    accepted_qty BIGINT NOT NULL DEFAULT 0,
    rejected_qty BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (shipment_id, line_no),
    CHECK (qty > 0 AND accepted_qty >= 0 AND rejected_qty >= 0 AND accepted_qty + rejected_qty <= qty)
);
--bun:split
CREATE TABLE shipment_serials (
    shipment_id {{.UUID}} NOT NULL REFERENCES shipments (id),
    serial_id {{.UUID}} NOT NULL REFERENCES serials (id),
    line_no INTEGER NOT NULL,
    outcome TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (shipment_id, serial_id)
);
--bun:split
CREATE INDEX shipment_serials_serial_idx ON shipment_serials (serial_id);
--bun:split
CREATE TABLE shipment_events (
    id {{.UUID}} PRIMARY KEY,
    shipment_id {{.UUID}} NOT NULL REFERENCES shipments (id),
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    actor_user_id {{.UUID}},
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX shipment_events_shipment_idx ON shipment_events (shipment_id, created_at);
--bun:split
CREATE TABLE receipts (
    id {{.UUID}} PRIMARY KEY,
    number TEXT NOT NULL,
    shipment_id {{.UUID}} NOT NULL REFERENCES shipments (id),
    buyer_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    warehouse_id {{.UUID}} NOT NULL REFERENCES warehouses (id),
    note TEXT NOT NULL DEFAULT '',
    accepted_qty BIGINT NOT NULL,
    duplicate_scans INTEGER NOT NULL DEFAULT 0,
    created_by {{.UUID}} NOT NULL REFERENCES users (id),
    captured_at {{.Time}},
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX receipts_number_key ON receipts (number);
--bun:split
CREATE UNIQUE INDEX receipts_shipment_key ON receipts (shipment_id);
--bun:split
CREATE TABLE claims (
    id {{.UUID}} PRIMARY KEY,
    number TEXT NOT NULL,
    receipt_id {{.UUID}} NOT NULL REFERENCES receipts (id),
    shipment_id {{.UUID}} NOT NULL REFERENCES shipments (id),
    order_id {{.UUID}} NOT NULL REFERENCES orders (id),
    buyer_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    seller_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    status TEXT NOT NULL,
    value BIGINT NOT NULL,
    resolution TEXT NOT NULL DEFAULT '',
    resolution_reason TEXT NOT NULL DEFAULT '',
    replacement_shipment_id {{.UUID}},
    resolved_by {{.UUID}},
    resolved_at {{.Time}},
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX claims_number_key ON claims (number);
--bun:split
CREATE INDEX claims_seller_idx ON claims (seller_party_id, status, created_at);
--bun:split
CREATE INDEX claims_shipment_idx ON claims (shipment_id);
--bun:split
CREATE TABLE claim_items (
    claim_id {{.UUID}} NOT NULL REFERENCES claims (id),
    item_no INTEGER NOT NULL,
    kind TEXT NOT NULL,
    sku_id {{.UUID}} REFERENCES skus (id),
    shipment_line_no INTEGER,
    serial_number TEXT NOT NULL DEFAULT '',
    qty BIGINT NOT NULL,
    value BIGINT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (claim_id, item_no)
);
--bun:split
ALTER TABLE order_lines ADD COLUMN received_qty BIGINT NOT NULL DEFAULT 0;
