//! Two real server processes on one PostgreSQL database, with writers
//! spread across both: each read-then-write decision happens once, whatever
//! replica takes it. Then the faults: a replica killed under load, and
//! PostgreSQL stopped under load and started again.

use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::binary::{Server, TOKEN};
use crate::postgres::Postgres;

const BIN: &str = env!("CARGO_BIN_EXE_em-metrics");

/// A replica serving from `url`.
fn replica(url: &str) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("EM_METRICS_TOKEN_AUTH", TOKEN)
        .env("DATABASE_URL", url)
        .env("EM_METRICS_WRITE_TIMEOUT", "2s")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Server::start(cmd)
}

fn post(base: &str, path: &str, body: &Value) -> (u16, Value) {
    let r = Server::client()
        .post(format!("{base}{path}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(body.to_string())
        .send()
        .expect("request");
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

/// Posts `bodies[i]` to `path` on `servers[i % 2]`, all at once; the answers in order.
fn race(servers: [&Server; 2], path: &str, bodies: Vec<Value>) -> Vec<(u16, Value)> {
    let bases = [servers[0].base.as_str(), servers[1].base.as_str()];
    let barrier = Arc::new(Barrier::new(bodies.len()));
    std::thread::scope(|scope| {
        let handles: Vec<_> = bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| {
                let (base, barrier) = (bases[i % 2], barrier.clone());
                scope.spawn(move || {
                    barrier.wait();
                    post(base, path, &body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("poster")).collect()
    })
}

fn deployment(id: &str, sha: &str, deployed_at: &str, commits: &[String]) -> Value {
    let mut body = json!({"id": id, "project_id": "api", "environment": "production", "commit_sha": sha,
                          "deployed_at": deployed_at, "deploy_start_at": deployed_at,
                          "first_commit_at": "2026-11-01T09:00:00Z"});
    if !commits.is_empty() {
        let commits: Vec<Value> =
            commits.iter().map(|c| json!({"sha": c, "committed_at": "2026-11-01T09:00:00Z"})).collect();
        body["commits"] = Value::Array(commits);
        body.as_object_mut().map(|b| b.remove("first_commit_at"));
    }
    body
}

#[test]
fn two_replicas_on_one_database_take_each_decision_once() {
    let Some(pg) = Postgres::start_or_skip() else { return };
    let url = pg.database("replicas");
    let (a, b) = (replica(&url), replica(&url));

    // The same deployment id sent to both at once: one row, one 201 and one 200.
    for round in 0..10 {
        let body = deployment(&format!("same-{round}"), "aaaaaaa", "2026-11-02T10:00:00Z", &[]);
        let answers = race([&a, &b], "/deployments", vec![body.clone(), body]);
        let mut statuses: Vec<u16> = answers.iter().map(|r| r.0).collect();
        statuses.sort_unstable();
        assert_eq!(statuses, vec![200, 201], "round {round}: {answers:?}");
    }

    // Racing deployments that share commits: each commit is a change once.
    let shas: Vec<String> = (0..7).map(|i| format!("c0ffee{i}")).collect();
    let bodies: Vec<Value> = (0..24)
        .map(|i| {
            let listed: Vec<String> = (0..3).map(|k| shas[(i + k) % 7].clone()).collect();
            deployment(&format!("share-{i}"), &listed[0], &format!("2026-11-03T10:{i:02}:00Z"), &listed)
        })
        .collect();
    assert!(race([&a, &b], "/deployments", bodies).iter().all(|r| r.0 == 201));
    let changes: u64 = ["/deployments?limit=1000"]
        .iter()
        .flat_map(|uri| a.get(uri).1.as_array().cloned().unwrap_or_default())
        .filter(|d| d["id"].as_str().is_some_and(|id| id.starts_with("share-")))
        .map(|d| d["change_count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(changes, 7, "seven commits, each a change exactly once");

    // A rollback raced on both replicas: putting r1's sha back at once, twice.
    a.post("/deployments", deployment("r1", "1111111", "2026-11-04T10:00:00Z", &[]));
    a.post("/deployments", deployment("r2", "2222222", "2026-11-04T11:00:00Z", &[]));
    let back = |id: &str| deployment(id, "1111111", "2026-11-04T12:00:00Z", &[]);
    assert!(race([&a, &b], "/deployments", vec![back("rb-a"), back("rb-b")]).iter().all(|r| r.0 == 201));
    let rollbacks: Vec<Value> = a
        .get("/deployments?limit=1000")
        .1
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d["rollback_of"] == "r2")
        .collect();
    assert_eq!(rollbacks.len(), 1, "r2 is rolled back once: {rollbacks:?}");
    assert_eq!(a.get("/deployments/r2").1["change_failure"], true);

    // An Idempotency-Key answered on one replica is replayed by the other.
    let keyed = |server: &Server| {
        Server::client()
            .post(format!("{}/incidents", server.base))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("idempotency-key", "replica-key-1")
            .body(json!({"project_id": "api", "started_at": "2026-11-04T12:30:00Z"}).to_string())
            .send()
            .expect("request")
    };
    let first = keyed(&a);
    assert_eq!(first.status().as_u16(), 201);
    let first: Value = first.json().expect("json");
    let again = keyed(&b);
    assert_eq!(again.status().as_u16(), 201, "the replay keeps the first status");
    assert_eq!(again.json::<Value>().expect("json"), first, "the same answer, not a second incident");

    // A dashboard session made on one replica works on the other.
    let no_redirects =
        reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let login = no_redirects
        .post(format!("{}/ui/login", a.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}"))
        .send()
        .expect("login");
    let cookie = login.headers()["set-cookie"].to_str().expect("text").split(';').next().expect("cookie").to_string();
    let page = Server::client().get(format!("{}/ui", b.base)).header("cookie", &cookie).send().expect("page");
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().expect("html").contains("Sign out"), "signed in on the other replica");

    // /dora is the same from both.
    let window = "/dora?from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z";
    let (from_a, from_b) = (a.get(window), b.get(window));
    assert_eq!(from_a.0, 200);
    assert_eq!(from_a.1, from_b.1);
    assert_eq!(from_a.1["deployment_frequency"]["deployments"], 10 + 24 + 4);
}

/// 8 writers on `server` recording the ids that got a 2xx.
fn load(base: &str, stop: &std::sync::atomic::AtomicBool, acked: &std::sync::Mutex<Vec<String>>, worker: usize) {
    let client = Server::client();
    let mut n = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        n += 1;
        let id = format!("load-{worker}-{n}");
        let body = json!({"id": id, "project_id": "api", "first_commit_at": "2026-11-05T09:00:00Z", "deployed_at": "2026-11-05T10:00:00Z"});
        let sent = client
            .post(format!("{base}/deployments"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(body.to_string())
            .send();
        match sent {
            Ok(r) if r.status().is_success() => acked.lock().expect("lock").push(id),
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Sets the flag when dropped: the writers stop even when an assertion
/// in the scope fails, so the scope ends and the failure is reported.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

fn stored_on(server: &Server, ids: &[String]) -> Vec<String> {
    ids.iter().filter(|id| server.get(&format!("/deployments/{id}")).0 != 200).cloned().collect()
}

#[test]
fn a_killed_replica_and_a_stopped_database_lose_no_acknowledged_write() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Mutex;
    let Some(mut pg) = Postgres::start_or_skip() else { return };
    let url = pg.database("faults");
    let (a, b) = (replica(&url), replica(&url));

    // SIGKILL one replica under load: what it acknowledged is on the other.
    let (stop, acked) = (AtomicBool::new(false), Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for w in 0..4 {
            let (base, stop, acked) = (a.base.as_str(), &stop, &acked);
            scope.spawn(move || load(base, stop, acked, w));
        }
        let _stop = StopOnDrop(&stop);
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().expect("lock").len() < 200 {
            assert!(Instant::now() < deadline, "the load never got going");
            std::thread::sleep(Duration::from_millis(5));
        }
        a.signal("KILL");
        std::thread::sleep(Duration::from_millis(200));
    });
    let acked = acked.into_inner().expect("lock");
    let lost = stored_on(&b, &acked);
    assert!(lost.is_empty(), "{} of {} acknowledged writes lost: {lost:?}", lost.len(), acked.len());

    // PostgreSQL stops under load: /ready turns 503 and writes 503, and
    // nothing acknowledged is lost; once it is back, both recover by
    // themselves.
    let (stop, acked) = (AtomicBool::new(false), Mutex::new(Vec::new()));
    let ready = |server: &Server| {
        Server::client().get(format!("{}/ready", server.base)).send().map(|r| r.status().as_u16()).unwrap_or(0)
    };
    std::thread::scope(|scope| {
        for w in 0..4 {
            let (base, stop, acked) = (b.base.as_str(), &stop, &acked);
            scope.spawn(move || load(base, stop, acked, 10 + w));
        }
        let _stop = StopOnDrop(&stop);
        std::thread::sleep(Duration::from_millis(500));
        pg.stop_fast();
        let stopped = Instant::now();
        while ready(&b) != 503 {
            assert!(stopped.elapsed() < Duration::from_secs(5), "/ready still answers 200");
            std::thread::sleep(Duration::from_millis(50));
        }
        let during = Server::client()
            .post(format!("{}/deployments", b.base))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(json!({"id": "during", "project_id": "api", "first_commit_at": "2026-11-05T09:00:00Z"}).to_string())
            .send()
            .expect("an answer");
        assert_eq!(during.status().as_u16(), 503);
        assert!(during.headers().contains_key("retry-after"), "{:?}", during.headers());
        assert_eq!(during.json::<Value>().expect("json")["code"], "unavailable");
        pg.start_again();
        let back = Instant::now();
        while ready(&b) != 200 {
            assert!(back.elapsed() < Duration::from_secs(15), "/ready did not recover");
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let acked = acked.into_inner().expect("lock");
    let (status, _) =
        b.post("/deployments", json!({"id": "after", "project_id": "api", "first_commit_at": "2026-11-05T09:00:00Z"}));
    assert_eq!(status, 201, "writes are accepted again without a restart");
    let lost = stored_on(&b, &acked);
    assert!(lost.is_empty(), "{} of {} acknowledged writes lost: {lost:?}", lost.len(), acked.len());
    let (code, log) = b.stop();
    assert_eq!(code, Some(0), "{log:?}");
}

/// Resumes a paused PostgreSQL when dropped, even when an assertion failed.
struct Resume<'a>(&'a Postgres);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        self.0.pause("CONT");
    }
}

/// PostgreSQL hangs (every one of its processes stopped, sockets open): a
/// write answers 503 within the write timeout, /ready 503 within its probe,
/// and SIGTERM still stops the server within 10 s.
#[test]
fn sigterm_stops_a_replica_within_10_s_while_the_database_hangs() {
    let Some(pg) = Postgres::start_or_skip() else { return };
    let url = pg.database("hangs");
    let mut server = replica(&url);
    let body = |id: &str| json!({"id": id, "project_id": "api", "first_commit_at": "2026-11-05T09:00:00Z"});
    assert_eq!(post(&server.base, "/deployments", &body("before")).0, 201);

    pg.pause("STOP");
    let _resume = Resume(&pg);
    let started = Instant::now();
    let (status, answer) = post(&server.base, "/deployments", &body("during"));
    assert_eq!(status, 503, "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4), "answered after {:?} (write timeout 2 s)", started.elapsed());
    let started = Instant::now();
    let ready = Server::client().get(format!("{}/ready", server.base)).send().expect("an answer");
    assert_eq!(ready.status().as_u16(), 503);
    assert!(started.elapsed() < Duration::from_secs(2), "/ready took {:?}", started.elapsed());

    server.signal("TERM");
    let code = server.exited_within(Duration::from_secs(10));
    assert!(code.is_some(), "still running 10 s after SIGTERM");
}
