//! The deployment life cycle: started, then deployed or failed; and what a
//! deployment ships when it goes live (changes, rollbacks, rework).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::incident::Incident;
use super::{
    not_before, required, Change, Context, Differences, Dims, DomainEvent, Effect, FailureMarks, Id, Rejection,
    Transition, Username, Write, MAX_COMMITS,
};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
        super::from_name(text)
    }
}

/// Why a deployment was made: planned (`release`), or unplanned because of
/// a failure in production (`hotfix`, `rollback`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    #[default]
    Release,
    Hotfix,
    Rollback,
}

impl DeploymentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Hotfix => "hotfix",
            Self::Rollback => "rollback",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        super::from_name(text)
    }
}

/// A commit a deployment ships.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub sha: Id,
    #[schema(value_type = String, format = DateTime)]
    pub committed_at: Timestamp,
}

/// A sha listed twice counts once (at its earliest time); sorted by sha, so
/// two lists of the same commits compare equal.
fn normalise(commits: Vec<Commit>) -> Vec<Commit> {
    let mut by_sha: BTreeMap<Id, Timestamp> = BTreeMap::new();
    for c in commits {
        by_sha.entry(c.sha).and_modify(|t| *t = (*t).min(c.committed_at)).or_insert(c.committed_at);
    }
    by_sha.into_iter().map(|(sha, committed_at)| Commit { sha, committed_at }).collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: Id,
    pub project_id: Id,
    /// Resolved from the team config when the deployment was created, and kept:
    /// history stays with the team it belonged to then.
    pub team_id: Option<String>,
    pub environment: Id,
    pub username: Option<Username>,
    pub status: DeploymentStatus,
    pub first_commit_at: Timestamp,
    pub deploy_start_at: Timestamp,
    pub deployed_at: Option<Timestamp>,
    /// When the pipeline reported the failure; not part of the JSON contract.
    pub failed_at: Option<Timestamp>,
    /// The commit the deployment runs.
    pub commit_sha: Option<Id>,
    pub kind: DeploymentKind,
    /// The incident this deployment fixes: restored when it goes live.
    pub restores_incident: Option<Id>,
    /// Changes it shipped first to its environment; 0 until deployed.
    pub change_count: u64,
    /// A rollback, a hotfix, or a fix for an incident: unplanned work.
    pub rework: bool,
    /// The deployment this rollback rolled back.
    pub rollback_of: Option<Id>,
    pub marks: FailureMarks,
    /// Who reported it: a token's name, `settings`, `sso:…` or `webhook:<source>`
    /// (None for deployments stored before this was kept).
    pub created_by: Option<String>,
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

    /// Rework as far as known before it goes live (a rollback may still be detected then).
    fn planned_rework(&self) -> bool {
        self.kind != DeploymentKind::Release || self.restores_incident.is_some()
    }
}

/// A new deployment as a pipeline describes it. `id`, `project_id` and
/// `first_commit_at` (or `commits`) are required; [`start`] says so.
#[derive(Debug, Clone, Default)]
pub struct NewDeployment {
    pub id: Option<Id>,
    pub project_id: Option<Id>,
    pub first_commit_at: Option<Timestamp>,
    pub deploy_start_at: Option<Timestamp>,
    pub username: Option<Username>,
    pub environment: Option<Id>,
    pub deployed_at: Option<Timestamp>,
    pub commit_sha: Option<Id>,
    /// At most [`MAX_COMMITS`].
    pub commits: Option<Vec<Commit>>,
    pub kind: Option<DeploymentKind>,
    pub restores_incident: Option<Id>,
}

/// What the store read for a decision about one deployment id.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub deployment: Option<Deployment>,
    /// Its commits, read only when the command lists commits and the
    /// deployment exists (a retry compares them).
    pub commits: Option<Vec<Commit>>,
    /// The incident `restores_incident` names, when the command names one.
    pub restores: Option<Incident>,
}

/// A [`NewDeployment`] with its required fields present.
struct Creation {
    id: Id,
    project_id: Id,
    first_commit_at: Timestamp,
    commits: Vec<Commit>,
    rest: NewDeployment,
}

