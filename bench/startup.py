#!/usr/bin/env python3
"""Time from process start to the "ready" log line and to the first 200 of /ready.

usage: startup.py BINARY SQLITE_DB [RUNS]
"""
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def once(binary, db):
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port), "SQLITE_DB": db, "EM_METRICS_TOKEN_AUTH": "bench",
           "RUST_LOG": "info", "PATH": os.environ["PATH"]}
    started = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        if "ready on http://" in line:
            logged = time.perf_counter() - started
            break
    else:
        sys.exit("no ready line")
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.001)
    answered = time.perf_counter() - started
    proc.terminate()
    proc.wait(10)
    return logged * 1000, answered * 1000


def main():
    binary, db = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    results = [once(binary, db) for _ in range(runs)]
    logged = sorted(r[0] for r in results)
    answered = sorted(r[1] for r in results)
    print(f"{db}: ready line median {statistics.median(logged):.1f} ms (max {logged[-1]:.1f}); "
          f"first /ready 200 median {statistics.median(answered):.1f} ms (max {answered[-1]:.1f}); {runs} runs")


if __name__ == "__main__":
    main()
