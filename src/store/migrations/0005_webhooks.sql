-- Native webhooks (GitHub, GitLab, PagerDuty, incident.io, Alertmanager).

-- Delivery ids seen in the last 7 days: a redelivery changes nothing.
CREATE TABLE webhook_deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, delivery_id)
) WITHOUT ROWID;
CREATE INDEX webhook_deliveries_by_age ON webhook_deliveries (received_at);

-- Pushes a Git host sent for a branch, by repository ("github:acme/api"),
-- numbered in the order they arrived. One row per push, appended in key
-- order: a row per commit keyed by its (random) sha made every push write
-- about 20 scattered pages, 10 times the cost of the rest of the request.
-- commits: JSON [[sha, committed_at ms], ...] as the push listed them.
CREATE TABLE pushes (
    repository TEXT NOT NULL,
    push_seq   INTEGER NOT NULL,
    commits    TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (repository, push_seq)
) WITHOUT ROWID;

-- How far into a repository's pushes a project and environment has shipped
-- through Git host deployments: every commit of a push at or before
-- through_push was shipped there, so a deployment only looks at the pushes
-- after it.
CREATE TABLE shipped_pushes (
    repository   TEXT NOT NULL,
    project_id   TEXT NOT NULL,
    environment  TEXT NOT NULL,
    through_push INTEGER NOT NULL,
    PRIMARY KEY (repository, project_id, environment)
) WITHOUT ROWID;
