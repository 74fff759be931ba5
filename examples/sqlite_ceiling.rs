//! The write-path ceiling: the same inserts as `POST /deployments`, one
//! committed transaction each, straight through rusqlite on one connection
//! with the service's pragmas and schema. No HTTP, no JSON, no domain rules.
//!
//! usage: cargo run --release --example sqlite_ceiling -- [ROWS]

use std::time::Instant;

use rusqlite::{params, Connection, TransactionBehavior};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: u64 = std::env::args().nth(1).map_or(Ok(100_000), |n| n.parse())?;
    let dir = tempfile_dir()?;
    let path = dir.join("ceiling.db");
    // The service's schema and migrations, then a plain connection with its pragmas.
    drop(em_metrics::store::Store::open(&path)?);
    let mut conn = Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;

    let started = Instant::now();
    for n in 0..rows {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // What the service does per new deployment: look the id up, insert the row.
        let exists: bool = tx
            .prepare_cached("SELECT count(*) > 0 FROM deployments WHERE id = ?1")?
            .query_row([format!("c{n}")], |r| r.get(0))?;
        assert!(!exists);
        tx.prepare_cached(
            "INSERT INTO deployments (id, project_id, team_id, environment, username, status, first_commit_at, \
             deploy_start_at, deployed_at, failed_at, created_at, updated_at) \
             VALUES (?1, 'api', NULL, 'NO_ENV', NULL, 'started', 1714550400000, ?2, NULL, NULL, ?2, ?2)",
        )?
        .execute(params![format!("c{n}"), 1_714_554_000_000_i64 + n as i64])?;
        tx.commit()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!("{rows} inserts, one transaction each: {seconds:.2} s, {:.0} per second", rows as f64 / seconds);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("em-metrics-ceiling-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
