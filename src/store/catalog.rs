//! What the dashboard reads besides a window: the values its filters offer
//! and whether anything is stored yet.

use super::sql::{args, Conn};
use super::{Store, StoreResult};

/// Most values a filter list offers; a store with more is better filtered
/// through the API than through a select box.
const MAX_FILTER_VALUES: usize = 500;

/// The distinct teams, projects and environments of the stored deployments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterValues {
    pub team_ids: Vec<String>,
    pub project_ids: Vec<String>,
    pub environments: Vec<String>,
}

impl Store {
    /// The values of every stored deployment, or (`within`) only of those
    /// projects' deployments: a viewer limited to some projects is not shown
    /// the teams and environments of others.
    pub async fn filter_values(&self, within: Option<Vec<String>>) -> StoreResult<FilterValues> {
        self.read(move |conn| match within {
            None => Ok(FilterValues {
                team_ids: distinct(conn, "team_id")?,
                project_ids: distinct(conn, "project_id")?,
                environments: distinct(conn, "environment")?,
            }),
            Some(projects) => Ok(FilterValues {
                team_ids: distinct_within(conn, "team_id", &projects)?,
                project_ids: distinct_within(conn, "project_id", &projects)?,
                environments: distinct_within(conn, "environment", &projects)?,
            }),
        })
        .await
    }

    /// The distinct environments of the stored deployments (at most 500):
    /// what `environment=*` counted, named.
    pub async fn environments(&self) -> StoreResult<Vec<String>> {
        self.read(|conn| distinct(conn, "environment")).await
    }

    /// Whether any deployment was ever recorded (of `within`'s projects,
    /// when given): the dashboard's empty state.
    pub async fn has_deployments(&self, within: Option<Vec<String>>) -> StoreResult<bool> {
        self.read(move |conn| match within {
            None => Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM deployments)", &[], |r| r.get(0))?),
            Some(projects) => Ok(!distinct_within(conn, "project_id", &projects)?.is_empty()),
        })
        .await
    }
}

/// The distinct values of a deployments column that leads an index
/// (`deployments_by_project`, `_by_team`, `_by_environment`), in order.
/// `SELECT DISTINCT` would read every entry of the index (a million on the
/// bench database); this skips from one value to the next, one index seek
/// per value.
fn distinct(conn: Conn, column: &'static str) -> StoreResult<Vec<String>> {
    let sql = format!(
        "WITH RECURSIVE v(x) AS (
           SELECT min({column}) FROM deployments
           UNION ALL
           SELECT (SELECT min({column}) FROM deployments WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL
         )
         SELECT x FROM v WHERE x IS NOT NULL LIMIT {MAX_FILTER_VALUES}"
    );
    conn.query_vec(&sql, &[], |r| r.get(0))
}

/// [`distinct`] over the deployments of `projects` only: one index seek per
/// project (`deployments_by_project`), then its own rows for the other
/// columns. A scope is a handful of projects, so this stays small.
fn distinct_within(conn: Conn, column: &'static str, projects: &[String]) -> StoreResult<Vec<String>> {
    let sql = format!("SELECT DISTINCT {column} FROM deployments WHERE project_id = ?1 AND {column} IS NOT NULL");
    let mut values = std::collections::BTreeSet::new();
    for project in projects {
        conn.for_each(&sql, &args![project], |r| {
            values.insert(r.get::<String>(0)?);
            Ok(())
        })?;
    }
    Ok(values.into_iter().take(MAX_FILTER_VALUES).collect())
}
