-- Pull requests, their reviews, and the production deployment that shipped
-- each merge: where change lead time goes.

CREATE TABLE pull_requests (
    id               TEXT PRIMARY KEY NOT NULL,
    project_id       TEXT NOT NULL,
    team_id          TEXT,
    number           INTEGER,
    title            TEXT,
    -- NULL when EM_METRICS_STORE_USERNAMES=false, or erased.
    author           TEXT,
    -- A keyed hash (HMAC-SHA-256 under hash_keys 'author') of the author's
    -- login, kept even when the login is not: distinct authors are counted
    -- without knowing who they are. NULL once the login is erased.
    author_key       TEXT,
    base_branch      TEXT,
    head_sha         TEXT,
    -- From a Git host's delivery: the repository (its known-commits key) and
    -- the branch the pull request's commits are pushed to.
    repository       TEXT,
    head_branch      TEXT,
    draft            INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL CHECK (state = 'open' OR state = 'merged' OR state = 'closed'),
    opened_at        INTEGER NOT NULL,
    first_commit_at  INTEGER,
    -- When it was first ready for review: opened_at, or a draft made ready.
    ready_at         INTEGER,
    -- The first review and the first approval by someone other than the author.
    first_review_at  INTEGER,
    approved_at      INTEGER,
    reviews          INTEGER NOT NULL DEFAULT 0,
    merged_at        INTEGER,
    merge_commit_sha TEXT,
    additions        INTEGER,
    deletions        INTEGER,
    closed_at        INTEGER,
    -- The first production deployment of the project that shipped the merge.
    deployment_id    TEXT,
    deployed_at      INTEGER,
    created_by       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX pull_requests_by_project ON pull_requests (project_id, opened_at);
CREATE INDEX pull_requests_by_team ON pull_requests (team_id, opened_at);
CREATE INDEX pull_requests_by_opening ON pull_requests (opened_at, id);
-- Covering: /dora/cycle-time reads a window's merged pull requests from
-- the index alone (bench/cycle_time.sh: a year, 56,609 of them, 355 ms
-- through the table, 47 ms from the index).
CREATE INDEX pull_requests_merged_window ON pull_requests
    (merged_at, project_id, team_id, author_key, opened_at, first_commit_at, ready_at, first_review_at, deployed_at)
    WHERE merged_at IS NOT NULL;
CREATE INDEX pull_requests_closed_window ON pull_requests (closed_at, project_id, team_id)
    WHERE state = 'closed';
-- A deployment going live finds the merges it ships.
CREATE INDEX pull_requests_by_merge ON pull_requests (project_id, merge_commit_sha)
    WHERE merge_commit_sha IS NOT NULL;

-- A push to a pull request's head branch gives its first commit.
CREATE INDEX pull_requests_by_head_branch ON pull_requests (repository, head_branch)
    WHERE head_branch IS NOT NULL;

-- The earliest commit time pushed to each branch, until the branch is
-- deleted or a pull request from it is merged or closed (a branch name used
-- again starts over). pushed_at: the last push, for the retention.
CREATE TABLE branch_pushes (
    repository      TEXT NOT NULL,
    branch          TEXT NOT NULL,
    first_commit_at INTEGER NOT NULL,
    pushed_at       INTEGER NOT NULL,
    PRIMARY KEY (repository, branch)
) WITHOUT ROWID;
CREATE INDEX branch_pushes_by_age ON branch_pushes (pushed_at);

-- Keys of the keyed hashes, made at first use: 32 random bytes each.
CREATE TABLE hash_keys (
    name TEXT PRIMARY KEY NOT NULL,
    key  BLOB NOT NULL
);

-- Every review, by the author too (stored, never counted).
CREATE TABLE pull_request_reviews (
    pull_request_id TEXT NOT NULL REFERENCES pull_requests (id) ON DELETE CASCADE,
    reviewer        TEXT,
    state           TEXT NOT NULL CHECK (state = 'approved' OR state = 'changes_requested' OR state = 'commented'),
    reviewed_at     INTEGER NOT NULL,
    by_author       INTEGER NOT NULL
);
CREATE INDEX pull_request_reviews_by_pull_request ON pull_request_reviews (pull_request_id, reviewed_at);
