"""The README's "curl (any CI)" snippet, run as pasted against the real binary.

A git repository with commits at known times stands in for the project; the
pipeline works in a shallow clone of it, as CI runners do (depth 1). The
snippet asks em-metrics for the last deployed sha, lists the commits since
then and posts them. Three runs: the first deployment (only HEAD is known),
a deployment of three new commits (the shallow clone lacks the last deployed
sha and must fetch it), and a redeploy of the same sha (no new change).
"""
import os
import re
import subprocess

import pytest

from conftest import ROOT, free_port, http, wait_until

TOKEN = "readme-pipeline-token-71c"


def snippet():
    """The start and deployed steps of the README block, without the failure step."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### curl (any CI)", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return block.split("# or when it failed", 1)[0]


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


@pytest.fixture()
def service(tmp_path):
    binary = os.environ.get("EM_METRICS_BIN", str(ROOT / "target/debug/em-metrics"))
    if not os.path.exists(binary):
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
    port = free_port()
    env = {"HOST": "127.0.0.1", "PORT": str(port), "SQLITE_DB": str(tmp_path / "em.db"),
           "EM_METRICS_TOKEN_AUTH": TOKEN, "RUST_LOG": "warn", "PATH": os.environ["PATH"]}
    proc = subprocess.Popen([binary], env=env, stderr=open(tmp_path / "em.log", "w"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: http("GET", f"{url}/ready")[0] == 200, 30, "em-metrics ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def run_pipeline(url, origin, workdir, build_id):
    """A CI job: a fresh shallow clone, then the README snippet."""
    clone = workdir / build_id
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{origin}", str(clone)], check=True)
    env = dict(os.environ, EM_METRICS_URL=url, EM_METRICS_TOKEN=TOKEN, BUILD_ID=build_id, GIT_AUTHOR="dev")
    script = "set -euo pipefail\n" + snippet()
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
