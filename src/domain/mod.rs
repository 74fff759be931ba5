//! Deployments, incidents and their state changes: pure code, no I/O.
//!
//! Every state change is decided here from what is stored plus the command,
//! and comes back as a [`Transition`]: what to write and which
//! [`DomainEvent`]s happened. The store applies it in one transaction; the
//! metrics module records the events after commit. Keeping the rules here
//! means the HTTP handlers, the demo data generator and the tests all go
//! through the same decisions.

pub mod delivery;
pub mod deployment;
mod id;
pub mod incident;
pub mod pull_request;
mod scope;
pub mod token;

pub use deployment::{Commit, Deployment, DeploymentKind, DeploymentStatus};
pub use id::{Id, Username};
pub use incident::{DeploymentLink, Incident, IncidentStatus};
pub use pull_request::{PullRequest, PullRequestState, ReviewState};
pub use scope::Scope;

use std::sync::Arc;

use crate::teams::TeamConfig;
use crate::time::Timestamp;

/// Longest id, project, environment or username accepted.
pub const MAX_ID_CHARS: usize = 200;
/// Longest incident title accepted.
pub const MAX_TITLE_CHARS: usize = 2000;
/// Most commits one deployment may list.
pub const MAX_COMMITS: usize = 10_000;

/// Why a command was refused. Maps one to one onto 400, 409 and 404.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{message}")]
    Invalid { field: String, message: String },
    /// The record exists and disagrees; `field` names the request field at
    /// fault when there is one (the first that differs).
    #[error("{message}")]
    Conflict { field: Option<String>, message: String },
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (a project outside its token's scope).
    #[error("{message}")]
    Forbidden { field: Option<String>, message: String },
}

impl Rejection {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_string(), message: message.into() }
    }

    /// A conflict with the record's state rather than one field.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict { field: None, message: message.into() }
    }

    /// A conflict over the value of `field`.
    pub fn conflict_on(field: &str, message: impl Into<String>) -> Self {
        Self::Conflict { field: Some(field.to_string()), message: message.into() }
    }
}

/// What the store must do with the decided value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Insert,
    Update,
    /// A retry or replay: nothing changes, nothing is recorded.
    Keep,
    Delete,
}

#[derive(Debug, Clone)]
pub struct Transition<T> {
    pub write: Write,
    pub value: T,
    pub events: Vec<DomainEvent>,
    /// Writes to other records that this decision implies.
    pub effects: Vec<Effect>,
}

impl<T> Transition<T> {
    fn new(write: Write, value: T, events: Vec<DomainEvent>) -> Self {
        Self { write, value, events, effects: Vec::new() }
    }

    /// Nothing changes (a retry or a replay).
    pub fn keep(value: T) -> Self {
        Self::new(Write::Keep, value, Vec::new())
    }

    /// The same decision with its value turned into something else (the
    /// answer a client gets): what to write and the events stay.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Transition<U> {
        Transition { write: self.write, value: f(self.value), events: self.events, effects: self.effects }
    }
}

/// A write to a record other than the one a command is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A deployment's change-failure markers changed (an incident was linked
    /// to it or unlinked from it, or it was rolled back).
    MarkDeployment { id: Id, marks: FailureMarks },
    /// A deployment that restores this incident went live.
    RestoreIncident { id: Id, restored_at: Timestamp },
    /// The commits a new deployment lists, kept for its deploy and for retries.
    RecordCommits { deployment_id: Id, commits: Vec<Commit> },
    /// The changes a deployment shipped first to its project and environment.
    ShipChanges(Vec<Change>),
    /// A review of a pull request, kept whoever gave it (the author's too).
    RecordReview { pull_request_id: Id, reviewer: Option<Username>, state: ReviewState, at: Timestamp, by_author: bool },
    /// A production deployment went live: it ships these pull requests
    /// (merged as one of its commits, and shipped by no earlier one).
    LinkPullRequests { ids: Vec<Id>, shipment: pull_request::Shipment },
}

/// A commit shipped for the first time to a project and environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub deployment_id: Id,
    /// None for a deployment without commits: it counts as one change.
    pub sha: Option<Id>,
    pub dims: Dims,
    pub committed_at: Timestamp,
    pub deployed_at: Timestamp,
}

