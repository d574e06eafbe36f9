CREATE TABLE warehouses (
    id {{.UUID}} PRIMARY KEY,
    party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX warehouses_code_key ON warehouses (party_id, code);
--bun:split
CREATE TABLE stock_levels (
    warehouse_id {{.UUID}} NOT NULL REFERENCES warehouses (id),
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    on_hand BIGINT NOT NULL,
    reserved BIGINT NOT NULL DEFAULT 0,
    updated_at {{.Time}} NOT NULL,
    PRIMARY KEY (warehouse_id, sku_id),
    CHECK (reserved >= 0 AND on_hand >= reserved)
);
--bun:split
CREATE INDEX stock_levels_sku_idx ON stock_levels (sku_id);
--bun:split
CREATE TABLE stock_movements (
    id {{.UUID}} PRIMARY KEY,
    warehouse_id {{.UUID}} NOT NULL REFERENCES warehouses (id),
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    delta BIGINT NOT NULL,
    on_hand_after BIGINT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    source_type TEXT NOT NULL DEFAULT '',
    source_id TEXT NOT NULL DEFAULT '',
    actor_user_id {{.UUID}},
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX stock_movements_level_idx ON stock_movements (warehouse_id, sku_id, created_at);
