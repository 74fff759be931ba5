use axum::http::StatusCode;
use em_metrics::domain::DomainEvent;
use serde_json::json;

use crate::helpers::{assert_error, DeploymentBuilder, TestApp};

async fn deployed_app() -> TestApp {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1").set("environment", "prod").deployed_at("2024-05-01T10:00:00Z")).await;
    app
}

#[tokio::test]
async fn an_incident_linked_to_a_deployment_takes_its_environment_and_time_to_detect() {
    let app = deployed_app().await;
    let reply = app
        .post(
            "/incidents",
            json!({"project_id": "api", "deployment_id": "d1", "title": "500s", "started_at": "2024-05-01T10:30:00Z"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let body = reply.body;
    assert_eq!(body["id"], "incident_api_1");
    assert_eq!(body["environment"], "prod");
    assert_eq!(body["status"], "in_progress");
    assert_eq!(body["title"], "500s");
    assert_eq!(body["time_to_detect_seconds"], 1800.0);
    assert_eq!(body["time_to_restore_seconds"], json!(null));
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::ChangeFailure(_))), 1);
    assert_eq!(
        app.event_count(
            |e| matches!(e, DomainEvent::IncidentCreated { time_to_detect_seconds: Some(t), .. } if *t == 1800.0)
        ),
        1
    );
}

#[tokio::test]
async fn generated_ids_never_collide_with_existing_ones() {
    let app = TestApp::new();
    let taken = app.post("/incidents", json!({"id": "incident_api_2", "project_id": "other"})).await;
    assert_eq!(taken.status, StatusCode::CREATED);
    let first = app.post("/incidents", json!({"project_id": "api"})).await;
    let second = app.post("/incidents", json!({"project_id": "api"})).await;
    assert_eq!(first.body["id"], "incident_api_1");
    assert_eq!(second.body["id"], "incident_api_3");
    assert_eq!(app.post("/incidents", json!({"project_id": "api"})).await.body["id"], "incident_api_4");
}

#[tokio::test]
async fn a_second_incident_on_the_same_deployment_is_not_another_change_failure() {
    let app = deployed_app().await;
    for _ in 0..2 {
        let reply = app.post("/incidents", json!({"project_id": "api", "deployment_id": "d1"})).await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::ChangeFailure(_))), 1);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentCreated { .. })), 2);
}

#[tokio::test]
async fn an_unknown_or_foreign_deployment_is_rejected_on_deployment_id() {
    let app = deployed_app().await;
    let unknown = app.post("/incidents", json!({"project_id": "api", "deployment_id": "nope"})).await;
    assert_error(&unknown, StatusCode::BAD_REQUEST, "bad_request", Some("deployment_id"));
    let foreign = app.post("/incidents", json!({"project_id": "web", "deployment_id": "d1"})).await;
    assert_error(&foreign, StatusCode::BAD_REQUEST, "bad_request", Some("deployment_id"));
    assert_eq!(app.get("/incidents").await.body, json!([]));
}

#[tokio::test]
async fn a_finished_incident_is_also_restored() {
    let app = TestApp::new();
    let reply = app
        .post("/incidents", json!({"id": "i1", "project_id": "api", "started_at": "2024-05-01T10:00:00Z", "finished_at": "2024-05-01T12:00:00Z"}))
        .await;
    assert_eq!(reply.body["status"], "finished");
    assert_eq!(reply.body["restored_at"], "2024-05-01T12:00:00.000Z");
    assert_eq!(reply.body["time_to_restore_seconds"], 7200.0);
    assert_eq!(reply.body["time_to_detect_seconds"], json!(null));
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentRestored { .. })), 1);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentFinished(_))), 1);
}