impl Change {
    /// deployed_at − committed_at; a commit dated after its deploy counts as 0.
    pub fn lead_time_ms(&self) -> i64 {
        (self.deployed_at.millis() - self.committed_at.millis()).max(0)
    }
}

/// Why a deployment counts as a failed change, as stored on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureMarks {
    /// An incident is linked to it, or it was rolled back.
    pub change_failure: bool,
    /// A later rollback put older code back over it.
    pub rolled_back: bool,
    /// `change_failure_count` was recorded for it: once per deployment, ever,
    /// because an exported counter cannot go down again.
    pub counted: bool,
}

impl FailureMarks {
    /// The markers once `links` incidents point to the deployment, and the
    /// event when it became a change failure for the first time ever.
    pub fn settle(self, links: u64, dims: impl FnOnce() -> Dims) -> (Self, Option<DomainEvent>) {
        let change_failure = self.rolled_back || links > 0;
        let first = change_failure && !self.counted;
        let marks = Self { change_failure, rolled_back: self.rolled_back, counted: self.counted || change_failure };
        (marks, first.then(|| DomainEvent::ChangeFailure(dims())))
    }
}

/// The bounded attributes a metric data point carries: never ids or people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims {
    pub project_id: Id,
    pub environment: Id,
    pub team_id: Option<String>,
}

/// The bounded attributes of a pull request's data points: no environment
/// until a production deployment ships it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestDims {
    pub project_id: Id,
    pub team_id: Option<String>,
}

/// A state change that happened, reported once, after commit.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainEvent {
    DeploymentStarted(Dims),
    DeploymentDeployed {
        dims: Dims,
        lead_time_seconds: f64,
        duration_seconds: f64,
        /// The lead time of each change it shipped first (per-change lead time).
        change_lead_times: Vec<f64>,
    },
    /// A rework deployment (rollback, hotfix or incident fix) went live.
    DeploymentRework(Dims),
    DeploymentRollback(Dims),
    DeploymentFailed(Dims),
    /// A deployment became a change failure for the first time ever.
    ChangeFailure(Dims),
    /// An incident linked to a deployed deployment was restored:
    /// restored_at − that deployment's deployed_at.
    FailedDeploymentRecovery {
        dims: Dims,
        seconds: f64,
    },
    IncidentCreated {
        dims: Dims,
        time_to_detect_seconds: Option<f64>,
    },
    IncidentRestored {
        dims: Dims,
        time_to_restore_seconds: f64,
    },
    IncidentFinished(Dims),
    PullRequestOpened(PullRequestDims),
    /// The first review by someone other than the author: ready → review.
    PullRequestPickedUp {
        dims: PullRequestDims,
        pickup_seconds: f64,
    },
    PullRequestMerged {
        dims: PullRequestDims,
        coding_seconds: Option<f64>,
        review_seconds: Option<f64>,
        /// additions + deletions, when both are known.
        size: Option<f64>,
    },
    /// A production deployment shipped it (in `dims.environment`).
    PullRequestShipped {
        dims: Dims,
        deploy_seconds: f64,
        cycle_seconds: f64,
    },
}

/// What a decision needs besides the stored record and the command: the
/// clock and a snapshot of the settings, taken once per command so one
/// decision never sees two versions of the team config.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: Timestamp,
    /// DEPLOYMENT_ENVIRONMENT: the environment of events that name none.
    pub default_environment: Id,
    /// The team config in force; teams are resolved only when something is created.
    pub teams: Arc<TeamConfig>,
    pub attribution: Attribution,
    /// EM_METRICS_MAX_CLOCK_SKEW: how far ahead of `now` a given time may be.
    pub max_clock_skew_ms: i64,
    /// EM_METRICS_STORE_USERNAMES: false resolves the team from a username
    /// and then drops it.
    pub store_usernames: bool,
    /// Who is asking: a token's name, `settings`, `sso:<email>` or
    /// `webhook:<source>`; kept as `created_by` on what they create.
    pub actor: Arc<str>,
    /// The projects the caller may see and change.
    pub scope: Scope,
}

/// The default of EM_METRICS_MAX_CLOCK_SKEW: one hour.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 3_600_000;

