//! The deployment life cycle: started, then deployed or failed.

use serde::{Deserialize, Serialize};

use super::{not_before, required, Context, Differences, Dims, DomainEvent, Id, Rejection, Transition, Write};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentStatus {
    Started,
    Deployed,
    Failed,
}

impl DeploymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Deployed => "deployed",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(text)).ok()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub project_id: String,
    /// Resolved from the team config when the deployment was created, and kept:
    /// history stays with the team it belonged to then.
    pub team_id: Option<String>,
    pub environment: String,
    pub username: Option<String>,
    pub status: DeploymentStatus,
    pub first_commit_at: Timestamp,
    pub deploy_start_at: Timestamp,
    pub deployed_at: Option<Timestamp>,
    /// When the pipeline reported the failure; not part of the JSON contract.
    pub failed_at: Option<Timestamp>,
}

impl Deployment {
    pub fn lead_time_seconds(&self) -> Option<f64> {
        self.deployed_at.map(|d| d.seconds_since(self.first_commit_at))
    }

    pub fn duration_seconds(&self) -> Option<f64> {
        self.deployed_at.map(|d| d.seconds_since(self.deploy_start_at))
    }

    pub fn dims(&self) -> Dims {
        Dims {
            project_id: self.project_id.clone(),
            environment: self.environment.clone(),
            team_id: self.team_id.clone(),
        }
    }

    fn deployed_event(&self) -> Option<DomainEvent> {
        Some(DomainEvent::DeploymentDeployed {
            dims: self.dims(),
            lead_time_seconds: self.lead_time_seconds()?,
            duration_seconds: self.duration_seconds()?,
        })
    }
}

/// A new deployment as a pipeline describes it. `id`, `project_id` and
/// `first_commit_at` are required; [`start`] says so.
#[derive(Debug, Clone, Default)]
pub struct NewDeployment {
    pub id: Option<Id>,
    pub project_id: Option<Id>,
    pub first_commit_at: Option<Timestamp>,
    pub deploy_start_at: Option<Timestamp>,
    pub username: Option<String>,
    pub environment: Option<Id>,
    pub deployed_at: Option<Timestamp>,
}

/// A [`NewDeployment`] with its required fields present.
struct Creation {
    id: Id,
    project_id: Id,
    first_commit_at: Timestamp,
    rest: NewDeployment,
}

/// `POST /deployments`: create, or accept an identical retry.
pub fn start(
    existing: Option<Deployment>,
    mut cmd: NewDeployment,
    ctx: &Context,
) -> Result<Transition<Deployment>, Rejection> {
    let id = required("id", cmd.id.take(), "")?;
    let project_id = required("project_id", cmd.project_id.take(), "")?;
    let first_commit_at = required("first_commit_at", cmd.first_commit_at.take(), "")?;
    if let Some(stored) = existing {
        let mut diff = Differences::default();
        diff.check("project_id", Some(&project_id.into_string()), &stored.project_id);
        diff.check("first_commit_at", Some(&first_commit_at), &stored.first_commit_at);
        diff.check("deploy_start_at", cmd.deploy_start_at.as_ref(), &stored.deploy_start_at);
        diff.check("username", cmd.username.as_ref(), &stored.username.clone().unwrap_or_default());
        diff.check("environment", cmd.environment.map(Id::into_string).as_ref(), &stored.environment);
        if let Some(given) = cmd.deployed_at {
            if stored.deployed_at != Some(given) {
                diff.0.push("deployed_at");
            }
        }
        diff.into_conflict("deployment", &stored.id)?;
        return Ok(Transition::keep(stored));
    }
    create(Creation { id, project_id, first_commit_at, rest: cmd }, ctx)
}

