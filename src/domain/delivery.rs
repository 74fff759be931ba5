//! Webhook deliveries as domain commands: what a Git host's deployment or an
//! incident tool's alert asks for ([`Action`]), and the vendor rules that
//! turn it, with the record already stored, into the commands to run
//! ([`plan_deployment`], [`plan_incident`]). Pure code: the store loads the
//! record, asks for the plan and runs the commands.
//!
//! The rules: a deployment or incident seen for the first time is created
//! from the delivery; fields already stored win over the delivery's (the
//! team config may have changed since); a repeated "started" or "firing"
//! changes nothing; a failure for a deployment never seen starts it, then
//! fails it.

use std::collections::HashSet;

use super::deployment::{Learned, MarkDeployed, NewDeployment};
use super::incident::NewIncident;
use super::pull_request::{Merge, NewPullRequest, NewReview};
use super::{Commit, Context, Deployment, Id, Incident, PullRequest, Rejection, MAX_COMMITS};
use crate::time::Timestamp;

/// How long a delivery id is remembered: a redelivery within it changes nothing.
pub const DELIVERY_LIFETIME_MS: i64 = 7 * 86_400_000;

/// What one delivery (or one alert of a group) asks for.
#[derive(Debug, Clone)]
pub enum Action {
    /// Nothing to record; the reason goes back to the sender.
    Ignore(String),
    /// GitHub's hello when a webhook is created.
    Ping,
    /// A push to a branch: its commits become known commits of the
    /// repository, and the earliest is a first commit of the pull requests
    /// from that branch.
    RememberCommits {
        repository: String,
        branch: String,
        commits: Vec<Commit>,
    },
    /// A branch deleted: a pull request from a new branch of the same name
    /// starts over.
    ForgetBranch {
        repository: String,
        branch: String,
    },
    Deployment(DeploymentStep),
    Incident(IncidentStep),
    PullRequest(PullRequestStep),
}

impl Action {
    pub fn ignore(why: impl Into<String>) -> Self {
        Self::Ignore(why.into())
    }
}

/// A deployment a Git host reports.
#[derive(Debug, Clone)]
pub struct DeploymentStep {
    /// How to create it when it was not seen yet: id, project, environment,
    /// commit and start. Its first_commit_at is its start until pushes say more.
    pub new: NewDeployment,
    /// The known-commits key of its repository (`github:acme/api`).
    pub repository: String,
    pub change: DeploymentChange,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeploymentChange {
    /// Started (created if not seen yet; a later "in progress" changes nothing).
    Start,
    Deployed(Timestamp),
    Failed(Timestamp),
}

/// An incident an incident tool or an alert reports.
#[derive(Debug, Clone)]
pub struct IncidentStep {
    /// How to create it when it was not seen yet (with restored_at and
    /// finished_at set when the first sight is already resolved).
    pub new: NewIncident,
    pub change: IncidentChange,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IncidentChange {
    Open,
    Restore(Timestamp),
    /// Finished, and restored if it was not.
    Finish(Timestamp),
    /// It turned out not to be an incident (declined, canceled, merged).
    Delete,
}

impl IncidentStep {
    pub fn id(&self) -> Option<&Id> {
        self.new.id.as_ref()
    }
}

/// A pull request a Git host reports: it carries the pull request whole, so
/// a step that arrives before the opening creates it.
#[derive(Debug, Clone)]
pub struct PullRequestStep {
    /// How to create it when it was not seen yet.
    pub new: NewPullRequest,
    pub change: PullRequestChange,
}

#[derive(Debug, Clone)]
pub enum PullRequestChange {
    /// Opened: created if not seen yet; a redelivery changes nothing.
    Open,
    Reopen(Timestamp),
    Ready(Timestamp),
    ToDraft,
    Review(NewReview),
    Merge(Merge),
    Close(Timestamp),
}

/// Whether, after a step, the pushes of the pull request's head branch are
/// forgotten: once merged or closed, its commits are all known, and a new
/// pull request from a branch of the same name starts over.
pub fn ends_branch(change: &PullRequestChange) -> bool {
    matches!(change, PullRequestChange::Merge(_) | PullRequestChange::Close(_))
}

/// Whether a pull request step must first create its pull request: any
/// step of one not stored yet does (deliveries arrive out of order).
pub fn creates_pull_request(existing: Option<&PullRequest>) -> bool {
    existing.is_none()
}

/// What became of one action.
#[derive(Debug, Clone)]
pub enum Outcome {
    Ignored(String),
    Ping,
    /// A push kept: its repository and how many commits it listed.
    KnownCommits {
        repository: String,
        commits: usize,
    },
    Deployment {
        created: bool,
        deployment: Deployment,
    },
    Incident {
        created: bool,
        incident: Incident,
    },
    IncidentDeleted(Incident),
    PullRequest {
        created: bool,
        /// Boxed: a pull request is the largest outcome by far.
        pull_request: Box<PullRequest>,
    },
}

/// What became of a delivery.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Its delivery id was seen within [`DELIVERY_LIFETIME_MS`]: nothing ran.
    Duplicate,
    Ran(Vec<Outcome>),
}

/// The commands a deployment step runs, given the deployment as stored.
#[derive(Debug, Clone)]
pub enum DeploymentPlan {
    /// Already known: a later "in progress" (or one after it finished) changes nothing.
    Keep(Deployment),
    Start(NewDeployment),
    /// A failure for a deployment never seen: start it, then fail it.
    StartThenFail(NewDeployment, Timestamp),
    Fail(Timestamp),
    /// It went live: the store first reads what the repository's pushes
    /// say it ships ([`PushSearch`], when there is a sha to look for), then
    /// runs [`deployed`].
    Deploy(Option<PushSearch>),
}

/// Where a deployed sha is looked for: its repository's pushes after the
/// last one shipped to this project and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSearch {
    pub repository: String,
    pub sha: Id,
    pub project_id: Id,
    pub environment: Id,
}

