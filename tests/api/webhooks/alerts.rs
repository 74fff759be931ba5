//! Alertmanager and Grafana Alerting: each alert of a group is an incident.

use axum::http::StatusCode;
use em_metrics::secret::Secret;
use serde_json::{json, Value};

use super::{app_with, app_with_metrics, assert_exported, deliver, fixture, hmac_hex};
use crate::helpers::{assert_error, close, dora, webhook_settings, DeploymentBuilder, Reply, TestApp, TOKEN};

const DAY: &str = "from=2024-05-01T00:00:00Z&to=2024-05-03T00:00:00Z";
const TEAMS: &str = r#"{"projects": {"checkout": {"aliases": ["Checkout API"]}}}"#;

async fn alertmanager(app: &TestApp, body: &Value) -> Reply {
    let bearer = format!("Bearer {TOKEN}");
    deliver(app, "/webhooks/alertmanager", &body.to_string(), &[("authorization", &bearer)]).await
}

/// `api` deployed to production at 09:50. Alertmanager fires HighErrorRate
/// (job `api`, 10:00:00.123) and HighLatency (service `checkout`, 10:02)
/// in one group; HighErrorRate resolves at 10:30: restored 30 min after it
/// started, 40 min after the deployment went live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_group_opens_one_incident_per_alert_and_resolves_them() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    app.start(DeploymentBuilder::new("rel-7").set("environment", "production").deployed_at("2024-05-01T09:50:00Z"))
        .await;
    let firing = fixture("alertmanager/alertmanager-firing.json");
    let opened = alertmanager(&app, &firing).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    let list = opened.body.as_array().expect("one answer per alert");
    assert_eq!(list.len(), 2);
    let first = &list[0]["incident"];
    // startsAt 10:00:00.123 is 1714557600 in Unix seconds.
    assert_eq!(first["id"], "alert-c2a8a6e5b3c2f1d0-1714557600");
    assert_eq!((first["project_id"].as_str(), first["environment"].as_str()), (Some("api"), Some("production")));
    assert_eq!(first["title"], "API 5xx rate above 5% for 5 minutes", "the summary annotation");
    assert_eq!(first["deployment_id"], "rel-7");
    let second = &list[1]["incident"];
    assert_eq!((second["project_id"].as_str(), second["title"].as_str()), (Some("checkout"), Some("HighLatency")));
    assert_eq!(second["environment"], "production", "from the env label");

    // Alertmanager repeats a firing group every repeat_interval: nothing changes.
    let repeated = alertmanager(&app, &firing).await;
    assert_eq!(repeated.status, StatusCode::OK, "{}", repeated.body);

    let mut resolved = firing.clone();
    resolved["status"] = json!("resolved");
    resolved["alerts"] = json!([firing["alerts"][0].clone()]);
    resolved["alerts"][0]["status"] = json!("resolved");
    resolved["alerts"][0]["endsAt"] = json!("2024-05-01T10:30:00.123Z");
    let done = alertmanager(&app, &resolved).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body[0]["incident"]["status"], "finished");

    let r = dora(&app, &format!("{DAY}&project_id=api")).await;
    close(&r["time_to_restore"]["median_seconds"], 1800.0);
    close(&r["failed_deployment_recovery_time"]["median_seconds"], 2400.123);
    assert_eq!(r["change_failure_rate"]["change_failures"], 1);
    assert_exported(
        &app,
        &[
            r#"incident_count_total{environment="production",project_id="api"} 1"#,
            r#"incident_count_total{environment="production",project_id="checkout"} 1"#,
            r#"incident_finished_total{environment="production",project_id="api"} 1"#,
        ],
    )
    .await;

    let no_auth = deliver(&app, "/webhooks/alertmanager", &firing.to_string(), &[]).await;
    assert_error(&no_auth, StatusCode::UNAUTHORIZED, "unauthorized", None);
    let wrong = deliver(&app, "/webhooks/alertmanager", &firing.to_string(), &[("authorization", "Bearer nope")]).await;
    assert_error(&wrong, StatusCode::FORBIDDEN, "forbidden", None);
}

/// Grafana's first word about DiskFull is that it resolved (08:00 to
/// 08:45): the incident is created finished, in `checkout` through the alias.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grafana_notification_must_carry_its_signature_when_a_secret_is_set() {
    let settings =
        em_metrics::config::WebhookSettings { grafana_secret: Some(Secret::new("graf-s3cret")), ..webhook_settings() };
    let (app, _telemetry) = app_with(TEAMS, settings).await;
    let body = fixture("alertmanager/grafana-resolved.json").to_string();
    let bearer = format!("Bearer {TOKEN}");
    let unsigned = deliver(&app, "/webhooks/alertmanager", &body, &[("authorization", &bearer)]).await;
    assert_error(&unsigned, StatusCode::UNAUTHORIZED, "unauthorized", None);
    // A well-signed delivery stamped in 2024 is a replay: refused.
    let old = hmac_hex("graf-s3cret", &[b"1714640000", b":", body.as_bytes()]);
    let stale = [
        ("authorization", bearer.as_str()),
        ("x-grafana-alerting-signature", old.as_str()),
        ("x-grafana-alerting-signature-timestamp", "1714640000"),
    ];
    let replayed = deliver(&app, "/webhooks/alertmanager", &body, &stale).await;
    assert_error(&replayed, StatusCode::UNAUTHORIZED, "unauthorized", None);
    assert!(replayed.body["error"].as_str().is_some_and(|e| e.contains("5 minutes")), "{}", replayed.body);
    let now = chrono::Utc::now().timestamp().to_string();
    let signature = hmac_hex("graf-s3cret", &[now.as_bytes(), b":", body.as_bytes()]);
    let headers = [
        ("authorization", bearer.as_str()),
        ("x-grafana-alerting-signature", signature.as_str()),
        ("x-grafana-alerting-signature-timestamp", now.as_str()),
    ];
    let created = deliver(&app, "/api/v1/webhooks/alertmanager", &body, &headers).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let i = &created.body[0]["incident"];
    assert_eq!((i["project_id"].as_str(), i["status"].as_str()), (Some("checkout"), Some("finished")));
    assert_eq!(i["time_to_restore_seconds"], 2700.0);
    // The signature without the timestamp it was made with does not verify.
    let next = (chrono::Utc::now().timestamp() + 1).to_string();
    let tampered = [headers[0], headers[1], ("x-grafana-alerting-signature-timestamp", next.as_str())];
    let refused = deliver(&app, "/api/v1/webhooks/alertmanager", &body, &tampered).await;
    assert_error(&refused, StatusCode::UNAUTHORIZED, "unauthorized", None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_alerts_all_change_nothing_is_accepted_and_says_why() {
    let (app, _telemetry) = app_with_metrics(TEAMS).await;
    let mut odd = fixture("alertmanager/alertmanager-firing.json");
    odd["alerts"][0]["status"] = json!("pending");
    odd["alerts"][1]["fingerprint"] = json!("");
    let reply = alertmanager(&app, &odd).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
    let why = reply.body["ignored"].as_str().expect("reasons");
    assert!(why.contains("pending") && why.contains("fingerprint"), "{why}");
    assert_eq!(alertmanager(&app, &json!({"status": "firing", "alerts": []})).await.status, StatusCode::ACCEPTED);
}
