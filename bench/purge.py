#!/usr/bin/env python3
"""The retention purge on a million old deployments, with writes going on.

usage: bench/purge.py [OLD]   (default 1,000,000)

Builds the release binary's schema in a fresh database, fills it with OLD
deployments (one a minute, all older than the retention, each with one
change), starts
the release server with EM_METRICS_RETENTION=730d on 127.0.0.1, and while
the purge at start deletes them, 4 threads post new deployments. Prints how
long the purge took, its longest batch (what it held the writer for), and
the writes' latencies during it. Standard library only; stops the server
when done.
"""
import http.client
import json
import os
import pathlib
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = ROOT / "target/release/em-metrics"
TOKEN = "bench-purge-token"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(db, old):
    subprocess.run([BIN, "demo", "--days", "1", "--projects", "1", "--teams", "1", "--sqlite-db", db],
                   check=True, capture_output=True)
    # One a minute, all of them older than the 730-day retention.
    start = int(time.time() * 1000) - 731 * 86_400_000 - old * 60_000
    conn = sqlite3.connect(db)
    conn.executescript(f"""
        BEGIN;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {old})
        INSERT INTO deployments (id, project_id, team_id, environment, status, first_commit_at,
                                 deploy_start_at, deployed_at, created_at, updated_at, change_count)
        SELECT 'old-' || i, 'p' || (i % 50), 't' || (i % 10), 'production', 'deployed',
               {start} + i * 60000 - 3600000, {start} + i * 60000, {start} + i * 60000 + 300000,
               {start}, {start}, 1 FROM n;
        INSERT INTO changes (deployment_id, sha, project_id, team_id, environment, committed_at, deployed_at,
                             lead_time_ms)
        SELECT id, NULL, project_id, team_id, environment, first_commit_at, deployed_at, deployed_at - first_commit_at
        FROM deployments WHERE id LIKE 'old-%';
        COMMIT;""")
    conn.close()


def main():
    old = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as work:
        db = os.path.join(work, "purge.db")
        began = time.time()
        fill(db, old)
        print(f"filled {old:,} old deployments in {time.time() - began:.1f} s")
        port = free_port()
        env = {"HOST": "127.0.0.1", "PORT": str(port), "SQLITE_DB": db, "EM_METRICS_TOKEN_AUTH": TOKEN,
               "EM_METRICS_RETENTION": "730d", "RUST_LOG": "info", "PATH": os.environ["PATH"]}
        server = subprocess.Popen([BIN], env=env, stderr=subprocess.PIPE, text=True)
        try:
            lines = iter(server.stderr.readline, "")
            for line in lines:
                if "ready on" in line:
                    break
            stop, latencies = threading.Event(), []

            def writer(w):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                n = 0
                while not stop.is_set():
                    n += 1
                    body = json.dumps({"id": f"new-{w}-{n}", "project_id": "api",
                                       "first_commit_at": "2024-05-01T08:00:00Z"})
                    began = time.perf_counter()
                    conn.request("POST", "/deployments", body, {"Authorization": f"Bearer {TOKEN}"})
                    reply = conn.getresponse()
                    reply.read()
                    latencies.append(time.perf_counter() - began)
                    assert reply.status == 201, reply.status

            threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
            for t in threads:
                t.start()
            for line in lines:
                if "retention: deleted" in line:
                    break
            stop.set()
            for t in threads:
                t.join()
        finally:
            server.terminate()
            server.wait(timeout=30)
        latencies.sort()
        fields = dict(re.findall(r"(\w+)=(\d+)", line))
        ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
        print(f"purge: {fields.get('deployments')} deployments, {fields.get('changes')} changes in "
              f"{int(fields.get('elapsed_ms', 0)) / 1000:.1f} s; longest batch {fields.get('longest_batch_ms')} ms")
        print(f"{len(latencies)} writes during the purge: median {ms(latencies[len(latencies) // 2])}, "
              f"p99 {ms(latencies[len(latencies) * 99 // 100])}, max {ms(latencies[-1])}")


if __name__ == "__main__":
    main()
