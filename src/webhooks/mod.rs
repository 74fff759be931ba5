//! Native webhooks: what a delivery from GitHub, GitLab, PagerDuty,
//! incident.io or Alertmanager/Grafana means, as the same domain commands the
//! JSON API runs. Pure code: no I/O.
//!
//! A tour: [`signature`] checks who sent a delivery; one module per source
//! turns its JSON into [`Action`]s; the domain plans the commands they run
//! ([`crate::domain::delivery`]), the store runs them and `http::webhooks`
//! answers.

pub mod alertmanager;
pub mod github;
pub mod gitlab;
pub mod incident_io;
pub mod pagerduty;
pub mod signature;

use serde::de::DeserializeOwned;

pub use crate::domain::delivery::{
    Action, DeploymentChange, DeploymentStep, IncidentChange, IncidentStep, DELIVERY_LIFETIME_MS,
};
use crate::domain::{Commit, Id};
use crate::time::Timestamp;

/// Largest webhook body accepted: push payloads list many commits.
pub const MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Github,
    Gitlab,
    Pagerduty,
    IncidentIo,
    Alertmanager,
}

impl Source {
    /// The route segment, and the name deliveries are kept under.
    pub fn name(self) -> &'static str {
        match self {
            Self::Github => "github",
            Self::Gitlab => "gitlab",
            Self::Pagerduty => "pagerduty",
            Self::IncidentIo => "incident-io",
            Self::Alertmanager => "alertmanager",
        }
    }

    /// The setting that enables the source.
    pub fn setting(self) -> &'static str {
        match self {
            Self::Github => "EM_METRICS_GITHUB_WEBHOOK_SECRET",
            Self::Gitlab => "EM_METRICS_GITLAB_WEBHOOK_TOKEN",
            Self::Pagerduty => "EM_METRICS_PAGERDUTY_WEBHOOK_SECRET",
            Self::IncidentIo => "EM_METRICS_INCIDENT_IO_WEBHOOK_SECRET",
            // Always on: it is guarded by the API's own credentials.
            Self::Alertmanager => "EM_METRICS_TOKEN_AUTH",
        }
    }

    /// The headers that identify one delivery, first found wins.
    pub fn delivery_headers(self) -> &'static [&'static str] {
        match self {
            Self::Github => &["x-github-delivery"],
            Self::Gitlab => &["idempotency-key", "x-gitlab-event-uuid"],
            Self::Pagerduty => &["x-webhook-id"],
            Self::IncidentIo => &["webhook-id"],
            Self::Alertmanager => &[],
        }
    }
}

/// Why a payload maps to nothing: parsers stop at the first one with `?`,
/// and it becomes [`Action::Ignore`].
#[derive(Debug)]
pub struct Skip(pub String);

impl From<Skip> for Action {
    fn from(skip: Skip) -> Self {
        Action::Ignore(skip.0)
    }
}

pub(crate) fn skip(why: impl Into<String>) -> Skip {
    Skip(why.into())
}

/// A payload read straight from the body into `T` (no `Value` tree: push
/// payloads are large and mostly fields em-metrics does not use). A shape
/// that does not fit is a reason to ignore the delivery: the body was
/// checked to be JSON, so the sender should not retry it.
pub(crate) fn shape<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Skip> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| not_understood(what, e))
}

/// [`shape`] for a part of a payload already read as a `Value`.
pub(crate) fn shape_value<T: DeserializeOwned>(json: &serde_json::Value, what: &str) -> Result<T, Skip> {
    serde_path_to_error::deserialize(json).map_err(|e| not_understood(what, e))
}

fn not_understood(what: &str, e: serde_path_to_error::Error<serde_json::Error>) -> Skip {
    let path = e.path().to_string();
    let inner = e.into_inner().to_string();
    let inner = inner.split(" at line ").next().unwrap_or(&inner);
    skip(format!("not a {what} payload em-metrics understands: {path}: {inner}"))
}

/// An id, project or environment from a payload, checked like the JSON API's.
pub(crate) fn id(field: &str, text: impl Into<String>) -> Result<Id, Skip> {
    Id::parse(text.into()).map_err(|why| skip(format!("{field} {why}")))
}

/// A time from a payload.
pub(crate) fn time(field: &str, text: &str) -> Result<Timestamp, Skip> {
    Timestamp::parse(text).map_err(|why| skip(format!("{field}: {why}")))
}

/// A commit as both Git hosts list it in a push.
#[derive(serde::Deserialize)]
pub(crate) struct PushedCommit {
    id: String,
    timestamp: String,
}

/// A push of `commits` to `reference` in a Git host's `repository`: known
/// commits, unless it is not to a branch (a tag) or deletes the branch.
pub(crate) fn remember_push(
    host: &str,
    repository: &str,
    reference: &str,
    deleted: bool,
    commits: &[PushedCommit],
) -> Result<Action, Skip> {
    let Some(branch) = reference.strip_prefix("refs/heads/") else {
        return Ok(Action::ignore(format!("a push to {reference}, not to a branch")));
    };
    let (repository, branch) = (repository_key(host, repository), branch.to_string());
    if deleted {
        return Ok(Action::ForgetBranch { repository, branch });
    }
    let commits = commits
        .iter()
        .map(|c| {
            Ok(Commit { sha: id("commits[].id", &c.id)?, committed_at: time("commits[].timestamp", &c.timestamp)? })
        })
        .collect::<Result<Vec<_>, Skip>>()?;
    Ok(Action::RememberCommits { repository, branch, commits })
}

/// The known-commits key of a repository: the host and its path, lower-cased
/// (both hosts treat repository paths case-insensitively).
pub(crate) fn repository_key(host: &str, path: &str) -> String {
    format!("{host}:{}", path.to_lowercase())
}

/// A parser's result as the action to run.
pub(crate) fn settle(result: Result<Action, Skip>) -> Action {
    result.unwrap_or_else(Action::from)
}

/// A title from a payload, cut to the longest the API keeps: a long alert
/// summary is no reason to lose the incident.
pub(crate) fn title(text: Option<String>) -> Option<String> {
    text.map(|t| t.chars().take(crate::domain::MAX_TITLE_CHARS).collect())
}
