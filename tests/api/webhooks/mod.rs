//! Native webhooks, driven with the vendors' own example payloads (kept in
//! tests/fixtures/webhooks), changing only ids, shas and times so that each
//! story holds together. Every expected figure is worked out in the comments.

mod alerts;
mod fuzz;
mod git_hosts;
mod incident_tools;
mod rules;

use axum::http::{Method, StatusCode};
use em_metrics::config::MetricsSettings;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::{Reply, TestApp};

/// A payload from tests/fixtures/webhooks.
pub fn fixture(path: &str) -> Value {
    let full = format!("{}/tests/fixtures/webhooks/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}

pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// POSTs `body` exactly as given to `path` with `headers`.
pub async fn deliver(app: &TestApp, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    app.request_with(Method::POST, path, Some(body), &all).await
}

pub async fn dora(app: &TestApp, query: &str) -> Value {
    let reply = app.get(&format!("/dora?{query}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

pub fn close(actual: &Value, expected: f64) {
    let a = actual.as_f64().unwrap_or_else(|| panic!("expected a number, got {actual}"));
    assert!((a - expected).abs() < 1e-6, "expected {expected}, got {a}");
}

/// An app exporting to its own `/metrics`, with every source enabled.
pub async fn app_with_metrics(teams: &str) -> (TestApp, std::sync::Arc<em_metrics::telemetry::Telemetry>) {
    app_with(teams, crate::helpers::webhook_settings()).await
}

pub async fn app_with(
    teams: &str,
    webhooks: em_metrics::config::WebhookSettings,
) -> (TestApp, std::sync::Arc<em_metrics::telemetry::Telemetry>) {
    let telemetry = crate::metrics::telemetry(MetricsSettings::local("test-env")).await;
    (TestApp::with_webhooks(teams, &telemetry, webhooks), telemetry)
}

/// Asserts every line is in the app's Prometheus text.
pub async fn assert_exported(app: &TestApp, lines: &[&str]) {
    let text = crate::metrics::metrics_text(app).await;
    for line in lines {
        assert!(text.lines().any(|l| l == *line), "missing `{line}` in:\n{text}");
    }
}
