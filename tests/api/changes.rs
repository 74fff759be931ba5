//! The DORA 2024 model against hand-computed fixtures: per-change lead time,
//! rollbacks, rework, incident attribution and correction. Every expected
//! number is worked out in the comments from the fixture, not from the code.

use axum::http::StatusCode;
use em_metrics::domain::DomainEvent;
use serde_json::{json, Value};

use crate::helpers::{assert_error, close, dora, incident, DeploymentBuilder, TestApp};

const DAY1: &str = "from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z";
const TWO_DAYS: &str = "from=2024-05-01T00:00:00Z&to=2024-05-03T00:00:00Z";

fn commits(list: &[(&str, &str)]) -> Value {
    list.iter().map(|(sha, at)| json!({"sha": sha, "committed_at": at})).collect()
}

/// A single-call deployment of `api` to `env`, deployed at `deployed`.
fn live(id: &str, env: &str, deployed: &str) -> DeploymentBuilder {
    DeploymentBuilder::new(id)
        .set("environment", env)
        .set("first_commit_at", "2024-05-01T00:00:00Z")
        .set("deploy_start_at", "2024-05-01T00:00:00Z")
        .deployed_at(deployed)
}

async fn deployment(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/deployments/{id}")).await.body
}

fn change_lead_times(app: &TestApp) -> Vec<Vec<f64>> {
    app.events
        .events()
        .into_iter()
        .filter_map(|e| match e {
            DomainEvent::DeploymentDeployed { change_lead_times, .. } => Some(change_lead_times),
            _ => None,
        })
        .collect()
}

