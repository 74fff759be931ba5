"""The README's backup line, run as pasted (only /data and /backups moved
into a temporary folder) against a database the release binary wrote."""
import os
import re
import sqlite3
import subprocess

from conftest import ROOT, em_metrics, http

TOKEN = "readme-backup-token-9e3"


def snippet():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Backups and replicas", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_backup_line_copies_the_database(tmp_path):
    data, backups = tmp_path / "data", tmp_path / "backups"
    data.mkdir()
    backups.mkdir()
    with em_metrics(data, TOKEN, env={"SQLITE_DB": str(data / "em-metrics.db")}, release=True) as (base, _):
        body = {"id": "run-1", "project_id": "api", "first_commit_at": 1714550400, "deployed_at": 1714557600}
        assert http("POST", f"{base}/deployments", body, token=TOKEN)[0] == 201
        script = snippet().replace("/data/", f"{data}/").replace("/backups/", f"{backups}/")
        binary = os.path.dirname(os.environ.get("EM_METRICS_RELEASE_BIN", str(ROOT / "target/release/em-metrics")))
        env = dict(os.environ, PATH=f"{binary}:{os.environ['PATH']}")
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "integrity ok" in result.stdout, result.stdout
    (copy,) = list(backups.iterdir())
    assert re.fullmatch(r"em-metrics-\d{4}-\d{2}-\d{2}\.db", copy.name), copy.name
    assert sqlite3.connect(copy).execute("SELECT id FROM deployments").fetchall() == [("run-1",)]
