//! Deployments, incidents and their state changes: pure code, no I/O.
//!
//! Every state change is decided here from what is stored plus the command,
//! and comes back as a [`Transition`]: what to write and which
//! [`DomainEvent`]s happened. The store applies it in one transaction; the
//! metrics module records the events after commit. Keeping the rules here
//! means the HTTP handlers, the demo data generator and the tests all go
//! through the same decisions.

pub mod deployment;
mod id;
pub mod incident;

pub use deployment::{Deployment, DeploymentStatus};
pub use id::Id;
pub use incident::{Incident, IncidentStatus};

use std::sync::Arc;

use crate::teams::TeamConfig;
use crate::time::Timestamp;

/// Longest id, project, environment or username accepted.
pub const MAX_ID_CHARS: usize = 200;
/// Longest incident title accepted.
pub const MAX_TITLE_CHARS: usize = 2000;

/// Why a command was refused. Maps one to one onto 400, 409 and 404.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
}

impl Rejection {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.to_string(), message: message.into() }
    }
}

/// What the store must do with the decided value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Insert,
    Update,
    /// A retry or replay: nothing changes, nothing is recorded.
    Keep,
}

#[derive(Debug, Clone)]
pub struct Transition<T> {
    pub write: Write,
    pub value: T,
    pub events: Vec<DomainEvent>,
}

impl<T> Transition<T> {
    fn keep(value: T) -> Self {
        Self { write: Write::Keep, value, events: Vec::new() }
    }
}

/// The bounded attributes a metric data point carries: never ids or people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dims {
    pub project_id: String,
    pub environment: String,
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
    },
    DeploymentFailed(Dims),
    /// A deployment got its first linked incident.
    ChangeFailure(Dims),
    IncidentCreated {
        dims: Dims,
        time_to_detect_seconds: Option<f64>,
    },
    IncidentRestored {
        dims: Dims,
        time_to_restore_seconds: f64,
    },
    IncidentFinished(Dims),
}

/// What a decision needs besides the stored record and the command: the
/// clock and a snapshot of the settings, taken once per command so one
/// decision never sees two versions of the team config.
#[derive(Debug, Clone)]
pub struct Context {
    pub now: Timestamp,
    /// DEPLOYMENT_ENVIRONMENT: the environment of events that name none.
    pub default_environment: String,
    /// The team config in force; teams are resolved only when something is created.
    pub teams: Arc<TeamConfig>,
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
        Err(Rejection::Conflict(format!("{what} `{id}` already exists with a different {}", self.0.join(", "))))
    }
}
