//! Faults against the real binary: SIGKILL under load, and a full disk.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use em_metrics::time::Timestamp;
use serde_json::json;

use crate::binary::{command, Server, TOKEN};

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build().expect("client")
}

/// 8 writers posting deployments and incidents, each recording what got a 2xx.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<(String, String)>>>,
    writers: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// Starts the writers and returns once `at_least` writes were acknowledged.
    fn start(base: &str, at_least: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let writers = (0..8)
            .map(|w| {
                let (base, stop, acked) = (base.to_string(), stop.clone(), acked.clone());
                std::thread::spawn(move || writer(base, w, stop, acked))
            })
            .collect();
        let load = Self { stop, acked, writers };
        let deadline = Instant::now() + Duration::from_secs(30);
        while load.acked().len() < at_least {
            assert!(Instant::now() < deadline, "the load never got going");
            std::thread::sleep(Duration::from_millis(5));
        }
        load
    }

    /// (kind, id) of every write acknowledged so far.
    fn acked(&self) -> Vec<(String, String)> {
        self.acked.lock().expect("lock").clone()
    }

    /// Stops the writers and returns every acknowledged write.
    fn stop(self) -> Vec<(String, String)> {
        let Self { stop, acked, writers } = self;
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
        let acked = acked.lock().expect("lock").clone();
        acked
    }
}

/// Posts until the server stops answering; returns the ids that got a 2xx.
fn writer(base: String, worker: usize, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<(String, String)>>>) {
    let client = client();
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let id = format!("w{worker}-{n}");
        let (path, body) = if n % 4 == 3 {
            (
                "/incidents",
                json!({"id": format!("i-{id}"), "project_id": "api", "deployment_id": format!("w{worker}-{}", n - 1)}),
            )
        } else {
            (
                "/deployments",
                json!({"id": id, "project_id": "api", "first_commit_at": 1714550400, "deployed_at": 1714557600}),
            )
        };
        let sent = client.post(format!("{base}{path}")).bearer_auth(TOKEN).body(body.to_string()).send();
        match sent {
            Ok(r) if r.status().is_success() => {
                let kind = if path == "/incidents" { "incident" } else { "deployment" };
                let id = body["id"].as_str().unwrap_or_default().to_string();
                acked.lock().expect("lock").push((kind.to_string(), id));
            }
            Ok(r) => panic!("{path} answered {} under load", r.status()),
            Err(_) => return, // the server is gone
        }
    }
}

#[test]
fn a_server_killed_under_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let server = Server::start(command(&db));
    // Kill it mid-load, once a good number of writes went through.
    let load = Load::start(&server.base, 400);
    server.signal("KILL");
    let acked = load.stop();

    if !super::stores::on_postgres() {
        let conn = rusqlite::Connection::open(&db).expect("open after the crash");
        let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
        assert_eq!(check, "ok");
    }
    // It starts again on the same store, with every acknowledged write.
    let again = Server::start(command(&db));
    let mut missing = Vec::new();
    for (kind, id) in &acked {
        let path = if kind == "incident" { "incidents" } else { "deployments" };
        if again.get(&format!("/{path}/{id}")).0 != 200 {
            missing.push(id.clone());
        }
    }
    assert!(missing.is_empty(), "{} of {} acknowledged writes lost: {missing:?}", missing.len(), acked.len());
    let (code, log) = again.stop();
    assert_eq!(code, Some(0), "{log:#?}");
    eprintln!("{} acknowledged writes survived SIGKILL", acked.len());
}

