-- Idempotency-Key (the IETF draft header) on POST and PATCH: the first answer
-- to a key is kept 24 hours and replayed to a retry with the same request.
CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY NOT NULL,
    -- SHA-256 of the method, path and body: the same key with another
    -- request is a conflict.
    fingerprint TEXT NOT NULL,
    -- NULL while the first request with this key runs.
    status      INTEGER,
    response    BLOB,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
