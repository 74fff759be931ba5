//! The rules every source shares: enabling, body size, bad JSON, delivery
//! ids, the OpenAPI document, and the real binary's start-up and log.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{app_with, app_with_metrics, deliver, fixture, hmac_hex};
use crate::binary::{command, Server};
use crate::helpers::{assert_error, TestApp, GITHUB_SECRET, GITLAB_TOKEN};

async fn signed_github(app: &TestApp, event: &str, delivery: &str, text: &str) -> crate::helpers::Reply {
    let signature = format!("sha256={}", hmac_hex(GITHUB_SECRET, &[text.as_bytes()]));
    deliver(
        app,
        "/webhooks/github",
        text,
        &[("x-github-event", event), ("x-github-delivery", delivery), ("x-hub-signature-256", &signature)],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_its_secret_is_404_naming_the_setting() {
    let (app, _telemetry) = app_with("{}", em_metrics::config::WebhookSettings::default()).await;
    for (path, setting) in [
        ("/webhooks/github", "EM_METRICS_GITHUB_WEBHOOK_SECRET"),
        ("/webhooks/gitlab", "EM_METRICS_GITLAB_WEBHOOK_TOKEN"),
        ("/webhooks/pagerduty", "EM_METRICS_PAGERDUTY_WEBHOOK_SECRET"),
        ("/api/v1/webhooks/incident-io", "EM_METRICS_INCIDENT_IO_WEBHOOK_SECRET"),
    ] {
        let reply = deliver(&app, path, "{}", &[]).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found", None);
        assert!(reply.body["error"].as_str().is_some_and(|e| e.contains(setting)), "{path}: {}", reply.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_bodies_may_be_5_mib_and_must_be_json() {
    let (app, _telemetry) = app_with_metrics("{}").await;
    // A push listing 4,000 commits is about 2.5 MiB: more than the API's 1 MiB.
    let mut push = fixture("github/push.json");
    let template = push["commits"][0].clone();
    push["commits"] = (0..4000)
        .map(|n| {
            let mut c = template.clone();
            c["id"] = json!(format!("{n:040x}"));
            c["message"] = json!("x".repeat(400));
            c
        })
        .collect();
    let text = push.to_string();
    assert!(text.len() > 2 * 1024 * 1024, "{}", text.len());
    let big = signed_github(&app, "push", "big", &text).await;
    assert_eq!(big.status, StatusCode::OK, "{}", big.body);
    assert_eq!(big.body["known_commits"]["commits"], 4000);
    let too_big = format!("{{\"pad\": \"{}\"}}", "x".repeat(5 * 1024 * 1024));
    let reply = signed_github(&app, "push", "huge", &too_big).await;
    assert_error(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None);
    assert!(reply.body["error"].as_str().is_some_and(|e| e.contains("5 MiB")), "{}", reply.body);
    let reply = signed_github(&app, "push", "not-json", "event=push&ref=main").await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_id_is_a_duplicate_for_7_days_and_gitlabs_idempotency_key_counts() {
    let (app, _telemetry) = app_with_metrics("{}").await;
    let text = fixture("github/push.json").to_string();
    assert_eq!(signed_github(&app, "push", "dup-1", &text).await.body["known_commits"]["commits"], 1);
    assert_eq!(signed_github(&app, "push", "dup-1", &text).await.body, json!({"duplicate": true}));
    // Eight days later the id is forgotten.
    app.sql("UPDATE webhook_deliveries SET received_at = received_at - 8 * 86400000").await;
    let later = signed_github(&app, "push", "dup-1", &text).await;
    assert_eq!(later.body["known_commits"]["commits"], 1, "ran again: {}", later.body);

    let hook = fixture("gitlab/push.json").to_string();
    let headers = |key: &'static str| {
        [("x-gitlab-event", "Push Hook"), ("x-gitlab-token", GITLAB_TOKEN), ("idempotency-key", key)]
    };
    assert_eq!(deliver(&app, "/webhooks/gitlab", &hook, &headers("k-1")).await.status, StatusCode::OK);
    assert_eq!(deliver(&app, "/webhooks/gitlab", &hook, &headers("k-1")).await.body, json!({"duplicate": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_webhook_route_without_api_credentials() {
    let app = TestApp::new();
    let doc = app.get("/openapi.json").await.body;
    for path in ["/webhooks/github", "/webhooks/gitlab", "/webhooks/pagerduty", "/webhooks/incident-io"] {
        let op = &doc["paths"][path]["post"];
        assert_eq!(op["security"], json!([]), "{path} is signed by its sender");
        for status in ["200", "202", "400", "401", "404"] {
            assert!(op["responses"][status].is_object(), "{path} documents {status}");
        }
    }
    let alerts = &doc["paths"]["/webhooks/alertmanager"]["post"];
    assert!(alerts["responses"]["403"].is_object() && alerts["security"].is_null(), "{alerts}");
}

#[test]
fn one_alias_for_two_projects_is_refused_at_start_and_on_sighup() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("teams.json");
    let ambiguous = r#"{"projects": {"api": {"aliases": ["acme/api"]}, "web": {"aliases": ["ACME/api"]}}}"#;
    std::fs::write(&config, ambiguous).expect("write");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("CONFIG", &config);
    let out = cmd.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("CONFIG") && stderr.contains("ACME/api"), "{stderr}");

    std::fs::write(&config, r#"{"projects": {"api": {"aliases": ["acme/api"]}}}"#).expect("write");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("CONFIG", &config);
    let server = Server::start(cmd);
    std::fs::write(&config, ambiguous).expect("write");
    server.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.get("/config").1["projects"], json!({"api": {"aliases": ["acme/api"]}}), "old config kept");
    let (_, log) = server.stop();
    assert!(log.iter().any(|l| l.contains("not reloaded") && l.contains("two projects")), "{log:#?}");
}

#[test]
fn a_refused_delivery_logs_one_warning_without_the_secret_or_the_body() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("EM_METRICS_GITHUB_WEBHOOK_SECRET", "gh-secret-in-env-4d1");
    let server = Server::start(cmd);
    let body = json!({"zen": "body-marker-77e1"}).to_string();
    let client = reqwest::blocking::Client::new();
    let reply = client
        .post(format!("{}/webhooks/github", server.base))
        .header("x-github-event", "ping")
        .header("x-hub-signature-256", format!("sha256={}", hmac_hex("a-wrong-secret", &[body.as_bytes()])))
        .body(body.clone())
        .send()
        .expect("request");
    assert_eq!(reply.status().as_u16(), 401);
    let good = format!("sha256={}", hmac_hex("gh-secret-in-env-4d1", &[body.as_bytes()]));
    let reply = client
        .post(format!("{}/webhooks/github", server.base))
        .header("x-github-event", "ping")
        .header("x-hub-signature-256", good)
        .body(body)
        .send()
        .expect("request");
    assert_eq!(reply.status().as_u16(), 200);
    assert_eq!(reply.json::<Value>().expect("json"), json!({"ping": "pong"}));
    let (_, log) = server.stop();
    let refused: Vec<&String> = log.iter().filter(|l| l.contains("webhook delivery refused")).collect();
    assert_eq!(refused.len(), 1, "{log:#?}");
    assert!(refused[0].contains("WARN") && refused[0].contains("github"), "{}", refused[0]);
    let all = log.join("\n");
    assert!(!all.contains("gh-secret-in-env-4d1") && !all.contains("body-marker-77e1"), "{all}");
}
