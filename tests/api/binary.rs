//! The real binary over real HTTP: start-up checks, serving, reload, shutdown.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_em-metrics");
pub const TOKEN: &str = "binary-test-secret-71c2";

pub fn command(db: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("EM_METRICS_TOKEN_AUTH", TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    super::stores::point_at(&mut cmd, db);
    cmd
}

/// A running server; its log lines arrive on `lines`.
pub struct Server {
    child: Child,
    pub base: String,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Server {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd.spawn().expect("binary starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut log = Vec::new();
        let base = loop {
            let line = lines.recv_timeout(Duration::from_secs(20)).expect("ready line within 20 s");
            log.push(line.clone());
            if let Some(at) = line.find("ready on http://") {
                let rest = &line[at + "ready on ".len()..];
                break rest.split_whitespace().next().unwrap_or_default().to_string();
            }
        };
        Self { child, base, lines, log }
    }

    pub fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("client")
    }

    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = Self::client()
            .post(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(body.to_string())
            .send()
            .expect("request");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = Self::client()
            .get(format!("{}{path}", self.base))
            .header("authorization", format!("Token {TOKEN}"))
            .send()
            .expect("request");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// The server's stdout, when the command piped it.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let status =
            Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for_log(&mut self, needle: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line =
                self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no `{needle}` in the log within {within:?}"));
            self.log.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Waits up to `within` for the process to exit: its exit code, or None
    /// if it is still running.
    pub fn exited_within(&mut self, within: Duration) -> Option<Option<i32>> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code());
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM, waits for exit, and returns the exit code and the whole log.
    pub fn stop(mut self) -> (Option<i32>, Vec<String>) {
        self.signal("TERM");
        let status = self.child.wait().expect("exits");
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.log.push(line);
        }
        (status.code(), std::mem::take(&mut self.log))
    }
}

/// A test that panics mid-way still stops its server: no process is left
/// behind. (After `stop` the child has exited, and kill is a no-op.)
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A secret file with a trailing newline, or a value pasted with spaces,
/// would start a server on which no request ever matches: the start stops
/// with one line that names the setting and never shows the value.
#[test]
fn a_secret_with_whitespace_or_a_control_character_stops_the_start_without_echoing_it() {
    let dir = tempfile::tempdir().expect("dir");
    for (variable, value) in [
        ("EM_METRICS_TOKEN_AUTH", "s3cret-value\n"),
        ("EM_METRICS_TOKEN_AUTH", " s3cret-value"),
        ("EM_METRICS_BASIC_AUTH_PASSWORD", "s3cret\tvalue"),
        ("EM_METRICS_GITHUB_WEBHOOK_SECRET", " s3cret-value "),
        ("EM_METRICS_GITLAB_WEBHOOK_TOKEN", "s3cret-value\r"),
        ("EM_METRICS_PAGERDUTY_WEBHOOK_SECRET", "s3cret\u{7}value"),
        ("EM_METRICS_GRAFANA_WEBHOOK_SECRET", "s3cret-value\n"),
    ] {
        let mut cmd = command(&dir.path().join("em.db"));
        cmd.env(variable, value);
        let (code, stderr) = run_to_exit(&mut cmd);
        assert_eq!(code, Some(2), "{variable}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{variable}: {stderr}");
        assert!(stderr.contains(variable) && stderr.contains("whitespace"), "{stderr}");
        assert!(!stderr.contains("s3cret"), "the value is never shown: {stderr}");
    }
    // A UTF-8 secret is fine.
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("EM_METRICS_GITLAB_WEBHOOK_TOKEN", "jeton-été");
    let (code, _) = Server::start(cmd).stop();
    assert_eq!(code, Some(0));
}

/// The SIGTERM handler is in place when "ready" is logged: a signal right
/// after it shuts down cleanly (exit 0) instead of killing the process.
#[test]
fn a_sigterm_right_after_the_ready_line_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    for _ in 0..5 {
        let (code, log) = Server::start(command(&dir.path().join("em.db"))).stop();
        assert_eq!(code, Some(0), "{log:?}");
        assert!(log.iter().any(|l| l.contains("SIGTERM received")), "{log:?}");
    }
}

