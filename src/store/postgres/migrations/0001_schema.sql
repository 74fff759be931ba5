-- The whole schema of SQLite's migrations 1 to 8, in PostgreSQL's words.
-- Column names, order and meaning are the SQLite store's, so that `copy`
-- moves rows one for one and the same queries read both. Times are Unix
-- milliseconds in BIGINT (millisecond precision, as in SQLite); flags are
-- 0 or 1 in BIGINT, as SQLite stores them; hashes are BYTEA.

CREATE TABLE deployments (
    id                     TEXT PRIMARY KEY,
    project_id             TEXT NOT NULL,
    team_id                TEXT,
    environment            TEXT NOT NULL,
    username               TEXT,
    status                 TEXT NOT NULL CHECK (status IN ('started', 'deployed', 'failed')),
    first_commit_at        BIGINT NOT NULL,
    deploy_start_at        BIGINT NOT NULL,
    deployed_at            BIGINT,
    failed_at              BIGINT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL,
    commit_sha             TEXT,
    kind                   TEXT NOT NULL DEFAULT 'release' CHECK (kind IN ('release', 'hotfix', 'rollback')),
    restores_incident      TEXT,
    change_count           BIGINT NOT NULL DEFAULT 0,
    rework                 BIGINT NOT NULL DEFAULT 0,
    rollback_of            TEXT,
    rolled_back            BIGINT NOT NULL DEFAULT 0,
    change_failure         BIGINT NOT NULL DEFAULT 0,
    change_failure_counted BIGINT NOT NULL DEFAULT 0,
    commits                TEXT,
    created_by             TEXT
);
CREATE INDEX deployments_by_start ON deployments (deploy_start_at, id);
CREATE INDEX deployments_by_project ON deployments (project_id, deploy_start_at);
CREATE INDEX deployments_by_team ON deployments (team_id, deploy_start_at);
CREATE INDEX deployments_by_environment ON deployments (environment, deploy_start_at);
CREATE INDEX deployments_failed_window ON deployments (deploy_start_at, project_id, team_id, environment)
    WHERE status = 'failed';
CREATE INDEX deployments_deployed_window ON deployments
    (deployed_at, deploy_start_at, change_failure, rework, project_id, team_id, environment)
    WHERE deployed_at IS NOT NULL;
CREATE INDEX deployments_latest_deployed ON deployments (project_id, environment, deployed_at, id)
    WHERE deployed_at IS NOT NULL;
CREATE INDEX deployments_by_sha ON deployments (project_id, environment, commit_sha, deployed_at)
    WHERE commit_sha IS NOT NULL AND deployed_at IS NOT NULL;

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL,
    team_id         TEXT,
    environment     TEXT NOT NULL,
    deployment_id   TEXT REFERENCES deployments (id) ON DELETE RESTRICT,
    title           TEXT,
    started_at      BIGINT NOT NULL,
    restored_at     BIGINT,
    finished_at     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    deployment_link TEXT CHECK (deployment_link IN ('explicit', 'inferred')),
    created_by      TEXT
);
CREATE INDEX incidents_by_project ON incidents (project_id, started_at);
CREATE INDEX incidents_by_team ON incidents (team_id, started_at);
CREATE INDEX incidents_by_deployment ON incidents (deployment_id);
CREATE INDEX incidents_window ON incidents
    (started_at, restored_at, deployment_id, project_id, team_id, environment, id);
CREATE INDEX incidents_open ON incidents (started_at, id) WHERE restored_at IS NULL;

CREATE TABLE changes (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    sha           TEXT,
    project_id    TEXT NOT NULL,
    team_id       TEXT,
    environment   TEXT NOT NULL,
    committed_at  BIGINT NOT NULL,
    deployed_at   BIGINT NOT NULL,
    lead_time_ms  BIGINT NOT NULL
);
-- A commit is a new change once per project and environment.
CREATE UNIQUE INDEX changes_shipped ON changes (project_id, environment, sha) WHERE sha IS NOT NULL;
CREATE INDEX changes_by_deployment ON changes (deployment_id);
CREATE INDEX changes_window ON changes (deployed_at, lead_time_ms, project_id, team_id, environment);

CREATE TABLE idempotency_keys (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status      BIGINT,
    response    BYTEA,
    created_at  BIGINT NOT NULL
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

CREATE TABLE webhook_deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (received_at);

CREATE TABLE pushes (
    repository  TEXT NOT NULL,
    push_seq    BIGINT NOT NULL,
    commits     TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (repository, push_seq)
);
CREATE INDEX pushes_by_age ON pushes (received_at);

CREATE TABLE shipped_pushes (
    repository   TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    environment  TEXT NOT NULL,
    through_push BIGINT NOT NULL,
    PRIMARY KEY (repository, project_id, environment)
);

CREATE TABLE tokens (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL CHECK (role IN ('ingest', 'read', 'write', 'admin')),
    projects     TEXT,
    secret_hash  BYTEA NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);

CREATE TABLE sessions (
    id_hash    BYTEA PRIMARY KEY,
    actor      TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('ingest', 'read', 'write', 'admin')),
    projects   TEXT,
    token_name TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_token ON sessions (token_name) WHERE token_name IS NOT NULL;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE sign_ins (
    state_hash    BYTEA PRIMARY KEY,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);

CREATE TABLE audit (
    seq    BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    method TEXT NOT NULL,
    route  TEXT NOT NULL,
    target TEXT,
    status BIGINT NOT NULL
);
CREATE INDEX audit_by_time ON audit (at);
