CREATE TABLE visit_geofences (
    branch_id {{.UUID}} PRIMARY KEY REFERENCES parties (id),
    radius_m INTEGER NOT NULL,
    updated_by {{.UUID}} NOT NULL REFERENCES users (id),
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE TABLE visit_patterns (
    salesman_id {{.UUID}} NOT NULL REFERENCES users (id),
    weekday INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    store_id {{.UUID}} NOT NULL REFERENCES parties (id),
    created_by {{.UUID}} NOT NULL REFERENCES users (id),
    created_at {{.Time}} NOT NULL,
    PRIMARY KEY (salesman_id, weekday, seq)
);
--bun:split
CREATE UNIQUE INDEX visit_patterns_store_key ON visit_patterns (salesman_id, weekday, store_id);
--bun:split
CREATE TABLE visit_route_stops (
    salesman_id {{.UUID}} NOT NULL REFERENCES users (id),
    day TEXT NOT NULL,
    seq INTEGER NOT NULL,
    store_id {{.UUID}} NOT NULL REFERENCES parties (id),
    created_by {{.UUID}} NOT NULL REFERENCES users (id),
    created_at {{.Time}} NOT NULL,
    PRIMARY KEY (salesman_id, day, seq)
);
--bun:split
CREATE UNIQUE INDEX visit_route_stops_store_key ON visit_route_stops (salesman_id, day, store_id);
--bun:split
CREATE TABLE visit_routes (
    salesman_id {{.UUID}} NOT NULL REFERENCES users (id),
    day TEXT NOT NULL,
    created_by {{.UUID}} NOT NULL REFERENCES users (id),
    updated_at {{.Time}} NOT NULL,
    PRIMARY KEY (salesman_id, day)
);
--bun:split
CREATE TABLE media_uploads (
    key TEXT PRIMARY KEY,
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    purpose TEXT NOT NULL,
    max_bytes BIGINT NOT NULL,
    created_at {{.Time}} NOT NULL,
    expires_at {{.Time}} NOT NULL,
    size BIGINT,
    etag TEXT,
    sha256 TEXT,
    content_type TEXT,
    verified_at {{.Time}}
);
--bun:split
CREATE INDEX media_uploads_user_idx ON media_uploads (user_id, created_at);
--bun:split
CREATE TABLE visits (
    id {{.UUID}} PRIMARY KEY,
    salesman_id {{.UUID}} NOT NULL REFERENCES users (id),
    store_id {{.UUID}} NOT NULL REFERENCES parties (id),
    day TEXT NOT NULL,
    planned BOOLEAN NOT NULL,
    open_salesman_id {{.UUID}},
    checked_in_at {{.Time}} NOT NULL,
    checked_out_at {{.Time}},
    duration_s BIGINT,
    latitude {{.Float}} NOT NULL,
    longitude {{.Float}} NOT NULL,
    accuracy_m {{.Float}} NOT NULL,
    distance_m {{.Float}},
    radius_m INTEGER NOT NULL,
    flags TEXT NOT NULL DEFAULT '[]',
    photo_key TEXT NOT NULL REFERENCES media_uploads (key),
    photo_sha256 TEXT NOT NULL,
    captured_at {{.Time}} NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
--bun:split
CREATE UNIQUE INDEX visits_open_key ON visits (open_salesman_id);
--bun:split
CREATE INDEX visits_salesman_idx ON visits (salesman_id, checked_in_at);
--bun:split
CREATE INDEX visits_store_idx ON visits (store_id, checked_in_at);
--bun:split
CREATE INDEX visits_photo_idx ON visits (photo_sha256);
--bun:split
CREATE TABLE audit_templates (
    id {{.UUID}} PRIMARY KEY,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    sections TEXT NOT NULL,
    created_by {{.UUID}} NOT NULL REFERENCES users (id),
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE TABLE shelf_audits (
    id {{.UUID}} PRIMARY KEY,
    visit_id {{.UUID}} NOT NULL REFERENCES visits (id),
    template_id {{.UUID}} NOT NULL REFERENCES audit_templates (id),
    store_id {{.UUID}} NOT NULL REFERENCES parties (id),
    salesman_id {{.UUID}} NOT NULL REFERENCES users (id),
    score INTEGER NOT NULL,
    answers TEXT NOT NULL,
    created_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX shelf_audits_visit_key ON shelf_audits (visit_id, template_id);
--bun:split
CREATE INDEX shelf_audits_store_idx ON shelf_audits (store_id, created_at);
--bun:split
CREATE INDEX shelf_audits_salesman_idx ON shelf_audits (salesman_id, created_at);
--bun:split
CREATE TABLE store_audit_last (
    store_id {{.UUID}} PRIMARY KEY REFERENCES parties (id),
    audit_id {{.UUID}} NOT NULL REFERENCES shelf_audits (id),
    score INTEGER NOT NULL,
    audited_at {{.Time}} NOT NULL
);
--bun:split
CREATE TABLE action_items (
    id {{.UUID}} PRIMARY KEY,
    store_id {{.UUID}} NOT NULL REFERENCES parties (id),
    audit_id {{.UUID}} NOT NULL REFERENCES shelf_audits (id),
    question_id TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    created_at {{.Time}} NOT NULL,
    closed_at {{.Time}},
    closed_by {{.UUID}} REFERENCES users (id),
    close_note TEXT NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX action_items_store_idx ON action_items (store_id, status, id);
