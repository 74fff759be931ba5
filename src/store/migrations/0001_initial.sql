-- Times are INTEGER milliseconds since the Unix epoch (UTC): they sort and
-- compare correctly as numbers, and range filters use the indexes below.

CREATE TABLE deployments (
    id              TEXT PRIMARY KEY NOT NULL,
    project_id      TEXT NOT NULL,
    team_id         TEXT,
    environment     TEXT NOT NULL,
    username        TEXT,
    status          TEXT NOT NULL CHECK (status IN ('started', 'deployed', 'failed')),
    first_commit_at INTEGER NOT NULL,
    deploy_start_at INTEGER NOT NULL,
    deployed_at     INTEGER,
    failed_at       INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- The list endpoint orders by (deploy_start_at, id) and filters on these columns.
CREATE INDEX deployments_by_start ON deployments (deploy_start_at, id);
CREATE INDEX deployments_by_project ON deployments (project_id, deploy_start_at);
CREATE INDEX deployments_by_team ON deployments (team_id, deploy_start_at);
CREATE INDEX deployments_by_environment ON deployments (environment, deploy_start_at);
-- DORA windows are ranges over deployed_at.
CREATE INDEX deployments_by_deployed_at ON deployments (deployed_at) WHERE deployed_at IS NOT NULL;

CREATE TABLE incidents (
    id            TEXT PRIMARY KEY NOT NULL,
    project_id    TEXT NOT NULL,
    team_id       TEXT,
    environment   TEXT NOT NULL,
    deployment_id TEXT REFERENCES deployments (id) ON DELETE RESTRICT,
    title         TEXT,
    started_at    INTEGER NOT NULL,
    restored_at   INTEGER,
    finished_at   INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE INDEX incidents_by_start ON incidents (started_at, id);
CREATE INDEX incidents_by_project ON incidents (project_id, started_at);
CREATE INDEX incidents_by_team ON incidents (team_id, started_at);
CREATE INDEX incidents_by_deployment ON incidents (deployment_id);
