//! Roles, what each route needs, and who is asking ([`Principal`]).

use std::sync::Arc;

use crate::domain::Scope;

pub use crate::domain::token::Role;

impl Role {
    pub fn grants(self, need: Need) -> bool {
        match need {
            Need::Ingest => matches!(self, Self::Ingest | Self::Write | Self::Admin),
            Need::IngestOrRead => true,
            Need::Read => matches!(self, Self::Read | Self::Write | Self::Admin),
            Need::Write => matches!(self, Self::Write | Self::Admin),
            Need::Admin => self == Self::Admin,
        }
    }
}

/// What a route needs of the caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reporting deployments and incidents.
    Ingest,
    /// Reading deployments and incidents back: a pipeline needs the last
    /// deployed sha, a viewer the lists.
    IngestOrRead,
    /// The insights, the service's own documents, the metrics.
    Read,
    /// Corrections and deletions.
    Write,
    /// Tokens, the audit log, the team config, erasure.
    Admin,
}

impl Need {
    /// As the refusal says it: "GET /dora needs read".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::IngestOrRead => "ingest or read",
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

/// Who is asking, once authenticated: what they are called in `created_by`
/// and the audit log, their role and the projects they may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// A token's name, `settings`, `sso:<email or subject>` or `webhook:<source>`.
    pub actor: Arc<str>,
    pub role: Role,
    pub scope: Scope,
}

impl Principal {
    /// The credentials from settings (a token or basic auth), and
    /// EM_METRICS_NO_AUTH: admin of every project.
    pub fn settings() -> Self {
        Self { actor: Arc::from("settings"), role: Role::Admin, scope: Scope::All }
    }

    /// A webhook delivery its sender signed: it reports for every project.
    pub fn webhook(source: &str) -> Self {
        Self { actor: Arc::from(format!("webhook:{source}")), role: Role::Ingest, scope: Scope::All }
    }

    /// What a refusal of `method route` says: the role it has and the role it needs.
    pub fn refusal(&self, method: &str, route: &str, need: Need) -> String {
        format!("this token's role is {}; {method} {route} needs {}", self.role.as_str(), need.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_grants_what_the_issue_lists_and_nothing_more() {
        use Need::*;
        let table = [
            (Role::Ingest, [true, true, false, false, false]),
            (Role::Read, [false, true, true, false, false]),
            (Role::Write, [true, true, true, true, false]),
            (Role::Admin, [true, true, true, true, true]),
        ];
        for (role, expected) in table {
            let got: Vec<bool> = [Ingest, IngestOrRead, Read, Write, Admin].iter().map(|n| role.grants(*n)).collect();
            assert_eq!(got, expected, "{role:?}");
        }
        let p = Principal { actor: "ci".into(), role: Role::Ingest, scope: Scope::All };
        assert_eq!(p.refusal("GET", "/dora", Read), "this token's role is ingest; GET /dora needs read");
    }
}
