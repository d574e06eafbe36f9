CREATE TABLE credit_accounts (
    buyer_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    seller_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    cash BIGINT NOT NULL DEFAULT 0,
    credit_limit BIGINT NOT NULL DEFAULT 0,
    rebate BIGINT NOT NULL DEFAULT 0,
    receivable BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0,
    policy TEXT NOT NULL DEFAULT 'HOLD',
    tolerance_bp INTEGER NOT NULL DEFAULT 0,
    stopped BOOLEAN NOT NULL DEFAULT FALSE,
    status TEXT NOT NULL DEFAULT 'OK',
    updated_at {{.Time}} NOT NULL,
    PRIMARY KEY (buyer_party_id, seller_party_id),
    CHECK (cash >= 0 AND credit_limit >= 0 AND rebate >= 0 AND receivable >= 0 AND reserved >= 0)
);
--bun:split
CREATE INDEX credit_accounts_seller_idx ON credit_accounts (seller_party_id);
--bun:split
CREATE TABLE credit_entries (
    id {{.UUID}} PRIMARY KEY,
    buyer_party_id {{.UUID}} NOT NULL,
    seller_party_id {{.UUID}} NOT NULL,
    fund TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    source_type TEXT NOT NULL,
    source_id TEXT NOT NULL,
    actor_user_id {{.UUID}},
    note TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL,
    FOREIGN KEY (buyer_party_id, seller_party_id) REFERENCES credit_accounts (buyer_party_id, seller_party_id)
);
--bun:split
CREATE INDEX credit_entries_account_idx ON credit_entries (buyer_party_id, seller_party_id, created_at);
--bun:split
CREATE INDEX credit_entries_source_idx ON credit_entries (source_type, source_id);
--bun:split
CREATE TABLE credit_limit_requests (
    id {{.UUID}} PRIMARY KEY,
    buyer_party_id {{.UUID}} NOT NULL,
    seller_party_id {{.UUID}} NOT NULL,
    old_limit BIGINT NOT NULL,
    new_limit BIGINT NOT NULL,
    reason TEXT NOT NULL,
    status TEXT NOT NULL,
    requested_by {{.UUID}} NOT NULL REFERENCES users (id),
    decided_by {{.UUID}} REFERENCES users (id),
    decision_reason TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL,
    decided_at {{.Time}},
    FOREIGN KEY (buyer_party_id, seller_party_id) REFERENCES credit_accounts (buyer_party_id, seller_party_id)
);
--bun:split
CREATE INDEX credit_limit_requests_seller_idx ON credit_limit_requests (seller_party_id, status, created_at);
--bun:split
CREATE TABLE approval_rules (
    seller_party_id {{.UUID}} PRIMARY KEY REFERENCES parties (id),
    auto_approve_max BIGINT,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE TABLE doc_sequences (
    kind TEXT PRIMARY KEY,
    last BIGINT NOT NULL
);
{{if eq .Dialect "pg"}}
--bun:split
CREATE SEQUENCE doc_seq_so;
--bun:split
CREATE SEQUENCE doc_seq_rt;
{{end}}
--bun:split
CREATE TABLE orders (
    id {{.UUID}} PRIMARY KEY,
    number TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    buyer_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    seller_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    created_by {{.UUID}} NOT NULL REFERENCES users (id),
    salesman_user_id {{.UUID}} REFERENCES users (id),
    subtotal BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    total BIGINT NOT NULL,
    credit_reserved BIGINT NOT NULL DEFAULT 0,
    credit_warning BOOLEAN NOT NULL DEFAULT FALSE,
    note TEXT NOT NULL DEFAULT '',
    delivery_address TEXT NOT NULL,
    explanation TEXT NOT NULL,
    promotions TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL DEFAULT 1,
    submitted_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL,
    CHECK (total >= 0 AND credit_reserved >= 0)
);
--bun:split
CREATE UNIQUE INDEX orders_number_key ON orders (number);
--bun:split
CREATE INDEX orders_buyer_idx ON orders (buyer_party_id, submitted_at);
--bun:split
CREATE INDEX orders_seller_idx ON orders (seller_party_id, status, submitted_at);
--bun:split
CREATE INDEX orders_submitted_idx ON orders (submitted_at, id);
--bun:split
CREATE TABLE order_lines (
    order_id {{.UUID}} NOT NULL REFERENCES orders (id),
    line_no INTEGER NOT NULL,
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    qty BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    discount BIGINT NOT NULL,
    net BIGINT NOT NULL,
    gift BOOLEAN NOT NULL DEFAULT FALSE,
    price_source TEXT NOT NULL,
    price_list_id {{.UUID}},
    adjustments TEXT NOT NULL DEFAULT '[]',
    shipped_qty BIGINT NOT NULL DEFAULT 0,
    returned_qty BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_id, line_no),
    CHECK (qty > 0 AND shipped_qty >= 0 AND shipped_qty <= qty AND returned_qty >= 0 AND returned_qty <= shipped_qty)
);
--bun:split
CREATE TABLE order_reservations (
    order_id {{.UUID}} NOT NULL REFERENCES orders (id),
    warehouse_id {{.UUID}} NOT NULL REFERENCES warehouses (id),
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    qty BIGINT NOT NULL,
    PRIMARY KEY (order_id, warehouse_id, sku_id),
    CHECK (qty > 0)
);
--bun:split
CREATE INDEX order_reservations_level_idx ON order_reservations (warehouse_id, sku_id);
--bun:split
CREATE TABLE order_events (
    id {{.UUID}} PRIMARY KEY,
    order_id {{.UUID}} NOT NULL REFERENCES orders (id),
    type TEXT NOT NULL,
    from_status TEXT NOT NULL DEFAULT '',
    to_status TEXT NOT NULL,
    actor_user_id {{.UUID}},
    reason TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '{}',
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX order_events_order_idx ON order_events (order_id, created_at);
--bun:split
CREATE TABLE returns (
    id {{.UUID}} PRIMARY KEY,
    number TEXT NOT NULL,
    order_id {{.UUID}} NOT NULL REFERENCES orders (id),
    buyer_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    seller_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    amount BIGINT NOT NULL,
    created_by {{.UUID}} NOT NULL REFERENCES users (id),
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX returns_number_key ON returns (number);
--bun:split
CREATE INDEX returns_order_idx ON returns (order_id);
--bun:split
CREATE TABLE return_lines (
    return_id {{.UUID}} NOT NULL REFERENCES returns (id),
    line_no INTEGER NOT NULL,
    order_line_no INTEGER NOT NULL,
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    qty BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (return_id, line_no),
    CHECK (qty > 0)
);
--bun:split
CREATE TABLE outbox_events (
    id {{.UUID}} PRIMARY KEY,
    topic TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at {{.Time}} NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {{.Time}} NOT NULL,
    delivered_at {{.Time}},
    parked_at {{.Time}},
    last_error TEXT NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX outbox_events_pending_idx ON outbox_events (next_attempt_at) WHERE delivered_at IS NULL AND parked_at IS NULL;
--bun:split
ALTER TABLE promotions ADD COLUMN gifts_given BIGINT NOT NULL DEFAULT 0;
