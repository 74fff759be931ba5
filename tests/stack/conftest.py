"""Helpers for the stack checks: free ports, JSON over HTTP, waiting, the binary."""
import contextlib
import json
import os
import pathlib
import socket
import subprocess
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as e:
        return e.code, _decode(e.read())


def _decode(body):
    """JSON when it is JSON (em-metrics, the Prometheus API), else the text."""
    try:
        return json.loads(body or b"null")
    except ValueError:
        return body.decode(errors="replace")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def binary_path(release=False):
    """The em-metrics binary the stack checks run, built when missing."""
    variable, build = ("EM_METRICS_RELEASE_BIN", ["--release"]) if release else ("EM_METRICS_BIN", [])
    binary = os.environ.get(variable, str(ROOT / ("target/release/em-metrics" if release else "target/debug/em-metrics")))
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--quiet", *build], cwd=ROOT, check=True)
    return binary


def make_token(folder, name, role, *projects):
    """`em-metrics token create` on the database of em_metrics(folder): its secret."""
    args = [binary_path(), "token", "create", "--name", name, "--role", role]
    for p in projects:
        args += ["--project", p]
    env = {"SQLITE_DB": str(pathlib.Path(folder) / "em.db"), "PATH": os.environ["PATH"]}
    return subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout.strip()


@contextlib.contextmanager
def em_metrics(folder, token, env=None, release=False, port=None):
    """The real binary on a free loopback port (or `port`) with a fresh
    database in `folder`, until the block ends; yields (base URL, log file)."""
    binary = binary_path(release)
    port = port or free_port()
    log = pathlib.Path(folder) / "em.log"
    full_env = {"HOST": "127.0.0.1", "PORT": str(port), "SQLITE_DB": str(pathlib.Path(folder) / "em.db"),
                "EM_METRICS_TOKEN_AUTH": token, "RUST_LOG": "warn", "PATH": os.environ["PATH"], **(env or {})}
    with open(log, "w") as out:
        proc = subprocess.Popen([binary], env=full_env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http("GET", f"{base}/ready")[0] == 200, 30, "em-metrics ready")
        yield base, log
    finally:
        proc.terminate()
        proc.wait(15)