/// Checks the fields every creation needs; `when` finishes "x is required".
fn creation(
    id: Id,
    project_id: Option<Id>,
    mut cmd: NewDeployment,
    when: &str,
    ctx: &Context,
) -> Result<Creation, Rejection> {
    let project_id = required("project_id", project_id, when)?;
    let commits = normalise(cmd.commits.take().unwrap_or_default());
    if commits.len() > MAX_COMMITS {
        return Err(Rejection::invalid("commits", format!("commits lists more than {MAX_COMMITS} commits")));
    }
    ctx.given("first_commit_at", cmd.first_commit_at)?;
    ctx.given("deploy_start_at", cmd.deploy_start_at)?;
    ctx.given("deployed_at", cmd.deployed_at)?;
    for c in &commits {
        ctx.not_in_future("commits", c.committed_at)?;
    }
    let earliest = commits.iter().map(|c| c.committed_at).min();
    let first_commit_at = match cmd.first_commit_at.take().or(earliest) {
        Some(t) => t,
        None => {
            return Err(Rejection::invalid(
                "first_commit_at",
                format!("first_commit_at is required{when} (or list the shipped commits in `commits`)"),
            ))
        }
    };
    Ok(Creation { id, project_id, first_commit_at, commits, rest: cmd })
}

/// `POST /deployments`: create, or accept an identical retry.
pub fn start(stored: Stored, mut cmd: NewDeployment, ctx: &Context) -> Result<Transition<Deployment>, Rejection> {
    let id = required("id", cmd.id.take(), "")?;
    let project_id = cmd.project_id.take();
    let restores = stored.restores;
    let new = creation(id, project_id, cmd, "", ctx)?;
    ctx.scope.check_write("project_id", &new.project_id)?;
    if let Some(existing) = stored.deployment {
        compare("deployment", &existing, &new, stored.commits, ctx)?;
        return Ok(Transition::keep(existing));
    }
    create(new, restores, ctx)
}

/// A retry must agree with what is stored on every field it gives.
fn compare(
    what: &str,
    stored: &Deployment,
    new: &Creation,
    stored_commits: Option<Vec<Commit>>,
    ctx: &Context,
) -> Result<(), Rejection> {
    let cmd = &new.rest;
    // A pipeline run again after its deployment went live works out what it
    // ships from the last deployed sha, which is now this deployment's own:
    // the commits (and so the first commit) come out different, yet it is
    // the same deployment of the same sha to the same place.
    let relisted = stored.status == DeploymentStatus::Deployed
        && cmd.commit_sha.is_some()
        && cmd.commit_sha.as_ref() == stored.commit_sha.as_ref()
        && cmd.environment.as_ref().unwrap_or(&ctx.default_environment) == &stored.environment;
    let mut diff = Differences::default();
    diff.check("project_id", Some(&new.project_id), &stored.project_id);
    if !relisted {
        diff.check("first_commit_at", Some(&new.first_commit_at), &stored.first_commit_at);
    }
    diff.check("deploy_start_at", cmd.deploy_start_at.as_ref(), &stored.deploy_start_at);
    // Without stored usernames there is nothing to compare a retry's with.
    if ctx.store_usernames {
        diff.check("username", cmd.username.as_ref().map(Some).as_ref(), &stored.username.as_ref());
    }
    diff.check("environment", cmd.environment.as_ref(), &stored.environment);
    if let Some(given) = cmd.deployed_at {
        if stored.deployed_at != Some(given) {
            diff.0.push("deployed_at");
        }
    }
    diff.check("commit_sha", cmd.commit_sha.as_ref().map(Some).as_ref(), &stored.commit_sha.as_ref());
    diff.check("kind", cmd.kind.as_ref(), &stored.kind);
    diff.check(
        "restores_incident",
        cmd.restores_incident.as_ref().map(Some).as_ref(),
        &stored.restores_incident.as_ref(),
    );
    if let Some(stored_commits) = stored_commits.filter(|_| !relisted) {
        diff.check("commits", Some(&new.commits), &stored_commits);
    }
    diff.into_conflict(what, &stored.id)
}

fn create(new: Creation, restores: Option<Incident>, ctx: &Context) -> Result<Transition<Deployment>, Rejection> {
    let Creation { id, project_id, first_commit_at, commits, rest: cmd } = new;
    if let Some(incident_id) = &cmd.restores_incident {
        match &restores {
            None => {
                return Err(Rejection::invalid("restores_incident", format!("incident `{incident_id}` does not exist")))
            }
            Some(i) if i.project_id != project_id => {
                return Err(Rejection::invalid(
                    "restores_incident",
                    format!("incident `{incident_id}` belongs to project `{}`, not `{project_id}`", i.project_id),
                ))
            }
            Some(_) => {}
        }
    }
    // A single-call deployment reported after the fact (a backfill) started no
    // later than it finished; defaulting its start to "now" would put the start
    // after the end.
    let deploy_start_at = cmd.deploy_start_at.unwrap_or_else(|| cmd.deployed_at.map_or(ctx.now, |d| d.min(ctx.now)));
    let mut deployment = Deployment {
        team_id: ctx.teams.resolve(&project_id, cmd.username.as_deref()),
        id,
        project_id,
        environment: cmd.environment.unwrap_or_else(|| ctx.default_environment.clone()),
        // The team is resolved from the username above; keep the name only if allowed.
        username: cmd.username.filter(|_| ctx.store_usernames),
        status: DeploymentStatus::Started,
        first_commit_at,
        deploy_start_at,
        deployed_at: None,
        failed_at: None,
        commit_sha: cmd.commit_sha,
        kind: cmd.kind.unwrap_or_default(),
        restores_incident: cmd.restores_incident,
        change_count: 0,
        rework: false,
        rollback_of: None,
        marks: FailureMarks::default(),
        created_by: Some(ctx.actor.to_string()),
    };
    deployment.rework = deployment.planned_rework();
    if let Some(deployed_at) = cmd.deployed_at {
        deploy(&mut deployment, deployed_at)?;
    }
    let events = vec![DomainEvent::DeploymentStarted(deployment.dims())];
    let mut t = Transition::new(Write::Insert, deployment, events);
    if !commits.is_empty() {
        t.effects.push(Effect::RecordCommits { deployment_id: t.value.id.clone(), commits });
    }
    Ok(t)
}

