"""The README's first-token lines and the snippets of docs/access.md, run as
written against the real binary."""
import json
import os
import pathlib
import re

import pytest
import yaml

from conftest import ROOT, binary_path, em_metrics, http
from test_readme_pipeline import bash, blocks
from test_terraform import load as load_terraform

TOKEN = "docs-access-admin-token-2b7"


@pytest.fixture()
def server(tmp_path):
    with em_metrics(tmp_path, TOKEN) as (url, _):
        yield url, tmp_path


def cli_env(url, folder):
    """A shell where `em-metrics` is the binary under test, on the server's database."""
    bin_dir = str(pathlib.Path(binary_path()).parent)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SQLITE_DB=str(folder / "em.db"),
                EM_METRICS_URL=url, EM_METRICS_ADMIN_TOKEN=TOKEN)


def test_the_readme_makes_a_first_token_that_ingests_for_its_project_only(server):
    url, folder = server
    block = blocks("## Tokens: who may do what", "sh")[0]
    secret = bash(block + '\necho "$EM_METRICS_TOKEN"', folder, cli_env(url, folder)).strip()
    assert secret.startswith("emm_"), secret
    deployment = {"id": "run-1", "project_id": "api", "first_commit_at": 1714550400, "deployed_at": 1714554000}
    assert http("POST", f"{url}/deployments", deployment, secret)[0] == 201
    other = dict(deployment, id="run-2", project_id="web")
    status, body = http("POST", f"{url}/deployments", other, secret)
    assert (status, body["field"]) == (403, "project_id")
    status, body = http("GET", f"{url}/dora", token=secret)
    assert status == 403 and body["error"] == "this token's role is ingest; GET /dora needs read"


def test_the_readme_exec_lines_name_the_compose_service_and_the_kubernetes_workload():
    readme = (ROOT / "README.md").read_text()
    compose_line = re.search(r"`docker compose exec (\S+) em-metrics token create[^`]*`", readme)
    kubectl_line = re.search(r"`kubectl exec -n (\S+) statefulset/(\S+) -c (\S+) -- em-metrics token create[^`]*`",
                             readme)
    assert compose_line and kubectl_line
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert compose_line.group(1) in compose["services"]
    tf = load_terraform()
    workload = tf["resource"]["kubernetes_stateful_set_v1.this"]
    assert kubectl_line.group(1) == tf["variable"]["namespace"]["default"]
    assert kubectl_line.group(2) == workload["metadata"][0]["name"]
    containers = [c["name"] for c in workload["spec"][0]["template"][0]["spec"][0]["container"]]
    assert kubectl_line.group(3) in containers
    # The image's entrypoint is the binary, on PATH: `em-metrics token` runs in it.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "/usr/local/bin/em-metrics" in dockerfile


def test_the_token_api_snippet_makes_lists_and_revokes(server):
    url, folder = server
    api, cli = blocks("## Tokens", "sh", page="docs/access.md")[:2]
    out = bash(api, folder, cli_env(url, folder))
    made, listed = [json.loads(line) for line in out.splitlines() if line.strip()][:2]
    assert made["name"] == "ci-api" and made["role"] == "ingest" and made["projects"] == ["api"]
    assert made["token"].startswith("emm_") and made["expires_at"]
    assert [t["name"] for t in listed] == ["ci-api"] and "token" not in listed[0]
    assert http("GET", f"{url}/deployments", token=made["token"])[0] == 403, "revoked by the last line"
    out = bash(cli, folder, cli_env(url, folder))
    assert out.startswith("emm_"), out
    assert http("GET", f"{url}/tokens", token=TOKEN)[1] == [], "made, listed and revoked"


def test_the_audit_snippet_lists_a_tokens_writes(server):
    url, folder = server
    created = http("POST", f"{url}/tokens", {"name": "ci-api", "role": "ingest"}, TOKEN)[1]
    deployment = {"id": "run-1", "project_id": "api", "first_commit_at": 1714550400, "deployed_at": 1714554000}
    assert http("POST", f"{url}/deployments", deployment, created["token"])[0] == 201
    out = bash(blocks("## The audit log", "sh", page="docs/access.md")[0], folder, cli_env(url, folder))
    records = json.loads(out)
    assert [(r["actor"], r["method"], r["route"], r["target"], r["status"]) for r in records] == [
        ("ci-api", "POST", "/deployments", "run-1", 201)]
