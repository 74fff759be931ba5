//! Against a real OpenTelemetry collector: rotel (PyPI), which prints every
//! data point it receives. `scripts/test.sh` installs it and sets
//! EM_METRICS_REQUIRE_TOOLS=1; a bare `cargo test` without rotel skips this
//! test and says why.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::json;

/// `ROTEL_AGENT`, else the binary inside the installed `rotel` Python package.
fn rotel_agent() -> Option<String> {
    if let Ok(path) = std::env::var("ROTEL_AGENT") {
        return Some(path);
    }
    let out = Command::new("python3")
        .args(["-c", "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))"])
        .output();
    match out {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        _ => None,
    }
}

/// The rotel agent, or None when the test should skip: rotel is missing and
/// EM_METRICS_REQUIRE_TOOLS is not set (CI sets it, so CI never skips).
fn rotel_or_skip() -> Option<String> {
    let agent = rotel_agent();
    if agent.is_none() {
        let why = "rotel is not installed: run `python3 -m pip install --pre rotel==0.0.1a15` \
                   (scripts/test.sh does), or set ROTEL_AGENT to the rotel-agent binary";
        assert!(std::env::var_os("EM_METRICS_REQUIRE_TOOLS").is_none(), "{why}");
        eprintln!("skipping the real-collector test: {why}");
    }
    agent
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

struct Rotel {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Rotel {
    fn start(agent: &str, grpc: u16, http: u16) -> Self {
        let mut child = Command::new(agent)
            .args(["start", "--exporter", "blackhole", "--debug-log", "metrics", "--debug-log-verbosity", "detailed"])
            .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
            .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rotel-agent starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
            child.stderr.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut rotel = Self { child, lines, seen: Vec::new() };
        rotel.wait_for(|l| l.contains("Starting Rotel"), "rotel to start");
        // Starting is logged before the sockets accept; poll the HTTP port.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
            assert!(Instant::now() < deadline, "rotel never listened on {http}");
            std::thread::sleep(Duration::from_millis(20));
        }
        rotel
    }

    fn wait_for(&mut self, pred: impl Fn(&str) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        if self.seen.iter().any(|l| pred(l)) {
            return;
        }
        while let Ok(line) = self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let hit = pred(&line);
            self.seen.push(line);
            if hit {
                return;
            }
        }
        panic!("timed out waiting for {what}; rotel printed:\n{}", self.seen.join("\n"));
    }

    /// Everything printed so far, after draining what is pending.
    fn output(&mut self) -> String {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(300)) {
            self.seen.push(line);
        }
        self.seen.join("\n")
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the real binary against the collector, records one deployment and one
/// incident for `project`, and stops it with SIGTERM (which pushes the totals).
fn export_story(project: &str, env: &[(&str, String)]) {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = super::binary::command(&dir.path().join("em.db"));
    cmd.env("OTEL_METRIC_EXPORT_INTERVAL", "600000");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let server = super::binary::Server::start(cmd);
    // A pull request: first commit 05:00, opened 06:00, approved 06:30,
    // merged 07:30 as m1 (50 lines), which deployment r1 ships at 10:00.
    let (status, body) = server.post(
        "/pull-requests",
        json!({"id": "pr1", "project_id": project, "author": "author-1", "opened_at": "2024-05-01T06:00:00Z",
               "first_commit_at": "2024-05-01T05:00:00Z"}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.post(
        "/pull-requests/pr1/reviewed",
        json!({"reviewed_at": "2024-05-01T06:30:00Z", "state": "approved", "reviewer": "reviewer-1"}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post(
        "/pull-requests/pr1/merged",
        json!({"merged_at": "2024-05-01T07:30:00Z", "merge_commit_sha": "m1", "additions": 40, "deletions": 10}),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.post(
        "/deployments",
        json!({"id": "r1", "project_id": project, "first_commit_at": "2024-05-01T08:00:00Z", "commit_sha": "m1",
               "deploy_start_at": "2024-05-01T09:00:00Z", "deployed_at": "2024-05-01T10:00:00Z"}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = server.post(
        "/incidents",
        json!({"project_id": project, "deployment_id": "r1", "started_at": "2024-05-01T10:30:00Z"}),
    );
    assert_eq!(status, 201, "{body}");
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log:#?}");
}

/// Rotel's detailed log, one metric block per `Metric #`, as (name, block).
fn blocks(output: &str) -> Vec<(String, String)> {
    output
        .split("Metric #")
        .skip(1)
        .filter_map(|b| {
            let name = b.lines().find_map(|l| l.trim().strip_prefix("-> Name: "))?.to_string();
            Some((name, b.to_string()))
        })
        .collect()
}

fn assert_received(output: &str, project: &str) {
    let tag = format!("project_id: Str({project})");
    let mine: Vec<(String, String)> = blocks(output).into_iter().filter(|(_, b)| b.contains(&tag)).collect();
    let find = |name: &str| {
        mine.iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("rotel did not receive {name} for {project}:\n{output}"))
    };
    for name in ["deployment_started", "deployment_frequency", "incident_count", "change_failure_count"] {
        let block = find(name);
        assert!(block.contains("Value: 1"), "{name}: {block}");
        assert!(block.contains("AGGREGATION_TEMPORALITY_CUMULATIVE"), "{name}: {block}");
    }
    let lead = find("lead_time_for_changes");
    assert!(lead.contains("Unit: s") && lead.contains("Count: 1") && lead.contains("Sum: 7200"), "{lead}");
    assert!(lead.contains("ExplicitBounds #13: 15552000"), "{lead}");
    let detect = find("time_to_detect");
    assert!(detect.contains("Sum: 1800"), "{detect}");
    assert!(output.contains("service.name: Str(em_metrics)"), "resource attributes reach the collector");

    for name in ["pull_request_opened", "pull_request_merged"] {
        assert!(find(name).contains("Value: 1"), "{name}: {}", find(name));
    }
    // (instrument, sum of its one sample, its top bucket bound)
    for (name, sum, top) in [
        ("pull_request_coding_time", "3600", "ExplicitBounds #13: 15552000"),
        ("pull_request_pickup_time", "1800", "ExplicitBounds #13: 15552000"),
        ("pull_request_review_time", "3600", "ExplicitBounds #13: 15552000"),
        ("pull_request_deploy_time", "9000", "ExplicitBounds #13: 15552000"),
        ("pull_request_cycle_time", "18000", "ExplicitBounds #13: 15552000"),
        ("pull_request_size", "50", "ExplicitBounds #7: 5000"),
    ] {
        let block = find(name);
        assert!(block.contains("Count: 1") && block.contains(&format!("Sum: {sum}")), "{name}: {block}");
        assert!(block.contains(top), "{name}: {block}");
        // The environment only where production shipped it; never a person.
        let shipped = name == "pull_request_deploy_time" || name == "pull_request_cycle_time";
        assert_eq!(block.contains("environment: Str(production)"), shipped, "{name}: {block}");
        assert!(!block.contains("author-1") && !block.contains("reviewer-1"), "{name}: {block}");
    }
}

#[test]
fn a_real_collector_receives_the_export_over_http_and_grpc() {
    let Some(agent) = rotel_or_skip() else { return };
    let (grpc, http) = (free_port(), free_port());
    let mut rotel = Rotel::start(&agent, grpc, http);

    export_story("rotel-http", &[("OTEL_COLLECTOR_URL", format!("http://127.0.0.1:{http}/v1/metrics"))]);
    rotel.wait_for(|l| l.contains("Str(rotel-http)"), "the HTTP export");

    export_story(
        "rotel-grpc",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{grpc}")),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_string()),
        ],
    );
    rotel.wait_for(|l| l.contains("Str(rotel-grpc)"), "the gRPC export");

    let output = rotel.output();
    assert_received(&output, "rotel-http");
    assert_received(&output, "rotel-grpc");
}