/// A test that panics mid-way: its server goes with it.
#[test]
fn a_test_that_panics_leaves_no_server_running() {
    let dir = tempfile::tempdir().expect("dir");
    let pid = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let server = Server::start(command(&dir.path().join("em.db")));
        *pid.lock().expect("lock") = Some(server.pid());
        panic!("the test failed here");
    });
    assert!(outcome.is_err());
    let pid = pid.into_inner().expect("lock").expect("the server started");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "em-metrics {pid} is still running");
}

fn run_to_exit(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().expect("runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn the_binary_serves_records_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("data/em.db")));
    let (status, body) = server
        .post("/deployments", json!({"id": "run-1", "project_id": "api", "first_commit_at": "2024-05-01T08:00:00Z"}));
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.post("/api/v1/deployments/run-1/deployed", json!({}));
    assert_eq!((status, body["status"].as_str()), (200, Some("deployed")));
    let (status, body) = server.post("/incidents", json!({"project_id": "api", "deployment_id": "run-1"}));
    assert_eq!((status, body["id"].as_str()), (201, Some("incident_api_1")));
    let (status, body) = server.get("/version");
    assert_eq!((status, body["version"].as_str()), (200, Some(env!("CARGO_PKG_VERSION"))));
    let (status, doc) = server.get("/openapi.json");
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert!(doc["paths"]["/deployments/{id}/deployed"]["post"].is_object());

    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log:#?}");
    let all = log.join("\n");
    assert!(all.contains("route=\"/deployments\"") || all.contains("route=/deployments"), "{all}");
    assert!(!all.contains(TOKEN), "the token must never be logged");
}

#[test]
fn start_up_refuses_to_run_open_by_accident() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env_remove("EM_METRICS_TOKEN_AUTH").env("EM_METRICS_NO_AUTH", "false");
    let (code, stderr) = run_to_exit(&mut cmd);
    assert_eq!(code, Some(2));
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("EM_METRICS_TOKEN_AUTH"), "{stderr}");
}

#[test]
fn start_up_names_a_bad_port_config_or_database() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");

    let (code, stderr) = run_to_exit(command(&db).env("PORT", "http"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("PORT"), "{stderr}");

    let config = dir.path().join("teams.json");
    std::fs::write(&config, "{\"teams\": {\n  \"a\": {\"projects\": [\"api\"],}\n}}").expect("write");
    let (code, stderr) = run_to_exit(command(&db).env("CONFIG", &config));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("CONFIG") && stderr.contains("line 2"), "{stderr}");

    std::fs::write(&config, r#"{"teams": {"a": {"projets": ["api"]}}}"#).expect("write");
    let (code, stderr) = run_to_exit(command(&db).env("CONFIG", &config));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("CONFIG") && stderr.contains("projets"), "{stderr}");

    let (code, stderr) = run_to_exit(command(&db).env("CONFIG", dir.path().join("missing.json")));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("CONFIG"), "{stderr}");

    // A folder where the file should be.
    let (code, stderr) = run_to_exit(&mut command(dir.path()));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("SQLITE_DB"), "{stderr}");
}

#[test]
fn sighup_reloads_the_team_config_and_keeps_it_when_the_new_file_is_bad() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("teams.json");
    std::fs::write(&config, r#"{"teams": {"a": {"projects": ["api"]}}}"#).expect("write");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("CONFIG", &config);
    let server = Server::start(cmd);
    assert!(server.get("/config").1["teams"]["a"].is_object());

    std::fs::write(&config, r#"{"teams": {"b": {"projects": ["api"]}}}"#).expect("write");
    server.signal("HUP");
    let reloaded = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        server.get("/config").1["teams"]["b"].is_object()
    });
    assert!(reloaded, "config reloaded after SIGHUP");

    std::fs::write(&config, "{ not json").expect("write");
    server.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.get("/config").1["teams"]["b"].is_object(), "bad file keeps the old config");
    let (code, log) = server.stop();
    assert_eq!(code, Some(0));
    assert!(log.iter().any(|l| l.contains("not reloaded")), "{log:#?}");
}

