//! The PostgreSQL store against a real PostgreSQL server that the tests
//! start themselves: `initdb` into a temporary folder, `postgres` on a free
//! loopback port, stopped when the test ends, panicking or not.
//!
//! Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`, or PG_BIN) is
//! needed; without it these tests say so and skip, unless
//! EM_METRICS_REQUIRE_TOOLS is set (CI sets it, so CI never skips).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::binary::{command, Server};

const PASSWORD: &str = "pg-test-pw-5f1d";
const BIN: &str = env!("CARGO_BIN_EXE_em-metrics");

/// A PostgreSQL server of the test's own.
pub struct Postgres {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

fn pg_bin() -> PathBuf {
    std::env::var_os("PG_BIN").map_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"), PathBuf::from)
}

/// The uid and gid of the `postgres` user, when this runs as root: initdb
/// and postgres refuse to run as root.
fn postgres_user() -> Option<(u32, u32)> {
    let id = |flag: &str, who: Option<&str>| -> Option<u32> {
        let out = Command::new("id").arg(flag).args(who).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    (id("-u", None)? == 0).then_some(())?;
    Some((id("-u", Some("postgres"))?, id("-g", Some("postgres"))?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

impl Postgres {
    /// A fresh server, or None (after saying why) when PostgreSQL is not
    /// installed and EM_METRICS_REQUIRE_TOOLS is not set.
    pub fn start_or_skip() -> Option<Self> {
        if !pg_bin().join("initdb").exists() {
            let why = format!(
                "PostgreSQL is not installed ({} has no initdb): `apt-get install postgresql` (scripts/test.sh does), \
                 or set PG_BIN",
                pg_bin().display()
            );
            assert!(std::env::var_os("EM_METRICS_REQUIRE_TOOLS").is_none(), "{why}");
            eprintln!("skipping a PostgreSQL test: {why}");
            return None;
        }
        Some(Self::start())
    }

    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("data");
        let socket = dir.path().join("socket");
        let pwfile = dir.path().join("pw");
        std::fs::create_dir(&data).expect("data dir");
        std::fs::create_dir(&socket).expect("socket dir");
        std::fs::write(&pwfile, PASSWORD).expect("pw file");
        let user = postgres_user();
        let as_postgres = |cmd: &mut Command| {
            if let Some((uid, gid)) = user {
                cmd.uid(uid).gid(gid);
            }
        };
        if let Some((uid, gid)) = user {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
            for path in [&data, &socket, &pwfile] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
            }
        }
        let mut initdb = Command::new(pg_bin().join("initdb"));
        initdb
            .args(["-U", "postgres", "-E", "UTF8", "--no-sync", "--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .arg("-D")
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_postgres(&mut initdb);
        let out = initdb.output().expect("initdb runs");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let child = Self::spawn(dir.path(), port);
        let server = Self { child, port, dir };
        server.wait_until_it_accepts();
        server
    }

    /// The postmaster on the cluster in `dir`.
    fn spawn(dir: &Path, port: u16) -> Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("postgres.log")).expect("log");
        let mut postgres = Command::new(pg_bin().join("postgres"));
        postgres
            .arg("-D")
            .arg(dir.join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .arg("-k")
            .arg(dir.join("socket"))
            .stdout(Stdio::null())
            .stderr(log);
        if let Some((uid, gid)) = postgres_user() {
            postgres.uid(uid).gid(gid);
        }
        postgres.spawn().expect("postgres starts")
    }

    fn wait_until_it_accepts(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let runtime = runtime();
        while runtime.block_on(tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not accept connections within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `pg_ctl stop -m fast`: SIGINT to the postmaster, which ends every
    /// session and shuts down cleanly; returns once it has exited.
    pub fn stop_fast(&mut self) {
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }

    /// Stops (SIGSTOP) or resumes (SIGCONT) the postmaster and every
    /// process it started: a database that hangs, without closing a socket.
    pub fn pause(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let _ = Command::new("pkill").args([&format!("-{signal}"), "-P", &pid]).status();
        let _ = Command::new("kill").args([&format!("-{signal}"), &pid]).status();
    }

    /// Turns TLS on with `cert` and `key`, and refuses every connection
    /// without it (hostssl only); returns once a plain connection is refused.
    pub fn require_tls(&self, cert: &Path, key: &Path) {
        let data = self.dir.path().join("data");
        std::fs::copy(cert, data.join("server.crt")).expect("cert");
        std::fs::copy(key, data.join("server.key")).expect("key");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(data.join("server.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        if let Some((uid, gid)) = postgres_user() {
            for file in ["server.crt", "server.key"] {
                std::os::unix::fs::chown(data.join(file), Some(uid), Some(gid)).expect("chown");
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str("\nssl = on\n");
        std::fs::write(&conf, text).expect("postgresql.conf");
        let hba = data.join("pg_hba.conf");
        let rules: String = std::fs::read_to_string(&hba)
            .expect("pg_hba.conf")
            .lines()
            .map(|l| if l.starts_with("host ") { format!("hostssl{}\n", &l[4..]) } else { format!("{l}\n") })
            .collect();
        std::fs::write(&hba, rules).expect("pg_hba.conf");
        let _ = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let runtime = runtime();
        while runtime.block_on(tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)).is_ok() {
            assert!(Instant::now() < deadline, "plain connections still accepted 10 s after the reload");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the same cluster again, on the same port.
    pub fn start_again(&mut self) {
        self.child = Self::spawn(self.dir.path(), self.port);
        self.wait_until_it_accepts();
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}", self.port)
    }

    /// A new, empty database; its URL.
    pub fn database(&self, name: &str) -> String {
        runtime().block_on(async {
            let client = connect(&self.url("postgres")).await;
            client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("CREATE DATABASE");
        });
        self.url(name)
    }
}

/// Immediate shutdown (SIGQUIT), then SIGKILL if it lingers: no PostgreSQL
/// outlives its test.
impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-QUIT", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("em-metrics runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One value of a row, the same whichever store it was read from.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

const TABLES: &[&str] = &[
    "deployments",
    "changes",
    "incidents",
    "idempotency_keys",
    "webhook_deliveries",
    "pushes",
    "shipped_pushes",
    "tokens",
    "sessions",
    "sign_ins",
    "audit",
    "pull_requests",
    "pull_request_reviews",
    "branch_pushes",
    "hash_keys",
];

fn sqlite_rows(db: &Path, table: &str, columns: &[String]) -> Vec<Vec<Cell>> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn.prepare(&format!("SELECT {} FROM {table}", columns.join(", "))).expect("select");
    let mut rows: Vec<Vec<Cell>> = stmt
        .query_map([], |r| {
            (0..columns.len())
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => Cell::Null,
                        rusqlite::types::ValueRef::Integer(n) => Cell::Int(n),
                        rusqlite::types::ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                        rusqlite::types::ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
                        rusqlite::types::ValueRef::Real(f) => Cell::Text(f.to_string()),
                    })
                })
                .collect()
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    rows.sort();
    rows
}

async fn postgres_rows(client: &tokio_postgres::Client, table: &str) -> (Vec<String>, Vec<Vec<Cell>>) {
    let columns = client
        .query(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await
        .expect("columns");
    let names: Vec<String> = columns.iter().map(|c| c.get(0)).collect();
    let types: Vec<String> = columns.iter().map(|c| c.get(1)).collect();
    let rows = client.query(&format!("SELECT {} FROM {table}", names.join(", ")), &[]).await.expect("select");
    let mut cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            types
                .iter()
                .enumerate()
                .map(|(i, t)| match t.as_str() {
                    "bigint" => r.get::<_, Option<i64>>(i).map_or(Cell::Null, Cell::Int),
                    "text" => r.get::<_, Option<String>>(i).map_or(Cell::Null, Cell::Text),
                    "bytea" => r.get::<_, Option<Vec<u8>>>(i).map_or(Cell::Null, Cell::Bytes),
                    other => panic!("{table}: a column of type {other}"),
                })
                .collect()
        })
        .collect();
    cells.sort();
    (names, cells)
}

/// A SQLite store with something in every table that a server fills in
/// normal use: the demo's story, tokens, an Idempotency-Key answer, a
/// dashboard session, the audit log.
fn filled_sqlite_store(dir: &Path) -> PathBuf {
    let db = dir.join("em.db");
    let sqlite = db.to_str().expect("utf-8 path");
    let (code, _, err) = run(&["demo", "--days", "14"], &[("SQLITE_DB", sqlite)]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = run(&["token", "create", "--name", "ci", "--role", "ingest"], &[("SQLITE_DB", sqlite)]);
    assert_eq!(code, Some(0), "{err}");
    // The SQLite store whichever pass this is: it is what `copy` reads.
    let mut serve = command(&db);
    serve.env_remove("DATABASE_URL").env("SQLITE_DB", &db);
    let server = Server::start(serve);
    let answer = Server::client()
        .post(format!("{}/deployments", server.base))
        .header("authorization", format!("Bearer {}", crate::binary::TOKEN))
        .header("idempotency-key", "key-1")
        .body(json!({"id": "idem-1", "project_id": "api", "first_commit_at": "2024-05-01T08:00:00Z"}).to_string())
        .send()
        .expect("request");
    assert_eq!(answer.status().as_u16(), 201);
    // A dashboard session: the token form of the sign-in page.
    let signed_in = Server::client()
        .post(format!("{}/ui/login", server.base))
        .header("origin", server.base.clone())
        .form(&[("token", crate::binary::TOKEN)])
        .send()
        .expect("sign in");
    assert!(signed_in.status().is_success() || signed_in.status().is_redirection(), "{}", signed_in.status());
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log:#?}");
    db
}

#[test]
fn copy_moves_every_row_of_every_table_and_refuses_a_target_that_is_not_empty() {
    let Some(pg) = Postgres::start_or_skip() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let db = filled_sqlite_store(dir.path());
    let url = pg.database("copy_target");
    let sqlite = db.to_str().expect("utf-8 path");

    let (code, out, err) = run(&["copy", "--to", &url], &[("SQLITE_DB", sqlite)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD), "{out}{err}");
    for table in TABLES {
        assert!(out.lines().any(|l| l.split_whitespace().next() == Some(table)), "a count for {table}: {out}");
    }

    let runtime = runtime();
    runtime.block_on(async {
        let client = connect(&url).await;
        for table in TABLES {
            let (columns, copied) = postgres_rows(&client, table).await;
            let original = sqlite_rows(&db, table, &columns);
            assert!(
                !original.is_empty()
                    || [
                        "pushes",
                        "shipped_pushes",
                        "webhook_deliveries",
                        "sign_ins",
                        "pull_requests",
                        "pull_request_reviews",
                        "branch_pushes",
                        "hash_keys"
                    ]
                    .contains(table),
                "the story leaves rows in {table}"
            );
            assert_eq!(copied, original, "{table}, row for row");
        }
        // The next audit record numbers on from the copied ones.
        let next: i64 = client
            .query_one(
                "INSERT INTO audit (at, actor, method, route, status) VALUES (0, 't', 'POST', '/x', 201) RETURNING seq",
                &[],
            )
            .await
            .expect("insert")
            .get(0);
        let max: i64 =
            client.query_one("SELECT max(seq) FROM audit WHERE actor != 't'", &[]).await.expect("max").get(0);
        assert_eq!(next, max + 1);
    });

    let (code, _, err) = run(&["copy", "--to", &url], &[("SQLITE_DB", sqlite)]);
    assert_eq!(code, Some(1), "a second copy into the same database is refused: {err}");
    assert!(err.contains("not empty") && err.lines().count() == 1, "{err}");
}

#[test]
fn database_url_at_start_is_checked_connected_and_migrated_and_never_shows_its_password() {
    let Some(pg) = Postgres::start_or_skip() else { return };
    let url = pg.database("start");
    let dir = tempfile::tempdir().expect("dir");
    let sqlite = dir.path().join("em.db");
    let base = [("EM_METRICS_TOKEN_AUTH", "t0ken"), ("HOST", "127.0.0.1"), ("PORT", "0"), ("RUST_LOG", "trace")];
    let start = |extra: &[(&str, &str)]| {
        let env: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        run(&[], &env)
    };

    let (code, _, err) = start(&[("DATABASE_URL", &url), ("SQLITE_DB", sqlite.to_str().expect("path"))]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("DATABASE_URL") && err.contains("SQLITE_DB") && err.lines().count() == 1, "{err}");

    let unreachable = format!("postgres://postgres:{PASSWORD}@127.0.0.1:{}/start", free_port());
    for bad in ["postgres://postgres:pg-test-pw-5f1d@127.0.0.1:notaport/start", "pg-test-pw-5f1d", &unreachable] {
        let (code, out, err) = start(&[("DATABASE_URL", bad)]);
        assert_eq!(code, Some(2), "{bad}: {err}");
        assert!(err.contains("DATABASE_URL") && err.lines().count() == 1, "{bad}: {err}");
        assert!(!err.contains(PASSWORD) && !out.contains(PASSWORD), "{bad}: {err}");
    }

    let wrong_password = url.replace(PASSWORD, "not-the-password-77");
    let (code, _, err) = start(&[("DATABASE_URL", &wrong_password)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("password authentication failed") && !err.contains("not-the-password-77"), "{err}");

    // A good URL: the schema is made, and the server serves from it; no
    // log line, at trace level, shows the password.
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .envs(base)
        .env("EM_METRICS_TOKEN_AUTH", super::binary::TOKEN)
        .env("DATABASE_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let server = super::binary::Server::start(cmd);
    let deployment = serde_json::json!({"id": "d1", "project_id": "api", "first_commit_at": "2026-12-01T09:00:00Z", "deployed_at": "2026-12-01T10:00:00Z"});
    assert_eq!(server.post("/deployments", deployment).0, 201);
    assert_eq!(server.get("/deployments/d1").1["status"], "deployed");
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log:?}");
    assert!(log.iter().any(|l| l.contains("ready on") && l.contains("127.0.0.1")), "{log:?}");
    assert!(log.iter().all(|l| !l.contains(PASSWORD)), "{log:?}");
    runtime().block_on(async {
        let client = connect(&url).await;
        let versions: Vec<i64> = client
            .query("SELECT version FROM schema_migrations", &[])
            .await
            .expect("migrated")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(versions, vec![1, 2]);
    });

    let (code, _, err) = run(&["backup", "/tmp/never-written.db"], &[("DATABASE_URL", &url)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("pg_dump") && err.lines().count() == 1 && !err.contains(PASSWORD), "{err}");
    assert!(!Path::new("/tmp/never-written.db").exists());
}

/// Replicas that start together migrate once: the advisory lock queues
/// them, and each after the first finds the schema in place.
#[test]
fn replicas_starting_together_migrate_once_and_a_newer_schema_is_refused() {
    let Some(pg) = Postgres::start_or_skip() else { return };
    let url = pg.database("together");
    let parsed = em_metrics::store::postgres::DatabaseUrl::parse(&url).expect("url");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let parsed = parsed.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = em_metrics::store::postgres::connect(&parsed).await.expect("connect");
                em_metrics::store::postgres::migrate(&mut client).await
            }));
        }
        let mut applied = Vec::new();
        for task in tasks {
            applied.push(task.await.expect("task").expect("every replica starts"));
        }
        applied.sort();
        let all = em_metrics::store::postgres::latest_version() as usize;
        assert_eq!(applied, vec![0, 0, 0, 0, 0, all], "one replica migrated, five found it done");

        let client = connect(&url).await;
        client.execute("INSERT INTO schema_migrations VALUES (99, 'from the future', 0)", &[]).await.expect("insert");
        let mut client = em_metrics::store::postgres::connect(&parsed).await.expect("connect");
        let why = em_metrics::store::postgres::migrate(&mut client).await.expect_err("a newer schema is refused");
        assert!(why.contains("schema version 99"), "{why}");
    });
}

/// docs/postgres.md's copy and its pg_dump and pg_restore lines, as pasted:
/// the restored database holds what the copy wrote, row for row.
#[test]
fn the_docs_copy_back_up_and_restore_as_pasted() {
    let Some(pg) = Postgres::start_or_skip() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let db = filled_sqlite_store(dir.path());
    // The docs' file name; the server that wrote it has stopped.
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            std::fs::rename(&from, dir.path().join(format!("em-metrics.db{suffix}"))).expect("rename");
        }
    }
    let (url, restore) = (pg.database("docs_copy"), pg.database("docs_restore"));
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/postgres.md")).expect("docs");
    let mut blocks: Vec<&str> = docs.split("```sh\n").skip(1).map(|b| b.split("```").next().expect("closed")).collect();
    assert_eq!(blocks.len(), 3, "the start block, the copy block and the backup block");
    // The start, as pasted, names a host this machine cannot reach: one
    // line naming DATABASE_URL and the host, never the password.
    let bin_dir = std::path::Path::new(BIN).parent().expect("dir").display().to_string();
    let start = Command::new("/bin/bash")
        .args(["-euo", "pipefail", "-c", blocks.remove(0)])
        .env_clear()
        .env("PATH", format!("{bin_dir}:/usr/bin:/bin"))
        .env("PGPASSWORD", PASSWORD)
        .env("EM_METRICS_TOKEN_AUTH", "t0ken")
        .output()
        .expect("bash");
    let err = String::from_utf8_lossy(&start.stderr);
    assert_eq!(start.status.code(), Some(2), "{err}");
    assert!(err.contains("DATABASE_URL") && err.contains("db.internal") && err.lines().count() == 1, "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    let path = format!(
        "{}:{}:{}",
        std::path::Path::new(BIN).parent().expect("dir").display(),
        pg_bin().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for block in blocks {
        let out = Command::new("bash")
            .args(["-euo", "pipefail", "-c", block])
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", &path)
            .env("DATABASE_URL", &url)
            .env("RESTORE_URL", &restore)
            .output()
            .expect("bash");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{block}\n{err}");
        assert!(!err.contains(PASSWORD), "{err}");
    }
    runtime().block_on(async {
        let (copied, restored) = (connect(&url).await, connect(&restore).await);
        for table in TABLES {
            let (_, original) = postgres_rows(&copied, table).await;
            let (_, back) = postgres_rows(&restored, table).await;
            assert_eq!(back, original, "{table} restored row for row");
        }
        assert!(!postgres_rows(&restored, "deployments").await.1.is_empty());
    });
}

/// The demo store copied into PostgreSQL: the two stores answer /dora, its
/// trend, its breakdowns and cycle time with the same JSON, field for field.
#[test]
fn after_copy_both_stores_answer_the_same_insights_field_for_field() {
    let Some(pg) = Postgres::start_or_skip() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("demo.db");
    let sqlite = db.to_str().expect("utf-8 path");
    let (code, _, err) =
        run(&["demo", "--days", "60", "--seed", "11", "--until", "2026-11-30"], &[("SQLITE_DB", sqlite)]);
    assert_eq!(code, Some(0), "{err}");
    let url = pg.database("same_answers");
    let (code, _, err) = run(&["copy", "--to", &url], &[("SQLITE_DB", sqlite)]);
    assert_eq!(code, Some(0), "{err}");

    let mut on_sqlite = command(&db);
    on_sqlite.env_remove("DATABASE_URL").env("SQLITE_DB", &db);
    let mut on_postgres = command(&db);
    on_postgres.env_remove("SQLITE_DB").env("DATABASE_URL", &url);
    let (sqlite_server, postgres_server) = (Server::start(on_sqlite), Server::start(on_postgres));
    let window = "from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z";
    let paths = [
        format!("/dora?{window}"),
        format!("/dora?{window}&environment=*"),
        format!("/dora/trend?interval=week&{window}"),
        format!("/dora/breakdown?by=team_id&{window}"),
        format!("/dora/breakdown?by=project_id&{window}&environment=*"),
        format!("/dora/cycle-time?{window}"),
        "/deployments?limit=200&order=desc".to_string(),
        "/incidents?limit=200".to_string(),
    ];
    for path in &paths {
        let (a, b) = (sqlite_server.get(path), postgres_server.get(path));
        assert_eq!(a.0, 200, "{path}: {}", a.1);
        assert_eq!(a, b, "{path}");
    }
    let dora = sqlite_server.get(&paths[0]).1;
    assert!(dora["deployment_frequency"]["deployments"].as_u64().is_some_and(|n| n > 20), "{dora}");
}

/// A CA and a server certificate for 127.0.0.1, made with openssl: (CA, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=em-metrics test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

/// `sslmode=require`: the connection is TLS, and the server's certificate
/// must chain to a trusted root (SSL_CERT_FILE adds a database's own CA);
/// a server that only takes TLS refuses a URL without it.
#[test]
fn sslmode_require_connects_over_tls_and_checks_the_certificate() {
    if Command::new("openssl").arg("version").output().is_err() {
        let why = "openssl is not installed (it makes the test's certificates): `apt-get install openssl`";
        assert!(std::env::var_os("EM_METRICS_REQUIRE_TOOLS").is_none(), "{why}");
        eprintln!("skipping: {why}");
        return;
    }
    let Some(pg) = Postgres::start_or_skip() else { return };
    let url = pg.database("tls");
    let dir = tempfile::tempdir().expect("dir");
    let (ca, cert, key) = certificates(dir.path());
    pg.require_tls(&cert, &key);
    let base = [("EM_METRICS_TOKEN_AUTH", "t0ken"), ("HOST", "127.0.0.1"), ("PORT", "0")];
    let start = |extra: &[(&str, &str)]| {
        let env: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        run(&[], &env)
    };

    let (code, _, err) = start(&[("DATABASE_URL", &url)]);
    assert_eq!(code, Some(2), "without TLS the server refuses: {err}");
    assert!(err.contains("DATABASE_URL") && !err.contains(PASSWORD), "{err}");

    let require = format!("{url}?sslmode=require");
    let (code, _, err) = start(&[("DATABASE_URL", &require)]);
    assert_eq!(code, Some(2), "a certificate from an unknown CA is refused: {err}");
    assert!(err.contains("DATABASE_URL") && err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .envs(base)
        .env("EM_METRICS_TOKEN_AUTH", super::binary::TOKEN)
        .env("DATABASE_URL", &require)
        .env("SSL_CERT_FILE", &ca)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let server = Server::start(cmd);
    let deployment = json!({"id": "tls-1", "project_id": "api", "first_commit_at": "2026-12-01T09:00:00Z"});
    assert_eq!(server.post("/deployments", deployment).0, 201, "served over TLS");
    assert_eq!(server.get("/deployments/tls-1").0, 200);
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log:?}");
}