/// The disk fills (here: a file-size limit, which needs no mount): writes get
/// 503 `unavailable`, reads go on, and once there is room again writes work
/// without a restart. Nothing stored before is lost.
#[test]
fn a_full_disk_turns_writes_into_503_and_they_recover_without_a_restart() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let cmd = command(&db);
    let program = cmd.get_program().to_owned();
    let mut limited = Command::new("prlimit");
    // Soft limit only: raising it back later needs no privilege.
    limited.arg("--fsize=1500000:unlimited").arg("--").arg(program);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            limited.env(k, v);
        }
    }
    limited.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let server = Server::start(limited);
    let client = client();
    let post = |id: &str| {
        let body = json!({"id": id, "project_id": "api", "first_commit_at": 1714550400});
        client
            .post(format!("{}/deployments", server.base))
            .bearer_auth(TOKEN)
            .body(body.to_string())
            .send()
            .expect("answer")
    };

    let mut acked = Vec::new();
    let full = loop {
        let id = format!("d{}", acked.len());
        let reply = post(&id);
        if reply.status() == 503 {
            break reply.json::<serde_json::Value>().expect("json");
        }
        assert_eq!(reply.status(), 201, "{}", reply.text().unwrap_or_default());
        acked.push(id);
        assert!(acked.len() < 20_000, "the file-size limit never bit");
    };
    assert_eq!(full["code"], "unavailable", "{full}");
    assert!(full["error"].as_str().is_some_and(|e| e.contains("storage")), "{full}");
    // Reads keep working meanwhile.
    assert_eq!(server.get(&format!("/deployments/{}", acked[0])).0, 200);
    assert_eq!(server.get("/ready").0, 200);
    // The WAL reaches the limit before the database file does, so a later
    // write may find room: the background checkpoint copies the WAL into the
    // file and the WAL starts again from its beginning. Either way it is
    // answered truly: 503 and not stored, or 201 and stored.
    match post("still-full").status().as_u16() {
        503 => {}
        201 => acked.push("still-full".to_string()),
        other => panic!("a write while the limit holds got {other}"),
    }

    // Room again: no restart needed.
    let lifted = Command::new("prlimit")
        .args(["--pid", &server.pid().to_string(), "--fsize=unlimited"])
        .status()
        .expect("prlimit");
    assert!(lifted.success());
    assert_eq!(post("after").status(), 201);
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log:#?}");

    let conn = rusqlite::Connection::open(&db).expect("open");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("check");
    assert_eq!(check, "ok");
    let stored: i64 = conn.query_row("SELECT count(*) FROM deployments", [], |r| r.get(0)).expect("count");
    assert_eq!(stored as usize, acked.len() + 1, "every acknowledged write, the one after, nothing else");
    eprintln!("{} writes before the limit; 503 while full; recovered", acked.len());
}

/// `em-metrics backup` while 8 writers post: the copy passes integrity_check,
/// holds every write acknowledged before the backup started, and a server
/// starts on it (the restore is a file copy). Then once more with no server
/// running, and the one-line refusal when there is nothing to back up.
#[test]
fn a_backup_under_write_load_restores_every_write_acknowledged_before_it() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let server = Server::start(command(&db));
    let load = Load::start(&server.base, 400);
    let before = load.acked();
    let backup = dir.path().join("backups/em-backup.db");
    std::fs::create_dir_all(backup.parent().expect("folder")).expect("folder");
    let out = backup_command(&db, &backup).output().expect("backup runs");
    let during = load.acked().len();
    load.stop();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}{stdout}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("integrity ok"), "{stdout}");
    assert!(during > before.len(), "the writers kept writing while the backup ran");

    let restored = dir.path().join("restored.db");
    std::fs::copy(&backup, &restored).expect("restore by copying");
    let conn = rusqlite::Connection::open(&restored).expect("open the copy");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
    assert_eq!(check, "ok");
    for (kind, id) in &before {
        let table = if kind == "incident" { "incidents" } else { "deployments" };
        let found: bool = conn
            .query_row(&format!("SELECT count(*) > 0 FROM {table} WHERE id = ?1"), [id], |r| r.get(0))
            .expect("query");
        assert!(found, "{kind} {id} was acknowledged before the backup and is missing from it");
    }
    drop(conn);
    let on_copy = Server::start(command(&restored));
    let (kind, id) = &before[before.len() - 1];
    let path = if kind == "incident" { "incidents" } else { "deployments" };
    assert_eq!(on_copy.get(&format!("/{path}/{id}")).0, 200);
    assert_eq!(on_copy.stop().0, Some(0));

    // With no server running, over the previous backup.
    assert_eq!(server.stop().0, Some(0));
    let again = backup_command(&db, &backup).output().expect("backup runs");
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    let leftovers: Vec<_> = std::fs::read_dir(backup.parent().expect("folder")).expect("list").collect();
    assert_eq!(leftovers.len(), 1, "no partial file is left beside the backup");

    let missing = backup_command(&dir.path().join("none.db"), &backup).output().expect("backup runs");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(backup.exists(), "a failed backup leaves the previous one alone");
    eprintln!("backup held all {} writes acknowledged before it; {during} were acknowledged by its end", before.len());
}

