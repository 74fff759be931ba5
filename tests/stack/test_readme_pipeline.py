"""The README's "curl (any CI)" snippet, run as pasted against the real binary,
and the pipelines of docs/pipelines.md, the quick start and the incident blocks.

A git repository with commits at known times stands in for the project; the
pipeline works in a shallow clone of it, as CI runners do (depth 1). The
snippet asks em-metrics for the last deployed sha, lists the commits since
then and posts them. Three runs: the first deployment (only HEAD is known),
a deployment of three new commits (the shallow clone lacks the last deployed
sha and must fetch it), and a redeploy of the same sha (no new change); then
the last run again, whole, after it went live (a retry: 200).
"""
import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, em_metrics, free_port, http, make_token, wait_until

TOKEN = "readme-pipeline-token-71c"


def snippet():
    """The README's pipeline block: the start and deployed steps."""
    return blocks("### curl (any CI)", "sh")[0]


def failure_step():
    """The README's block that reports a failure instead of the last step."""
    return blocks("### curl (any CI)", "sh")[1]


def git(cwd, *args, when=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com",
               GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com")
    if when is not None:
        env.update(GIT_AUTHOR_DATE=f"@{when} +0000", GIT_COMMITTER_DATE=f"@{when} +0000")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo, name, when):
    (repo / name).write_text(name)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", name, when=when)
    return git(repo, "rev-parse", "HEAD")


class Service(str):
    """The server's base URL, with the tokens the snippets run with: `ingest`
    (the pipelines', as the README says) and `write` (corrections)."""


@pytest.fixture()
def service(tmp_path):
    with em_metrics(tmp_path, TOKEN) as (url, _):
        running = Service(url)
        running.ingest = make_token(tmp_path, "ci", "ingest")
        running.write = make_token(tmp_path, "people", "write")
        yield running


def run_pipeline(url, origin, workdir, build_id, script=None):
    """A CI job: a fresh shallow clone, then the README snippet."""
    clone = workdir / f"{build_id}-{len(list(workdir.glob(build_id + '-*')))}"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(clone)], check=True)
    env = dict(os.environ, EM_METRICS_URL=url, EM_METRICS_TOKEN=url.ingest, BUILD_ID=build_id, GIT_AUTHOR="dev")
    script = "set -euo pipefail\n" + (script or snippet())
    result = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    status, deployment = http("GET", f"{url}/deployments/{build_id}", token=TOKEN)
    assert status == 200, deployment
    return deployment


