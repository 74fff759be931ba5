//! OTEL_METRICS_EXPORTER: which exporters run, and the console exporter,
//! whose lines are exactly what the OTLP exporter sends.

use std::io::Read;
use std::process::Stdio;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::metric;
use serde_json::json;

use crate::binary::{command, Server};
use crate::receiver::Catalog;

/// The same story exported by OTLP over HTTP and by the console: the
/// console's last line, decoded with the official OTLP types, holds the same
/// resource, metrics, attribute sets and values as the last OTLP request.
#[test]
fn the_console_prints_what_otlp_sends() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, received) = runtime.block_on(crate::receiver::start_http());
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("OTEL_METRICS_EXPORTER", "otlp,console")
        .env("OTEL_COLLECTOR_URL", format!("http://{addr}/v1/metrics"))
        // Longer than the test: both exports come from the shutdown flush.
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
        .env("OTEL_RESOURCE_ATTRIBUTES", "k8s.cluster.name=eu-1")
        .stdout(Stdio::piped());
    let mut server = Server::start(cmd);
    let mut stdout = server.take_stdout().expect("piped stdout");
    let story = [
        (
            "/deployments",
            json!({"id": "d1", "project_id": "api", "first_commit_at": "2024-05-01T08:00:00Z",
            "deploy_start_at": "2024-05-01T09:00:00Z", "deployed_at": "2024-05-01T10:00:00Z"}),
        ),
        (
            "/deployments",
            json!({"id": "d2", "project_id": "web", "environment": "staging",
            "first_commit_at": "2024-05-01T08:00:00Z", "deployed_at": "2024-05-01T11:00:00Z"}),
        ),
        (
            "/incidents",
            json!({"id": "i1", "project_id": "api", "deployment_id": "d1",
            "started_at": "2024-05-01T12:00:00Z", "restored_at": "2024-05-01T12:30:00Z"}),
        ),
    ];
    for (path, body) in story {
        assert_eq!(server.post(path, body).0, 201, "{path}");
    }
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log:#?}");
    let mut printed = String::new();
    stdout.read_to_string(&mut printed).expect("stdout");
    let last = printed.lines().last().expect("the console printed the export");
    let console: ExportMetricsServiceRequest = serde_json::from_str(last).expect("OTLP/JSON");
    let otlp = received.latest().expect("the OTLP export arrived");

    let (console, otlp) = (Catalog::from(&console), Catalog::from(&otlp));
    assert_eq!(console.resource, otlp.resource);
    assert_eq!(console.resource["k8s.cluster.name"], "eu-1");
    assert_eq!(console.scope, otlp.scope);
    assert_eq!(console.metrics.keys().collect::<Vec<_>>(), otlp.metrics.keys().collect::<Vec<_>>());
    assert!(console.metrics.len() >= 6, "the story touches most of the catalog: {:?}", console.metrics.keys());
    for (name, metric) in &console.metrics {
        match &metric.data {
            Some(metric::Data::Sum(_)) => assert_eq!(console.counter(name), otlp.counter(name), "{name}"),
            Some(metric::Data::Histogram(_)) => {
                let (c, o) = (console.histogram(name), otlp.histogram(name));
                assert_eq!(c.keys().collect::<Vec<_>>(), o.keys().collect::<Vec<_>>(), "{name}");
                for (labels, point) in &c {
                    let other = &o[labels];
                    assert_eq!(
                        (point.count, point.sum, &point.bucket_counts),
                        (other.count, other.sum, &other.bucket_counts),
                        "{name} {labels}"
                    );
                }
            }
            other => assert_eq!(Some(other), otlp.metrics.get(name).map(|m| &m.data), "{name}"),
        }
    }
    let deployments = console.counter("deployment_frequency");
    assert_eq!(deployments.values().sum::<i64>(), 2, "{deployments:?}");
}

#[test]
fn the_exporter_list_turns_each_exporter_on_or_off() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, received) = runtime.block_on(crate::receiver::start_http());
    let dir = tempfile::tempdir().expect("dir");
    // An endpoint is set, but the list leaves OTLP and /metrics out.
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("OTEL_METRICS_EXPORTER", "none")
        .env("OTEL_COLLECTOR_URL", format!("http://{addr}/v1/metrics"))
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
        .stdout(Stdio::piped());
    let mut server = Server::start(cmd);
    let mut stdout = server.take_stdout().expect("piped");
    assert_eq!(
        server.post("/deployments", json!({"id": "d1", "project_id": "api", "first_commit_at": 1714550400})).0,
        201
    );
    assert_eq!(server.get("/metrics").0, 404);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(server.stop().0, Some(0));
    assert_eq!(received.count(), 0, "nothing was pushed");
    let mut printed = String::new();
    stdout.read_to_string(&mut printed).expect("stdout");
    assert!(printed.is_empty(), "nothing was printed: {printed}");

    let mut prometheus_only = command(&dir.path().join("em.db"));
    prometheus_only.env("OTEL_METRICS_EXPORTER", "prometheus");
    let server = Server::start(prometheus_only);
    assert_eq!(server.get("/metrics").0, 200);
    assert_eq!(server.stop().0, Some(0));

    for (list, says) in
        [("otlp", "needs an endpoint"), ("jaeger", "`jaeger` is not"), ("none,console", "cannot be combined")]
    {
        let out = command(&dir.path().join("em.db")).env("OTEL_METRICS_EXPORTER", list).output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{list}: {stderr}");
        assert!(stderr.contains("OTEL_METRICS_EXPORTER") && stderr.contains(says), "{list}: {stderr}");
    }
}
