use axum::http::StatusCode;
use em_metrics::store::{migrations, Store};
use rusqlite::Connection;

use crate::helpers::{DeploymentBuilder, TestApp};

#[tokio::test]
async fn data_survives_closing_and_reopening_the_file() {
    if super::stores::sqlite_only() {
        return;
    }
    let app = TestApp::new();
    app.start(DeploymentBuilder::new("d1").deployed_at("2024-05-01T10:00:00Z")).await;
    app.post("/incidents", serde_json::json!({"id": "i1", "project_id": "api", "deployment_id": "d1"})).await;
    let TestApp { dir, router, store, .. } = app;
    drop((router, store));

    let reopened = Store::open(dir.path().join("em-metrics.db")).expect("reopens");
    let app = TestApp::builder().store(reopened, dir).build();
    assert_eq!(app.get("/deployments/d1").await.body["status"], "deployed");
    assert!(app.get("/incidents/i1").await.body["time_to_detect_seconds"].is_number());
}

#[test]
fn migrations_are_recorded_once_and_safe_to_run_twice() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("m.db");
    drop(Store::open(&path).expect("first"));
    drop(Store::open(&path).expect("second"));
    let mut conn = Connection::open(&path).expect("open");
    assert_eq!(migrations::apply(&mut conn).expect("third"), 0);
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("versions");
    assert_eq!(versions, (1..=migrations::latest_version()).collect::<Vec<_>>());
}

#[test]
fn migrations_apply_to_an_existing_database_without_touching_its_tables() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("existing.db");
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');").expect("seed");
    drop(conn);
    drop(Store::open(&path).expect("migrates"));
    let conn = Connection::open(&path).expect("open");
    let note: String = conn.query_row("SELECT body FROM notes", [], |r| r.get(0)).expect("note");
    assert_eq!(note, "keep me");
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('deployments', 'incidents')",
            [],
            |r| r.get(0),
        )
        .expect("tables");
    assert_eq!(tables, 2);
}

#[test]
fn the_database_uses_wal_and_times_sort_as_integers() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("w.db");
    drop(Store::open(&path).expect("open"));
    let conn = Connection::open(&path).expect("open");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
    assert_eq!(mode, "wal");
    let kind: String = conn
        .query_row("SELECT type FROM pragma_table_info('deployments') WHERE name = 'deployed_at'", [], |r| r.get(0))
        .expect("column");
    assert_eq!(kind, "INTEGER");
}

#[test]
fn the_store_creates_missing_folders() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("a/b/c/em.db");
    drop(Store::open(&path).expect("creates folders"));
    assert!(path.exists());
}

#[tokio::test]
async fn ready_answers_when_the_database_does() {
    let app = TestApp::new();
    let reply = app.request(axum::http::Method::GET, "/ready", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["ok"], true);
}

#[tokio::test]
async fn upgrading_a_version_1_database_keeps_its_data_and_counts_its_incidents() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("em-metrics.db");
    {
        // The schema and rows as the first release wrote them.
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(include_str!("../../src/store/migrations/0001_initial.sql")).expect("v1 schema");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 'initial', 0);
             INSERT INTO deployments (id, project_id, team_id, environment, username, status, first_commit_at,
                                      deploy_start_at, deployed_at, failed_at, created_at, updated_at)
             VALUES ('old', 'api', NULL, 'prod', NULL, 'deployed', 1714550400000, 1714554000000, 1714557600000, NULL, 0, 0);
             INSERT INTO incidents (id, project_id, team_id, environment, deployment_id, title, started_at,
                                    restored_at, finished_at, created_at, updated_at)
             VALUES ('inc', 'api', NULL, 'prod', 'old', NULL, 1714561200000, NULL, NULL, 0, 0);",
        )
        .expect("v1 rows");
    }
    let store = Store::open(&path).expect("migrates to the latest version");
    let app = TestApp::builder().store(store, dir).build();
    assert_eq!(app.get("/deployments/old").await.body["lead_time_seconds"], 7200.0);
    let r = app.get("/dora?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z").await.body;
    assert_eq!(r["change_failure_rate"]["change_failures"], 1, "{r}");
    // The domain keeps change_failure from here on.
    assert_eq!(app.delete("/incidents/inc").await.status, StatusCode::NO_CONTENT);
    let r = app.get("/dora?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z").await.body;
    assert_eq!(r["change_failure_rate"]["change_failures"], 0, "{r}");
}

