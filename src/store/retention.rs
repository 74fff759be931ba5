//! EM_METRICS_RETENTION: deleting events older than the retention, and
//! clearing usernames (the only personal data stored).
//!
//! A purge is many small write commands, not one: each deletes rows until
//! [`BATCH_BUDGET`] has passed and then lets the writer take the requests
//! queued behind it, so a purge of millions of rows never holds the writer
//! for long. Deployments go by `deploy_start_at` with their changes;
//! incidents by `started_at`; idempotency keys, webhook delivery ids and
//! pushes by when they were received. A deployment an incident that is kept
//! still links to is kept too (the link would otherwise break).

use std::time::{Duration, Instant};

use std::collections::BTreeSet;

use super::sql::{args, Conn};
use super::{effects, rows, Store, StoreError, StoreResult};
use crate::domain::{Effect, Id, Username};
use crate::time::Timestamp;

/// The shortest retention accepted: less would delete today's events.
pub const MIN_RETENTION: Duration = Duration::from_secs(86_400);
/// How long one purge command deletes before it hands the writer back; its
/// commit comes on top, and the whole stays well under 50 ms.
pub const BATCH_BUDGET: Duration = Duration::from_millis(15);
/// Rows deleted between two looks at the clock.
const CHUNK: i64 = 50;

/// What a purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub deployments: u64,
    pub changes: u64,
    pub incidents: u64,
    pub pull_requests: u64,
    pub idempotency_keys: u64,
    pub webhook_deliveries: u64,
    pub pushes: u64,
    pub audit: u64,
    /// The longest a batch deleted inside the writer (its commit comes on
    /// top): what the purge held other writes back by, at most.
    pub longest_batch: Duration,
}

impl Purged {
    /// Rows deleted in all.
    pub fn rows(&self) -> u64 {
        self.deployments
            + self.changes
            + self.incidents
            + self.pull_requests
            + self.idempotency_keys
            + self.webhook_deliveries
            + self.pushes
            + self.audit
    }

    fn add(&mut self, other: Purged) {
        self.longest_batch = self.longest_batch.max(other.longest_batch);
        self.deployments += other.deployments;
        self.changes += other.changes;
        self.incidents += other.incidents;
        self.pull_requests += other.pull_requests;
        self.idempotency_keys += other.idempotency_keys;
        self.webhook_deliveries += other.webhook_deliveries;
        self.pushes += other.pushes;
        self.audit += other.audit;
    }
}

/// Where a purge has got to: the deployments are walked in (start, id)
/// order, so ones kept for a linked incident are not read again.
#[derive(Debug, Clone, Default)]
struct Cursor {
    after: Option<(i64, String)>,
    deployments_done: bool,
    done: bool,
}

/// The records kept for retries and deliveries, with their age column and key.
const SIDE_TABLES: [(&str, &str, &str); 6] = [
    // Their reviews go with them (ON DELETE CASCADE).
    ("pull_requests", "opened_at", "id"),
    ("idempotency_keys", "created_at", "key"),
    ("webhook_deliveries", "received_at", "source, delivery_id"),
    ("pushes", "received_at", "repository, push_seq"),
    ("branch_pushes", "pushed_at", "repository, branch"),
    ("audit", "at", "seq"),
];

impl Store {
    /// Deletes every event that started before `cutoff`, batch by batch.
    pub async fn purge_before(&self, cutoff: Timestamp) -> StoreResult<Purged> {
        let mut total = Purged::default();
        let mut cursor = Cursor::default();
        while !cursor.done {
            let (purged, next) = self.write(move |tx| purge_batch(tx.conn, cutoff.millis(), cursor)).await?;
            total.add(purged);
            cursor = next;
            // Let writes queued meanwhile go first, even on a busy writer.
            tokio::task::yield_now().await;
        }
        Ok(total)
    }

    /// Removes `username` from every stored deployment, and from the stored
    /// Idempotency-Key answers that repeat it; the teams resolved from it
    /// stay. Returns how many deployments held it. Then the WAL is
    /// truncated, so no copy of the old pages is left in it either (the
    /// writer's `secure_delete` zeroes the freed bytes in the pages).
    pub async fn clear_username(&self, username: Username) -> StoreResult<u64> {
        let cleared = self
            .write(move |tx| {
                let tx = tx.conn;
                let cleared =
                    tx.execute("UPDATE deployments SET username = NULL WHERE username = ?1", &args![username])?;
                let author_key = super::pull_requests::hash_key(tx)?.author_key(&username);
                tx.execute(
                    "UPDATE pull_requests SET author = NULL, author_key = NULL WHERE author = ?1 OR author_key = ?2",
                    &args![username, author_key],
                )?;
                tx.execute("UPDATE pull_request_reviews SET reviewer = NULL WHERE reviewer = ?1", &args![username])?;
                clear_from_answers(tx, &username)?;
                Ok(cleared as u64)
            })
            .await?;
        self.truncate_wal().await?;
        Ok(cleared)
    }
}

