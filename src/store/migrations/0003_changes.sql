-- The DORA 2024 model: what a deployment ships (its commits, as changes),
-- rollbacks and rework, and incident attribution. A deployment's change
-- failure is now decided by the domain and stored, so the incident-count
-- triggers of migration 2 go.

ALTER TABLE deployments ADD COLUMN commit_sha TEXT;
ALTER TABLE deployments ADD COLUMN kind TEXT NOT NULL DEFAULT 'release'
    CHECK (kind IN ('release', 'hotfix', 'rollback'));
ALTER TABLE deployments ADD COLUMN restores_incident TEXT;
-- Changes this deployment shipped first to its project and environment.
ALTER TABLE deployments ADD COLUMN change_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deployments ADD COLUMN rework INTEGER NOT NULL DEFAULT 0;
-- The deployment this rollback rolled back.
ALTER TABLE deployments ADD COLUMN rollback_of TEXT;
-- A later rollback put older code back over this deployment.
ALTER TABLE deployments ADD COLUMN rolled_back INTEGER NOT NULL DEFAULT 0;
-- An incident is linked to it, or it was rolled back.
ALTER TABLE deployments ADD COLUMN change_failure INTEGER NOT NULL DEFAULT 0;
-- change_failure_count was recorded for it: once per deployment, ever.
ALTER TABLE deployments ADD COLUMN change_failure_counted INTEGER NOT NULL DEFAULT 0;

UPDATE deployments SET change_failure = 1, change_failure_counted = 1 WHERE incident_count > 0;

DROP TRIGGER incidents_count_on_insert;
DROP TRIGGER incidents_count_on_delete;
DROP INDEX deployments_deployed_window;
ALTER TABLE deployments DROP COLUMN incident_count;

CREATE INDEX deployments_deployed_window ON deployments
    (deployed_at, deploy_start_at, change_failure, rework, project_id, team_id, environment)
    WHERE deployed_at IS NOT NULL;
-- The latest deployment of a project (and environment) at a time: attribution
-- of incidents, and what a rollback rolls back.
CREATE INDEX deployments_latest_deployed ON deployments (project_id, environment, deployed_at, id)
    WHERE deployed_at IS NOT NULL;
-- Whether a sha ran in a project and environment before: rollback detection.
CREATE INDEX deployments_by_sha ON deployments (project_id, environment, commit_sha, deployed_at)
    WHERE commit_sha IS NOT NULL AND deployed_at IS NOT NULL;

-- The commits a deployment says it ships, as sent (duplicates removed,
-- sorted by sha): JSON [[sha, committed_at], ...]. The list is only ever read
-- whole (when the deployment goes live, and to compare a retry), so one
-- column costs one write where a table of rows cost one B-tree insert each.
ALTER TABLE deployments ADD COLUMN commits TEXT;

-- A change is a commit sha shipped for the first time to a project and
-- environment, by the deployment that shipped it. A deployment without
-- commits ships one change without a sha.
CREATE TABLE changes (
    deployment_id TEXT NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
    sha           TEXT,
    project_id    TEXT NOT NULL,
    team_id       TEXT,
    environment   TEXT NOT NULL,
    committed_at  INTEGER NOT NULL,
    deployed_at   INTEGER NOT NULL,
    lead_time_ms  INTEGER NOT NULL
);
CREATE UNIQUE INDEX changes_shipped ON changes (project_id, environment, sha) WHERE sha IS NOT NULL;
CREATE INDEX changes_by_deployment ON changes (deployment_id);
CREATE INDEX changes_window ON changes (deployed_at, lead_time_ms, project_id, team_id, environment);

-- Every deployment deployed so far shipped one change, as lead time was counted before.
INSERT INTO changes (deployment_id, sha, project_id, team_id, environment, committed_at, deployed_at, lead_time_ms)
SELECT id, NULL, project_id, team_id, environment, first_commit_at, deployed_at, deployed_at - first_commit_at
FROM deployments WHERE deployed_at IS NOT NULL;
UPDATE deployments SET change_count = 1 WHERE deployed_at IS NOT NULL;

-- How an incident got its deployment: given by the caller, or inferred.
ALTER TABLE incidents ADD COLUMN deployment_link TEXT CHECK (deployment_link IN ('explicit', 'inferred'));
UPDATE incidents SET deployment_link = 'explicit' WHERE deployment_id IS NOT NULL;