#[test]
fn sigterm_pushes_the_last_interval_before_exit() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, received) = runtime.block_on(crate::receiver::start_http());
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("OTEL_COLLECTOR_URL", format!("http://{addr}/v1/metrics"))
        // Far longer than the test: only the shutdown flush can deliver.
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
        .env("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k3y")
        .env("OTEL_RESOURCE_ATTRIBUTES", "k8s.cluster.name=eu-1")
        .env("OTEL_SERVICE_NAME", "dora")
        .env("DEPLOYMENT_ENVIRONMENT", "production");
    let server = Server::start(cmd);
    let (status, _) = server.post(
        "/deployments",
        json!({"id": "r1", "project_id": "api", "first_commit_at": "2024-05-01T08:00:00Z",
               "deploy_start_at": "2024-05-01T09:00:00Z", "deployed_at": "2024-05-01T10:00:00Z"}),
    );
    assert_eq!(status, 201);
    assert_eq!(received.count(), 0, "nothing exported before shutdown");

    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log:#?}");
    let latest = received.latest().expect("the final interval was pushed at shutdown");
    let catalog = crate::receiver::Catalog::from(&latest);
    let point = "environment=production,project_id=api";
    assert_eq!(catalog.counter("deployment_frequency").get(point), Some(&1));
    assert_eq!(catalog.histogram("lead_time_for_changes")[point].sum, Some(7200.0));
    assert_eq!(catalog.resource.get("service.name").map(String::as_str), Some("dora"));
    assert_eq!(catalog.resource.get("k8s.cluster.name").map(String::as_str), Some("eu-1"));
    assert_eq!(catalog.resource.get("deployment.environment.name").map(String::as_str), Some("production"));
    let instance = catalog.resource.get("service.instance.id").expect("each process names its instance");
    assert!(is_uuid_v4(instance), "a random UUID: {instance}");
    let headers = received.headers();
    assert!(headers.iter().all(|h| h.get("x-collector-key").is_some_and(|v| v == "k3y")), "{headers:?}");
    assert!(!log.join("\n").contains("k3y"), "collector headers are not logged");
}

#[test]
fn em_metrics_prometheus_false_turns_metrics_off() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("EM_METRICS_PROMETHEUS", "false");
    let server = Server::start(cmd);
    assert_eq!(server.get("/metrics").0, 404);
    let (code, log) = server.stop();
    assert_eq!(code, Some(0));
    assert!(log.iter().any(|l| l.contains("metrics are not pushed")), "one line says there is no push: {log:#?}");
}

#[test]
fn the_healthcheck_subcommand_exits_0_when_healthy_and_1_when_not() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    let health =
        |url: &str| Command::new(BIN).env_clear().args(["healthcheck", "--url", url]).status().expect("runs").code();
    assert_eq!(health(&format!("{}/health", server.base)), Some(0));
    assert_eq!(health(&format!("{}/nope", server.base)), Some(1));
    let port = server.base.rsplit(':').next().unwrap_or_default().to_string();
    let by_port = Command::new(BIN).env_clear().env("PORT", &port).arg("healthcheck").status().expect("runs");
    assert_eq!(by_port.code(), Some(0), "defaults to 127.0.0.1:$PORT/health");
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    assert_eq!(health(&format!("http://127.0.0.1:{port}/health")), Some(1), "nothing listens any more");
}

#[test]
fn sighup_without_a_config_is_logged_and_ignored() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    server.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.get("/health").0, 200, "still serving after SIGHUP");
    let (code, log) = server.stop();
    assert_eq!(code, Some(0));
    assert!(log.iter().any(|l| l.contains("SIGHUP ignored")), "{log:#?}");
}

#[test]
fn probes_are_logged_at_debug_and_other_requests_at_info() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    for _ in 0..3 {
        assert_eq!(server.get("/health").0, 200);
        assert_eq!(server.get("/api/v1/ready").0, 200);
    }
    assert_eq!(server.get("/deployments").0, 200);
    let (_, log) = server.stop();
    let requests: Vec<&String> = log.iter().filter(|l| l.contains("request")).collect();
    assert_eq!(requests.len(), 1, "only /deployments at info: {requests:#?}");
    assert!(requests[0].contains("/deployments"), "{requests:#?}");
}

