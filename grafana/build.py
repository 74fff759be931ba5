#!/usr/bin/env python3
"""Builds grafana/dashboards/*.json from the panel list below.

The dashboards are JSON because Grafana provisions JSON; they are written
from here because 20 panels of hand-kept JSON drift apart. Run
`python3 grafana/build.py` after editing; CI fails when the committed JSON
differs from what this prints (`--check`).

Every query uses the Prometheus names of the metric catalog. Stat panels are
coloured by the DORA levels of the /dora endpoint: green elite, yellow high,
orange medium, red low.
"""
import json
import pathlib
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'team_id=~"$team", project_id=~"$project", environment=~"$environment"'
# Pull request series carry no environment until production ships them.
SEL_PR = 'team_id=~"$team", project_id=~"$project"'

GREEN, YELLOW, ORANGE, RED = "green", "yellow", "orange", "red"


def steps(*pairs):
    """Grafana colours a value with the last step whose value it reaches (>=)."""
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for c, v in pairs]}


# DORA bands (see README "DORA insights"). Lower-is-better metrics start green;
# the change failure rate steps sit just above 5/10/15 % because exactly 5 %
# is still elite and Grafana's steps are inclusive.
DEPLOY_FREQ_LEVELS = steps((RED, None), (ORANGE, 1 / 30), (YELLOW, 1 / 7), (GREEN, 1))
LEAD_TIME_LEVELS = steps((GREEN, None), (YELLOW, 86400), (ORANGE, 604800), (RED, 2592000))
CFR_LEVELS = steps((GREEN, None), (YELLOW, 0.0500001), (ORANGE, 0.1000001), (RED, 0.1500001))
RESTORE_LEVELS = steps((GREEN, None), (YELLOW, 3600), (ORANGE, 86400), (RED, 604800))


def inc(metric, window="$__range", by="", sel=SEL):
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} (increase({metric}{{{sel}}}[{window}]))"


def quantile(q, histogram, window="$__range", by="", sel=SEL):
    labels = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) (increase({histogram}_bucket{{{sel}}}[{window}])))"


def ratio(numerator, denominator, window="$__range", by=""):
    """numerator / denominator, where a missing numerator series counts as 0
    (a team with deployments but no incident has a rate of 0, not no data)."""
    den = inc(denominator, window, by)
    return f"({inc(numerator, window, by)} or {den} * 0) / {den}"


DEPLOYS_PER_DAY = f"{inc('deployment_frequency_total')} / ($__range_s / 86400)"
LEAD_MEDIAN = quantile(0.5, "lead_time_for_changes_seconds")
CFR = ratio("change_failure_count_total", "deployment_frequency_total")
RESTORE_MEDIAN = quantile(0.5, "time_to_restore_seconds")
RECOVERY_MEDIAN = quantile(0.5, "failed_deployment_recovery_time_seconds")
REWORK = ratio("deployment_rework_total", "deployment_frequency_total")
# DORA publishes no levels for the rework rate: one neutral colour.
REWORK_COLOUR = steps(("blue", None))


class Layout:
    """Hands out ids and grid positions row by row (24 columns wide)."""

    def __init__(self):
        self.panels, self.next_id, self.x, self.y, self.row_height = [], 1, 0, 0, 0

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def row(self, title):
        self.y += self.row_height
        self.x, self.row_height = 0, 0
        self.panels.append({"id": self._id(), "type": "row", "title": title, "collapsed": False,
                            "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}, "panels": []})
        self.y += 1

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.y += self.row_height
            self.x, self.row_height = 0, 0
        panel["id"] = self._id()
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_height = max(self.row_height, h)
        self.panels.append(panel)


def target(expr, ref="A", legend="", instant=False):
    t = {"refId": ref, "datasource": DS, "expr": expr, "range": not instant, "instant": instant}
    if legend:
        t["legendFormat"] = legend
    return t


def stat(title, description, expr, unit, thresholds, decimals=1):
    return {
        "type": "stat", "title": title, "description": description, "datasource": DS,
        "targets": [target(expr, instant=True)],
        "fieldConfig": {"defaults": {"unit": unit, "decimals": decimals, "color": {"mode": "thresholds"},
                                     "thresholds": thresholds, "noValue": "no data"}, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "background", "graphMode": "none", "justifyMode": "center",
                    "orientation": "auto", "textMode": "value", "wideLayout": True,
                    "showPercentChange": False, "percentChangeColorMode": "standard"},
    }


def timeseries(title, description, targets, unit):
    return {
        "type": "timeseries", "title": title, "description": description, "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit, "custom": {"drawStyle": "line", "lineWidth": 2,
                                                              "fillOpacity": 10, "spanNulls": True}},
                        "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
                    "tooltip": {"mode": "multi", "sort": "none"}},
    }


