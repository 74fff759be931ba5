//! Deployment queries and the transactions that apply deployment state changes.

use std::collections::HashSet;

use super::effects;
use super::query::{Page, Select, TimeRange};
use super::rows::{self, deployment_columns, deployment_from_row, DEPLOYMENT_COLUMNS};
use super::sql::{args, Conn};
use super::{Store, StoreError, StoreResult, Tx};
use crate::domain::deployment::{self, MarkDeployed, NewDeployment, ShipFacts, Stored};
use crate::domain::{Commit, Context, Deployment, DeploymentStatus, Id, Transition, Write};
use crate::time::Timestamp;

/// `GET /deployments` filters; empty lists mean "any".
#[derive(Debug, Clone, Default)]
pub struct DeploymentFilter {
    pub project_ids: Vec<String>,
    pub team_ids: Vec<String>,
    pub environments: Vec<String>,
    pub statuses: Vec<DeploymentStatus>,
    /// On deploy_start_at.
    pub range: TimeRange,
    /// Ordered by deploy_start_at, then id.
    pub page: Page,
}

/// The deployment commands: each loads what the domain needs, lets it
/// decide and writes the decision, inside the caller's transaction.
/// Handlers run one per transaction through [`Store::apply`]; the demo
/// generator runs many in one.
impl Tx<'_> {
    /// `POST /deployments`.
    pub fn start_deployment(&self, cmd: NewDeployment, ctx: &Context) -> StoreResult<Transition<Deployment>> {
        let stored = read(self.conn, cmd.id.as_ref(), cmd.commits.is_some(), cmd.restores_incident.as_ref())?;
        let mut t = deployment::start(stored, cmd, ctx)?;
        save(self.conn, &mut t, ctx)?;
        Ok(t)
    }

    /// `POST /deployments/{id}/deployed`.
    pub fn mark_deployed(&self, id: &Id, cmd: MarkDeployed, ctx: &Context) -> StoreResult<Transition<Deployment>> {
        let with_commits = cmd.commits.is_some() || cmd.learned.is_some();
        let stored = read(self.conn, Some(id), with_commits, cmd.restores_incident.as_ref())?;
        let mut t = deployment::mark_deployed(id, stored, cmd, ctx)?;
        save(self.conn, &mut t, ctx)?;
        Ok(t)
    }

    /// `POST /deployments/{id}/failed`.
    pub fn mark_failed(&self, id: &Id, date: Option<Timestamp>, ctx: &Context) -> StoreResult<Transition<Deployment>> {
        let mut t = deployment::mark_failed(id, rows::deployment(self.conn, id)?, date, ctx)?;
        save(self.conn, &mut t, ctx)?;
        Ok(t)
    }

    /// `DELETE /deployments/{id}`.
    pub fn delete_deployment(&self, id: &Id, ctx: &Context) -> StoreResult<Transition<Deployment>> {
        let linked: u64 = self.conn.query_row(
            "SELECT count(*) FROM incidents WHERE deployment_id = ?1",
            &args![id.as_str()],
            |r| r.get(0),
        )?;
        let mut t = deployment::remove(id, rows::deployment(self.conn, id)?, linked, ctx)?;
        save(self.conn, &mut t, ctx)?;
        Ok(t)
    }
}

/// What a decision about deployment `id` needs from the store.
fn read(conn: Conn, id: Option<&Id>, with_commits: bool, restores: Option<&Id>) -> StoreResult<Stored> {
    let deployment = match id {
        Some(id) => rows::deployment(conn, id)?,
        None => None,
    };
    let commits = match &deployment {
        Some(d) if with_commits => Some(commits_of(conn, &d.id)?),
        _ => None,
    };
    // Only a deployment being created checks the incident it restores.
    let restores = match restores {
        Some(incident_id) if deployment.is_none() => rows::incident(conn, incident_id)?,
        _ => None,
    };
    Ok(Stored { deployment, commits, restores })
}

impl Store {
    pub async fn deployment(&self, id: Id) -> StoreResult<Option<Deployment>> {
        self.read(move |conn| rows::deployment(conn, &id)).await
    }

    pub async fn deployments(&self, filter: DeploymentFilter) -> StoreResult<Vec<Deployment>> {
        self.read(move |conn| list(conn, &filter)).await
    }
}

/// Writes the decided deployment and what it implies; when it went live,
/// reads what the shipping rules need and applies them too.
fn save(conn: Conn, t: &mut Transition<Deployment>, ctx: &Context) -> StoreResult<()> {
    let now = ctx.now;
    write_row(conn, t.write, &t.value, now)?;
    effects::apply(conn, &std::mem::take(&mut t.effects), now)?;
    if deployment::went_live(t) {
        let facts = ship_facts(conn, &t.value, ctx)?;
        deployment::ship(t, facts, ctx);
        conn.execute(
            "UPDATE deployments SET change_count = ?2, rework = ?3, rollback_of = ?4 WHERE id = ?1",
            &args![t.value.id, t.value.change_count, t.value.rework, t.value.rollback_of],
        )?;
        effects::apply(conn, &t.effects, now)?;
    }
    Ok(())
}

