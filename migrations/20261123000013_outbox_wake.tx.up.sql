{{if eq .Dialect "pg"}}
-- The outbox no longer NOTIFYs on insert: a notifying commit holds a
-- cluster-wide lock through its WAL flush, so every order commit queued
-- behind the last one. The committing instance wakes its own dispatcher.
DROP TRIGGER IF EXISTS outbox_events_notify ON outbox_events;
DROP FUNCTION IF EXISTS outbox_events_notify();
{{else}}
SELECT 1; -- SQLite: nothing was there
{{end}}
