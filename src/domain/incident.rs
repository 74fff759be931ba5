//! The incident life cycle: in progress, restored, finished.

use serde::{Deserialize, Serialize};

use super::{
    not_before, required, Context, Differences, Dims, DomainEvent, Id, Rejection, Transition, Write, MAX_TITLE_CHARS,
};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    InProgress,
    Restored,
    Finished,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: String,
    pub project_id: String,
    pub team_id: Option<String>,
    pub environment: String,
    pub deployment_id: Option<String>,
    pub title: Option<String>,
    pub started_at: Timestamp,
    pub restored_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The linked deployment's `deployed_at`, read with the incident, for time to detect.
    pub deployment_deployed_at: Option<Timestamp>,
}

impl Incident {
    pub fn status(&self) -> IncidentStatus {
        if self.finished_at.is_some() {
            IncidentStatus::Finished
        } else if self.restored_at.is_some() {
            IncidentStatus::Restored
        } else {
            IncidentStatus::InProgress
        }
    }

    pub fn time_to_restore_seconds(&self) -> Option<f64> {
        self.restored_at.map(|r| r.seconds_since(self.started_at))
    }

    /// From the deployment going live to the incident starting. An incident
    /// that started before its deployment was live has no detection time.
    pub fn time_to_detect_seconds(&self) -> Option<f64> {
        let deployed_at = self.deployment_deployed_at?;
        (deployed_at <= self.started_at).then(|| self.started_at.seconds_since(deployed_at))
    }

    pub fn dims(&self) -> Dims {
        Dims {
            project_id: self.project_id.clone(),
            environment: self.environment.clone(),
            team_id: self.team_id.clone(),
        }
    }

    fn restored_event(&self) -> Option<DomainEvent> {
        Some(DomainEvent::IncidentRestored {
            dims: self.dims(),
            time_to_restore_seconds: self.time_to_restore_seconds()?,
        })
    }
}

/// `POST /incidents` as an incident tool describes it.
#[derive(Debug, Clone, Default)]
pub struct NewIncident {
    /// Given by the caller (then a repeat is a retry), or None for the store
    /// to pick the next free `incident_<project>_<n>`.
    pub id: Option<Id>,
    /// Required: see [`project_of`].
    pub project_id: Option<Id>,
    pub deployment_id: Option<Id>,
    /// Blank counts as none; at most [`MAX_TITLE_CHARS`] characters.
    pub title: Option<String>,
    pub environment: Option<Id>,
    pub started_at: Option<Timestamp>,
    pub restored_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// The deployment an incident points to, as far as the incident needs it.
#[derive(Debug, Clone)]
pub struct LinkedDeployment {
    pub id: String,
    pub project_id: String,
    pub team_id: Option<String>,
    pub environment: String,
    pub deployed_at: Option<Timestamp>,
    /// Whether other incidents already point to it (change failure counts once).
    pub has_incidents: bool,
}

/// The project of a new incident: required, and needed before anything else
/// (an incident without an id is numbered within its project).
pub fn project_of(cmd: &NewIncident) -> Result<&Id, Rejection> {
    required("project_id", cmd.project_id.as_ref(), "")
}

fn checked_title(title: Option<String>) -> Result<Option<String>, Rejection> {
    let title = title.filter(|t| !t.trim().is_empty());
    if title.as_ref().is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS) {
        return Err(Rejection::invalid("title", format!("title is longer than {MAX_TITLE_CHARS} characters")));
    }
    Ok(title)
}

