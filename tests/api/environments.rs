//! Production by default: DEPLOYMENT_ENVIRONMENT is `production`, a store
//! that still holds the old default `NO_ENV` says so at start, and
//! `em-metrics rename-environment` moves (and merges) an environment.

use std::process::Command;

use serde_json::json;

use crate::binary::{command, Server};
use crate::helpers::{close, dora, DeploymentBuilder, TestApp};

const DAY: &str = "from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z";

fn shipped(id: &str, env: &str, deployed: &str, commits: serde_json::Value) -> DeploymentBuilder {
    DeploymentBuilder::new(id)
        .set("environment", env)
        .set("first_commit_at", serde_json::Value::Null)
        .set("deploy_start_at", deployed)
        .set("commits", commits)
        .deployed_at(deployed)
}

fn rename(db: &std::path::Path, from: &str, to: &str) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_em-metrics"));
    cmd.env_clear().args(["rename-environment", from, to]);
    super::stores::point_at(&mut cmd, db);
    let out = cmd.output().expect("runs");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Old NO_ENV deployments are not counted as production until they are
/// renamed; renaming into production merges them, a commit shipped to both
/// counting once, as the change of the deployment that shipped it first.
#[tokio::test]
async fn renaming_no_env_into_production_merges_the_two_and_counts_each_commit_once() {
    let app = TestApp::new();
    let c = |sha: &str, at: &str| json!({"sha": sha, "committed_at": at});
    // n1 (NO_ENV, 10:00) ships a and b; p1 (production, 11:00) ships b and c;
    // n2 (NO_ENV, 12:00) ships c and d.
    app.start(shipped(
        "n1",
        "NO_ENV",
        "2024-05-01T10:00:00Z",
        json!([c("a", "2024-05-01T08:00:00Z"), c("b", "2024-05-01T09:00:00Z")]),
    ))
    .await;
    app.start(shipped(
        "p1",
        "production",
        "2024-05-01T11:00:00Z",
        json!([c("b", "2024-05-01T09:00:00Z"), c("c", "2024-05-01T10:00:00Z")]),
    ))
    .await;
    app.start(shipped(
        "n2",
        "NO_ENV",
        "2024-05-01T12:00:00Z",
        json!([c("c", "2024-05-01T10:00:00Z"), c("d", "2024-05-01T11:00:00Z")]),
    ))
    .await;
    let incident =
        json!({"id": "i1", "project_id": "api", "deployment_id": "n1", "started_at": "2024-05-01T10:30:00Z"});
    assert_eq!(app.post("/incidents", incident).await.status, 201);

    let before = dora(&app, DAY).await;
    assert_eq!(before["deployment_frequency"]["deployments"], 1, "only p1 is in production");

    let db = app.dir.path().join("em-metrics.db");
    let (code, stdout, stderr) = rename(&db, "NO_ENV", "production");
    assert_eq!(code, Some(0), "{stderr}");
    // NO_ENV's changes: n1 a, b; n2 c, d. Production's: p1 b, c. b shipped
    // first with n1 (p1's goes), c first with p1 (n2's goes): 2 merged, and
    // NO_ENV's a, b and d renamed.
    assert!(stdout.contains("2 deployments, 1 incidents, 3 changes (2 shipped to both, counted once)"), "{stdout}");

    let after = dora(&app, DAY).await;
    assert_eq!(after["deployment_frequency"]["deployments"], 3);
    // Lead times of a (2 h), b (1 h), c (1 h), d (1 h): median 1 h.
    assert_eq!(after["lead_time_for_changes"]["samples"], 4);
    close(&after["lead_time_for_changes"]["median_seconds"], 3600.0);
    assert_eq!(after["change_failure_rate"]["change_failures"], 1, "n1 keeps its incident");
    let counts: Vec<u64> = {
        let mut v = Vec::new();
        for id in ["n1", "p1", "n2"] {
            let d = app.get(&format!("/deployments/{id}")).await.body;
            assert_eq!(d["environment"], "production");
            v.push(d["change_count"].as_u64().unwrap_or(99));
        }
        v
    };
    assert_eq!(counts, [2, 1, 1], "each deployment counts the changes it shipped first");
    assert_eq!(app.get("/incidents/i1").await.body["environment"], "production");

    // Nothing is left to rename; the same name twice is refused.
    let (code, stdout, _) = rename(&db, "NO_ENV", "production");
    assert_eq!(code, Some(0));
    assert!(stdout.contains("0 deployments, 0 incidents, 0 changes"), "{stdout}");
    let (code, _, stderr) = rename(&db, "production", "production");
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let (code, _, stderr) = rename(&db, " ", "production");
    assert_eq!(code, Some(1));
    assert!(stderr.contains("FROM must not be blank"), "{stderr}");
}

/// A store written by an older version, whose events without an environment
/// went to NO_ENV: the server starts, and says once how to count them.
#[test]
fn a_store_with_no_env_deployments_warns_once_at_start_and_says_how_to_count_them() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let server = Server::start(command(&db));
    let old =
        json!({"id": "old-1", "project_id": "api", "environment": "NO_ENV", "first_commit_at": "2024-05-01T08:00:00Z"});
    assert_eq!(server.post("/deployments", old).0, 201);
    let (_, log) = server.stop();
    assert!(!log.iter().any(|l| l.contains("NO_ENV")), "nothing to warn about before: {log:?}");

    let server = Server::start(command(&db));
    let (_, log) = server.stop();
    let warnings: Vec<&String> = log.iter().filter(|l| l.contains("WARN") && l.contains("NO_ENV")).collect();
    assert_eq!(warnings.len(), 1, "{log:?}");
    assert!(warnings[0].contains("DEPLOYMENT_ENVIRONMENT=NO_ENV"), "{}", warnings[0]);
    assert!(warnings[0].contains("em-metrics rename-environment NO_ENV production"), "{}", warnings[0]);

    // Counting NO_ENV as production again (either way) silences it.
    let mut keep = command(&db);
    keep.env("DEPLOYMENT_ENVIRONMENT", "NO_ENV");
    let (_, log) = Server::start(keep).stop();
    assert!(!log.iter().any(|l| l.contains("WARN") && l.contains("NO_ENV")), "{log:?}");
    assert_eq!(rename(&db, "NO_ENV", "production").0, Some(0));
    let (_, log) = Server::start(command(&db)).stop();
    assert!(!log.iter().any(|l| l.contains("WARN") && l.contains("NO_ENV")), "{log:?}");
}

/// Float noise never reaches the JSON: 127 deployments over 10 days are
/// 12.7 a day and 88.9 a week (12.7 × 7 is 88.89999999999999 in floats).
#[tokio::test]
async fn rates_and_frequencies_carry_four_decimals_and_no_float_noise() {
    let app = TestApp::new();
    for i in 0..127 {
        let at = format!("2024-05-0{}T10:{:02}:00Z", 1 + i % 9, i / 9);
        app.start(DeploymentBuilder::new(&format!("d{i}")).set("deploy_start_at", at.as_str()).deployed_at(&at)).await;
    }
    let auth = TestApp::bearer();
    let query = "/dora?from=2024-05-01T00:00:00Z&to=2024-05-11T00:00:00Z";
    let text = app.request_text(axum::http::Method::GET, query, None, &[("authorization", &auth)]).await.text;
    assert!(text.contains(r#""per_day":12.7,"per_week":88.9"#), "{text}");
}
