CREATE TABLE categories (
    id {{.UUID}} PRIMARY KEY,
    parent_id {{.UUID}} REFERENCES categories (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX categories_code_key ON categories (code);
--bun:split
CREATE INDEX categories_parent_idx ON categories (parent_id);
--bun:split
CREATE TABLE products (
    id {{.UUID}} PRIMARY KEY,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    brand TEXT NOT NULL DEFAULT '',
    category_id {{.UUID}} NOT NULL REFERENCES categories (id),
    unit TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    serialised BOOLEAN NOT NULL DEFAULT FALSE,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX products_code_key ON products (code);
--bun:split
CREATE INDEX products_category_idx ON products (category_id);
--bun:split
CREATE TABLE skus (
    id {{.UUID}} PRIMARY KEY,
    product_id {{.UUID}} NOT NULL REFERENCES products (id),
    category_id {{.UUID}} NOT NULL REFERENCES categories (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    pack_size INTEGER NOT NULL DEFAULT 1,
    min_order_qty INTEGER NOT NULL DEFAULT 1,
    on_shelf BOOLEAN NOT NULL DEFAULT TRUE,
    serialised BOOLEAN NOT NULL DEFAULT FALSE,
    images TEXT NOT NULL DEFAULT '[]',
    base_price BIGINT NOT NULL,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX skus_code_key ON skus (code);
--bun:split
CREATE INDEX skus_product_idx ON skus (product_id);
--bun:split
CREATE INDEX skus_category_idx ON skus (category_id, name, id);
--bun:split
CREATE INDEX skus_name_idx ON skus (name, id);
--bun:split
CREATE TABLE catalog_rules (
    id {{.UUID}} PRIMARY KEY,
    effect TEXT NOT NULL,
    sku_id {{.UUID}} REFERENCES skus (id),
    category_id {{.UUID}} REFERENCES categories (id),
    target_kind TEXT NOT NULL,
    target_value TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX catalog_rules_target_idx ON catalog_rules (target_kind, target_value);
--bun:split
CREATE TABLE price_lists (
    id {{.UUID}} PRIMARY KEY,
    seller_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    name TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_value TEXT NOT NULL DEFAULT '',
    priority INTEGER NOT NULL DEFAULT 0,
    valid_from {{.Time}},
    valid_to {{.Time}},
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX price_lists_seller_idx ON price_lists (seller_party_id);
--bun:split
CREATE TABLE price_list_items (
    price_list_id {{.UUID}} NOT NULL REFERENCES price_lists (id),
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    price BIGINT NOT NULL,
    PRIMARY KEY (price_list_id, sku_id)
);
--bun:split
CREATE INDEX price_list_items_sku_idx ON price_list_items (sku_id);
--bun:split
CREATE TABLE promotions (
    id {{.UUID}} PRIMARY KEY,
    seller_party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target_value TEXT NOT NULL DEFAULT '',
    valid_from {{.Time}},
    valid_to {{.Time}},
    priority INTEGER NOT NULL DEFAULT 0,
    exclusive_group TEXT NOT NULL DEFAULT '',
    per_party_limit INTEGER,
    rule TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX promotions_seller_idx ON promotions (seller_party_id);
--bun:split
CREATE TABLE promotion_uses (
    promotion_id {{.UUID}} NOT NULL REFERENCES promotions (id),
    party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    uses INTEGER NOT NULL,
    PRIMARY KEY (promotion_id, party_id)
);
--bun:split
CREATE TABLE cart_lines (
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    qty BIGINT NOT NULL,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL,
    PRIMARY KEY (user_id, party_id, sku_id)
);
--bun:split
CREATE TABLE favourites (
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    sku_id {{.UUID}} NOT NULL REFERENCES skus (id),
    created_at {{.Time}} NOT NULL,
    PRIMARY KEY (user_id, sku_id)
);
