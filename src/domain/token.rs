//! API tokens: their rules, pure. A token has a name, a role, optionally
//! the projects it is limited to and an expiry; its secret is made and
//! hashed at the edge, and only the hash reaches the store.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Context, Id, Rejection, Transition, Write};
use crate::time::Timestamp;

/// Longest token name.
pub const MAX_NAME_CHARS: usize = 100;

/// What a token (or a session) may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A pipeline or an incident script: report deployments and incidents,
    /// and read them back.
    Ingest,
    /// Every GET but the admin routes, and the dashboard.
    Read,
    /// `ingest` and `read`, plus corrections and deletions.
    Write,
    /// Everything: tokens, the audit log, the team config, erasure.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        super::from_name(text)
    }
}

/// A token as stored, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub name: String,
    pub role: Role,
    /// None: every project.
    pub projects: Option<Vec<Id>>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

impl Token {
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// `POST /tokens` (and `em-metrics token create`), with the secret's hash.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub role: Role,
    pub projects: Option<Vec<Id>>,
    pub expires_at: Option<Timestamp>,
}

/// Creates a token; `name_taken` is whether the store holds one of that name.
pub fn create(cmd: NewToken, name_taken: bool, ctx: &Context) -> Result<Transition<Token>, Rejection> {
    let name = cmd.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name != cmd.name {
        return Err(Rejection::invalid(
            "name",
            format!("name must be 1 to {MAX_NAME_CHARS} characters, without leading or trailing spaces"),
        ));
    }
    if name_taken {
        return Err(Rejection::conflict_on(
            "name",
            format!("a token named `{name}` exists: revoke it first, or pick another name"),
        ));
    }
    if let Some(at) = cmd.expires_at.filter(|at| *at <= ctx.now) {
        return Err(Rejection::invalid("expires_at", format!("expires_at ({at}) is not in the future")));
    }
    match &cmd.projects {
        Some(list) if list.is_empty() => {
            return Err(Rejection::invalid(
                "projects",
                "projects must list at least one project; leave it out for every project",
            ))
        }
        // An admin creates tokens: one limited to projects could make one that is not.
        Some(_) if cmd.role == Role::Admin => {
            return Err(Rejection::invalid("projects", "an admin token is for every project: leave projects out"))
        }
        _ => {}
    }
    let token = Token {
        name: cmd.name,
        role: cmd.role,
        projects: cmd.projects,
        created_at: ctx.now,
        expires_at: cmd.expires_at,
        last_used_at: None,
    };
    Ok(Transition::new(Write::Insert, token, Vec::new()))
}

/// `DELETE /tokens/{name}`.
pub fn revoke(name: &str, stored: Option<Token>) -> Result<Transition<Token>, Rejection> {
    let token = stored.ok_or_else(|| Rejection::NotFound(format!("token `{name}` not found")))?;
    Ok(Transition::new(Write::Delete, token, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context::at(Timestamp::parse("2026-12-01T00:00:00Z").expect("time"), Id::parse("production").expect("id"))
    }

    fn new(name: &str) -> NewToken {
        NewToken { name: name.into(), role: Role::Ingest, projects: None, expires_at: None }
    }

    #[test]
    fn a_token_needs_a_fresh_name_a_future_expiry_and_a_real_scope() {
        assert!(create(new("ci"), false, &ctx()).is_ok());
        let field = |r: Result<Transition<Token>, Rejection>| match r {
            Err(Rejection::Invalid { field, .. }) => field,
            Err(Rejection::Conflict { field: Some(field), .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(create(new(""), false, &ctx())), "name");
        assert_eq!(field(create(new(" ci"), false, &ctx())), "name");
        assert_eq!(field(create(new(&"n".repeat(101)), false, &ctx())), "name");
        assert!(create(new(&"n".repeat(100)), false, &ctx()).is_ok());
        assert_eq!(field(create(new("ci"), true, &ctx())), "name");
        let past = NewToken { expires_at: Some(ctx().now), ..new("ci") };
        assert_eq!(field(create(past, false, &ctx())), "expires_at");
        let none = NewToken { projects: Some(vec![]), ..new("ci") };
        assert_eq!(field(create(none, false, &ctx())), "projects");
        let admin = NewToken { role: Role::Admin, projects: Some(vec![Id::parse("api").expect("id")]), ..new("ci") };
        assert_eq!(field(create(admin, false, &ctx())), "projects");
    }
}
