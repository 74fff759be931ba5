//! Pull request queries and the transactions that apply their state changes.

use super::effects;
use super::query::{Page, Select, TimeRange};
use super::sql::{args, Conn, Row};
use super::{Store, StoreError, StoreResult, Tx};
use crate::domain::pull_request::{self, HashKey, HeadBranch, Merge, NewPullRequest, NewReview, Shipment, StageTimes};
use crate::domain::{Context, Id, PullRequest, PullRequestState, Transition, Write};
use crate::time::Timestamp;

#[derive(Debug, Clone, Default)]
pub struct PullRequestFilter {
    pub project_ids: Vec<String>,
    pub team_ids: Vec<String>,
    pub state: Option<PullRequestState>,
    /// On opened_at.
    pub range: TimeRange,
    /// Ordered by opened_at, then id.
    pub page: Page,
}

/// A pull request merged in a window, as much of it as cycle time needs:
/// read from the covering index `pull_requests_merged_window` alone.
#[derive(Debug, Clone)]
pub struct MergedRow {
    pub project_id: Id,
    pub team_id: Option<String>,
    /// The keyed hash of its author's login: distinct authors.
    pub author_key: Option<String>,
    pub times: StageTimes,
}

/// What `/dora/cycle-time` counts in a window.
#[derive(Debug, Default)]
pub struct CycleTimeRows {
    /// Pull requests merged in the window.
    pub merged: Vec<MergedRow>,
    /// How many were opened in it.
    pub opened: u64,
    /// How many were closed without merging in it.
    pub closed_unmerged: u64,
}

const COLUMNS: &str = "id, project_id, team_id, number, title, author, base_branch, head_sha, draft, state, \
     opened_at, first_commit_at, ready_at, first_review_at, approved_at, reviews, merged_at, merge_commit_sha, \
     additions, deletions, closed_at, deployment_id, deployed_at, created_by, author_key, repository, head_branch";

