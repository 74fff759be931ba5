//! The metric catalog as it leaves the process: over OTLP (HTTP and gRPC),
//! decoded with the official protobuf definitions, and as Prometheus text.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use em_metrics::config::{MetricsSettings, OtlpProtocol, OtlpSettings};
use em_metrics::metrics::{
    DEPLOYMENT_DURATION_BUCKETS, LEAD_TIME_BUCKETS, TIME_TO_DETECT_BUCKETS, TIME_TO_RESTORE_BUCKETS,
};
use em_metrics::telemetry::Telemetry;
use serde_json::json;

use crate::helpers::{DeploymentBuilder, TestApp};
use crate::receiver::{self, Catalog, Received};

const TEAMS: &str = r#"{"teams": {"backend": {"projects": ["api"]}}}"#;
const API: &str = "environment=prod,project_id=api,team_id=backend";
const WEB: &str = "environment=staging,project_id=web";
const WEB_INCIDENT: &str = "environment=production,project_id=web";

fn settings(endpoint: String, protocol: OtlpProtocol) -> MetricsSettings {
    MetricsSettings {
        otlp: Some(OtlpSettings {
            endpoint,
            variable: "OTEL_COLLECTOR_URL",
            protocol,
            // Long: tests export with flush(), so nothing depends on timing.
            interval: Duration::from_secs(3600),
        }),
        ..MetricsSettings::local("test-env")
    }
}

/// Telemetry is built and flushed off the async threads: the exporters block.
pub(crate) async fn telemetry(settings: MetricsSettings) -> Arc<Telemetry> {
    let t = tokio::task::spawn_blocking(move || Telemetry::start(&settings).expect("telemetry")).await.expect("task");
    Arc::new(t)
}

async fn flush(t: &Arc<Telemetry>) {
    let t = t.clone();
    tokio::task::spawn_blocking(move || t.flush()).await.expect("flush");
}

fn http_url(addr: SocketAddr) -> String {
    format!("http://{addr}/v1/metrics")
}

/// The scripted story, including requests that must record nothing.
async fn story(app: &TestApp) {
    let api = |id: &str| DeploymentBuilder::new(id).set("environment", "prod");
    app.start(api("d1")).await;
    let ok = app.post("/deployments/d1/deployed", json!({"deployed_at": "2024-05-01T10:00:00Z"})).await;
    assert_eq!(ok.status, StatusCode::OK);
    // A retry, a conflict and bad input: none of them may count.
    assert_eq!(
        app.post("/deployments/d1/deployed", json!({"deployed_at": "2024-05-01T10:00:00Z"})).await.status,
        StatusCode::OK
    );
    assert_eq!(app.post("/deployments", api("d1").project("web").json()).await.status, StatusCode::CONFLICT);
    assert_eq!(app.post("/deployments", api("d1").json()).await.status, StatusCode::OK);
    assert_eq!(app.post_raw("/deployments", "{\"id\": 1").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.post("/deployments/d1/deployed", json!({"deployed_at": "2000-01-01T00:00:00Z"})).await.status,
        StatusCode::CONFLICT
    );

    app.start(
        DeploymentBuilder::new("d2")
            .project("web")
            .set("environment", "staging")
            .set("first_commit_at", "2024-05-01T00:00:00Z")
            .set("deploy_start_at", "2024-05-01T10:00:00Z")
            .deployed_at("2024-05-01T10:00:30Z"),
    )
    .await;
    app.start(api("d3")).await;
    assert_eq!(app.post_raw("/deployments/d3/failed", "").await.status, StatusCode::OK);
    assert_eq!(app.post_raw("/deployments/d3/failed", "").await.status, StatusCode::OK);

    let i1 = json!({"id": "i1", "project_id": "api", "deployment_id": "d1", "started_at": "2024-05-01T10:30:00Z"});
    assert_eq!(app.post("/incidents", i1.clone()).await.status, StatusCode::CREATED);
    assert_eq!(app.post("/incidents", i1).await.status, StatusCode::OK);
    assert_eq!(
        app.post("/incidents/i1/restored", json!({"date": "2024-05-01T11:00:00Z"})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/incidents/i1/restored", json!({"date": "2024-05-01T11:00:00Z"})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/incidents/i1/restored", json!({"date": "2024-05-01T11:30:00Z"})).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        app.post("/incidents/i1/finished", json!({"date": "2024-05-01T12:00:00Z"})).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/incidents/i1/finished", json!({"date": "2024-05-01T12:00:00Z"})).await.status,
        StatusCode::OK
    );
    let i2 = json!({"id": "i2", "project_id": "api", "deployment_id": "d1", "started_at": "2024-05-01T11:00:00Z"});
    assert_eq!(app.post("/incidents", i2).await.status, StatusCode::CREATED);
    let i3 = json!({"id": "i3", "project_id": "web", "started_at": "2024-05-01T10:00:00Z", "finished_at": "2024-05-01T10:10:00Z"});
    assert_eq!(app.post("/incidents", i3).await.status, StatusCode::CREATED);
    let bad = json!({"project_id": "api", "deployment_id": "missing"});
    assert_eq!(app.post("/incidents", bad).await.status, StatusCode::BAD_REQUEST);
}