/// | deployment | env | deployed | commits | new changes (lead) |
/// |---|---|---|---|---|
/// | s1 | staging | 05-01 10:00 | a 06:00, b 08:00 | a 14400, b 7200 |
/// | p1 | production | 05-01 12:00 | a, b | a 21600, b 14400 (new to production) |
/// | p2 | production | 05-02 12:00 | b, c 05-02 10:00 | c 7200 (b shipped by p1) |
/// | p3 | production | 05-02 14:00 | c (a redeploy) | none |
#[tokio::test]
async fn each_commit_is_a_change_once_per_environment_with_its_own_lead_time() {
    let app = TestApp::new();
    let ab = commits(&[("a", "2024-05-01T06:00:00Z"), ("b", "2024-05-01T08:00:00Z")]);
    for (id, env, deployed, list) in [
        ("s1", "staging", "2024-05-01T10:00:00Z", ab.clone()),
        ("p1", "production", "2024-05-01T12:00:00Z", ab),
        (
            "p2",
            "production",
            "2024-05-02T12:00:00Z",
            commits(&[("b", "2024-05-01T08:00:00Z"), ("c", "2024-05-02T10:00:00Z")]),
        ),
        ("p3", "production", "2024-05-02T14:00:00Z", commits(&[("c", "2024-05-02T10:00:00Z")])),
    ] {
        let d = DeploymentBuilder::new(id)
            .set("environment", env)
            .set("commits", list)
            .set("deploy_start_at", deployed)
            .deployed_at(deployed);
        let mut body = d.json();
        body.as_object_mut().expect("object").remove("first_commit_at");
        let reply = app.post("/deployments", body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    for (id, expected) in [("s1", 2), ("p1", 2), ("p2", 1), ("p3", 0)] {
        assert_eq!(deployment(&app, id).await["change_count"], expected, "{id}");
    }
    // first_commit_at defaults to the earliest commit: p2's is b at 05-01 08:00,
    // so its own lead time is 05-02 12:00 − 05-01 08:00 = 28 h.
    let p2 = deployment(&app, "p2").await;
    assert_eq!(p2["first_commit_at"], "2024-05-01T08:00:00.000Z");
    close(&p2["lead_time_seconds"], 28.0 * 3600.0);
    // One lead-time observation per new change, in deploy order.
    assert_eq!(change_lead_times(&app), [vec![14400.0, 7200.0], vec![21600.0, 14400.0], vec![7200.0], vec![]]);

    // Production: changes 21600, 14400, 7200 → median 14400; 3 deployments.
    let prod = dora(&app, &format!("{TWO_DAYS}&environment=production")).await;
    assert_eq!(prod["lead_time_for_changes"]["samples"], 3);
    close(&prod["lead_time_for_changes"]["median_seconds"], 14400.0);
    assert_eq!(prod["deployment_frequency"]["deployments"], 3);
    // Everywhere: 7200, 7200, 14400, 14400, 21600 → median 14400; p90 at rank
    // 3.6: 14400 + 0.6 * 7200 = 18720.
    let all = dora(&app, &format!("{TWO_DAYS}&environment=*")).await;
    assert_eq!(all["lead_time_for_changes"]["samples"], 5);
    close(&all["lead_time_for_changes"]["median_seconds"], 14400.0);
    close(&all["lead_time_for_changes"]["p90_seconds"], 18720.0);
    // Day 2 alone holds only p2's change c.
    let day2 = dora(&app, "from=2024-05-02T00:00:00Z&to=2024-05-03T00:00:00Z&environment=*").await;
    assert_eq!(day2["lead_time_for_changes"]["samples"], 1);
    close(&day2["lead_time_for_changes"]["median_seconds"], 7200.0);
}

/// api/production, on 05-01:
///
/// | deployment | deployed | sha | kind | what it is |
/// |---|---|---|---|---|
/// | r1 | 10:00 | v1 | | release |
/// | r2 | 11:00 | v2 | | release |
/// | r3 | 12:00 | v1 | | automatic rollback of r2 (v1 ran before r2, the latest) |
/// | r4 | 13:00 | v1 | | redeploy of the latest sha (r3): not a rollback |
/// | r5 | 14:00 | v3 | rollback | explicit rollback of r4, started then deployed |
///
/// Change failures: r2 and r4 (rolled back) = 2 of 5; rework: r3 and r5 = 2 of 5.
#[tokio::test]
async fn rollbacks_are_found_by_sha_or_kind_and_fail_what_they_roll_back() {
    let app = TestApp::new();
    for (id, at, sha) in [
        ("r1", "2024-05-01T10:00:00Z", "v1"),
        ("r2", "2024-05-01T11:00:00Z", "v2"),
        ("r3", "2024-05-01T12:00:00Z", "v1"),
        ("r4", "2024-05-01T13:00:00Z", "v1"),
    ] {
        app.start(live(id, "production", at).set("commit_sha", sha)).await;
    }
    let r5 = DeploymentBuilder::new("r5")
        .set("environment", "production")
        .set("commit_sha", "v3")
        .set("kind", "rollback")
        .set("deploy_start_at", "2024-05-01T13:50:00Z");
    app.start(r5).await;
    let deployed = app.post("/deployments/r5/deployed", json!({"deployed_at": "2024-05-01T14:00:00Z"})).await;
    assert_eq!(deployed.status, StatusCode::OK, "{}", deployed.body);
    assert_eq!(deployed.body["rollback_of"], "r4");
    assert_eq!(deployed.body["kind"], "rollback");

    let expect = [
        ("r1", Value::Null, false, false),
        ("r2", Value::Null, false, true),
        ("r3", json!("r2"), true, false),
        ("r4", Value::Null, false, true),
        ("r5", json!("r4"), true, false),
    ];
    for (id, rollback_of, rework, change_failure) in expect {
        let d = deployment(&app, id).await;
        assert_eq!(d["rollback_of"], rollback_of, "{id}: {d}");
        assert_eq!(d["rework"], rework, "{id}: {d}");
        assert_eq!(d["change_failure"], change_failure, "{id}: {d}");
    }
    let r = dora(&app, DAY1).await;
    assert_eq!(r["change_failure_rate"]["change_failures"], 2);
    close(&r["change_failure_rate"]["rate"], 0.4);
    assert_eq!(r["rework_rate"], json!({"rework_deployments": 2, "deployments": 5, "rate": 0.4}));
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentRollback(_))), 2);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentRework(_))), 2);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::ChangeFailure(_))), 2);
}

