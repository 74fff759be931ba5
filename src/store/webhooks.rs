//! Webhook deliveries in one transaction: the delivery id is remembered
//! (a redelivery changes nothing), pushes become known commits, and each
//! action runs, in its own savepoint, the commands the domain plans for it
//! ([`crate::domain::delivery`]) through the same store steps as the JSON
//! API. So one refused action (an alert resolved before it started) leaves
//! the others and the delivery record in place. Only SQL lives here.

use sha2::{Digest, Sha256};

use super::sql::{args, Conn};
use super::{pull_requests, rows, StoreError, StoreResult, Tx};
use crate::domain::delivery::{
    creates_pull_request, deployed, ends_branch, learn, plan_deployment, plan_incident, step_id, Action, Delivery,
    DeploymentChange, DeploymentPlan, DeploymentStep, IncidentPlan, IncidentStep, Outcome, PullRequestChange,
    PullRequestStep, PushHistory, PushSearch, DELIVERY_LIFETIME_MS,
};
use crate::domain::deployment::went_live;
use crate::domain::pull_request::{commits_pushed, HeadBranch};
use crate::domain::{
    Commit, Context, Deployment, Id, Incident, PullRequest, Rejection, Transition, Write, MAX_COMMITS,
};
use crate::time::Timestamp;

/// Runs a delivery's actions; `delivery_id` (from the source's header)
/// makes a redelivery a no-op.
impl Tx<'_> {
    /// A webhook delivery: its actions, each in its own savepoint.
    pub fn run_delivery(
        &self,
        source: &str,
        delivery_id: Option<&str>,
        actions: Vec<Action>,
        ctx: &Context,
    ) -> StoreResult<Transition<Delivery>> {
        run(self, source, delivery_id, actions, ctx)
    }
}

fn run(
    tx: &Tx,
    source: &str,
    delivery_id: Option<&str>,
    actions: Vec<Action>,
    ctx: &Context,
) -> StoreResult<Transition<Delivery>> {
    let mut events = Vec::new();
    if let Some(delivery_id) = delivery_id {
        if !first_sight(tx.conn, source, delivery_id, ctx.now)? {
            return Ok(Transition { write: Write::Keep, value: Delivery::Duplicate, events, effects: Vec::new() });
        }
    }
    let mut outcomes = Vec::with_capacity(actions.len());
    for action in actions {
        let outcome = match action {
            Action::Ignore(why) => Outcome::Ignored(why),
            Action::Ping => Outcome::Ping,
            Action::RememberCommits { repository, branch, commits } => {
                let listed = remember(tx.conn, &repository, &commits, ctx.now)?;
                first_commits(tx.conn, &repository, &branch, &commits, ctx.now)?;
                Outcome::KnownCommits { repository, commits: listed }
            }
            Action::ForgetBranch { repository, branch } => {
                forget_branch(tx.conn, &repository, &branch)?;
                Outcome::Ignored("a branch deletion".into())
            }
            Action::Deployment(step) => match attempt(tx.conn, || deployment(tx, step, ctx))? {
                Ok(t) => {
                    events.extend(t.events);
                    Outcome::Deployment { created: t.write == Write::Insert, deployment: t.value }
                }
                Err(why) => Outcome::Ignored(why.to_string()),
            },
            Action::PullRequest(step) => match attempt(tx.conn, || pull_request(tx, step, ctx))? {
                Ok((created, t)) => {
                    events.extend(t.events);
                    Outcome::PullRequest { created, pull_request: Box::new(t.value) }
                }
                Err(why) => Outcome::Ignored(why.to_string()),
            },
            Action::Incident(step) => match attempt(tx.conn, || incident(tx, step, ctx))? {
                Ok((t, outcome)) => {
                    events.extend(t.events);
                    outcome
                }
                Err(why) => Outcome::Ignored(why.to_string()),
            },
        };
        outcomes.push(outcome);
    }
    Ok(Transition { write: Write::Update, value: Delivery::Ran(outcomes), events, effects: Vec::new() })
}

