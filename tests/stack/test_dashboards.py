"""Every PromQL expression of every dashboard, evaluated by a real Prometheus.

Debian's Prometheus 2.42 scrapes the real em-metrics binary's /metrics with
a bearer token. A scripted story of deployments and incidents is posted;
then each expression of each dashboard, with the template variables set to
All and to real values, goes through Prometheus's query API: it must parse,
return data, and the key panels must show what the story implies.

The story runs in two phases. `increase()` only counts what happens after a
series' first scrape, so phase A creates every series before Prometheus
starts, and only phase B is what the panels must show.
"""
import json
import os
import re
import subprocess
import time
import urllib.parse

import pytest

from conftest import ROOT, free_port, http, make_token, wait_until

TOKEN = "stack-test-token-5d1"
TEAMS = {"teams": {"backend": {"projects": ["api"]}, "frontend": {"projects": ["web"]}}}
LEAD_BUCKETS = [300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800, 1209600, 2592000, 7776000, 15552000]
RESTORE_BUCKETS = LEAD_BUCKETS
RANGE = "10m"

# (project, environment, team or None): the label sets of the story.
API = ("api", "production", "backend")
WEB = ("web", "production", "frontend")
TOOLS = ("tools", "staging", None)

# Phase B. Per label set: lead times of the deployed deployments (seconds),
# which of them (by index) get incidents, how long each incident took to
# restore (None: still open), how many deployments failed, and the lead
# times of hotfix deployments (rework; they count as deployments too).
# Deployments go live 30 minutes and incidents start 20 minutes before they
# are posted, so an incident's failed deployment recovery time is 600 s plus
# its time to restore.
STORY = {
    API: {"leads": [600, 1200, 2000, 3000, 5000, 8000, 20000, 90000],
          "incidents": {1: [1000, 4000], 3: [2500], 5: [None]}, "failed": 2, "hotfixes": [300, 900]},
    WEB: {"leads": [400, 700, 2500, 6000], "incidents": {}, "failed": 0, "hotfixes": []},
    TOOLS: {"leads": [50000, 200000, 700000], "incidents": {0: [90000, 50000]}, "failed": 1, "hotfixes": [2000]},
}
# Quantiles are checked within 5 %, so no expected median may sit exactly on
# a bucket boundary: increase() extrapolates counts a little, and a rank that
# equals a bucket's count could tip into the next bucket.
DETECT = 600
# Events are dated two days back, so that even the longest restore (25 h)
# lies in the past: em-metrics refuses times ahead of its clock. Counters
# count when an event is posted, whatever its date, so increase() still sees
# phase B.
BACK = 2 * 86400


def prom_quantile(q, values, bounds):
    """histogram_quantile as Prometheus computes it from cumulative buckets."""
    counts = [sum(1 for v in values if v <= b) for b in bounds] + [len(values)]
    rank = q * len(values)
    i = next(i for i, c in enumerate(counts) if c >= rank)
    if i == len(bounds):
        return bounds[-1]
    start, below = (0, 0) if i == 0 else (bounds[i - 1], counts[i - 1])
    return start + (bounds[i] - start) * (rank - below) / (counts[i] - below)


def expected(label_sets):
    """What the story implies for the given label sets."""
    leads, restores, deployed, caused, failed, incidents, restored, rework = [], [], 0, 0, 0, 0, 0, 0
    for key in label_sets:
        s = STORY[key]
        leads += s["leads"] + s["hotfixes"]
        deployed += len(s["leads"]) + len(s["hotfixes"])
        rework += len(s["hotfixes"])
        caused += len(s["incidents"])
        failed += s["failed"]
        for ttrs in s["incidents"].values():
            incidents += len(ttrs)
            restores += [t for t in ttrs if t is not None]
            restored += sum(1 for t in ttrs if t is not None)
    return {"deployed": deployed, "cfr": caused / deployed, "failed": failed, "incidents": incidents,
            "open": incidents - restored, "lead_median": prom_quantile(0.5, leads, LEAD_BUCKETS),
            "restore_median": prom_quantile(0.5, restores, RESTORE_BUCKETS),
            "recovery_median": prom_quantile(0.5, [DETECT + t for t in restores], RESTORE_BUCKETS),
            "rework": rework / deployed}