/// The stored answers (JSON) that hold `username` get every `username`
/// field with that value set to null; a replay then answers without it.
fn clear_from_answers(tx: Conn, username: &Username) -> StoreResult<()> {
    // The name as the JSON encoder wrote it: a cheap first sieve.
    let needle = serde_json::to_vec(username.as_str()).map_err(|e| StoreError::Internal(e.to_string()))?;
    let sql = match tx.is_postgres() {
        true => "SELECT key, response FROM idempotency_keys WHERE position(?1 IN response) > 0",
        false => "SELECT key, response FROM idempotency_keys WHERE instr(response, ?1) > 0",
    };
    let holding: Vec<(String, Vec<u8>)> = tx.query_vec(sql, &args![needle], |r| Ok((r.get(0)?, r.get(1)?)))?;
    for (key, response) in holding {
        let Ok(mut answer) = serde_json::from_slice::<serde_json::Value>(&response) else { continue };
        if forget(&mut answer, username.as_str()) {
            let rewritten = serde_json::to_vec(&answer).map_err(|e| StoreError::Internal(e.to_string()))?;
            tx.execute("UPDATE idempotency_keys SET response = ?2 WHERE key = ?1", &args![key, rewritten])?;
        }
    }
    Ok(())
}

/// The fields of a stored answer that hold a username: a deployment's or
/// incident's `username`, a pull request's `author`, a review's `reviewer`.
const USERNAME_FIELDS: [&str; 3] = ["username", "author", "reviewer"];

/// Sets every username field ([`USERNAME_FIELDS`]) equal to `name`, at any
/// depth, to null; true when one was.
fn forget(value: &mut serde_json::Value, name: &str) -> bool {
    match value {
        serde_json::Value::Object(fields) => {
            let mut changed = false;
            for (key, field) in fields.iter_mut() {
                if USERNAME_FIELDS.contains(&key.as_str()) && field.as_str() == Some(name) {
                    *field = serde_json::Value::Null;
                    changed = true;
                } else {
                    changed |= forget(field, name);
                }
            }
            changed
        }
        serde_json::Value::Array(items) => items.iter_mut().fold(false, |changed, item| forget(item, name) | changed),
        _ => false,
    }
}

/// One batch: incidents first (so the deployments they link to may go),
/// then deployments with their changes, then the records kept for retries.
/// Each step stops when the budget is spent; the cursor says where to go on.
fn purge_batch(tx: Conn, cutoff: i64, mut cursor: Cursor) -> StoreResult<(Purged, Cursor)> {
    let started = Instant::now();
    let mut purged = Purged::default();
    let in_time = || started.elapsed() < BATCH_BUDGET;
    if !drain_incidents(tx, cutoff, &mut purged.incidents, &in_time)? {
        purged.longest_batch = started.elapsed();
        return Ok((purged, cursor));
    }
    while !cursor.deployments_done && in_time() {
        let ids = next_deployments(tx, cutoff, &cursor)?;
        let Some(last) = ids.last() else {
            cursor.deployments_done = true;
            break;
        };
        cursor.after = Some(last.clone());
        for (_, id) in &ids {
            let linked: Option<i64> =
                tx.query_opt("SELECT 1 FROM incidents WHERE deployment_id = ?1 LIMIT 1", &args![id], |r| r.get(0))?;
            if linked.is_some() {
                continue;
            }
            purged.changes += tx.execute("DELETE FROM changes WHERE deployment_id = ?1", &args![id])? as u64;
            purged.deployments += tx.execute("DELETE FROM deployments WHERE id = ?1", &args![id])? as u64;
        }
    }
    if !cursor.deployments_done {
        purged.longest_batch = started.elapsed();
        return Ok((purged, cursor));
    }
    let mut counts = [0u64; 6];
    let mut drained = true;
    for ((table, age, key), count) in SIDE_TABLES.into_iter().zip(&mut counts) {
        let sql = format!("DELETE FROM {table} WHERE ({key}) IN (SELECT {key} FROM {table} WHERE {age} < ?1 LIMIT ?2)");
        drained = drain(tx, &sql, cutoff, count, &in_time)?;
        if !drained {
            break;
        }
    }
    let branch_pushes;
    [
        purged.pull_requests,
        purged.idempotency_keys,
        purged.webhook_deliveries,
        purged.pushes,
        branch_pushes,
        purged.audit,
    ] = counts;
    // A branch's pushes are pushes: reported with them.
    purged.pushes += branch_pushes;
    cursor.done = drained;
    purged.longest_batch = started.elapsed();
    Ok((purged, cursor))
}

