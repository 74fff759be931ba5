//! GitHub and GitLab: deployments from their events, and per-change lead
//! time from the commits their pushes carried.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{app_with_metrics, assert_exported, deliver, fixture, hmac_hex};
use crate::helpers::{close, dora, Reply, TestApp, GITHUB_SECRET, GITLAB_TOKEN};

const DAY: &str = "from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z";
/// The example repository (`Codertocat/Hello-World`) is the project `hello`.
const TEAMS: &str = r#"{"teams": {"web": {"projects": ["hello"]}},
    "projects": {"hello": {"aliases": ["Codertocat/Hello-World"]}, "diaspora": {"aliases": ["mike/diaspora"]}}}"#;

async fn github(app: &TestApp, event: &str, delivery: &str, body: &Value) -> Reply {
    let text = body.to_string();
    let signature = format!("sha256={}", hmac_hex(GITHUB_SECRET, &[text.as_bytes()]));
    let headers = [("x-github-event", event), ("x-github-delivery", delivery), ("x-hub-signature-256", &signature)];
    deliver(app, "/webhooks/github", &text, &headers).await
}

/// A host's example push with its commits replaced by `commits` (sha,
/// time), each shaped like the example's first one.
fn with_commits(mut p: Value, commits: &[(&str, &str)]) -> Value {
    let template = p["commits"][0].clone();
    let list: Vec<Value> = commits
        .iter()
        .map(|(sha, at)| {
            let mut c = template.clone();
            c["id"] = json!(sha);
            c["timestamp"] = json!(at);
            c
        })
        .collect();
    p["commits"] = Value::Array(list);
    p
}

/// The example push, to a branch, carrying `commits` (sha, time).
fn push(commits: &[(&str, &str)]) -> Value {
    let mut p = with_commits(fixture("github/push.json"), commits);
    let list = p["commits"].as_array().cloned().unwrap_or_default();
    p["after"] = json!(commits.last().map(|c| c.0));
    p["head_commit"] = list.last().cloned().unwrap_or(Value::Null);
    p
}

fn deployment(id: u64, sha: &str, env: &str, created: &str) -> Value {
    let mut d = fixture("github/deployment.json");
    d["deployment"]["id"] = json!(id);
    d["deployment"]["sha"] = json!(sha);
    d["deployment"]["environment"] = json!(env);
    d["deployment"]["created_at"] = json!(created);
    d
}

fn status(id: u64, sha: &str, env: &str, created: &str, state: &str, at: &str) -> Value {
    let mut s = fixture("github/deployment_status-success.json");
    s["deployment"]["id"] = json!(id);
    s["deployment"]["sha"] = json!(sha);
    s["deployment"]["environment"] = json!(env);
    s["deployment"]["created_at"] = json!(created);
    s["deployment_status"]["state"] = json!(state);
    s["deployment_status"]["created_at"] = json!(at);
    s["deployment_status"]["environment"] = json!(env);
    s
}

