CREATE TABLE cache_epochs (
    name TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL
);
--bun:split
INSERT INTO cache_epochs (name, epoch) VALUES ('catalog', 1);