#[tokio::test]
async fn ready_is_503_when_the_database_does_not_answer() {
    if super::stores::sqlite_only() {
        return;
    }
    let app = TestApp::new();
    // No read connection is pooled yet: the probe opens a new one, and the file is gone.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(app.dir.path().join(format!("em-metrics.db{suffix}")));
    }
    let reply = app.request(axum::http::Method::GET, "/ready", None, None).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.body);
    assert_eq!(reply.body["code"], "unavailable");
    let health = app.request(axum::http::Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK, "liveness does not depend on the database");
}

/// A database as the previous release (schema version 2) left it: two
/// deployed deployments, one with an incident; a started one; a failed one.
#[tokio::test]
async fn upgrading_a_version_2_database_gives_releases_with_one_change_and_failures_from_incidents() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("em-metrics.db");
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(include_str!("../../src/store/migrations/0001_initial.sql")).expect("v1 schema");
        conn.execute_batch(include_str!("../../src/store/migrations/0002_insights.sql")).expect("v2 schema");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 'initial', 0), (2, 'insights', 0);
             INSERT INTO deployments (id, project_id, team_id, environment, username, status, first_commit_at,
                                      deploy_start_at, deployed_at, failed_at, created_at, updated_at) VALUES
               ('bad', 'api', 'backend', 'prod', NULL, 'deployed', 1714550400000, 1714554000000, 1714557600000, NULL, 0, 0),
               ('good', 'api', 'backend', 'prod', NULL, 'deployed', 1714550400000, 1714564800000, 1714568400000, NULL, 0, 0),
               ('wip', 'api', 'backend', 'prod', NULL, 'started', 1714550400000, 1714570000000, NULL, NULL, 0, 0),
               ('broken', 'api', 'backend', 'prod', NULL, 'failed', 1714550400000, 1714570000000, NULL, 1714571000000, 0, 0);
             INSERT INTO incidents (id, project_id, team_id, environment, deployment_id, title, started_at,
                                    restored_at, finished_at, created_at, updated_at)
             VALUES ('inc', 'api', 'backend', 'prod', 'bad', NULL, 1714561200000, 1714564800000, NULL, 0, 0);",
        )
        .expect("v2 rows");
        let count: i64 =
            conn.query_row("SELECT incident_count FROM deployments WHERE id = 'bad'", [], |r| r.get(0)).expect("v2");
        assert_eq!(count, 1, "the v2 trigger counted the incident");
    }
    let store = Store::open(&path).expect("migrates to the latest version");
    let app = TestApp::builder().store(store, dir).build();
    let expect = [("bad", 1, true), ("good", 1, false), ("wip", 0, false), ("broken", 0, false)];
    for (id, changes, change_failure) in expect {
        let d = app.get(&format!("/deployments/{id}")).await.body;
        assert_eq!(d["kind"], "release", "{id}");
        assert_eq!(d["commit_sha"], serde_json::Value::Null, "{id}");
        assert_eq!(d["rework"], false, "{id}");
        assert_eq!(d["change_count"], changes, "{id}");
        assert_eq!(d["change_failure"], change_failure, "{id}");
    }
    assert_eq!(app.get("/incidents/inc").await.body["deployment_link"], "explicit");
    // 2024-05-01: bad (lead 7200) and good (lead 18000) are one change each.
    let r = app.get("/dora?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z").await.body;
    assert_eq!(r["lead_time_for_changes"]["samples"], 2, "{r}");
    assert_eq!(r["lead_time_for_changes"]["median_seconds"], 12600.0, "{r}");
    assert_eq!(r["change_failure_rate"]["change_failures"], 1, "{r}");
    // bad went live 10:00, inc restored 12:00.
    assert_eq!(r["failed_deployment_recovery_time"]["median_seconds"], 7200.0, "{r}");
    // Deleting the incident clears the failure; the old trigger is gone.
    assert_eq!(app.delete("/incidents/inc").await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/deployments/bad").await.body["change_failure"], false);
    // The started one still goes live normally, and ships its one change.
    let live = app.post("/deployments/wip/deployed", serde_json::json!({"deployed_at": 1714572000})).await;
    assert_eq!(live.body["change_count"], 1, "{}", live.body);
}

/// The opcodes SQLite would run for `sql` on `conn`.
fn opcodes(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).expect("explain");
    // Unbound parameters are NULL, which EXPLAIN does not mind.
    let mut rows = stmt.raw_query();
    let mut ops = Vec::new();
    while let Some(row) = rows.next().expect("row") {
        ops.push(row.get::<_, String>(1).expect("opcode"));
    }
    ops
}