/// Rework for each reason, and the incident a fix restores:
/// inc1 (api) starts 05-01 09:00. h1 is a hotfix deployed 10:00; f1 names
/// inc1 in restores_incident, starts 10:30 and is deployed 11:00, which
/// restores inc1 at 11:00 (time to restore 2 h); d1 is a plain release.
/// Rework: h1 and f1, 2 of 3.
#[tokio::test]
async fn hotfixes_and_incident_fixes_are_rework_and_a_fix_restores_its_incident() {
    let app = TestApp::new();
    // Attribution off for this one: inc1 comes before every deployment anyway.
    incident(&app, json!({"id": "inc1", "project_id": "api", "started_at": "2024-05-01T09:00:00Z"})).await;
    app.start(live("h1", "production", "2024-05-01T10:00:00Z").set("kind", "hotfix")).await;
    let f1 = DeploymentBuilder::new("f1")
        .set("environment", "production")
        .set("restores_incident", "inc1")
        .set("deploy_start_at", "2024-05-01T10:30:00Z");
    let started = app.start(f1).await;
    assert_eq!(started["rework"], true, "a fix is rework from the start");
    assert_eq!(started["restores_incident"], "inc1");
    assert_eq!(app.get("/incidents/inc1").await.body["status"], "in_progress", "restored only when live");
    let deployed = app.post("/deployments/f1/deployed", json!({"deployed_at": "2024-05-01T11:00:00Z"})).await;
    assert_eq!(deployed.status, StatusCode::OK);
    let inc1 = app.get("/incidents/inc1").await.body;
    assert_eq!(inc1["restored_at"], "2024-05-01T11:00:00.000Z");
    assert_eq!(inc1["status"], "restored");
    close(&inc1["time_to_restore_seconds"], 7200.0);
    app.start(live("d1", "production", "2024-05-01T12:00:00Z")).await;

    let r = dora(&app, DAY1).await;
    // 2 / 3 to 4 decimals.
    assert_eq!(r["rework_rate"], json!({"rework_deployments": 2, "deployments": 3, "rate": 0.6667}));
    close(&r["time_to_restore"]["median_seconds"], 7200.0);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentRestored { .. })), 1);

    // The incident must exist and belong to the same project.
    let unknown = app
        .post("/deployments", live("x1", "production", "2024-05-01T12:00:00Z").set("restores_incident", "nope").json())
        .await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "bad_request", Some("restores_incident"));
    incident(&app, json!({"id": "web-inc", "project_id": "web", "started_at": "2024-05-01T09:00:00Z"})).await;
    let foreign = app
        .post(
            "/deployments",
            live("x2", "production", "2024-05-01T12:00:00Z").set("restores_incident", "web-inc").json(),
        )
        .await;
    assert_error(&foreign, StatusCode::BAD_REQUEST, "bad_request", Some("restores_incident"));
}

/// Attribution with the default 24 h window, api deployments:
/// d1 production deployed 05-01 10:00:00.000, s1 staging deployed 05-01 14:00,
/// d2 production deployed 05-01 20:00.
#[tokio::test]
async fn incidents_without_a_deployment_are_linked_to_the_latest_one_within_the_window() {
    let app = TestApp::new();
    app.start(live("d1", "production", "2024-05-01T10:00:00Z")).await;
    app.start(live("s1", "staging", "2024-05-01T14:00:00Z")).await;
    app.start(live("d2", "production", "2024-05-01T20:00:00Z")).await;

    // 15:00: d2 went live later, so d1 is the latest before it; s1 is not a
    // production environment. The incident takes d1's environment.
    let i = incident(&app, json!({"id": "i-mid", "project_id": "api", "started_at": "2024-05-01T15:00:00Z"})).await;
    assert_eq!((i["deployment_id"].as_str(), i["deployment_link"].as_str()), (Some("d1"), Some("inferred")));
    assert_eq!(i["environment"], "production");
    close(&i["time_to_detect_seconds"], 5.0 * 3600.0);
    // Naming an environment looks there only.
    let i = incident(
        &app,
        json!({"id": "i-stg", "project_id": "api", "environment": "staging", "started_at": "2024-05-01T15:00:00Z"}),
    )
    .await;
    assert_eq!(i["deployment_id"], "s1");
    // Exactly the window after d2 (05-02 20:00:00.000): linked to d2.
    let i =
        incident(&app, json!({"id": "i-edge", "project_id": "api", "started_at": "2024-05-02T20:00:00.000Z"})).await;
    assert_eq!(i["deployment_id"], "d2");
    // One millisecond more: nothing is close enough.
    let i =
        incident(&app, json!({"id": "i-late", "project_id": "api", "started_at": "2024-05-02T20:00:00.001Z"})).await;
    assert_eq!((i["deployment_id"].clone(), i["deployment_link"].clone()), (Value::Null, Value::Null));
    // Before any deployment: nothing.
    let i = incident(&app, json!({"id": "i-early", "project_id": "api", "started_at": "2024-05-01T09:00:00Z"})).await;
    assert_eq!(i["deployment_id"], Value::Null);
    // An explicit deployment wins over the rule.
    let i = incident(
        &app,
        json!({"id": "i-exp", "project_id": "api", "deployment_id": "s1", "started_at": "2024-05-01T21:00:00Z"}),
    )
    .await;
    assert_eq!((i["deployment_id"].as_str(), i["deployment_link"].as_str()), (Some("s1"), Some("explicit")));

    for (id, change_failure) in [("d1", true), ("s1", true), ("d2", true)] {
        assert_eq!(deployment(&app, id).await["change_failure"], change_failure, "{id}");
    }
}

