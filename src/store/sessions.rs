//! Dashboard sessions and the sign-ins under way at an OpenID provider.

use super::sql::args;
use super::tokens::projects_json;
use super::{Store, StoreResult};
use crate::domain::token::Role;
use crate::domain::Id;
use crate::time::Timestamp;

/// What the callback of an OpenID sign-in needs, kept from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignIn {
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A dashboard session as stored: who it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the cookie's id.
    pub id_hash: [u8; 32],
    pub actor: String,
    pub role: Role,
    pub projects: Option<Vec<Id>>,
    /// The token it was made with: revoking it ends the session.
    pub token_name: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Store {
    /// Keeps a new session; expired ones go, a few at a time.
    pub async fn create_session(&self, s: SessionRecord) -> StoreResult<()> {
        self.write(move |tx| {
            let conn = tx.conn;
            conn.execute(
                "DELETE FROM sessions WHERE id_hash IN \
                 (SELECT id_hash FROM sessions WHERE expires_at <= ?1 LIMIT 100)",
                &args![s.created_at.millis()],
            )?;
            conn.execute(
                "INSERT INTO sessions (id_hash, actor, role, projects, token_name, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                &args![
                    &s.id_hash[..],
                    s.actor,
                    s.role.as_str(),
                    projects_json(s.projects.as_deref())?,
                    s.token_name,
                    s.created_at.millis(),
                    s.expires_at.millis()
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// The live session whose id hashes to `id_hash`.
    pub async fn session(&self, id_hash: [u8; 32], now: Timestamp) -> StoreResult<Option<SessionRecord>> {
        self.read(move |conn| {
            let found = conn.query_opt(
                "SELECT id_hash, actor, role, projects, token_name, created_at, expires_at \
                 FROM sessions WHERE id_hash = ?1 AND expires_at > ?2",
                &args![id_hash, now.millis()],
                |r| {
                    let hash: Vec<u8> = r.get(0)?;
                    let role: String = r.get(2)?;
                    let projects: Option<String> = r.get(3)?;
                    Ok(SessionRecord {
                        id_hash: hash.try_into().unwrap_or([0; 32]),
                        actor: r.get(1)?,
                        role: Role::parse(&role).unwrap_or(Role::Read),
                        projects: projects.and_then(|json| serde_json::from_str(&json).ok()),
                        token_name: r.get(4)?,
                        created_at: Timestamp::from_millis(r.get(5)?),
                        expires_at: Timestamp::from_millis(r.get(6)?),
                    })
                },
            )?;
            Ok(found)
        })
        .await
    }

    /// Ends the session whose id hashes to `id_hash`, if there is one.
    pub async fn end_session(&self, id_hash: [u8; 32]) -> StoreResult<()> {
        self.write(move |tx| {
            tx.conn.execute("DELETE FROM sessions WHERE id_hash = ?1", &args![id_hash])?;
            Ok(())
        })
        .await
    }
}

impl Store {
    /// Keeps a sign-in under way, under the hash of its `state`; expired
    /// ones go, a few at a time.
    pub async fn begin_sign_in(
        &self,
        state_hash: [u8; 32],
        p: PendingSignIn,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let conn = tx.conn;
            conn.execute(
                "DELETE FROM sign_ins WHERE state_hash IN \
                 (SELECT state_hash FROM sign_ins WHERE expires_at <= ?1 LIMIT 100)",
                &args![Timestamp::now().millis()],
            )?;
            conn.execute(
                "INSERT INTO sign_ins (state_hash, nonce, pkce_verifier, expires_at) VALUES (?1, ?2, ?3, ?4)",
                &args![state_hash, p.nonce, p.pkce_verifier, expires_at.millis()],
            )?;
            Ok(())
        })
        .await
    }

    /// The sign-in of `state_hash`, taken: a second callback with the same
    /// state finds nothing.
    pub async fn take_sign_in(&self, state_hash: [u8; 32], now: Timestamp) -> StoreResult<Option<PendingSignIn>> {
        self.write(move |tx| {
            let found = tx.conn.query_opt(
                "DELETE FROM sign_ins WHERE state_hash = ?1 RETURNING nonce, pkce_verifier, expires_at",
                &args![state_hash],
                |r| Ok((PendingSignIn { nonce: r.get(0)?, pkce_verifier: r.get(1)? }, r.get::<i64>(2)?)),
            )?;
            Ok(found.filter(|(_, expires_at)| *expires_at > now.millis()).map(|(p, _)| p))
        })
        .await
    }
}