#[test]
fn start_up_names_a_bad_host_and_an_empty_or_non_json_config() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    for host in ["no such host.invalid", "192.0.2.1"] {
        let (code, stderr) = run_to_exit(command(&db).env("HOST", host));
        assert_eq!(code, Some(2), "{host}: {stderr}");
        assert!(stderr.starts_with("em-metrics: HOST:"), "{host}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    let config = dir.path().join("teams.json");
    for (text, says) in [("", "empty"), ("  \n", "empty"), ("teams: {}", "not JSON")] {
        std::fs::write(&config, text).expect("write");
        let (code, stderr) = run_to_exit(command(&db).env("CONFIG", &config));
        assert_eq!(code, Some(2));
        assert!(stderr.contains("CONFIG") && stderr.contains(says), "{text:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
    let big = format!("{{\"teams\": {{}}, \"x\": \"{}\"}}", "a".repeat(11 * 1024 * 1024));
    std::fs::write(&config, big).expect("write");
    let (code, stderr) = run_to_exit(command(&db).env("CONFIG", &config));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("10 MiB"), "{stderr}");
}

#[test]
fn global_flags_work_after_the_subcommand() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("after.db");
    let out = Command::new(BIN)
        .env_clear()
        .args(["demo", "--days", "3", "--seed", "1", "--until", "2024-06-01", "--sqlite-db"])
        .arg(&db)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(db.exists(), "the demo wrote to the --sqlite-db given after the subcommand");
}

#[test]
fn credentials_in_the_collector_url_never_reach_the_log() {
    let dir = tempfile::tempdir().expect("dir");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("OTEL_COLLECTOR_URL", format!("http://otel-user:pa55w0rd-9f@{closed}/v1/metrics"))
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
        .env("RUST_LOG", "trace");
    let server = Server::start(cmd);
    server.post("/deployments", json!({"id": "d1", "project_id": "api", "first_commit_at": 1714550400}));
    std::thread::sleep(Duration::from_millis(600));
    let (_, log) = server.stop();
    let all = log.join("\n");
    assert!(all.contains("pushing metrics over OTLP"), "{all}");
    assert!(all.contains("export failed"), "an export failure was logged: {all}");
    assert!(!all.contains("pa55w0rd-9f") && !all.contains("otel-user"), "{all}");
    let mut bad = command(&dir.path().join("em.db"));
    bad.env("OTEL_COLLECTOR_URL", "ftp://otel-user:pa55w0rd-9f@collector/v1/metrics");
    let (code, stderr) = run_to_exit(&mut bad);
    assert_eq!(code, Some(2));
    assert!(!stderr.contains("pa55w0rd-9f"), "{stderr}");
}

impl Server {
    pub fn metrics_text(&self) -> String {
        Self::client()
            .get(format!("{}/metrics", self.base))
            .header("authorization", format!("Bearer {TOKEN}"))
            .send()
            .and_then(|r| r.text())
            .expect("metrics")
    }
}

#[test]
fn unlisted_environments_export_as_other_and_the_series_limit_is_announced_once() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("EM_METRICS_ENVIRONMENTS", "production").env("EM_METRICS_CARDINALITY_LIMIT", "4");
    let server = Server::start(cmd);
    let mut n = 0;
    let mut deploy = |project: &str, env: &str| {
        n += 1;
        let body = json!({"id": format!("d{n}"), "project_id": project, "environment": env,
                          "first_commit_at": 1714550400, "deployed_at": 1714557600});
        assert_eq!(server.post("/deployments", body).0, 201);
    };
    deploy("api", "production");
    deploy("api", "feature-login");
    deploy("api", "feature-cart");
    let text = server.metrics_text();
    assert!(text.contains(r#"deployment_started_total{environment="other",project_id="api"} 2"#), "{text}");
    assert!(!text.contains("feature-"), "branch names never become series: {text}");
    // api/production and api/other so far; three more projects pass the limit of 4.
    deploy("web", "production");
    // Three series (api/production, api/other, web/production): under the
    // SDK's limit of 4, which keeps one slot for its overflow series.
    assert!(!server.metrics_text().contains("otel_metric_overflow"));
    for project in ["worker", "jobs"] {
        deploy(project, "production");
    }
    let text = server.metrics_text();
    assert!(text.contains("otel_metric_overflow"), "the SDK merged the rest: {text}");
    let (_, log) = server.stop();
    let warnings: Vec<&String> = log.iter().filter(|l| l.contains("EM_METRICS_CARDINALITY_LIMIT")).collect();
    assert!(warnings.iter().any(|l| l.contains("deployment_started")), "{warnings:#?}");
    let per_instrument = warnings
        .iter()
        .filter(|l| l.contains("instrument=\"deployment_started\"") || l.contains("instrument=deployment_started"))
        .count();
    assert_eq!(per_instrument, 1, "one warning per instrument: {warnings:#?}");
}

#[test]
fn a_database_from_a_newer_release_is_refused_at_start() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    drop(em_metrics::store::Store::open(&db).expect("create"));
    let latest = em_metrics::store::migrations::latest_version();
    rusqlite::Connection::open(&db)
        .and_then(|c| c.execute("INSERT INTO schema_migrations VALUES (?1, 'from the future', 0)", [latest + 6]))
        .expect("a newer schema");
    let (code, stderr) = run_to_exit(&mut command(&db));
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SQLITE_DB"), "{stderr}");
    assert!(stderr.contains(&format!("version {}", latest + 6)) && stderr.contains(&latest.to_string()), "{stderr}");
}

/// Root ignores file permissions, so a read-only file needs a read-only
/// bind mount; where mounting is not allowed the test says so and skips
/// (unless EM_METRICS_REQUIRE_TOOLS asks for everything).
#[test]
fn a_read_only_database_file_is_refused_at_start() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    drop(em_metrics::store::Store::open(&db).expect("create"));
    let mount = |args: &[&str]| Command::new("mount").args(args).status().is_ok_and(|s| s.success());
    let path = db.to_string_lossy().to_string();
    if !(mount(&["--bind", &path, &path]) && mount(&["-o", "remount,bind,ro", &path])) {
        let _ = Command::new("umount").arg(&path).status();
        assert!(std::env::var_os("EM_METRICS_REQUIRE_TOOLS").is_none(), "cannot make a read-only bind mount here");
        eprintln!("skipping: a read-only bind mount is not allowed here (needs root with CAP_SYS_ADMIN)");
        return;
    }
    let (code, stderr) = run_to_exit(&mut command(&db));
    let _ = Command::new("umount").arg(&path).status();
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SQLITE_DB") && stderr.contains("read-only"), "{stderr}");
}

