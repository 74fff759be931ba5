//! Reads the samples of a DORA window. Each query is a range scan over a
//! covering index (migration 2), so a year of a million deployments is read
//! without touching the tables.

use rusqlite::{params_from_iter, Connection, ToSql};

use super::deployments::any_of;
use super::{Store, StoreResult};
use crate::time::Timestamp;

/// Which events a window covers besides time.
#[derive(Debug, Clone, Default)]
pub struct WindowFilter {
    pub project_ids: Vec<String>,
    pub team_ids: Vec<String>,
    pub environments: Vec<String>,
}

/// The column a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    TeamId,
    ProjectId,
    Environment,
}

impl GroupBy {
    fn column(self) -> &'static str {
        match self {
            Self::TeamId => "team_id",
            Self::ProjectId => "project_id",
            Self::Environment => "environment",
        }
    }
}

/// A deployment deployed inside the window. Times in milliseconds.
#[derive(Debug, Clone)]
pub struct DeployedSample {
    pub deployed_at: i64,
    pub first_commit_at: i64,
    pub deploy_start_at: i64,
    /// At least one incident points to it.
    pub caused_incident: bool,
    pub group: Option<String>,
}

/// A failed deployment that started inside the window.
#[derive(Debug, Clone)]
pub struct FailedSample {
    pub deploy_start_at: i64,
    pub group: Option<String>,
}

/// An incident that started inside the window.
#[derive(Debug, Clone)]
pub struct IncidentSample {
    pub started_at: i64,
    pub restored_at: Option<i64>,
    /// deployed_at of the linked deployment, when it is deployed.
    pub deployment_deployed_at: Option<i64>,
    pub group: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct WindowData {
    pub deployed: Vec<DeployedSample>,
    pub failed: Vec<FailedSample>,
    pub incidents: Vec<IncidentSample>,
}

impl Store {
    /// Everything the DORA report of `[from, to)` needs, in one read transaction
    /// so the three parts agree with each other.
    pub async fn window(
        &self,
        from: Timestamp,
        to: Timestamp,
        filter: WindowFilter,
        group: Option<GroupBy>,
    ) -> StoreResult<WindowData> {
        self.read(move |conn| {
            let tx = conn.unchecked_transaction()?;
            let data = WindowData {
                deployed: deployed(&tx, from, to, &filter, group)?,
                failed: failed(&tx, from, to, &filter, group)?,
                incidents: incidents(&tx, from, to, &filter, group)?,
            };
            tx.finish()?;
            Ok(data)
        })
        .await
    }
}

/// One window query: `SELECT <select>, <group> FROM <source> WHERE <time>
/// in [from, to) <extra> <filters>`.
struct Scan {
    select: &'static str,
    source: &'static str,
    time_column: &'static str,
    extra: &'static str,
    /// Table alias prefix of the filtered columns (`i.` for incidents).
    prefix: &'static str,
}

impl Scan {
    fn sql(
        &self,
        from: Timestamp,
        to: Timestamp,
        filter: &WindowFilter,
        group: Option<GroupBy>,
    ) -> (String, Vec<Box<dyn ToSql>>) {
        let p = self.prefix;
        let group_column = group.map_or_else(|| "NULL".to_string(), |g| format!("{p}{}", g.column()));
        let mut sql = format!(
            "SELECT {}, {group_column} FROM {} WHERE {p}{t} >= ? AND {p}{t} < ?{}",
            self.select,
            self.source,
            self.extra,
            t = self.time_column
        );
        let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(from.millis()), Box::new(to.millis())];
        any_of(&mut sql, &mut args, &format!("{p}project_id"), &filter.project_ids);
        any_of(&mut sql, &mut args, &format!("{p}team_id"), &filter.team_ids);
        any_of(&mut sql, &mut args, &format!("{p}environment"), &filter.environments);
        (sql, args)
    }
}

fn deployed(
    conn: &Connection,
    from: Timestamp,
    to: Timestamp,
    filter: &WindowFilter,
    group: Option<GroupBy>,
) -> StoreResult<Vec<DeployedSample>> {
    let (sql, args) = Scan {
        select: "deployed_at, first_commit_at, deploy_start_at, incident_count > 0",
        source: "deployments INDEXED BY deployments_deployed_window",
        time_column: "deployed_at",
        extra: "",
        prefix: "",
    }
    .sql(from, to, filter, group);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter().map(|a| a.as_ref())), |r| {
        Ok(DeployedSample {
            deployed_at: r.get(0)?,
            first_commit_at: r.get(1)?,
            deploy_start_at: r.get(2)?,
            caused_incident: r.get(3)?,
            group: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn failed(
    conn: &Connection,
    from: Timestamp,
    to: Timestamp,
    filter: &WindowFilter,
    group: Option<GroupBy>,
) -> StoreResult<Vec<FailedSample>> {
    let (sql, args) = Scan {
        select: "deploy_start_at",
        source: "deployments INDEXED BY deployments_failed_window",
        time_column: "deploy_start_at",
        extra: " AND status = 'failed'",
        prefix: "",
    }
    .sql(from, to, filter, group);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter().map(|a| a.as_ref())), |r| {
        Ok(FailedSample { deploy_start_at: r.get(0)?, group: r.get(1)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn incidents(
    conn: &Connection,
    from: Timestamp,
    to: Timestamp,
    filter: &WindowFilter,
    group: Option<GroupBy>,
) -> StoreResult<Vec<IncidentSample>> {
    let (sql, args) = Scan {
        select: "i.started_at, i.restored_at, d.deployed_at",
        source: "incidents i LEFT JOIN deployments d ON d.id = i.deployment_id",
        time_column: "started_at",
        extra: "",
        prefix: "i.",
    }
    .sql(from, to, filter, group);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter().map(|a| a.as_ref())), |r| {
        Ok(IncidentSample {
            started_at: r.get(0)?,
            restored_at: r.get(1)?,
            deployment_deployed_at: r.get(2)?,
            group: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
