//! The PostgreSQL schema, embedded and applied at start.
//!
//! All of it runs in one transaction that first takes a transaction-level
//! advisory lock: replicas that start together queue on the lock, and each
//! one after the first finds the migrations applied. PostgreSQL's DDL is
//! transactional, so a start that dies half-way leaves nothing behind.

use tokio_postgres::Client;

use super::reason;

/// Append only: never edit a migration that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "schema", include_str!("migrations/0001_schema.sql")),
    (2, "pull_requests", include_str!("migrations/0002_pull_requests.sql")),
];

/// The advisory lock key of em-metrics's migrations ("em-metri" in ASCII):
/// any other key in the same database is someone else's.
const MIGRATION_LOCK: i64 = 0x656d_2d6d_6574_7269;

pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(v, _, _)| *v)
}

/// Applies the migrations this database lacks; how many it applied.
pub async fn apply(client: &mut Client) -> Result<usize, String> {
    let failed = |what: &str, e: tokio_postgres::Error| format!("{what}: {}", reason(&e));
    let tx = client.transaction().await.map_err(|e| failed("cannot begin the migration", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| failed("cannot take the migration lock", e))?;
    // "already exists, skipping" notices would reach the log at every start.
    tx.batch_execute("SET LOCAL client_min_messages = warning")
        .await
        .map_err(|e| failed("cannot quiet the migration", e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    )
    .await
    .map_err(|e| failed("cannot create schema_migrations", e))?;
    let newest: Option<i64> = tx
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .await
        .map_err(|e| failed("cannot read schema_migrations", e))?
        .get(0);
    // A newer binary migrated this database: its schema may mean things this
    // one does not know, so refuse rather than serve 500s.
    if let Some(newest) = newest.filter(|v| *v > latest_version()) {
        return Err(format!(
            "the database has schema version {newest}, newer than the {} this em-metrics knows: run a newer \
             em-metrics (or restore a dump made by this version)",
            latest_version()
        ));
    }
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS {
        if newest.is_some_and(|n| n >= *version) {
            continue;
        }
        tx.batch_execute(sql).await.map_err(|e| failed(&format!("migration {version} ({name})"), e))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            &[version, name, &crate::time::Timestamp::now().millis()],
        )
        .await
        .map_err(|e| failed("cannot record the migration", e))?;
        applied += 1;
    }
    tx.commit().await.map_err(|e| failed("cannot commit the migration", e))?;
    Ok(applied)
}
