//! Webhook deliveries in one transaction: the delivery id is remembered
//! (a redelivery changes nothing), pushes become known commits, and each
//! action runs the same store steps as the JSON API, in its own savepoint,
//! so one refused action (an alert resolved before it started) leaves the
//! others and the delivery record in place.

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::{deployments, incidents, StoreError, StoreResult};
use crate::domain::deployment::{Learned, MarkDeployed};
use crate::domain::{Commit, Context, Deployment, Id, Incident, Rejection, Transition, Write, MAX_COMMITS};
use crate::time::Timestamp;
use crate::webhooks::{Action, DeploymentChange, DeploymentStep, IncidentChange, IncidentStep, DELIVERY_LIFETIME_MS};

/// What became of one action.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ignored(String),
    Ping,
    /// A push kept: its repository and how many commits it listed.
    KnownCommits {
        repository: String,
        commits: usize,
    },
    Deployment {
        created: bool,
        deployment: Deployment,
    },
    Incident {
        created: bool,
        incident: Incident,
    },
    IncidentDeleted(Incident),
}

/// What became of a delivery.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Its delivery id was seen in the last 7 days: nothing ran.
    Duplicate,
    Ran(Vec<Outcome>),
}

/// Runs a delivery's actions; `delivery_id` (from the source's header)
/// makes a redelivery a no-op.
pub fn run(
    tx: &Connection,
    source: &str,
    delivery_id: Option<&str>,
    actions: Vec<Action>,
    ctx: &Context,
) -> StoreResult<Transition<Delivery>> {
    let mut events = Vec::new();
    if let Some(delivery_id) = delivery_id {
        if !first_sight(tx, source, delivery_id, ctx.now)? {
            return Ok(Transition { write: Write::Keep, value: Delivery::Duplicate, events, effects: Vec::new() });
        }
    }
    let mut outcomes = Vec::with_capacity(actions.len());
    for action in actions {
        let outcome = match action {
            Action::Ignore(why) => Outcome::Ignored(why),
            Action::Ping => Outcome::Ping,
            Action::RememberCommits { repository, commits } => {
                let listed = remember(tx, &repository, &commits, ctx.now)?;
                Outcome::KnownCommits { repository, commits: listed }
            }
            Action::Deployment(step) => match attempt(tx, || deployment(tx, step, ctx))? {
                Ok(t) => {
                    events.extend(t.events);
                    Outcome::Deployment { created: t.write == Write::Insert, deployment: t.value }
                }
                Err(why) => Outcome::Ignored(why.to_string()),
            },
            Action::Incident(step) => match attempt(tx, || incident(tx, step, ctx))? {
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

/// Records the delivery id; false when it was seen within the last 7 days.
fn first_sight(tx: &Connection, source: &str, delivery_id: &str, now: Timestamp) -> StoreResult<bool> {
    // Ids are short in practice; a long one is kept as its hash.
    let delivery_id = if delivery_id.len() <= 200 {
        delivery_id.to_string()
    } else {
        Sha256::digest(delivery_id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
    };
    let expired = now.millis() - DELIVERY_LIFETIME_MS;
    // Old ids go a few at a time, so the table stays small without a sweeper.
    tx.prepare_cached(
        "DELETE FROM webhook_deliveries WHERE (source, delivery_id) IN \
         (SELECT source, delivery_id FROM webhook_deliveries WHERE received_at < ?1 LIMIT 100)",
    )?
    .execute([expired])?;
    let seen: Option<i64> = tx
        .prepare_cached("SELECT received_at FROM webhook_deliveries WHERE source = ?1 AND delivery_id = ?2")?
        .query_row(params![source, delivery_id], |r| r.get(0))
        .optional()?;
    if seen.is_some_and(|at| at >= expired) {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries (source, delivery_id, received_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (source, delivery_id) DO UPDATE SET received_at = excluded.received_at",
    )?
    .execute(params![source, delivery_id, now.millis()])?;
    Ok(true)
}

/// Runs `f` in its own savepoint: a rejection rolls back only what `f`
/// wrote and comes back as the reason the action was ignored.
fn attempt<T>(tx: &Connection, f: impl FnOnce() -> StoreResult<T>) -> StoreResult<Result<T, Rejection>> {
    tx.execute_batch("SAVEPOINT webhook_action")?;
    match f() {
        Ok(value) => {
            tx.execute_batch("RELEASE webhook_action")?;
            Ok(Ok(value))
        }
        Err(StoreError::Rejected(why)) => {
            tx.execute_batch("ROLLBACK TO webhook_action; RELEASE webhook_action")?;
            Ok(Err(why))
        }
        // Anything else fails the whole delivery, so the sender retries it.
        Err(e) => Err(e),
    }
}

/// A push to a branch is kept as one row, numbered after the repository's
/// previous push; returns how many commits it listed.
fn remember(tx: &Connection, repository: &str, commits: &[Commit], now: Timestamp) -> StoreResult<usize> {
    if commits.is_empty() {
        return Ok(0);
    }
    let push: i64 = tx
        .prepare_cached("SELECT coalesce(max(push_seq), 0) + 1 FROM pushes WHERE repository = ?1")?
        .query_row([repository], |r| r.get(0))?;
    let list: Vec<(&str, i64)> = commits.iter().map(|c| (c.sha.as_str(), c.committed_at.millis())).collect();
    let json = serde_json::to_string(&list).map_err(|e| StoreError::Internal(e.to_string()))?;
    tx.prepare_cached("INSERT INTO pushes (repository, push_seq, commits, received_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![repository, push, json, now.millis()])?;
    Ok(commits.len())
}

fn required_id(id: Option<&Id>) -> StoreResult<Id> {
    id.cloned().ok_or_else(|| StoreError::Internal("a webhook step without an id".into()))
}

fn deployment(tx: &Connection, step: DeploymentStep, ctx: &Context) -> StoreResult<Transition<Deployment>> {
    let DeploymentStep { new, repository, change } = step;
    let id = required_id(new.id.as_ref())?;
    let existing = deployments::find(tx, &id)?;
    match change {
        DeploymentChange::Start => match existing {
            // A later "in progress" (or one after the deployment finished) changes nothing.
            Some(d) => Ok(Transition::keep(d)),
            None => deployments::start(tx, new, ctx),
        },
        DeploymentChange::Failed(at) => {
            let mut events = Vec::new();
            if existing.is_none() {
                events = deployments::start(tx, new, ctx)?.events;
            }
            let mut t = deployments::mark_failed(tx, &id, Some(at), ctx)?;
            events.append(&mut t.events);
            t.events = events;
            if existing.is_none() {
                t.write = Write::Insert;
            }
            Ok(t)
        }
        DeploymentChange::Deployed(at) => {
            // Stored fields win: the team config may have changed since it started.
            let (project, environment) = match &existing {
                Some(d) => (d.project_id.clone(), d.environment.clone()),
                None => (
                    new.project_id.as_ref().map(Id::to_string).unwrap_or_default(),
                    new.environment.as_ref().map_or_else(|| ctx.default_environment.clone(), Id::to_string),
                ),
            };
            let sha =
                existing.as_ref().and_then(|d| d.commit_sha.clone()).or(new.commit_sha.as_ref().map(Id::to_string));
            let learned = match &sha {
                Some(sha) => learn(tx, &repository, sha, &project, &environment)?,
                None => None,
            };
            let through = learned.as_ref().map(|(_, through)| *through);
            let cmd = match existing {
                Some(_) => {
                    MarkDeployed { deployed_at: Some(at), learned: learned.map(|(l, _)| l), ..MarkDeployed::default() }
                }
                None => MarkDeployed {
                    deployed_at: Some(at),
                    create_if_not_exists: true,
                    project_id: new.project_id,
                    first_commit_at: new.first_commit_at.map(|t| t.min(at)),
                    deploy_start_at: new.deploy_start_at.map(|t| t.min(at)),
                    username: new.username,
                    environment: new.environment,
                    commit_sha: new.commit_sha,
                    learned: learned.map(|(l, _)| l),
                    ..MarkDeployed::default()
                },
            };
            let t = deployments::mark_deployed(tx, &id, cmd, ctx)?;
            if let Some(through) = through.filter(|_| crate::domain::deployment::went_live(&t)) {
                tx.prepare_cached(
                    "INSERT INTO shipped_pushes (repository, project_id, environment, through_push) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (repository, project_id, environment) \
                     DO UPDATE SET through_push = max(through_push, excluded.through_push)",
                )?
                .execute(params![repository, project, environment, through])?;
            }
            Ok(t)
        }
    }
}

/// Most pushes searched for the one that carried a deployed sha: a sha
/// pushed longer ago than this counts as never seen.
const MAX_PUSHES_SEARCHED: i64 = 10_000;

/// What the pushes say a deployment of `sha` ships to `project` and
/// `environment`, and the push that carried `sha`; None when no push did
/// (then no commits are known).
fn learn(
    tx: &Connection,
    repository: &str,
    sha: &str,
    project: &str,
    environment: &str,
) -> StoreResult<Option<(Learned, i64)>> {
    let shipped_through: i64 = tx
        .prepare_cached(
            "SELECT coalesce(max(through_push), 0) FROM shipped_pushes \
             WHERE repository = ?1 AND project_id = ?2 AND environment = ?3",
        )?
        .query_row(params![repository, project, environment], |r| r.get(0))?;
    // The first push after the last one shipped here that lists the sha, found
    // in the stored JSON text (the quotes make it match whole shas only).
    let needle = serde_json::to_string(sha).map_err(|e| StoreError::Internal(e.to_string()))?;
    let carried: Option<i64> = tx
        .prepare_cached(
            "SELECT push_seq FROM pushes WHERE repository = ?1 AND push_seq > ?2 \
             AND push_seq > (SELECT coalesce(max(push_seq), 0) FROM pushes WHERE repository = ?1) - ?4 \
             AND instr(commits, ?3) > 0 ORDER BY push_seq LIMIT 1",
        )?
        .query_row(params![repository, shipped_through, needle, MAX_PUSHES_SEARCHED], |r| r.get(0))
        .optional()?;
    let mut shipped = tx.prepare_cached(
        "SELECT committed_at FROM changes WHERE project_id = ?1 AND environment = ?2 AND sha = ?3 LIMIT 1",
    )?;
    let sha = Id::parse(sha).map_err(|why| StoreError::Internal(format!("deployed sha {why}")))?;
    let Some(through) = carried else {
        // Every commit of the pushes up to shipped_through was shipped here:
        // a sha shipped before is a redeploy (or a rollback), and ships
        // nothing new; any other sha was never seen in a push.
        let before: Option<i64> =
            shipped.query_row(params![project, environment, sha.as_str()], |r| r.get(0)).optional()?;
        return Ok(before.map(|at| {
            let commits = vec![Commit { sha, committed_at: Timestamp::from_millis(at) }];
            (Learned { commits, first_commit_at: None }, shipped_through)
        }));
    };
    // The pushes after the last one shipped here, up to the one that carried
    // the sha, newest first, until MAX_COMMITS.
    let mut rows = tx.prepare_cached(
        "SELECT commits FROM pushes WHERE repository = ?1 AND push_seq > ?2 AND push_seq <= ?3 \
         ORDER BY push_seq DESC",
    )?;
    let mut listed: Vec<(String, i64)> = Vec::new();
    for json in rows.query_map(params![repository, shipped_through, through], |r| r.get::<_, String>(0))? {
        let push: Vec<(String, i64)> =
            serde_json::from_str(&json?).map_err(|e| StoreError::Internal(format!("stored push: {e}")))?;
        listed.extend(push);
        if listed.len() >= MAX_COMMITS - 1 {
            listed.truncate(MAX_COMMITS - 1);
            break;
        }
    }
    let mut commits = Vec::with_capacity(listed.len() + 1);
    let mut deployed_at_commit = None;
    for (listed_sha, at) in listed {
        let at = Timestamp::from_millis(at);
        if listed_sha == sha.as_str() {
            deployed_at_commit = Some(deployed_at_commit.map_or(at, |t: Timestamp| t.min(at)));
        }
        if shipped.exists(params![project, environment, listed_sha])? {
            continue;
        }
        let listed_sha = Id::parse(listed_sha).map_err(|why| StoreError::Internal(format!("pushed sha {why}")))?;
        commits.push(Commit { sha: listed_sha, committed_at: at });
    }
    let first_commit_at = commits.iter().map(|c| c.committed_at).min();
    // The deployed sha itself is always listed: a redeploy then ships nothing new.
    if let Some(at) = deployed_at_commit {
        commits.push(Commit { sha, committed_at: at });
    }
    Ok(Some((Learned { commits, first_commit_at }, through)))
}

fn incident(tx: &Connection, step: IncidentStep, ctx: &Context) -> StoreResult<(Transition<Incident>, Outcome)> {
    let id = required_id(step.id())?;
    let existing = incidents::find(tx, &id)?;
    let t = match (step.change, existing) {
        (IncidentChange::Delete, None) => {
            return Err(Rejection::NotFound(format!(
                "incident `{id}` was never recorded, so there is nothing to delete"
            ))
            .into())
        }
        (IncidentChange::Delete, Some(_)) => {
            let t = incidents::remove(tx, &id, ctx)?;
            let outcome = Outcome::IncidentDeleted(t.value.clone());
            return Ok((t, outcome));
        }
        // A repeated "firing" or "triggered" changes nothing.
        (IncidentChange::Open, Some(i)) => Transition::keep(i),
        (_, None) => incidents::open(tx, step.new, ctx)?,
        (IncidentChange::Restore(at), Some(i)) if i.restored_at.is_none() => {
            incidents::restore(tx, &id, Some(at), ctx)?
        }
        (IncidentChange::Restore(_), Some(i)) => Transition::keep(i),
        (IncidentChange::Finish(_), Some(i)) if i.finished_at.is_some() => Transition::keep(i),
        (IncidentChange::Finish(at), Some(_)) => incidents::finish(tx, &id, Some(at), ctx)?,
    };
    let outcome = Outcome::Incident { created: t.write == Write::Insert, incident: t.value.clone() };
    Ok((t, outcome))
}