class Stack:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.n = 0

    def start_service(self):
        binary = os.environ.get("EM_METRICS_BIN", str(ROOT / "target/debug/em-metrics"))
        if not os.path.exists(binary):
            subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
        config = self.tmp / "teams.json"
        config.write_text(json.dumps(TEAMS))
        self.port = free_port()
        env = {"HOST": "127.0.0.1", "PORT": str(self.port), "SQLITE_DB": str(self.tmp / "em.db"),
               "EM_METRICS_TOKEN_AUTH": TOKEN, "CONFIG": str(config), "RUST_LOG": "warn", "PATH": os.environ["PATH"]}
        self.procs.append(subprocess.Popen([binary], env=env, stderr=open(self.tmp / "em.log", "w")))
        self.api = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: http("GET", f"{self.api}/ready")[0] == 200, 30, "em-metrics ready")

    def start_prometheus(self):
        self.prom_port = free_port()
        # A token of role read, as docs/metrics.md says to give Prometheus.
        reader = make_token(self.tmp, "prometheus", "read")
        config = self.tmp / "prometheus.yml"
        config.write_text(f"""
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: em-metrics
    metrics_path: /metrics
    authorization:
      credentials: {reader}
    static_configs:
      - targets: ["127.0.0.1:{self.port}"]
""")
        self.procs.append(subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={self.tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.prom_port}"],
            stdout=open(self.tmp / "prometheus.log", "w"), stderr=subprocess.STDOUT))
        self.prom = f"http://127.0.0.1:{self.prom_port}"
        wait_until(lambda: http("GET", f"{self.prom}/-/ready")[0] == 200, 60, "prometheus ready")

    def post(self, path, body):
        status, reply = http("POST", f"{self.api}{path}", body, TOKEN)
        assert status in (200, 201), f"{path}: {status} {reply}"
        return reply

    def deploy(self, key, lead, minutes_ago=30, kind="release", sha=None):
        project, env, _ = key
        self.n += 1
        now = int(time.time()) - BACK
        deployed = now - minutes_ago * 60
        body = {"id": f"d{self.n}", "project_id": project, "environment": env, "kind": kind,
                "first_commit_at": deployed - lead, "deploy_start_at": deployed - 120, "deployed_at": deployed}
        if sha:
            body["commit_sha"] = sha
        return self.post("/deployments", body)["id"]

    def pull_request(self, key, name):
        """A pull request merged as `pr-<project>-<name>`, which the next
        deployment given that sha ships; returns the sha."""
        project, _, _ = key
        opened = int(time.time()) - BACK - 3 * 3600
        pr = f"{project}#{name}"
        self.post("/pull-requests", {"id": pr, "project_id": project, "author": "dev", "opened_at": opened,
                                     "first_commit_at": opened - 3600})
        quoted = urllib.parse.quote(pr, safe="")
        self.post(f"/pull-requests/{quoted}/reviewed", {"reviewed_at": opened + 1800, "state": "approved",
                                                         "reviewer": "reviewer"})
        sha = f"pr-{project}-{name}"
        self.post(f"/pull-requests/{quoted}/merged", {"merged_at": opened + 3600, "merge_commit_sha": sha,
                                                       "additions": 40, "deletions": 10})
        return sha

    def fail(self, key):
        project, env, _ = key
        self.n += 1
        self.post("/deployments", {"id": f"f{self.n}", "project_id": project, "environment": env,
                                   "first_commit_at": int(time.time()) - BACK - 3600})
        self.post(f"/deployments/f{self.n}/failed", {})

    def incident(self, key, deployment, restore):
        project, _, _ = key
        started = int(time.time()) - BACK - 20 * 60
        body = {"project_id": project, "deployment_id": deployment, "started_at": started}
        if restore is not None:
            body["restored_at"] = started + restore
        self.post("/incidents", body)

    def query(self, expr):
        url = f"{self.prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, reply = http("GET", url)
        assert status == 200 and reply["status"] == "success", f"{expr}\n{reply}"
        return reply["data"]["result"]

    def total(self, metric):
        result = self.query(f"sum({metric})")
        return float(result[0]["value"][1]) if result else 0.0

    def stop(self):
        for p in reversed(self.procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        s.start_service()
        # Phase A: one of everything per label set, so every series exists before the first scrape.
        for key in STORY:
            sha = s.pull_request(key, "a")
            for i in range(2):
                d = s.deploy(key, 1000, minutes_ago=50, sha=sha if i == 0 else None)
            s.incident(key, d, 500)
            s.fail(key)
            s.deploy(key, 1000, minutes_ago=50, kind="hotfix")
        s.start_prometheus()
        wait_until(lambda: s.total("deployment_started_total") == 4 * len(STORY), 60, "the first scrape")
        # Phase B: the story the panels must show.
        for key, story in STORY.items():
            sha = s.pull_request(key, "b")
            ids = [s.deploy(key, lead, sha=sha if i == 0 else None) for i, lead in enumerate(story["leads"])]
            for index, ttrs in story["incidents"].items():
                for ttr in ttrs:
                    s.incident(key, ids[index], ttr)
            for _ in range(story["failed"]):
                s.fail(key)
            for lead in story["hotfixes"]:
                s.deploy(key, lead, kind="hotfix")
        started = 4 * len(STORY) + sum(len(v["leads"]) + v["failed"] + len(v["hotfixes"]) for v in STORY.values())
        wait_until(lambda: s.total("deployment_started_total") == started, 60, "the story to be scraped")
        # Let several more scrapes arrive, so increase() extrapolates little.
        time.sleep(12)
        yield s
    finally:
        s.stop()


def dashboards():
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        yield path.name, json.loads(path.read_text())


def targets(dashboard):
    for panel in dashboard["panels"]:
        for t in panel.get("targets", []):
            yield panel["title"], t["expr"]


def substitute(expr, team, project, environment):
    """What Grafana sends: variables replaced, its interval macros fixed."""
    for name, value in (("team", team), ("project", project), ("environment", environment)):
        expr = expr.replace(f"${name}", value).replace(f"${{{name}}}", value)
    seconds = {"10m": 600}[RANGE]
    expr = expr.replace("$__range_s", str(seconds)).replace("$__range", RANGE)
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
    assert "$" not in expr, f"unreplaced variable in {expr}"
    return expr


def default_value(name):
    """What Grafana sends for a variable left at the dashboard's default:
    All as its allValue, several values as a regex alternation."""
    for _, dashboard in dashboards():
        for var in dashboard["templating"]["list"]:
            if var["name"] == name:
                values = var["current"]["value"]
                return var["allValue"] if values == ["$__all"] else "(" + "|".join(values) + ")"
    raise AssertionError(f"no variable {name}")


SCENARIOS = {
    # The dashboard as it opens: every team and project, the production
    # environments (DORA is about production); the story's staging tools
    # project is left out.
    "default": (default_value("team"), default_value("project"), default_value("environment"), [API, WEB]),
    "all": (".*", ".*", ".*", [API, WEB, TOOLS]),
    "backend": ("backend", "api", "production", [API]),
    "multi": ("(backend|frontend)", ".*", "production", [API, WEB]),
}


def value(result):
    assert len(result) == 1, result
    return float(result[0]["value"][1])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_dashboard_expression_parses_and_returns_data(stack, scenario):
    team, project, environment, label_sets = SCENARIOS[scenario]
    checked = 0
    for name, dashboard in dashboards():
        for title, expr in targets(dashboard):
            result = stack.query(substitute(expr, team, project, environment))
            assert result, f"{name} / {title}: no data for {scenario}\n{expr}"
            checked += 1
    assert checked >= 20


def panel_expr(title, ref="A"):
    for _, dashboard in dashboards():
        for panel in dashboard["panels"]:
            if panel["title"] == title:
                return next(t["expr"] for t in panel["targets"] if t["refId"] == ref)
    raise AssertionError(f"no panel {title}")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_key_panels_show_what_the_story_implies(stack, scenario):
    team, project, environment, label_sets = SCENARIOS[scenario]
    want = expected(label_sets)
    q = lambda title: value(stack.query(substitute(panel_expr(title), team, project, environment)))  # noqa: E731

    # Ratios and quantiles: both sides come from the same scrapes, so
    # increase()'s extrapolation cancels out (quantiles within a few %).
    assert q("Change failure rate") == pytest.approx(want["cfr"], abs=1e-9)
    assert q("Lead time for changes") == pytest.approx(want["lead_median"], rel=0.05)
    assert q("Time to restore") == pytest.approx(want["restore_median"], rel=0.05)
    assert q("Failed deployment recovery time") == pytest.approx(want["recovery_median"], rel=0.05)
    assert q("Rework rate") == pytest.approx(want["rework"], abs=1e-9)
    # Counts are extrapolated by increase() a little past the samples.
    per_day = q("Deployment frequency")
    assert want["deployed"] <= round(per_day * 600 / 86400, 6) <= want["deployed"] * 1.25
    assert q("Open incidents") == want["open"]
    assert q("Failed deployments") == want["failed"]
    # Each production project's phase-B pull request: first commit 4 h
    # before its opening's 3 h, shipped 30 minutes before now: 12,600 s of
    # cycle, 1,800 s of pickup and review each (staging ships none).
    shipped = [k for k in label_sets if k[1] == "production"]
    assert q("Cycle time") == pytest.approx(prom_quantile(0.5, [12600] * len(shipped), LEAD_BUCKETS), rel=0.05)
    assert q("Pickup time") == pytest.approx(prom_quantile(0.5, [1800] * len(label_sets), LEAD_BUCKETS), rel=0.05)


def test_the_team_breakdown_shows_each_teams_change_failure_rate(stack):
    result = stack.query(substitute(panel_expr("Change failure rate by team"), ".*", ".*", ".*"))
    by_team = {r["metric"].get("team_id", ""): float(r["value"][1]) for r in result}
    assert by_team["backend"] == pytest.approx(expected([API])["cfr"], abs=1e-9)
    assert by_team["frontend"] == 0.0, "a team without incidents shows 0, not no data"
    assert by_team[""] == pytest.approx(expected([TOOLS])["cfr"], abs=1e-9)


def test_template_variables_list_the_story_values(stack):
    for _, dashboard in dashboards():
        for var in dashboard["templating"]["list"]:
            if var["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"]["query"])
            assert match, var["query"]
            series, label = match.groups()
            series = series.replace("$team", ".*")
            url = f"{stack.prom}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": series})
            status, reply = http("GET", url)
            assert status == 200, reply
            values = set(reply["data"])
            assert {"team": {"backend", "frontend"}, "project": {"api", "web", "tools"},
                    "environment": {"production", "staging"}}[var["name"]] <= values, values


def promql_of_the_docs():
    """The expressions of docs/metrics.md's PromQL block (a `#` line names the next one)."""
    block = re.search(r"```promql\n(.*?)```", (ROOT / "docs/metrics.md").read_text(), re.S).group(1)
    exprs = []
    for line in block.splitlines():
        if line.startswith("#"):
            exprs.append("")
        else:
            exprs[-1] += " " + line.strip()
    return [e.strip() for e in exprs]


def test_the_promql_of_the_docs_answers_what_the_story_implies(stack):
    exprs = promql_of_the_docs()
    assert len(exprs) == 6, exprs
    # Over the story's range instead of days; production is API and WEB.
    q = [value(stack.query(e.replace("[7d]", f"[{RANGE}]").replace("[30d]", f"[{RANGE}]"))) for e in exprs]
    want = expected([API, WEB])
    assert q[2] == pytest.approx(want["cfr"], abs=1e-9), "change fail rate"
    assert q[4] == pytest.approx(want["rework"], abs=1e-9), "rework rate"
    assert q[1] == pytest.approx(want["lead_median"], rel=0.05), "lead time"
    assert q[5] == pytest.approx(want["restore_median"], rel=0.05), "time to restore"
    assert q[0] > 0 and q[3] > 0
