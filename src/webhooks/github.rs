//! GitHub: `ping`, `push`, `deployment`, `deployment_status`,
//! `pull_request` and `pull_request_review` events.

use serde::Deserialize;

use super::{
    id, remember_push, repository_key, settle, shape, skip, time, Action, DeploymentChange, DeploymentStep,
    PushedCommit, Skip,
};
use crate::domain::delivery::{PullRequestChange, PullRequestStep};
use crate::domain::deployment::NewDeployment;
use crate::domain::pull_request::{HeadBranch, Merge, NewPullRequest, NewReview, MAX_PULL_REQUEST_TITLE_CHARS};
use crate::domain::{ReviewState, Username};
use crate::teams::TeamConfig;

#[derive(Deserialize)]
struct Repository {
    name: String,
    full_name: String,
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    commits: Vec<PushedCommit>,
    repository: Repository,
}

#[derive(Deserialize)]
struct DeploymentEvent {
    deployment: Deployment,
    repository: Repository,
}

#[derive(Deserialize)]
struct Deployment {
    id: serde_json::Value,
    sha: String,
    environment: String,
    created_at: String,
    creator: Option<User>,
}

#[derive(Deserialize)]
struct User {
    login: Option<String>,
}

#[derive(Deserialize)]
struct StatusEvent {
    deployment_status: Status,
    deployment: Deployment,
    repository: Repository,
}

#[derive(Deserialize)]
struct Status {
    state: String,
    created_at: String,
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    pull_request: PullRequest,
    repository: Repository,
    review: Option<Review>,
}

/// The pull request object, as `pull_request` and `pull_request_review`
/// deliveries carry it (the latter without `draft`, `merged` and the sizes).
#[derive(Deserialize)]
struct PullRequest {
    number: i64,
    title: Option<String>,
    user: Option<User>,
    base: Option<Branch>,
    head: Option<Head>,
    #[serde(default)]
    draft: bool,
    created_at: String,
    updated_at: Option<String>,
    closed_at: Option<String>,
    #[serde(default)]
    merged: bool,
    merged_at: Option<String>,
    merge_commit_sha: Option<String>,
    additions: Option<i64>,
    deletions: Option<i64>,
}

#[derive(Deserialize)]
struct Branch {
    #[serde(rename = "ref")]
    reference: String,
}