def test_the_readme_pipeline_sends_each_new_commit_once_from_a_shallow_clone(service, tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    base = 1_714_550_400  # 2024-05-01T08:00:00Z
    first = commit(origin, "a", base)

    one = run_pipeline(service, origin, tmp_path, "run-1")
    assert one["status"] == "deployed" and one["commit_sha"] == first
    assert one["change_count"] == 1, "before any deployment only HEAD is sent"
    assert one["first_commit_at"] == "2024-05-01T08:00:00.000Z"

    shas = [commit(origin, name, base + 3600 * (i + 1)) for i, name in enumerate(["b", "c", "d"])]
    two = run_pipeline(service, origin, tmp_path, "run-2")
    assert two["commit_sha"] == shas[-1]
    assert two["change_count"] == 3, "b, c and d: the shallow clone fetched back to run-1's sha"
    assert two["first_commit_at"] == "2024-05-01T09:00:00.000Z", "the oldest new commit, b"

    again = run_pipeline(service, origin, tmp_path, "run-3")
    assert again["commit_sha"] == shas[-1]
    assert again["change_count"] == 0, "a redeploy ships no new change"

    # The whole job again, after run-2 went live: its commit list comes out
    # different (the last deployed sha is run-3's), yet it is a retry.
    rerun = run_pipeline(service, origin, tmp_path, "run-2")
    assert rerun == two, "nothing changed"


def test_the_failure_block_reports_a_failed_deployment(service, tmp_path):
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    commit(origin, "a", 1_714_550_400)
    start = snippet().split("# when it is live", 1)[0]
    run_pipeline(service, origin, tmp_path, "run-f", script=start + "\n" + failure_step())
    status, d = http("GET", f"{service}/deployments/run-f", token=TOKEN)
    assert status == 200 and d["status"] == "failed", d


def blocks(heading, language, page="README.md"):
    """The fenced blocks of one section of the README (or a page of docs/), in order."""
    text = (ROOT / page).read_text()
    section = text.split(heading, 1)[1]
    level = heading.split(" ", 1)[0]
    # Up to the next heading of the same level or above (a `# ` line is a comment in a block).
    section = re.split(rf"\n#{{2,{len(level)}}} ", section, maxsplit=1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def bash(script, cwd, env, timeout=120):
    result = subprocess.run(["bash", "-c", "set -eo pipefail\n" + script], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{script}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    return result.stdout


@pytest.fixture()
def quick_start_server(tmp_path):
    """What the quick start's first command starts: token change-me, ./em-metrics.db."""
    binary = os.environ.get("EM_METRICS_BIN", str(ROOT / "target/debug/em-metrics"))
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port), "SQLITE_DB": str(tmp_path / "em-metrics.db"),
           "EM_METRICS_TOKEN_AUTH": "change-me", "PATH": os.environ["PATH"]}
    proc = subprocess.Popen([binary], env=env, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: http("GET", f"http://127.0.0.1:{port}/ready")[0] == 200, 30, "em-metrics ready")
        yield port, binary
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_quick_start_blocks_work_in_the_order_written(quick_start_server, tmp_path):
    port, binary = quick_start_server
    record, demo = blocks("## Quick start", "sh")[1:3]
    out = bash(record.replace("localhost:3000", f"localhost:{port}"), tmp_path, dict(os.environ))
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == 12, out
    assert out.endswith("\n")
    # What the README says /dora answers for it.
    dora = answers[-1]
    assert dora["filters"]["environment"] == ["production", "prod"]
    assert dora["deployment_frequency"]["deployments"] == 10
    assert dora["lead_time_for_changes"]["median_seconds"] == 7200
    assert dora["change_failure_rate"]["rate"] == 0.1
    assert dora["failed_deployment_recovery_time"]["median_seconds"] == 5400
    assert dora["time_to_restore"]["open_incidents"] == 0
    assert dora["level"] == "high", dora
    # The demo block, with cargo replaced by the built binary and its port by a free one.
    demo_port = free_port()
    script = (demo.replace("cargo run --release --", binary).replace("cargo run --release", binary)
              .replace("3100", str(demo_port)))
    script += "\nkill %1\n"
    # HOST keeps the test server on loopback; the block itself leaves it to the default.
    out = bash(script, tmp_path, dict(os.environ, RUST_LOG="warn", HOST="127.0.0.1"), timeout=300)
    dora, breakdown = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert dora["deployment_frequency"]["deployments"] > 0, dora
    assert len(breakdown["groups"]) == 4, breakdown
    # The first server still serves its own database.
    status, one = http("GET", f"http://127.0.0.1:{port}/deployments/quickstart-1", token="change-me")
    assert status == 200 and one["status"] == "deployed" and one["project_id"] == "quickstart"


def test_the_github_actions_steps_record_a_deployment_with_its_commits(service, tmp_path):
    import yaml
    steps = yaml.safe_load(blocks("## GitHub Actions", "yaml", "docs/pipelines.md")[0])
    assert steps[0]["with"]["fetch-depth"] == 0
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    shas = [commit(origin, name, 1_714_550_400 + 600 * i) for i, name in enumerate("abc")]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{origin}", str(clone)], check=True)
    actions = {"EM_METRICS_URL": service, "EM_METRICS_TOKEN": service.ingest, "DEPLOY_ID": "4711-1", "PROJECT": "shop"}
    env = dict(os.environ, GITHUB_ACTOR="octocat", GITHUB_SHA=shas[-1])
    for step in steps[1:]:
        if step.get("if", "success()") != "success()":
            continue
        assert set(step["env"]) <= set(actions), step["env"]
        bash(step["run"], clone, dict(env, **{k: actions[k] for k in step["env"]}))
    status, d = http("GET", f"{service}/deployments/4711-1", token=TOKEN)
    assert status == 200 and d["status"] == "deployed", d
    assert (d["project_id"], d["commit_sha"], d["username"]) == ("shop", shas[-1], "octocat")
    assert d["change_count"] == 1, "the first deployment sends HEAD only"


def test_the_gitlab_job_records_deployed_and_failed_jobs(service, tmp_path):
    import yaml
    job = yaml.safe_load(blocks("## GitLab CI", "yaml", "docs/pipelines.md")[0])["deploy"]
    assert job["environment"] == "production"
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    sha = commit(origin, "a", 1_714_550_400)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", f"file://{origin}", str(clone)], check=True)
    for job_id, status in (("901", "success"), ("902", "failed")):
        gitlab = {"EM_METRICS_URL": service, "EM_METRICS_TOKEN": service.ingest, "CI_PROJECT_NAME": "shop",
                  "CI_PROJECT_PATH_SLUG": "acme-shop", "CI_JOB_ID": job_id, "CI_ENVIRONMENT_NAME": job["environment"],
                  "GITLAB_USER_LOGIN": "dev", "CI_COMMIT_SHA": sha, "CI_JOB_STATUS": status}
        # GitLab expands $VARIABLES inside `variables:`.
        expand = lambda v: re.sub(r"\$(\w+)", lambda m: gitlab.get(m.group(1), ""), str(v))  # noqa: E731
        variables = {k: expand(v) for k, v in job["variables"].items()}
        env = dict(os.environ, **gitlab, **variables)
        bash("\n".join(job["before_script"]), clone, env)
        bash("\n".join(job["after_script"]), clone, env)
        status_code, d = http("GET", f"{service}/deployments/acme-shop-{job_id}", token=TOKEN)
        assert status_code == 200, d
        assert d["status"] == ("deployed" if status == "success" else "failed"), d
        assert d["environment"] == "production" and d["commit_sha"] == sha


def test_the_incident_blocks_work_as_pasted(service, tmp_path):
    for deployment in ("run-1", "run-7"):
        body = {"id": deployment, "project_id": "api", "first_commit_at": 1714550400, "deployed_at": 1714554000}
        assert http("POST", f"{service}/deployments", body, TOKEN)[0] == 201
    env = dict(os.environ, EM_METRICS_URL=service, EM_METRICS_TOKEN=service.ingest)
    lifecycle, corrections = blocks("## Incidents", "sh")[0], blocks("### Which deployment caused it", "sh")[0]
    bash(lifecycle, tmp_path, env)
    # Corrections are a person's, with a token of role write: ingest may not.
    refused = subprocess.run(["bash", "-c", "set -eo pipefail\n" + corrections], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "needs write" in refused.stdout + refused.stderr, refused
    env["EM_METRICS_TOKEN"] = service.write
    status, incident = http("GET", f"{service}/incidents/INC-42", token=TOKEN)
    assert status == 200 and incident["status"] == "finished", incident
    bash(corrections, tmp_path, env)
    status, incident = http("GET", f"{service}/incidents/INC-42", token=TOKEN)
    assert (incident["deployment_id"], incident["deployment_link"]) == ("run-7", "explicit"), incident