fn write_row(conn: Conn, write: Write, d: &Deployment, now: Timestamp) -> StoreResult<()> {
    match write {
        Write::Keep => {}
        Write::Insert => {
            let sql = "INSERT INTO deployments (id, project_id, team_id, environment, username, status, \
                 first_commit_at, deploy_start_at, deployed_at, failed_at, commit_sha, kind, restores_incident, \
                 rework, created_at, updated_at, created_by) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16)";
            conn.execute(
                sql,
                &args![
                    d.id,
                    d.project_id,
                    d.team_id,
                    d.environment,
                    d.username,
                    d.status.as_str(),
                    d.first_commit_at.millis(),
                    d.deploy_start_at.millis(),
                    d.deployed_at.map(Timestamp::millis),
                    d.failed_at.map(Timestamp::millis),
                    d.commit_sha,
                    d.kind.as_str(),
                    d.restores_incident,
                    d.rework,
                    now.millis(),
                    d.created_by,
                ],
            )?;
        }
        Write::Update => {
            let sql = "UPDATE deployments SET status = ?2, deployed_at = ?3, failed_at = ?4, updated_at = ?5, \
                 first_commit_at = ?6 WHERE id = ?1";
            conn.execute(
                sql,
                &args![
                    d.id,
                    d.status.as_str(),
                    d.deployed_at.map(Timestamp::millis),
                    d.failed_at.map(Timestamp::millis),
                    now.millis(),
                    d.first_commit_at.millis(),
                ],
            )?;
        }
        Write::Delete => {
            conn.execute("DELETE FROM deployments WHERE id = ?1", &args![d.id])?;
            // What it shipped is shipped by nothing now (as a foreign key's
            // ON DELETE SET NULL, for both columns).
            conn.execute(
                "UPDATE pull_requests SET deployment_id = NULL, deployed_at = NULL, updated_at = ?2 \
                 WHERE deployment_id = ?1",
                &args![d.id, now.millis()],
            )?;
        }
    }
    Ok(())
}

/// What the project and environment a deployment just went live in say about it.
fn ship_facts(conn: Conn, d: &Deployment, ctx: &Context) -> StoreResult<ShipFacts> {
    let deployed_at = d.deployed_at.map_or(i64::MAX, Timestamp::millis);
    let commits = commits_of(conn, &d.id)?;
    // One probe of the changes_shipped index per commit.
    let shipped = "SELECT EXISTS (SELECT 1 FROM changes WHERE project_id = ?1 AND environment = ?2 AND sha = ?3)";
    let mut already_shipped = HashSet::new();
    for c in &commits {
        if conn.query_row(shipped, &args![d.project_id, d.environment, c.sha.as_str()], |r| r.get::<bool>(0))? {
            already_shipped.insert(c.sha.clone());
        }
    }
    let previous = conn.query_opt(
        concat!(
            "SELECT ",
            deployment_columns!(),
            " FROM deployments \
             WHERE project_id = ?1 AND environment = ?2 AND deployed_at IS NOT NULL AND deployed_at <= ?3 \
             AND id != ?4 ORDER BY deployed_at DESC, id DESC LIMIT 1"
        ),
        &args![d.project_id, d.environment, deployed_at, d.id],
        deployment_from_row,
    )?;
    let sha_ran_before_previous = match (&d.commit_sha, &previous) {
        (Some(sha), Some(p)) => conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM deployments WHERE project_id = ?1 AND environment = ?2 \
             AND commit_sha = ?3 AND deployed_at IS NOT NULL AND deployed_at < ?4 AND id != ?5)",
            &args![d.project_id, d.environment, sha, p.deployed_at.map_or(0, Timestamp::millis), d.id],
            |r| r.get(0),
        )?,
        _ => false,
    };
    let restores = match &d.restores_incident {
        Some(incident_id) => rows::incident(conn, incident_id)?,
        None => None,
    };
    let pull_requests = match deployment::ships_pull_requests(d, ctx) {
        true => super::pull_requests::merged_as(conn, &d.project_id, &deployment::shipped_shas(d, &commits))?,
        false => Vec::new(),
    };
    Ok(ShipFacts { commits, already_shipped, previous, sha_ran_before_previous, restores, pull_requests })
}

/// The commits a deployment listed, sorted by sha (see migration 3).
fn commits_of(conn: Conn, deployment_id: &str) -> StoreResult<Vec<Commit>> {
    let json: Option<String> =
        conn.query_opt("SELECT commits FROM deployments WHERE id = ?1", &args![deployment_id], |r| r.get(0))?.flatten();
    let Some(json) = json else { return Ok(Vec::new()) };
    let list: Vec<(String, i64)> =
        serde_json::from_str(&json).map_err(|e| StoreError::Internal(format!("stored commits: {e}")))?;
    list.into_iter()
        .map(|(sha, at)| {
            // Stored shas were valid ids when they came in.
            let sha = Id::parse(sha).map_err(|why| StoreError::Internal(format!("stored commit sha {why}")))?;
            Ok(Commit { sha, committed_at: Timestamp::from_millis(at) })
        })
        .collect()
}

fn list(conn: Conn, f: &DeploymentFilter) -> StoreResult<Vec<Deployment>> {
    let statuses: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_string()).collect();
    Select::new(format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE 1 = 1"))
        .any_of("project_id", &f.project_ids)
        .any_of("team_id", &f.team_ids)
        .any_of("environment", &f.environments)
        .any_of("status", &statuses)
        .range("deploy_start_at", f.range)
        .page(&["deploy_start_at", "id"], f.page)
        .collect(conn, deployment_from_row)
}
