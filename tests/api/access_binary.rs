//! Access control through the real binary: `em-metrics token` beside a
//! running server, the limiter's one log line for a flood, and the OIDC
//! settings' checks at start.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::binary::{command, Server};

const BIN: &str = env!("CARGO_BIN_EXE_em-metrics");

/// `em-metrics token ...` on `db`: exit code, stdout, stderr.
fn token_cli(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_clear().arg("token").args(args).stdin(Stdio::null());
    super::stores::point_at(&mut cmd, db);
    let out = cmd.output().expect("runs");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn get(base: &str, path: &str, token: &str) -> u16 {
    reqwest::blocking::Client::new()
        .get(format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .timeout(Duration::from_secs(10))
        .send()
        .expect("request")
        .status()
        .as_u16()
}

#[test]
fn tokens_made_on_the_command_line_work_on_a_running_server_and_stop_when_revoked() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let server = Server::start(command(&db));

    let (code, stdout, stderr) =
        token_cli(&db, &["create", "--name", "ci", "--role", "ingest", "--project", "api", "--expires-in", "90d"]);
    assert_eq!(code, Some(0), "{stderr}");
    let secret = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "the secret alone on stdout: {stdout:?}");
    assert!(secret.starts_with("emm_") && secret.len() >= 47, "{secret}");
    assert!(stderr.contains("role ingest") && stderr.contains("projects api"), "{stderr}");
    assert!(!stderr.contains(secret), "details only on stderr");

    assert_eq!(get(&server.base, "/deployments", secret), 200);
    assert_eq!(get(&server.base, "/dora", secret), 403, "ingest may not read /dora");

    let (code, list, _) = token_cli(&db, &["list"]);
    assert_eq!(code, Some(0));
    assert!(list.starts_with("ci\trole ingest, projects api, expires "), "{list}");
    assert!(!list.contains(secret));

    let (code, _, stderr) = token_cli(&db, &["create", "--name", "ci", "--role", "read"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("ci") && stderr.contains("exists"), "{stderr}");
    let (code, _, stderr) = token_cli(&db, &["create", "--name", "x", "--role", "owner"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--role"), "{stderr}");

    let (code, _, stderr) = token_cli(&db, &["revoke", "ci"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(get(&server.base, "/deployments", secret), 403, "revoked: refused at once");
    let (code, _, stderr) = token_cli(&db, &["revoke", "ci"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("not found"), "{stderr}");

    let (_, log) = server.stop();
    assert!(!log.join("\n").contains(secret), "the token is never logged");
}

#[test]
fn a_flood_of_wrong_tokens_writes_one_line_about_its_address() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    let client = reqwest::blocking::Client::new();
    let mut refused = 0;
    for n in 0..2_000 {
        let status = client
            .get(format!("{}/deployments", server.base))
            .header("authorization", format!("Bearer guess-{n}"))
            .send()
            .expect("request")
            .status()
            .as_u16();
        refused += usize::from(status == 429);
    }
    assert!(refused >= 1_900, "{refused} of 2000 refused without comparing");
    let (_, log) = server.stop();
    let about = log.iter().filter(|l| l.contains("too many failed authentications")).count();
    assert_eq!(about, 1, "one line for the blocked address");
    let requests = log.iter().filter(|l| l.contains("request")).count();
    assert!(requests < 100, "refusals of a blocked address are not logged one by one: {requests} lines");
}

#[test]
fn sso_settings_that_are_incomplete_or_unsafe_stop_the_start_with_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("em.db");
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("EM_METRICS_OIDC_CLIENT_ID", "em")], "EM_METRICS_OIDC_ISSUER"),
        (&[("EM_METRICS_OIDC_ISSUER", "http://id.example.com")], "EM_METRICS_OIDC_ISSUER"),
        (&[("EM_METRICS_OIDC_ISSUER", "https://id.example.com")], "EM_METRICS_OIDC_CLIENT_ID"),
        (
            &[("EM_METRICS_OIDC_ISSUER", "https://id.example.com"), ("EM_METRICS_OIDC_CLIENT_ID", "em")],
            "EM_METRICS_OIDC_CLIENT_SECRET",
        ),
        (
            &[
                ("EM_METRICS_OIDC_ISSUER", "http://127.0.0.1:9"),
                ("EM_METRICS_OIDC_CLIENT_ID", "em"),
                ("EM_METRICS_OIDC_CLIENT_SECRET", "s"),
            ],
            "EM_METRICS_PUBLIC_URL",
        ),
    ];
    for (vars, named) in cases {
        let mut cmd = command(&db);
        cmd.envs(vars.iter().copied());
        let out = cmd.output().expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{vars:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(named), "{vars:?}: {stderr}");
    }
    // A loopback issuer over http is fine (tests, a provider beside the service).
    let mut cmd = command(&db);
    cmd.envs([
        ("EM_METRICS_OIDC_ISSUER", "http://127.0.0.1:9"),
        ("EM_METRICS_OIDC_CLIENT_ID", "em"),
        ("EM_METRICS_OIDC_CLIENT_SECRET", "s"),
        ("EM_METRICS_PUBLIC_URL", "http://127.0.0.1:3000"),
    ]);
    let server = Server::start(cmd);
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}
