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

/// Erasure leaves no copy: not in a stored Idempotency-Key answer (a
/// replay answers without the name), and not as bytes in the database file
/// or its WAL (freed content is zeroed and the WAL truncated).
#[tokio::test]
async fn an_erased_username_is_in_no_stored_answer_and_in_neither_the_database_file_nor_the_wal() {
    let app = TestApp::new();
    let name = "erase-me-Qx7v";
    let keyed = DeploymentBuilder::new("d1").set("username", name).json().to_string();
    let headers = [("authorization", TestApp::bearer()), ("idempotency-key", "k-erase".to_string())];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = app.request_with(Method::POST, "/deployments", Some(&keyed), &headers).await;
    assert_eq!((first.status, first.body["username"].as_str()), (StatusCode::CREATED, Some(name)));
    app.start(DeploymentBuilder::new("d2").set("username", name).deployed_at("2024-05-01T10:00:00Z")).await;

    assert_eq!(app.delete(&format!("/usernames/{name}")).await.body, json!({"cleared": 2}));
    let replayed = app.request_with(Method::POST, "/deployments", Some(&keyed), &headers).await;
    assert_eq!(replayed.status, StatusCode::CREATED, "{}", replayed.body);
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(replayed.body["username"], serde_json::Value::Null, "the stored answer forgot the name too");
    assert_eq!(replayed.body["id"], "d1");

    let db = app.dir.path().join("em-metrics.db");
    for file in [db.clone(), db.with_extension("db-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let found = bytes.windows(name.len()).any(|w| w == name.as_bytes());
        assert!(!found, "{} still holds the erased name", file.display());
    }
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
    let stored = app.sql_i64("SELECT count(*) FROM deployments WHERE username IS NOT NULL").await;
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
    let orphans =
        app.sql_i64("SELECT count(*) FROM changes WHERE deployment_id NOT IN (SELECT id FROM deployments)").await;
    assert_eq!(orphans, 0, "the changes went with their deployment");
    // Again: nothing more to delete.
    assert_eq!(app.store.purge_before(cutoff).await.expect("purge").rows(), 0);
}

/// A deployment kept by the retention whose only incident is purged is no
/// longer a change failure, as when the incident is unlinked by hand; one
/// that was rolled back stays a change failure.
#[tokio::test]
async fn a_purged_incident_no_longer_makes_its_kept_deployment_a_change_failure() {
    let app = TestApp::new();
    let cutoff = Timestamp::parse("2024-05-10T00:00:00Z").expect("time");
    let live = |id: &str, at: &str| {
        DeploymentBuilder::new(id)
            .set("environment", "production")
            .set("first_commit_at", "2024-05-10T01:00:00Z")
            .set("deploy_start_at", at)
            .deployed_at(at)
    };
    app.start(live("kept", "2024-05-10T02:00:00Z")).await;
    app.start(live("rolled", "2024-05-10T03:00:00Z").set("commit_sha", "new")).await;
    app.start(live("rollback", "2024-05-10T04:00:00Z").set("kind", "rollback")).await;
    // Incidents reported from a tool whose clock said they started earlier,
    // before the cutoff, each linked by hand to a deployment kept.
    for (id, deployment) in [("old-1", "kept"), ("old-2", "rolled")] {
        let body =
            json!({"id": id, "project_id": "api", "started_at": "2024-05-09T12:00:00Z", "deployment_id": deployment});
        assert_eq!(app.post("/incidents", body).await.status, StatusCode::CREATED);
    }
    assert_eq!(app.get("/deployments/kept").await.body["change_failure"], true);
    let purged = app.store.purge_before(cutoff).await.expect("purge");
    assert_eq!((purged.deployments, purged.incidents), (0, 2), "{purged:?}");
    assert_eq!(app.get("/deployments/kept").await.body["change_failure"], false, "no incident points to it now");
    assert_eq!(app.get("/deployments/rolled").await.body["change_failure"], true, "rolled back: still a failure");
}

#[tokio::test]
async fn retention_deletes_old_idempotency_and_delivery_records() {
    let app = TestApp::new();
    app.sql(
        "INSERT INTO idempotency_keys (key, fingerprint, status, response, created_at) VALUES ('old', 'f', 200, NULL, 1), ('new', 'f', 200, NULL, 9000000000000);
         INSERT INTO webhook_deliveries (source, delivery_id, received_at) VALUES ('github', 'old', 1), ('github', 'new', 9000000000000);
         INSERT INTO pushes (repository, push_seq, commits, received_at) VALUES ('r', 1, '[]', 1), ('r', 2, '[]', 9000000000000);",
    )
    .await;
    let purged = app.store.purge_before(Timestamp::from_millis(1000)).await.expect("purge");
    assert_eq!((purged.idempotency_keys, purged.webhook_deliveries, purged.pushes), (1, 1, 1));
    for table in ["idempotency_keys", "webhook_deliveries", "pushes"] {
        let left = app.sql_i64(&format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(left, 1, "{table}");
    }
}
