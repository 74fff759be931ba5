//! The stored answers of Idempotency-Key requests.

use super::sql::args;
use super::{Store, StoreResult, Tx};
use crate::time::Timestamp;

/// How long a key's answer is kept and replayed.
pub const KEY_LIFETIME_MS: i64 = 24 * 3_600_000;
/// A first request that has not stored its answer after this long is taken
/// as lost (the process died mid-request), so its key can be used again.
const ABANDONED_AFTER_MS: i64 = 60_000;

/// A stored key: fingerprint, status (None while running), body, created_at.
type StoredKey = (String, Option<u16>, Option<Vec<u8>>, i64);

/// What a new request with a key finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or expired): this request runs, then [`Store::keep_answer`].
    Run,
    /// The same request was answered before: replay this.
    Replay { status: u16, body: Vec<u8> },
    /// The key belongs to another request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

impl Store {
    /// Looks `key` up and, when it is free, reserves it for this request.
    pub async fn claim_key(&self, key: String, fingerprint: String, now: Timestamp) -> StoreResult<Claim> {
        self.write(move |tx| {
            let tx = tx.conn;
            let now = now.millis();
            // Expired keys go, a few at a time, so the table stays small.
            tx.execute(
                "DELETE FROM idempotency_keys WHERE key IN \
                 (SELECT key FROM idempotency_keys WHERE created_at < ?1 LIMIT 100)",
                &args![now - KEY_LIFETIME_MS],
            )?;
            let found: Option<StoredKey> = tx.query_opt(
                "SELECT fingerprint, status, response, created_at FROM idempotency_keys WHERE key = ?1",
                &args![&key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            let claim = match found {
                Some((stored, _, _, _)) if stored != fingerprint => return Ok(Claim::Mismatch),
                Some((_, Some(status), body, _)) => {
                    return Ok(Claim::Replay { status, body: body.unwrap_or_default() })
                }
                Some((_, None, _, created_at)) if now - created_at < ABANDONED_AFTER_MS => {
                    return Ok(Claim::InProgress)
                }
                // Abandoned by a request that never finished: run again.
                Some(_) | None => Claim::Run,
            };
            tx.execute(
                "INSERT INTO idempotency_keys (key, fingerprint, status, response, created_at) \
                 VALUES (?1, ?2, NULL, NULL, ?3) ON CONFLICT (key) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, status = NULL, response = NULL, created_at = excluded.created_at",
                &args![key, fingerprint, now],
            )?;
            Ok(claim)
        })
        .await
    }

    /// Stores the answer to replay for `key` outside any command (a refusal,
    /// which wrote nothing); None releases the key (the request failed in a
    /// way a retry may not, such as 503). A command's own answer is kept in
    /// its transaction: [`Tx::keep_answer`].
    pub async fn keep_answer(&self, key: String, answer: Option<(u16, Vec<u8>)>) -> StoreResult<()> {
        self.write(move |tx| {
            let tx = tx.conn;
            match answer {
                Some((status, body)) => tx.execute(
                    "UPDATE idempotency_keys SET status = ?2, response = ?3 WHERE key = ?1",
                    &args![key, status, body],
                )?,
                None => tx.execute("DELETE FROM idempotency_keys WHERE key = ?1", &args![&key])?,
            };
            Ok(())
        })
        .await
    }
}

impl Tx<'_> {
    /// Stores the answer to replay for `key` in the command's own
    /// transaction: a command that committed always has its answer, so a
    /// retry after the client gave up replays it instead of running it again.
    pub fn keep_answer(&self, key: &str, status: u16, body: &[u8]) -> StoreResult<()> {
        self.conn.execute(
            "UPDATE idempotency_keys SET status = ?2, response = ?3 WHERE key = ?1",
            &args![key, status, body],
        )?;
        Ok(())
    }
}
