//! Schema migrations embedded in the binary and applied at start.
//!
//! Each migration runs in its own immediate transaction that first re-checks
//! whether it was applied, so two processes starting on one file, or a second
//! run, never apply one twice.

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::StoreError;

/// What a migration runs: SQL, or code where SQL alone cannot say it.
enum Step {
    Sql(&'static str),
    Code(fn(&Connection) -> rusqlite::Result<()>),
}

/// Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, Step)] = &[
    (1, "initial", Step::Sql(include_str!("migrations/0001_initial.sql"))),
    (2, "insights", Step::Sql(include_str!("migrations/0002_insights.sql"))),
    (3, "changes", Step::Sql(include_str!("migrations/0003_changes.sql"))),
    (4, "idempotency", Step::Sql(include_str!("migrations/0004_idempotency.sql"))),
    (5, "webhooks", Step::Sql(include_str!("migrations/0005_webhooks.sql"))),
    (6, "retention_and_dashboard", Step::Sql(include_str!("migrations/0006_retention_and_dashboard.sql"))),
    (7, "checks_without_in_lists", Step::Code(checks_without_in_lists)),
    (8, "access", Step::Sql(include_str!("migrations/0008_access.sql"))),
    (9, "pull_requests", Step::Sql(include_str!("migrations/0009_pull_requests.sql"))),
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
    for (version, name, step) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done: Option<i64> = tx
            .query_row("SELECT version FROM schema_migrations WHERE version = ?1", [version], |r| r.get(0))
            .optional()?;
        if done.is_none() {
            match step {
                Step::Sql(sql) => tx.execute_batch(sql)?,
                Step::Code(run) => run(&tx)?,
            }
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

/// The CHECK constraints of `deployments.status` and `.kind` as the same
/// test written with `=` and `OR`.
///
/// SQLite evaluates a constant IN list of more than two values by building
/// a temporary B-tree, and a CHECK constraint builds it again at every
/// INSERT and UPDATE: opening, filling and closing the two of them took
/// about a tenth of the writer's time under load (bench/RESULTS.md,
/// 2026-11-30). The rewritten constraints accept and refuse exactly the same
/// values.
///
/// SQLite cannot alter a CHECK constraint, and rebuilding the table would
/// rewrite every row and index (and, with foreign keys on, cascade into
/// `changes`). A change that leaves the stored rows valid may instead edit
/// the schema text in place: the procedure SQLite documents in "Making
/// Other Kinds Of Table Schema Changes" (lang_altertable.html, section 7),
/// bumping `schema_version` so every connection reloads it.
fn checks_without_in_lists(tx: &Connection) -> rusqlite::Result<()> {
    const REWRITES: [(&str, &str); 2] = [
        (
            "CHECK (status IN ('started', 'deployed', 'failed'))",
            "CHECK (status = 'started' OR status = 'deployed' OR status = 'failed')",
        ),
        (
            "CHECK (kind IN ('release', 'hotfix', 'rollback'))",
            "CHECK (kind = 'release' OR kind = 'hotfix' OR kind = 'rollback')",
        ),
    ];
    let schema_version: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    tx.execute_batch("PRAGMA writable_schema = ON")?;
    for (from, to) in REWRITES {
        // A schema whose text differs (edited by hand) keeps its own
        // constraint: only the speed differs.
        tx.execute(
            "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2) WHERE type = 'table' AND name = 'deployments'",
            [from, to],
        )?;
    }
    tx.pragma_update(None, "schema_version", schema_version + 1)?;
    tx.execute_batch("PRAGMA writable_schema = OFF")
}

/// The highest version this binary knows, for start-up checks and tests.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}