fn deploy(d: &mut Deployment, deployed_at: Timestamp) -> Result<(), Rejection> {
    not_before("deployed_at", deployed_at, "first_commit_at", d.first_commit_at)?;
    not_before("deployed_at", deployed_at, "deploy_start_at", d.deploy_start_at)?;
    d.status = DeploymentStatus::Deployed;
    d.deployed_at = Some(deployed_at);
    Ok(())
}

/// `POST /deployments/{id}/deployed`.
#[derive(Debug, Clone, Default)]
pub struct MarkDeployed {
    pub deployed_at: Option<Timestamp>,
    pub create_if_not_exists: bool,
    /// The fields below only matter when the deployment is created here.
    pub project_id: Option<Id>,
    pub first_commit_at: Option<Timestamp>,
    pub deploy_start_at: Option<Timestamp>,
    pub username: Option<Username>,
    pub environment: Option<Id>,
    pub commit_sha: Option<Id>,
    pub commits: Option<Vec<Commit>>,
    pub kind: Option<DeploymentKind>,
    pub restores_incident: Option<Id>,
    /// What a Git host's pushes say the deployment ships, learned only when
    /// it goes live (a webhook deployment starts before that is known).
    pub learned: Option<Learned>,
}

/// The commits a Git host deployment ships, from the pushes em-metrics saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    /// Known commits not shipped to the environment yet, plus the deployed
    /// sha itself (so a redeploy ships nothing new).
    pub commits: Vec<Commit>,
    /// The earliest of the commits not shipped yet; None when all were.
    pub first_commit_at: Option<Timestamp>,
}

