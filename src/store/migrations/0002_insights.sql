-- DORA windows read every deployment deployed in a time range, and whether
-- any incident points to it (change failure rate). Keeping that count on the
-- deployment, maintained by triggers, spares a lookup per row; the covering
-- indexes below let window queries read the index alone.

ALTER TABLE deployments ADD COLUMN incident_count INTEGER NOT NULL DEFAULT 0;

UPDATE deployments
SET incident_count = (SELECT count(*) FROM incidents i WHERE i.deployment_id = deployments.id);

-- An incident's deployment_id never changes after insert.
CREATE TRIGGER incidents_count_on_insert AFTER INSERT ON incidents
WHEN NEW.deployment_id IS NOT NULL
BEGIN
    UPDATE deployments SET incident_count = incident_count + 1 WHERE id = NEW.deployment_id;
END;

CREATE TRIGGER incidents_count_on_delete AFTER DELETE ON incidents
WHEN OLD.deployment_id IS NOT NULL
BEGIN
    UPDATE deployments SET incident_count = incident_count - 1 WHERE id = OLD.deployment_id;
END;

DROP INDEX deployments_by_deployed_at;
CREATE INDEX deployments_deployed_window ON deployments
    (deployed_at, first_commit_at, deploy_start_at, incident_count, project_id, team_id, environment)
    WHERE deployed_at IS NOT NULL;
CREATE INDEX deployments_failed_window ON deployments
    (deploy_start_at, project_id, team_id, environment)
    WHERE status = 'failed';

DROP INDEX incidents_by_start;
CREATE INDEX incidents_window ON incidents
    (started_at, restored_at, deployment_id, project_id, team_id, environment, id);
