//! Deployment queries and the transactions that apply deployment state changes.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::query::{Page, Select, TimeRange};
use super::{Store, StoreResult};
use crate::domain::deployment::{self, MarkDeployed, NewDeployment};
use crate::domain::{Context, Deployment, DeploymentStatus, Id, Rejection, Transition, Write};
use crate::time::Timestamp;

const COLUMNS: &str = "id, project_id, team_id, environment, username, status, \
                       first_commit_at, deploy_start_at, deployed_at, failed_at";

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

/// Each state change as one step inside a caller's transaction: load, let
/// the domain decide, write. Handlers run one per transaction through
/// [`Store::apply`]; the demo generator runs many in one.
pub fn start(tx: &Connection, cmd: NewDeployment, ctx: &Context) -> StoreResult<Transition<Deployment>> {
    let existing = match &cmd.id {
        Some(id) => find(tx, id)?,
        None => None,
    };
    let t = deployment::start(existing, cmd, ctx)?;
    save(tx, &t, ctx.now)?;
    Ok(t)
}

pub fn mark_deployed(
    tx: &Connection,
    id: &Id,
    cmd: MarkDeployed,
    ctx: &Context,
) -> StoreResult<Transition<Deployment>> {
    let t = deployment::mark_deployed(id, find(tx, id)?, cmd, ctx)?;
    save(tx, &t, ctx.now)?;
    Ok(t)
}

pub fn mark_failed(
    tx: &Connection,
    id: &Id,
    date: Option<Timestamp>,
    ctx: &Context,
) -> StoreResult<Transition<Deployment>> {
    let t = deployment::mark_failed(id, find(tx, id)?, date, ctx)?;
    save(tx, &t, ctx.now)?;
    Ok(t)
}

impl Store {
    pub async fn deployment(&self, id: String) -> StoreResult<Option<Deployment>> {
        self.read(move |conn| find(conn, &id)).await
    }

    pub async fn deployments(&self, filter: DeploymentFilter) -> StoreResult<Vec<Deployment>> {
        self.read(move |conn| list(conn, &filter)).await
    }

    /// Deletes a deployment no incident points to.
    pub async fn delete_deployment(&self, id: String) -> StoreResult<()> {
        self.write(move |tx| {
            let linked: i64 =
                tx.query_row("SELECT count(*) FROM incidents WHERE deployment_id = ?1", [&id], |r| r.get(0))?;
            if linked > 0 {
                return Err(Rejection::Conflict(format!(
                    "deployment `{id}` has {linked} incident(s) pointing to it; delete them first"
                ))
                .into());
            }
            if tx.execute("DELETE FROM deployments WHERE id = ?1", [&id])? == 0 {
                return Err(Rejection::NotFound(format!("deployment `{id}` not found")).into());
            }
            Ok(())
        })
        .await
    }
}

pub(super) fn find(conn: &Connection, id: &str) -> StoreResult<Option<Deployment>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM deployments WHERE id = ?1"))?;
    Ok(stmt.query_row([id], from_row).optional()?)
}

fn save(conn: &Connection, t: &Transition<Deployment>, now: Timestamp) -> StoreResult<()> {
    let d = &t.value;
    match t.write {
        Write::Keep => {}
        Write::Insert => {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO deployments (id, project_id, team_id, environment, username, status, \
                 first_commit_at, deploy_start_at, deployed_at, failed_at, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            )?;
            stmt.execute(params![
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
                now.millis(),
            ])?;
        }
        Write::Update => {
            let mut stmt = conn.prepare_cached(
                "UPDATE deployments SET status = ?2, deployed_at = ?3, failed_at = ?4, updated_at = ?5 \
                 WHERE id = ?1",
            )?;
            stmt.execute(params![
                d.id,
                d.status.as_str(),
                d.deployed_at.map(Timestamp::millis),
                d.failed_at.map(Timestamp::millis),
                now.millis(),
            ])?;
        }
    }
    Ok(())
}

fn list(conn: &Connection, f: &DeploymentFilter) -> StoreResult<Vec<Deployment>> {
    let statuses: Vec<String> = f.statuses.iter().map(|s| s.as_str().to_string()).collect();
    Select::new(format!("SELECT {COLUMNS} FROM deployments WHERE 1 = 1"))
        .any_of("project_id", &f.project_ids)
        .any_of("team_id", &f.team_ids)
        .any_of("environment", &f.environments)
        .any_of("status", &statuses)
        .range("deploy_start_at", f.range)
        .page(&["deploy_start_at", "id"], f.page)
        .collect(conn, from_row)
}

fn from_row(row: &Row) -> rusqlite::Result<Deployment> {
    let status: String = row.get(5)?;
    Ok(Deployment {
        id: row.get(0)?,
        project_id: row.get(1)?,
        team_id: row.get(2)?,
        environment: row.get(3)?,
        username: row.get(4)?,
        // The CHECK constraint keeps other values out of the table.
        status: DeploymentStatus::parse(&status).unwrap_or(DeploymentStatus::Started),
        first_commit_at: Timestamp::from_millis(row.get(6)?),
        deploy_start_at: Timestamp::from_millis(row.get(7)?),
        deployed_at: row.get::<_, Option<i64>>(8)?.map(Timestamp::from_millis),
        failed_at: row.get::<_, Option<i64>>(9)?.map(Timestamp::from_millis),
    })
}