/// The id every step carries (the parsers always set it).
pub fn step_id(new_id: Option<&Id>) -> Result<&Id, Rejection> {
    new_id.ok_or_else(|| Rejection::invalid("id", "a webhook step without an id"))
}

pub fn plan_deployment(step: &DeploymentStep, existing: Option<&Deployment>, ctx: &Context) -> DeploymentPlan {
    match (step.change, existing) {
        (DeploymentChange::Start, Some(d)) => DeploymentPlan::Keep(d.clone()),
        (DeploymentChange::Start, None) => DeploymentPlan::Start(step.new.clone()),
        (DeploymentChange::Failed(at), None) => DeploymentPlan::StartThenFail(step.new.clone(), at),
        (DeploymentChange::Failed(at), Some(_)) => DeploymentPlan::Fail(at),
        (DeploymentChange::Deployed(_), _) => {
            // Stored fields win: the team config may have changed since it started.
            let (project_id, environment, sha) = match existing {
                Some(d) => (Some(d.project_id.clone()), d.environment.clone(), d.commit_sha.clone()),
                None => (
                    step.new.project_id.clone(),
                    step.new.environment.clone().unwrap_or_else(|| ctx.default_environment.clone()),
                    step.new.commit_sha.clone(),
                ),
            };
            // Without a project (a payload that names none) there is nothing to search.
            let search = match (sha, project_id) {
                (Some(sha), Some(project_id)) => {
                    Some(PushSearch { repository: step.repository.clone(), sha, project_id, environment })
                }
                _ => None,
            };
            DeploymentPlan::Deploy(search)
        }
    }
}

/// The `/deployed` command of a Git host deployment that went live at `at`,
/// with what the pushes said it ships.
pub fn deployed(step: DeploymentStep, at: Timestamp, existing: bool, learned: Option<Learned>) -> MarkDeployed {
    if existing {
        return MarkDeployed { deployed_at: Some(at), learned, ..MarkDeployed::default() };
    }
    let new = step.new;
    MarkDeployed {
        deployed_at: Some(at),
        create_if_not_exists: true,
        project_id: new.project_id,
        first_commit_at: new.first_commit_at.map(|t| t.min(at)),
        deploy_start_at: new.deploy_start_at.map(|t| t.min(at)),
        username: new.username,
        environment: new.environment,
        commit_sha: new.commit_sha,
        learned,
        ..MarkDeployed::default()
    }
}

/// What the store read of a repository's pushes for a [`PushSearch`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushHistory {
    /// The last push whose commits all shipped to this project and environment.
    pub shipped_through: i64,
    /// The first later push that lists the sha, when one does.
    pub carried_by: Option<i64>,
    /// The commits of the pushes after `shipped_through` up to `carried_by`,
    /// newest push first, at most [`MAX_COMMITS`] - 1.
    pub listed: Vec<(Id, Timestamp)>,
    /// Those of `listed` (and the sha) already shipped to this project and
    /// environment.
    pub shipped: HashSet<Id>,
    /// When no push carries the sha but it was shipped here before: its commit time.
    pub sha_shipped_at: Option<Timestamp>,
}

