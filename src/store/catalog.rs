//! What the dashboard reads besides a window: the values its filters offer
//! and whether anything is stored yet.

use rusqlite::Connection;

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
    pub async fn filter_values(&self) -> StoreResult<FilterValues> {
        self.read(|conn| {
            Ok(FilterValues {
                team_ids: distinct(conn, "team_id")?,
                project_ids: distinct(conn, "project_id")?,
                environments: distinct(conn, "environment")?,
            })
        })
        .await
    }

    /// The distinct environments of the stored deployments (at most 500):
    /// what `environment=*` counted, named.
    pub async fn environments(&self) -> StoreResult<Vec<String>> {
        self.read(|conn| distinct(conn, "environment")).await
    }

    /// Whether any deployment was ever recorded: the dashboard's empty state.
    pub async fn has_deployments(&self) -> StoreResult<bool> {
        self.read(|conn| Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM deployments)", [], |r| r.get(0))?)).await
    }
}

/// The distinct values of a deployments column that leads an index
/// (`deployments_by_project`, `_by_team`, `_by_environment`), in order.
/// `SELECT DISTINCT` would read every entry of the index (a million on the
/// bench database); this skips from one value to the next, one index seek
/// per value.
fn distinct(conn: &Connection, column: &'static str) -> StoreResult<Vec<String>> {
    let sql = format!(
        "WITH RECURSIVE v(x) AS (
           SELECT min({column}) FROM deployments
           UNION ALL
           SELECT (SELECT min({column}) FROM deployments WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL
         )
         SELECT x FROM v WHERE x IS NOT NULL LIMIT {MAX_FILTER_VALUES}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let values = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(values)
}