def bars(title, description, expr, unit, legend, thresholds=None):
    defaults = {"unit": unit, "decimals": 1}
    if thresholds:
        defaults.update({"color": {"mode": "thresholds"}, "thresholds": thresholds})
    return {
        "type": "bargauge", "title": title, "description": description, "datasource": DS,
        "targets": [target(expr, legend=legend, instant=True)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "horizontal", "displayMode": "basic", "showUnfilled": True,
                    "valueMode": "color", "namePlacement": "auto", "sizing": "auto",
                    "minVizHeight": 16, "minVizWidth": 8, "maxVizHeight": 300,
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False, "calcs": []}},
    }


# DORA is about production: the environment variable starts on em-metrics'
# default production environments (EM_METRICS_PRODUCTION_ENVIRONMENTS), as
# /dora and the built-in dashboard do; "All" is one click away.
PRODUCTION = ["production", "prod"]


def variable(name, label, query, default=None):
    current = {"selected": True, "text": default, "value": default} if default else \
        {"selected": True, "text": ["All"], "value": ["$__all"]}
    return {
        "type": "query", "name": name, "label": label, "datasource": DS,
        "query": {"query": query, "refId": f"{name}-values"},
        "multi": True, "includeAll": True, "allValue": ".*", "refresh": 2, "sort": 1,
        "current": current, "options": [], "hide": 0,
    }


