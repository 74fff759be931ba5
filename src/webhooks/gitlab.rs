//! GitLab: `Push Hook` and `Deployment Hook` events.

use chrono::DateTime;
use serde::Deserialize;

use super::{
    id, remember_push, repository_key, settle, shape, skip, Action, DeploymentChange, DeploymentStep, PushedCommit,
    Skip,
};
use crate::domain::deployment::NewDeployment;
use crate::domain::Username;
use crate::teams::TeamConfig;
use crate::time::Timestamp;

#[derive(Deserialize)]
struct Project {
    name: String,
    path_with_namespace: String,
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    reference: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    commits: Vec<PushedCommit>,
    project: Project,
}

#[derive(Deserialize)]
struct DeploymentHook {
    status: String,
    status_changed_at: String,
    deployment_id: serde_json::Value,
    environment: String,
    commit_url: String,
    project: Project,
    user: Option<User>,
}

#[derive(Deserialize)]
struct User {
    username: Option<String>,
}

/// What a delivery of `event` (the X-Gitlab-Event header) means.
pub fn actions(event: &str, body: &[u8], teams: &TeamConfig) -> Action {
    settle(match event {
        "Push Hook" => push(body),
        "Deployment Hook" => deployment(body, teams),
        other => Ok(Action::ignore(format!("GitLab event `{other}` is not one em-metrics uses"))),
    })
}

fn push(body: &[u8]) -> Result<Action, Skip> {
    let push: Push = shape(body, "Push Hook")?;
    // GitLab says a branch was deleted with an all-zero `after`.
    let deleted = !push.after.is_empty() && push.after.bytes().all(|b| b == b'0');
    remember_push("gitlab", &push.project.path_with_namespace, &push.reference, deleted, &push.commits)
}

fn deployment(body: &[u8], teams: &TeamConfig) -> Result<Action, Skip> {
    let hook: DeploymentHook = shape(body, "Deployment Hook")?;
    let at = gitlab_time("status_changed_at", &hook.status_changed_at)?;
    let change = match hook.status.as_str() {
        "running" => DeploymentChange::Start,
        "success" => DeploymentChange::Deployed(at),
        "failed" | "canceled" => DeploymentChange::Failed(at),
        other => return Ok(Action::ignore(format!("deployment status `{other}` changes nothing"))),
    };
    let number = match &hook.deployment_id {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return Err(skip("deployment_id is not a number")),
    };
    let sha = hook.commit_url.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    let p = &hook.project;
    let project = teams.project_for(&[&p.path_with_namespace], &p.name);
    let new = NewDeployment {
        id: Some(id("deployment_id", format!("gitlab-{number}"))?),
        project_id: Some(id("project.name", project)?),
        environment: Some(id("environment", &hook.environment)?),
        commit_sha: Some(id("commit_url", sha)?),
        first_commit_at: Some(at),
        deploy_start_at: Some(at),
        // A name too long to be one is dropped, not the deployment.
        username: Username::optional(hook.user.and_then(|u| u.username)).ok().flatten(),
        ..NewDeployment::default()
    };
    Ok(Action::Deployment(DeploymentStep { new, repository: repository_key("gitlab", &p.path_with_namespace), change }))
}

/// GitLab writes `2021-04-28 21:50:00 +0200` (and sometimes `… UTC`) in
/// its hooks; RFC 3339 and Unix seconds are taken too.
pub fn gitlab_time(field: &str, text: &str) -> Result<Timestamp, Skip> {
    let text = text.trim();
    if let Ok(t) = Timestamp::parse(text) {
        return Ok(t);
    }
    let utc = text.strip_suffix(" UTC").map(|t| format!("{t} +0000"));
    let parsed = DateTime::parse_from_str(utc.as_deref().unwrap_or(text), "%Y-%m-%d %H:%M:%S %z");
    parsed
        .map(|t| Timestamp::from_millis(t.timestamp_millis()))
        .map_err(|_| skip(format!("{field}: `{text}` is not a time like 2021-04-28 21:50:00 +0200 or RFC 3339")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlabs_own_time_format_is_read_with_its_offset() {
        let t = gitlab_time("status_changed_at", "2021-04-28 21:50:00 +0200").expect("parses");
        assert_eq!(t, Timestamp::parse("2021-04-28T19:50:00Z").expect("valid"));
        let t = gitlab_time("status_changed_at", "2021-04-28 19:50:00 UTC").expect("parses");
        assert_eq!(t, Timestamp::parse("2021-04-28T19:50:00Z").expect("valid"));
        assert!(gitlab_time("status_changed_at", "yesterday").is_err());
    }
}