#[tokio::test]
async fn impossible_orders_of_times_name_the_later_field() {
    let app = TestApp::new();
    let start = "2024-05-01T10:00:00Z";
    let restored = app
        .post("/incidents", json!({"project_id": "api", "started_at": start, "restored_at": "2024-05-01T09:00:00Z"}))
        .await;
    assert_error(&restored, StatusCode::BAD_REQUEST, "bad_request", Some("restored_at"));
    let finished = app
        .post("/incidents", json!({"project_id": "api", "started_at": start, "finished_at": "2024-05-01T09:00:00Z"}))
        .await;
    assert_error(&finished, StatusCode::BAD_REQUEST, "bad_request", Some("finished_at"));
    let order = app
        .post("/incidents", json!({"project_id": "api", "started_at": start, "restored_at": "2024-05-01T12:00:00Z", "finished_at": "2024-05-01T11:00:00Z"}))
        .await;
    assert_error(&order, StatusCode::BAD_REQUEST, "bad_request", Some("finished_at"));
}

#[tokio::test]
async fn a_retried_incident_answers_200_and_a_changed_one_409() {
    let app = TestApp::new();
    let body = json!({"id": "i1", "project_id": "api", "started_at": "2024-05-01T10:00:00Z", "title": "down"});
    assert_eq!(app.post("/incidents", body.clone()).await.status, StatusCode::CREATED);
    assert_eq!(app.post("/incidents", body).await.status, StatusCode::OK);
    assert_eq!(app.post("/incidents", json!({"id": "i1", "project_id": "api"})).await.status, StatusCode::OK);
    let changed = app.post("/incidents", json!({"id": "i1", "project_id": "api", "title": "up"})).await;
    assert_error(&changed, StatusCode::CONFLICT, "conflict", Some("title"));
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentCreated { .. })), 1);
}

#[tokio::test]
async fn restoring_is_idempotent_and_conflicts_on_another_date() {
    let app = TestApp::new();
    app.post("/incidents", json!({"id": "i1", "project_id": "api", "started_at": "2024-05-01T10:00:00Z"})).await;
    let date = json!({"date": "2024-05-01T10:45:00Z"});
    let reply = app.post("/incidents/i1/restored", date.clone()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["status"], "restored");
    assert_eq!(reply.body["time_to_restore_seconds"], 2700.0);
    assert_eq!(app.post("/incidents/i1/restored", date).await.status, StatusCode::OK);
    assert_eq!(app.post_raw("/incidents/i1/restored", "").await.status, StatusCode::OK);
    let other = app.post("/incidents/i1/restored", json!({"date": "2024-05-01T11:00:00Z"})).await;
    assert_error(&other, StatusCode::CONFLICT, "conflict", Some("date"));
    assert_error(&app.post_raw("/incidents/nope/restored", "{}").await, StatusCode::NOT_FOUND, "not_found", None);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentRestored { .. })), 1);
}

#[tokio::test]
async fn restoring_before_the_start_names_date() {
    let app = TestApp::new();
    app.post("/incidents", json!({"id": "i1", "project_id": "api", "started_at": "2024-05-01T10:00:00Z"})).await;
    let early = app.post("/incidents/i1/restored", json!({"date": "2024-05-01T09:00:00Z"})).await;
    assert_error(&early, StatusCode::BAD_REQUEST, "bad_request", Some("date"));
}

#[tokio::test]
async fn finishing_restores_when_needed_and_is_idempotent() {
    let app = TestApp::new();
    app.post("/incidents", json!({"id": "i1", "project_id": "api", "started_at": "2024-05-01T10:00:00Z"})).await;
    let reply = app.post("/incidents/i1/finished", json!({"date": 1714561200})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "finished");
    assert_eq!(reply.body["restored_at"], "2024-05-01T11:00:00.000Z");
    assert_eq!(reply.body["finished_at"], "2024-05-01T11:00:00.000Z");
    let again = app.post("/incidents/i1/finished", json!({"date": "2024-05-02T00:00:00Z"})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body["finished_at"], "2024-05-01T11:00:00.000Z");
    assert_error(&app.post_raw("/incidents/nope/finished", "{}").await, StatusCode::NOT_FOUND, "not_found", None);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentFinished(_))), 1);
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentRestored { .. })), 1);
}