/// Deletes old incidents like [`drain`], and decides again whether each
/// deployment they were linked to is still a change failure, exactly as an
/// unlink through `PATCH /incidents/{id}` does: it stays one when another
/// incident still points to it or it was rolled back.
fn drain_incidents(tx: Conn, cutoff: i64, count: &mut u64, in_time: &dyn Fn() -> bool) -> StoreResult<bool> {
    loop {
        // SQLite is told which index to use: its planner would pick another.
        let sql = match tx.is_postgres() {
            true => {
                "DELETE FROM incidents WHERE id IN \
                     (SELECT id FROM incidents WHERE started_at < ?1 LIMIT ?2) RETURNING deployment_id"
            }
            false => {
                "DELETE FROM incidents WHERE id IN \
                      (SELECT id FROM incidents INDEXED BY incidents_window WHERE started_at < ?1 LIMIT ?2) \
                      RETURNING deployment_id"
            }
        };
        let unlinked: Vec<Option<Id>> = tx.query_vec(sql, &args![cutoff, CHUNK], |r| r.get(0))?;
        let n = unlinked.len() as u64;
        *count += n;
        let deployments: BTreeSet<Id> = unlinked.into_iter().flatten().collect();
        for id in deployments {
            let Some(d) = rows::deployment(tx, &id)? else { continue };
            let links: u64 =
                tx.query_row("SELECT count(*) FROM incidents WHERE deployment_id = ?1", &args![id], |r| r.get(0))?;
            // Unlinking never makes a first change failure: no event to record.
            let (marks, _) = d.marks.settle(links, || d.dims());
            if marks != d.marks {
                let now = Timestamp::now();
                effects::apply(tx, &[Effect::MarkDeployment { id: d.id.clone(), marks }], now)?;
            }
        }
        if n < CHUNK as u64 {
            return Ok(true);
        }
        if !in_time() {
            return Ok(false);
        }
    }
}

/// Runs a chunked delete until it deletes less than a chunk (true: drained)
/// or the budget is spent (false).
fn drain(tx: Conn, sql: &str, cutoff: i64, count: &mut u64, in_time: &dyn Fn() -> bool) -> StoreResult<bool> {
    loop {
        let n = tx.execute(sql, &args![cutoff, CHUNK])? as u64;
        *count += n;
        if n < CHUNK as u64 {
            return Ok(true);
        }
        if !in_time() {
            return Ok(false);
        }
    }
}

/// The next [`CHUNK`] deployments that started before `cutoff`, after the cursor.
fn next_deployments(tx: Conn, cutoff: i64, cursor: &Cursor) -> StoreResult<Vec<(i64, String)>> {
    let (after_start, after_id) = cursor.after.clone().unwrap_or((i64::MIN, String::new()));
    let sql = match tx.is_postgres() {
        true => {
            "SELECT deploy_start_at, id FROM deployments \
                 WHERE deploy_start_at < ?1 AND (deploy_start_at, id) > (?2, ?3) \
                 ORDER BY deploy_start_at, id LIMIT ?4"
        }
        false => {
            "SELECT deploy_start_at, id FROM deployments INDEXED BY deployments_by_start \
                  WHERE deploy_start_at < ?1 AND (deploy_start_at, id) > (?2, ?3) \
                  ORDER BY deploy_start_at, id LIMIT ?4"
        }
    };
    tx.query_vec(sql, &args![cutoff, after_start, after_id, CHUNK], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// How often the retention runs after the run at start.
pub const RETENTION_EVERY: Duration = Duration::from_secs(86_400);
/// How soon a purge that stopped on an error (a busy database) is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Deletes events older than `retention` now and once a day, in the
/// background, logging one line with the counts each time.
pub fn keep_for(store: Store, retention: Duration) {
    tokio::spawn(async move {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        loop {
            let cutoff = Timestamp::from_millis(Timestamp::now().millis().saturating_sub(retention_ms));
            let started = Instant::now();
            let wait = match store.purge_before(cutoff).await {
                Ok(p) => {
                    tracing::info!(
                        %cutoff,
                        deployments = p.deployments,
                        changes = p.changes,
                        incidents = p.incidents,
                        pull_requests = p.pull_requests,
                        idempotency_keys = p.idempotency_keys,
                        webhook_deliveries = p.webhook_deliveries,
                        pushes = p.pushes,
                        audit = p.audit,
                        longest_batch_ms = p.longest_batch.as_millis() as u64,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "retention: deleted the events that started before {cutoff} (EM_METRICS_RETENTION={})",
                        days_or_duration(retention)
                    );
                    RETENTION_EVERY
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retention: the purge stopped; trying again in a minute");
                    RETRY_AFTER
                }
            };
            tokio::time::sleep(wait).await;
        }
    });
}

/// `730d` for whole days, as the setting is usually written.
fn days_or_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else {
        humantime::format_duration(d).to_string()
    }
}
