//! PagerDuty and incident.io: incidents from the incident tools, attributed
//! to the deployment that went live before them.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::{app_with_metrics, assert_exported, deliver, fixture, hmac_hex};
use crate::helpers::{
    assert_error, close, dora, DeploymentBuilder, Reply, TestApp, INCIDENT_IO_SECRET, PAGERDUTY_SECRET,
};

const DAY: &str = "from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z";
const TEAMS: &str = r#"{"projects": {"api": {"aliases": ["API Service"]}, "checkout": {"aliases": ["Checkout"]}}}"#;

async fn pagerduty(app: &TestApp, webhook_id: &str, body: &Value) -> Reply {
    let text = body.to_string();
    // Two values, as while a secret is rotated: the old one no longer matches.
    let signature = format!(
        "v1={},v1={}",
        hmac_hex("retired-secret", &[text.as_bytes()]),
        hmac_hex(PAGERDUTY_SECRET, &[text.as_bytes()])
    );
    deliver(app, "/webhooks/pagerduty", &text, &[("x-webhook-id", webhook_id), ("x-pagerduty-signature", &signature)])
        .await
}

fn pd_event(file: &str, created: &str, occurred: &str) -> Value {
    let mut e = fixture(file);
    e["event"]["data"]["created_at"] = json!(created);
    e["event"]["occurred_at"] = json!(occurred);
    e
}

/// `api` deployed to production at 10:00. PagerDuty's "API Service" (the
/// alias of `api`) triggers PGR0VU2 at 10:30 and resolves it at 11:00:
/// attributed to the deployment; time to restore 1800 s; failed deployment
/// recovery 3600 s; change failure rate 1/1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pagerduty_story_opens_attributes_and_resolves_an_incident() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    app.start(DeploymentBuilder::new("rel-1").set("environment", "production").deployed_at("2024-05-01T10:00:00Z"))
        .await;

    let triggered = pd_event("pagerduty/incident-triggered.json", "2024-05-01T10:30:00Z", "2024-05-01T10:30:05Z");
    let opened = pagerduty(&app, "wh-1", &triggered).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let i = &opened.body["incident"];
    assert_eq!((i["id"].as_str(), i["project_id"].as_str()), (Some("pagerduty-PGR0VU2"), Some("api")));
    assert_eq!((i["deployment_id"].as_str(), i["deployment_link"].as_str()), (Some("rel-1"), Some("inferred")));
    assert_eq!(i["title"], "A little bump in the road");
    assert_eq!(pagerduty(&app, "wh-1", &triggered).await.body, json!({"duplicate": true}));
    // A second trigger delivery (another id) for the same incident changes nothing.
    assert_eq!(pagerduty(&app, "wh-1b", &triggered).await.status, StatusCode::OK);

    let ack = pd_event("pagerduty/incident-acknowledged.json", "2024-05-01T10:30:00Z", "2024-05-01T10:40:00Z");
    let acked = pagerduty(&app, "wh-2", &ack).await;
    assert_eq!(acked.status, StatusCode::ACCEPTED, "{}", acked.body);

    let resolved = pd_event("pagerduty/incident-resolved.json", "2024-05-01T10:30:00Z", "2024-05-01T11:00:00Z");
    let done = pagerduty(&app, "wh-3", &resolved).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["incident"]["status"], "finished");
    assert_eq!(done.body["incident"]["restored_at"], "2024-05-01T11:00:00.000Z");

    let r = dora(&app, DAY).await;
    assert_eq!(r["change_failure_rate"]["change_failures"], 1);
    close(&r["time_to_restore"]["median_seconds"], 1800.0);
    close(&r["failed_deployment_recovery_time"]["median_seconds"], 3600.0);
    assert_exported(
        &app,
        &[
            r#"incident_count_total{environment="production",project_id="api"} 1"#,
            r#"incident_finished_total{environment="production",project_id="api"} 1"#,
            r#"time_to_restore_seconds_sum{environment="production",project_id="api"} 1800"#,
            r#"change_failure_count_total{environment="production",project_id="api"} 1"#,
        ],
    )
    .await;

    let text = triggered.to_string();
    let bad = deliver(
        &app,
        "/webhooks/pagerduty",
        &text,
        &[("x-pagerduty-signature", &format!("v1={}", hmac_hex("guess", &[text.as_bytes()])))],
    )
    .await;
    assert_error(&bad, StatusCode::UNAUTHORIZED, "unauthorized", None);
}

fn incident_io_event(file: &str, category: &str, updated: &str) -> Value {
    let mut e = fixture(file);
    let kind = e["event_type"].as_str().expect("event_type").to_string();
    let incident = if e[&kind].get("incident").is_some() { &mut e[&kind]["incident"] } else { &mut e[&kind] };
    incident["id"] = json!("01HQ0INCIDENT");
    incident["name"] = json!("Checkout is failing");
    incident["incident_status"]["category"] = json!(category);
    incident["created_at"] = json!("2024-05-01T09:40:00Z");
    incident["updated_at"] = json!(updated);
    incident["incident_timestamp_values"][0]["value"]["value"] = json!("2024-05-01T09:30:00Z");
    incident["custom_field_entries"][0]["custom_field"]["name"] = json!("Affected service");
    incident["custom_field_entries"][0]["values"] =
        json!([{"value_option": {"id": "01F", "custom_field_id": "01F", "sort_key": 1, "value": "Checkout"}}]);
    e
}

/// Signed with the reference Standard Webhooks library (its Rust port).
async fn incident_io_at(app: &TestApp, id: &str, body: &Value, timestamp: i64) -> Reply {
    let text = body.to_string();
    let webhook = standardwebhooks::Webhook::new(INCIDENT_IO_SECRET).expect("secret");
    let signature = webhook.sign(id, timestamp, text.as_bytes()).expect("signs");
    let ts = timestamp.to_string();
    let headers = [("webhook-id", id), ("webhook-timestamp", ts.as_str()), ("webhook-signature", signature.as_str())];
    deliver(app, "/webhooks/incident-io", &text, &headers).await
}

