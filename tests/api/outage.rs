//! A collector that is down, then slow, then back, under API load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::binary::{command, Server, TOKEN};
use crate::receiver::{serve_http_abortable, Catalog};

const REQUESTS: usize = 1500;
const CONCURRENCY: usize = 8;

/// Posts REQUESTS new deployments from CONCURRENCY tasks; returns the mean and
/// p99 latency. Every request must succeed.
async fn load(base: &str, phase: &str) -> (Duration, Duration) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let mut tasks = Vec::new();
    for worker in 0..CONCURRENCY {
        let (client, base, phase) = (client.clone(), base.to_string(), phase.to_string());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for n in 0..REQUESTS / CONCURRENCY {
                let body = json!({"id": format!("{phase}-{worker}-{n}"), "project_id": "api",
                                  "first_commit_at": 1714550400, "deployed_at": 1714557600});
                let started = Instant::now();
                let reply = client
                    .post(format!("{base}/deployments"))
                    .bearer_auth(TOKEN)
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{phase}: request failed: {e}"));
                assert_eq!(reply.status(), 201, "{phase}");
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    all.sort();
    let mean = all.iter().sum::<Duration>() / all.len() as u32;
    (mean, all[all.len() * 99 / 100])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_collector_down_slow_and_back_costs_the_api_nothing_and_loses_nothing() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (healthy_received, collector) = serve_http_abortable(listener);

    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(&dir.path().join("em.db"));
    cmd.env("OTEL_COLLECTOR_URL", format!("http://{addr}/v1/metrics"))
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "2000");
    let server = tokio::task::spawn_blocking(move || Server::start(cmd)).await.expect("start");
    let base = server.base.clone();

    let healthy = load(&base, "healthy").await;
    assert!(healthy_received.count() > 0, "exports arrived while healthy");

    // Down: the port refuses connections.
    collector.abort();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let down = load(&base, "down").await;

    // Slow: the port accepts and never answers.
    let black_hole = std::net::TcpListener::bind(addr).expect("rebind as a black hole");
    black_hole.set_nonblocking(true).expect("nonblocking");
    let stop = Arc::new(AtomicBool::new(false));
    let held = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match black_hole.accept() {
                    Ok((stream, _)) => kept.push(stream),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => break,
                }
            }
            kept.len()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let slow = load(&base, "slow").await;
    stop.store(true, Ordering::Relaxed);
    let swallowed = held.join().expect("black hole");
    assert!(swallowed > 0, "the exporter never reached the slow collector");

    // Back: a collector listens again on the same port.
    let back = serve_http_abortable(tokio::net::TcpListener::bind(addr).await.expect("rebind")).0;
    let total = 3 * (REQUESTS / CONCURRENCY * CONCURRENCY);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let frequency =
            back.latest().map(|r| Catalog::from(&r).counter("deployment_frequency").values().sum::<i64>()).unwrap_or(0);
        if frequency as usize == total {
            break;
        }
        assert!(Instant::now() < deadline, "after recovery the collector has {frequency} of {total}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    eprintln!("mean / p99 latency: healthy {healthy:?}, collector down {down:?}, collector slow {slow:?}");
    for (phase, (mean, _)) in [("down", down), ("slow", slow)] {
        // Within 2x of the healthy run (plus 1 ms, so scheduler noise on
        // sub-millisecond means cannot decide it).
        assert!(
            mean <= healthy.0 * 2 + Duration::from_millis(1),
            "collector {phase}: mean {mean:?} vs healthy {:?}",
            healthy.0
        );
    }
    let (code, log) = tokio::task::spawn_blocking(move || server.stop()).await.expect("stop");
    assert_eq!(code, Some(0));
    let failures = log.iter().filter(|l| l.contains("OTLP metrics export failed")).count();
    assert!((1..=3).contains(&failures), "export failures are logged once per outage, not per request: {failures}");
}
