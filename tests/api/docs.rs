//! "What em-metrics stores and sends" (docs/metrics.md) against the code: every
//! stored column and every exported metric, attribute and resource
//! attribute is listed, and nothing listed is missing from the code.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use em_metrics::config::{MetricsSettings, OtlpProtocol, OtlpSettings};
use em_metrics::store::Store;
use serde_json::json;

use crate::helpers::{DeploymentBuilder, TestApp};
use crate::receiver::Catalog;

/// The section's tables: first cell (in backticks) to the other cells.
fn readme_tables() -> Vec<BTreeMap<String, Vec<String>>> {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).expect("docs/metrics.md");
    let section = doc.split("## What em-metrics stores and sends").nth(1).expect("the section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut tables = Vec::new();
    let mut current: Option<BTreeMap<String, Vec<String>>> = None;
    for line in section.lines() {
        if !line.starts_with('|') {
            if let Some(t) = current.take() {
                tables.push(t);
            }
            continue;
        }
        let cells: Vec<String> = line.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect();
        let table = current.get_or_insert_with(BTreeMap::new);
        if let Some(name) = cells[0].strip_prefix('`').and_then(|c| c.strip_suffix('`')) {
            table.insert(name.to_string(), cells[1..].to_vec());
        }
    }
    tables.extend(current);
    tables.retain(|t| !t.is_empty());
    tables
}

fn table_with(tables: &[BTreeMap<String, Vec<String>>], key: &str) -> BTreeMap<String, Vec<String>> {
    tables
        .iter()
        .find(|t| t.contains_key(key))
        .cloned()
        .unwrap_or_else(|| panic!("no table of docs/metrics.md lists {key}"))
}

#[test]
fn what_em_metrics_stores_is_every_column_of_the_schema() {
    let tables = readme_tables();
    let documented: BTreeSet<String> = table_with(&tables, "deployments.username").into_keys().collect();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("em.db");
    drop(Store::open(&path).expect("migrated"));
    let conn = rusqlite::Connection::open(&path).expect("db");
    let mut stmt = conn
        .prepare(
            "SELECT m.name || '.' || c.name FROM sqlite_master m, pragma_table_info(m.name) c
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .expect("query");
    let schema: BTreeSet<String> = stmt.query_map([], |r| r.get(0)).expect("rows").map(|r| r.expect("row")).collect();
    let undocumented: Vec<_> = schema.difference(&documented).collect();
    let gone: Vec<_> = documented.difference(&schema).collect();
    assert!(undocumented.is_empty(), "stored but not in docs/metrics.md: {undocumented:?}");
    assert!(gone.is_empty(), "in docs/metrics.md but not stored: {gone:?}");
    let username = &table_with(&tables, "deployments.username")["deployments.username"];
    assert_eq!(username[1], "**yes**", "the username is marked as personal data");
}

/// A story that records every instrument of the catalog once, exported over
/// OTLP and decoded: docs/metrics.md lists exactly these metrics, attributes and
/// resource attributes.
#[tokio::test]
async fn what_em_metrics_sends_is_every_metric_of_the_catalog() {
    let (addr, received) = crate::receiver::start_http().await;
    let settings = MetricsSettings {
        otlp: Some(OtlpSettings {
            endpoint: format!("http://{addr}/v1/metrics"),
            variable: "OTEL_COLLECTOR_URL",
            protocol: OtlpProtocol::HttpProtobuf,
            interval: Duration::from_secs(3600),
        }),
        ..MetricsSettings::local("production")
    };
    let telemetry = crate::metrics::telemetry(settings).await;
    let app = TestApp::builder().teams(r#"{"teams": {"core": {"projects": ["api"]}}}"#).telemetry(&telemetry).build();
    app.start(DeploymentBuilder::new("d1").deployed_at("2024-05-01T10:00:00Z")).await;
    app.start(DeploymentBuilder::new("d2")).await;
    assert_eq!(app.post("/deployments/d2/failed", json!({})).await.status, 200);
    let incident = json!({"id": "i1", "project_id": "api", "deployment_id": "d1", "started_at": "2024-05-01T11:00:00Z",
        "restored_at": "2024-05-01T11:30:00Z", "finished_at": "2024-05-01T12:00:00Z"});
    assert_eq!(app.post("/incidents", incident).await.status, 201);
    let rollback = DeploymentBuilder::new("d3").set("kind", "rollback").deployed_at("2024-05-01T11:20:00Z");
    app.start(rollback).await;
    // A pull request through every stage, shipped by a production deployment.
    let pr = json!({"id": "api#1", "project_id": "api", "author": "ada", "opened_at": "2024-05-01T08:00:00Z",
        "first_commit_at": "2024-05-01T07:00:00Z"});
    assert_eq!(app.post("/pull-requests", pr).await.status, 201);
    let review = json!({"reviewed_at": "2024-05-01T08:30:00Z", "state": "approved", "reviewer": "bob"});
    assert_eq!(app.post("/pull-requests/api%231/reviewed", review).await.status, 200);
    let merge = json!({"merged_at": "2024-05-01T09:00:00Z", "merge_commit_sha": "m1", "additions": 5, "deletions": 1});
    assert_eq!(app.post("/pull-requests/api%231/merged", merge).await.status, 200);
    app.start(DeploymentBuilder::new("d4").set("commit_sha", "m1").deployed_at("2024-05-01T12:30:00Z")).await;
    let t = telemetry.clone();
    tokio::task::spawn_blocking(move || t.flush()).await.expect("flush");
    let exported = Catalog::from(&received.latest().expect("an export"));

    let tables = readme_tables();
    let metrics = table_with(&tables, "deployment_frequency");
    let listed: BTreeSet<&String> = metrics.keys().collect();
    let sent: BTreeSet<&String> = exported.metrics.keys().collect();
    assert_eq!(listed, sent, "documented metrics vs the exported catalog");
    for (name, metric) in &exported.metrics {
        let keys: BTreeSet<String> = point_attributes(metric).into_iter().collect();
        let documented: BTreeSet<String> =
            metrics[name][0].split(", ").map(|k| k.trim_matches('`').to_string()).collect();
        assert_eq!(keys, documented, "{name}'s attributes");
    }
    let resource = table_with(&tables, "service.name");
    let documented: BTreeSet<&String> = resource.keys().collect();
    let sent: BTreeSet<&String> = exported.resource.keys().collect();
    assert_eq!(documented, sent, "documented resource attributes vs the export");
}

fn point_attributes(metric: &opentelemetry_proto::tonic::metrics::v1::Metric) -> Vec<String> {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let attributes: Vec<&Vec<opentelemetry_proto::tonic::common::v1::KeyValue>> = match &metric.data {
        Some(Data::Sum(s)) => s.data_points.iter().map(|p| &p.attributes).collect(),
        Some(Data::Histogram(h)) => h.data_points.iter().map(|p| &p.attributes).collect(),
        other => panic!("{}: unexpected kind {other:?}", metric.name),
    };
    attributes.into_iter().flatten().map(|kv| kv.key.clone()).collect()
}