async fn incident_io(app: &TestApp, id: &str, body: &Value) -> Reply {
    incident_io_at(app, id, body, chrono::Utc::now().timestamp()).await
}

/// `checkout` deployed to production at 09:00. incident.io declares an
/// incident live (created 09:40, "Impact started" 09:30, Affected service
/// "Checkout"), moves it to learning at 10:00 and closes it at 11:00:
/// time to restore 1800 s; failed deployment recovery 3600 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_io_story_opens_restores_and_closes_an_incident() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let deploy = DeploymentBuilder::new("co-1").project("checkout").set("environment", "production");
    app.start(deploy.deployed_at("2024-05-01T09:00:00Z")).await;

    let live = incident_io_event("incident-io/incident_created_v2.json", "live", "2024-05-01T09:40:00Z");
    let opened = incident_io(&app, "msg_1", &live).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let i = &opened.body["incident"];
    assert_eq!((i["id"].as_str(), i["project_id"].as_str()), (Some("incident-io-01HQ0INCIDENT"), Some("checkout")));
    assert_eq!(i["started_at"], "2024-05-01T09:30:00.000Z", "Impact started wins over created_at");
    assert_eq!(i["deployment_id"], "co-1");
    assert_eq!(incident_io(&app, "msg_1", &live).await.body, json!({"duplicate": true}));

    let learning = incident_io_event("incident-io/incident_status_updated_v2.json", "learning", "2024-05-01T10:00:00Z");
    let restored = incident_io(&app, "msg_2", &learning).await;
    assert_eq!(restored.body["incident"]["status"], "restored", "{}", restored.body);
    let closed = incident_io_event("incident-io/incident_updated_v2.json", "closed", "2024-05-01T11:00:00Z");
    let finished = incident_io(&app, "msg_3", &closed).await;
    assert_eq!(finished.body["incident"]["status"], "finished", "{}", finished.body);
    assert_eq!(finished.body["incident"]["finished_at"], "2024-05-01T11:00:00.000Z");
    assert_eq!(finished.body["incident"]["restored_at"], "2024-05-01T10:00:00.000Z");

    let r = dora(&app, DAY).await;
    close(&r["time_to_restore"]["median_seconds"], 1800.0);
    close(&r["failed_deployment_recovery_time"]["median_seconds"], 3600.0);
    assert_eq!(r["change_failure_rate"]["change_failures"], 1);
    assert_exported(
        &app,
        &[
            r#"incident_count_total{environment="production",project_id="checkout"} 1"#,
            r#"incident_restored_total{environment="production",project_id="checkout"} 1"#,
            r#"failed_deployment_recovery_time_seconds_sum{environment="production",project_id="checkout"} 3600"#,
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_io_test_triage_and_declined_incidents_are_not_incidents() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let mut test_mode = incident_io_event("incident-io/incident_created_v2.json", "live", "2024-05-01T09:40:00Z");
    test_mode["public_incident.incident_created_v2"]["mode"] = json!("test");
    assert_eq!(incident_io(&app, "m1", &test_mode).await.status, StatusCode::ACCEPTED);
    let triage = incident_io_event("incident-io/incident_created_v2.json", "triage", "2024-05-01T09:40:00Z");
    assert_eq!(incident_io(&app, "m2", &triage).await.status, StatusCode::ACCEPTED);
    let declined = incident_io_event("incident-io/incident_updated_v2.json", "declined", "2024-05-01T09:50:00Z");
    assert_eq!(incident_io(&app, "m3", &declined).await.status, StatusCode::ACCEPTED, "never recorded");
    assert_eq!(app.get("/incidents").await.body, json!([]));

    // Declared, then declined: deleted.
    let live = incident_io_event("incident-io/incident_created_v2.json", "live", "2024-05-01T09:40:00Z");
    assert_eq!(incident_io(&app, "m4", &live).await.status, StatusCode::CREATED);
    let deleted = incident_io(&app, "m5", &declined).await;
    assert_eq!((deleted.status, deleted.body["deleted"].clone()), (StatusCode::OK, json!(true)), "{}", deleted.body);
    assert_eq!(app.get("/incidents").await.body, json!([]));
    // Without the project field the project is `incident-io`.
    let mut unnamed = incident_io_event("incident-io/incident_created_v2.json", "live", "2024-05-01T09:40:00Z");
    unnamed["public_incident.incident_created_v2"]["custom_field_entries"] = json!([]);
    unnamed["public_incident.incident_created_v2"]["id"] = json!("01HQ0OTHER");
    assert_eq!(incident_io(&app, "m6", &unnamed).await.body["incident"]["project_id"], "incident-io");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_io_refuses_stale_and_unsigned_deliveries() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let live = incident_io_event("incident-io/incident_created_v2.json", "live", "2024-05-01T09:40:00Z");
    let stale = incident_io_at(&app, "s1", &live, chrono::Utc::now().timestamp() - 6 * 60).await;
    assert_error(&stale, StatusCode::UNAUTHORIZED, "unauthorized", None);
    assert!(stale.body["error"].as_str().is_some_and(|e| e.contains("5 minutes")), "{}", stale.body);
    let unsigned = deliver(&app, "/webhooks/incident-io", &live.to_string(), &[("webhook-id", "s2")]).await;
    assert_error(&unsigned, StatusCode::UNAUTHORIZED, "unauthorized", None);
    assert_eq!(app.get("/incidents").await.body, json!([]));
}
