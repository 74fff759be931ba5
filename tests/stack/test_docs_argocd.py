"""The Argo CD notifications config of docs/pipelines.md, rendered the way
Argo CD would for a made-up application and posted to the real binary as
pasted."""
import json
import re

import pytest
import yaml

from conftest import ROOT, em_metrics, http

TOKEN = "argocd-readme-token-8d3"


def config():
    doc = (ROOT / "docs/pipelines.md").read_text()
    section = doc.split("## Argo CD", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    return yaml.safe_load(block)["data"]


def render(text, app):
    """Argo CD's `{{.app.a.b}}` fields, looked up in `app`."""
    def field(match):
        value = app
        for key in match.group(1).split("."):
            value = value[key]
        return str(value)
    return re.sub(r"\{\{\s*\.app\.([\w.]+)\s*\}\}", field, text)


def app(started, revision="8f2c1e0"):
    return {
        "metadata": {"name": "api"},
        "spec": {"destination": {"namespace": "production"}},
        "status": {"operationState": {
            "startedAt": started, "finishedAt": started.replace(":00:00Z", ":04:00Z"),
            "operation": {"sync": {"revision": revision}}, "syncResult": {"revision": revision}}},
    }


@pytest.fixture()
def service(tmp_path):
    with em_metrics(tmp_path, TOKEN) as (url, _):
        yield url


def send(url, data, template, application):
    service = yaml.safe_load(data["service.webhook.em-metrics"])
    base = service["url"].replace("https://em-metrics.example.com", url)
    headers = {h["name"]: h["value"].replace("$em-metrics-token", TOKEN) for h in service["headers"]}
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    hook = yaml.safe_load(data[f"template.{template}"])["webhook"]["em-metrics"]
    body = json.loads(render(hook["body"], application))
    return http(hook["method"], base + render(hook["path"], application), body, token=TOKEN)


def test_the_argocd_templates_start_deploy_and_fail_deployments_as_pasted(service):
    data = config()
    for trigger, template in [("trigger.on-deployed", "em-metrics-deployed"),
                              ("trigger.on-sync-failed", "em-metrics-sync-failed"),
                              ("trigger.em-metrics-on-sync-running", "em-metrics-sync-running")]:
        assert template in yaml.safe_load(data[trigger])[0]["send"], trigger

    ok = app("2024-05-01T10:00:00Z")
    status, body = send(service, data, "em-metrics-sync-running", ok)
    assert status == 201, body
    status, body = send(service, data, "em-metrics-deployed", ok)
    assert (status, body["status"], body["environment"]) == (200, "deployed", "production"), body
    assert body["commit_sha"] == "8f2c1e0"

    bad = app("2024-05-01T11:00:00Z", revision="9a9a9a9")
    assert send(service, data, "em-metrics-sync-running", bad)[0] == 201
    status, body = send(service, data, "em-metrics-sync-failed", bad)
    assert (status, body["status"]) == (200, "failed"), body

    # on-deployed alone (the running notification was missed) still records it.
    late = app("2024-05-01T12:00:00Z", revision="7b7b7b7")
    status, body = send(service, data, "em-metrics-deployed", late)
    assert (status, body["status"]) == (201, "deployed"), body

    _, report = http("GET", f"{service}/dora?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z", token=TOKEN)
    assert report["deployment_frequency"]["deployments"] == 2
    # Without commits, each sync is one change whose lead time is the sync: 4 minutes.
    assert report["lead_time_for_changes"]["median_seconds"] == 240
