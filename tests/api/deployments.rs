use axum::http::StatusCode;
use em_metrics::domain::DomainEvent;
use serde_json::json;

use crate::helpers::{assert_error, DeploymentBuilder, TestApp};

#[tokio::test]
async fn starting_a_deployment_returns_it_with_defaults() {
    let app = TestApp::new();
    let body = app.start(DeploymentBuilder::new("d1").set("user", "bob")).await;
    assert_eq!(body["id"], "d1");
    assert_eq!(body["status"], "started");
    assert_eq!(body["environment"], "production");
    assert_eq!(body["username"], "bob");
    assert_eq!(body["team_id"], json!(null));
    assert_eq!(body["first_commit_at"], "2024-05-01T08:00:00.000Z");
    assert_eq!(body["deployed_at"], json!(null));
    assert_eq!(body["lead_time_seconds"], json!(null));
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentStarted(_))), 1);
}

#[tokio::test]
async fn both_time_formats_are_accepted_and_returned_as_utc_milliseconds() {
    let app = TestApp::new();
    let body = app
        .start(
            DeploymentBuilder::new("d1")
                .set("first_commit_at", 1714550400)
                .set("deploy_start_at", "2024-05-01T11:00:00+02:00"),
        )
        .await;
    assert_eq!(body["first_commit_at"], "2024-05-01T08:00:00.000Z");
    assert_eq!(body["deploy_start_at"], "2024-05-01T09:00:00.000Z");
}

#[tokio::test]
async fn a_single_call_deployment_is_started_and_deployed() {
    let app = TestApp::new();
    let body = app.start(DeploymentBuilder::new("d1").deployed_at("2024-05-01T10:00:00Z")).await;
    assert_eq!(body["status"], "deployed");
    assert_eq!(body["lead_time_seconds"], 7200.0);
    assert_eq!(body["duration_seconds"], 3600.0);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentDeployed { .. })), 1);
}

#[tokio::test]
async fn a_retried_start_answers_200_and_records_nothing() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let retry = app.post("/deployments", DeploymentBuilder::new("d1").json()).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.body["id"], "d1");
    // A retry without deploy_start_at is still the same deployment.
    let mut partial = DeploymentBuilder::new("d1").json();
    partial.as_object_mut().map(|o| o.remove("deploy_start_at"));
    assert_eq!(app.post("/deployments", partial).await.status, StatusCode::OK);
    assert_eq!(app.events.events().len(), 1);
}

#[tokio::test]
async fn the_same_id_with_different_fields_is_a_conflict() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let reply = app.post("/deployments", DeploymentBuilder::new("d1").project("web").json()).await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict", Some("project_id"));
    assert!(reply.body["error"].as_str().unwrap_or_default().contains("project_id"));
}

#[tokio::test]
async fn marking_deployed_sets_status_and_times() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let reply = app.post("/api/v1/deployments/d1/deployed", json!({"deployed_at": "2024-05-01T10:30:00Z"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "deployed");
    assert_eq!(reply.body["deployed_at"], "2024-05-01T10:30:00.000Z");
    assert_eq!(reply.body["lead_time_seconds"], 9000.0);
    assert_eq!(reply.body["duration_seconds"], 5400.0);
}

#[tokio::test]
async fn deployed_without_a_body_means_now() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let reply = app.post_raw("/deployments/d1/deployed", "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "deployed");
}

#[tokio::test]
async fn deployed_twice_is_a_retry_unless_the_time_differs() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let at = json!({"deployed_at": "2024-05-01T10:00:00Z"});
    assert_eq!(app.post("/deployments/d1/deployed", at.clone()).await.status, StatusCode::OK);
    assert_eq!(app.post("/deployments/d1/deployed", at).await.status, StatusCode::OK);
    assert_eq!(app.post_raw("/deployments/d1/deployed", "{}").await.status, StatusCode::OK);
    let other = app.post("/deployments/d1/deployed", json!({"deployed_at": "2024-05-01T11:00:00Z"})).await;
    assert_error(&other, StatusCode::CONFLICT, "conflict", Some("deployed_at"));
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentDeployed { .. })), 1);
}