fn create(new: Creation, ctx: &Context) -> Result<Transition<Deployment>, Rejection> {
    let Creation { id, project_id, first_commit_at, rest: cmd } = new;
    // A single-call deployment reported after the fact (a backfill) started no
    // later than it finished; defaulting its start to "now" would put the start
    // after the end.
    let deploy_start_at = cmd.deploy_start_at.unwrap_or_else(|| cmd.deployed_at.map_or(ctx.now, |d| d.min(ctx.now)));
    let mut deployment = Deployment {
        team_id: ctx.teams.resolve(&project_id, cmd.username.as_deref()),
        id: id.into_string(),
        project_id: project_id.into_string(),
        environment: cmd.environment.map_or_else(|| ctx.default_environment.clone(), Id::into_string),
        username: cmd.username,
        status: DeploymentStatus::Started,
        first_commit_at,
        deploy_start_at,
        deployed_at: None,
        failed_at: None,
    };
    let mut events = vec![DomainEvent::DeploymentStarted(deployment.dims())];
    if let Some(deployed_at) = cmd.deployed_at {
        events.extend(deploy(&mut deployment, deployed_at)?);
    }
    Ok(Transition { write: Write::Insert, value: deployment, events })
}

fn deploy(d: &mut Deployment, deployed_at: Timestamp) -> Result<Option<DomainEvent>, Rejection> {
    not_before("deployed_at", deployed_at, "first_commit_at", d.first_commit_at)?;
    not_before("deployed_at", deployed_at, "deploy_start_at", d.deploy_start_at)?;
    d.status = DeploymentStatus::Deployed;
    d.deployed_at = Some(deployed_at);
    Ok(d.deployed_event())
}

/// `POST /deployments/{id}/deployed`.
#[derive(Debug, Clone, Default)]
pub struct MarkDeployed {
    pub deployed_at: Option<Timestamp>,
    pub create_if_not_exists: bool,
    pub project_id: Option<Id>,
    pub first_commit_at: Option<Timestamp>,
    pub deploy_start_at: Option<Timestamp>,
    pub username: Option<String>,
    pub environment: Option<Id>,
}

pub fn mark_deployed(
    id: &Id,
    existing: Option<Deployment>,
    cmd: MarkDeployed,
    ctx: &Context,
) -> Result<Transition<Deployment>, Rejection> {
    let Some(mut stored) = existing else {
        if !cmd.create_if_not_exists {
            return Err(Rejection::NotFound(format!(
                "deployment `{id}` not found (send \"create_if_not_exists\": true to create it)"
            )));
        }
        const WHEN: &str = " when create_if_not_exists is true";
        let deployed_at = cmd.deployed_at.unwrap_or(ctx.now);
        let creation = Creation {
            id: id.clone(),
            project_id: required("project_id", cmd.project_id, WHEN)?,
            first_commit_at: required("first_commit_at", cmd.first_commit_at, WHEN)?,
            rest: NewDeployment {
                deploy_start_at: Some(cmd.deploy_start_at.unwrap_or(deployed_at)),
                username: cmd.username,
                environment: cmd.environment,
                deployed_at: Some(deployed_at),
                ..NewDeployment::default()
            },
        };
        return create(creation, ctx);
    };
    match stored.status {
        DeploymentStatus::Started => {
            let event = deploy(&mut stored, cmd.deployed_at.unwrap_or(ctx.now))?;
            Ok(Transition { write: Write::Update, value: stored, events: event.into_iter().collect() })
        }
        DeploymentStatus::Deployed => match cmd.deployed_at {
            Some(given) if Some(given) != stored.deployed_at => Err(Rejection::Conflict(format!(
                "deployment `{id}` was already deployed at {}",
                stored.deployed_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            ))),
            _ => Ok(Transition::keep(stored)),
        },
        DeploymentStatus::Failed => {
            Err(Rejection::Conflict(format!("deployment `{id}` has failed and cannot be deployed")))
        }
    }
}