/// The pull request commands: each loads what the domain needs, lets it
/// decide and writes the decision, inside the caller's transaction.
impl Tx<'_> {
    /// `POST /pull-requests`.
    pub fn open_pull_request(&self, cmd: NewPullRequest, ctx: &Context) -> StoreResult<Transition<PullRequest>> {
        let existing = match &cmd.id {
            Some(id) => read(self.conn, id)?,
            None => None,
        };
        let key = hash_key(self.conn)?;
        let t = pull_request::open(existing, cmd, &key, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// `POST /pull-requests/{id}/ready`.
    pub fn ready_pull_request(
        &self,
        id: &Id,
        date: Option<Timestamp>,
        ctx: &Context,
    ) -> StoreResult<Transition<PullRequest>> {
        let t = pull_request::ready(id, read(self.conn, id)?, date, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// A Git host's `converted_to_draft`.
    pub fn draft_pull_request(&self, id: &Id, ctx: &Context) -> StoreResult<Transition<PullRequest>> {
        let t = pull_request::to_draft(id, read(self.conn, id)?, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// `POST /pull-requests/{id}/reviewed`.
    pub fn review_pull_request(&self, id: &Id, cmd: NewReview, ctx: &Context) -> StoreResult<Transition<PullRequest>> {
        // The same review again (a retry) is stored once.
        let seen = match cmd.reviewed_at {
            Some(at) => self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM pull_request_reviews WHERE pull_request_id = ?1 \
                 AND reviewed_at = ?2 AND state = ?3 AND reviewer IS NOT DISTINCT FROM ?4)",
                &args![id, at.millis(), cmd.state.as_str(), cmd.reviewer],
                |r| r.get(0),
            )?,
            None => false,
        };
        let t = pull_request::review(id, read(self.conn, id)?, cmd, seen, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// `POST /pull-requests/{id}/merged`.
    pub fn merge_pull_request(&self, id: &Id, cmd: Merge, ctx: &Context) -> StoreResult<Transition<PullRequest>> {
        let existing = read(self.conn, id)?;
        let shipped = match (&existing, pull_request::merge_sha(&cmd)) {
            (Some(p), Ok(sha)) => first_production_shipment(
                self.conn,
                &p.project_id,
                sha,
                &ctx.attribution.production(&ctx.default_environment),
            )?,
            _ => None,
        };
        let t = pull_request::merge(id, existing, cmd, shipped, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// `POST /pull-requests/{id}/closed`.
    pub fn close_pull_request(
        &self,
        id: &Id,
        date: Option<Timestamp>,
        ctx: &Context,
    ) -> StoreResult<Transition<PullRequest>> {
        let t = pull_request::close(id, read(self.conn, id)?, date, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// `POST /pull-requests/{id}/reopened`.
    pub fn reopen_pull_request(
        &self,
        id: &Id,
        date: Option<Timestamp>,
        ctx: &Context,
    ) -> StoreResult<Transition<PullRequest>> {
        let t = pull_request::reopen(id, read(self.conn, id)?, date, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }

    /// `DELETE /pull-requests/{id}`.
    pub fn delete_pull_request(&self, id: &Id, ctx: &Context) -> StoreResult<Transition<PullRequest>> {
        let t = pull_request::remove(id, read(self.conn, id)?, ctx)?;
        save(self.conn, &t, ctx.now)?;
        Ok(t)
    }
}

/// The key of the authors' keyed hash, made (32 bytes from the OS) the
/// first time one is needed and kept in the store, so the same login gives
/// the same value across restarts and replicas.
pub(super) fn hash_key(conn: Conn) -> StoreResult<HashKey> {
    let read = "SELECT key FROM hash_keys WHERE name = 'author'";
    if let Some(key) = conn.query_opt(read, &[], |r| r.get::<Vec<u8>>(0))? {
        return Ok(HashKey(key));
    }
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StoreError::Internal(format!("no random bytes for the hash key: {e}")))?;
    conn.execute("INSERT INTO hash_keys (name, key) VALUES ('author', ?1)", &args![key])?;
    Ok(HashKey(key))
}

impl Store {
    pub async fn pull_request(&self, id: Id) -> StoreResult<Option<PullRequest>> {
        self.read(move |conn| read(conn, &id)).await
    }

    pub async fn pull_requests(&self, filter: PullRequestFilter) -> StoreResult<Vec<PullRequest>> {
        self.read(move |conn| list(conn, &filter)).await
    }

    /// The latest `limit` pull requests merged in `[from, to)`, newest first.
    pub async fn latest_merged(
        &self,
        from: Timestamp,
        to: Timestamp,
        project_ids: Vec<String>,
        team_ids: Vec<String>,
        limit: u32,
    ) -> StoreResult<Vec<PullRequest>> {
        self.read(move |conn| {
            let mut select = Select::new(format!("SELECT {COLUMNS} FROM pull_requests WHERE merged_at IS NOT NULL"));
            select
                .range("merged_at", TimeRange { from: Some(from), to: Some(to) })
                .any_of("project_id", &project_ids)
                .any_of("team_id", &team_ids);
            select.tail(&format!(" ORDER BY merged_at DESC, id DESC LIMIT {limit}")).collect(conn, from_row)
        })
        .await
    }

    /// What `/dora/cycle-time` counts in `[from, to)`: the pull requests
    /// merged in it (each through `pull_requests_merged_window`), and how
    /// many were opened and closed unmerged in it.
    pub async fn cycle_time_rows(
        &self,
        from: Timestamp,
        to: Timestamp,
        project_ids: Vec<String>,
        team_ids: Vec<String>,
    ) -> StoreResult<CycleTimeRows> {
        self.read(move |conn| {
            let window = TimeRange { from: Some(from), to: Some(to) };
            let filtered = |base: String, column: &str| {
                let mut select = Select::new(base);
                select.range(column, window).any_of("project_id", &project_ids).any_of("team_id", &team_ids);
                select
            };
            let merged = filtered(
                "SELECT project_id, team_id, author_key, opened_at, first_commit_at, ready_at, first_review_at, \
                 merged_at, deployed_at FROM pull_requests WHERE merged_at IS NOT NULL"
                    .into(),
                "merged_at",
            )
            .collect(conn, merged_row)?;
            let count = |select: Select| -> StoreResult<u64> {
                Ok(select.collect(conn, |r| r.get::<u64>(0))?.first().copied().unwrap_or(0))
            };
            let opened = count(filtered("SELECT count(*) FROM pull_requests WHERE 1 = 1".into(), "opened_at"))?;
            let closed_unmerged =
                count(filtered("SELECT count(*) FROM pull_requests WHERE state = 'closed'".into(), "closed_at"))?;
            Ok(CycleTimeRows { merged, opened, closed_unmerged })
        })
        .await
    }
}

fn merged_row(r: &Row) -> StoreResult<MergedRow> {
    let time =
        |i: usize| -> StoreResult<Option<Timestamp>> { Ok(r.get::<Option<i64>>(i)?.map(Timestamp::from_millis)) };
    Ok(MergedRow {
        project_id: r.get(0)?,
        team_id: r.get(1)?,
        author_key: r.get(2)?,
        times: StageTimes {
            opened_at: Timestamp::from_millis(r.get(3)?),
            first_commit_at: time(4)?,
            ready_at: time(5)?,
            first_review_at: time(6)?,
            merged_at: time(7)?,
            deployed_at: time(8)?,
        },
    })
}

pub(super) fn read(conn: Conn, id: &str) -> StoreResult<Option<PullRequest>> {
    conn.query_opt(&format!("SELECT {COLUMNS} FROM pull_requests WHERE id = ?1"), &args![id], from_row)
}

/// The pull requests whose commits are pushed to `branch` of `repository`.
pub(super) fn from_branch(conn: Conn, repository: &str, branch: &str) -> StoreResult<Vec<PullRequest>> {
    let sql = format!("SELECT {COLUMNS} FROM pull_requests WHERE repository = ?1 AND head_branch = ?2");
    conn.query_vec(&sql, &args![repository, branch], from_row)
}

/// The pull requests of `project_id` merged as one of `shas`: one probe of
/// `pull_requests_by_merge` per sha.
pub(super) fn merged_as(conn: Conn, project_id: &Id, shas: &[Id]) -> StoreResult<Vec<PullRequest>> {
    let sql = format!("SELECT {COLUMNS} FROM pull_requests WHERE project_id = ?1 AND merge_commit_sha = ?2");
    let mut found = Vec::new();
    for sha in shas {
        found.extend(conn.query_vec(&sql, &args![project_id, sha], from_row)?);
    }
    Ok(found)
}

/// The earliest production deployment of `project_id` that went live with
/// `sha`: as one of its listed commits (the `changes` it shipped first) or
/// as its `commit_sha`.
fn first_production_shipment(
    conn: Conn,
    project_id: &Id,
    sha: &Id,
    environments: &[String],
) -> StoreResult<Option<Shipment>> {
    let mut select = Select::new(
        "SELECT id, environment, deployed_at FROM (\
           SELECT deployment_id AS id, deployed_at, environment FROM changes WHERE project_id = ?1 AND sha = ?2 \
           UNION ALL \
           SELECT id, deployed_at, environment FROM deployments \
           WHERE project_id = ?1 AND commit_sha = ?2 AND deployed_at IS NOT NULL\
         ) AS shipped WHERE 1 = 1",
    );
    select.bind(project_id.clone()).bind(sha.clone()).any_of("environment", environments);
    let found = select.tail(" ORDER BY deployed_at, id LIMIT 1").collect(conn, |r| {
        Ok(Shipment {
            deployment_id: r.get(0)?,
            environment: r.get(1)?,
            deployed_at: Timestamp::from_millis(r.get(2)?),
        })
    })?;
    Ok(found.into_iter().next())
}

pub(super) fn save(conn: Conn, t: &Transition<PullRequest>, now: Timestamp) -> StoreResult<()> {
    let p = &t.value;
    // Bound first: the arguments borrow what they are made of.
    let ms = |at: Option<Timestamp>| at.map(Timestamp::millis);
    let (state, opened_at, now_ms) = (p.state.as_str(), p.opened_at.millis(), now.millis());
    let (first_commit_at, ready_at, first_review_at) = (ms(p.first_commit_at), ms(p.ready_at), ms(p.first_review_at));
    let (approved_at, merged_at, closed_at, deployed_at) =
        (ms(p.approved_at), ms(p.merged_at), ms(p.closed_at), ms(p.deployed_at));
    let repository = p.head_branch.as_ref().map(|b| &b.repository);
    let branch = p.head_branch.as_ref().map(|b| &b.branch);
    let values = args![
        p.id,
        p.project_id,
        p.team_id,
        p.number,
        p.title,
        p.author,
        p.base_branch,
        p.head_sha,
        p.draft,
        state,
        opened_at,
        first_commit_at,
        ready_at,
        first_review_at,
        approved_at,
        p.reviews,
        merged_at,
        p.merge_commit_sha,
        p.additions,
        p.deletions,
        closed_at,
        p.deployment_id,
        deployed_at,
        p.created_by,
        now_ms,
        p.author_key,
        repository,
        branch,
    ];
    match t.write {
        Write::Keep => {}
        Write::Insert => {
            let sql = format!(
                "INSERT INTO pull_requests ({COLUMNS}, created_at, updated_at) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, \
                 ?22, ?23, ?24, ?26, ?27, ?28, ?25, ?25)"
            );
            conn.execute(&sql, &values)?;
        }
        Write::Update => {
            // Everything but the id, the project and who created it (?24,
            // which is what was read: PostgreSQL wants every argument used).
            conn.execute(
                "UPDATE pull_requests SET created_by = COALESCE(created_by, ?24), team_id = ?3, number = ?4, title = ?5, author = ?6, base_branch = ?7, \
                 head_sha = ?8, draft = ?9, state = ?10, opened_at = ?11, first_commit_at = ?12, ready_at = ?13, \
                 first_review_at = ?14, approved_at = ?15, reviews = ?16, merged_at = ?17, merge_commit_sha = ?18, \
                 additions = ?19, deletions = ?20, closed_at = ?21, deployment_id = ?22, deployed_at = ?23, \
                 updated_at = ?25, author_key = ?26, repository = ?27, head_branch = ?28 WHERE id = ?1 AND project_id = ?2",
                &values,
            )?;
        }
        Write::Delete => {
            conn.execute("DELETE FROM pull_requests WHERE id = ?1", &args![p.id])?;
        }
    }
    effects::apply(conn, &t.effects, now)
}

fn list(conn: Conn, f: &PullRequestFilter) -> StoreResult<Vec<PullRequest>> {
    let mut select = Select::new(format!("SELECT {COLUMNS} FROM pull_requests WHERE 1 = 1"));
    if let Some(state) = f.state {
        select.condition("state = ?").bind(state.as_str());
    }
    select
        .any_of("project_id", &f.project_ids)
        .any_of("team_id", &f.team_ids)
        .range("opened_at", f.range)
        .page(&["opened_at", "id"], f.page)
        .collect(conn, from_row)
}

fn from_row(r: &Row) -> StoreResult<PullRequest> {
    let time =
        |i: usize| -> StoreResult<Option<Timestamp>> { Ok(r.get::<Option<i64>>(i)?.map(Timestamp::from_millis)) };
    let state: String = r.get(9)?;
    Ok(PullRequest {
        id: r.get(0)?,
        project_id: r.get(1)?,
        team_id: r.get(2)?,
        number: r.get(3)?,
        title: r.get(4)?,
        author: r.get(5)?,
        base_branch: r.get(6)?,
        head_sha: r.get(7)?,
        draft: r.get(8)?,
        state: PullRequestState::parse(&state)
            .ok_or_else(|| StoreError::Internal(format!("stored pull request state `{state}`")))?,
        opened_at: Timestamp::from_millis(r.get(10)?),
        first_commit_at: time(11)?,
        ready_at: time(12)?,
        first_review_at: time(13)?,
        approved_at: time(14)?,
        reviews: r.get(15)?,
        merged_at: time(16)?,
        merge_commit_sha: r.get(17)?,
        additions: r.get(18)?,
        deletions: r.get(19)?,
        closed_at: time(20)?,
        deployment_id: r.get(21)?,
        deployed_at: time(22)?,
        created_by: r.get(23)?,
        author_key: r.get(24)?,
        head_branch: match (r.get::<Option<String>>(25)?, r.get::<Option<String>>(26)?) {
            (Some(repository), Some(branch)) => Some(HeadBranch { repository, branch }),
            _ => None,
        },
    })
}