/// A pull request step: created first when not stored yet, then changed,
/// through the same commands as `/pull-requests`.
fn pull_request(tx: &Tx, step: PullRequestStep, ctx: &Context) -> StoreResult<(bool, Transition<PullRequest>)> {
    let id = step_id(step.new.id.as_ref())?.clone();
    let existing = pull_requests::read(tx.conn, &id)?;
    let mut events = Vec::new();
    let created = creates_pull_request(existing.as_ref());
    let ends_branch = ends_branch(&step.change);
    let opened = if created {
        let t = tx.open_pull_request(step.new, ctx)?;
        events.extend(t.events.iter().cloned());
        // Its branch's commits may have been pushed before it was opened.
        let pushed = match &t.value.head_branch {
            Some(head) => first_pushed(tx.conn, head)?,
            None => None,
        };
        Some(match pushed {
            Some(earliest) => {
                let t = commits_pushed(t.value, earliest);
                pull_requests::save(tx.conn, &t, ctx.now)?;
                t.value
            }
            None => t.value,
        })
    } else {
        existing
    };
    let mut t = match step.change {
        PullRequestChange::Open => Transition::keep(opened.ok_or_else(|| StoreError::Internal("opened".into()))?),
        PullRequestChange::Reopen(at) => tx.reopen_pull_request(&id, Some(at), ctx)?,
        PullRequestChange::Ready(at) => tx.ready_pull_request(&id, Some(at), ctx)?,
        PullRequestChange::ToDraft => tx.draft_pull_request(&id, ctx)?,
        PullRequestChange::Review(review) => tx.review_pull_request(&id, review, ctx)?,
        PullRequestChange::Merge(merge) => tx.merge_pull_request(&id, merge, ctx)?,
        PullRequestChange::Close(at) => tx.close_pull_request(&id, Some(at), ctx)?,
    };
    events.append(&mut t.events);
    t.events = events;
    if let Some(head) = t.value.head_branch.as_ref().filter(|_| ends_branch) {
        forget_branch(tx.conn, &head.repository, &head.branch)?;
    }
    Ok((created, t))
}

/// The earliest commit time pushed to `head`'s branch, while it lasts.
fn first_pushed(tx: Conn, head: &HeadBranch) -> StoreResult<Option<Timestamp>> {
    let at: Option<i64> = tx.query_opt(
        "SELECT first_commit_at FROM branch_pushes WHERE repository = ?1 AND branch = ?2",
        &args![head.repository, head.branch],
        |r| r.get(0),
    )?;
    Ok(at.map(Timestamp::from_millis))
}

/// A push of `commits` to `branch`: the branch's earliest commit so far,
/// and the first commit of the pull requests from it.
fn first_commits(tx: Conn, repository: &str, branch: &str, commits: &[Commit], now: Timestamp) -> StoreResult<()> {
    let Some(earliest) = commits.iter().map(|c| c.committed_at).min() else { return Ok(()) };
    tx.execute(
        "INSERT INTO branch_pushes (repository, branch, first_commit_at, pushed_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (repository, branch) DO UPDATE SET \
         first_commit_at = CASE WHEN excluded.first_commit_at < branch_pushes.first_commit_at \
         THEN excluded.first_commit_at ELSE branch_pushes.first_commit_at END, pushed_at = excluded.pushed_at",
        &args![repository, branch, earliest.millis(), now.millis()],
    )?;
    for p in pull_requests::from_branch(tx, repository, branch)? {
        pull_requests::save(tx, &commits_pushed(p, earliest), now)?;
    }
    Ok(())
}

fn forget_branch(tx: Conn, repository: &str, branch: &str) -> StoreResult<()> {
    tx.execute("DELETE FROM branch_pushes WHERE repository = ?1 AND branch = ?2", &args![repository, branch])?;
    Ok(())
}

