"""The OpenAPI document the binary serves is valid and says what the API does.

openapi-spec-validator (PyPI) checks it against the OpenAPI 3.1 schema; the
rest are the properties clients and schemathesis rely on: every $ref
resolves, operationIds are unique, every protected operation documents 401
and 403, both servers are listed, and times take both forms.
"""
import json
import os
import re
import subprocess

import pytest
from openapi_spec_validator import validate

from conftest import ROOT, free_port, http, wait_until

SIGNED = {"/webhooks/github", "/webhooks/gitlab", "/webhooks/pagerduty", "/webhooks/incident-io"}
OPEN = {"/health", "/ready"}


def dangling_refs(document):
    """The schema names $refs point to that the document does not define."""
    refs = set(re.findall(r'"\$ref":\s*"#/components/schemas/([^"]+)"', json.dumps(document)))
    return refs - set(document.get("components", {}).get("schemas", {}))


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("openapi")
    binary = os.environ.get("EM_METRICS_BIN", str(ROOT / "target/debug/em-metrics"))
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port), "SQLITE_DB": str(tmp / "em.db"),
           "EM_METRICS_TOKEN_AUTH": "openapi-token", "PATH": os.environ["PATH"]}
    proc = subprocess.Popen([binary], env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: http("GET", f"http://127.0.0.1:{port}/ready")[0] == 200, 30, "em-metrics ready")
        status, body = http("GET", f"http://127.0.0.1:{port}/openapi.json", token="openapi-token")
        assert status == 200, body
        return body
    finally:
        proc.terminate()
        proc.wait(10)


def operations(document):
    for path, item in document["paths"].items():
        for method, op in item.items():
            yield path, method, op


def test_the_document_passes_the_openapi_validator(document):
    validate(document)


def test_every_reference_resolves_and_every_operation_id_is_unique(document):
    assert dangling_refs(document) == set()
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_protected_operations_document_401_and_403_and_open_ones_need_no_credentials(document):
    for path, method, op in operations(document):
        if path in OPEN:
            assert op.get("security") == [], f"{method} {path}"
        elif path in SIGNED:
            # Signed by the sender instead: a bad signature is 401, and the
            # API's credentials play no part (no 403).
            assert op.get("security") == [], f"{method} {path}"
            assert "401" in op["responses"] and "403" not in op["responses"], f"{method} {path}"
        else:
            assert {"401", "403"} <= set(op["responses"]), f"{method} {path}: {sorted(op['responses'])}"


def test_servers_and_time_parameters(document):
    assert [s["url"] for s in document["servers"]] == ["/", "/api/v1"]
    times = [p for _, _, op in operations(document) for p in op.get("parameters", []) if p["name"] in ("from", "to")]
    assert times
    for p in times:
        forms = {s.get("type") for s in p["schema"]["oneOf"]}
        assert forms == {"string", "integer"}, p