#[tokio::test]
async fn a_zero_window_turns_attribution_off() {
    let app = TestApp::builder()
        .attribution(em_metrics::domain::Attribution { window_ms: None, ..Default::default() })
        .build();
    app.start(live("d1", "production", "2024-05-01T10:00:00Z")).await;
    let i = incident(&app, json!({"id": "i1", "project_id": "api", "started_at": "2024-05-01T10:05:00Z"})).await;
    assert_eq!(i["deployment_id"], Value::Null);
    assert_eq!(deployment(&app, "d1").await["change_failure"], false);
}

/// web: w1 production deployed 05-01 10:00, w2 production deployed 05-01 12:00.
/// i1 starts 12:30 and is inferred onto w2; the team corrects it.
#[tokio::test]
async fn patch_links_and_unlinks_and_change_failure_follows() {
    let app = TestApp::new();
    for (id, at) in [("w1", "2024-05-01T10:00:00Z"), ("w2", "2024-05-01T12:00:00Z")] {
        app.start(live(id, "production", at).project("web")).await;
    }
    let i = incident(&app, json!({"id": "i1", "project_id": "web", "started_at": "2024-05-01T12:30:00Z"})).await;
    assert_eq!(i["deployment_id"], "w2");
    let rate = |r: &Value| r["change_failure_rate"]["change_failures"].clone();
    assert_eq!(rate(&dora(&app, DAY1).await), 1);

    // Not caused by a deployment: unlink. w2 is no change failure any more.
    let unlinked = app.patch("/incidents/i1", json!({"deployment_id": null})).await;
    assert_eq!(unlinked.status, StatusCode::OK, "{}", unlinked.body);
    assert_eq!(
        (unlinked.body["deployment_id"].clone(), unlinked.body["deployment_link"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(deployment(&app, "w2").await["change_failure"], false);
    assert_eq!(rate(&dora(&app, DAY1).await), 0);
    // Inference ran only at creation: a later PATCH of the title keeps it unlinked.
    let titled = app.patch("/api/v1/incidents/i1", json!({"title": "checkout 500s"})).await;
    assert_eq!(titled.body["deployment_id"], Value::Null);
    assert_eq!(titled.body["title"], "checkout 500s");

    // Caused by w1 after all.
    let linked =
        app.patch("/incidents/i1", json!({"deployment_id": "w1", "restored_at": "2024-05-01T13:00:00Z"})).await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
    assert_eq!(
        (linked.body["deployment_id"].as_str(), linked.body["deployment_link"].as_str()),
        (Some("w1"), Some("explicit"))
    );
    assert_eq!(linked.body["status"], "restored");
    assert_eq!(deployment(&app, "w1").await["change_failure"], true);
    let r = dora(&app, DAY1).await;
    assert_eq!(rate(&r), 1);
    // 13:00 restored − w1 10:00 deployed.
    close(&r["failed_deployment_recovery_time"]["median_seconds"], 3.0 * 3600.0);
    // w2 first, w1 now: each deployment counted once as a change failure.
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::ChangeFailure(_))), 2);

    // Same validation as creation, and 404 for a missing incident.
    let early = app.patch("/incidents/i1", json!({"finished_at": "2024-05-01T12:00:00Z"})).await;
    assert_error(&early, StatusCode::BAD_REQUEST, "bad_request", Some("finished_at"));
    let foreign = app.patch("/incidents/i1", json!({"deployment_id": "nope"})).await;
    assert_error(&foreign, StatusCode::BAD_REQUEST, "bad_request", Some("deployment_id"));
    assert_error(&app.patch("/incidents/none", json!({"title": "x"})).await, StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn deleting_and_recreating_an_incident_never_counts_a_deployment_twice() {
    let app = TestApp::new();
    app.start(live("d1", "production", "2024-05-01T10:00:00Z")).await;
    let body = json!({"id": "i1", "project_id": "api", "deployment_id": "d1", "started_at": "2024-05-01T11:00:00Z"});
    for round in 0..3 {
        incident(&app, body.clone()).await;
        assert_eq!(dora(&app, DAY1).await["change_failure_rate"]["change_failures"], 1, "round {round}");
        assert_eq!(app.delete("/incidents/i1").await.status, StatusCode::NO_CONTENT);
        assert_eq!(dora(&app, DAY1).await["change_failure_rate"]["change_failures"], 0, "round {round}");
    }
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::ChangeFailure(_))), 1);
}

