//! Native webhooks, driven with the vendors' own example payloads (kept in
//! tests/fixtures/webhooks), changing only ids, shas and times so that each
//! story holds together. Every expected figure is worked out in the comments.

mod alerts;
mod fuzz;
mod git_hosts;
mod incident_tools;
mod rules;

use axum::http::Method;
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

/// An app exporting to its own `/metrics`, with every source enabled.
pub async fn app_with_metrics(teams: &str) -> (TestApp, std::sync::Arc<em_metrics::telemetry::Telemetry>) {
    app_with(teams, crate::helpers::webhook_settings()).await
}

pub async fn app_with(
    teams: &str,
    webhooks: em_metrics::config::WebhookSettings,
) -> (TestApp, std::sync::Arc<em_metrics::telemetry::Telemetry>) {
    let telemetry = crate::metrics::telemetry(MetricsSettings::local("test-env")).await;
    (TestApp::builder().teams(teams).telemetry(&telemetry).webhooks(webhooks).build(), telemetry)
}

/// Asserts every line is in the app's Prometheus text.
pub async fn assert_exported(app: &TestApp, lines: &[&str]) {
    let text = crate::metrics::metrics_text(app).await;
    for line in lines {
        assert!(text.lines().any(|l| l == *line), "missing `{line}` in:\n{text}");
    }
}
