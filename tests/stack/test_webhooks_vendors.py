"""Native webhooks with the vendors' own tools, against the real binary.

GitHub: the example payloads of npm @octokit/webhooks-examples, signed by
GitHub's signer (@octokit/webhooks-methods), changing only ids, shas and
times. incident.io: payloads built with the official PyPI `incident-io`
models and signed with the official Standard Webhooks library (PyPI
`standardwebhooks`), including a stale timestamp and a rotated secret.
"""
import ast
import base64
import copy
import datetime
import json
import os
import re
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import ROOT, em_metrics, http

TOKEN = "webhook-stack-token-2b7"
GITHUB_SECRET = "github-stack-secret-5e0"
INCIDENT_IO_SECRET = "whsec_" + base64.b64encode(b"incident-io-stack-secret-32bytes").decode()
NODE_DIR = ROOT / "tests/stack/webhooks"
REQUIRED = os.environ.get("EM_METRICS_REQUIRE_TOOLS") == "1"


def need(ok, what):
    if not ok:
        if REQUIRED:
            pytest.fail(f"{what} is missing and EM_METRICS_REQUIRE_TOOLS=1 (scripts/test.sh installs it)")
        pytest.skip(f"{what} is missing (scripts/test.sh installs it)")


@pytest.fixture()
def service(tmp_path):
    env = {"EM_METRICS_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET, "EM_METRICS_INCIDENT_IO_WEBHOOK_SECRET": INCIDENT_IO_SECRET}
    with em_metrics(tmp_path, TOKEN, env) as running:
        yield running


def post(url, body_text, headers):
    request = urllib.request.Request(url, data=body_text.encode(), method="POST")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# --- GitHub -----------------------------------------------------------------

def github_examples():
    index = NODE_DIR / "node_modules/@octokit/webhooks-examples/api.github.com/index.json"
    need(index.exists(), "npm @octokit/webhooks-examples")
    return {e["name"]: e["examples"] for e in json.loads(index.read_text())}


def github_sign(secret, text):
    out = subprocess.run(["node", "sign-github.mjs", secret], cwd=NODE_DIR, input=text,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def github(url, event, delivery, payload, secret=GITHUB_SECRET, text=None):
    text = text if text is not None else json.dumps(payload)
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": github_sign(secret, json.dumps(payload)),
               "Content-Type": "application/json"}
    return post(f"{url}/webhooks/github", text, headers)


def test_github_examples_signed_by_octokit_make_a_deployment_with_its_pushed_commit(service):
    url, log = service
    examples = github_examples()
    ping = examples["ping"][0]
    push = copy.deepcopy(next(p for p in examples["push"] if p["ref"].startswith("refs/heads/") and p["commits"]))
    deployment = copy.deepcopy(examples["deployment"][0])
    success = copy.deepcopy(next(s for s in examples["deployment_status"]
                                 if s["deployment_status"]["state"] == "success"))
    # The story: the pushed commit (09:00) is what deployment 5001 runs,
    # created 10:00 and successful 10:30, so its change's lead time is 5400 s.
    sha = push["commits"][0]["id"]
    push["commits"][0]["timestamp"] = "2024-05-01T09:00:00Z"
    for event in (deployment, success):
        event["deployment"].update(id=5001, sha=sha, environment="production", created_at="2024-05-01T10:00:00Z")
    success["deployment_status"]["created_at"] = "2024-05-01T10:30:00Z"
    repo = push["repository"]["name"]

    assert github(url, "ping", "g-0", ping) == (200, {"ping": "pong"})
    status, body = github(url, "push", "g-1", push)
    assert (status, body["known_commits"]["commits"]) == (200, 1), body
    status, body = github(url, "deployment", "g-2", deployment)
    assert status == 201, body
    assert body["deployment"]["id"] == "github-5001" and body["deployment"]["project_id"] == repo
    status, body = github(url, "deployment_status", "g-3", success)
    assert status == 200, body
    assert body["deployment"]["change_count"] == 1 and body["deployment"]["status"] == "deployed", body
    # A redelivery (GitHub's "Redeliver" button keeps the delivery id).
    assert github(url, "deployment_status", "g-3", success) == (200, {"duplicate": True})

    tampered = json.dumps(success).replace("production", "staging")
    assert github(url, "deployment_status", "g-4", success, text=tampered)[0] == 401
    assert github(url, "deployment_status", "g-5", success, secret="not-the-secret")[0] == 401

    _, report = http("GET", f"{url}/dora?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z&project_id={repo}",
                     token=TOKEN)
    assert report["deployment_frequency"]["deployments"] == 1
    assert report["lead_time_for_changes"]["samples"] == 1
    assert report["lead_time_for_changes"]["median_seconds"] == 5400
    text = log.read_text()
    assert text.count("webhook delivery refused") == 2, text
    assert GITHUB_SECRET not in text


def test_github_pull_request_examples_follow_a_pull_request_to_its_production_deployment(service):
    """octokit's pull_request and pull_request_review examples, changed only
    in numbers, shas and times: its head branch pushed (octokit's push
    example), a draft opened, made ready, reviewed by its
    author (not counted) and by another, merged, then shipped to production;
    a review that arrives before its pull request was opened creates it."""
    url, _ = service
    examples = github_examples()
    pick = lambda name, action: copy.deepcopy(next(e for e in examples[name] if e["action"] == action))
    opened, ready, closed = pick("pull_request", "opened"), pick("pull_request", "ready_for_review"), None
    closed = copy.deepcopy(next(e for e in examples["pull_request"] if e["action"] == "closed"))
    review = pick("pull_request_review", "submitted")
    repo = opened["repository"]["name"]
    author = opened["pull_request"]["user"]["login"]
    for event in (opened, ready, closed, review):
        event["repository"] = copy.deepcopy(opened["repository"])
        event["pull_request"].update(number=41, created_at="2024-05-01T10:00:00Z", user={"login": author})
    opened["pull_request"]["draft"] = True
    ready["pull_request"]["updated_at"] = "2024-05-01T11:00:00Z"
    closed["pull_request"].update(merged=True, merged_at="2024-05-01T14:00:00Z", merge_commit_sha="f00d41",
                                  additions=12, deletions=3, closed_at="2024-05-01T14:00:00Z")
    own = copy.deepcopy(review)
    own["review"].update(state="approved", submitted_at="2024-05-01T11:30:00Z", user={"login": author})
    review["review"].update(state="approved", submitted_at="2024-05-01T12:00:00Z", user={"login": "reviewer-7"})

    # Its head branch's commits were pushed before it was opened: the earliest at 08:00.
    push = copy.deepcopy(next(p for p in examples["push"] if p["ref"].startswith("refs/heads/") and p["commits"]))
    push["ref"] = "refs/heads/" + opened["pull_request"]["head"]["ref"]
    push["repository"].update(name=repo, full_name=opened["repository"]["full_name"])
    push["commits"][0]["timestamp"] = "2024-05-01T08:00:00Z"
    status, body = github(url, "push", "pr-0", push)
    assert (status, body["known_commits"]["commits"]) == (200, 1), body

    status, body = github(url, "pull_request", "pr-1", opened)
    assert status == 201, body
    assert body["pull_request"]["id"] == f"{repo}#41" and body["pull_request"]["ready_at"] is None, body
    assert body["pull_request"]["first_commit_at"] == "2024-05-01T08:00:00.000Z", body
    assert github(url, "pull_request", "pr-1", opened) == (200, {"duplicate": True})
    assert github(url, "pull_request", "pr-2", ready)[1]["pull_request"]["ready_at"] == "2024-05-01T11:00:00.000Z"
    assert github(url, "pull_request_review", "pr-3", own)[1]["pull_request"]["reviews"] == 0
    assert github(url, "pull_request_review", "pr-4", review)[1]["pull_request"]["reviews"] == 1
    status, body = github(url, "pull_request", "pr-5", closed)
    assert status == 200 and body["pull_request"]["state"] == "merged", body
    status, _ = http("POST", f"{url}/deployments", {"id": "prod-41", "project_id": repo, "commit_sha": "f00d41",
                     "first_commit_at": "2024-05-01T09:00:00Z", "deployed_at": "2024-05-01T15:00:00Z"}, TOKEN)
    assert status == 201
    status, pr = http("GET", f"{url}/pull-requests/{repo}%2341", token=TOKEN)
    assert status == 200, pr
    assert (pr["coding_seconds"], pr["pickup_seconds"], pr["review_seconds"]) == (3 * 3600, 3600, 7200), pr
    assert (pr["deploy_seconds"], pr["cycle_seconds"]) == (3600, 7 * 3600), pr
    assert (pr["additions"], pr["deployment_id"]) == (12, "prod-41"), pr

    # Out of order: a review of pull request 42 before any delivery opened it.
    early = copy.deepcopy(review)
    early["pull_request"].update(number=42, created_at="2024-05-02T10:00:00Z")
    early["review"]["submitted_at"] = "2024-05-02T10:30:00Z"
    status, body = github(url, "pull_request_review", "pr-6", early)
    assert status == 201 and body["pull_request"]["first_review_at"] == "2024-05-02T10:30:00.000Z", body


# --- incident.io ------------------------------------------------------------

def incident_io_payload(category, updated_at):
    """The created_v2 event model's own example, changed to this story and
    passed through the model (from_dict / to_dict) so its shape is checked."""
    try:
        from incident_io.models.webhooks_public_incident_incident_created_v2_response_body import (
            WebhooksPublicIncidentIncidentCreatedV2ResponseBody as Model)
    except ImportError:
        need(False, "PyPI incident-io")
    example = re.search(r"Example:\n(.*?)\n\s*Attributes:", Model.__doc__, re.S).group(1)
    data = ast.literal_eval(" ".join(line.strip() for line in example.strip().splitlines()))
    incident = data["public_incident.incident_created_v2"]
    incident.update(id="01HQSTACK", name="Checkout is failing", mode="standard",
                    created_at="2024-05-01T09:40:00Z", updated_at=updated_at)
    incident["incident_status"]["category"] = category
    incident["incident_timestamp_values"][0]["value"]["value"] = "2024-05-01T09:30:00Z"
    incident["custom_field_entries"][0]["custom_field"]["name"] = "Affected service"
    incident["custom_field_entries"][0]["values"] = [{"value_text": "checkout"}]
    return Model.from_dict(data).to_dict()


def incident_io(url, msg_id, payload, secrets=(INCIDENT_IO_SECRET,), at=None):
    try:
        from standardwebhooks.webhooks import Webhook
    except ImportError:
        need(False, "PyPI standardwebhooks")
    text = json.dumps(payload)
    at = at or datetime.datetime.now(tz=datetime.timezone.utc)
    signatures = " ".join(Webhook(secret).sign(msg_id, at, text) for secret in secrets)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
               "webhook-signature": signatures, "Content-Type": "application/json"}
    return post(f"{url}/webhooks/incident-io", text, headers)