#[test]
fn a_database_deleted_or_replaced_under_the_server_turns_it_unready_and_writes_into_503() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let server = Server::start(command(&db));
    let body = |id: &str| json!({"id": id, "project_id": "api", "first_commit_at": 1714550400});
    assert_eq!(server.post("/deployments", body("before")).0, 201);

    // Replaced: another database moved into its place.
    let other = dir.path().join("other.db");
    drop(em_metrics::store::Store::open(&other).expect("other"));
    std::fs::rename(&other, &db).expect("replace");
    assert_eq!(server.get("/ready").0, 503, "the next probe sees it");
    let (status, reply) = server.post("/deployments", body("after-replace"));
    assert_eq!((status, reply["code"].as_str()), (503, Some("unavailable")), "{reply}");

    // Deleted.
    std::fs::remove_file(&db).expect("delete");
    assert_eq!(server.get("/ready").0, 503);
    assert_eq!(server.post("/deployments", body("after-delete")).0, 503, "never a 2xx that is lost");
    assert_eq!(server.get("/health").0, 200, "the process itself is alive");
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn a_long_query_string_over_real_http_gets_the_json_414() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    let (status, body) = server.get(&format!("/deployments?project_id={}", "x".repeat(10_000)));
    assert_eq!((status, body["code"].as_str()), (414, Some("bad_request")), "{body}");
    server.stop();
}

