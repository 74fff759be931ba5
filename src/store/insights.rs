//! Reads the rows of a DORA window. Each query is a range scan over a
//! covering index (migration 2), so a year of a million deployments is read
//! without touching the tables, and rows are streamed to a [`WindowSink`].

use std::collections::HashMap;

use serde::Deserialize;
use utoipa::ToSchema;

use super::query::Select;
use super::sql::{Conn, Row};
use super::{Store, StoreResult};
use crate::time::Timestamp;

/// Which events a window covers besides time.
#[derive(Debug, Clone, Default)]
pub struct WindowFilter {
    pub project_ids: Vec<String>,
    pub team_ids: Vec<String>,
    pub environments: Vec<String>,
}

/// `by=` of a breakdown: the column it groups by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    #[default]
    TeamId,
    ProjectId,
    Environment,
}

impl GroupBy {
    pub fn column(self) -> &'static str {
        match self {
            Self::TeamId => "team_id",
            Self::ProjectId => "project_id",
            Self::Environment => "environment",
        }
    }
}

/// A deployment deployed inside the window. Times in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct DeployedRow {
    pub deployed_at: i64,
    pub deploy_start_at: i64,
    /// An incident is linked to it, or it was rolled back.
    pub change_failure: bool,
    pub rework: bool,
}

/// A change shipped by a deployment deployed inside the window.
#[derive(Debug, Clone, Copy)]
pub struct ChangeRow {
    pub deployed_at: i64,
    pub lead_time_ms: i64,
}

/// A failed deployment that started inside the window.
#[derive(Debug, Clone, Copy)]
pub struct FailedRow {
    pub deploy_start_at: i64,
}

/// An incident that started inside the window.
#[derive(Debug, Clone, Copy)]
pub struct IncidentRow {
    pub started_at: i64,
    pub restored_at: Option<i64>,
    /// deployed_at of the linked deployment, when it is deployed.
    pub deployment_deployed_at: Option<i64>,
}

/// Receives a window's rows one by one, with the value of the grouping
/// column (None when not grouping, or for events without a team). Streaming
/// keeps memory to what the receiver keeps, not a copy of every row.
pub trait WindowSink: Send + 'static {
    fn deployed(&mut self, row: DeployedRow, group: Option<&str>);
    fn change(&mut self, row: ChangeRow, group: Option<&str>);
    /// Whether `change` needs the row's `deployed_at` (trend buckets do).
    fn places_changes_in_time(&self) -> bool {
        false
    }
    fn failed(&mut self, row: FailedRow, group: Option<&str>);
    fn incident(&mut self, row: IncidentRow, group: Option<&str>);
}

impl Store {
    /// Feeds every row of `[from, to)` to `sink`, in one read transaction so
    /// the three parts agree with each other, and hands the sink back.
    pub async fn scan_window<S: WindowSink>(
        &self,
        from: Timestamp,
        to: Timestamp,
        filter: WindowFilter,
        group: Option<GroupBy>,
        mut sink: S,
    ) -> StoreResult<S> {
        self.read(move |tx| {
            tx.snapshot(|| {
                let window = (from, to, &filter, group);
                DEPLOYED.for_each(tx, window, |r, group| {
                    let row = DeployedRow {
                        deployed_at: r.get(0)?,
                        deploy_start_at: r.get(1)?,
                        change_failure: r.get(2)?,
                        rework: r.get(3)?,
                    };
                    sink.deployed(row, group);
                    Ok(())
                })?;
                // A year holds millions of changes: read deployed_at only for a
                // sink that places them in time.
                let timed = sink.places_changes_in_time();
                CHANGES.for_each(tx, window, |r, group| {
                    let deployed_at = if timed { r.get(0)? } else { 0 };
                    sink.change(ChangeRow { deployed_at, lead_time_ms: r.get(1)? }, group);
                    Ok(())
                })?;
                FAILED.for_each(tx, window, |r, group| {
                    sink.failed(FailedRow { deploy_start_at: r.get(0)? }, group);
                    Ok(())
                })?;
                INCIDENTS.for_each(tx, window, |r, group| {
                    let row = IncidentRow {
                        started_at: r.get(0)?,
                        restored_at: r.get(1)?,
                        deployment_deployed_at: r.get(2)?,
                    };
                    sink.incident(row, group);
                    Ok(())
                })?;
                Ok(sink)
            })
        })
        .await
    }
}

