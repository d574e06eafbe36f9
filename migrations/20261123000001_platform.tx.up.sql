CREATE TABLE parties (
    id {{.UUID}} PRIMARY KEY,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_id {{.UUID}} REFERENCES parties (id),
    path TEXT NOT NULL,
    level INTEGER NOT NULL DEFAULT 0,
    channel_type TEXT NOT NULL,
    grade TEXT NOT NULL DEFAULT '',
    region TEXT NOT NULL DEFAULT '',
    province TEXT NOT NULL DEFAULT '',
    city TEXT NOT NULL DEFAULT '',
    district TEXT NOT NULL DEFAULT '',
    street TEXT NOT NULL DEFAULT '',
    latitude {{.Float}},
    longitude {{.Float}},
    contact_phone TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX parties_code_key ON parties (code);
--bun:split
CREATE INDEX parties_parent_idx ON parties (parent_id);
--bun:split
CREATE INDEX parties_path_idx ON parties (path{{if eq .Dialect "pg"}} text_pattern_ops{{end}});
--bun:split
CREATE INDEX parties_name_idx ON parties (name, id);
--bun:split
CREATE TABLE users (
    id {{.UUID}} PRIMARY KEY,
    party_id {{.UUID}} NOT NULL REFERENCES parties (id),
    phone TEXT NOT NULL,
    name TEXT NOT NULL,
    roles TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    session_version BIGINT NOT NULL DEFAULT 1,
    password_changed_at {{.Time}} NOT NULL,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE UNIQUE INDEX users_phone_key ON users (phone);
--bun:split
CREATE INDEX users_party_idx ON users (party_id, name, id);
--bun:split
CREATE TABLE salesman_stores (
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    store_id {{.UUID}} NOT NULL REFERENCES parties (id),
    created_at {{.Time}} NOT NULL,
    PRIMARY KEY (user_id, store_id)
);
--bun:split
CREATE INDEX salesman_stores_store_idx ON salesman_stores (store_id);
--bun:split
CREATE TABLE sessions (
    id {{.UUID}} PRIMARY KEY,
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    app TEXT NOT NULL,
    created_at {{.Time}} NOT NULL,
    refreshed_at {{.Time}} NOT NULL,
    expires_at {{.Time}} NOT NULL,
    revoked_at {{.Time}},
    revoke_reason TEXT NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX sessions_user_idx ON sessions (user_id);
--bun:split
CREATE TABLE refresh_tokens (
    id {{.UUID}} PRIMARY KEY,
    session_id {{.UUID}} NOT NULL REFERENCES sessions (id),
    token_hash TEXT NOT NULL,
    created_at {{.Time}} NOT NULL,
    expires_at {{.Time}} NOT NULL,
    used_at {{.Time}}
);
--bun:split
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (token_hash);
--bun:split
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
--bun:split
CREATE TABLE login_attempts (
    phone TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    last_failure_at {{.Time}} NOT NULL,
    next_attempt_at {{.Time}},
    locked_until {{.Time}}
);
--bun:split
CREATE TABLE audit_log (
    id {{.UUID}} PRIMARY KEY,
    at {{.Time}} NOT NULL,
    actor_user_id {{.UUID}},
    actor_party_id {{.UUID}},
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    before_json TEXT NOT NULL DEFAULT '',
    after_json TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT '',
    request_id TEXT NOT NULL DEFAULT ''
);
--bun:split
CREATE INDEX audit_log_target_idx ON audit_log (target_type, target_id, at);