pub fn open(
    id: String,
    existing: Option<Incident>,
    mut cmd: NewIncident,
    deployment: Option<LinkedDeployment>,
    ctx: &Context,
) -> Result<Transition<Incident>, Rejection> {
    let project_id = project_of(&cmd)?.clone().into_string();
    cmd.title = checked_title(cmd.title)?;
    if let Some(d) = &deployment {
        if d.project_id != project_id {
            return Err(Rejection::invalid(
                "deployment_id",
                format!("deployment `{}` belongs to project `{}`, not `{}`", d.id, d.project_id, project_id),
            ));
        }
    }
    // Finished implies restored: a tool that only reports the end still gives a restore time.
    let restored_at = cmd.restored_at.or(cmd.finished_at);

    if let Some(stored) = existing {
        let mut diff = Differences::default();
        diff.check("project_id", Some(&project_id), &stored.project_id);
        diff.check(
            "deployment_id",
            cmd.deployment_id.map(Id::into_string).as_ref(),
            &stored.deployment_id.clone().unwrap_or_default(),
        );
        diff.check("title", cmd.title.as_ref(), &stored.title.clone().unwrap_or_default());
        diff.check("environment", cmd.environment.map(Id::into_string).as_ref(), &stored.environment);
        diff.check("started_at", cmd.started_at.as_ref(), &stored.started_at);
        diff.check("restored_at", restored_at.map(Some).as_ref(), &stored.restored_at);
        diff.check("finished_at", cmd.finished_at.map(Some).as_ref(), &stored.finished_at);
        diff.into_conflict("incident", &stored.id)?;
        return Ok(Transition::keep(stored));
    }

    let started_at = cmd.started_at.unwrap_or(ctx.now);
    if let Some(r) = cmd.restored_at {
        not_before("restored_at", r, "started_at", started_at)?;
    }
    if let Some(f) = cmd.finished_at {
        not_before("finished_at", f, "started_at", started_at)?;
        if let Some(r) = cmd.restored_at {
            not_before("finished_at", f, "restored_at", r)?;
        }
    }
    let incident = Incident {
        // The deployment's team was resolved with its user; else the project's.
        team_id: deployment.as_ref().and_then(|d| d.team_id.clone()).or_else(|| ctx.teams.resolve(&project_id, None)),
        id,
        project_id,
        environment: cmd
            .environment
            .map(Id::into_string)
            .or_else(|| deployment.as_ref().map(|d| d.environment.clone()))
            .unwrap_or_else(|| ctx.default_environment.clone()),
        deployment_id: deployment.as_ref().map(|d| d.id.clone()),
        title: cmd.title,
        started_at,
        restored_at,
        finished_at: cmd.finished_at,
        deployment_deployed_at: deployment.as_ref().and_then(|d| d.deployed_at),
    };

    let mut events = vec![DomainEvent::IncidentCreated {
        dims: incident.dims(),
        time_to_detect_seconds: incident.time_to_detect_seconds(),
    }];
    if let Some(d) = deployment.as_ref().filter(|d| !d.has_incidents) {
        events.push(DomainEvent::ChangeFailure(Dims {
            project_id: d.project_id.clone(),
            environment: d.environment.clone(),
            team_id: d.team_id.clone(),
        }));
    }
    events.extend(incident.restored_event());
    if incident.finished_at.is_some() {
        events.push(DomainEvent::IncidentFinished(incident.dims()));
    }
    Ok(Transition { write: Write::Insert, value: incident, events })
}

/// `POST /incidents/{id}/restored`.
pub fn restore(
    id: &str,
    existing: Option<Incident>,
    date: Option<Timestamp>,
    ctx: &Context,
) -> Result<Transition<Incident>, Rejection> {
    let mut stored = existing.ok_or_else(|| not_found(id))?;
    if let Some(restored_at) = stored.restored_at {
        if date.is_some_and(|d| d != restored_at) {
            return Err(Rejection::Conflict(format!("incident `{id}` was already restored at {restored_at}")));
        }
        return Ok(Transition::keep(stored));
    }
    let restored_at = checked_date(date, ctx, stored.started_at)?;
    stored.restored_at = Some(restored_at);
    let events = stored.restored_event().into_iter().collect();
    Ok(Transition { write: Write::Update, value: stored, events })
}

/// `POST /incidents/{id}/finished`: finishing also restores an incident that was not.
pub fn finish(
    id: &str,
    existing: Option<Incident>,
    date: Option<Timestamp>,
    ctx: &Context,
) -> Result<Transition<Incident>, Rejection> {
    let mut stored = existing.ok_or_else(|| not_found(id))?;
    if stored.finished_at.is_some() {
        return Ok(Transition::keep(stored));
    }
    let earliest = stored.restored_at.unwrap_or(stored.started_at);
    let finished_at = checked_date(date, ctx, earliest)?;
    let mut events = Vec::new();
    if stored.restored_at.is_none() {
        stored.restored_at = Some(finished_at);
        events.extend(stored.restored_event());
    }
    stored.finished_at = Some(finished_at);
    events.push(DomainEvent::IncidentFinished(stored.dims()));
    Ok(Transition { write: Write::Update, value: stored, events })
}

