CREATE TABLE idempotency_keys (
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL,
    PRIMARY KEY (user_id, scope, key)
);
