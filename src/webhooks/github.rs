//! GitHub: `ping`, `push`, `deployment` and `deployment_status` events.

use serde::Deserialize;

use super::{
    id, remember_push, repository_key, settle, shape, skip, time, Action, DeploymentChange, DeploymentStep,
    PushedCommit, Skip,
};
use crate::domain::deployment::NewDeployment;
use crate::domain::Username;
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