/// | delivery | effect |
/// |---|---|
/// | push 1: c1 08:00, c2 09:00 | known commits |
/// | push 2: c3 10:00 | known commits |
/// | deployment 1001 (c2, production, 11:00), success 11:30 | ships c1 (12600 s), c2 (9000 s), not c3 (a later push) |
/// | in_progress 1002 (c3, 12:00), success 12:20 | ships c3 (8400 s) |
/// | 1003 (c3 again, 12:55), success 13:00 | a redeploy: no change |
/// | 1004 (sha never pushed, 14:00), success 14:10 | one change, first_commit_at = its start: 600 s |
/// | 1005 failure 15:00 | created and failed |
/// | 2001 (c3, staging, 12:25), success 12:30 | ships c1, c2, c3 to staging: 16200, 12600, 9000 |
///
/// Production: 4 deployed; changes 12600, 9000, 8400, 600 → median 8700.
/// An incident at 14:30 without a deployment is attributed to 1004 (live
/// 14:10); restored 15:10 → recovery 3600 s; change failure rate 1/4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_story_gives_deployments_per_change_lead_times_and_failures() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let ping = github(&app, "ping", "d-ping", &fixture("github/ping.json")).await;
    assert_eq!(ping.status, StatusCode::OK, "{}", ping.body);

    let p1 =
        github(&app, "push", "d-p1", &push(&[("c1", "2024-05-01T08:00:00Z"), ("c2", "2024-05-01T09:00:00Z")])).await;
    assert_eq!(p1.status, StatusCode::OK, "{}", p1.body);
    assert_eq!(p1.body["known_commits"], json!({"repository": "github:codertocat/hello-world", "commits": 2}));
    github(&app, "push", "d-p2", &push(&[("c3", "2024-05-01T10:00:00Z")])).await;

    let started =
        github(&app, "deployment", "d-1", &deployment(1001, "c2", "production", "2024-05-01T11:00:00Z")).await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let d = &started.body["deployment"];
    assert_eq!(
        (d["id"].as_str(), d["project_id"].as_str(), d["status"].as_str()),
        (Some("github-1001"), Some("hello"), Some("started"))
    );
    assert_eq!(d["team_id"], "web", "the alias maps the repository to hello, and hello to its team");
    assert_eq!(d["commit_sha"], "c2");

    let success = status(1001, "c2", "production", "2024-05-01T11:00:00Z", "success", "2024-05-01T11:30:00Z");
    let deployed = github(&app, "deployment_status", "d-2", &success).await;
    assert_eq!(deployed.status, StatusCode::OK, "{}", deployed.body);
    let d = &deployed.body["deployment"];
    assert_eq!((d["status"].as_str(), d["change_count"].as_u64()), (Some("deployed"), Some(2)));
    assert_eq!(d["first_commit_at"], "2024-05-01T08:00:00.000Z", "the oldest commit it shipped");
    assert_eq!(d["deployed_at"], "2024-05-01T11:30:00.000Z");

    // GitHub redelivers: same delivery id, nothing changes.
    let again = github(&app, "deployment_status", "d-2", &success).await;
    assert_eq!((again.status, again.body.clone()), (StatusCode::OK, json!({"duplicate": true})));

    let running = status(1002, "c3", "production", "2024-05-01T12:00:00Z", "in_progress", "2024-05-01T12:01:00Z");
    let created = github(&app, "deployment_status", "d-3", &running).await;
    assert_eq!(created.status, StatusCode::CREATED, "created when first seen: {}", created.body);
    assert_eq!(created.body["deployment"]["status"], "started");
    let done = status(1002, "c3", "production", "2024-05-01T12:00:00Z", "success", "2024-05-01T12:20:00Z");
    assert_eq!(github(&app, "deployment_status", "d-4", &done).await.body["deployment"]["change_count"], 1);

    let redeploy = status(1003, "c3", "production", "2024-05-01T12:55:00Z", "success", "2024-05-01T13:00:00Z");
    let r = github(&app, "deployment_status", "d-5", &redeploy).await;
    assert_eq!((r.status, r.body["deployment"]["change_count"].as_u64()), (StatusCode::CREATED, Some(0)));

    let unknown = status(1004, "0a1b2c3d", "production", "2024-05-01T14:00:00Z", "success", "2024-05-01T14:10:00Z");
    let u = github(&app, "deployment_status", "d-6", &unknown).await;
    assert_eq!(u.body["deployment"]["change_count"], 1);
    assert_eq!(u.body["deployment"]["first_commit_at"], "2024-05-01T14:00:00.000Z", "no push carried it: its start");

    let failure = status(1005, "c3", "production", "2024-05-01T15:00:00Z", "failure", "2024-05-01T15:05:00Z");
    let f = github(&app, "deployment_status", "d-7", &failure).await;
    assert_eq!((f.status, f.body["deployment"]["status"].as_str()), (StatusCode::CREATED, Some("failed")));

    let staging = status(2001, "c3", "staging", "2024-05-01T12:25:00Z", "success", "2024-05-01T12:30:00Z");
    assert_eq!(github(&app, "deployment_status", "d-8", &staging).await.body["deployment"]["change_count"], 3);

    let inactive = status(1001, "c2", "production", "2024-05-01T11:00:00Z", "inactive", "2024-05-01T16:00:00Z");
    let i = github(&app, "deployment_status", "d-9", &inactive).await;
    assert_eq!(i.status, StatusCode::ACCEPTED);
    assert!(i.body["ignored"].as_str().is_some_and(|w| w.contains("inactive")), "{}", i.body);

    let incident = app
        .post(
            "/incidents",
            json!({"project_id": "hello", "started_at": "2024-05-01T14:30:00Z", "restored_at": "2024-05-01T15:10:00Z"}),
        )
        .await;
    assert_eq!(incident.body["deployment_id"], "github-1004", "{}", incident.body);

    let prod = dora(&app, &format!("{DAY}&environment=production")).await;
    assert_eq!(prod["deployment_frequency"]["deployments"], 4);
    assert_eq!(prod["lead_time_for_changes"]["samples"], 4);
    close(&prod["lead_time_for_changes"]["median_seconds"], 8700.0);
    assert_eq!(prod["change_failure_rate"]["change_failures"], 1);
    close(&prod["change_failure_rate"]["rate"], 0.25);
    close(&prod["failed_deployment_recovery_time"]["median_seconds"], 3600.0);
    let staging = dora(&app, &format!("{DAY}&environment=staging")).await;
    assert_eq!(staging["lead_time_for_changes"]["samples"], 3);
    close(&staging["lead_time_for_changes"]["median_seconds"], 12600.0);

    assert_exported(
        &app,
        &[
            r#"deployment_frequency_total{environment="production",project_id="hello",team_id="web"} 4"#,
            r#"deployment_failed_total{environment="production",project_id="hello",team_id="web"} 1"#,
            r#"lead_time_for_changes_seconds_count{environment="production",project_id="hello",team_id="web"} 4"#,
            r#"lead_time_for_changes_seconds_sum{environment="production",project_id="hello",team_id="web"} 30600"#,
            r#"change_failure_count_total{environment="production",project_id="hello",team_id="web"} 1"#,
            r#"failed_deployment_recovery_time_seconds_sum{environment="production",project_id="hello",team_id="web"} 3600"#,
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_delivery_with_a_bad_signature_stores_nothing() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let body = deployment(7, "c1", "production", "2024-05-01T11:00:00Z").to_string();
    let good = format!("sha256={}", hmac_hex(GITHUB_SECRET, &[body.as_bytes()]));
    let wrong_secret = format!("sha256={}", hmac_hex("not-the-secret", &[body.as_bytes()]));
    let tampered = body.replace("production", "staging");
    let cases: [(&str, Vec<(&str, &str)>); 4] = [
        (&tampered, vec![("x-hub-signature-256", good.as_str())]),
        (&body, vec![("x-hub-signature-256", wrong_secret.as_str())]),
        (&body, vec![("x-hub-signature-256", "sha1=abc")]),
        (&body, vec![]),
    ];
    for (text, mut headers) in cases {
        headers.push(("x-github-event", "deployment"));
        // The API's own token is not enough either.
        let bearer = format!("Bearer {}", crate::helpers::TOKEN);
        headers.push(("authorization", &bearer));
        let reply = deliver(&app, "/api/v1/webhooks/github", text, &headers).await;
        crate::helpers::assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized", None);
    }
    assert_eq!(app.get("/deployments").await.body, json!([]), "nothing stored");
    let signed = deliver(
        &app,
        "/api/v1/webhooks/github",
        &body,
        &[("x-github-event", "deployment"), ("x-hub-signature-256", &good)],
    )
    .await;
    assert_eq!(signed.status, StatusCode::CREATED, "{}", signed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_pushes_branch_deletions_and_other_events_are_accepted_and_ignored() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let tag = github(&app, "push", "t1", &fixture("github/push-tag.json")).await;
    assert_eq!(tag.status, StatusCode::ACCEPTED, "{}", tag.body);
    let mut deleted = push(&[]);
    deleted["deleted"] = json!(true);
    assert_eq!(github(&app, "push", "t2", &deleted).await.status, StatusCode::ACCEPTED);
    let other = github(&app, "issues", "t3", &json!({"action": "opened"})).await;
    assert_eq!(other.status, StatusCode::ACCEPTED);
    assert!(other.body["ignored"].as_str().is_some_and(|w| w.contains("issues")), "{}", other.body);
}

async fn gitlab(app: &TestApp, event: &str, uuid: &str, body: &Value) -> Reply {
    let headers = [("x-gitlab-event", event), ("x-gitlab-token", GITLAB_TOKEN), ("x-gitlab-event-uuid", uuid)];
    deliver(app, "/webhooks/gitlab", &body.to_string(), &headers).await
}

fn gitlab_deployment(id: u64, status: &str, sha: &str, at: &str) -> Value {
    let mut d = fixture("gitlab/deployment.json");
    d["deployment_id"] = json!(id);
    d["status"] = json!(status);
    d["status_changed_at"] = json!(at);
    d["environment"] = json!("production");
    d["commit_url"] = json!(format!("http://10.30.90.99:3000/root/test-deployment-webhooks/-/commit/{sha}"));
    d["project"]["path_with_namespace"] = json!("mike/diaspora");
    d
}

/// GitLab's push carries b65 (09:00) and da1 (10:00); deployment 15 of da1
/// runs at 11:00 and succeeds at 11:30 (GitLab writes 13:30 +0200):
/// changes b65 9000 s and da1 5400 s → median 7200. Deployment 16 fails.
/// An incident at 12:00, restored 12:45, is attributed to deployment 15:
/// change failure rate 1/1, recovery 12:45 − 11:30 = 4500 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_story_gives_deployments_and_lead_times_from_pushes() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let mut p = fixture("gitlab/push.json");
    p["commits"][0]["timestamp"] = json!("2024-05-01T11:00:00+02:00");
    p["commits"][1]["timestamp"] = json!("2024-05-01T12:00:00+02:00");
    let pushed = gitlab(&app, "Push Hook", "u-1", &p).await;
    assert_eq!(pushed.body["known_commits"]["commits"], 2, "{}", pushed.body);
    let sha = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7";
    let running =
        gitlab(&app, "Deployment Hook", "u-2", &gitlab_deployment(15, "running", sha, "2024-05-01 13:00:00 +0200"))
            .await;
    assert_eq!(running.status, StatusCode::CREATED, "{}", running.body);
    assert_eq!(running.body["deployment"]["id"], "gitlab-15");
    assert_eq!(running.body["deployment"]["project_id"], "diaspora", "path_with_namespace through its alias");
    assert_eq!(running.body["deployment"]["username"], "root");
    let success = gitlab_deployment(15, "success", sha, "2024-05-01 13:30:00 +0200");
    let deployed = gitlab(&app, "Deployment Hook", "u-3", &success).await;
    assert_eq!(deployed.status, StatusCode::OK, "{}", deployed.body);
    assert_eq!(deployed.body["deployment"]["deployed_at"], "2024-05-01T11:30:00.000Z");
    assert_eq!(deployed.body["deployment"]["change_count"], 2);
    assert_eq!(gitlab(&app, "Deployment Hook", "u-3", &success).await.body, json!({"duplicate": true}));
    let failed =
        gitlab(&app, "Deployment Hook", "u-4", &gitlab_deployment(16, "canceled", sha, "2024-05-01 14:00:00 +0200"))
            .await;
    assert_eq!(failed.body["deployment"]["status"], "failed", "{}", failed.body);

    // An incident 30 minutes after it went live, restored 45 minutes later.
    let incident = app
        .post("/incidents", json!({"project_id": "diaspora", "started_at": "2024-05-01T12:00:00Z", "restored_at": "2024-05-01T12:45:00Z"}))
        .await;
    assert_eq!(incident.body["deployment_id"], "gitlab-15", "{}", incident.body);

    let r = dora(&app, DAY).await;
    assert_eq!(r["deployment_frequency"]["deployments"], 1);
    close(&r["lead_time_for_changes"]["median_seconds"], 7200.0);
    close(&r["change_failure_rate"]["rate"], 1.0);
    close(&r["failed_deployment_recovery_time"]["median_seconds"], 4500.0);

    let wrong = deliver(
        &app,
        "/webhooks/gitlab",
        &success.to_string(),
        &[("x-gitlab-event", "Deployment Hook"), ("x-gitlab-token", "guess")],
    )
    .await;
    crate::helpers::assert_error(&wrong, StatusCode::UNAUTHORIZED, "unauthorized", None);
    assert_exported(
        &app,
        &[
            r#"deployment_frequency_total{environment="production",project_id="diaspora"} 1"#,
            r#"deployment_failed_total{environment="production",project_id="diaspora"} 1"#,
            r#"lead_time_for_changes_seconds_sum{environment="production",project_id="diaspora"} 14400"#,
        ],
    )
    .await;
}

fn gitlab_merge_request(iid: i64, action: &str, updated_at: &str, user: &str) -> Value {
    let mut mr = fixture("gitlab/merge_request.json");
    mr["project"]["path_with_namespace"] = json!("mike/diaspora");
    mr["user"]["username"] = json!(user);
    let attributes = &mut mr["object_attributes"];
    attributes["iid"] = json!(iid);
    attributes["action"] = json!(action);
    attributes["created_at"] = json!("2024-05-01T09:00:00Z");
    attributes["updated_at"] = json!(updated_at);
    mr
}

/// GitLab's merge request and note examples: a draft opened by root, made
/// ready at 10:00, commented on by a reviewer at 11:00, approved by its
/// author (not counted), merged at 12:00 and deployed to production at
/// 13:00: pickup, review and deploy an hour each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_merge_request_from_draft_to_production() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let mut opened = gitlab_merge_request(1, "open", "2024-05-01T09:00:00Z", "root");
    opened["object_attributes"]["draft"] = json!(true);
    let reply = gitlab(&app, "Merge Request Hook", "mr-1", &opened).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["pull_request"]["id"], "diaspora#1");
    assert_eq!(reply.body["pull_request"]["author"], "root");
    assert_eq!(reply.body["pull_request"]["ready_at"], Value::Null);
    assert_eq!(gitlab(&app, "Merge Request Hook", "mr-1", &opened).await.body, json!({"duplicate": true}));

    let ready = gitlab_merge_request(1, "update", "2024-05-01T10:00:00Z", "root");
    let reply = gitlab(&app, "Merge Request Hook", "mr-2", &ready).await;
    assert_eq!(reply.body["pull_request"]["ready_at"], "2024-05-01T10:00:00.000Z", "{}", reply.body);

    let mut note = fixture("gitlab/note.json");
    note["project"]["path_with_namespace"] = json!("mike/diaspora");
    note["user"]["username"] = json!("reviewer1");
    note["object_attributes"]["created_at"] = json!("2024-05-01 11:00:00 UTC");
    note["merge_request"]["created_at"] = json!("2024-05-01 09:00:00 UTC");
    let reply = gitlab(&app, "Note Hook", "mr-3", &note).await;
    assert_eq!(reply.body["pull_request"]["reviews"], 1, "{}", reply.body);

    let own = gitlab_merge_request(1, "approved", "2024-05-01T11:30:00Z", "root");
    assert_eq!(gitlab(&app, "Merge Request Hook", "mr-4", &own).await.body["pull_request"]["reviews"], 1);

    let mut merged = gitlab_merge_request(1, "merge", "2024-05-01T12:00:00Z", "root");
    merged["object_attributes"]["merge_commit_sha"] = json!("abc123");
    let reply = gitlab(&app, "Merge Request Hook", "mr-5", &merged).await;
    assert_eq!(reply.body["pull_request"]["state"], "merged", "{}", reply.body);

    let deployed = gitlab_deployment(31, "success", "abc123", "2024-05-01 13:00:00 UTC");
    assert_eq!(gitlab(&app, "Deployment Hook", "mr-6", &deployed).await.status, StatusCode::CREATED);
    let pr = app.get("/pull-requests/diaspora%231").await.body;
    assert_eq!(
        (&pr["pickup_seconds"], &pr["review_seconds"], &pr["deploy_seconds"]),
        (&json!(3600.0), &json!(3600.0), &json!(3600.0)),
        "{pr}"
    );
    assert_eq!(pr["deployment_id"], "gitlab-31");

    // Another merge request closed and reopened; an update that is not about the draft changes nothing.
    let closed = gitlab_merge_request(2, "close", "2024-05-01T10:00:00Z", "root");
    assert_eq!(gitlab(&app, "Merge Request Hook", "mr-7", &closed).await.body["pull_request"]["state"], "closed");
    let reopened = gitlab_merge_request(2, "reopen", "2024-05-01T11:00:00Z", "root");
    assert_eq!(gitlab(&app, "Merge Request Hook", "mr-8", &reopened).await.body["pull_request"]["state"], "open");
    let mut edit = gitlab_merge_request(2, "update", "2024-05-01T12:00:00Z", "root");
    edit["changes"] = json!({"title": {"previous": "a", "current": "b"}});
    assert_eq!(gitlab(&app, "Merge Request Hook", "mr-9", &edit).await.status, StatusCode::ACCEPTED);
}