#[tokio::test]
async fn deploying_a_missing_deployment_is_404_unless_asked_to_create_it() {
    let app = TestApp::new();
    let missing = app.post_raw("/deployments/nope/deployed", "{}").await;
    assert_error(&missing, StatusCode::NOT_FOUND, "not_found", None);
    let created = app
        .post(
            "/deployments/d9/deployed",
            json!({"create_if_not_exists": true, "project_id": "api",
                   "first_commit_at": "2024-05-01T08:00:00Z", "deployed_at": "2024-05-01T10:00:00Z"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["deploy_start_at"], "2024-05-01T10:00:00.000Z");
    assert_eq!(created.body["duration_seconds"], 0.0);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentStarted(_))), 1);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentDeployed { .. })), 1);
}

#[tokio::test]
async fn creating_on_deployed_requires_project_and_first_commit() {
    let app = TestApp::new();
    let reply = app.post("/deployments/d9/deployed", json!({"create_if_not_exists": true, "project_id": "api"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("first_commit_at"));
    let reply = app
        .post("/deployments/d9/deployed", json!({"create_if_not_exists": true, "first_commit_at": 1714550400}))
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("project_id"));
}

#[tokio::test]
async fn deployed_before_the_first_commit_or_the_start_names_deployed_at() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let early = app.post("/deployments/d1/deployed", json!({"deployed_at": "2024-05-01T07:00:00Z"})).await;
    assert_error(&early, StatusCode::BAD_REQUEST, "bad_request", Some("deployed_at"));
    let before_start = app.post("/deployments/d1/deployed", json!({"deployed_at": "2024-05-01T08:30:00Z"})).await;
    assert_error(&before_start, StatusCode::BAD_REQUEST, "bad_request", Some("deployed_at"));
    let single =
        app.post("/deployments", DeploymentBuilder::new("d2").deployed_at("2024-05-01T07:00:00Z").json()).await;
    assert_error(&single, StatusCode::BAD_REQUEST, "bad_request", Some("deployed_at"));
    // Nothing was stored by the refused single call.
    assert_eq!(app.get("/deployments/d2").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failed_deployment_cannot_be_deployed_and_a_deployed_one_cannot_fail() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let failed = app.post_raw("/deployments/d1/failed", "").await;
    assert_eq!(failed.status, StatusCode::OK);
    assert_eq!(failed.body["status"], "failed");
    assert_eq!(app.post_raw("/deployments/d1/failed", "{}").await.status, StatusCode::OK);
    assert_error(&app.post_raw("/deployments/d1/deployed", "{}").await, StatusCode::CONFLICT, "conflict", None);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentFailed(_))), 1);

    app.start(DeploymentBuilder::new("d2").deployed_at("2024-05-01T10:00:00Z")).await;
    assert_error(&app.post_raw("/deployments/d2/failed", "{}").await, StatusCode::CONFLICT, "conflict", None);
    assert_error(&app.post_raw("/deployments/nope/failed", "{}").await, StatusCode::NOT_FOUND, "not_found", None);
    let early = app.post("/deployments/d3/failed", json!({"date": "2020-01-01T00:00:00Z"})).await;
    assert_error(&early, StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn failing_with_a_date_before_the_start_names_date() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let early = app.post("/deployments/d1/failed", json!({"date": "2024-05-01T08:59:00Z"})).await;
    assert_error(&early, StatusCode::BAD_REQUEST, "bad_request", Some("date"));
}

#[tokio::test]
async fn listing_filters_orders_and_pages() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("b").set("deploy_start_at", "2024-05-01T09:00:00Z")).await;
    app.start(DeploymentBuilder::new("a").set("deploy_start_at", "2024-05-01T09:00:00Z")).await;
    app.start(
        DeploymentBuilder::new("c")
            .project("web")
            .set("environment", "prod")
            .set("deploy_start_at", "2024-05-02T09:00:00Z")
            .deployed_at("2024-05-02T10:00:00Z"),
    )
    .await;
    let ids = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply
            .body
            .as_array()
            .map_or_else(Vec::new, |a| a.iter().map(|d| d["id"].as_str().unwrap_or("").to_string()).collect())
    };
    assert_eq!(ids(&app.get("/deployments").await), ["a", "b", "c"]);
    assert_eq!(ids(&app.get("/deployments?project_id=web").await), ["c"]);
    assert_eq!(ids(&app.get("/deployments?project_id=web,api&status=started").await), ["a", "b"]);
    assert_eq!(ids(&app.get("/deployments?project_id=web&project_id=api&environment=prod").await), ["c"]);
    assert_eq!(ids(&app.get("/deployments?status=deployed").await), ["c"]);
    // from inclusive, to exclusive, on deploy_start_at
    assert_eq!(ids(&app.get("/deployments?from=2024-05-01T09:00:00Z&to=2024-05-02T09:00:00Z").await), ["a", "b"]);
    assert_eq!(ids(&app.get("/deployments?from=1714640400").await), ["c"]);
    assert_eq!(ids(&app.get("/deployments?limit=1&offset=1").await), ["b"]);
    assert_error(&app.get("/deployments?limit=1001").await, StatusCode::BAD_REQUEST, "bad_request", Some("limit"));
    assert_error(&app.get("/deployments?limit=0").await, StatusCode::BAD_REQUEST, "bad_request", Some("limit"));
    assert_error(&app.get("/deployments?offset=-1").await, StatusCode::BAD_REQUEST, "bad_request", Some("offset"));
    assert_error(&app.get("/deployments?status=done").await, StatusCode::BAD_REQUEST, "bad_request", Some("status"));
    assert_error(&app.get("/deployments?from=yesterday").await, StatusCode::BAD_REQUEST, "bad_request", Some("from"));
}