impl Context {
    /// Default settings: no teams, attribution over 24 hours in production,
    /// one hour of clock skew.
    pub fn at(now: Timestamp, default_environment: Id) -> Self {
        Self {
            now,
            default_environment,
            teams: Arc::default(),
            attribution: Attribution::default(),
            max_clock_skew_ms: DEFAULT_MAX_CLOCK_SKEW_MS,
            store_usernames: true,
            actor: Arc::from("settings"),
            scope: Scope::All,
        }
    }

    /// A time a client gave must not be further ahead of the server's clock
    /// than the allowed skew: a runner whose clock is wrong by days would
    /// otherwise record nonsense that no one notices.
    pub fn not_in_future(&self, field: &str, time: Timestamp) -> Result<(), Rejection> {
        let ahead = time.millis() - self.now.millis();
        if ahead > self.max_clock_skew_ms {
            return Err(Rejection::invalid(
                field,
                format!("{field} is {} in the future; check the runner's clock", human_duration(ahead)),
            ));
        }
        Ok(())
    }

    /// [`Context::not_in_future`] for an optional time.
    pub fn given(&self, field: &str, time: Option<Timestamp>) -> Result<(), Rejection> {
        time.map_or(Ok(()), |t| self.not_in_future(field, t))
    }
}

/// "2 days", "3 hours", "5 minutes": the largest whole unit.
fn human_duration(ms: i64) -> String {
    let (n, unit) = match ms / 1000 {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3_600 => (s / 3_600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// How an incident reported without a deployment is linked to one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// EM_METRICS_ATTRIBUTION_WINDOW: how long before an incident a
    /// deployment may have gone live to be linked; None turns attribution off.
    pub window_ms: Option<i64>,
    /// EM_METRICS_PRODUCTION_ENVIRONMENTS: where an incident that names no
    /// environment looks (besides DEPLOYMENT_ENVIRONMENT).
    pub production_environments: Arc<[String]>,
}

impl Attribution {
    /// The production environments: EM_METRICS_PRODUCTION_ENVIRONMENTS and
    /// DEPLOYMENT_ENVIRONMENT (where events that name no environment go).
    /// What attribution searches and what the insights count by default.
    pub fn production(&self, default_environment: &Id) -> Vec<String> {
        let mut all = self.production_environments.to_vec();
        if !all.iter().any(|e| default_environment == e) {
            all.push(default_environment.to_string());
        }
        all
    }
}

impl Default for Attribution {
    fn default() -> Self {
        Self {
            window_ms: Some(24 * 3_600_000),
            production_environments: Arc::from(vec!["production".to_string(), "prod".to_string()]),
        }
    }
}

/// A stored name (`"deployed"`, `"rollback"`, …) read back as its enum, by
/// the same serde names the API uses, so the two cannot drift apart.
pub(crate) fn from_name<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(text)).ok()
}

/// A field that creating a record needs; `when` finishes the sentence
/// ("" or " when create_if_not_exists is true").
fn required<T>(field: &str, value: Option<T>, when: &str) -> Result<T, Rejection> {
    value.ok_or_else(|| Rejection::invalid(field, format!("{field} is required{when}")))
}

/// `later` must not be before `earlier`; `field` names the later one.
fn not_before(field: &str, later: Timestamp, earlier_name: &str, earlier: Timestamp) -> Result<(), Rejection> {
    if later < earlier {
        return Err(Rejection::invalid(field, format!("{field} ({later}) is before {earlier_name} ({earlier})")));
    }
    Ok(())
}

/// Collects the names of fields whose given value differs from the stored one,
/// so a 409 can say exactly what disagrees.
#[derive(Default)]
struct Differences(Vec<&'static str>);

impl Differences {
    fn check<T: PartialEq>(&mut self, name: &'static str, given: Option<&T>, stored: &T) {
        if given.is_some_and(|g| g != stored) {
            self.0.push(name);
        }
    }

    fn into_conflict(self, what: &str, id: &str) -> Result<(), Rejection> {
        if self.0.is_empty() {
            return Ok(());
        }
        let first = self.0[0];
        Err(Rejection::conflict_on(
            first,
            format!("{what} `{id}` already exists with a different {}", self.0.join(", ")),
        ))
    }
}
