CREATE TABLE notifications (
    id {{.UUID}} PRIMARY KEY,
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    event_id {{.UUID}} NOT NULL,
    category TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    created_at {{.Time}} NOT NULL,
    read_at {{.Time}}
);
--bun:split
CREATE UNIQUE INDEX notifications_event_key ON notifications (user_id, event_id);
--bun:split
CREATE INDEX notifications_user_idx ON notifications (user_id, id);
--bun:split
CREATE TABLE notification_mutes (
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    category TEXT NOT NULL,
    PRIMARY KEY (user_id, category)
);
--bun:split
CREATE TABLE device_tokens (
    token TEXT PRIMARY KEY,
    user_id {{.UUID}} NOT NULL REFERENCES users (id),
    session_id {{.UUID}} NOT NULL,
    platform TEXT NOT NULL,
    app TEXT NOT NULL,
    created_at {{.Time}} NOT NULL,
    updated_at {{.Time}} NOT NULL
);
--bun:split
CREATE INDEX device_tokens_user_idx ON device_tokens (user_id);
--bun:split
CREATE INDEX device_tokens_session_idx ON device_tokens (session_id);
