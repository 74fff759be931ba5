"""The command lines of docs/operations.md, run as pasted (only /data and
/backups moved into a temporary folder) against a database the release
binary wrote: the backup, and renaming an environment."""
import os
import re
import sqlite3
import subprocess

from conftest import ROOT, em_metrics, http

TOKEN = "readme-backup-token-9e3"


def snippet(heading):
    """The first shell block under `heading` in docs/operations.md."""
    doc = (ROOT / "docs/operations.md").read_text()
    section = doc.split(heading, 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def run(script, data, backups=None):
    script = script.replace("/data/", f"{data}/")
    if backups:
        script = script.replace("/backups/", f"{backups}/")
    binary = os.path.dirname(os.environ.get("EM_METRICS_RELEASE_BIN", str(ROOT / "target/release/em-metrics")))
    env = dict(os.environ, PATH=f"{binary}:{os.environ['PATH']}")
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_backup_line_copies_the_database(tmp_path):
    data, backups = tmp_path / "data", tmp_path / "backups"
    data.mkdir()
    backups.mkdir()
    with em_metrics(data, TOKEN, env={"SQLITE_DB": str(data / "em-metrics.db")}, release=True) as (base, _):
        body = {"id": "run-1", "project_id": "api", "first_commit_at": 1714550400, "deployed_at": 1714557600}
        assert http("POST", f"{base}/deployments", body, token=TOKEN)[0] == 201
        out = run(snippet("## Backups and replicas"), data, backups)
        assert "integrity ok" in out, out
    (copy,) = list(backups.iterdir())
    assert re.fullmatch(r"em-metrics-\d{4}-\d{2}-\d{2}\.db", copy.name), copy.name
    assert sqlite3.connect(copy).execute("SELECT id FROM deployments").fetchall() == [("run-1",)]


def test_the_rename_line_moves_no_env_into_production_while_the_server_runs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    with em_metrics(data, TOKEN, env={"SQLITE_DB": str(data / "em-metrics.db")}, release=True) as (base, _):
        for env in ("NO_ENV", "production"):
            body = {"id": f"run-{env}", "project_id": "api", "environment": env,
                    "first_commit_at": 1714550400, "deployed_at": 1714557600}
            assert http("POST", f"{base}/deployments", body, token=TOKEN)[0] == 201
        query = "/dora?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z"
        assert http("GET", f"{base}{query}", token=TOKEN)[1]["deployment_frequency"]["deployments"] == 1
        out = run(snippet("## Renaming an environment"), data)
        assert "1 deployments" in out, out
        status, moved = http("GET", f"{base}/deployments/run-NO_ENV", token=TOKEN)
        assert status == 200 and moved["environment"] == "production", moved
        assert http("GET", f"{base}{query}", token=TOKEN)[1]["deployment_frequency"]["deployments"] == 2
