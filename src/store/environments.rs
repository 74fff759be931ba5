//! Renaming an environment in every stored event: `em-metrics
//! rename-environment FROM TO`, for the deployments an older default put in
//! `NO_ENV`, or a team that renames `prod` to `production`.
//!
//! Renaming into an environment that already has events merges the two:
//! a commit shipped to both counts once, as the change of the deployment
//! that shipped it first, and the deployments keep their change counts in
//! step. Everything happens in one transaction: all or nothing.

use super::sql::{args, Conn};
use super::{Store, StoreResult};
use crate::domain::{Id, Rejection};

/// What a rename changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Renamed {
    pub deployments: u64,
    pub incidents: u64,
    pub changes: u64,
    /// Changes dropped because the other environment shipped the same commit first.
    pub merged_changes: u64,
}

impl Store {
    /// Moves every event of environment `from` to `to`.
    pub async fn rename_environment(&self, from: Id, to: Id) -> StoreResult<Renamed> {
        if from == to {
            return Err(Rejection::invalid("to", format!("`{to}` is already the environment's name")).into());
        }
        self.write(move |tx| rename(tx.conn, &from, &to)).await
    }

    /// Whether any deployment is stored in `environment`: one probe of the
    /// environment index.
    pub async fn has_environment(&self, environment: Id) -> StoreResult<bool> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM deployments WHERE environment = ?1)",
                &args![environment],
                |r| r.get(0),
            )
        })
        .await
    }
}

fn rename(tx: Conn, from: &Id, to: &Id) -> StoreResult<Renamed> {
    let mut renamed = Renamed::default();
    // A commit shipped to both: the later shipping was not a first one.
    for (later, earlier, shipped_before) in [(from, to, "<="), (to, from, "<")] {
        let sql = format!(
            "DELETE FROM changes WHERE environment = ?1 AND sha IS NOT NULL AND EXISTS \
             (SELECT 1 FROM changes e WHERE e.environment = ?2 AND e.project_id = changes.project_id \
              AND e.sha = changes.sha AND e.deployed_at {shipped_before} changes.deployed_at)"
        );
        renamed.merged_changes += tx.execute(&sql, &args![later, earlier])? as u64;
    }
    if renamed.merged_changes > 0 {
        tx.execute(
            "UPDATE deployments SET change_count = \
             (SELECT count(*) FROM changes c WHERE c.deployment_id = deployments.id) \
             WHERE environment IN (?1, ?2) AND deployed_at IS NOT NULL",
            &args![from, to],
        )?;
    }
    renamed.changes =
        tx.execute("UPDATE changes SET environment = ?2 WHERE environment = ?1", &args![from, to])? as u64;
    renamed.deployments =
        tx.execute("UPDATE deployments SET environment = ?2 WHERE environment = ?1", &args![from, to])? as u64;
    renamed.incidents =
        tx.execute("UPDATE incidents SET environment = ?2 WHERE environment = ?1", &args![from, to])? as u64;
    tx.execute(
        "INSERT INTO shipped_pushes (repository, project_id, environment, through_push) \
         SELECT repository, project_id, ?2, through_push FROM shipped_pushes WHERE environment = ?1 \
         ON CONFLICT (repository, project_id, environment) \
         DO UPDATE SET through_push = CASE WHEN excluded.through_push > shipped_pushes.through_push \
         THEN excluded.through_push ELSE shipped_pushes.through_push END",
        &args![from, to],
    )?;
    tx.execute("DELETE FROM shipped_pushes WHERE environment = ?1", &args![from])?;
    Ok(renamed)
}
