//! Applies the [`Effect`]s of a decision: the writes it implies to records
//! other than the one the command is about, in the same transaction.

use super::sql::{args, Conn};
use super::{StoreError, StoreResult};
use crate::domain::Effect;
use crate::time::Timestamp;

pub fn apply(conn: Conn, effects: &[Effect], now: Timestamp) -> StoreResult<()> {
    for effect in effects {
        match effect {
            Effect::MarkDeployment { id, marks } => {
                conn.execute(
                    "UPDATE deployments SET change_failure = ?2, rolled_back = ?3, change_failure_counted = ?4, \
                     updated_at = ?5 WHERE id = ?1",
                    &args![id, marks.change_failure, marks.rolled_back, marks.counted, now.millis()],
                )?;
            }
            Effect::RestoreIncident { id, restored_at } => {
                conn.execute(
                    "UPDATE incidents SET restored_at = ?2, updated_at = ?3 WHERE id = ?1 AND restored_at IS NULL",
                    &args![id, restored_at.millis(), now.millis()],
                )?;
            }
            Effect::RecordCommits { deployment_id, commits } => {
                let list: Vec<(&str, i64)> =
                    commits.iter().map(|c| (c.sha.as_str(), c.committed_at.millis())).collect();
                let json = serde_json::to_string(&list).map_err(|e| StoreError::Internal(e.to_string()))?;
                conn.execute("UPDATE deployments SET commits = ?2 WHERE id = ?1", &args![deployment_id, json])?;
            }
            Effect::ShipChanges(changes) => {
                let sql = "INSERT INTO changes (deployment_id, sha, project_id, team_id, environment, committed_at, \
                     deployed_at, lead_time_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
                for c in changes {
                    conn.execute(
                        sql,
                        &args![
                            c.deployment_id,
                            c.sha,
                            c.dims.project_id,
                            c.dims.team_id,
                            c.dims.environment,
                            c.committed_at.millis(),
                            c.deployed_at.millis(),
                            c.lead_time_ms(),
                        ],
                    )?;
                }
            }
            Effect::RecordReview { pull_request_id, reviewer, state, at, by_author } => {
                conn.execute(
                    "INSERT INTO pull_request_reviews (pull_request_id, reviewer, state, reviewed_at, by_author) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    &args![pull_request_id, reviewer, state.as_str(), at.millis(), by_author],
                )?;
            }
            Effect::LinkPullRequests { ids, shipment } => {
                let sql =
                    "UPDATE pull_requests SET deployment_id = ?2, deployed_at = ?3, updated_at = ?4 WHERE id = ?1";
                for id in ids {
                    conn.execute(sql, &args![id, shipment.deployment_id, shipment.deployed_at.millis(), now.millis()])?;
                }
            }
        }
    }
    Ok(())
}
