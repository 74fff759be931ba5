"""tf/ parses with python-hcl2, holds what the issue asks for, and passes checkov.

checkov's Terraform checks of pod specs (probes, security context,
resources, ...) cover Deployments and Pods but not StatefulSets, so on tf/
only its generic checks apply. The security properties the issue lists are
therefore also asserted here, directly on the parsed HCL.

checkov runs from its own virtualenv (tests/stack/.venv-checkov, made by
scripts/test.sh): it depends on bc-python-hcl2, a fork that installs the
same `hcl2` module as python-hcl2 and would replace it.
"""
import json
import os
import pathlib
import re
import subprocess

import hcl2

from conftest import ROOT

TF = ROOT / "tf"
CHECKOV = pathlib.Path(os.environ.get("CHECKOV", ROOT / "tests/stack/.venv-checkov/bin/checkov"))


def plain(value):
    """python-hcl2 8 keeps HCL's quotes and marks blocks; strip both."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load():
    merged = {"resource": {}, "variable": {}, "output": {}}
    for path in sorted(TF.glob("*.tf")):
        with path.open() as f:
            doc = plain(hcl2.load(f))
        for kind in merged:
            for entry in doc.get(kind, []):
                for key, body in entry.items():
                    if kind == "resource":
                        for name, resource in body.items():
                            merged[kind][f"{key}.{name}"] = resource
                    else:
                        merged[kind][key] = body
    return merged


def one(block_list):
    assert isinstance(block_list, list) and len(block_list) == 1, block_list
    return block_list[0]


def test_the_resources_variables_and_outputs_are_there():
    tf = load()
    for resource in ("kubernetes_namespace_v1.this", "kubernetes_stateful_set_v1.this", "kubernetes_service_v1.this",
                     "kubernetes_config_map_v1.teams", "kubernetes_secret_v1.token"):
        assert resource in tf["resource"], f"missing {resource}"
    for variable in ("image", "environment", "collector_url", "storage_class", "storage_size", "token"):
        assert variable in tf["variable"], f"missing variable {variable}"
    assert tf["variable"]["token"].get("sensitive") is True
    assert {"namespace", "service_url"} <= set(tf["output"])


def test_sqlite_lives_on_a_claim_of_a_single_replica():
    spec = one(load()["resource"]["kubernetes_stateful_set_v1.this"]["spec"])
    assert spec["replicas"] == 1, "SQLite has one writer"
    claim = one(one(spec["volume_claim_template"])["spec"])
    assert claim["storage_class_name"] == "${var.storage_class}"
    assert one(claim["resources"])["requests"]["storage"] == "${var.storage_size}"


def test_the_container_is_probed_limited_and_locked_down():
    tf = load()
    pod = one(one(one(tf["resource"]["kubernetes_stateful_set_v1.this"]["spec"])["template"])["spec"])
    container = one(pod["container"])
    assert container["image"] == "${var.image}"
    assert one(one(container["liveness_probe"])["http_get"])["path"] == "/health"
    assert one(one(container["readiness_probe"])["http_get"])["path"] == "/ready"
    resources = one(container["resources"])
    assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])
    security = one(container["security_context"])
    assert security["run_as_non_root"] is True
    assert security["read_only_root_filesystem"] is True
    assert security["allow_privilege_escalation"] is False
    assert one(security["capabilities"])["drop"] == ["ALL"]
    assert one(pod["security_context"])["run_as_non_root"] is True
    env = {e["name"]: e for e in container["env"]}
    token_ref = one(one(env["EM_METRICS_TOKEN_AUTH"]["value_from"])["secret_key_ref"])
    assert token_ref["name"].startswith("${kubernetes_secret_v1.token")
    assert env["SQLITE_DB"]["value"].startswith("${local.data_dir}")
    # Single sign-on passes through: the client secret from the Secret, the rest from variables.
    oidc_ref = one(one(env["EM_METRICS_OIDC_CLIENT_SECRET"]["value_from"])["secret_key_ref"])
    assert oidc_ref["name"].startswith("${kubernetes_secret_v1.token") and oidc_ref["key"] == "oidc_client_secret"
    assert tf["variable"]["oidc_client_secret"].get("sensitive") is True
    assert tf["resource"]["kubernetes_secret_v1.token"]["data"]["oidc_client_secret"] == "${var.oidc_client_secret}"
    for name, variable in [("EM_METRICS_PUBLIC_URL", "public_url"), ("EM_METRICS_OIDC_ISSUER", "oidc_issuer"),
                           ("EM_METRICS_OIDC_CLIENT_ID", "oidc_client_id"),
                           ("EM_METRICS_OIDC_GROUPS_CLAIM", "oidc_groups_claim")]:
        assert env[name]["value"] == f"${{var.{variable}}}", name
    for name, variable in [("EM_METRICS_OIDC_READ_GROUPS", "oidc_read_groups"),
                           ("EM_METRICS_OIDC_ADMIN_GROUPS", "oidc_admin_groups"),
                           ("EM_METRICS_TRUSTED_PROXIES", "trusted_proxies")]:
        assert variable in env[name]["value"], name
    assert {m["mount_path"] for m in container["volume_mount"]} >= {"${local.data_dir}", "/config"}


def test_checkov_finds_no_failed_check():
    assert CHECKOV.exists(), f"{CHECKOV} missing: scripts/test.sh installs checkov in its own virtualenv"
    result = subprocess.run(
        [str(CHECKOV), "-d", str(TF), "--framework", "terraform", "--skip-download", "--output", "json"],
        capture_output=True, text=True, cwd=ROOT)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    passed = [c for r in reports for c in r.get("results", {}).get("passed_checks", [])]
    skipped = [c for r in reports for c in r.get("results", {}).get("skipped_checks", [])]
    assert not failed, json.dumps([(c["check_id"], c["resource"], c["check_name"]) for c in failed], indent=1)
    summaries = [r["summary"] for r in reports]
    assert sum(s["passed"] for s in summaries) == len(passed) > 0, "checkov ran no check"
    assert sum(s["parsing_errors"] for s in summaries) == 0, summaries
    sources = "\n".join(p.read_text() for p in TF.glob("*.tf"))
    for check in skipped:
        reason = re.search(rf"#checkov:skip={check['check_id']}:(.+)", sources)
        assert reason and reason.group(1).strip(), f"{check['check_id']} skipped without a reason"


def test_the_litestream_sidecar_is_off_by_default_and_replicates_the_database_when_set():
    tf = load()
    variable = tf["variable"]["litestream_replica_url"]
    assert variable["default"] == "", "off unless a replica URL is given"
    assert tf["variable"]["litestream_image"]["default"].startswith("litestream/litestream:0."), "a pinned image"
    pod = one(one(one(tf["resource"]["kubernetes_stateful_set_v1.this"]["spec"])["template"])["spec"])
    dynamic = {name: block for entry in pod["dynamic"] for name, block in entry.items()}
    for name, verb in [("container", "replicate"), ("init_container", "restore")]:
        block = dynamic[name]
        assert block["for_each"] == '${var.litestream_replica_url == "" ? [] : [1]}', block["for_each"]
        content = one(block["content"])
        assert content["args"][0] == verb and content["args"][-1] == "${var.litestream_replica_url}"
        assert "${local.data_dir}/em-metrics.db" in content["args"]
        security = one(content["security_context"])
        assert security["run_as_non_root"] is True and security["read_only_root_filesystem"] is True
        assert one(content["resources"])["limits"], name
        assert one(content["volume_mount"])["mount_path"] == "${local.data_dir}"


def test_with_a_database_url_it_is_a_deployment_of_replicas_without_a_volume():
    tf = load()
    url = tf["variable"]["database_url"]
    assert url["default"] == "" and url.get("sensitive") is True, "SQLite unless set; never shown in a plan"
    assert tf["variable"]["replicas"]["default"] == 2
    assert tf["resource"]["kubernetes_secret_v1.token"]["data"]["database_url"] == "${var.database_url}"
    # One form or the other, never both.
    assert tf["resource"]["kubernetes_stateful_set_v1.this"]["count"] == "${local.postgres ? 0 : 1}"
    deployment = tf["resource"]["kubernetes_deployment_v1.postgres"]
    assert deployment["count"] == "${local.postgres ? 1 : 0}"
    spec = one(deployment["spec"])
    assert spec["replicas"] == "${var.replicas}"
    strategy = one(spec["strategy"])
    assert strategy["type"] == "RollingUpdate" and one(strategy["rolling_update"])["max_unavailable"] == "0"
    assert "volume_claim_template" not in spec
    pod = one(one(spec["template"])["spec"])
    assert [v["name"] for v in pod["volume"]] == ["teams"], "no data volume: the pods keep nothing"
    container = one(pod["container"])
    assert [m["mount_path"] for m in container["volume_mount"]] == ["/config"]
    assert one(one(container["readiness_probe"])["http_get"])["path"] == "/ready"
    security = one(container["security_context"])
    assert security["read_only_root_filesystem"] is True and one(security["capabilities"])["drop"] == ["ALL"]
    dynamic = [block for entry in container["dynamic"] for name, block in entry.items() if name == "env"]
    assert [d["for_each"] for d in dynamic] == ["${local.postgres_env}", "${local.postgres_secret_env}"]
    sources = (TF / "postgres.tf").read_text()
    assert 'DATABASE_URL                  = "database_url"' in sources, "the URL comes from the Secret"
    assert "SQLITE_DB" not in sources
    budget = tf["resource"]["kubernetes_pod_disruption_budget_v1.postgres"]
    assert budget["count"] == "${local.postgres ? 1 : 0}"
    assert one(one(budget["spec"])["selector"])["match_labels"] == "${local.labels}"