/// A CHECK written as `x IN (a, b, c)` makes SQLite build a temporary B-tree
/// at every INSERT and UPDATE; migration 7 writes them with `=` and `OR`.
#[test]
fn writing_a_deployment_builds_no_temporary_table_for_its_checks() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("c.db");
    drop(Store::open(&path).expect("open"));
    let conn = Connection::open(&path).expect("open");
    for sql in [
        "INSERT INTO deployments (id, project_id, environment, status, kind, first_commit_at, deploy_start_at, \
         created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        "UPDATE deployments SET status = ?2, kind = ?3, deployed_at = ?4 WHERE id = ?1",
    ] {
        let ops = opcodes(&conn, sql);
        assert!(!ops.iter().any(|op| op == "OpenEphemeral"), "{sql} runs {ops:?}");
    }
}

/// A database exactly as schema version 6 left it, with rows, upgrades in
/// place: same rows, a sound file, and constraints that still refuse
/// values outside the lists.
#[test]
fn the_rewritten_checks_keep_the_rows_and_refuse_what_the_old_ones_refused() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("v6.db");
    {
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at INTEGER NOT NULL);",
        )
        .expect("versions table");
        let migrations = [
            include_str!("../../src/store/migrations/0001_initial.sql"),
            include_str!("../../src/store/migrations/0002_insights.sql"),
            include_str!("../../src/store/migrations/0003_changes.sql"),
            include_str!("../../src/store/migrations/0004_idempotency.sql"),
            include_str!("../../src/store/migrations/0005_webhooks.sql"),
            include_str!("../../src/store/migrations/0006_retention_and_dashboard.sql"),
        ];
        for (version, sql) in (1..).zip(migrations) {
            conn.execute_batch(sql).expect("migration");
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 'old', 0)", [version]).expect("version");
        }
        conn.execute_batch(
            "INSERT INTO deployments (id, project_id, environment, status, kind, first_commit_at, deploy_start_at,
                                      deployed_at, created_at, updated_at)
             VALUES ('a', 'api', 'prod', 'deployed', 'hotfix', 1, 2, 3, 0, 0),
                    ('b', 'api', 'prod', 'started', 'release', 1, 2, NULL, 0, 0),
                    ('c', 'web', 'prod', 'failed', 'rollback', 1, 2, NULL, 0, 0);",
        )
        .expect("v6 rows");
        let old = opcodes(&conn, "UPDATE deployments SET status = ?2, kind = ?3 WHERE id = ?1");
        assert!(old.iter().any(|op| op == "OpenEphemeral"), "the old schema is the slow one: {old:?}");
    }
    drop(Store::open(&path).expect("migrates"));

    let conn = Connection::open(&path).expect("open");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(check, "ok");
    let rows: Vec<(String, String, String)> = conn
        .prepare("SELECT id, status, kind FROM deployments ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .expect("rows");
    let expected = [("a", "deployed", "hotfix"), ("b", "started", "release"), ("c", "failed", "rollback")];
    let expected: Vec<(String, String, String)> =
        expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
    assert_eq!(rows, expected);
    let schema: String =
        conn.query_row("SELECT sql FROM sqlite_schema WHERE name = 'deployments'", [], |r| r.get(0)).expect("schema");
    assert!(!schema.contains(" IN ("), "{schema}");

    let insert = |id: &str, status: &str, kind: &str| {
        conn.execute(
            "INSERT INTO deployments (id, project_id, environment, status, kind, first_commit_at, deploy_start_at,
                                      created_at, updated_at) VALUES (?1, 'api', 'prod', ?2, ?3, 1, 2, 0, 0)",
            [id, status, kind],
        )
    };
    for (status, kind) in [("Started", "release"), ("started ", "release"), ("", "release"), ("started", "fix")] {
        let refused = insert("x", status, kind).expect_err(&format!("{status:?} and {kind:?} are refused"));
        assert!(refused.to_string().contains("CHECK constraint failed"), "{refused}");
    }
    for (n, (status, kind)) in
        [("started", "release"), ("deployed", "hotfix"), ("failed", "rollback")].iter().enumerate()
    {
        insert(&format!("ok{n}"), status, kind).expect("an allowed pair");
    }
    let refused = conn.execute("UPDATE deployments SET status = 'done' WHERE id = 'a'", []).expect_err("refused");
    assert!(refused.to_string().contains("CHECK constraint failed"), "{refused}");
}