impl Store {
    /// Every value of the grouping column with data in `[from, to)`, with
    /// its number of deployments: the first pass of a bounded breakdown,
    /// which then accumulates only the largest groups.
    pub async fn group_sizes(
        &self,
        from: Timestamp,
        to: Timestamp,
        filter: WindowFilter,
        by: GroupBy,
    ) -> StoreResult<HashMap<Option<String>, u64>> {
        self.read(move |tx| {
            tx.snapshot(|| {
                let mut sizes: HashMap<Option<String>, u64> = HashMap::new();
                for (scan, counts) in [(&DEPLOYED, true), (&FAILED, false), (&INCIDENTS, false)] {
                    let select = scan.grouped_sql(tx, from, to, &filter, by);
                    tx.for_each(select.sql(), &select.args(), |r| {
                        let n: u64 = r.get(1)?;
                        *sizes.entry(r.get(0)?).or_default() += if counts { n } else { 0 };
                        Ok(())
                    })?;
                }
                Ok(sizes)
            })
        })
        .await
    }
}

/// Deployments deployed in the window, for every deployment metric.
const DEPLOYED: Scan = Scan {
    select: "deployed_at, deploy_start_at, change_failure, rework",
    columns: 4,
    source: "deployments",
    index: Some("deployments_deployed_window"),
    time_column: "deployed_at",
    extra: "",
    prefix: "",
};

/// Changes shipped by the window's deployments, for lead time.
const CHANGES: Scan = Scan {
    select: "deployed_at, lead_time_ms",
    columns: 2,
    source: "changes",
    index: Some("changes_window"),
    time_column: "deployed_at",
    extra: "",
    prefix: "",
};

/// Deployments that started in the window and failed.
const FAILED: Scan = Scan {
    select: "deploy_start_at",
    columns: 1,
    source: "deployments",
    index: Some("deployments_failed_window"),
    time_column: "deploy_start_at",
    extra: " AND status = 'failed'",
    prefix: "",
};

/// Incidents that started in the window, with their deployment's deployed_at.
const INCIDENTS: Scan = Scan {
    select: "i.started_at, i.restored_at, d.deployed_at",
    columns: 3,
    source: "incidents i LEFT JOIN deployments d ON d.id = i.deployment_id",
    index: None,
    time_column: "started_at",
    extra: "",
    prefix: "i.",
};

/// One window query: `SELECT <select>, <group> FROM <source> WHERE <time>
/// in [from, to) <extra> <filters>`.
struct Scan {
    select: &'static str,
    /// How many columns `select` has; the group column comes after them.
    columns: usize,
    source: &'static str,
    /// The covering index SQLite is told to scan (its planner would pick a
    /// narrower one and read the table); PostgreSQL's planner picks well.
    index: Option<&'static str>,
    time_column: &'static str,
    extra: &'static str,
    /// Table alias prefix of the filtered columns (`i.` for incidents).
    prefix: &'static str,
}

impl Scan {
    fn sql(&self, conn: Conn, from: Timestamp, to: Timestamp, filter: &WindowFilter, group: Option<GroupBy>) -> Select {
        let group_column = group.map_or_else(|| "NULL".to_string(), |g| format!("{}{}", self.prefix, g.column()));
        self.over_window(conn, &format!("{}, {group_column}", self.select), from, to, filter)
    }

    /// `SELECT <group>, count(*) … GROUP BY <group>` over the same rows.
    fn grouped_sql(&self, conn: Conn, from: Timestamp, to: Timestamp, filter: &WindowFilter, by: GroupBy) -> Select {
        let group = format!("{}{}", self.prefix, by.column());
        let mut select = self.over_window(conn, &format!("{group}, count(*)"), from, to, filter);
        select.tail(&format!(" GROUP BY {group}"));
        select
    }

    /// `SELECT <columns> FROM <source>` restricted to the window and the filters.
    fn over_window(&self, conn: Conn, columns: &str, from: Timestamp, to: Timestamp, filter: &WindowFilter) -> Select {
        let p = self.prefix;
        let source = match self.index {
            Some(index) if !conn.is_postgres() => format!("{} INDEXED BY {index}", self.source),
            _ => self.source.to_string(),
        };
        let mut select = Select::new(format!(
            "SELECT {columns} FROM {source} WHERE {p}{t} >= ? AND {p}{t} < ?{}",
            self.extra,
            t = self.time_column
        ));
        select
            .bind(from.millis())
            .bind(to.millis())
            .any_of(&format!("{p}project_id"), &filter.project_ids)
            .any_of(&format!("{p}team_id"), &filter.team_ids)
            .any_of(&format!("{p}environment"), &filter.environments);
        select
    }

    /// Runs the query over `window` and calls `row` for each result with the
    /// value of the grouping column.
    fn for_each(
        &self,
        conn: Conn,
        (from, to, filter, group): (Timestamp, Timestamp, &WindowFilter, Option<GroupBy>),
        mut row: impl FnMut(&Row, Option<&str>) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let select = self.sql(conn, from, to, filter, group);
        conn.for_each(select.sql(), &select.args(), |r| {
            // Reading a column costs as much as stepping to the row: read the
            // (always NULL) group column only when grouping; borrowed from
            // the row, it costs no allocation.
            let group = if group.is_some() { r.text(self.columns)? } else { None };
            row(r, group)
        })
    }
}