/// Two days, two projects, all production:
/// a1 api deployed 05-01 10:00; w1 web deployed 05-01 12:00; a2 api hotfix deployed 05-02 10:00.
/// ia on a1 starts 05-01 11:00, restored 13:00: recovery 13:00 − 10:00 = 10800 (high).
/// iw on w1 starts 05-02 00:00, restored 05-02 12:00: recovery 24 h = 86400 (medium).
#[tokio::test]
async fn recovery_time_and_rework_appear_in_trend_and_breakdown() {
    let app = TestApp::new();
    app.start(live("a1", "production", "2024-05-01T10:00:00Z")).await;
    app.start(live("w1", "production", "2024-05-01T12:00:00Z").project("web")).await;
    app.start(live("a2", "production", "2024-05-02T10:00:00Z").set("kind", "hotfix")).await;
    incident(&app, json!({"id": "ia", "project_id": "api", "deployment_id": "a1", "started_at": "2024-05-01T11:00:00Z", "restored_at": "2024-05-01T13:00:00Z"})).await;
    incident(&app, json!({"id": "iw", "project_id": "web", "deployment_id": "w1", "started_at": "2024-05-02T00:00:00Z", "restored_at": "2024-05-02T12:00:00Z"})).await;

    let trend = app.get(&format!("/dora/trend?interval=day&{TWO_DAYS}")).await.body;
    let b = &trend["buckets"];
    assert_eq!(b[0]["rework_rate"], json!({"rework_deployments": 0, "deployments": 2, "rate": 0.0}));
    close(&b[0]["failed_deployment_recovery_time"]["median_seconds"], 10800.0);
    assert_eq!(b[0]["failed_deployment_recovery_time"]["level"], "high");
    assert_eq!(b[1]["rework_rate"], json!({"rework_deployments": 1, "deployments": 1, "rate": 1.0}));
    close(&b[1]["failed_deployment_recovery_time"]["median_seconds"], 86400.0);
    assert_eq!(b[1]["failed_deployment_recovery_time"]["level"], "medium");

    let groups = app.get(&format!("/dora/breakdown?by=project_id&{TWO_DAYS}")).await.body["groups"].clone();
    assert_eq!(groups[0]["key"], "api");
    assert_eq!(groups[0]["rework_rate"], json!({"rework_deployments": 1, "deployments": 2, "rate": 0.5}));
    assert_eq!(groups[0]["failed_deployment_recovery_time"]["samples"], 1);
    close(&groups[0]["failed_deployment_recovery_time"]["median_seconds"], 10800.0);
    assert_eq!(groups[1]["key"], "web");
    close(&groups[1]["failed_deployment_recovery_time"]["median_seconds"], 86400.0);
    // Both days: the median of 10800 and 86400 is 48600 s, 13.5 h: under a day.
    let r = dora(&app, TWO_DAYS).await;
    close(&r["failed_deployment_recovery_time"]["median_seconds"], 48600.0);
    assert_eq!(r["failed_deployment_recovery_time"]["level"], "high", "48600 s is under a day");
}

