//! The incident life cycle (in progress, restored, finished), the deployment
//! it is linked to (given, or inferred), and corrections.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    not_before, required, Context, Differences, Dims, DomainEvent, Effect, FailureMarks, Id, Rejection, Transition,
    Write, MAX_TITLE_CHARS,
};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    InProgress,
    Restored,
    Finished,
}

/// How an incident got its deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentLink {
    /// The caller gave `deployment_id` (on creation or with PATCH).
    Explicit,
    /// The latest deployment of the project that went live within the
    /// attribution window before the incident started.
    Inferred,
}

impl DeploymentLink {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::Inferred => "inferred",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        super::from_name(text)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: Id,
    pub project_id: Id,
    pub team_id: Option<String>,
    pub environment: Id,
    pub deployment_id: Option<Id>,
    pub deployment_link: Option<DeploymentLink>,
    pub title: Option<String>,
    pub started_at: Timestamp,
    pub restored_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The linked deployment's `deployed_at`, read with the incident, for
    /// time to detect and failed deployment recovery time.
    pub deployment_deployed_at: Option<Timestamp>,
    /// Who reported it (None for incidents stored before this was kept).
    pub created_by: Option<String>,
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

    /// From the linked deployment going live to the incident being restored.
    /// None without a deployed deployment, or when it went live after the
    /// restore (then it cannot have caused the incident).
    pub fn failed_deployment_recovery_seconds(&self) -> Option<f64> {
        let (deployed_at, restored_at) = (self.deployment_deployed_at?, self.restored_at?);
        (deployed_at <= restored_at).then(|| restored_at.seconds_since(deployed_at))
    }

    pub fn dims(&self) -> Dims {
        Dims {
            project_id: self.project_id.clone(),
            environment: self.environment.clone(),
            team_id: self.team_id.clone(),
        }
    }