#[derive(Deserialize)]
struct Head {
    sha: String,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

#[derive(Deserialize)]
struct Review {
    state: String,
    submitted_at: Option<String>,
    user: Option<User>,
}

/// What a delivery of `event` (the X-GitHub-Event header) means.
pub fn actions(event: &str, body: &[u8], teams: &TeamConfig) -> Action {
    settle(match event {
        "ping" => Ok(Action::Ping),
        "push" => push(body),
        "deployment" => shape::<DeploymentEvent>(body, "deployment")
            .and_then(|e| deployment(&e.deployment, &e.repository, DeploymentChange::Start, teams)),
        "deployment_status" => shape::<StatusEvent>(body, "deployment_status").and_then(|e| {
            let at = || time("deployment_status.created_at", &e.deployment_status.created_at);
            let change = match e.deployment_status.state.as_str() {
                "queued" | "pending" | "in_progress" => DeploymentChange::Start,
                "success" => DeploymentChange::Deployed(at()?),
                "failure" | "error" => DeploymentChange::Failed(at()?),
                other => return Ok(Action::ignore(format!("deployment_status state `{other}` changes nothing"))),
            };
            deployment(&e.deployment, &e.repository, change, teams)
        }),
        "pull_request" | "pull_request_review" => {
            shape::<PullRequestEvent>(body, event).and_then(|e| pull_request(e, teams))
        }
        other => Ok(Action::ignore(format!("GitHub event `{other}` is not one em-metrics uses"))),
    })
}

fn push(body: &[u8]) -> Result<Action, Skip> {
    let push: Push = shape(body, "push")?;
    remember_push("github", &push.repository.full_name, &push.reference, push.deleted, &push.commits)
}

fn deployment(d: &Deployment, repo: &Repository, change: DeploymentChange, teams: &TeamConfig) -> Result<Action, Skip> {
    // The REST id is a number; a string is taken as it is.
    let number = match &d.id {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return Err(skip("deployment.id is not a number")),
    };
    let started = time("deployment.created_at", &d.created_at)?;
    let project = teams.project_for(&[&repo.full_name, &repo.name], &repo.name);
    let new = NewDeployment {
        id: Some(id("deployment.id", format!("github-{number}"))?),
        project_id: Some(id("repository.name", project)?),
        environment: Some(id("deployment.environment", &d.environment)?),
        commit_sha: Some(id("deployment.sha", &d.sha)?),
        // Until pushes say which commits it ships: see store::webhooks.
        first_commit_at: Some(started),
        deploy_start_at: Some(started),
        // A login too long to be one is dropped, not the deployment.
        username: Username::optional(d.creator.as_ref().and_then(|u| u.login.clone())).ok().flatten(),
        ..NewDeployment::default()
    };
    Ok(Action::Deployment(DeploymentStep { new, repository: repository_key("github", &repo.full_name), change }))
}

/// A login too long to be one is dropped, not the pull request.
fn login(user: Option<&User>) -> Option<Username> {
    Username::optional(user.and_then(|u| u.login.clone())).ok().flatten()
}

fn pull_request(e: PullRequestEvent, teams: &TeamConfig) -> Result<Action, Skip> {
    let p = &e.pull_request;
    let opened_at = time("pull_request.created_at", &p.created_at)?;
    // GitHub gives no time of its own for these steps: the pull request's
    // last update is when it happened.
    let updated = || p.updated_at.as_deref().map_or(Ok(opened_at), |t| time("pull_request.updated_at", t));
    let change = match (e.action.as_str(), &e.review) {
        ("opened", _) => PullRequestChange::Open,
        ("reopened", _) => PullRequestChange::Reopen(updated()?),
        ("ready_for_review", _) => PullRequestChange::Ready(updated()?),
        ("converted_to_draft", _) => PullRequestChange::ToDraft,
        ("closed", _) if p.merged => PullRequestChange::Merge(Merge {
            merged_at: p.merged_at.as_deref().map(|t| time("pull_request.merged_at", t)).transpose()?,
            merge_commit_sha: Some(id(
                "pull_request.merge_commit_sha",
                p.merge_commit_sha.clone().unwrap_or_default(),
            )?),
            additions: p.additions,
            deletions: p.deletions,
        }),
        ("closed", _) => PullRequestChange::Close(match &p.closed_at {
            Some(t) => time("pull_request.closed_at", t)?,
            None => updated()?,
        }),
        ("submitted", Some(review)) => {
            let state = match review.state.to_ascii_lowercase().as_str() {
                "approved" => ReviewState::Approved,
                "changes_requested" => ReviewState::ChangesRequested,
                "commented" => ReviewState::Commented,
                other => return Ok(Action::ignore(format!("a review in state `{other}` changes nothing"))),
            };
            let reviewed_at = review.submitted_at.as_deref().map(|t| time("review.submitted_at", t)).transpose()?;
            PullRequestChange::Review(NewReview { reviewed_at, state, reviewer: login(review.user.as_ref()) })
        }
        (other, _) => return Ok(Action::ignore(format!("pull request action `{other}` changes nothing"))),
    };
    let repo = &e.repository;
    let project = teams.project_for(&[&repo.full_name, &repo.name], &repo.name);
    let new = NewPullRequest {
        id: Some(id("pull_request.number", format!("{project}#{}", p.number))?),
        project_id: Some(id("repository.name", project)?),
        number: Some(p.number),
        title: p.title.as_ref().map(|t| t.chars().take(MAX_PULL_REQUEST_TITLE_CHARS).collect()),
        author: login(p.user.as_ref()),
        base_branch: p.base.as_ref().map(|b| b.reference.clone()),
        head_sha: p.head.as_ref().map(|h| id("pull_request.head.sha", &h.sha)).transpose()?,
        // Pushes to it come to this repository's hook (a fork's go to the fork's).
        head_branch: p
            .head
            .as_ref()
            .and_then(|h| h.reference.clone())
            .map(|branch| HeadBranch { repository: repository_key("github", &repo.full_name), branch }),
        draft: Some(p.draft),
        opened_at: Some(opened_at),
        first_commit_at: None,
    };
    Ok(Action::PullRequest(PullRequestStep { new, change }))
}
