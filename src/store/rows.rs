//! Reading deployments and incidents back from their rows: the one place
//! that knows their columns, shared by the commands and the lists.

use super::sql::{args, Conn, Row};
use super::StoreResult;
use crate::domain::{Deployment, DeploymentKind, DeploymentLink, DeploymentStatus, FailureMarks, Incident};
use crate::time::Timestamp;

/// The columns `from_row` reads, in its order; a macro so that fixed
/// queries can be put together with `concat!` once, at compile time.
macro_rules! deployment_columns {
    () => {
        "id, project_id, team_id, environment, username, status, \
         first_commit_at, deploy_start_at, deployed_at, failed_at, \
         commit_sha, kind, restores_incident, change_count, rework, rollback_of, \
         change_failure, rolled_back, change_failure_counted, created_by"
    };
}
pub(super) use deployment_columns;
pub(super) const DEPLOYMENT_COLUMNS: &str = deployment_columns!();

/// The incident columns `incident_from_row` reads, with the linked deployment's `deployed_at`.
macro_rules! incident_select {
    () => {
        "SELECT i.id, i.project_id, i.team_id, i.environment, i.deployment_id, i.title, \
                      i.started_at, i.restored_at, i.finished_at, d.deployed_at, i.deployment_link, i.created_by \
                      FROM incidents i LEFT JOIN deployments d ON d.id = i.deployment_id"
    };
}
pub(super) const INCIDENT_SELECT: &str = incident_select!();

/// The deployment `id`, if stored.
pub(super) fn deployment(conn: Conn, id: &str) -> StoreResult<Option<Deployment>> {
    let sql = concat!("SELECT ", deployment_columns!(), " FROM deployments WHERE id = ?1");
    conn.query_opt(sql, &args![id], deployment_from_row)
}

/// The incident `id`, if stored.
pub(super) fn incident(conn: Conn, id: &str) -> StoreResult<Option<Incident>> {
    conn.query_opt(concat!(incident_select!(), " WHERE i.id = ?1"), &args![id], incident_from_row)
}

pub(super) fn deployment_from_row(row: &Row) -> StoreResult<Deployment> {
    let status: String = row.get(5)?;
    let kind: String = row.get(11)?;
    Ok(Deployment {
        id: row.get(0)?,
        project_id: row.get(1)?,
        team_id: row.get(2)?,
        environment: row.get(3)?,
        username: row.get(4)?,
        // The CHECK constraints keep other values out of the table.
        status: DeploymentStatus::parse(&status).unwrap_or(DeploymentStatus::Started),
        first_commit_at: Timestamp::from_millis(row.get(6)?),
        deploy_start_at: Timestamp::from_millis(row.get(7)?),
        deployed_at: row.get::<Option<i64>>(8)?.map(Timestamp::from_millis),
        failed_at: row.get::<Option<i64>>(9)?.map(Timestamp::from_millis),
        commit_sha: row.get(10)?,
        kind: DeploymentKind::parse(&kind).unwrap_or_default(),
        restores_incident: row.get(12)?,
        change_count: row.get(13)?,
        rework: row.get(14)?,
        rollback_of: row.get(15)?,
        marks: FailureMarks { change_failure: row.get(16)?, rolled_back: row.get(17)?, counted: row.get(18)? },
        created_by: row.get(19)?,
    })
}

pub(super) fn incident_from_row(row: &Row) -> StoreResult<Incident> {
    Ok(Incident {
        id: row.get(0)?,
        project_id: row.get(1)?,
        team_id: row.get(2)?,
        environment: row.get(3)?,
        deployment_id: row.get(4)?,
        title: row.get(5)?,
        started_at: Timestamp::from_millis(row.get(6)?),
        restored_at: row.get::<Option<i64>>(7)?.map(Timestamp::from_millis),
        finished_at: row.get::<Option<i64>>(8)?.map(Timestamp::from_millis),
        deployment_deployed_at: row.get::<Option<i64>>(9)?.map(Timestamp::from_millis),
        deployment_link: row.get::<Option<String>>(10)?.as_deref().and_then(DeploymentLink::parse),
        created_by: row.get(11)?,
    })
}
