//! The vendors' payloads with random values at random places, correctly
//! signed: whatever a sender posts, the answer is 2xx (or 400 for a body
//! that is not JSON), never a 5xx.

use proptest::prelude::*;
use serde_json::Value;

use super::{deliver, fixture, hmac_hex};
use crate::helpers::{TestApp, GITHUB_SECRET, GITLAB_TOKEN, INCIDENT_IO_SECRET, PAGERDUTY_SECRET, TOKEN};

/// (route, fixture, event header)
const PAYLOADS: [(&str, &str, &str); 11] = [
    ("/webhooks/github", "github/push.json", "push"),
    ("/webhooks/github", "github/deployment.json", "deployment"),
    ("/webhooks/github", "github/deployment_status-success.json", "deployment_status"),
    ("/webhooks/github", "github/deployment_status-in_progress.json", "deployment_status"),
    ("/webhooks/gitlab", "gitlab/push.json", "Push Hook"),
    ("/webhooks/gitlab", "gitlab/deployment.json", "Deployment Hook"),
    ("/webhooks/pagerduty", "pagerduty/incident-triggered.json", ""),
    ("/webhooks/pagerduty", "pagerduty/incident-resolved.json", ""),
    ("/webhooks/incident-io", "incident-io/incident_status_updated_v2.json", ""),
    ("/webhooks/alertmanager", "alertmanager/alertmanager-firing.json", ""),
    ("/webhooks/alertmanager", "alertmanager/grafana-resolved.json", ""),
];

/// Every JSON pointer in `value`, parents before children.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            map.iter().for_each(|(k, v)| pointers(v, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out))
        }
        Value::Array(list) => list.iter().enumerate().for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn random_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::from),
        Just(Value::from("2024-05-01T10:00:00Z")),
        Just(Value::from("2024-05-01 10:00:00 +0200")),
        Just(Value::from("success")),
        Just(Value::from("resolved")),
        Just(Value::from("closed")),
        Just(Value::from("refs/heads/main")),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
    ]
}

async fn send(app: &TestApp, route: &str, event: &str, body: &Value, delivery: &str) -> crate::helpers::Reply {
    let text = body.to_string();
    let now = chrono::Utc::now().timestamp();
    let signed = match route {
        "/webhooks/github" => vec![
            ("x-hub-signature-256", format!("sha256={}", hmac_hex(GITHUB_SECRET, &[text.as_bytes()]))),
            ("x-github-event", event.to_string()),
            ("x-github-delivery", delivery.to_string()),
        ],
        "/webhooks/gitlab" => vec![("x-gitlab-token", GITLAB_TOKEN.to_string()), ("x-gitlab-event", event.to_string())],
        "/webhooks/pagerduty" => {
            vec![("x-pagerduty-signature", format!("v1={}", hmac_hex(PAGERDUTY_SECRET, &[text.as_bytes()])))]
        }
        "/webhooks/incident-io" => {
            let webhook = standardwebhooks::Webhook::new(INCIDENT_IO_SECRET).expect("secret");
            vec![
                ("webhook-id", delivery.to_string()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", webhook.sign(delivery, now, text.as_bytes()).expect("signs")),
            ]
        }
        _ => vec![("authorization", format!("Bearer {TOKEN}"))],
    };
    let headers: Vec<(&str, &str)> = signed.iter().map(|(k, v)| (*k, v.as_str())).collect();
    deliver(app, route, &text, &headers).await
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn signed_payloads_with_random_values_are_always_answered_2xx(
        deliveries in proptest::collection::vec((0..PAYLOADS.len(), proptest::collection::vec((any::<usize>(), random_value()), 0..4)), 1..12)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let app = TestApp::new();
            for (n, (which, changes)) in deliveries.into_iter().enumerate() {
                let (route, file, event) = PAYLOADS[which];
                let mut body = fixture(file);
                let mut places = Vec::new();
                pointers(&body, String::new(), &mut places);
                for (place, value) in changes {
                    let pointer = &places[place % places.len()];
                    if pointer.is_empty() {
                        body = value;
                    } else if let Some(slot) = body.pointer_mut(pointer) {
                        *slot = value;
                    }
                }
                let reply = send(&app, route, event, &body, &format!("fuzz-{n}")).await;
                assert!(reply.status.is_success(), "{route} {event} {body} -> {} {}", reply.status, reply.body);
            }
        });
    }
}
