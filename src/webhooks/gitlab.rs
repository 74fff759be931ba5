//! GitLab: `Push Hook`, `Deployment Hook`, `Merge Request Hook` and
//! `Note Hook` (a comment on a merge request) events.

use chrono::DateTime;
use serde::Deserialize;

use super::{
    id, remember_push, repository_key, settle, shape, skip, Action, DeploymentChange, DeploymentStep, PushedCommit,
    Skip,
};
use crate::domain::delivery::{PullRequestChange, PullRequestStep};
use crate::domain::deployment::NewDeployment;
use crate::domain::pull_request::{HeadBranch, Merge, NewPullRequest, NewReview, MAX_PULL_REQUEST_TITLE_CHARS};
use crate::domain::{ReviewState, Username};
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

#[derive(Deserialize)]
struct MergeRequestHook {
    user: Option<User>,
    project: Project,
    object_attributes: MergeRequest,
    #[serde(default)]
    changes: serde_json::Value,
}

/// A merge request as `Merge Request Hook` (`object_attributes`) and
/// `Note Hook` (`merge_request`) carry it.
#[derive(Deserialize)]
struct MergeRequest {
    iid: i64,
    title: Option<String>,
    target_branch: Option<String>,
    source_branch: Option<String>,
    created_at: String,
    updated_at: Option<String>,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    work_in_progress: bool,
    merge_commit_sha: Option<String>,
    last_commit: Option<LastCommit>,
    action: Option<String>,
}

#[derive(Deserialize)]
struct LastCommit {
    id: String,
}

#[derive(Deserialize)]
struct NoteHook {
    user: Option<User>,
    project: Project,
    object_attributes: Note,
    merge_request: Option<MergeRequest>,
}

#[derive(Deserialize)]
struct Note {
    noteable_type: String,
    created_at: String,
}

/// What a delivery of `event` (the X-Gitlab-Event header) means.
pub fn actions(event: &str, body: &[u8], teams: &TeamConfig) -> Action {
    settle(match event {
        "Push Hook" => push(body),
        "Deployment Hook" => deployment(body, teams),
        "Merge Request Hook" => merge_request(body, teams),
        "Note Hook" => note(body, teams),
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

fn username(user: Option<&User>) -> Option<Username> {
    Username::optional(user.and_then(|u| u.username.clone())).ok().flatten()
}

/// The pull request a merge request is: `{project}#{iid}`. `author` is known
/// only from the delivery that opened it (GitLab names the author by id).
fn new_pull_request(
    mr: &MergeRequest,
    project: &Project,
    author: Option<Username>,
    teams: &TeamConfig,
) -> Result<NewPullRequest, Skip> {
    let name = teams.project_for(&[&project.path_with_namespace], &project.name);
    Ok(NewPullRequest {
        id: Some(id("object_attributes.iid", format!("{name}#{}", mr.iid))?),
        project_id: Some(id("project.name", name)?),
        number: Some(mr.iid),
        title: mr.title.as_ref().map(|t| t.chars().take(MAX_PULL_REQUEST_TITLE_CHARS).collect()),
        author,
        base_branch: mr.target_branch.clone(),
        head_sha: mr.last_commit.as_ref().map(|c| id("last_commit.id", &c.id)).transpose()?,
        // Pushes to it come to this project's hook (a fork's go to the fork's).
        head_branch: mr.source_branch.as_ref().map(|branch| HeadBranch {
            repository: repository_key("gitlab", &project.path_with_namespace),
            branch: branch.clone(),
        }),
        draft: Some(mr.draft || mr.work_in_progress),
        opened_at: Some(gitlab_time("created_at", &mr.created_at)?),
        first_commit_at: None,
    })
}

fn merge_request(body: &[u8], teams: &TeamConfig) -> Result<Action, Skip> {
    let hook: MergeRequestHook = shape(body, "Merge Request Hook")?;
    let mr = &hook.object_attributes;
    // GitLab gives no time of its own for a step: the merge request's last
    // update is when it happened.
    let updated =
        || mr.updated_at.as_deref().map_or(gitlab_time("created_at", &mr.created_at), |t| gitlab_time("updated_at", t));
    let actor = username(hook.user.as_ref());
    let action = mr.action.as_deref().unwrap_or_default();
    let change = match action {
        "open" => PullRequestChange::Open,
        "reopen" => PullRequestChange::Reopen(updated()?),
        "close" => PullRequestChange::Close(updated()?),
        "merge" => PullRequestChange::Merge(Merge {
            merged_at: Some(updated()?),
            merge_commit_sha: Some(id(
                "object_attributes.merge_commit_sha",
                mr.merge_commit_sha.clone().unwrap_or_default(),
            )?),
            additions: None,
            deletions: None,
        }),
        "approved" => PullRequestChange::Review(NewReview {
            reviewed_at: Some(updated()?),
            state: ReviewState::Approved,
            reviewer: actor.clone(),
        }),
        // An update that takes the draft off makes it ready; one that puts it on, a draft again.
        "update" => match hook.changes.get("draft").and_then(|d| d.get("current")).and_then(|c| c.as_bool()) {
            Some(false) => PullRequestChange::Ready(updated()?),
            Some(true) => PullRequestChange::ToDraft,
            None => return Ok(Action::ignore("a merge request update that changes nothing em-metrics keeps")),
        },
        other => return Ok(Action::ignore(format!("merge request action `{other}` changes nothing"))),
    };
    let author = if action == "open" { actor } else { None };
    let new = new_pull_request(mr, &hook.project, author, teams)?;
    Ok(Action::PullRequest(PullRequestStep { new, change }))
}

/// A comment on a merge request counts as a `commented` review.
fn note(body: &[u8], teams: &TeamConfig) -> Result<Action, Skip> {
    let hook: NoteHook = shape(body, "Note Hook")?;
    if hook.object_attributes.noteable_type != "MergeRequest" {
        return Ok(Action::ignore(format!(
            "a note on a {}, not a merge request",
            hook.object_attributes.noteable_type
        )));
    }
    let Some(mr) = &hook.merge_request else { return Err(skip("a merge request note without merge_request")) };
    let change = PullRequestChange::Review(NewReview {
        reviewed_at: Some(gitlab_time("object_attributes.created_at", &hook.object_attributes.created_at)?),
        state: ReviewState::Commented,
        reviewer: username(hook.user.as_ref()),
    });
    let new = new_pull_request(mr, &hook.project, None, teams)?;
    Ok(Action::PullRequest(PullRequestStep { new, change }))
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