#[tokio::test]
async fn finishing_a_restored_incident_keeps_its_restore_time() {
    let app = TestApp::new();
    app.post("/incidents", json!({"id": "i1", "project_id": "api", "started_at": "2024-05-01T10:00:00Z", "restored_at": "2024-05-01T10:10:00Z"})).await;
    let reply = app.post("/incidents/i1/finished", json!({"date": "2024-05-01T12:00:00Z"})).await;
    assert_eq!(reply.body["restored_at"], "2024-05-01T10:10:00.000Z");
    assert_eq!(reply.body["time_to_restore_seconds"], 600.0);
}

#[tokio::test]
async fn listing_filters_by_state_project_and_time() {
    let app = TestApp::new();
    let make = |id: &str, project: &str, start: &str| json!({"id": id, "project_id": project, "started_at": start});
    app.post("/incidents", make("open", "api", "2024-05-01T10:00:00Z")).await;
    app.post("/incidents", make("restored", "api", "2024-05-02T10:00:00Z")).await;
    app.post("/incidents", make("done", "web", "2024-05-03T10:00:00Z")).await;
    app.post_raw("/incidents/restored/restored", "{}").await;
    app.post_raw("/incidents/done/finished", "{}").await;
    let ids = |reply: crate::helpers::Reply| -> Vec<String> {
        reply
            .body
            .as_array()
            .map_or_else(Vec::new, |a| a.iter().map(|d| d["id"].as_str().unwrap_or("").to_string()).collect())
    };
    assert_eq!(ids(app.get("/incidents").await), ["open", "restored", "done"]);
    assert_eq!(ids(app.get("/incidents?filter=in-progress").await), ["open"]);
    assert_eq!(ids(app.get("/incidents?type=unfinished").await), ["open", "restored"]);
    assert_eq!(ids(app.get("/api/v1/incidents?project_id=web").await), ["done"]);
    assert_eq!(ids(app.get("/incidents?from=2024-05-02T10:00:00Z&to=2024-05-03T10:00:00Z").await), ["restored"]);
    assert_eq!(ids(app.get("/incidents?limit=1&offset=2").await), ["done"]);
    assert_error(&app.get("/incidents?filter=open").await, StatusCode::BAD_REQUEST, "bad_request", Some("filter"));
    assert_error(&app.get("/incidents?type=open").await, StatusCode::BAD_REQUEST, "bad_request", Some("type"));
}

#[tokio::test]
async fn get_and_delete_an_incident() {
    let app = TestApp::new();
    app.post("/incidents", json!({"id": "i1", "project_id": "api"})).await;
    assert_eq!(app.get("/incidents/i1").await.body["id"], "i1");
    assert_eq!(app.delete("/api/v1/incidents/i1").await.status, StatusCode::NO_CONTENT);
    assert_error(&app.get("/incidents/i1").await, StatusCode::NOT_FOUND, "not_found", None);
    assert_error(&app.delete("/incidents/i1").await, StatusCode::NOT_FOUND, "not_found", None);
}

#[tokio::test]
async fn an_incident_before_its_deployment_went_live_has_no_detection_time() {
    let app = deployed_app().await;
    let reply = app
        .post("/incidents", json!({"project_id": "api", "deployment_id": "d1", "started_at": "2024-05-01T09:30:00Z"}))
        .await;
    assert_eq!(reply.body["time_to_detect_seconds"], json!(null));
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentCreated { time_to_detect_seconds: None, .. })), 1);
}

#[tokio::test]
async fn an_automatic_incident_id_stays_within_200_characters() {
    let app = TestApp::new();
    let project = "p".repeat(200);
    for _ in 0..2 {
        let reply = app.post("/incidents", json!({"project_id": project})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let id = reply.body["id"].as_str().unwrap_or_default().to_string();
        assert!(id.chars().count() <= 200 && id.starts_with("incident_p"), "{id}");
        assert_eq!(app.get(&format!("/incidents/{id}")).await.status, StatusCode::OK);
    }
}
