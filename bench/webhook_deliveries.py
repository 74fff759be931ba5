"""Writes signed GitHub deliveries for bench/webhooks.sh, one per line:
`delivery-id <TAB> X-Hub-Signature-256 <TAB> body`, split into one file per
wrk thread so no delivery is sent twice (a repeat would be a cheap duplicate).

usage: webhook_deliveries.py KIND COUNT THREADS SECRET OUT_PREFIX
  KIND: deployment_status (success of a deployment not seen before) or
        push (20 new commits to a branch)
The bodies are the @octokit/webhooks-examples payloads (tests/fixtures), with
ids, shas and times changed.
"""
import copy
import hashlib
import hmac
import json
import pathlib
import sys

kind, count, threads, secret, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
fixtures = pathlib.Path(__file__).resolve().parents[1] / "tests/fixtures/webhooks/github"
template = json.loads((fixtures / ("deployment_status-success.json" if kind == "deployment_status" else "push.json")).read_text())
commit = template.get("commits", [{}])[0]
outs = [open(f"{prefix}.{t}", "w") for t in range(threads)]
for n in range(count):
    body = copy.deepcopy(template)
    if kind == "deployment_status":
        body["deployment"]["id"] = 10_000_000 + n
        body["deployment"]["sha"] = hashlib.sha1(b"d%d" % n).hexdigest()
        body["deployment"]["created_at"] = "2024-05-01T10:00:00Z"
        body["deployment_status"]["created_at"] = "2024-05-01T10:05:00Z"
    else:
        shas = [hashlib.sha1(b"c%d-%d" % (n, i)).hexdigest() for i in range(20)]
        body["commits"] = [dict(copy.deepcopy(commit), id=s, timestamp="2024-05-01T09:00:00Z") for s in shas]
        body["after"] = shas[-1]
        body["head_commit"] = body["commits"][-1]
    text = json.dumps(body, separators=(",", ":"))
    signature = "sha256=" + hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    outs[n % threads].write(f"bench-{kind}-{n}\t{signature}\t{text}\n")
for f in outs:
    f.close()