/// The commits a deployment of `sha` ships, from its repository's pushes:
/// every listed commit not shipped here yet, plus the sha itself (so a
/// redeploy ships nothing new); None when no push carried the sha and it
/// never shipped here (then nothing is known).
pub fn learn(sha: &Id, history: PushHistory) -> Option<Learned> {
    if history.carried_by.is_none() {
        // Every commit of the pushes up to shipped_through was shipped here:
        // a sha shipped before is a redeploy (or a rollback), and ships
        // nothing new; any other sha was never seen in a push.
        return history
            .sha_shipped_at
            .map(|at| Learned { commits: vec![Commit { sha: sha.clone(), committed_at: at }], first_commit_at: None });
    }
    let mut commits = Vec::with_capacity(history.listed.len() + 1);
    let mut deployed_at_commit: Option<Timestamp> = None;
    for (listed, at) in history.listed.into_iter().take(MAX_COMMITS - 1) {
        if &listed == sha {
            deployed_at_commit = Some(deployed_at_commit.map_or(at, |t| t.min(at)));
        }
        if !history.shipped.contains(&listed) {
            commits.push(Commit { sha: listed, committed_at: at });
        }
    }
    let first_commit_at = commits.iter().map(|c| c.committed_at).min();
    if let Some(at) = deployed_at_commit {
        commits.push(Commit { sha: sha.clone(), committed_at: at });
    }
    Some(Learned { commits, first_commit_at })
}

/// The command an incident step runs, given the incident as stored.
#[derive(Debug, Clone)]
pub enum IncidentPlan {
    /// Nothing changes: a repeated "firing", a restore of a restored one.
    Keep(Incident),
    Open(NewIncident),
    Restore(Timestamp),
    Finish(Timestamp),
    Delete,
}

pub fn plan_incident(step: &IncidentStep, existing: Option<&Incident>) -> Result<IncidentPlan, Rejection> {
    Ok(match (step.change, existing) {
        (IncidentChange::Delete, None) => {
            let id = step.id().map(Id::to_string).unwrap_or_default();
            return Err(Rejection::NotFound(format!(
                "incident `{id}` was never recorded, so there is nothing to delete"
            )));
        }
        (IncidentChange::Delete, Some(_)) => IncidentPlan::Delete,
        // A repeated "firing" or "triggered" changes nothing.
        (IncidentChange::Open, Some(i)) => IncidentPlan::Keep(i.clone()),
        (_, None) => IncidentPlan::Open(step.new.clone()),
        (IncidentChange::Restore(at), Some(i)) if i.restored_at.is_none() => IncidentPlan::Restore(at),
        (IncidentChange::Restore(_), Some(i)) => IncidentPlan::Keep(i.clone()),
        (IncidentChange::Finish(_), Some(i)) if i.finished_at.is_some() => IncidentPlan::Keep(i.clone()),
        (IncidentChange::Finish(at), Some(_)) => IncidentPlan::Finish(at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).expect("time")
    }

    fn id(s: &str) -> Id {
        Id::parse(s).expect("id")
    }

    fn history(listed: &[(&str, &str)], shipped: &[&str]) -> PushHistory {
        PushHistory {
            shipped_through: 3,
            carried_by: Some(5),
            listed: listed.iter().map(|(s, t)| (id(s), ts(t))).collect(),
            shipped: shipped.iter().map(|s| id(s)).collect(),
            sha_shipped_at: None,
        }
    }

    #[test]
    fn a_deployed_sha_ships_the_unshipped_commits_of_the_pushes_and_itself() {
        let h = history(
            &[("c", "2024-05-01T10:00:00Z"), ("b", "2024-05-01T09:00:00Z"), ("a", "2024-05-01T08:00:00Z")],
            &["a"],
        );
        let learned = learn(&id("c"), h).expect("carried");
        let shas: Vec<&str> = learned.commits.iter().map(|c| c.sha.as_str()).collect();
        assert_eq!(shas, ["c", "b", "c"], "the deployed sha is listed last too, so a redeploy ships nothing new");
        assert_eq!(learned.first_commit_at, Some(ts("2024-05-01T09:00:00Z")));
    }

    #[test]
    fn a_sha_no_push_carried_ships_itself_only_when_it_shipped_here_before() {
        let never = PushHistory::default();
        assert_eq!(learn(&id("x"), never), None);
        let before = PushHistory { sha_shipped_at: Some(ts("2024-05-01T08:00:00Z")), ..PushHistory::default() };
        let learned = learn(&id("x"), before).expect("a redeploy");
        assert_eq!(learned.commits.len(), 1);
        assert_eq!(learned.first_commit_at, None);
    }

    #[test]
    fn a_failure_for_a_deployment_never_seen_starts_it_then_fails_it() {
        let step = DeploymentStep {
            new: NewDeployment { id: Some(id("d1")), ..NewDeployment::default() },
            repository: "github:acme/api".into(),
            change: DeploymentChange::Failed(ts("2024-05-01T10:00:00Z")),
        };
        let ctx = Context::at(ts("2024-05-02T00:00:00Z"), id("production"));
        assert!(matches!(plan_deployment(&step, None, &ctx), DeploymentPlan::StartThenFail(..)));
    }
}
