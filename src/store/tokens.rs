//! API tokens: only their secrets' hashes.

use super::sql::{args, Conn, Row};
use super::{Store, StoreError, StoreResult, Tx};
use crate::domain::token::{self, NewToken, Role, Token};
use crate::domain::{Context, Id, Transition, Write};
use crate::time::Timestamp;

/// How often a token's `last_used_at` is written at most.
pub const LAST_USED_EVERY_MS: i64 = 60_000;

const TOKEN_COLUMNS: &str = "name, role, projects, created_at, expires_at, last_used_at";

impl Tx<'_> {
    /// `POST /tokens`: the token, stored with the hash of its secret.
    pub fn create_token(&self, cmd: NewToken, secret_hash: [u8; 32], ctx: &Context) -> StoreResult<Transition<Token>> {
        let taken = find(self.conn, &cmd.name)?.is_some();
        let t = token::create(cmd, taken, ctx)?;
        let projects = projects_json(t.value.projects.as_deref())?;
        self.conn.execute(
            "INSERT INTO tokens (name, role, projects, secret_hash, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &args![
                t.value.name,
                t.value.role.as_str(),
                projects,
                secret_hash,
                t.value.created_at.millis(),
                t.value.expires_at.map(Timestamp::millis)
            ],
        )?;
        Ok(t)
    }

    /// `DELETE /tokens/{name}`: the token goes, and every dashboard session
    /// made with it ends.
    pub fn revoke_token(&self, name: &str) -> StoreResult<Transition<Token>> {
        let t = token::revoke(name, find(self.conn, name)?)?;
        if t.write == Write::Delete {
            self.conn.execute("DELETE FROM sessions WHERE token_name = ?1", &args![name])?;
            self.conn.execute("DELETE FROM tokens WHERE name = ?1", &args![name])?;
        }
        Ok(t)
    }
}

impl Store {
    /// Every token, by name, without secrets.
    pub async fn tokens(&self) -> StoreResult<Vec<Token>> {
        self.read(|conn| {
            conn.query_vec(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY name"), &[], token_from_row)
        })
        .await
    }

    /// The token whose secret hashes to `secret_hash`.
    pub async fn token_by_secret(&self, secret_hash: [u8; 32]) -> StoreResult<Option<Token>> {
        self.read(move |conn| {
            let sql = format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE secret_hash = ?1");
            conn.query_opt(&sql, &args![secret_hash], token_from_row)
        })
        .await
    }

    /// Notes that `name` was used at `now`, unless that was noted less than
    /// [`LAST_USED_EVERY_MS`] ago (the condition keeps it so across replicas).
    pub async fn token_used(&self, name: String, now: Timestamp) -> StoreResult<()> {
        self.write(move |tx| {
            tx.conn.execute(
                "UPDATE tokens SET last_used_at = ?2 WHERE name = ?1 \
                 AND (last_used_at IS NULL OR last_used_at <= ?3)",
                &args![name, now.millis(), now.millis() - LAST_USED_EVERY_MS],
            )?;
            Ok(())
        })
        .await
    }
}

fn find(conn: Conn, name: &str) -> StoreResult<Option<Token>> {
    conn.query_opt(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE name = ?1"), &args![name], token_from_row)
}

fn token_from_row(row: &Row) -> StoreResult<Token> {
    let role: String = row.get(1)?;
    let projects: Option<String> = row.get(2)?;
    Ok(Token {
        name: row.get(0)?,
        // The CHECK constraint keeps other values out.
        role: Role::parse(&role).unwrap_or(Role::Read),
        projects: projects.and_then(|json| serde_json::from_str(&json).ok()),
        created_at: Timestamp::from_millis(row.get(3)?),
        expires_at: row.get::<Option<i64>>(4)?.map(Timestamp::from_millis),
        last_used_at: row.get::<Option<i64>>(5)?.map(Timestamp::from_millis),
    })
}

pub(super) fn projects_json(projects: Option<&[Id]>) -> StoreResult<Option<String>> {
    projects.map(|p| serde_json::to_string(p).map_err(|e| StoreError::Internal(e.to_string()))).transpose()
}
