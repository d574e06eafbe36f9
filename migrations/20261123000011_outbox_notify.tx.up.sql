{{if eq .Dialect "pg"}}
-- The outbox dispatcher LISTENs on this channel: a committed event wakes it at
-- once instead of at its next poll. One notification per statement, sent at
-- commit (PostgreSQL folds repeats within a transaction).
CREATE FUNCTION outbox_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('channelhub_outbox', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
  FOR EACH STATEMENT EXECUTE FUNCTION outbox_events_notify();
{{else}}
SELECT 1; -- SQLite: one process, the dispatcher polls
{{end}}