def dora_overview():
    lay = Layout()
    lay.row("The five key metrics")
    lay.add(stat("Deployment frequency", "Deployments per day reaching production in the selected range. "
                 "Elite: at least daily; high: weekly; medium: monthly.",
                 DEPLOYS_PER_DAY, "short", DEPLOY_FREQ_LEVELS, decimals=2), 4, 5)
    lay.add(stat("Lead time for changes", "Median time from each change's commit to the deployment that "
                 "shipped it. Elite: under a day; high: under a week; medium: under 30 days.",
                 LEAD_MEDIAN, "s", LEAD_TIME_LEVELS), 4, 5)
    lay.add(stat("Change failure rate", "Deployments that caused an incident or were rolled back, over "
                 "deployments. Elite: up to 5 %; high: up to 10 %; medium: up to 15 %.",
                 CFR, "percentunit", CFR_LEVELS), 4, 5)
    lay.add(stat("Failed deployment recovery time", "Median time from a failed deployment going live to its "
                 "incident restored. Elite: under an hour; high: under a day; medium: under a week.",
                 RECOVERY_MEDIAN, "s", RESTORE_LEVELS), 4, 5)
    lay.add(stat("Rework rate", "Rollbacks, hotfixes and incident fixes, over deployments. "
                 "DORA publishes no levels for it.",
                 REWORK, "percentunit", REWORK_COLOUR), 4, 5)
    lay.add(stat("Time to restore", "Median time from incident start to service restored. "
                 "Elite: under an hour; high: under a day; medium: under a week.",
                 RESTORE_MEDIAN, "s", RESTORE_LEVELS), 4, 5)

    lay.row("Trends (each point covers the day before it)")
    lay.add(timeseries("Deployments per day", "Deployments reaching production in the 24 hours before each point.",
                       [target(inc("deployment_frequency_total", "1d"), legend="deployments")], "short"), 12, 8)
    lay.add(timeseries("Lead time for changes", "Median and 90th percentile over the day before each point.",
                       [target(quantile(0.5, "lead_time_for_changes_seconds", "1d"), legend="median"),
                        target(quantile(0.9, "lead_time_for_changes_seconds", "1d"), "B", legend="p90")], "s"), 12, 8)
    lay.add(timeseries("Change failure rate", "Deployments that caused an incident over deployments, per day.",
                       [target(ratio("change_failure_count_total", "deployment_frequency_total", "1d"),
                               legend="change failure rate")], "percentunit"), 12, 8)
    lay.add(timeseries("Time to restore", "Median time to restore over the day before each point.",
                       [target(quantile(0.5, "time_to_restore_seconds", "1d"), legend="median")], "s"), 12, 8)
    lay.add(timeseries("Failed deployment recovery time trend",
                       "Median time from a failed deployment going live to its incident restored, per day.",
                       [target(quantile(0.5, "failed_deployment_recovery_time_seconds", "1d"), legend="median")],
                       "s"), 12, 8)
    lay.add(timeseries("Rework rate trend", "Rollbacks, hotfixes and incident fixes over deployments, per day.",
                       [target(ratio("deployment_rework_total", "deployment_frequency_total", "1d"),
                               legend="rework rate")], "percentunit"), 12, 8)

    lay.row("By team and project")
    lay.add(bars("Deployments by team", "Deployments in the range; no label: events without a team.",
                 inc("deployment_frequency_total", by="team_id"), "short", "{{team_id}}"), 8, 8)
    lay.add(bars("Lead time by team", "Median lead time for changes per team.",
                 quantile(0.5, "lead_time_for_changes_seconds", by="team_id"), "s", "{{team_id}}",
                 LEAD_TIME_LEVELS), 8, 8)
    lay.add(bars("Change failure rate by team", "Deployments that caused an incident over deployments, per team.",
                 ratio("change_failure_count_total", "deployment_frequency_total", by="team_id"), "percentunit",
                 "{{team_id}}", CFR_LEVELS), 8, 8)
    lay.add(bars("Deployments by project", "Deployments in the range per project.",
                 inc("deployment_frequency_total", by="project_id"), "short", "{{project_id}}"), 8, 8)
    lay.add(bars("Lead time by project", "Median lead time for changes per project.",
                 quantile(0.5, "lead_time_for_changes_seconds", by="project_id"), "s", "{{project_id}}",
                 LEAD_TIME_LEVELS), 8, 8)
    lay.add(bars("Change failure rate by project", "Deployments that caused an incident over deployments, per project.",
                 ratio("change_failure_count_total", "deployment_frequency_total", by="project_id"), "percentunit",
                 "{{project_id}}", CFR_LEVELS), 8, 8)

    lay.row("Incidents and pipelines")
    lay.add(stat("Open incidents", "Incidents opened minus incidents restored in the range "
                 "(the exact list is GET /incidents?filter=in-progress).",
                 f"round(({inc('incident_count_total')} or vector(0)) - ({inc('incident_restored_total')} or vector(0)))",
                 "short", steps((GREEN, None), (RED, 1)), decimals=0), 4, 5)
    lay.add(stat("Incidents", "Incidents opened in the range.",
                 f"round({inc('incident_count_total')})", "short", steps((GREEN, None)), decimals=0), 4, 5)
    lay.add(stat("Time to detect", "Median time from the causing deployment to the incident start.",
                 quantile(0.5, "time_to_detect_seconds"), "s", steps((GREEN, None), (YELLOW, 3600), (RED, 86400))),
            4, 5)
    lay.add(stat("Failed deployments", "Deployments that failed or were aborted in the range.",
                 f"round({inc('deployment_failed_total')})", "short", steps((GREEN, None), (ORANGE, 1)), decimals=0),
            4, 5)
    lay.add(stat("Deployment duration", "Median time from deployment start to deployed.",
                 quantile(0.5, "deployment_duration_seconds"), "s", steps((GREEN, None), (YELLOW, 900), (RED, 3600))),
            4, 5)
    lay.add(stat("Deployment duration p90", "90th percentile of deployment duration.",
                 quantile(0.9, "deployment_duration_seconds"), "s", steps((GREEN, None), (YELLOW, 1800), (RED, 7200))),
            4, 5)
    lay.add(timeseries("Incidents, restores and failed deployments per day", "Counts over the day before each point.",
                       [target(inc("incident_count_total", "1d"), legend="incidents opened"),
                        target(inc("incident_restored_total", "1d"), "B", legend="incidents restored"),
                        target(inc("deployment_failed_total", "1d"), "C", legend="failed deployments")], "short"),
            12, 8)
    lay.add(timeseries("Time to detect and deployment duration", "Medians over the day before each point.",
                       [target(quantile(0.5, "time_to_detect_seconds", "1d"), legend="time to detect"),
                        target(quantile(0.5, "deployment_duration_seconds", "1d"), "B", legend="deployment duration")],
                       "s"), 12, 8)

    lay.row("Cycle time (pull requests: where lead time goes)")
    lay.add(stat("Cycle time", "Median time from a pull request's first commit to the production deployment "
                 "that shipped its merge.",
                 quantile(0.5, "pull_request_cycle_time_seconds"), "s", LEAD_TIME_LEVELS), 4, 5)
    lay.add(stat("Coding time", "Median time from the first commit to ready for review, of merged pull requests.",
                 quantile(0.5, "pull_request_coding_time_seconds", sel=SEL_PR), "s", steps(("blue", None))), 4, 5)
    lay.add(stat("Pickup time", "Median time from ready for review to the first review by someone other than "
                 "the author.", quantile(0.5, "pull_request_pickup_time_seconds", sel=SEL_PR), "s",
                 steps(("blue", None))), 4, 5)
    lay.add(stat("Review time", "Median time from the first review to merged.",
                 quantile(0.5, "pull_request_review_time_seconds", sel=SEL_PR), "s", steps(("blue", None))), 4, 5)
    lay.add(stat("Deploy time", "Median time from merged to running in production.",
                 quantile(0.5, "pull_request_deploy_time_seconds"), "s", steps(("blue", None))), 4, 5)
    lay.add(stat("Merged pull requests per week", "Pull requests merged in the range, per week.",
                 f"{inc('pull_request_merged_total', sel=SEL_PR)} / ($__range_s / 604800)", "short",
                 steps(("blue", None)), decimals=2), 4, 5)

    return {
        "uid": "em-metrics-dora",
        "title": "DORA overview",
        "description": "The five DORA key metrics from em-metrics, by team, project and environment.",
        "tags": ["dora", "em-metrics"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "5m",
        "time": {"from": "now-30d", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "monday",
        "links": [],
        "annotations": {"list": []},
        "templating": {"list": [
            {"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
             "current": {"text": "Prometheus", "value": "prometheus"}, "hide": 0, "refresh": 1, "options": [],
             "regex": ""},
            variable("team", "Team", "label_values(deployment_started_total, team_id)"),
            variable("project", "Project", 'label_values(deployment_started_total{team_id=~"$team"}, project_id)'),
            variable("environment", "Environment", "label_values(deployment_started_total, environment)",
                     default=PRODUCTION),
        ]},
        "panels": lay.panels,
    }


DASHBOARDS = {"dora-overview.json": dora_overview}


def main():
    out = pathlib.Path(__file__).resolve().parent / "dashboards"
    stale = []
    for name, build in DASHBOARDS.items():
        text = json.dumps(build(), indent=2) + "\n"
        path = out / name
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        sys.exit(f"out of date (run python3 grafana/build.py): {', '.join(stale)}")


if __name__ == "__main__":
    main()
