"""Writes signed GitHub deliveries for bench/webhooks.sh, one per line:
`delivery-id <TAB> X-GitHub-Event <TAB> X-Hub-Signature-256 <TAB> body`,
split into one file per wrk thread so no delivery is sent twice (a repeat
would be a cheap duplicate).

usage: webhook_deliveries.py KIND COUNT THREADS SECRET OUT_PREFIX
  KIND: deployment_status (success of a deployment not seen before),
        push (20 new commits to a branch), or
        pull_request (per pull request, in turn: opened, an approving review
        by another, closed as merged; COUNT deliveries in all)
The bodies are the @octokit/webhooks-examples payloads (tests/fixtures; for
pull_request the npm package in tests/stack/webhooks), with ids, shas and
times changed.
"""
import copy
import hashlib
import hmac
import json
import pathlib
import sys

kind, count, threads, secret, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
root = pathlib.Path(__file__).resolve().parents[1]
fixtures = root / "tests/fixtures/webhooks/github"


def octokit(name, action):
    index = root / "tests/stack/webhooks/node_modules/@octokit/webhooks-examples/api.github.com/index.json"
    if not index.exists():
        sys.exit("npm ci --prefix tests/stack/webhooks first (scripts/test.sh does): it holds octokit's examples")
    examples = {e["name"]: e["examples"] for e in json.loads(index.read_text())}
    return next(e for e in examples[name] if e["action"] == action)


def deliveries():
    """(event, body) for each delivery, in the order they are made."""
    if kind == "deployment_status":
        template = json.loads((fixtures / "deployment_status-success.json").read_text())
        for n in range(count):
            body = copy.deepcopy(template)
            body["deployment"]["id"] = 10_000_000 + n
            body["deployment"]["sha"] = hashlib.sha1(b"d%d" % n).hexdigest()
            body["deployment"]["created_at"] = "2024-05-01T10:00:00Z"
            body["deployment_status"]["created_at"] = "2024-05-01T10:05:00Z"
            yield "deployment_status", body
    elif kind == "push":
        template = json.loads((fixtures / "push.json").read_text())
        commit = template["commits"][0]
        for n in range(count):
            body = copy.deepcopy(template)
            shas = [hashlib.sha1(b"c%d-%d" % (n, i)).hexdigest() for i in range(20)]
            body["commits"] = [dict(copy.deepcopy(commit), id=s, timestamp="2024-05-01T09:00:00Z") for s in shas]
            body["after"] = shas[-1]
            body["head_commit"] = body["commits"][-1]
            yield "push", body
    elif kind == "pull_request":
        opened, review, closed = octokit("pull_request", "opened"), octokit("pull_request_review", "submitted"), \
            octokit("pull_request", "closed")
        author = opened["pull_request"]["user"]["login"]
        for n in range(count):
            number, step = 100_000 + n // 3, n % 3
            body = copy.deepcopy((opened, review, closed)[step])
            body["repository"] = opened["repository"]
            body["pull_request"].update(number=number, draft=False, created_at="2024-05-01T10:00:00Z",
                                        user={"login": author})
            if step == 1:
                body["review"].update(state="approved", submitted_at="2024-05-01T11:00:00Z",
                                      user={"login": "reviewer-%d" % (n % 7)})
            if step == 2:
                body["pull_request"].update(merged=True, merged_at="2024-05-01T12:00:00Z", additions=30,
                                            deletions=5, merge_commit_sha=hashlib.sha1(b"m%d" % number).hexdigest())
            yield ("pull_request", "pull_request_review", "pull_request")[step], body
    else:
        sys.exit(f"unknown kind {kind}")


outs = [open(f"{prefix}.{t}", "w") for t in range(threads)]
for n, (event, body) in enumerate(deliveries()):
    text = json.dumps(body, separators=(",", ":"))
    signature = "sha256=" + hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    # A pull request's deliveries stay on one thread, in their order.
    thread = (n // 3 if kind == "pull_request" else n) % threads
    outs[thread].write(f"bench-{kind}-{n}\t{event}\t{signature}\t{text}\n")
for f in outs:
    f.close()