#[tokio::test]
async fn the_latest_deployed_sha_is_one_request_away_and_retries_compare_the_new_fields() {
    let app = TestApp::new();
    for (id, at, sha) in [("o1", "2024-05-01T10:00:00Z", "aaa"), ("o2", "2024-05-01T11:00:00Z", "bbb")] {
        app.start(live(id, "production", at).set("commit_sha", sha).set("deploy_start_at", at)).await;
    }
    app.start(
        DeploymentBuilder::new("o3")
            .set("environment", "production")
            .set("commit_sha", "ccc")
            .set("deploy_start_at", "2024-05-01T12:00:00Z"),
    )
    .await;
    let latest = app.get("/deployments?project_id=api&environment=production&status=deployed&order=desc&limit=1").await;
    assert_eq!(latest.body.as_array().map(Vec::len), Some(1), "{}", latest.body);
    assert_eq!(latest.body[0]["commit_sha"], "bbb");
    let oldest = app.get("/deployments?order=asc&limit=1").await.body;
    assert_eq!(oldest[0]["id"], "o1");
    assert_error(&app.get("/deployments?order=up").await, StatusCode::BAD_REQUEST, "bad_request", Some("order"));
    assert_eq!(app.get("/incidents?order=desc").await.status, StatusCode::OK);

    let same = live("o1", "production", "2024-05-01T10:00:00Z")
        .set("commit_sha", "aaa")
        .set("deploy_start_at", "2024-05-01T10:00:00Z");
    assert_eq!(app.post("/deployments", same.json()).await.status, StatusCode::OK);
    let other = app.post("/deployments", same.clone().set("kind", "hotfix").json()).await;
    assert_error(&other, StatusCode::CONFLICT, "conflict", Some("kind"));
    assert!(other.body["error"].as_str().unwrap_or_default().contains("kind"), "{}", other.body);
    let other = app.post("/deployments", same.set("commit_sha", "zzz").json()).await;
    assert!(other.body["error"].as_str().unwrap_or_default().contains("commit_sha"), "{}", other.body);
}

#[tokio::test]
async fn bad_commit_lists_and_kinds_are_named() {
    let app = TestApp::new();
    let many: Value = (0..10_001).map(|n| json!({"sha": format!("{n:040x}"), "committed_at": 1714550400})).collect();
    let reply = app.post("/deployments", DeploymentBuilder::new("big").set("commits", many).json()).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("commits"));
    let reply = app.post("/deployments", DeploymentBuilder::new("k").set("kind", "revert").json()).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("kind"));
    let reply = app
        .post(
            "/deployments",
            DeploymentBuilder::new("c").set("commits", json!([{"sha": "", "committed_at": 1}])).json(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(reply.body["field"].as_str().is_some_and(|f| f.starts_with("commits")), "{}", reply.body);
    let mut neither = DeploymentBuilder::new("n").json();
    neither.as_object_mut().expect("object").remove("first_commit_at");
    assert_error(
        &app.post("/deployments", neither).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("first_commit_at"),
    );
    // Exactly 10,000 is accepted.
    let limit: Value = (0..10_000).map(|n| json!({"sha": format!("{n:040x}"), "committed_at": 1714550400})).collect();
    let reply = app.post("/deployments", DeploymentBuilder::new("max").set("commits", limit).json()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn deleting_a_deployment_deletes_the_changes_it_shipped() {
    let app = TestApp::new();
    let two = commits(&[("a", "2024-05-01T06:00:00Z"), ("b", "2024-05-01T07:00:00Z")]);
    app.start(live("d1", "production", "2024-05-01T10:00:00Z").set("commits", two)).await;
    app.start(live("d2", "production", "2024-05-01T11:00:00Z")).await;
    assert_eq!(dora(&app, DAY1).await["lead_time_for_changes"]["samples"], 3);
    assert_eq!(app.delete("/deployments/d1").await.status, StatusCode::NO_CONTENT);
    assert_eq!(dora(&app, DAY1).await["lead_time_for_changes"]["samples"], 1, "only d2's change is left");
    // Its commits are no longer shipped: a new deployment listing them ships them again.
    let again = commits(&[("a", "2024-05-01T06:00:00Z")]);
    let d3 = app.start(live("d3", "production", "2024-05-01T12:00:00Z").set("commits", again)).await;
    assert_eq!(d3["change_count"], 1);
}
