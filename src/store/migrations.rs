//! Schema migrations embedded in the binary and applied at start.
//!
//! Each migration runs in its own immediate transaction that first re-checks
//! whether it was applied, so two processes starting on one file, or a second
//! run, never apply one twice.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::StoreError;

/// Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (2, "insights", include_str!("migrations/0002_insights.sql")),
    (3, "changes", include_str!("migrations/0003_changes.sql")),
    (4, "idempotency", include_str!("migrations/0004_idempotency.sql")),
    (5, "webhooks", include_str!("migrations/0005_webhooks.sql")),
    (6, "retention_and_dashboard", include_str!("migrations/0006_retention_and_dashboard.sql")),
];

pub fn apply(conn: &mut Connection) -> Result<usize, StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY NOT NULL,
             name       TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         )",
    )?;
    // A newer binary ran here before: its schema may mean things this one
    // does not know, so refuse rather than serve 500s.
    let newest: Option<i64> = conn.query_row("SELECT max(version) FROM schema_migrations", [], |r| r.get(0))?;
    if let Some(newest) = newest.filter(|v| *v > latest_version()) {
        return Err(StoreError::Unavailable(format!(
            "the database has schema version {newest}, newer than the {} this em-metrics knows: run a newer \
             em-metrics (or restore a backup made by this version)",
            latest_version()
        )));
    }
    let mut applied = 0;
    for &(version, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: Option<i64> = tx
            .query_row("SELECT version FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))
            .optional()?;
        if done.is_none() {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                params![version, name, crate::time::Timestamp::now().millis()],
            )?;
            applied += 1;
        }
        tx.commit()?;
    }
    Ok(applied)
}

/// The highest version this binary knows, for start-up checks and tests.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}
