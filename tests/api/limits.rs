//! Slow and idle clients against the real binary over TCP.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::binary::{command, Server};

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection or `limit` passes; returns
/// what arrived and how long it took.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&answer).to_string(), started.elapsed())
}

#[test]
fn a_client_sending_headers_slowly_is_cut_off() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    // Half a request line, then nothing.
    stream.write_all(b"GET /health HT").expect("write");
    let (_, waited) = read_until_closed(&mut stream, Duration::from_secs(30));
    assert!(waited < Duration::from_secs(15), "held for {waited:?}");
    assert!(waited >= Duration::from_secs(9), "cut off after the 10 s header timeout, not before: {waited:?}");
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn a_client_sending_its_body_slowly_gets_408_and_is_cut_off() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    let head = format!(
        "POST /deployments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 100\r\n\r\n{{\"id\":",
        crate::binary::TOKEN
    );
    stream.write_all(head.as_bytes()).expect("write");
    let (answer, waited) = read_until_closed(&mut stream, Duration::from_secs(30));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"bad_request\""), "{answer}");
    assert!(waited < Duration::from_secs(15), "held for {waited:?}");
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn many_idle_connections_do_not_stop_others_being_served() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    let idle: Vec<TcpStream> = (0..400).map(|_| TcpStream::connect(address(&server)).expect("connect")).collect();
    let started = Instant::now();
    for _ in 0..20 {
        let (status, _) = server.get("/version");
        assert_eq!(status, 200);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "20 requests beside 400 idle connections took {took:?}");
    drop(idle);
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn a_body_over_1_mib_gets_413_over_real_http() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    let body = format!("{{\"id\": \"d1\", \"project_id\": \"{}\"}}", "x".repeat(1024 * 1024 + 1));
    let reply = reqwest::blocking::Client::new()
        .post(format!("{}/deployments", server.base))
        .bearer_auth(crate::binary::TOKEN)
        .body(body)
        .send()
        .expect("answer");
    assert_eq!(reply.status(), 413);
    let error: serde_json::Value = reply.json().expect("json");
    assert_eq!(error["code"], "payload_too_large");
    assert_eq!(server.get("/health").0, 200, "the server goes on");
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

/// The requests hyper answers itself, before the application sees them,
/// get the same JSON error shape as everything else: a request line over
/// 64 KiB, too many or too large header fields, bytes that are not HTTP.
#[test]
fn the_errors_hyper_answers_itself_carry_the_json_error_shape() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(command(&dir.path().join("em.db")));
    let many: String = (0..150).map(|i| format!("X-Header-{i}: v\r\n")).collect();
    let cases = [
        (format!("GET /deployments?{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)), "414"),
        (format!("GET /deployments HTTP/1.1\r\nHost: x\r\n{many}\r\n"), "431"),
        ("NOT HTTP AT ALL\r\n\r\n".to_string(), "400"),
        ("GET /health HTTP/1.1\r\nHost x\r\n\r\n".to_string(), "400"),
    ];
    for (request, status) in cases {
        let mut stream = TcpStream::connect(address(&server)).expect("connect");
        stream.write_all(request.as_bytes()).expect("write");
        let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10));
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: application/json"), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{status}: {e}: {body:?}"));
        assert_eq!(json["code"], "bad_request", "{json}");
        assert!(json["error"].as_str().is_some_and(|e| !e.is_empty()), "{json}");
    }
    // Everything else is untouched: two requests on one kept-alive connection.
    let mut stream = TcpStream::connect(address(&server)).expect("connect");
    stream
        .write_all(
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert_eq!(answer.matches(r#"{"ok":true}"#).count(), 2, "{answer}");
    assert_eq!(server.stop().0, Some(0));
}
