-- Access control: API tokens with roles, dashboard sessions in the store,
-- the audit log, and who created each deployment and incident.

-- A token is known by its name; the secret itself is never stored, only
-- its SHA-256 (the secret has 256 random bits, so a plain hash is enough).
CREATE TABLE tokens (
    name         TEXT PRIMARY KEY NOT NULL,
    role         TEXT NOT NULL CHECK (role = 'ingest' OR role = 'read' OR role = 'write' OR role = 'admin'),
    -- JSON list of project ids the token is limited to; NULL: every project.
    projects     TEXT,
    secret_hash  BLOB NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER
);

-- A dashboard session: the SHA-256 of its cookie's id, who it is and what
-- it may do. In the store, so that every replica knows it and revoking a
-- token ends its sessions.
CREATE TABLE sessions (
    id_hash    BLOB PRIMARY KEY NOT NULL,
    actor      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role = 'ingest' OR role = 'read' OR role = 'write' OR role = 'admin'),
    projects   TEXT,
    -- The token it was made with, when it was; NULL for settings and SSO.
    token_name TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_token ON sessions (token_name) WHERE token_name IS NOT NULL;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

-- A dashboard sign-in under way at the OpenID provider, under the SHA-256
-- of its `state`: what the callback needs, for ten minutes, once.
CREATE TABLE sign_ins (
    state_hash    BLOB PRIMARY KEY NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- Every authorized write and admin action, newest read first.
CREATE TABLE audit (
    seq    INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    method TEXT NOT NULL,
    route  TEXT NOT NULL,
    target TEXT,
    status INTEGER NOT NULL
);
CREATE INDEX audit_by_time ON audit (at);

ALTER TABLE deployments ADD COLUMN created_by TEXT;
ALTER TABLE incidents ADD COLUMN created_by TEXT;
