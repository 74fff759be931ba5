//! Retention and usernames: deleting what is no longer needed, and the one
//! piece of personal data stored.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{DeploymentBuilder, TestApp};
use em_metrics::time::Timestamp;

const TEAMS: &str = r#"{"teams": {"web-team": {"users": ["alice"]}, "api-team": {"projects": ["api"]}}}"#;

#[tokio::test]
async fn clearing_a_username_removes_it_everywhere_and_keeps_the_teams() {
    let app = TestApp::builder().teams(TEAMS).build();
    for (id, project, user) in [("a1", "web", "alice"), ("a2", "web", "alice"), ("b1", "api", "bob")] {
        app.start(DeploymentBuilder::new(id).project(project).set("username", user)).await;
    }
    assert_eq!(app.get("/deployments/a1").await.body["team_id"], "web-team", "resolved from alice");
    let reply = app.delete("/usernames/alice").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body, json!({"cleared": 2}));
    for id in ["a1", "a2"] {
        let d = app.get(&format!("/deployments/{id}")).await.body;
        assert_eq!(d["username"], serde_json::Value::Null, "{d}");
        assert_eq!(d["team_id"], "web-team", "the team stays: {d}");
    }
    assert_eq!(app.get("/deployments/b1").await.body["username"], "bob");
    assert_eq!(app.delete("/api/v1/usernames/alice").await.body, json!({"cleared": 0}), "at both prefixes");
    let open = app.request(Method::DELETE, "/usernames/bob", None, None).await;
    assert_eq!(open.status, StatusCode::UNAUTHORIZED, "behind auth");
    assert_eq!(app.get("/deployments/b1").await.body["username"], "bob");
    let listed = app.get("/openapi.json").await.body;
    assert!(listed["paths"]["/usernames/{username}"]["delete"].is_object(), "in the OpenAPI document");
}

#[tokio::test]
async fn without_stored_usernames_the_team_is_resolved_and_the_name_dropped() {
    let app = TestApp::builder().teams(TEAMS).without_stored_usernames().build();
    let d = DeploymentBuilder::new("a1").project("web").set("username", "alice");
    let created = app.start(d.clone()).await;
    assert_eq!(created["team_id"], "web-team");
    assert_eq!(created["username"], serde_json::Value::Null);
    let retried = app.post("/deployments", d.json()).await;
    assert_eq!(retried.status, StatusCode::OK, "a retry is still the same request: {}", retried.body);
    let conn = rusqlite::Connection::open(app.dir.path().join("em-metrics.db")).expect("db");
    let stored: i64 =
        conn.query_row("SELECT count(*) FROM deployments WHERE username IS NOT NULL", [], |r| r.get(0)).expect("q");
    assert_eq!(stored, 0, "no username reaches the file");
}

/// The retention deletes what started before the cutoff and keeps the rest:
/// one millisecond decides.
#[tokio::test]
async fn retention_deletes_events_just_outside_and_keeps_those_just_inside() {
    let app = TestApp::new();
    let cutoff = Timestamp::parse("2024-05-10T00:00:00Z").expect("time");
    let deployments =
        [("out", "2024-05-09T23:59:59.999Z"), ("in", "2024-05-10T00:00:00Z"), ("linked-out", "2024-05-09T12:00:00Z")];
    for (id, start) in deployments {
        let d = DeploymentBuilder::new(id)
            .set("first_commit_at", "2024-05-01T00:00:00Z")
            .set("deploy_start_at", start)
            .deployed_at("2024-05-10T06:00:00Z");
        app.start(d).await;
    }
    let incidents = [
        ("inc-out", "2024-05-09T23:59:59.999Z", None),
        ("inc-in", "2024-05-10T00:00:00Z", None),
        // Kept, so the older deployment it links to is kept too.
        ("inc-linked", "2024-05-10T07:00:00Z", Some("linked-out")),
    ];
    for (id, started, deployment) in incidents {
        let body = json!({"id": id, "project_id": "api", "started_at": started, "deployment_id": deployment});
        assert_eq!(app.post("/incidents", body).await.status, StatusCode::CREATED);
    }
    let purged = app.store.purge_before(cutoff).await.expect("purge");
    assert_eq!((purged.deployments, purged.changes, purged.incidents), (1, 1, 1), "{purged:?}");
    assert_eq!(app.get("/deployments/out").await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/incidents/inc-out").await.status, StatusCode::NOT_FOUND);
    for uri in ["/deployments/in", "/deployments/linked-out", "/incidents/inc-in", "/incidents/inc-linked"] {
        assert_eq!(app.get(uri).await.status, StatusCode::OK, "{uri}");
    }
    let conn = rusqlite::Connection::open(app.dir.path().join("em-metrics.db")).expect("db");
    let orphans: i64 = conn
        .query_row("SELECT count(*) FROM changes WHERE deployment_id NOT IN (SELECT id FROM deployments)", [], |r| {
            r.get(0)
        })
        .expect("q");
    assert_eq!(orphans, 0, "the changes went with their deployment");
    // Again: nothing more to delete.
    assert_eq!(app.store.purge_before(cutoff).await.expect("purge").rows(), 0);
}

#[tokio::test]
async fn retention_deletes_old_idempotency_and_delivery_records() {
    let app = TestApp::new();
    let conn = rusqlite::Connection::open(app.dir.path().join("em-metrics.db")).expect("db");
    conn.execute_batch(
        "INSERT INTO idempotency_keys (key, fingerprint, status, response, created_at) VALUES ('old', 'f', 200, x'', 1), ('new', 'f', 200, x'', 9000000000000);
         INSERT INTO webhook_deliveries (source, delivery_id, received_at) VALUES ('github', 'old', 1), ('github', 'new', 9000000000000);
         INSERT INTO pushes (repository, push_seq, commits, received_at) VALUES ('r', 1, '[]', 1), ('r', 2, '[]', 9000000000000);",
    )
    .expect("seed");
    let purged = app.store.purge_before(Timestamp::from_millis(1000)).await.expect("purge");
    assert_eq!((purged.idempotency_keys, purged.webhook_deliveries, purged.pushes), (1, 1, 1));
    for table in ["idempotency_keys", "webhook_deliveries", "pushes"] {
        let left: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).expect("q");
        assert_eq!(left, 1, "{table}");
    }
}