/// A GitLab push of `commits` (sha, time) to `branch` of mike/diaspora.
fn gitlab_push(branch: &str, commits: &[(&str, &str)]) -> Value {
    let mut p = with_commits(fixture("gitlab/push.json"), commits);
    p["ref"] = json!(format!("refs/heads/{branch}"));
    p
}

/// A merge request `iid` from `branch`, opened at `opened_at`.
fn gitlab_merge_request_from(iid: i64, branch: &str, opened_at: &str) -> Value {
    let mut mr = gitlab_merge_request(iid, "open", opened_at, "root");
    mr["object_attributes"]["source_branch"] = json!(branch);
    mr["object_attributes"]["created_at"] = json!(opened_at);
    mr
}

/// | delivery | first_commit_at of |
/// |---|---|
/// | push to `feature`: 07:00, 08:00 | (no merge request yet) |
/// | merge request 3 from `feature` opened 09:00 | 3: 07:00 (coding 7200 s) |
/// | push to `feature`: 06:00 (rebased older work) | 3: 06:00 |
/// | push to `feature`: 10:00 | 3: 06:00 (later commits change nothing) |
/// | merge request 4 from `other`, no pushes | 4: null |
/// | merge request 3 merged 11:00 | `feature` forgotten |
/// | push to `feature`: 12:30; merge request 5 opened 13:00 | 5: 12:30, not 06:00 |
/// | `feature` deleted; merge request 6 from it opened 14:00 | 6: null |
/// | a redelivery of the 06:00 push to `other` | 4: null (a duplicate changes nothing) |
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_a_merge_requests_branch_give_its_first_commit() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let first_commit = |body: &Value| body["pull_request"]["first_commit_at"].clone();
    let pushed = gitlab(
        &app,
        "Push Hook",
        "p-1",
        &gitlab_push("feature", &[("f1", "2024-05-01T07:00:00Z"), ("f2", "2024-05-01T08:00:00Z")]),
    )
    .await;
    assert_eq!(pushed.body["known_commits"]["commits"], 2, "{}", pushed.body);

    let opened =
        gitlab(&app, "Merge Request Hook", "o-3", &gitlab_merge_request_from(3, "feature", "2024-05-01T09:00:00Z"))
            .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    assert_eq!(first_commit(&opened.body), "2024-05-01T07:00:00.000Z", "{}", opened.body);
    assert_eq!(opened.body["pull_request"]["coding_seconds"], 7200.0);

    gitlab(&app, "Push Hook", "p-2", &gitlab_push("feature", &[("f0", "2024-05-01T06:00:00Z")])).await;
    gitlab(&app, "Push Hook", "p-3", &gitlab_push("feature", &[("f3", "2024-05-01T10:00:00Z")])).await;
    let pr = app.get("/pull-requests/diaspora%233").await.body;
    assert_eq!(
        (&pr["first_commit_at"], &pr["coding_seconds"]),
        (&json!("2024-05-01T06:00:00.000Z"), &json!(10800.0)),
        "{pr}"
    );

    let other =
        gitlab(&app, "Merge Request Hook", "o-4", &gitlab_merge_request_from(4, "other", "2024-05-01T09:30:00Z")).await;
    assert_eq!(first_commit(&other.body), Value::Null, "no push to its branch: {}", other.body);

    let mut merged = gitlab_merge_request(3, "merge", "2024-05-01T11:00:00Z", "root");
    merged["object_attributes"]["source_branch"] = json!("feature");
    merged["object_attributes"]["merge_commit_sha"] = json!("m3");
    let merged = gitlab(&app, "Merge Request Hook", "o-5", &merged).await;
    assert_eq!(merged.body["pull_request"]["state"], "merged", "{}", merged.body);

    gitlab(&app, "Push Hook", "p-4", &gitlab_push("feature", &[("g1", "2024-05-01T12:30:00Z")])).await;
    let again =
        gitlab(&app, "Merge Request Hook", "o-6", &gitlab_merge_request_from(5, "feature", "2024-05-01T13:00:00Z"))
            .await;
    assert_eq!(first_commit(&again.body), "2024-05-01T12:30:00.000Z", "the branch name started over: {}", again.body);
    let pr = app.get("/pull-requests/diaspora%233").await.body;
    assert_eq!(pr["first_commit_at"], "2024-05-01T06:00:00.000Z", "the merged one keeps its own: {pr}");

    let mut deleted = gitlab_push("feature", &[]);
    deleted["after"] = json!("0000000000000000000000000000000000000000");
    let deleted = gitlab(&app, "Push Hook", "p-5", &deleted).await;
    assert_eq!(deleted.status, StatusCode::ACCEPTED, "{}", deleted.body);
    let after =
        gitlab(&app, "Merge Request Hook", "o-7", &gitlab_merge_request_from(6, "feature", "2024-05-01T14:00:00Z"))
            .await;
    assert_eq!(first_commit(&after.body), Value::Null, "a deleted branch's pushes are forgotten: {}", after.body);

    let duplicate = gitlab(&app, "Push Hook", "p-2", &gitlab_push("other", &[("f0", "2024-05-01T06:00:00Z")])).await;
    assert_eq!(duplicate.body, json!({"duplicate": true}));
    assert_eq!(app.get("/pull-requests/diaspora%234").await.body["first_commit_at"], Value::Null);
}