    /// The events of this incident having just been restored.
    pub fn restored_events(&self) -> Vec<DomainEvent> {
        let Some(time_to_restore_seconds) = self.time_to_restore_seconds() else { return Vec::new() };
        let mut events = vec![DomainEvent::IncidentRestored { dims: self.dims(), time_to_restore_seconds }];
        if let Some(seconds) = self.failed_deployment_recovery_seconds() {
            events.push(DomainEvent::FailedDeploymentRecovery { dims: self.dims(), seconds });
        }
        events
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

/// The deployment an incident points to (or is about to), as far as the
/// incident needs it.
#[derive(Debug, Clone)]
pub struct LinkedDeployment {
    pub id: Id,
    pub project_id: Id,
    pub team_id: Option<String>,
    pub environment: Id,
    pub deployed_at: Option<Timestamp>,
    pub marks: FailureMarks,
    /// Incidents other than this one that are linked to it.
    pub other_links: u64,
}

impl LinkedDeployment {
    fn dims(&self) -> Dims {
        Dims {
            project_id: self.project_id.clone(),
            environment: self.environment.clone(),
            team_id: self.team_id.clone(),
        }
    }

    /// This incident's link to it is counted (`linked`) or removed.
    fn settle(&self, linked: bool, t_events: &mut Vec<DomainEvent>, effects: &mut Vec<Effect>) {
        let (marks, event) = self.marks.settle(self.other_links + u64::from(linked), || self.dims());
        t_events.extend(event);
        if marks != self.marks {
            effects.push(Effect::MarkDeployment { id: self.id.clone(), marks });
        }
    }
}

/// The deployment a new incident is linked to, and how.
#[derive(Debug, Clone)]
pub enum Link {
    Explicit(LinkedDeployment),
    Inferred(LinkedDeployment),
}

/// The search that links an incident reported without a deployment: the
/// latest deployment of `project_id`, in one of `environments`, that went
/// live in `[earliest, latest]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributionQuery {
    pub project_id: Id,
    pub environments: Vec<String>,
    pub earliest: Timestamp,
    pub latest: Timestamp,
}

/// The project of a new incident: required, and needed before anything else
/// (an incident without an id is numbered within its project).
pub fn project_of(cmd: &NewIncident) -> Result<&Id, Rejection> {
    required("project_id", cmd.project_id.as_ref(), "")
}

/// Where to look for the deployment that caused a new incident that names
/// none; None when it names one or attribution is off. When the incident
/// names an environment only that one counts; else the production
/// environments and DEPLOYMENT_ENVIRONMENT.
pub fn attribution(cmd: &NewIncident, ctx: &Context) -> Result<Option<AttributionQuery>, Rejection> {
    let project_id = project_of(cmd)?;
    let Some(window_ms) = ctx.attribution.window_ms.filter(|_| cmd.deployment_id.is_none()) else {
        return Ok(None);
    };
    let latest = cmd.started_at.unwrap_or(ctx.now);
    let environments = match &cmd.environment {
        Some(e) => vec![e.to_string()],
        None => ctx.attribution.production(&ctx.default_environment),
    };
    Ok(Some(AttributionQuery {
        project_id: project_id.clone(),
        environments,
        earliest: Timestamp::from_millis(latest.millis() - window_ms),
        latest,
    }))
}

fn checked_title(title: Option<String>) -> Result<Option<String>, Rejection> {
    let title = title.filter(|t| !t.trim().is_empty());
    if title.as_ref().is_some_and(|t| t.chars().count() > MAX_TITLE_CHARS) {
        return Err(Rejection::invalid("title", format!("title is longer than {MAX_TITLE_CHARS} characters")));
    }
    Ok(title)
}

/// The linked deployment is the incident's project's. One of a project the
/// caller may not see is named as missing, not as another project's.
fn same_project(d: &LinkedDeployment, project_id: &Id, ctx: &Context) -> Result<(), Rejection> {
    if !ctx.scope.allows(&d.project_id) {
        return Err(Rejection::invalid("deployment_id", format!("deployment `{}` does not exist", d.id)));
    }
    if &d.project_id != project_id {
        return Err(Rejection::invalid(
            "deployment_id",
            format!("deployment `{}` belongs to project `{}`, not `{project_id}`", d.id, d.project_id),
        ));
    }
    Ok(())
}

/// Restored, finished and started in order; each message names the field.
fn check_times(
    started_at: Timestamp,
    restored_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
) -> Result<(), Rejection> {
    if let Some(r) = restored_at {
        not_before("restored_at", r, "started_at", started_at)?;
    }
    if let Some(f) = finished_at {
        not_before("finished_at", f, "started_at", started_at)?;
        if let Some(r) = restored_at {
            not_before("finished_at", f, "restored_at", r)?;
        }
    }
    Ok(())
}

pub fn open(
    id: Id,
    existing: Option<Incident>,
    mut cmd: NewIncident,
    link: Option<Link>,
    ctx: &Context,
) -> Result<Transition<Incident>, Rejection> {
    let project_id = project_of(&cmd)?.clone();
    ctx.scope.check_write("project_id", &project_id)?;
    cmd.title = checked_title(cmd.title)?;
    ctx.given("started_at", cmd.started_at)?;
    ctx.given("restored_at", cmd.restored_at)?;
    ctx.given("finished_at", cmd.finished_at)?;
    let (deployment, how) = match link {
        None => (None, None),
        Some(Link::Explicit(d)) => (Some(d), Some(DeploymentLink::Explicit)),
        Some(Link::Inferred(d)) => (Some(d), Some(DeploymentLink::Inferred)),
    };
    if let Some(d) = &deployment {
        same_project(d, &project_id, ctx)?;
    }
    // Finished implies restored: a tool that only reports the end still gives a restore time.
    let restored_at = cmd.restored_at.or(cmd.finished_at);

    if let Some(stored) = existing {
        let mut diff = Differences::default();
        diff.check("project_id", Some(&project_id), &stored.project_id);
        diff.check("deployment_id", cmd.deployment_id.as_ref().map(Some).as_ref(), &stored.deployment_id.as_ref());
        diff.check("title", cmd.title.as_ref(), &stored.title.clone().unwrap_or_default());
        diff.check("environment", cmd.environment.as_ref(), &stored.environment);
        diff.check("started_at", cmd.started_at.as_ref(), &stored.started_at);
        diff.check("restored_at", restored_at.map(Some).as_ref(), &stored.restored_at);
        diff.check("finished_at", cmd.finished_at.map(Some).as_ref(), &stored.finished_at);
        diff.into_conflict("incident", &stored.id)?;
        return Ok(Transition::keep(stored));
    }

    let started_at = cmd.started_at.unwrap_or(ctx.now);
    check_times(started_at, cmd.restored_at, cmd.finished_at)?;
    let incident = Incident {
        // The deployment's team was resolved with its user; else the project's.
        team_id: deployment.as_ref().and_then(|d| d.team_id.clone()).or_else(|| ctx.teams.resolve(&project_id, None)),
        id,
        project_id,
        environment: cmd
            .environment
            .or_else(|| deployment.as_ref().map(|d| d.environment.clone()))
            .unwrap_or_else(|| ctx.default_environment.clone()),
        deployment_id: deployment.as_ref().map(|d| d.id.clone()),
        deployment_link: how,
        title: cmd.title,
        started_at,
        restored_at,
        finished_at: cmd.finished_at,
        deployment_deployed_at: deployment.as_ref().and_then(|d| d.deployed_at),
        created_by: Some(ctx.actor.to_string()),
    };

    let mut events = vec![DomainEvent::IncidentCreated {
        dims: incident.dims(),
        time_to_detect_seconds: incident.time_to_detect_seconds(),
    }];
    let mut effects = Vec::new();
    if let Some(d) = &deployment {
        d.settle(true, &mut events, &mut effects);
    }
    events.extend(incident.restored_events());
    if incident.finished_at.is_some() {
        events.push(DomainEvent::IncidentFinished(incident.dims()));
    }
    Ok(Transition { write: Write::Insert, value: incident, events, effects })
}

/// `POST /incidents/{id}/restored`.
pub fn restore(
    id: &Id,
    existing: Option<Incident>,
    date: Option<Timestamp>,
    ctx: &Context,
) -> Result<Transition<Incident>, Rejection> {
    let mut stored = visible(existing, ctx).ok_or_else(|| not_found(id))?;
    if let Some(restored_at) = stored.restored_at {
        if date.is_some_and(|d| d != restored_at) {
            return Err(Rejection::conflict_on(
                "date",
                format!("incident `{id}` was already restored at {restored_at}"),
            ));
        }
        return Ok(Transition::keep(stored));
    }
    let restored_at = checked_date(date, ctx, stored.started_at)?;
    stored.restored_at = Some(restored_at);
    let events = stored.restored_events();
    Ok(Transition::new(Write::Update, stored, events))
}

/// `POST /incidents/{id}/finished`: finishing also restores an incident that was not.
pub fn finish(
    id: &Id,
    existing: Option<Incident>,
    date: Option<Timestamp>,
    ctx: &Context,
) -> Result<Transition<Incident>, Rejection> {
    let mut stored = visible(existing, ctx).ok_or_else(|| not_found(id))?;
    if stored.finished_at.is_some() {
        return Ok(Transition::keep(stored));
    }
    let earliest = stored.restored_at.unwrap_or(stored.started_at);
    let finished_at = checked_date(date, ctx, earliest)?;
    let mut events = Vec::new();
    if stored.restored_at.is_none() {
        stored.restored_at = Some(finished_at);
        events.extend(stored.restored_events());
    }
    stored.finished_at = Some(finished_at);
    events.push(DomainEvent::IncidentFinished(stored.dims()));
    Ok(Transition::new(Write::Update, stored, events))
}

/// `PATCH /incidents/{id}`: what a person corrects by hand.
#[derive(Debug, Clone, Default)]
pub struct Correction {
    /// `Some(Some(id))` links the deployment explicitly; `Some(None)` unlinks
    /// ("not caused by a deployment"); None leaves the link as it is.
    pub deployment_id: Option<Option<Id>>,
    pub title: Option<String>,
    pub started_at: Option<Timestamp>,
    pub restored_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// The deployments a correction touches, read by the store.
#[derive(Debug, Clone, Default)]
pub struct Relink {
    /// The deployment the incident is linked to now.
    pub old: Option<LinkedDeployment>,
    /// The deployment the correction names, when it names one.
    pub new: Option<LinkedDeployment>,
}

pub fn correct(
    id: &Id,
    existing: Option<Incident>,
    cmd: Correction,
    relink: Relink,
    ctx: &Context,
) -> Result<Transition<Incident>, Rejection> {
    let stored = visible(existing, ctx).ok_or_else(|| not_found(id))?;
    ctx.given("started_at", cmd.started_at)?;
    ctx.given("restored_at", cmd.restored_at)?;
    ctx.given("finished_at", cmd.finished_at)?;
    let mut next = stored.clone();
    if let Some(title) = cmd.title {
        next.title = checked_title(Some(title))?;
    }
    next.started_at = cmd.started_at.unwrap_or(stored.started_at);
    next.finished_at = cmd.finished_at.or(stored.finished_at);
    next.restored_at = cmd.restored_at.or(stored.restored_at).or(cmd.finished_at);
    check_times(next.started_at, next.restored_at, next.finished_at)?;

    let mut events = Vec::new();
    let mut effects = Vec::new();
    if let Some(wanted) = cmd.deployment_id {
        if let Some(new) = &relink.new {
            same_project(new, &next.project_id, ctx)?;
        }
        if wanted != stored.deployment_id {
            if let Some(old) = &relink.old {
                old.settle(false, &mut events, &mut effects);
            }
            if let Some(new) = &relink.new {
                new.settle(true, &mut events, &mut effects);
            }
            next.deployment_deployed_at = relink.new.as_ref().and_then(|d| d.deployed_at);
        }
        next.deployment_link = wanted.is_some().then_some(DeploymentLink::Explicit);
        next.deployment_id = wanted;
    }
    if stored.restored_at.is_none() && next.restored_at.is_some() {
        events.extend(next.restored_events());
    }
    if stored.finished_at.is_none() && next.finished_at.is_some() {
        events.push(DomainEvent::IncidentFinished(next.dims()));
    }
    let write = if next == stored { Write::Keep } else { Write::Update };
    Ok(Transition { write, value: next, events, effects })
}

/// `DELETE /incidents/{id}`: its deployment may stop being a change failure
/// (the exported counter cannot go down; `/dora` follows).
pub fn remove(
    id: &Id,
    existing: Option<Incident>,
    linked: Option<LinkedDeployment>,
    ctx: &Context,
) -> Result<Transition<Incident>, Rejection> {
    let stored = visible(existing, ctx).ok_or_else(|| not_found(id))?;
    let mut events = Vec::new();
    let mut effects = Vec::new();
    if let Some(d) = &linked {
        d.settle(false, &mut events, &mut effects);
    }
    Ok(Transition { write: Write::Delete, value: stored, events, effects })
}

/// A given date must not be before `earliest`; a defaulted "now" is moved up to
/// it, so a start reported in the future (clock skew) cannot make "now" invalid.
fn checked_date(date: Option<Timestamp>, ctx: &Context, earliest: Timestamp) -> Result<Timestamp, Rejection> {
    match date {
        Some(date) => {
            ctx.not_in_future("date", date)?;
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

/// A stored incident as far as the caller may know it exists: another
/// project's does not, for a caller limited to projects.
fn visible(existing: Option<Incident>, ctx: &Context) -> Option<Incident> {
    existing.filter(|i| ctx.scope.allows(&i.project_id))
}

fn not_found(id: &Id) -> Rejection {
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
            teams: std::sync::Arc::new(teams.expect("valid")),
            ..Context::at(ts("2024-05-02T00:00:00Z"), id("NO_ENV"))
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

    fn deployment(other_links: u64, counted: bool) -> LinkedDeployment {
        LinkedDeployment {
            id: id("d1"),
            project_id: id("api"),
            team_id: Some("backend".into()),
            environment: id("prod"),
            deployed_at: Some(ts("2024-05-01T10:00:00Z")),
            marks: FailureMarks { change_failure: other_links > 0, rolled_back: false, counted },
            other_links,
        }
    }

    fn change_failures(t: &Transition<Incident>) -> usize {
        t.events.iter().filter(|e| matches!(e, DomainEvent::ChangeFailure(_))).count()
    }

    #[test]
    fn an_incident_takes_team_and_environment_from_its_deployment() {
        let t = open(id("i1"), None, new("i1"), Some(Link::Explicit(deployment(0, false))), &ctx()).expect("ok");
        assert_eq!(t.value.team_id.as_deref(), Some("backend"));
        assert_eq!(t.value.environment, "prod");
        assert_eq!(t.value.deployment_link, Some(DeploymentLink::Explicit));
        assert_eq!(t.value.time_to_detect_seconds(), Some(7200.0));
        assert_eq!(change_failures(&t), 1);
    }

    #[test]
    fn a_deployment_counted_before_is_never_counted_again() {
        // Deleted and recreated: no incident links it now, but it was counted once.
        let t = open(id("i2"), None, new("i2"), Some(Link::Explicit(deployment(0, true))), &ctx()).expect("ok");
        assert_eq!(change_failures(&t), 0);
        assert!(matches!(&t.effects[..], [Effect::MarkDeployment { marks, .. }] if marks.change_failure));
    }

    #[test]
    fn created_finished_means_restored_at_the_same_time() {
        let cmd = NewIncident { deployment_id: None, finished_at: Some(ts("2024-05-01T13:00:00Z")), ..new("i1") };
        let t = open(id("i1"), None, cmd, None, &ctx()).expect("ok");
        assert_eq!(t.value.status(), IncidentStatus::Finished);
        assert_eq!(t.value.time_to_restore_seconds(), Some(3600.0));
        assert_eq!(t.value.team_id.as_deref(), Some("from-project"));
    }

    #[test]
    fn restoring_an_incident_of_a_deployed_deployment_records_its_recovery_time() {
        let stored =
            open(id("i1"), None, new("i1"), Some(Link::Explicit(deployment(0, false))), &ctx()).expect("ok").value;
        let t = restore(&id("i1"), Some(stored), Some(ts("2024-05-01T13:00:00Z")), &ctx()).expect("ok");
        let recovery = t.events.iter().find_map(|e| match e {
            DomainEvent::FailedDeploymentRecovery { seconds, .. } => Some(*seconds),
            _ => None,
        });
        assert_eq!(recovery, Some(3.0 * 3600.0), "13:00 restored − 10:00 deployed");
    }

    #[test]
    fn restoring_before_the_start_is_rejected_on_date() {
        let stored = open(id("i1"), None, new("i1"), None, &ctx()).expect("ok").value;
        match restore(&id("i1"), Some(stored), Some(ts("2024-05-01T11:00:00Z")), &ctx()) {
            Err(Rejection::Invalid { field, .. }) => assert_eq!(field, "date"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn finishing_an_unrestored_incident_restores_it_too() {
        let stored = open(id("i1"), None, new("i1"), None, &ctx()).expect("ok").value;
        let t = finish(&id("i1"), Some(stored), Some(ts("2024-05-01T15:00:00Z")), &ctx()).expect("ok");
        assert_eq!(t.value.restored_at, Some(ts("2024-05-01T15:00:00Z")));
        assert_eq!(t.events.len(), 2);
    }

    #[test]
    fn attribution_looks_in_production_and_the_default_environment_unless_one_is_named() {
        let cmd = NewIncident { deployment_id: None, ..new("i1") };
        let q = attribution(&cmd, &ctx()).expect("ok").expect("on");
        assert_eq!(q.environments, ["production", "prod", "NO_ENV"]);
        assert_eq!(q.latest, ts("2024-05-01T12:00:00Z"));
        assert_eq!(q.earliest, ts("2024-04-30T12:00:00Z"));
        let named = NewIncident { environment: Some(id("staging")), ..cmd.clone() };
        assert_eq!(attribution(&named, &ctx()).expect("ok").expect("on").environments, ["staging"]);
        let mut off = ctx();
        off.attribution.window_ms = None;
        assert_eq!(attribution(&cmd, &off).expect("ok"), None);
        assert_eq!(attribution(&new("i1"), &ctx()).expect("ok"), None, "an explicit link needs no search");
    }

    #[test]
    fn unlinking_the_only_incident_clears_the_change_failure() {
        let stored =
            open(id("i1"), None, new("i1"), Some(Link::Explicit(deployment(0, false))), &ctx()).expect("ok").value;
        let old = LinkedDeployment {
            marks: FailureMarks { change_failure: true, rolled_back: false, counted: true },
            ..deployment(0, true)
        };
        let cmd = Correction { deployment_id: Some(None), ..Correction::default() };
        let t = correct(&id("i1"), Some(stored), cmd, Relink { old: Some(old), new: None }, &ctx()).expect("ok");
        assert_eq!(t.value.deployment_id, None);
        assert_eq!(t.value.deployment_link, None);
        assert!(
            matches!(&t.effects[..], [Effect::MarkDeployment { marks, .. }] if !marks.change_failure && marks.counted)
        );
        assert_eq!(change_failures(&t), 0);
    }
}
