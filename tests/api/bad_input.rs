use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_error, DeploymentBuilder, TestApp, TOKEN};

#[tokio::test]
async fn malformed_json_is_a_400_without_a_field() {
    let app = TestApp::new();
    for body in ["{", "{\"id\": }", "not json", "[1,2]", "\"text\"", "{} trailing", "null"] {
        let reply = app.post_raw("/deployments", body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", None);
    }
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let app = TestApp::new();
    let cases = [
        ("first_commit_at", json!(true)),
        ("first_commit_at", json!(1.5)),
        ("first_commit_at", json!(-1)),
        ("deployed_at", json!({"a": 1})),
        ("environment", json!(["prod"])),
        ("username", json!(5)),
        ("id", json!({"nested": true})),
    ];
    for (field, value) in cases {
        let reply = app.post("/deployments", DeploymentBuilder::new("d1").set(field, value.clone()).json()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some(field));
    }
    let reply = app.post("/deployments/d1/deployed", json!({"create_if_not_exists": "yes"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("create_if_not_exists"));
}

#[tokio::test]
async fn missing_or_blank_required_fields_are_named() {
    let app = TestApp::new();
    assert_error(&app.post_raw("/deployments", "").await, StatusCode::BAD_REQUEST, "bad_request", Some("id"));
    let no_project = json!({"id": "d1", "first_commit_at": "2024-05-01T08:00:00Z"});
    assert_error(
        &app.post("/deployments", no_project).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("project_id"),
    );
    let no_commit = json!({"id": "d1", "project_id": "api"});
    assert_error(
        &app.post("/deployments", no_commit).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("first_commit_at"),
    );
    let blank = DeploymentBuilder::new("  ").json();
    assert_error(&app.post("/deployments", blank).await, StatusCode::BAD_REQUEST, "bad_request", Some("id"));
    assert_error(&app.post_raw("/incidents", "{}").await, StatusCode::BAD_REQUEST, "bad_request", Some("project_id"));
    let blank_env = DeploymentBuilder::new("d1").set("environment", "").json();
    assert_error(
        &app.post("/deployments", blank_env).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("environment"),
    );
}

#[tokio::test]
async fn unparseable_times_name_the_field_and_explain_the_forms() {
    let app = TestApp::new();
    for value in ["yesterday", "2024-05-01T10:00:00", "2024-13-01T10:00:00Z", ""] {
        let reply = app.post("/deployments", DeploymentBuilder::new("d1").set("first_commit_at", value).json()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("first_commit_at"));
        assert!(reply.body["error"].as_str().unwrap_or("").contains("RFC 3339"), "{}", reply.body);
    }
}

#[tokio::test]
async fn overlong_ids_are_refused_and_huge_bodies_get_413() {
    let app = TestApp::new();
    let long = DeploymentBuilder::new(&"x".repeat(201)).json();
    assert_error(&app.post("/deployments", long).await, StatusCode::BAD_REQUEST, "bad_request", Some("id"));
    let exactly = DeploymentBuilder::new(&"é".repeat(200)).json();
    assert_eq!(app.post("/deployments", exactly).await.status, StatusCode::CREATED);
    let huge = DeploymentBuilder::new("d1").set("project_id", "x".repeat(10 * 1024 * 1024)).json();
    assert_error(&app.post("/deployments", huge).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None);
    let big_title = json!({"project_id": "api", "title": "t".repeat(3000)});
    assert_error(&app.post("/incidents", big_title).await, StatusCode::BAD_REQUEST, "bad_request", Some("title"));
}

#[tokio::test]
async fn quotes_unicode_and_sql_metacharacters_in_ids_round_trip() {
    let app = TestApp::new();
    for id in ["'; DROP TABLE deployments; --", "\"quoted\" id", "日本語-🚀", "a/b?c#d%e", "Robert'); --"] {
        let body = app.start(DeploymentBuilder::new(id).project(id)).await;
        assert_eq!(body["id"], id);
        let path = format!("/deployments/{}", utf8_percent_encode(id));
        let got = app.get(&path).await;
        assert_eq!(got.status, StatusCode::OK, "{id}: {}", got.body);
        assert_eq!(got.body["project_id"], id);
    }
    assert_eq!(app.get("/deployments?limit=1000").await.body.as_array().map(Vec::len), Some(5));
}

/// Percent-encodes everything but unreserved characters, as clients do for path segments.
fn utf8_percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn a_form_content_type_is_still_read_as_json() {
    let app = TestApp::new();
    let request = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/deployments")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(axum::body::Body::from(DeploymentBuilder::new("d1").json().to_string()))
        .expect("request");
    let response = tower::ServiceExt::oneshot(app.router.clone(), request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = TestApp::new();
    assert_error(&app.get("/nope").await, StatusCode::NOT_FOUND, "not_found", None);
    assert_error(&app.get("/api/v1/nope").await, StatusCode::NOT_FOUND, "not_found", None);
    let put = app.request(Method::PUT, "/deployments", Some("{}"), Some(&format!("Bearer {TOKEN}"))).await;
    assert_error(&put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
    let patch = app.request(Method::PATCH, "/api/v1/deployments/x", Some("{}"), Some(&format!("Bearer {TOKEN}"))).await;
    assert_error(&patch, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
}

#[tokio::test]
async fn ids_given_as_numbers_are_taken_as_text() {
    let app = TestApp::new();
    let body = app.start(DeploymentBuilder::new("x").set("id", 123456789)).await;
    assert_eq!(body["id"], "123456789");
}

#[tokio::test]
async fn rejected_requests_leave_stored_data_alone() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1")).await;
    let before = app.get("/deployments/d1").await.body;
    app.post_raw("/deployments", "{\"id\": \"d1\", ").await;
    app.post("/deployments", DeploymentBuilder::new("d1").project("web").json()).await;
    app.post("/deployments/d1/deployed", json!({"deployed_at": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(app.get("/deployments/d1").await.body, before);
}

#[tokio::test]
async fn unknown_body_fields_are_named_with_the_field_that_was_probably_meant() {
    let app = TestApp::new();
    let mut body = DeploymentBuilder::new("d1").json();
    body["projectId"] = body["project_id"].take();
    body.as_object_mut().expect("object").remove("project_id");
    let reply = app.post("/deployments", body).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("projectId"));
    assert_eq!(reply.body["error"], "unknown field projectId; did you mean project_id?");

    // `date` is /failed's field, not /deployed's: it used to be ignored and
    // the deployment stamped "now".
    app.start(DeploymentBuilder::new("d2")).await;
    let reply = app.post("/deployments/d2/deployed", json!({"date": "2024-05-01T10:00:00Z"})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("date"));
    assert!(reply.body["error"].as_str().unwrap_or_default().contains("deployed_at"), "{}", reply.body);
    assert_eq!(app.get("/deployments/d2").await.body["status"], "started", "nothing was recorded");

    let commits = json!([{"sha": "a", "commitedAt": 1714550400}]);
    let reply = app.post("/deployments", DeploymentBuilder::new("d3").set("commits", commits).json()).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("commits[0].commitedAt"));
    assert!(reply.body["error"].as_str().unwrap_or_default().ends_with("did you mean committed_at?"), "{}", reply.body);

    let reply = app.post("/incidents", json!({"project_id": "api", "startedAt": 1714550400})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("startedAt"));
}

#[tokio::test]
async fn unknown_query_parameters_are_named_too() {
    let app = TestApp::new();
    for (uri, field, meant) in [
        ("/deployments?projectid=api", "projectid", Some("project_id")),
        ("/incidents?state=open", "state", None),
        ("/dora?team=backend", "team", Some("team_id")),
        ("/dora/trend?intervall=day", "intervall", Some("interval")),
        ("/dora/breakdown?group_by=team_id", "group_by", None),
    ] {
        let reply = app.get(uri).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some(field));
        if let Some(meant) = meant {
            assert!(
                reply.body["error"].as_str().unwrap_or_default().ends_with(&format!("did you mean {meant}?")),
                "{uri}: {}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn times_far_in_the_future_and_unix_milliseconds_are_explained() {
    let app = TestApp::new();
    let in_two_days =
        em_metrics::time::Timestamp::from_millis(em_metrics::time::Timestamp::now().millis() + 2 * 86_400_000 + 60_000);
    let reply =
        app.post("/deployments", DeploymentBuilder::new("d1").deployed_at(&in_two_days.to_rfc3339()).json()).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("deployed_at"));
    assert_eq!(reply.body["error"], "deployed_at is 2 days in the future; check the runner's clock");
    let reply = app.post("/incidents", json!({"project_id": "api", "started_at": in_two_days.to_rfc3339()})).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("started_at"));

    let reply =
        app.post("/deployments", DeploymentBuilder::new("d2").set("first_commit_at", 1714550400000_i64).json()).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("first_commit_at"));
    assert!(
        reply.body["error"].as_str().unwrap_or_default().contains("looks like Unix milliseconds"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn a_runner_clock_a_few_minutes_fast_does_not_fail_a_good_deployment() {
    let app = TestApp::new();
    let now = em_metrics::time::Timestamp::now().millis();
    let ahead = em_metrics::time::Timestamp::from_millis(now + 5 * 60_000).to_rfc3339();
    app.start(DeploymentBuilder::new("d1").set("first_commit_at", ahead.clone()).set("deploy_start_at", ahead.clone()))
        .await;
    let reply = app.post_raw("/deployments/d1/deployed", "").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["deployed_at"], ahead.as_str(), "now, moved up to the runner's start");
    assert_eq!(reply.body["lead_time_seconds"], 0.0);
}

#[tokio::test]
async fn deployed_on_an_id_that_another_project_uses_is_a_conflict() {
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("42").project("api")).await;
    let reply = app.post("/deployments/42/deployed", json!({"project_id": "web"})).await;
    assert_error(&reply, StatusCode::CONFLICT, "conflict", Some("project_id"));
    assert!(reply.body["error"].as_str().unwrap_or_default().contains("project_id"), "{}", reply.body);
    let reply = app.post("/deployments/42/deployed", json!({"project_id": "api", "environment": "staging"})).await;
    assert!(reply.body["error"].as_str().unwrap_or_default().contains("environment"), "{}", reply.body);
    assert_eq!(
        app.get("/deployments/42").await.body["status"],
        "started",
        "the other project's deployment is untouched"
    );
    let ok = app.post("/deployments/42/deployed", json!({"project_id": "api"})).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
}

#[tokio::test]
async fn a_query_string_that_is_too_long_gets_414_in_the_error_shape() {
    let app = TestApp::new();
    let long = format!("/deployments?project_id={}", "a".repeat(9000));
    assert_error(&app.get(&long).await, StatusCode::URI_TOO_LONG, "bad_request", None);
    let fits = format!("/deployments?project_id={}", "a".repeat(8000));
    assert_eq!(app.get(&fits).await.status, StatusCode::OK);
}