pub fn mark_deployed(
    id: &Id,
    stored: Stored,
    cmd: MarkDeployed,
    ctx: &Context,
) -> Result<Transition<Deployment>, Rejection> {
    if stored.deployment.as_ref().is_some_and(|d| !ctx.scope.allows(&d.project_id)) {
        // Another project's deployment does not exist, as far as a scoped caller knows.
        return Err(Rejection::NotFound(format!("deployment `{id}` not found")));
    }
    let Some(mut existing) = stored.deployment else {
        if !cmd.create_if_not_exists {
            return Err(Rejection::NotFound(format!(
                "deployment `{id}` not found (send \"create_if_not_exists\": true to create it)"
            )));
        }
        // A fast runner clock may put the given times slightly ahead of ours:
        // a defaulted "now" is never earlier than them.
        let earliest_commit = cmd.commits.iter().flatten().map(|c| c.committed_at).min();
        let latest_given = [cmd.first_commit_at.or(earliest_commit), cmd.deploy_start_at].into_iter().flatten().max();
        let deployed_at = cmd.deployed_at.unwrap_or_else(|| latest_given.map_or(ctx.now, |t| t.max(ctx.now)));
        let (commits, first_commit_at) = match cmd.learned {
            Some(learned) => {
                (Some(learned.commits), learned.first_commit_at.map(|t| t.min(deployed_at)).or(cmd.first_commit_at))
            }
            None => (cmd.commits, cmd.first_commit_at),
        };
        let rest = NewDeployment {
            first_commit_at,
            deploy_start_at: Some(cmd.deploy_start_at.unwrap_or(deployed_at)),
            username: cmd.username,
            environment: cmd.environment,
            deployed_at: Some(deployed_at),
            commit_sha: cmd.commit_sha,
            commits,
            kind: cmd.kind,
            restores_incident: cmd.restores_incident,
            ..NewDeployment::default()
        };
        let new = creation(id.clone(), cmd.project_id, rest, " when create_if_not_exists is true", ctx)?;
        ctx.scope.check_write("project_id", &new.project_id)?;
        return create(new, stored.restores, ctx);
    };
    ctx.given("deployed_at", cmd.deployed_at)?;
    // Ids such as Jenkins' BUILD_NUMBER repeat between projects: never mark
    // another project's (or environment's) deployment as deployed.
    let mut diff = Differences::default();
    diff.check("project_id", cmd.project_id.as_ref(), &existing.project_id);
    diff.check("environment", cmd.environment.as_ref(), &existing.environment);
    diff.into_conflict("deployment", &existing.id)?;
    match existing.status {
        DeploymentStatus::Started => {
            // A fast runner clock may have put first_commit_at or
            // deploy_start_at slightly ahead of ours: a defaulted "now" is
            // moved up to them, as /failed does; a given time is checked as it is.
            let now = ctx.now.max(existing.first_commit_at).max(existing.deploy_start_at);
            deploy(&mut existing, cmd.deployed_at.unwrap_or(now))?;
            let mut t = Transition::new(Write::Update, existing, Vec::new());
            // Commits a deployment listed when it was created stay what it ships.
            if let Some(learned) = cmd.learned.filter(|_| stored.commits.as_ref().is_none_or(Vec::is_empty)) {
                if let Some(first) = learned.first_commit_at {
                    t.value.first_commit_at = t.value.first_commit_at.min(first);
                }
                let commits = normalise(learned.commits);
                t.effects.push(Effect::RecordCommits { deployment_id: t.value.id.clone(), commits });
            }
            Ok(t)
        }
        DeploymentStatus::Deployed => match cmd.deployed_at {
            Some(given) if Some(given) != existing.deployed_at => Err(Rejection::conflict_on(
                "deployed_at",
                format!(
                    "deployment `{id}` was already deployed at {}",
                    existing.deployed_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                ),
            )),
            _ => Ok(Transition::keep(existing)),
        },
        DeploymentStatus::Failed => {
            Err(Rejection::conflict(format!("deployment `{id}` has failed and cannot be deployed")))
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
    let Some(mut stored) = existing.filter(|d| ctx.scope.allows(&d.project_id)) else {
        return Err(Rejection::NotFound(format!("deployment `{id}` not found")));
    };
    ctx.given("date", date)?;
    match stored.status {
        DeploymentStatus::Failed => Ok(Transition::keep(stored)),
        DeploymentStatus::Deployed => {
            Err(Rejection::conflict(format!("deployment `{id}` is already deployed and cannot fail")))
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
            Ok(Transition::new(Write::Update, stored, events))
        }
    }
}

/// `DELETE /deployments/{id}`: a deployment goes only when no incident
/// points to it (the incident would lose its cause); its changes go with it.
pub fn remove(
    id: &Id,
    existing: Option<Deployment>,
    linked_incidents: u64,
    ctx: &Context,
) -> Result<Transition<Deployment>, Rejection> {
    let visible = existing.filter(|d| ctx.scope.allows(&d.project_id));
    let stored = visible.ok_or_else(|| Rejection::NotFound(format!("deployment `{id}` not found")))?;
    if linked_incidents > 0 {
        return Err(Rejection::conflict(format!(
            "deployment `{id}` has {linked_incidents} incident(s) pointing to it; delete them first"
        )));
    }
    Ok(Transition::new(Write::Delete, stored, Vec::new()))
}

/// Whether a decided transition put the deployment live just now: then the
/// store reads the [`ShipFacts`] and calls [`ship`].
pub fn went_live(t: &Transition<Deployment>) -> bool {
    matches!(t.write, Write::Insert | Write::Update) && t.value.status == DeploymentStatus::Deployed
}

/// Whether `d`, going live, ships pull requests: a production deployment
/// does (a merge shipped to staging first is linked when production ships
/// it). The store then reads them into [`ShipFacts::pull_requests`].
pub fn ships_pull_requests(d: &Deployment, ctx: &Context) -> bool {
    ctx.attribution.production(&ctx.default_environment).iter().any(|e| d.environment == *e)
}

/// The shas a deployment ships: its listed commits and its `commit_sha`.
pub fn shipped_shas(d: &Deployment, commits: &[Commit]) -> Vec<Id> {
    let mut shas: Vec<Id> = commits.iter().map(|c| c.sha.clone()).chain(d.commit_sha.clone()).collect();
    shas.sort();
    shas.dedup();
    shas
}

/// The pull requests this deployment ships first (no earlier production
/// deployment did), and the events of those shipped for the first time.
fn link_pull_requests(t: &mut Transition<Deployment>, facts: &ShipFacts, deployed_at: Timestamp) {
    let d = &t.value;
    let shipment =
        super::pull_request::Shipment { deployment_id: d.id.clone(), environment: d.environment.clone(), deployed_at };
    let mut ids = Vec::new();
    for p in &facts.pull_requests {
        if p.deployed_at.is_some_and(|earlier| earlier <= deployed_at) {
            continue;
        }
        let first_time = p.deployed_at.is_none();
        let mut shipped = p.clone();
        shipped.deployment_id = Some(d.id.clone());
        shipped.deployed_at = Some(deployed_at);
        if first_time {
            t.events.extend(shipped.shipped_event(&d.environment));
        }
        ids.push(p.id.clone());
    }
    if !ids.is_empty() {
        t.effects.push(Effect::LinkPullRequests { ids, shipment });
    }
}

/// What the store knows, when a deployment goes live, about the project and
/// environment it went live in.
#[derive(Debug, Clone, Default)]
pub struct ShipFacts {
    /// The commits the deployment lists.
    pub commits: Vec<Commit>,
    /// Those of its shas that were shipped to this project and environment before.
    pub already_shipped: HashSet<Id>,
    /// The latest other deployment deployed there at or before this one went live.
    pub previous: Option<Deployment>,
    /// Whether this deployment's commit_sha ran there before `previous` did.
    pub sha_ran_before_previous: bool,
    /// The incident named by `restores_incident`, as stored now.
    pub restores: Option<Incident>,
    /// When it [ships pull requests](ships_pull_requests): those of its
    /// project merged as one of its [shas](shipped_shas).
    pub pull_requests: Vec<super::PullRequest>,
}

/// The rules of a deployment going live: its new changes and their lead
/// times, whether it is a rollback (and of what) or rework, and the incident
/// it restores. Adds the events and effects to `t`.
pub fn ship(t: &mut Transition<Deployment>, facts: ShipFacts, ctx: &Context) {
    let Some(deployed_at) = t.value.deployed_at else { return };
    if ships_pull_requests(&t.value, ctx) {
        link_pull_requests(t, &facts, deployed_at);
    }
    let d = &mut t.value;
    let dims = d.dims();

    let changes: Vec<Change> = if facts.commits.is_empty() {
        vec![Change {
            deployment_id: d.id.clone(),
            sha: None,
            dims: dims.clone(),
            committed_at: d.first_commit_at,
            deployed_at,
        }]
    } else {
        facts
            .commits
            .iter()
            .filter(|c| !facts.already_shipped.contains(&c.sha))
            .map(|c| Change {
                deployment_id: d.id.clone(),
                sha: Some(c.sha.clone()),
                dims: dims.clone(),
                committed_at: c.committed_at,
                deployed_at,
            })
            .collect()
    };
    d.change_count = changes.len() as u64;

    // Putting older code back is a rollback; redeploying the latest sha is not.
    let sha_rollback = d.commit_sha.is_some()
        && facts.sha_ran_before_previous
        && facts.previous.as_ref().is_some_and(|p| p.commit_sha != d.commit_sha);
    let rollback = d.kind == DeploymentKind::Rollback || sha_rollback;
    d.rework = rollback || d.planned_rework();

    t.events.push(DomainEvent::DeploymentDeployed {
        dims: dims.clone(),
        lead_time_seconds: deployed_at.seconds_since(d.first_commit_at),
        duration_seconds: deployed_at.seconds_since(d.deploy_start_at),
        change_lead_times: changes.iter().map(|c| c.lead_time_ms() as f64 / 1000.0).collect(),
    });
    t.effects.push(Effect::ShipChanges(changes));
    if d.rework {
        t.events.push(DomainEvent::DeploymentRework(dims.clone()));
    }
    if rollback {
        t.events.push(DomainEvent::DeploymentRollback(dims));
        if let Some(previous) = facts.previous {
            d.rollback_of = Some(previous.id.clone());
            let marks = FailureMarks { rolled_back: true, ..previous.marks };
            // Rolled back is a change failure whatever its incidents.
            let (marks, event) = marks.settle(0, || previous.dims());
            t.events.extend(event);
            t.effects.push(Effect::MarkDeployment { id: previous.id, marks });
        }
    }
    // An incident that started after this deployment went live cannot have
    // been fixed by it; it is left as it is.
    if let Some(mut incident) = facts.restores.filter(|i| i.restored_at.is_none() && i.started_at <= deployed_at) {
        incident.restored_at = Some(deployed_at);
        t.events.extend(incident.restored_events());
        t.effects.push(Effect::RestoreIncident { id: incident.id, restored_at: deployed_at });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("valid time")
    }

    fn ctx() -> Context {
        Context::at(ts("2024-05-02T00:00:00Z"), id("production"))
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

    fn stored(d: Deployment) -> Stored {
        Stored { deployment: Some(d), ..Stored::default() }
    }

    fn commit(sha: &str, at: &str) -> Commit {
        Commit { sha: id(sha), committed_at: ts(at) }
    }

    #[test]
    fn a_single_call_deployment_is_started_and_deployed() {
        let cmd = NewDeployment { deployed_at: Some(ts("2024-05-01T10:00:00Z")), ..new("d1") };
        let t = start(Stored::default(), cmd, &ctx()).expect("ok");
        assert_eq!(t.write, Write::Insert);
        assert_eq!(t.value.status, DeploymentStatus::Deployed);
        assert!(went_live(&t));
        assert_eq!(t.value.lead_time_seconds(), Some(7200.0));
        assert_eq!(t.value.duration_seconds(), Some(3600.0));
    }

    #[test]
    fn a_backfilled_single_call_deployment_starts_when_it_was_deployed() {
        let cmd = NewDeployment {
            deploy_start_at: None,
            deployed_at: Some(ts("2024-03-01T10:00:00Z")),
            first_commit_at: Some(ts("2024-03-01T08:00:00Z")),
            ..new("d1")
        };
        let t = start(Stored::default(), cmd, &ctx()).expect("ok");
        assert_eq!(t.value.deploy_start_at, ts("2024-03-01T10:00:00Z"));
    }

    #[test]
    fn a_retry_with_a_different_project_is_a_conflict_naming_the_field() {
        let first = start(Stored::default(), new("d1"), &ctx()).expect("ok").value;
        let retry = NewDeployment { project_id: Some(id("web")), ..new("d1") };
        match start(stored(first), retry, &ctx()) {
            Err(Rejection::Conflict { message: m, .. }) => assert!(m.contains("project_id"), "{m}"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    #[test]
    fn a_retry_listing_other_commits_is_a_conflict_and_the_same_commits_in_any_order_are_not() {
        let commits = vec![commit("a", "2024-05-01T08:00:00Z"), commit("b", "2024-05-01T08:30:00Z")];
        let cmd = NewDeployment { first_commit_at: None, commits: Some(commits.clone()), ..new("d1") };
        let first = start(Stored::default(), cmd.clone(), &ctx()).expect("ok").value;
        let same = Stored { commits: Some(normalise(commits.clone())), ..stored(first.clone()) };
        let reversed = NewDeployment { commits: Some(commits.iter().rev().cloned().collect()), ..cmd.clone() };
        assert_eq!(start(same.clone(), reversed, &ctx()).expect("a retry").write, Write::Keep);
        let other = NewDeployment { commits: Some(vec![commit("a", "2024-05-01T08:00:00Z")]), ..cmd };
        match start(same, other, &ctx()) {
            Err(Rejection::Conflict { message: m, .. }) => assert!(m.ends_with("different commits"), "{m}"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    #[test]
    fn a_live_deployment_posted_again_with_its_sha_and_another_commit_list_is_a_retry() {
        let commits = vec![commit("a", "2024-05-01T08:00:00Z"), commit("b", "2024-05-01T08:30:00Z")];
        let cmd = NewDeployment {
            first_commit_at: None,
            commit_sha: Some(id("b")),
            environment: Some(id("production")),
            commits: Some(commits.clone()),
            ..new("d1")
        };
        let started = start(Stored::default(), cmd.clone(), &ctx()).expect("ok").value;
        // The pipeline again, after d1 went live: the last deployed sha is b
        // now, so it lists only b.
        let again = NewDeployment { commits: Some(vec![commit("b", "2024-05-01T08:30:00Z")]), ..cmd.clone() };
        let live = Deployment { status: DeploymentStatus::Deployed, ..started.clone() };
        let stored_commits = Some(normalise(commits));
        let keep = start(Stored { commits: stored_commits.clone(), ..stored(live.clone()) }, again.clone(), &ctx());
        assert_eq!(keep.expect("a retry").write, Write::Keep);
        // Not yet live, the same request is a conflict: the list is what it will ship.
        let before = start(Stored { commits: stored_commits.clone(), ..stored(started) }, again.clone(), &ctx());
        assert!(matches!(before, Err(Rejection::Conflict { .. })));
        // Another sha, or another environment, is another deployment.
        let other_sha = NewDeployment { commit_sha: Some(id("c")), ..again.clone() };
        let conflict = start(Stored { commits: stored_commits.clone(), ..stored(live.clone()) }, other_sha, &ctx());
        assert!(matches!(conflict, Err(Rejection::Conflict { field: Some(f), .. }) if f == "first_commit_at"));
        let staging = NewDeployment { environment: Some(id("staging")), ..again };
        assert!(start(Stored { commits: stored_commits, ..stored(live) }, staging, &ctx()).is_err());
    }

    #[test]
    fn commits_give_the_first_commit_time_and_count_a_repeated_sha_once() {
        let cmd = NewDeployment {
            first_commit_at: None,
            commits: Some(vec![
                commit("b", "2024-05-01T07:00:00Z"),
                commit("a", "2024-05-01T06:00:00Z"),
                commit("b", "2024-05-01T05:00:00Z"),
            ]),
            ..new("d1")
        };
        let t = start(Stored::default(), cmd, &ctx()).expect("ok");
        assert_eq!(t.value.first_commit_at, ts("2024-05-01T05:00:00Z"));
        match &t.effects[..] {
            [Effect::RecordCommits { commits, .. }] => {
                assert_eq!(commits, &vec![commit("a", "2024-05-01T06:00:00Z"), commit("b", "2024-05-01T05:00:00Z")])
            }
            other => panic!("expected the commits recorded, got {other:?}"),
        }
    }

    #[test]
    fn without_commits_or_first_commit_at_the_error_names_first_commit_at() {
        let cmd = NewDeployment { first_commit_at: None, ..new("d1") };
        match start(Stored::default(), cmd, &ctx()) {
            Err(Rejection::Invalid { field, message }) => {
                assert_eq!(field, "first_commit_at");
                assert!(message.contains("commits"), "{message}");
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn deploying_before_the_first_commit_is_rejected_on_deployed_at() {
        let first = start(Stored::default(), new("d1"), &ctx()).expect("ok").value;
        let cmd = MarkDeployed { deployed_at: Some(ts("2024-05-01T07:00:00Z")), ..Default::default() };
        match mark_deployed(&id("d1"), stored(first), cmd, &ctx()) {
            Err(Rejection::Invalid { field, .. }) => assert_eq!(field, "deployed_at"),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_defaulted_deploy_time_is_never_before_times_from_a_fast_runner_clock() {
        // The runner's clock is 5 minutes ahead: its first commit is "in the future".
        let ahead = ts("2024-05-02T00:05:00Z");
        let cmd = NewDeployment { first_commit_at: Some(ahead), deploy_start_at: Some(ahead), ..new("d1") };
        let first = start(Stored::default(), cmd, &ctx()).expect("within the allowed skew").value;
        let t = mark_deployed(&id("d1"), stored(first), MarkDeployed::default(), &ctx()).expect("clamped, not 400");
        assert_eq!(t.value.deployed_at, Some(ahead));
        // Created by /deployed, the same.
        let cmd = MarkDeployed {
            create_if_not_exists: true,
            project_id: Some(id("api")),
            first_commit_at: Some(ahead),
            ..MarkDeployed::default()
        };
        let t = mark_deployed(&id("d2"), Stored::default(), cmd, &ctx()).expect("clamped");
        assert_eq!(t.value.deployed_at, Some(ahead));
        // An explicit time out of order is still refused.
        let first = start(Stored::default(), NewDeployment { first_commit_at: Some(ahead), ..new("d3") }, &ctx());
        let cmd = MarkDeployed { deployed_at: Some(ts("2024-05-02T00:00:00Z")), ..MarkDeployed::default() };
        assert!(mark_deployed(&id("d3"), stored(first.expect("ok").value), cmd, &ctx()).is_err());
    }

    #[test]
    fn a_time_beyond_the_allowed_skew_is_refused_with_how_far_ahead_it_is() {
        let cmd = NewDeployment { deployed_at: Some(ts("2024-05-04T00:00:00Z")), ..new("d1") };
        match start(Stored::default(), cmd, &ctx()) {
            Err(Rejection::Invalid { field, message }) => {
                assert_eq!(field, "deployed_at");
                assert_eq!(message, "deployed_at is 2 days in the future; check the runner's clock");
            }
            other => panic!("expected invalid, got {other:?}"),
        }
        let cmd = NewDeployment { deployed_at: Some(ts("2024-05-02T01:00:00Z")), ..new("d2") };
        assert!(start(Stored::default(), cmd, &ctx()).is_ok(), "exactly the allowed hour ahead is fine");
    }

    #[test]
    fn deployed_on_an_id_of_another_project_is_a_conflict() {
        let first = start(Stored::default(), new("42"), &ctx()).expect("ok").value;
        let cmd = MarkDeployed { project_id: Some(id("web")), ..MarkDeployed::default() };
        match mark_deployed(&id("42"), stored(first.clone()), cmd, &ctx()) {
            Err(Rejection::Conflict { message: m, .. }) => assert!(m.contains("project_id"), "{m}"),
            other => panic!("expected conflict, got {other:?}"),
        }
        let cmd = MarkDeployed { environment: Some(id("staging")), ..MarkDeployed::default() };
        match mark_deployed(&id("42"), stored(first), cmd, &ctx()) {
            Err(Rejection::Conflict { message: m, .. }) => assert!(m.contains("environment"), "{m}"),
            other => panic!("expected conflict, got {other:?}"),
        }
    }

    #[test]
    fn a_deployment_an_incident_points_to_is_not_deleted_and_a_deletion_never_goes_live() {
        let d = live(new("d1")).value;
        match remove(&id("d1"), Some(d.clone()), 1, &ctx()) {
            Err(Rejection::Conflict { message: m, .. }) => assert!(m.contains("1 incident"), "{m}"),
            other => panic!("expected conflict, got {other:?}"),
        }
        let t = remove(&id("d1"), Some(d), 0, &ctx()).expect("no incident");
        assert_eq!(t.write, Write::Delete);
        assert!(!went_live(&t), "a deleted deployment ships nothing");
        assert!(matches!(remove(&id("d9"), None, 0, &ctx()), Err(Rejection::NotFound(_))));
    }

    #[test]
    fn deploying_twice_keeps_the_first_and_records_nothing() {
        let first = start(Stored::default(), new("d1"), &ctx()).expect("ok").value;
        let at = ts("2024-05-01T10:00:00Z");
        let cmd = MarkDeployed { deployed_at: Some(at), ..Default::default() };
        let deployed = mark_deployed(&id("d1"), stored(first), cmd.clone(), &ctx()).expect("ok");
        assert!(went_live(&deployed));
        let again = mark_deployed(&id("d1"), stored(deployed.value), cmd, &ctx()).expect("ok");
        assert_eq!(again.write, Write::Keep);
        assert!(!went_live(&again));
        assert!(again.events.is_empty());
    }

    fn live(cmd: NewDeployment) -> Transition<Deployment> {
        let cmd = NewDeployment { deployed_at: Some(ts("2024-05-01T10:00:00Z")), ..cmd };
        start(Stored::default(), cmd, &ctx()).expect("ok")
    }

    #[test]
    fn only_commits_not_shipped_before_become_changes() {
        let mut t = live(new("d1"));
        let facts = ShipFacts {
            commits: vec![commit("a", "2024-05-01T08:00:00Z"), commit("b", "2024-05-01T09:00:00Z")],
            already_shipped: HashSet::from([id("a")]),
            ..ShipFacts::default()
        };
        ship(&mut t, facts, &ctx());
        assert_eq!(t.value.change_count, 1);
        let deployed = t.events.iter().find_map(|e| match e {
            DomainEvent::DeploymentDeployed { change_lead_times, .. } => Some(change_lead_times.clone()),
            _ => None,
        });
        assert_eq!(deployed, Some(vec![3600.0]));
        assert!(!t.value.rework);
    }

    #[test]
    fn putting_an_older_sha_back_is_a_rollback_of_the_latest_and_fails_it_once() {
        let mut t = live(NewDeployment { commit_sha: Some(id("old")), ..new("d3") });
        let latest = live(NewDeployment { commit_sha: Some(id("new")), ..new("d2") }).value;
        ship(
            &mut t,
            ShipFacts { previous: Some(latest), sha_ran_before_previous: true, ..ShipFacts::default() },
            &ctx(),
        );
        assert_eq!(t.value.rollback_of.as_deref(), Some("d2"));
        assert!(t.value.rework);
        assert!(t.events.iter().any(|e| matches!(e, DomainEvent::DeploymentRollback(_))));
        assert!(t.events.iter().any(|e| matches!(e, DomainEvent::ChangeFailure(_))));
        let marks = t.effects.iter().find_map(|e| match e {
            Effect::MarkDeployment { id, marks } if id == "d2" => Some(*marks),
            _ => None,
        });
        assert_eq!(marks, Some(FailureMarks { change_failure: true, rolled_back: true, counted: true }));
    }

    #[test]
    fn redeploying_the_latest_sha_is_not_a_rollback() {
        let mut t = live(NewDeployment { commit_sha: Some(id("same")), ..new("d3") });
        let latest = live(NewDeployment { commit_sha: Some(id("same")), ..new("d2") }).value;
        ship(
            &mut t,
            ShipFacts { previous: Some(latest), sha_ran_before_previous: true, ..ShipFacts::default() },
            &ctx(),
        );
        assert_eq!(t.value.rollback_of, None);
        assert!(!t.value.rework);
    }

    #[test]
    fn a_rollback_of_a_deployment_already_counted_records_no_second_change_failure() {
        let mut t = live(NewDeployment { kind: Some(DeploymentKind::Rollback), ..new("d3") });
        let mut latest = live(new("d2")).value;
        latest.marks = FailureMarks { change_failure: true, rolled_back: false, counted: true };
        ship(&mut t, ShipFacts { previous: Some(latest), ..ShipFacts::default() }, &ctx());
        assert_eq!(t.value.rollback_of.as_deref(), Some("d2"));
        assert!(!t.events.iter().any(|e| matches!(e, DomainEvent::ChangeFailure(_))));
    }
}