/// `POST /deployments/{id}/failed`.
pub fn mark_failed(
    id: &Id,
    existing: Option<Deployment>,
    date: Option<Timestamp>,
    ctx: &Context,
) -> Result<Transition<Deployment>, Rejection> {
    let Some(mut stored) = existing else {
        return Err(Rejection::NotFound(format!("deployment `{id}` not found")));
    };
    match stored.status {
        DeploymentStatus::Failed => Ok(Transition::keep(stored)),
        DeploymentStatus::Deployed => {
            Err(Rejection::Conflict(format!("deployment `{id}` is already deployed and cannot fail")))
        }
        DeploymentStatus::Started => {
            let failed_at = match date {
                Some(date) => {
                    not_before("date", date, "deploy_start_at", stored.deploy_start_at)?;
                    date
                }
                // A start reported in the future (clock skew) must not make "now" invalid.
                None => ctx.now.max(stored.deploy_start_at),
            };
            stored.status = DeploymentStatus::Failed;
            stored.failed_at = Some(failed_at);
            let events = vec![DomainEvent::DeploymentFailed(stored.dims())];
            Ok(Transition { write: Write::Update, value: stored, events })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("valid time")
    }

    fn ctx() -> Context {
        Context { now: ts("2024-05-02T00:00:00Z"), default_environment: "NO_ENV".into(), teams: Default::default() }
    }

    fn id(text: &str) -> Id {
        Id::parse(text).expect("valid id")
    }

    fn new(name: &str) -> NewDeployment {
        NewDeployment {
            id: Some(id(name)),
            project_id: Some(id("api")),
            first_commit_at: Some(ts("2024-05-01T08:00:00Z")),
            deploy_start_at: Some(ts("2024-05-01T09:00:00Z")),
            ..NewDeployment::default()
        }
    }

    #[test]
    fn a_single_call_deployment_is_started_and_deployed_with_both_events() {
        let cmd = NewDeployment { deployed_at: Some(ts("2024-05-01T10:00:00Z")), ..new("d1") };
        let t = start(None, cmd, &ctx()).expect("ok");
        assert_eq!(t.write, Write::Insert);
        assert_eq!(t.value.status, DeploymentStatus::Deployed);
        assert_eq!(t.value.lead_time_seconds(), Some(7200.0));
        assert_eq!(t.value.duration_seconds(), Some(3600.0));
        assert_eq!(t.events.len(), 2);
    }

    #[test]
    fn a_backfilled_single_call_deployment_starts_when_it_was_deployed() {
        let cmd = NewDeployment {
            deploy_start_at: None,
            deployed_at: Some(ts("2024-03-01T10:00:00Z")),
            first_commit_at: Some(ts("2024-03-01T08:00:00Z")),
            ..new("d1")
        };
        let t = start(None, cmd, &ctx()).expect("ok");
        assert_eq!(t.value.deploy_start_at, ts("2024-03-01T10:00:00Z"));
    }

    #[test]
    fn a_retry_with_a_different_project_is_a_conflict_naming_the_field() {
        let stored = start(None, new("d1"), &ctx()).expect("ok").value;
        let retry = NewDeployment { project_id: Some(id("web")), ..new("d1") };
        match start(Some(stored), retry, &ctx()) {
            Err(Rejection::Conflict(m)) => assert!(m.contains("project_id"), "{m}"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    #[test]
    fn deploying_before_the_first_commit_is_rejected_on_deployed_at() {
        let stored = start(None, new("d1"), &ctx()).expect("ok").value;
        let cmd = MarkDeployed { deployed_at: Some(ts("2024-05-01T07:00:00Z")), ..Default::default() };
        match mark_deployed(&id("d1"), Some(stored), cmd, &ctx()) {
            Err(Rejection::Invalid { field, .. }) => assert_eq!(field, "deployed_at"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn deploying_twice_keeps_the_first_and_records_nothing() {
        let stored = start(None, new("d1"), &ctx()).expect("ok").value;
        let at = ts("2024-05-01T10:00:00Z");
        let cmd = MarkDeployed { deployed_at: Some(at), ..Default::default() };
        let first = mark_deployed(&id("d1"), Some(stored), cmd.clone(), &ctx()).expect("ok");
        let again = mark_deployed(&id("d1"), Some(first.value), cmd, &ctx()).expect("ok");
        assert_eq!(again.write, Write::Keep);
        assert!(again.events.is_empty());
    }
}