def test_incident_io_models_signed_by_standard_webhooks_open_restore_and_close_an_incident(service):
    url, _ = service
    status, body = http("POST", f"{url}/deployments", {
        "id": "co-1", "project_id": "checkout", "environment": "production",
        "first_commit_at": "2024-05-01T08:00:00Z", "deployed_at": "2024-05-01T09:00:00Z"}, token=TOKEN)
    assert status == 201, body

    stale = datetime.datetime.now(tz=datetime.timezone.utc) - datetime.timedelta(minutes=6)
    assert incident_io(url, "msg_stale", incident_io_payload("live", "2024-05-01T09:40:00Z"), at=stale)[0] == 401

    status, body = incident_io(url, "msg_1", incident_io_payload("live", "2024-05-01T09:40:00Z"))
    assert status == 201, body
    assert body["incident"]["id"] == "incident-io-01HQSTACK"
    assert body["incident"]["deployment_id"] == "co-1"
    assert body["incident"]["started_at"] == "2024-05-01T09:30:00.000Z"
    assert incident_io(url, "msg_1", incident_io_payload("live", "2024-05-01T09:40:00Z")) == (200, {"duplicate": True})

    # A rotated secret: the sender signs with the old and the new one.
    old = "whsec_" + base64.b64encode(b"the-previous-secret-of-32-bytes!").decode()
    status, body = incident_io(url, "msg_2", incident_io_payload("learning", "2024-05-01T10:00:00Z"),
                               secrets=(old, INCIDENT_IO_SECRET))
    assert (status, body["incident"]["status"]) == (200, "restored"), body
    assert incident_io(url, "msg_3", incident_io_payload("learning", "2024-05-01T10:00:00Z"), secrets=(old,))[0] == 401
    status, body = incident_io(url, "msg_4", incident_io_payload("closed", "2024-05-01T11:00:00Z"))
    assert (status, body["incident"]["status"]) == (200, "finished"), body

    _, report = http("GET", f"{url}/dora?from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z", token=TOKEN)
    assert report["time_to_restore"]["median_seconds"] == 1800
    assert report["failed_deployment_recovery_time"]["median_seconds"] == 3600
    assert report["change_failure_rate"]["change_failures"] == 1
