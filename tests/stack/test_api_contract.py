"""The running release binary against its own OpenAPI document.

- Schemathesis generates requests from /openapi.json (authenticated): no
  response may be a 5xx, and every response must match the document
  (status code, content type, headers, body schema). The positive/negative
  data checks are left out on purpose: the API is lenient where users need
  it (ids sent as numbers, any Content-Type for JSON) and answers 400 for
  rules a schema cannot say (from before to, a deployment of another
  project), exactly as the API contract asks.
- Every route in the document answers 401 without credentials but /health
  and /ready; odd Authorization headers get 401 or 403.
- The token and the basic-auth password never appear in the server's log.

A longer local run: ST_MAX_EXAMPLES=500 python3 -m pytest tests/stack/test_api_contract.py
"""
import os
import pathlib
import subprocess

import pytest

from conftest import ROOT, free_port, http, wait_until
from test_openapi import dangling_refs

TOKEN = "contract-token-9a7f3"
BASIC_USER, BASIC_PASSWORD = "ci-bot", "contract-password-1c55"
SCHEMATHESIS = pathlib.Path(os.environ.get("SCHEMATHESIS", ROOT / "tests/stack/.venv-schemathesis/bin/st"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("contract")
    binary = os.environ.get("EM_METRICS_RELEASE_BIN", str(ROOT / "target/release/em-metrics"))
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    port = free_port()
    log = tmp / "server.log"
    env = {"HOST": "127.0.0.1", "PORT": str(port), "SQLITE_DB": str(tmp / "em.db"), "EM_METRICS_TOKEN_AUTH": TOKEN,
           "EM_METRICS_BASIC_AUTH_USERNAME": BASIC_USER, "EM_METRICS_BASIC_AUTH_PASSWORD": BASIC_PASSWORD,
           # As chatty as it gets, so the log check means something.
           "RUST_LOG": "trace", "PATH": os.environ["PATH"]}
    with open(log, "w") as out:
        proc = subprocess.Popen([binary], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http("GET", f"{base}/ready")[0] == 200, 30, "em-metrics ready")
        yield base, log
    finally:
        proc.terminate()
        proc.wait(15)


def test_generated_requests_get_no_5xx_and_match_the_document(server):
    base, _ = server
    assert SCHEMATHESIS.exists(), f"{SCHEMATHESIS} missing: scripts/test.sh installs schemathesis"
    # A $ref that points nowhere makes schemathesis skip what it cannot
    # resolve; refuse such a document outright.
    status, document = http("GET", f"{base}/openapi.json", token=TOKEN)
    assert status == 200 and dangling_refs(document) == set(), dangling_refs(document)
    result = subprocess.run(
        [str(SCHEMATHESIS), "run", f"{base}/openapi.json", "--header", f"Authorization: Bearer {TOKEN}",
         "--checks", CHECKS, "--max-examples", os.environ.get("ST_MAX_EXAMPLES", "40"),
         "--seed", os.environ.get("ST_SEED", "20261124"), "--no-color"],
        capture_output=True, text=True, timeout=900)
    tail = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    assert " passed" in result.stdout and "generated" in result.stdout, tail


def operations(base):
    status, doc = http("GET", f"{base}/openapi.json", token=TOKEN)
    assert status == 200
    for path, item in doc["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path.replace("{id}", "some-id")


def test_only_the_probes_answer_without_credentials(server):
    base, _ = server
    seen = 0
    for method, path in operations(base):
        for prefix in ("", "/api/v1"):
            status, body = http(method, f"{base}{prefix}{path}", {} if method == "POST" else None)
            if path in ("/health", "/ready"):
                assert status == 200, f"{method} {prefix}{path}: {status}"
            elif path.startswith("/webhooks/") and path != "/webhooks/alertmanager":
                # Signed by their senders; without their secrets set they are off.
                assert (status, body["code"]) == (404, "not_found"), f"{method} {prefix}{path}: {status}"
            else:
                assert status == 401, f"{method} {prefix}{path} answered {status} without credentials"
                assert body["code"] == "unauthorized"
            seen += 1
    assert seen >= 40


@pytest.mark.parametrize("header", [
    "Bearer " + "x" * 16000,
    "Basic " + "QUFB" * 4000,
    "Bearer",
    "Basic !!!not base64!!!",
    "Basic " + "Y2ktYm90",  # "ci-bot" without a colon
    "Token " + TOKEN[:-1],
    "Digest username=x",
    "\t",
    "bearer  " + TOKEN + "x",
])
def test_odd_authorization_headers_are_refused(server, header):
    import urllib.error
    import urllib.request
    base, _ = server
    request = urllib.request.Request(f"{base}/deployments", headers={"Authorization": header})
    try:
        urllib.request.urlopen(request, timeout=10)
        pytest.fail("accepted")
    except urllib.error.HTTPError as e:
        assert e.code in (401, 403), e.code


def test_basic_auth_and_token_are_accepted(server):
    import base64
    import urllib.request
    base, _ = server
    credentials = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    for header in (f"Basic {credentials}", f"Bearer {TOKEN}", f"Token {TOKEN}"):
        request = urllib.request.Request(f"{base}/version", headers={"Authorization": header})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def test_secrets_never_reach_the_log(server):
    import base64
    base, log = server
    # Runs last in this module: by now the log holds the schemathesis run,
    # every refused header and the accepted credentials, at trace level.
    text = log.read_text(errors="replace")
    assert "request" in text, "the log is empty; the check would prove nothing"
    encoded = base64.b64encode(f"{BASIC_USER}:{BASIC_PASSWORD}".encode()).decode()
    for secret in (TOKEN, BASIC_PASSWORD, encoded):
        assert secret not in text, f"a secret reached the log ({len(text)} bytes checked)"
