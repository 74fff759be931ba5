-- Native webhooks (GitHub, GitLab, PagerDuty, incident.io, Alertmanager).

-- Delivery ids seen in the last 7 days: a redelivery changes nothing.
CREATE TABLE webhook_deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, delivery_id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (received_at);

-- Commits a Git host pushed to a branch, by repository ("github:acme/api").
-- push_seq numbers the pushes of a repository in the order they arrived: a
-- deployment of sha S ships the known commits of the pushes up to the one
-- that carried S. A sha pushed twice keeps its first push.
CREATE TABLE known_commits (
    repository   TEXT NOT NULL,
    sha          TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    push_seq     INTEGER NOT NULL,
    PRIMARY KEY (repository, sha)
) WITHOUT ROWID;
CREATE INDEX known_commits_by_push ON known_commits (repository, push_seq);

-- How far into a repository's pushes a project and environment has shipped
-- through Git host deployments: every known commit of a push at or before
-- through_push was shipped there, so the next deployment only looks at the
-- pushes after it.
CREATE TABLE shipped_pushes (
    repository   TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    environment  TEXT NOT NULL,
    through_push INTEGER NOT NULL,
    PRIMARY KEY (repository, project_id, environment)
) WITHOUT ROWID;
