-- SQLite's migration 9: pull requests and their reviews.

CREATE TABLE pull_requests (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL,
    team_id          TEXT,
    number           BIGINT,
    title            TEXT,
    author           TEXT,
    author_key       TEXT,
    base_branch      TEXT,
    head_sha         TEXT,
    repository       TEXT,
    head_branch      TEXT,
    draft            BIGINT NOT NULL DEFAULT 0,
    state            TEXT NOT NULL CHECK (state IN ('open', 'merged', 'closed')),
    opened_at        BIGINT NOT NULL,
    first_commit_at  BIGINT,
    ready_at         BIGINT,
    first_review_at  BIGINT,
    approved_at      BIGINT,
    reviews          BIGINT NOT NULL DEFAULT 0,
    merged_at        BIGINT,
    merge_commit_sha TEXT,
    additions        BIGINT,
    deletions        BIGINT,
    closed_at        BIGINT,
    deployment_id    TEXT,
    deployed_at      BIGINT,
    created_by       TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX pull_requests_by_project ON pull_requests (project_id, opened_at);
CREATE INDEX pull_requests_by_team ON pull_requests (team_id, opened_at);
CREATE INDEX pull_requests_by_opening ON pull_requests (opened_at, id);
CREATE INDEX pull_requests_merged_window ON pull_requests (merged_at, project_id, team_id)
    INCLUDE (author_key, opened_at, first_commit_at, ready_at, first_review_at, deployed_at)
    WHERE merged_at IS NOT NULL;
CREATE INDEX pull_requests_closed_window ON pull_requests (closed_at, project_id, team_id)
    WHERE state = 'closed';
CREATE INDEX pull_requests_by_merge ON pull_requests (project_id, merge_commit_sha)
    WHERE merge_commit_sha IS NOT NULL;

CREATE INDEX pull_requests_by_head_branch ON pull_requests (repository, head_branch)
    WHERE head_branch IS NOT NULL;

CREATE TABLE branch_pushes (
    repository      TEXT NOT NULL,
    branch          TEXT NOT NULL,
    first_commit_at BIGINT NOT NULL,
    pushed_at       BIGINT NOT NULL,
    PRIMARY KEY (repository, branch)
);
CREATE INDEX branch_pushes_by_age ON branch_pushes (pushed_at);

CREATE TABLE hash_keys (
    name TEXT PRIMARY KEY,
    key  BYTEA NOT NULL
);

CREATE TABLE pull_request_reviews (
    pull_request_id TEXT NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    reviewer        TEXT,
    state           TEXT NOT NULL CHECK (state IN ('approved', 'changes_requested', 'commented')),
    reviewed_at     BIGINT NOT NULL,
    by_author       BIGINT NOT NULL
);
CREATE INDEX pull_request_reviews_by_pull_request ON pull_request_reviews (pull_request_id, reviewed_at);