fn counts(pairs: &[(&str, i64)]) -> std::collections::BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Every number the story implies, checked on a decoded export.
fn assert_story(catalog: &Catalog) {
    assert_eq!(catalog.scope, "em-metrics");
    assert_eq!(catalog.counter("deployment_started"), counts(&[(API, 2), (WEB, 1)]));
    assert_eq!(catalog.counter("deployment_frequency"), counts(&[(API, 1), (WEB, 1)]));
    assert_eq!(catalog.counter("deployment_failed"), counts(&[(API, 1)]));
    assert_eq!(catalog.counter("change_failure_count"), counts(&[(API, 1)]));
    assert_eq!(catalog.counter("incident_count"), counts(&[(API, 2), (WEB_INCIDENT, 1)]));
    assert_eq!(catalog.counter("incident_restored"), counts(&[(API, 1), (WEB_INCIDENT, 1)]));
    assert_eq!(catalog.counter("incident_finished"), counts(&[(API, 1), (WEB_INCIDENT, 1)]));

    for name in ["deployment_started", "deployment_frequency", "deployment_failed", "change_failure_count"] {
        assert_eq!(catalog.metric(name).unit, "{deployment}", "{name}");
    }
    for name in ["incident_count", "incident_restored", "incident_finished"] {
        assert_eq!(catalog.metric(name).unit, "{incident}", "{name}");
    }

    /// (attributes, count, sum) of one histogram data point.
    type Point<'a> = (&'a str, u64, f64);
    let histograms: [(&str, &[f64], &[Point]); 5] = [
        ("lead_time_for_changes", &LEAD_TIME_BUCKETS, &[(API, 1, 7200.0), (WEB, 1, 36030.0)]),
        ("deployment_duration", &DEPLOYMENT_DURATION_BUCKETS, &[(API, 1, 3600.0), (WEB, 1, 30.0)]),
        ("time_to_detect", &TIME_TO_DETECT_BUCKETS, &[(API, 2, 1800.0 + 3600.0)]),
        ("time_to_restore", &TIME_TO_RESTORE_BUCKETS, &[(API, 1, 1800.0), (WEB_INCIDENT, 1, 600.0)]),
        // i1 restored 11:00 − d1 deployed 10:00; i3 has no deployment.
        ("failed_deployment_recovery_time", &TIME_TO_RESTORE_BUCKETS, &[(API, 1, 3600.0)]),
    ];
    for (name, bounds, expected) in histograms {
        assert_eq!(catalog.metric(name).unit, "s", "{name}");
        let points = catalog.histogram(name);
        assert_eq!(points.len(), expected.len(), "{name}: {:?}", points.keys());
        for (labels, count, sum) in expected {
            let p = points.get(*labels).unwrap_or_else(|| panic!("{name} has no point for {labels}"));
            assert_eq!(p.count, *count, "{name} {labels} count");
            assert_eq!(p.sum, Some(*sum), "{name} {labels} sum");
            assert_eq!(p.explicit_bounds, bounds.to_vec(), "{name} bounds");
            assert_eq!(p.bucket_counts.iter().sum::<u64>(), *count, "{name} buckets add up");
        }
    }
    // 7200 s falls in the (3600, 7200] bucket of the lead time.
    let lead = &catalog.histogram("lead_time_for_changes")[API];
    assert_eq!(lead.bucket_counts[4], 1, "{:?}", lead.bucket_counts);

    assert_eq!(catalog.resource.get("service.name").map(String::as_str), Some("em_metrics"));
    assert_eq!(catalog.resource.get("service.version").map(String::as_str), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(catalog.resource.get("deployment.environment.name").map(String::as_str), Some("test-env"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_is_exported_over_otlp_http_exactly_once_per_state_change() {
    let (addr, received) = receiver::start_http().await;
    let telemetry = telemetry(settings(http_url(addr), OtlpProtocol::HttpProtobuf)).await;
    let app = TestApp::builder().teams(TEAMS).telemetry(&telemetry).build();
    story(&app).await;
    flush(&telemetry).await;
    let latest = received.latest().expect("an export arrived");
    assert_story(&Catalog::from(&latest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_is_exported_over_otlp_grpc() {
    let (addr, received) = receiver::start_grpc().await;
    let telemetry = telemetry(settings(format!("http://{addr}"), OtlpProtocol::Grpc)).await;
    let app = TestApp::builder().teams(TEAMS).telemetry(&telemetry).build();
    story(&app).await;
    flush(&telemetry).await;
    let latest = received.latest().expect("a gRPC export arrived");
    assert_story(&Catalog::from(&latest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_text_holds_the_catalog_names_and_values() {
    let telemetry = telemetry(MetricsSettings::local("test-env")).await;
    let app = TestApp::builder().teams(TEAMS).telemetry(&telemetry).build();
    story(&app).await;
    let reply = app.request(axum::http::Method::GET, "/metrics", None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "/metrics is behind auth");
    let text = metrics_text(&app).await;
    for line in [
        r#"deployment_started_total{environment="prod",project_id="api",team_id="backend"} 2"#,
        r#"deployment_started_total{environment="staging",project_id="web"} 1"#,
        r#"deployment_frequency_total{environment="prod",project_id="api",team_id="backend"} 1"#,
        r#"deployment_failed_total{environment="prod",project_id="api",team_id="backend"} 1"#,
        r#"change_failure_count_total{environment="prod",project_id="api",team_id="backend"} 1"#,
        r#"incident_count_total{environment="prod",project_id="api",team_id="backend"} 2"#,
        r#"incident_restored_total{environment="production",project_id="web"} 1"#,
        r#"incident_finished_total{environment="prod",project_id="api",team_id="backend"} 1"#,
        r#"lead_time_for_changes_seconds_bucket{environment="prod",project_id="api",team_id="backend",le="7200"} 1"#,
        r#"lead_time_for_changes_seconds_bucket{environment="prod",project_id="api",team_id="backend",le="3600"} 0"#,
        r#"lead_time_for_changes_seconds_sum{environment="prod",project_id="api",team_id="backend"} 7200"#,
        r#"lead_time_for_changes_seconds_count{environment="staging",project_id="web"} 1"#,
        r#"deployment_duration_seconds_sum{environment="staging",project_id="web"} 30"#,
        r#"time_to_detect_seconds_count{environment="prod",project_id="api",team_id="backend"} 2"#,
        r#"time_to_detect_seconds_sum{environment="prod",project_id="api",team_id="backend"} 5400"#,
        r#"time_to_restore_seconds_sum{environment="production",project_id="web"} 600"#,
        r#"time_to_restore_seconds_bucket{environment="prod",project_id="api",team_id="backend",le="15552000"} 1"#,
        r#"failed_deployment_recovery_time_seconds_sum{environment="prod",project_id="api",team_id="backend"} 3600"#,
        r#"failed_deployment_recovery_time_seconds_bucket{environment="prod",project_id="api",team_id="backend",le="3600"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    // As label values: a random service.instance.id may hold the letters "d1".
    let leaked: Vec<&str> = text.lines().filter(|l| l.contains(r#"="d1""#) || l.contains(r#"="i1""#)).collect();
    assert!(leaked.is_empty(), "no ids in metric labels: {leaked:#?}");
}

pub(crate) async fn metrics_text(app: &TestApp) -> String {
    use tower::ServiceExt;
    let request = axum::http::Request::builder()
        .uri("/api/v1/metrics")
        .header("authorization", format!("Bearer {}", crate::helpers::TOKEN))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = app.router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_does_not_slow_the_api_and_gets_the_totals_later() {
    // Reserve a port, then close it: the collector is down.
    let port_holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = port_holder.local_addr().expect("addr");
    drop(port_holder);
    let mut s = settings(http_url(addr), OtlpProtocol::HttpProtobuf);
    if let Some(otlp) = s.otlp.as_mut() {
        otlp.interval = Duration::from_millis(100);
    }
    let telemetry = telemetry(s).await;
    let app = TestApp::builder().teams(TEAMS).telemetry(&telemetry).build();

    let mut slowest = Duration::ZERO;
    for i in 0..200 {
        let started = Instant::now();
        let d = DeploymentBuilder::new(&format!("d{i}")).set("environment", "prod").deployed_at("2024-05-01T10:00:00Z");
        assert_eq!(app.post("/deployments", d.json()).await.status, StatusCode::CREATED);
        slowest = slowest.max(started.elapsed());
    }
    // Exports failed every 100 ms meanwhile; no request waited on one.
    assert!(slowest < Duration::from_millis(250), "slowest request took {slowest:?}");
    // Stay down for several export intervals, so some exports surely failed.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind the collector port");
    let received: Received = receiver::serve_http(listener);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(latest) = received.latest() {
            let catalog = Catalog::from(&latest);
            // An export collected while the requests ran may still be in
            // flight (retried) when the collector comes back: wait for the totals.
            if catalog.metrics.contains_key("deployment_frequency")
                && catalog.counter("deployment_frequency") == counts(&[(API, 200)])
            {
                assert_eq!(catalog.counter("deployment_started"), counts(&[(API, 200)]));
                break;
            }
        }
        assert!(Instant::now() < deadline, "no export with the totals after the collector came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_is_404_when_the_prometheus_endpoint_is_off() {
    // TestApp::new() assembles the state as EM_METRICS_PROMETHEUS=false does: no registry.
    let app = TestApp::new();
    crate::helpers::assert_error(&app.get("/metrics").await, StatusCode::NOT_FOUND, "not_found", None);
}

/// Commits, a hotfix and a rollback in api/prod:
/// m1 ships a (lead 3600) and b (lead 1800), sha v1, deployed 10:00;
/// m2 ships c (lead 600), sha v2, deployed 11:00;
/// m3 is a hotfix, sha v3, listing c again (no new change), deployed 12:00;
/// m4 puts v1 back (a rollback of m3), deployed 13:00, no commits: one change,
/// lead 13:00 − first_commit_at 08:00 = 18000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rework_rollbacks_and_per_change_lead_times_are_exported() {
    let (addr, received) = receiver::start_http().await;
    let telemetry = telemetry(settings(http_url(addr), OtlpProtocol::HttpProtobuf)).await;
    let app = TestApp::builder().teams(TEAMS).telemetry(&telemetry).build();
    let d = |id: &str, sha: &str, at: &str| {
        DeploymentBuilder::new(id)
            .set("environment", "prod")
            .set("commit_sha", sha)
            .set("deploy_start_at", at)
            .deployed_at(at)
    };
    let c = |sha: &str, at: &str| json!({"sha": sha, "committed_at": at});
    app.start(
        d("m1", "v1", "2024-05-01T10:00:00Z")
            .set("commits", json!([c("a", "2024-05-01T09:00:00Z"), c("b", "2024-05-01T09:30:00Z")])),
    )
    .await;
    app.start(d("m2", "v2", "2024-05-01T11:00:00Z").set("commits", json!([c("c", "2024-05-01T10:50:00Z")]))).await;
    app.start(
        d("m3", "v3", "2024-05-01T12:00:00Z")
            .set("kind", "hotfix")
            .set("commits", json!([c("c", "2024-05-01T10:50:00Z")])),
    )
    .await;
    let m4 = app.start(d("m4", "v1", "2024-05-01T13:00:00Z")).await;
    assert_eq!(m4["rollback_of"], "m3");
    flush(&telemetry).await;

    let catalog = Catalog::from(&received.latest().expect("an export arrived"));
    assert_eq!(catalog.counter("deployment_rework"), counts(&[(API, 2)]), "m3 (hotfix) and m4 (rollback)");
    assert_eq!(catalog.counter("deployment_rollback"), counts(&[(API, 1)]));
    assert_eq!(catalog.counter("change_failure_count"), counts(&[(API, 1)]), "m3, rolled back");
    for name in ["deployment_rework", "deployment_rollback"] {
        assert_eq!(catalog.metric(name).unit, "{deployment}", "{name}");
    }
    let lead = &catalog.histogram("lead_time_for_changes")[API];
    assert_eq!(lead.count, 4, "a, b, c and m4's one change");
    assert_eq!(lead.sum, Some(3600.0 + 1800.0 + 600.0 + 18000.0));

    let text = metrics_text(&app).await;
    for line in [
        r#"deployment_rework_total{environment="prod",project_id="api",team_id="backend"} 2"#,
        r#"deployment_rollback_total{environment="prod",project_id="api",team_id="backend"} 1"#,
        r#"lead_time_for_changes_seconds_count{environment="prod",project_id="api",team_id="backend"} 4"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
}