fn backup_command(db: &std::path::Path, file: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_em-metrics"));
    cmd.env_clear().env("SQLITE_DB", db).arg("backup").arg(file);
    cmd
}

/// EM_METRICS_RETENTION on a database holding 200,000 deployments (and
/// their changes) older than the retention: the purge at start deletes them
/// in small batches while 4 writers post, and every write is answered. The
/// bound is one a loaded machine meets (no write waits a second on the
/// purge); the figures on a million deployments are in bench/purge.sh.
#[test]
fn a_purge_of_old_deployments_never_holds_writes_back_a_second() {
    if super::stores::sqlite_only() {
        return;
    }
    const OLD: i64 = 200_000;
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let filled = Instant::now();
    {
        let mut conn = rusqlite::Connection::open(&db).expect("db");
        em_metrics::store::migrations::apply(&mut conn).expect("schema");
        conn.pragma_update(None, "journal_mode", "WAL").expect("wal");
        // Three years ago, one a minute; each with one change.
        let start = Timestamp::parse("2023-01-01T00:00:00Z").expect("time").millis() - 3 * 365 * 86_400_000;
        conn.execute_batch(&format!(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OLD})
             INSERT INTO deployments (id, project_id, team_id, environment, status, first_commit_at,
                                      deploy_start_at, deployed_at, created_at, updated_at, change_count)
             SELECT 'old-' || i, 'p' || (i % 50), 't' || (i % 10), 'production', 'deployed',
                    {start} + i * 60000 - 3600000, {start} + i * 60000, {start} + i * 60000 + 300000,
                    {start}, {start}, 1 FROM n;
             INSERT INTO changes (deployment_id, sha, project_id, team_id, environment, committed_at, deployed_at, lead_time_ms)
             SELECT id, NULL, project_id, team_id, environment, first_commit_at, deployed_at, deployed_at - first_commit_at
             FROM deployments;
             COMMIT;"
        ))
        .expect("fill");
    }
    eprintln!("filled {OLD} old deployments in {:.1} s", filled.elapsed().as_secs_f64());

    let mut cmd = command(&db);
    cmd.env("EM_METRICS_RETENTION", "730d");
    let mut server = Server::start(cmd);
    let stop = Arc::new(AtomicBool::new(false));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (base, stop, latencies) = (server.base.clone(), stop.clone(), latencies.clone());
            std::thread::spawn(move || {
                let client = client();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let body = json!({"id": format!("new-{w}-{n}"), "project_id": "api", "first_commit_at": "2024-05-01T08:00:00Z"});
                    let started = Instant::now();
                    let r = client.post(format!("{base}/deployments")).bearer_auth(TOKEN).body(body.to_string()).send();
                    let took = started.elapsed();
                    assert_eq!(r.expect("answer").status().as_u16(), 201);
                    latencies.lock().expect("lock").push(took);
                }
            })
        })
        .collect();
    let line = server.wait_for_log("retention: deleted", Duration::from_secs(600));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    let mut latencies = latencies.lock().expect("lock").clone();
    latencies.sort();
    let (count, max) = (latencies.len(), latencies.last().copied().unwrap_or_default());
    let p99 = latencies[count * 99 / 100];
    eprintln!("{line}\n{count} writes during the purge: p99 {p99:?}, max {max:?}");
    assert!(line.contains(&format!("deployments={OLD}")) && line.contains(&format!("changes={OLD}")), "{line}");
    assert!(count > 100, "the writers kept writing during the purge");
    assert!(max < Duration::from_secs(1), "a write waited {max:?} on the purge");
    assert!(line.contains("longest_batch_ms="), "the log line says how long the longest batch held the writer");
    let (_, body) = server.get("/deployments?limit=1");
    assert!(body[0]["id"].as_str().is_some_and(|id| id.starts_with("new-")), "only the new ones are left: {body}");
    assert_eq!(server.stop().0, Some(0));
}