#[test]
fn writes_waiting_on_a_lock_held_elsewhere_get_503_in_time_and_probes_keep_answering() {
    if super::stores::sqlite_only() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let mut cmd = command(&db);
    cmd.env("EM_METRICS_WRITE_TIMEOUT", "1s");
    let server = Server::start(cmd);
    assert_eq!(
        server.post("/deployments", json!({"id": "before", "project_id": "api", "first_commit_at": 1714550400})).0,
        201
    );

    // Another process (an operator's sqlite3 shell, say) holds the write lock.
    let holder = rusqlite::Connection::open(&db).expect("open");
    holder.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");

    let base = server.base.clone();
    let started = std::time::Instant::now();
    let writers: Vec<_> = (0..600)
        .map(|n| {
            let base = base.clone();
            std::thread::spawn(move || {
                let r = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .expect("client")
                    .post(format!("{base}/deployments"))
                    .header("authorization", format!("Bearer {TOKEN}"))
                    .body(
                        json!({"id": format!("w{n}"), "project_id": "api", "first_commit_at": 1714550400}).to_string(),
                    )
                    .send()
                    .expect("answered");
                (r.status().as_u16(), r.headers().get("retry-after").is_some())
            })
        })
        .collect();
    // While they wait, the probes and reads answer at once.
    std::thread::sleep(Duration::from_millis(300));
    let probe = std::time::Instant::now();
    assert_eq!(server.get("/ready").0, 200);
    assert_eq!(server.get("/deployments/before").0, 200);
    assert!(probe.elapsed() < Duration::from_millis(500), "probes answered in {:?}", probe.elapsed());

    let answers: Vec<(u16, bool)> = writers.into_iter().map(|w| w.join().expect("writer")).collect();
    let waited = started.elapsed();
    if !answers.iter().all(|&(status, retry_after)| status == 503 && retry_after) {
        let (_, log) = server.stop();
        let errors: Vec<&String> = log.iter().filter(|l| l.contains("ERROR") || l.contains("failed")).collect();
        panic!(
            "not all 503 with Retry-After: {:?}\n{errors:#?}",
            answers.iter().filter(|a| a.0 != 503).collect::<Vec<_>>()
        );
    }
    assert!(
        waited < Duration::from_secs(4),
        "every write answered within its 1 s timeout (plus scheduling): {waited:?}"
    );
    drop(holder); // rolls back and releases the lock

    // Nothing that got 503 was written, and writes work again.
    assert_eq!(server.get("/deployments/w0").0, 404);
    assert_eq!(
        server.post("/deployments", json!({"id": "after", "project_id": "api", "first_commit_at": 1714550400})).0,
        201
    );
    let stopping = std::time::Instant::now();
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
    assert!(stopping.elapsed() < Duration::from_secs(10));
}

fn is_uuid_v4(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && text.chars().all(|c| c == '-' || c.is_ascii_hexdigit())
        && groups[2].starts_with('4')
}

/// Two replicas push under different identities, or they would overwrite
/// each other's cumulative counters; OTEL_RESOURCE_ATTRIBUTES can name one.
#[test]
fn each_process_exports_as_an_instance_of_its_own() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (addr, received) = runtime.block_on(crate::receiver::start_http());
    let dir = tempfile::tempdir().expect("dir");
    let mut ids = Vec::new();
    for (i, attributes) in ["", "", "service.instance.id=pod-7,k8s.cluster.name=eu-1"].into_iter().enumerate() {
        let mut cmd = command(&dir.path().join(format!("em{i}.db")));
        cmd.env("OTEL_COLLECTOR_URL", format!("http://{addr}/v1/metrics"))
            .env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
            .env("OTEL_RESOURCE_ATTRIBUTES", attributes);
        let server = Server::start(cmd);
        let (status, body) = server.post(
            "/deployments",
            json!({"id": "d", "project_id": "api", "first_commit_at": "2024-05-01T08:00:00Z", "deployed_at": "2024-05-01T10:00:00Z"}),
        );
        assert_eq!(status, 201, "{body}");
        let (code, log) = server.stop();
        assert_eq!(code, Some(0), "{log:#?}");
        let latest = received.latest().expect("the shutdown export");
        let catalog = crate::receiver::Catalog::from(&latest);
        ids.push(catalog.resource.get("service.instance.id").cloned().expect("service.instance.id"));
    }
    assert!(is_uuid_v4(&ids[0]) && is_uuid_v4(&ids[1]), "{ids:?}");
    assert_ne!(ids[0], ids[1], "two starts, two instances");
    assert_eq!(ids[2], "pod-7", "OTEL_RESOURCE_ATTRIBUTES wins");
}
