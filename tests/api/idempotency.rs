//! Idempotency-Key on POST and PATCH: replay, conflict, expiry, limits.

use axum::http::{Method, StatusCode};
use em_metrics::domain::DomainEvent;
use serde_json::{json, Value};

use crate::helpers::{assert_error, DeploymentBuilder, Reply, TestApp, TOKEN};

async fn with_key(app: &TestApp, method: Method, uri: &str, key: &str, body: &Value) -> Reply {
    app.request_with(
        method,
        uri,
        Some(&body.to_string()),
        &[("authorization", &format!("Bearer {TOKEN}")), ("idempotency-key", key)],
    )
    .await
}

#[tokio::test]
async fn the_same_key_and_request_replays_the_first_answer_and_changes_nothing() {
    let app = TestApp::new();
    // An incident without an id: without the key, a retry would create a second one.
    let body = json!({"project_id": "api", "title": "checkout 500s", "started_at": 1714550400});
    let first = with_key(&app, Method::POST, "/incidents", "retry-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let again = with_key(&app, Method::POST, "/incidents", "retry-1", &body).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body), "status and body replayed");
    assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    assert_eq!(app.get("/incidents").await.body.as_array().map(Vec::len), Some(1));
    assert_eq!(app.event_count(|e| matches!(e, DomainEvent::IncidentCreated { .. })), 1);

    // A 4xx is an answer too: the same bad request gets the same 400.
    let bad = json!({"project_id": "api", "started_at": "yesterday"});
    let first = with_key(&app, Method::POST, "/incidents", "bad-1", &bad).await;
    let again = with_key(&app, Method::POST, "/incidents", "bad-1", &bad).await;
    assert_eq!((first.status, again.status), (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST));
    assert_eq!(first.body, again.body);

    // PATCH too.
    let id = first_incident_id(&app).await;
    let patch = json!({"title": "checkout down"});
    let uri = format!("/incidents/{id}");
    assert_eq!(with_key(&app, Method::PATCH, &uri, "patch-1", &patch).await.status, StatusCode::OK);
    assert_eq!(with_key(&app, Method::PATCH, &uri, "patch-1", &patch).await.body["title"], "checkout down");
}

async fn first_incident_id(app: &TestApp) -> String {
    app.get("/incidents").await.body[0]["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn the_same_key_with_another_request_is_a_conflict() {
    let app = TestApp::new();
    let d1 = DeploymentBuilder::new("d1").json();
    assert_eq!(with_key(&app, Method::POST, "/deployments", "k", &d1).await.status, StatusCode::CREATED);
    let other_body = DeploymentBuilder::new("d2").json();
    assert_error(
        &with_key(&app, Method::POST, "/deployments", "k", &other_body).await,
        StatusCode::CONFLICT,
        "conflict",
        Some("Idempotency-Key"),
    );
    let other_route = with_key(&app, Method::POST, "/deployments/d1/deployed", "k", &json!({})).await;
    assert_error(&other_route, StatusCode::CONFLICT, "conflict", Some("Idempotency-Key"));
    assert_eq!(app.get("/deployments/d2").await.status, StatusCode::NOT_FOUND, "the conflicting request did nothing");
}

#[tokio::test]
async fn a_key_expires_after_24_hours_and_must_be_at_most_200_characters() {
    let app = TestApp::new();
    let d1 = DeploymentBuilder::new("d1").json();
    assert_eq!(with_key(&app, Method::POST, "/deployments", "old", &d1).await.status, StatusCode::CREATED);
    // A day and a second later (the stored time moved back instead).
    let age = em_metrics::store::KEY_LIFETIME_MS + 1000;
    app.sql(&format!("UPDATE idempotency_keys SET created_at = created_at - {age}")).await;
    let d2 = DeploymentBuilder::new("d2").json();
    assert_eq!(with_key(&app, Method::POST, "/deployments", "old", &d2).await.status, StatusCode::CREATED);

    let long = "k".repeat(201);
    assert_error(
        &with_key(&app, Method::POST, "/deployments", &long, &d1).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("Idempotency-Key"),
    );
    assert_eq!(with_key(&app, Method::POST, "/deployments", &"k".repeat(200), &d1).await.status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_run_once() {
    let app = std::sync::Arc::new(TestApp::new());
    let body = json!({"project_id": "api", "started_at": 1714550400});
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (app, body) = (app.clone(), body.clone());
        tasks.push(tokio::spawn(async move { with_key(&app, Method::POST, "/incidents", "same", &body).await.status }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.expect("task") {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(created >= 1);
    assert_eq!(
        app.get("/incidents").await.body.as_array().map(Vec::len),
        Some(1),
        "one incident, however the race went"
    );
}

/// Polls `call` once, as a client's connection task would when woken.
fn poll_once<F: std::future::Future + Unpin>(call: &mut F) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    std::pin::Pin::new(call).poll(&mut cx).is_ready()
}

/// A client that gives up after its key was claimed and its command queued:
/// the command commits anyway, and its answer with it, in one transaction.
/// The retry replays that answer: one incident, not two (an incident without
/// an id gets a new one each time it runs), and never a 409 "still running".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_gives_up_mid_command_gets_the_committed_answer_on_retry() {
    use tower::ServiceExt;
    // It holds SQLite's write lock to stop the writer between stages.
    if super::stores::sqlite_only() {
        return;
    }
    let app = TestApp::new();
    let db = rusqlite::Connection::open(app.dir.path().join("em-metrics.db")).expect("db");
    db.busy_timeout(std::time::Duration::from_secs(5)).expect("busy timeout");
    let body = json!({"project_id": "api", "started_at": 1714550400}).to_string();
    let request = || {
        axum::http::Request::builder()
            .method(Method::POST)
            .uri("/incidents")
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("idempotency-key", "gave-up")
            .body(axum::body::Body::from(body.clone()))
            .expect("request")
    };
    let count = |sql: &str| db.query_row(sql, [], |r| r.get::<_, i64>(0)).expect("count");
    let mut call = Box::pin(app.router.clone().oneshot(request()));
    // Each stage runs while this test holds the database's write lock, so
    // the writer cannot get ahead of the polls that move the request on.
    let polled_while_locked = |call: &mut _| {
        db.execute_batch("BEGIN IMMEDIATE").expect("lock");
        for _ in 0..10 {
            assert!(!poll_once(call), "answered while the database was locked");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        db.execute_batch("COMMIT").expect("unlock");
    };
    // The key's claim is queued, then committed while nothing polls the request.
    polled_while_locked(&mut call);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while count("SELECT count(*) FROM idempotency_keys WHERE key LIKE '%gave-up'") == 0 {
        assert!(std::time::Instant::now() < until, "the key was never claimed");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    // The request goes on to its command, which is queued behind the lock.
    polled_while_locked(&mut call);
    // The command commits; the client never reads its answer.
    while count("SELECT count(*) FROM incidents") == 0 {
        assert!(std::time::Instant::now() < until + std::time::Duration::from_secs(5), "the command never ran");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(call);

    let retry =
        with_key(&app, Method::POST, "/incidents", "gave-up", &serde_json::from_str(&body).expect("json")).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.body["id"], "incident_api_1");
    assert_eq!(count("SELECT count(*) FROM incidents"), 1, "the command ran once");
}
