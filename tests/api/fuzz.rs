//! Property-based fuzzing of the parsers and of the API as a whole. Case
//! counts are bounded so CI stays fast; PROPTEST_CASES=100000 runs longer.

use axum::http::StatusCode;
use em_metrics::http::deployments::CreateDeployment;
use em_metrics::http::extract::parse_json;
use em_metrics::teams::TeamConfig;
use em_metrics::time::Timestamp;
use proptest::prelude::*;
use serde_json::json;

use crate::helpers::TestApp;

/// `cases` by default; PROPTEST_CASES, when set, for a longer run.
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn time_parsing_never_panics(text in "\\PC{0,64}") {
        let _ = Timestamp::parse(&text);
    }

    #[test]
    fn time_like_text_never_panics(
        text in "[0-9]{1,5}-[0-9]{1,3}-[0-9]{1,3}[T ][0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{0,12})?(Z|[+-][0-9]{2}:[0-9]{2})?"
    ) {
        if let Ok(t) = Timestamp::parse(&text) {
            // Whatever is accepted prints and parses back to the same instant.
            prop_assert_eq!(Timestamp::parse(&t.to_rfc3339()), Ok(t));
        }
    }

    #[test]
    fn every_millisecond_round_trips(ms in -62_135_596_800_000i64..=253_402_300_799_999i64) {
        let t = Timestamp::from_millis(ms);
        prop_assert_eq!(Timestamp::parse(&t.to_rfc3339()), Ok(t));
    }

    #[test]
    fn unix_seconds_as_text_and_as_numbers_agree(seconds in 0i64..=253_402_300_799i64) {
        let from_text = Timestamp::parse(&seconds.to_string());
        let from_json: Result<Timestamp, _> = serde_json::from_str(&seconds.to_string());
        prop_assert_eq!(from_text.ok(), from_json.ok());
    }

    #[test]
    fn arbitrary_bytes_as_a_body_are_a_4xx_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = parse_json::<CreateDeployment>(&bytes) {
            let status = axum::response::IntoResponse::into_response(e).status();
            prop_assert!(status.is_client_error(), "{}", status);
        }
    }

    #[test]
    fn arbitrary_team_configs_never_panic(text in "\\PC{0,200}") {
        let _ = TeamConfig::parse(&text);
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        "\\PC{0,30}".prop_map(serde_json::Value::from),
        Just(json!("2024-05-01T10:00:00Z")),
        Just(json!(1714557600)),
    ];
    leaf.prop_recursive(2, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::hash_map("\\PC{0,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request body built from the API's own field names with random values.
fn body() -> impl Strategy<Value = serde_json::Value> {
    let fields = [
        "id",
        "project_id",
        "first_commit_at",
        "deploy_start_at",
        "deployed_at",
        "username",
        "user",
        "environment",
        "create_if_not_exists",
        "date",
        "deployment_id",
        "title",
        "started_at",
        "restored_at",
        "finished_at",
    ];
    proptest::collection::vec((proptest::sample::select(fields.to_vec()), json_value()), 0..8)
        .prop_map(|pairs| serde_json::Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}

/// A valid body for operation `op`, with up to two fields overwritten by
/// random values, so sequences mix real state changes with bad input.
fn mutated(op: usize, id: &str, random: serde_json::Value) -> serde_json::Value {
    let mut body = match op {
        0 => json!({"id": id, "project_id": "api", "first_commit_at": "2024-05-01T08:00:00Z",
                    "deploy_start_at": "2024-05-01T09:00:00Z"}),
        1 => json!({"deployed_at": "2024-05-01T10:00:00Z", "create_if_not_exists": true, "project_id": "api",
                    "first_commit_at": "2024-05-01T08:00:00Z"}),
        3 => json!({"id": id, "project_id": "api", "deployment_id": id, "started_at": "2024-05-01T11:00:00Z"}),
        2 | 4 | 5 => json!({"date": "2024-05-01T12:00:00Z"}),
        _ => json!({}),
    };
    if let (Some(fields), Some(random)) = (body.as_object_mut(), random.as_object()) {
        for (k, v) in random.iter().take(2) {
            fields.insert(k.clone(), v.clone());
        }
    }
    body
}

fn operation() -> impl Strategy<Value = (&'static str, String, serde_json::Value)> {
    let ids = proptest::sample::select(vec!["a", "b", "c", "d'; --", "é"]);
    (0..9usize, ids, body(), any::<bool>()).prop_map(|(op, id, random, keep_valid)| {
        let body = if keep_valid { mutated(op, id, json!({})) } else { mutated(op, id, random) };
        let path = match op {
            0 => "/deployments".to_string(),
            1 => format!("/deployments/{id}/deployed"),
            2 => format!("/deployments/{id}/failed"),
            3 => "/incidents".to_string(),
            4 => format!("/incidents/{id}/restored"),
            5 => format!("/incidents/{id}/finished"),
            6 => format!("/deployments/{id}"),
            7 => format!("/incidents/{id}"),
            _ => "/dora".to_string(),
        };
        let method = match op {
            6 | 7 => "DELETE",
            8 => "GET",
            _ => "POST",
        };
        (method, path, body)
    })
}

static SUCCEEDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    #![proptest_config(config(150))]

    /// Random sequences of real requests against one database: never a 5xx,
    /// always the error shape, and the database stays consistent.
    #[test]
    fn random_request_sequences_never_get_a_5xx(ops in proptest::collection::vec(operation(), 1..25)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let app = TestApp::new();
            let mut succeeded = 0;
            for (method, path, body) in ops {
                let method: axum::http::Method = method.parse().expect("method");
                let reply = app
                    .request(method, &path.replace('\'', "%27").replace('é', "%C3%A9").replace(' ', "%20"), Some(&body.to_string()), Some(&format!("Bearer {}", crate::helpers::TOKEN)))
                    .await;
                assert!(!reply.status.is_server_error(), "{path} {body} -> {} {}", reply.status, reply.body);
                if reply.status.is_success() {
                    succeeded += 1;
                } else {
                    assert!(reply.body["code"].is_string() && reply.body["error"].is_string(), "{}", reply.body);
                }
            }
            SUCCEEDED.fetch_add(succeeded, std::sync::atomic::Ordering::Relaxed);
            // Every deployed deployment has a deployed_at after its start and first commit.
            let all = app.get("/deployments?limit=1000").await;
            assert_eq!(all.status, StatusCode::OK);
            for d in all.body.as_array().cloned().unwrap_or_default() {
                if d["status"] == "deployed" {
                    assert!(d["lead_time_seconds"].as_f64().is_some_and(|l| l >= 0.0), "{d}");
                    assert!(d["duration_seconds"].as_f64().is_some_and(|l| l >= 0.0), "{d}");
                }
            }
        });
    }
}

#[test]
fn the_request_sequences_reach_real_state_changes() {
    // Runs the sequence property once more on its own and checks that it is
    // not all 4xx: a fuzzer that never gets past validation tests little.
    random_request_sequences_never_get_a_5xx();
    assert!(SUCCEEDED.load(std::sync::atomic::Ordering::Relaxed) > 100, "too few successful requests");
}