#[tokio::test]
async fn the_list_limit_defaults_to_50() {
    let app = TestApp::new();
    for i in 0..55 {
        app.start(DeploymentBuilder::new(&format!("d{i:02}"))).await;
    }
    assert_eq!(app.get("/deployments").await.body.as_array().map(Vec::len), Some(50));
    assert_eq!(app.get("/deployments?limit=1000").await.body.as_array().map(Vec::len), Some(55));
}

#[tokio::test]
async fn deleting_a_deployment_is_refused_while_incidents_point_to_it() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let incident = app.post("/incidents", json!({"id": "i1", "project_id": "api", "deployment_id": "d1"})).await;
    assert_eq!(incident.status, StatusCode::CREATED);
    assert_error(&app.delete("/deployments/d1").await, StatusCode::CONFLICT, "conflict", None);
    assert_eq!(app.delete("/incidents/i1").await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.delete("/deployments/d1").await.status, StatusCode::NO_CONTENT);
    assert_error(&app.delete("/deployments/d1").await, StatusCode::NOT_FOUND, "not_found", None);
    assert_error(&app.get("/deployments/d1").await, StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn fifty_parallel_deployed_retries_make_one_state_change() {
    let app = std::sync::Arc::new(TestApp::new());
    app.start(DeploymentBuilder::new("d1")).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let app = app.clone();
        // Half repeat the same time, half send another: each gets 200 or 409, never 5xx.
        let body = if i % 2 == 0 {
            json!({"deployed_at": "2024-05-01T10:00:00Z"})
        } else {
            json!({"deployed_at": "2024-05-01T10:00:01Z"})
        };
        tasks.push(tokio::spawn(async move { app.post("/deployments/d1/deployed", body).await.status }));
    }
    for task in tasks {
        let status = task.await.expect("task");
        assert!(status == StatusCode::OK || status == StatusCode::CONFLICT, "{status}");
    }
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentDeployed { .. })), 1);
}

#[tokio::test]
async fn fifty_parallel_identical_starts_create_one_deployment() {
    let app = std::sync::Arc::new(TestApp::new());
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let app = app.clone();
        tasks.push(tokio::spawn(
            async move { app.post("/deployments", DeploymentBuilder::new("d1").json()).await.status },
        ));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::DeploymentStarted(_))), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_mid_request_still_gets_its_change_recorded_once() {
    use std::future::Future;
    use tower::ServiceExt;
    let app = TestApp::new();
    let mut dropped = 0;
    for i in 0..50 {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/deployments")
            .header("authorization", format!("Bearer {}", crate::helpers::TOKEN))
            .body(axum::body::Body::from(DeploymentBuilder::new(&format!("d{i}")).json().to_string()))
            .expect("request");
        // Hyper drops the handler's future when the client disconnects; do the
        // same mid-flight: poll once (the body is in memory, so the handler
        // gets as far as the store) and drop it if it has not finished.
        let mut call = Box::pin(app.router.clone().oneshot(request));
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(call.as_mut().poll(cx))).await;
        if first.is_pending() {
            dropped += 1;
        }
        drop(call);
    }
    assert!(dropped > 0, "no request was cut off; the test proves nothing");
    // Whatever was committed must have been recorded, exactly once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let stored = app.get("/deployments?limit=1000").await.body.as_array().map_or(0, Vec::len);
        let recorded = app.event_count(|e| matches!(e, DomainEvent::DeploymentStarted(_)));
        if stored == recorded {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{stored} stored but {recorded} recorded ({dropped} cut off)");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