/// Records the delivery id; false when it was seen within the last 7 days.
fn first_sight(tx: Conn, source: &str, delivery_id: &str, now: Timestamp) -> StoreResult<bool> {
    // Ids are short in practice; a long one is kept as its hash.
    let delivery_id = if delivery_id.len() <= 200 {
        delivery_id.to_string()
    } else {
        Sha256::digest(delivery_id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    };
    let expired = now.millis() - DELIVERY_LIFETIME_MS;
    // Old ids go a few at a time, so the table stays small without a sweeper.
    tx.execute(
        "DELETE FROM webhook_deliveries WHERE (source, delivery_id) IN \
         (SELECT source, delivery_id FROM webhook_deliveries WHERE received_at < ?1 LIMIT 100)",
        &args![expired],
    )?;
    let seen: Option<i64> = tx.query_opt(
        "SELECT received_at FROM webhook_deliveries WHERE source = ?1 AND delivery_id = ?2",
        &args![source, delivery_id],
        |r| r.get(0),
    )?;
    if seen.is_some_and(|at| at >= expired) {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO webhook_deliveries (source, delivery_id, received_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (source, delivery_id) DO UPDATE SET received_at = excluded.received_at",
        &args![source, delivery_id, now.millis()],
    )?;
    Ok(true)
}

/// Runs `f` in its own savepoint: a rejection rolls back only what `f`
/// wrote and comes back as the reason the action was ignored.
fn attempt<T>(tx: Conn, f: impl FnOnce() -> StoreResult<T>) -> StoreResult<Result<T, Rejection>> {
    tx.batch("SAVEPOINT webhook_action")?;
    match f() {
        Ok(value) => {
            tx.batch("RELEASE webhook_action")?;
            Ok(Ok(value))
        }
        Err(StoreError::Rejected(why)) => {
            tx.batch("ROLLBACK TO webhook_action; RELEASE webhook_action")?;
            Ok(Err(why))
        }
        // Anything else fails the whole delivery, so the sender retries it.
        Err(e) => Err(e),
    }
}

/// A push to a branch is kept as one row, numbered after the repository's
/// previous push; returns how many commits it listed.
fn remember(tx: Conn, repository: &str, commits: &[Commit], now: Timestamp) -> StoreResult<usize> {
    if commits.is_empty() {
        return Ok(0);
    }
    let push: i64 = tx.query_row(
        "SELECT coalesce(max(push_seq), 0) + 1 FROM pushes WHERE repository = ?1",
        &args![repository],
        |r| r.get(0),
    )?;
    let list: Vec<(&str, i64)> = commits.iter().map(|c| (c.sha.as_str(), c.committed_at.millis())).collect();
    let json = serde_json::to_string(&list).map_err(|e| StoreError::Internal(e.to_string()))?;
    tx.execute(
        "INSERT INTO pushes (repository, push_seq, commits, received_at) VALUES (?1, ?2, ?3, ?4)",
        &args![repository, push, json, now.millis()],
    )?;
    Ok(commits.len())
}

fn deployment(tx: &Tx, step: DeploymentStep, ctx: &Context) -> StoreResult<Transition<Deployment>> {
    let id = step_id(step.new.id.as_ref())?.clone();
    let existing = rows::deployment(tx.conn, &id)?;
    match plan_deployment(&step, existing.as_ref(), ctx) {
        DeploymentPlan::Keep(d) => Ok(Transition::keep(d)),
        DeploymentPlan::Start(new) => tx.start_deployment(new, ctx),
        DeploymentPlan::Fail(at) => tx.mark_failed(&id, Some(at), ctx),
        DeploymentPlan::StartThenFail(new, at) => {
            let mut events = tx.start_deployment(new, ctx)?.events;
            let mut t = tx.mark_failed(&id, Some(at), ctx)?;
            events.append(&mut t.events);
            t.events = events;
            t.write = Write::Insert;
            Ok(t)
        }
        DeploymentPlan::Deploy(search) => {
            let DeploymentChange::Deployed(at) = step.change else {
                return Err(StoreError::Internal("a deploy plan for a step that did not deploy".into()));
            };
            let (learned, through) = match &search {
                Some(search) => {
                    let history = push_history(tx.conn, search)?;
                    let through = history.carried_by.unwrap_or(history.shipped_through);
                    match learn(&search.sha, history) {
                        Some(learned) => (Some(learned), Some(through)),
                        None => (None, None),
                    }
                }
                None => (None, None),
            };
            let repository = step.repository.clone();
            let cmd = deployed(step, at, existing.is_some(), learned);
            let t = tx.mark_deployed(&id, cmd, ctx)?;
            if let (Some(search), Some(through)) = (&search, through.filter(|_| went_live(&t))) {
                tx.conn.execute(
                    "INSERT INTO shipped_pushes (repository, project_id, environment, through_push) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (repository, project_id, environment) \
                     DO UPDATE SET through_push = CASE WHEN excluded.through_push > shipped_pushes.through_push \
                     THEN excluded.through_push ELSE shipped_pushes.through_push END",
                    &args![repository, search.project_id, search.environment, through],
                )?;
            }
            Ok(t)
        }
    }
}

/// Most pushes searched for the one that carried a deployed sha: a sha
/// pushed longer ago than this counts as never seen.
const MAX_PUSHES_SEARCHED: i64 = 10_000;

/// What the repository's pushes say about `search.sha` in its project and
/// environment: the pushes since the last one shipped there, up to the
/// first that lists the sha, and which of their commits shipped there.
fn push_history(tx: Conn, search: &PushSearch) -> StoreResult<PushHistory> {
    let PushSearch { repository, sha, project_id, environment } = search;
    let shipped_through: i64 = tx.query_row(
        "SELECT coalesce(max(through_push), 0) FROM shipped_pushes \
         WHERE repository = ?1 AND project_id = ?2 AND environment = ?3",
        &args![repository, project_id, environment],
        |r| r.get(0),
    )?;
    // The first push after the last one shipped here that lists the sha, found
    // in the stored JSON text (the quotes make it match whole shas only).
    let needle = serde_json::to_string(sha.as_str()).map_err(|e| StoreError::Internal(e.to_string()))?;
    let sql = match tx.is_postgres() {
        true => {
            "SELECT push_seq FROM pushes WHERE repository = ?1 AND push_seq > ?2 \
                 AND push_seq > (SELECT coalesce(max(push_seq), 0) FROM pushes WHERE repository = ?1) - ?4 \
                 AND strpos(commits, ?3) > 0 ORDER BY push_seq LIMIT 1"
        }
        false => {
            "SELECT push_seq FROM pushes WHERE repository = ?1 AND push_seq > ?2 \
                  AND push_seq > (SELECT coalesce(max(push_seq), 0) FROM pushes WHERE repository = ?1) - ?4 \
                  AND instr(commits, ?3) > 0 ORDER BY push_seq LIMIT 1"
        }
    };
    let carried_by: Option<i64> =
        tx.query_opt(sql, &args![repository, shipped_through, needle, MAX_PUSHES_SEARCHED], |r| r.get(0))?;
    let shipped_at = "SELECT committed_at FROM changes WHERE project_id = ?1 AND environment = ?2 AND sha = ?3 LIMIT 1";
    let mut history = PushHistory { shipped_through, carried_by, ..PushHistory::default() };
    let Some(through) = carried_by else {
        history.sha_shipped_at = tx
            .query_opt(shipped_at, &args![project_id, environment, sha.as_str()], |r| r.get(0))?
            .map(Timestamp::from_millis);
        return Ok(history);
    };
    // The pushes after the last one shipped here, up to the one that carried
    // the sha, newest first, until MAX_COMMITS.
    tx.each_until(
        "SELECT commits FROM pushes WHERE repository = ?1 AND push_seq > ?2 AND push_seq <= ?3 \
         ORDER BY push_seq DESC",
        &args![repository, shipped_through, through],
        &mut |r| {
            let push: Vec<(String, i64)> = serde_json::from_str(&r.get::<String>(0)?)
                .map_err(|e| StoreError::Internal(format!("stored push: {e}")))?;
            for (listed, at) in push {
                let listed = Id::parse(listed).map_err(|why| StoreError::Internal(format!("pushed sha {why}")))?;
                history.listed.push((listed, Timestamp::from_millis(at)));
            }
            if history.listed.len() >= MAX_COMMITS - 1 {
                history.listed.truncate(MAX_COMMITS - 1);
                return Ok(false);
            }
            Ok(true)
        },
    )?;
    for (listed, _) in &history.listed {
        if tx.query_opt(shipped_at, &args![project_id, environment, listed.as_str()], |_| Ok(()))?.is_some() {
            history.shipped.insert(listed.clone());
        }
    }
    Ok(history)
}

fn incident(tx: &Tx, step: IncidentStep, ctx: &Context) -> StoreResult<(Transition<Incident>, Outcome)> {
    let id = step_id(step.id())?.clone();
    let existing = rows::incident(tx.conn, &id)?;
    let t = match plan_incident(&step, existing.as_ref())? {
        IncidentPlan::Keep(i) => Transition::keep(i),
        IncidentPlan::Open(new) => tx.open_incident(new, ctx)?,
        IncidentPlan::Restore(at) => tx.restore_incident(&id, Some(at), ctx)?,
        IncidentPlan::Finish(at) => tx.finish_incident(&id, Some(at), ctx)?,
        IncidentPlan::Delete => {
            let t = tx.delete_incident(&id, ctx)?;
            let outcome = Outcome::IncidentDeleted(t.value.clone());
            return Ok((t, outcome));
        }
    };
    let outcome = Outcome::Incident { created: t.write == Write::Insert, incident: t.value.clone() };
    Ok((t, outcome))
}