/// A given date must not be before `earliest`; a defaulted "now" is moved up to
/// it, so a start reported in the future (clock skew) cannot make "now" invalid.
fn checked_date(date: Option<Timestamp>, ctx: &Context, earliest: Timestamp) -> Result<Timestamp, Rejection> {
    match date {
        Some(date) => {
            if date < earliest {
                return Err(Rejection::invalid(
                    "date",
                    format!("date ({date}) is before the incident's last recorded time ({earliest})"),
                ));
            }
            Ok(date)
        }
        None => Ok(ctx.now.max(earliest)),
    }
}

fn not_found(id: &str) -> Rejection {
    Rejection::NotFound(format!("incident `{id}` not found"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("valid time")
    }

    fn ctx() -> Context {
        let teams = crate::teams::TeamConfig::parse(r#"{"teams": {"from-project": {"projects": ["api"]}}}"#);
        Context {
            now: ts("2024-05-02T00:00:00Z"),
            default_environment: "NO_ENV".into(),
            teams: std::sync::Arc::new(teams.expect("valid")),
        }
    }

    fn id(text: &str) -> Id {
        Id::parse(text).expect("valid id")
    }

    fn new(name: &str) -> NewIncident {
        NewIncident {
            id: Some(id(name)),
            project_id: Some(id("api")),
            deployment_id: Some(id("d1")),
            started_at: Some(ts("2024-05-01T12:00:00Z")),
            ..NewIncident::default()
        }
    }

    fn deployment(has_incidents: bool) -> LinkedDeployment {
        LinkedDeployment {
            id: "d1".into(),
            project_id: "api".into(),
            team_id: Some("backend".into()),
            environment: "prod".into(),
            deployed_at: Some(ts("2024-05-01T10:00:00Z")),
            has_incidents,
        }
    }

    #[test]
    fn an_incident_takes_team_and_environment_from_its_deployment() {
        let t = open("i1".into(), None, new("i1"), Some(deployment(false)), &ctx()).expect("ok");
        assert_eq!(t.value.team_id.as_deref(), Some("backend"));
        assert_eq!(t.value.environment, "prod");
        assert_eq!(t.value.time_to_detect_seconds(), Some(7200.0));
        assert!(t.events.iter().any(|e| matches!(e, DomainEvent::ChangeFailure(_))));
    }

    #[test]
    fn a_second_incident_on_a_deployment_is_not_another_change_failure() {
        let t = open("i2".into(), None, new("i2"), Some(deployment(true)), &ctx()).expect("ok");
        assert!(!t.events.iter().any(|e| matches!(e, DomainEvent::ChangeFailure(_))));
    }

    #[test]
    fn created_finished_means_restored_at_the_same_time() {
        let cmd = NewIncident { finished_at: Some(ts("2024-05-01T13:00:00Z")), ..new("i1") };
        let t = open("i1".into(), None, cmd, None, &ctx()).expect("ok");
        assert_eq!(t.value.status(), IncidentStatus::Finished);
        assert_eq!(t.value.time_to_restore_seconds(), Some(3600.0));
        assert_eq!(t.value.team_id.as_deref(), Some("from-project"));
    }

    #[test]
    fn restoring_before_the_start_is_rejected_on_date() {
        let stored = open("i1".into(), None, new("i1"), None, &ctx()).expect("ok").value;
        match restore("i1", Some(stored), Some(ts("2024-05-01T11:00:00Z")), &ctx()) {
            Err(Rejection::Invalid { field, .. }) => assert_eq!(field, "date"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn finishing_an_unrestored_incident_restores_it_too() {
        let stored = open("i1".into(), None, new("i1"), None, &ctx()).expect("ok").value;
        let t = finish("i1", Some(stored), Some(ts("2024-05-01T15:00:00Z")), &ctx()).expect("ok");
        assert_eq!(t.value.restored_at, Some(ts("2024-05-01T15:00:00Z")));
        assert_eq!(t.events.len(), 2);
    }
}
