//! DORA insights against hand-computed fixtures. Every expected number below
//! is worked out in the comments from the fixture, not from the code.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, close, dora, incident, DeploymentBuilder, TestApp};

const TEAMS: &str = r#"{"teams": {"backend": {"projects": ["api"]}}}"#;
const WEEK: &str = "from=2024-05-01T00:00:00Z&to=2024-05-08T00:00:00Z";
/// The hand-computed figures below count every environment of the fixture
/// (prod and staging); without it, only the production ones count.
const EVERY: &str = "environment=*";

fn deployment(
    id: &str,
    project: &str,
    env: &str,
    first_commit: &str,
    start: &str,
    deployed: &str,
) -> DeploymentBuilder {
    DeploymentBuilder::new(id)
        .project(project)
        .set("environment", env)
        .set("first_commit_at", first_commit)
        .set("deploy_start_at", start)
        .deployed_at(deployed)
}

/// The fixture week, 2024-05-01 (Wednesday) to 2024-05-08, 7 days:
///
/// | deployment | project/env | first commit | start | deployed | lead (s) | duration (s) |
/// |---|---|---|---|---|---|---|
/// | d0 | api/prod | 04-30 20:00 | 04-30 23:00 | 05-01 00:00 (= from, included) | 14400 | 3600 |
/// | d1 | api/prod | 05-01 00:00 | 05-01 09:00 | 05-01 10:00 | 36000 | 3600 |
/// | d2 | api/prod | 04-30 10:00 | 05-02 09:55 | 05-02 10:00 | 172800 | 300 |
/// | d3 | api/prod | 05-03 08:00 | 05-03 09:00 | 05-03 09:30 | 5400 | 1800 |
/// | d4 | api/prod | 05-03 11:00 | 05-03 11:30 | 05-03 12:00 | 3600 | 1800 |
/// | d5 | web/staging | 05-06 12:00 | 05-07 11:00 | 05-07 12:00 | 86400 | 3600 |
/// | d6 | api/prod | 05-07 00:00 | 05-07 23:00 | 05-08 00:00 (= to, excluded) | | |
///
/// f1 (api) starts 05-04 10:00 and fails; f2 (api) starts 04-30 and fails
/// (outside); s1 (api) starts 05-05 and is never deployed.
///
/// Incidents: i1 on d1 starts 05-01 10:30 (detect 1800), restored 11:00
/// (restore 1800); i2 on d1 starts 05-02 00:00 (detect 50400), restored 02:00
/// (7200); i3 on d5 starts 05-07 13:00 (detect 3600), still open; i4 on api,
/// no deployment, 05-05 00:00 to 00:10 (600); i6 on d2 starts 05-10, outside
/// the window, but makes d2 a failed change.
async fn fixture() -> TestApp {
    let app = TestApp::builder().teams(TEAMS).build();
    for d in [
        deployment("d0", "api", "prod", "2024-04-30T20:00:00Z", "2024-04-30T23:00:00Z", "2024-05-01T00:00:00Z"),
        deployment("d1", "api", "prod", "2024-05-01T00:00:00Z", "2024-05-01T09:00:00Z", "2024-05-01T10:00:00Z"),
        deployment("d2", "api", "prod", "2024-04-30T10:00:00Z", "2024-05-02T09:55:00Z", "2024-05-02T10:00:00Z"),
        deployment("d3", "api", "prod", "2024-05-03T08:00:00Z", "2024-05-03T09:00:00Z", "2024-05-03T09:30:00Z"),
        deployment("d4", "api", "prod", "2024-05-03T11:00:00Z", "2024-05-03T11:30:00Z", "2024-05-03T12:00:00Z"),
        deployment("d5", "web", "staging", "2024-05-06T12:00:00Z", "2024-05-07T11:00:00Z", "2024-05-07T12:00:00Z"),
        deployment("d6", "api", "prod", "2024-05-07T00:00:00Z", "2024-05-07T23:00:00Z", "2024-05-08T00:00:00Z"),
    ] {
        app.start(d).await;
    }
    let started =
        |id: &str, start: &str| DeploymentBuilder::new(id).set("environment", "prod").set("deploy_start_at", start);
    for (id, start) in [("f1", "2024-05-04T10:00:00Z"), ("f2", "2024-04-30T10:00:00Z"), ("s1", "2024-05-05T10:00:00Z")]
    {
        app.start(started(id, start).set("first_commit_at", "2024-04-01T00:00:00Z")).await;
    }
    for id in ["f1", "f2"] {
        assert_eq!(app.post_raw(&format!("/deployments/{id}/failed"), "").await.status, StatusCode::OK);
    }
    incident(&app, json!({"id": "i1", "project_id": "api", "deployment_id": "d1", "started_at": "2024-05-01T10:30:00Z", "restored_at": "2024-05-01T11:00:00Z"})).await;
    incident(&app, json!({"id": "i2", "project_id": "api", "deployment_id": "d1", "started_at": "2024-05-02T00:00:00Z", "restored_at": "2024-05-02T02:00:00Z"})).await;
    incident(
        &app,
        json!({"id": "i3", "project_id": "web", "deployment_id": "d5", "started_at": "2024-05-07T13:00:00Z"}),
    )
    .await;
    incident(&app, json!({"id": "i4", "project_id": "api", "started_at": "2024-05-05T00:00:00Z", "restored_at": "2024-05-05T00:10:00Z"})).await;
    incident(
        &app,
        json!({"id": "i6", "project_id": "api", "deployment_id": "d2", "started_at": "2024-05-10T00:00:00Z"}),
    )
    .await;
    app
}

#[tokio::test]
async fn the_fixture_week_gives_the_hand_computed_report() {
    let app = fixture().await;
    let r = dora(&app, &format!("{WEEK}&{EVERY}")).await;
    assert_eq!(r["from"], "2024-05-01T00:00:00.000Z");
    assert_eq!(r["to"], "2024-05-08T00:00:00.000Z");
    assert_eq!(r["filters"], json!({"project_id": [], "team_id": [], "environment": ["prod", "staging"]}));

    // 6 deployments (d0..d5) in 7 days on 4 distinct days (05-01, 05-02, 05-03, 05-07).
    let df = &r["deployment_frequency"];
    assert_eq!(df["deployments"], 6);
    assert_eq!(df["deploy_days"], 4);
    close(&df["per_day"], 0.8571); // 6 / 7, to 4 decimals
    close(&df["per_week"], 6.0);
    assert_eq!(df["level"], "high", "under one a day, at least one a week");

    // Leads sorted: 3600, 5400, 14400, 36000, 86400, 172800.
    // median at rank 2.5: 14400 + 0.5 * 21600 = 25200; p75 at 3.75: 36000 + 0.75 * 50400 = 73800;
    // p90 at 4.5: 86400 + 0.5 * 86400 = 129600.
    let lt = &r["lead_time_for_changes"];
    close(&lt["median_seconds"], 25200.0);
    close(&lt["p75_seconds"], 73800.0);
    close(&lt["p90_seconds"], 129600.0);
    assert_eq!(lt["samples"], 6);
    assert_eq!(lt["level"], "elite");

    // d1 (i1, i2), d2 (i6, outside the window but linked) and d5 (i3): 3 of 6.
    let cfr = &r["change_failure_rate"];
    assert_eq!(cfr["change_failures"], 3);
    assert_eq!(cfr["deployments"], 6);
    close(&cfr["rate"], 0.5);
    assert_eq!(cfr["level"], "low");

    // Restored incidents of the window: 600, 1800, 7200; i3 is open; i6 is outside.
    // median 1800; p90 at rank 1.8: 1800 + 0.8 * 5400 = 6120.
    let ttr = &r["time_to_restore"];
    close(&ttr["median_seconds"], 1800.0);
    close(&ttr["p90_seconds"], 6120.0);
    assert_eq!(ttr["samples"], 3);
    assert_eq!(ttr["open_incidents"], 1);
    assert_eq!(ttr["level"], "elite");

    // Failed deployment recovery: restored incidents of the window linked to a
    // deployed deployment, restored_at − deployed_at: i1 11:00 − d1 10:00 = 3600;
    // i2 05-02 02:00 − d1 05-01 10:00 = 57600. Median 30600 (under a day: high);
    // p90 at rank 0.9: 3600 + 0.9 * 54000 = 52200.
    let fdrt = &r["failed_deployment_recovery_time"];
    close(&fdrt["median_seconds"], 30600.0);
    close(&fdrt["p90_seconds"], 52200.0);
    assert_eq!(fdrt["samples"], 2);
    assert_eq!(fdrt["level"], "high");
    // No rollback, hotfix or incident fix in the fixture.
    assert_eq!(r["rework_rate"], json!({"rework_deployments": 0, "deployments": 6, "rate": 0.0}));

    // Detection: i1 1800, i3 3600, i2 50400 (i4 has no deployment).
    close(&r["time_to_detect"]["median_seconds"], 3600.0);
    assert_eq!(r["time_to_detect"]["samples"], 3);

    // Durations sorted: 300, 1800, 1800, 3600, 3600, 3600: median 2700, p90 at 4.5: 3600.
    close(&r["deployment_duration"]["median_seconds"], 2700.0);
    close(&r["deployment_duration"]["p90_seconds"], 3600.0);
    assert_eq!(r["deployment_duration"]["samples"], 6);

    assert_eq!(r["failed_deployments"], 1, "f1 only; f2 started before the window");
    assert_eq!(r["level"], "low", "the worst of high, elite, low, high, elite");
}

#[tokio::test]
async fn filters_narrow_the_report_and_combine() {
    let app = fixture().await;
    // api: d0..d4 = 5 deployments; failed changes d1, d2 = 2 of 5.
    let api = dora(&app, &format!("{WEEK}&project_id=api")).await;
    assert_eq!(api["deployment_frequency"]["deployments"], 5);
    close(&api["change_failure_rate"]["rate"], 0.4);
    assert_eq!(api["time_to_restore"]["open_incidents"], 0);
    assert_eq!(api["filters"]["project_id"], json!(["api"]));
    // team backend is exactly project api.
    let backend = dora(&app, &format!("{WEEK}&team_id=backend")).await;
    assert_eq!(backend["deployment_frequency"], api["deployment_frequency"]);
    // staging: only d5, whose incident i3 is open.
    let staging = dora(&app, &format!("{WEEK}&environment=staging")).await;
    assert_eq!(staging["deployment_frequency"]["deployments"], 1);
    close(&staging["lead_time_for_changes"]["median_seconds"], 86400.0);
    assert_eq!(staging["lead_time_for_changes"]["level"], "high", "exactly one day is high");
    assert_eq!(staging["time_to_restore"]["open_incidents"], 1);
    // Repeated and comma-separated values mean "any of".
    let both = dora(&app, &format!("{WEEK}&project_id=api,web&{EVERY}")).await;
    assert_eq!(both["deployment_frequency"]["deployments"], 6);
    let repeated = dora(&app, &format!("{WEEK}&environment=prod&environment=staging")).await;
    assert_eq!(repeated["deployment_frequency"]["deployments"], 6);
    // Combined filters are all applied: api has nothing in staging.
    let none = dora(&app, &format!("{WEEK}&project_id=api&environment=staging")).await;
    assert_eq!(none["deployment_frequency"]["deployments"], 0);
    assert_eq!(none["level"], Value::Null);
}

/// DORA is about production: without `environment`, the insights count the
/// production environments (EM_METRICS_PRODUCTION_ENVIRONMENTS, `production`
/// and `prod`, plus DEPLOYMENT_ENVIRONMENT), and say which they counted. In
/// the fixture that leaves out web's staging deployment d5 and its open
/// incident i3.
#[tokio::test]
async fn without_an_environment_only_production_counts_and_the_answer_names_it() {
    let app = fixture().await;
    let r = dora(&app, WEEK).await;
    assert_eq!(r["filters"]["environment"], json!(["production", "prod"]));
    // d0..d4: 5 deployments on 3 days; d1 and d2 failed changes: 2 of 5.
    assert_eq!(r["deployment_frequency"]["deployments"], 5);
    assert_eq!(r["deployment_frequency"]["deploy_days"], 3);
    close(&r["deployment_frequency"]["per_week"], 5.0);
    close(&r["change_failure_rate"]["rate"], 0.4);
    // i1, i2 and i4 (api's, in production) are restored; i3 in staging is not counted.
    assert_eq!(r["time_to_restore"]["samples"], 3);
    assert_eq!(r["time_to_restore"]["open_incidents"], 0);
    let every = dora(&app, &format!("{WEEK}&{EVERY}")).await;
    assert_eq!(every["deployment_frequency"]["deployments"], 6);
    assert_eq!(every["time_to_restore"]["open_incidents"], 1);
    // A breakdown by environment compares environments: every one by default.
    let by_env = app.get(&format!("/dora/breakdown?by=environment&{WEEK}")).await.body;
    let keys: Vec<&str> = by_env["groups"].as_array().into_iter().flatten().filter_map(|g| g["key"].as_str()).collect();
    // i4 names no deployment and attribution finds none: it is in DEPLOYMENT_ENVIRONMENT, production.
    assert_eq!(keys, ["prod", "staging", "production"]);
    // The other breakdowns and the trend count production by default too.
    let by_project = app.get(&format!("/dora/breakdown?by=project_id&{WEEK}")).await.body;
    assert_eq!(by_project["groups"].as_array().map(Vec::len), Some(1), "only api deploys to production");
    let trend = app.get(&format!("/dora/trend?{WEEK}")).await.body;
    assert_eq!(trend["filters"]["environment"], json!(["production", "prod"]));
    // `*` goes alone.
    let mixed = app.get(&format!("/dora?{WEEK}&environment=*,prod")).await;
    assert_error(&mixed, StatusCode::BAD_REQUEST, "bad_request", Some("environment"));
}

#[tokio::test]
async fn an_empty_window_answers_zeros_and_nulls() {
    let app = fixture().await;
    let r = dora(&app, "from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z").await;
    assert_eq!(
        r["deployment_frequency"],
        json!({"deployments": 0, "deploy_days": 0, "per_day": 0.0, "per_week": 0.0, "level": null})
    );
    assert_eq!(
        r["lead_time_for_changes"],
        json!({"median_seconds": null, "p75_seconds": null, "p90_seconds": null, "samples": 0, "level": null})
    );
    assert_eq!(r["change_failure_rate"], json!({"change_failures": 0, "deployments": 0, "rate": null, "level": null}));
    assert_eq!(
        r["failed_deployment_recovery_time"],
        json!({"median_seconds": null, "p90_seconds": null, "samples": 0, "level": null})
    );
    assert_eq!(r["rework_rate"], json!({"rework_deployments": 0, "deployments": 0, "rate": null}));
    assert_eq!(
        r["time_to_restore"],
        json!({"median_seconds": null, "p90_seconds": null, "samples": 0, "open_incidents": 0, "level": null})
    );
    assert_eq!(r["time_to_detect"], json!({"median_seconds": null, "samples": 0}));
    assert_eq!(r["deployment_duration"], json!({"median_seconds": null, "p90_seconds": null, "samples": 0}));
    assert_eq!(r["failed_deployments"], 0);
    assert_eq!(r["level"], Value::Null);
}

#[tokio::test]
async fn window_edges_are_from_inclusive_and_to_exclusive() {
    let app = fixture().await;
    // Exactly d6's deployed_at as from: d6 is in; as to: it is out.
    let at = dora(&app, "from=2024-05-08T00:00:00Z&to=2024-05-09T00:00:00Z").await;
    assert_eq!(at["deployment_frequency"]["deployments"], 1);
    let before = dora(&app, "from=2024-05-07T12:00:00.001Z&to=2024-05-08T00:00:00Z").await;
    assert_eq!(before["deployment_frequency"]["deployments"], 0, "d5 at 12:00:00.000 is before from");
}

#[tokio::test]
async fn offsets_and_unix_seconds_in_the_query_mean_the_same_instant() {
    let app = fixture().await;
    let utc = dora(&app, WEEK).await;
    let offset = dora(&app, "from=2024-05-01T02:00:00%2B02:00&to=2024-05-07T20:00:00-04:00").await;
    let unix = dora(&app, "from=1714521600&to=1715126400").await;
    assert_eq!(offset["from"], "2024-05-01T00:00:00.000Z");
    assert_eq!(offset["to"], "2024-05-08T00:00:00.000Z");
    assert_eq!(offset["deployment_frequency"], utc["deployment_frequency"]);
    assert_eq!(unix["lead_time_for_changes"], utc["lead_time_for_changes"]);
}

#[tokio::test]
async fn backfilled_deployments_count_when_they_were_deployed_not_when_posted() {
    let app = TestApp::new();
    let now = chrono::Utc::now();
    let two_months_ago = now - chrono::Duration::days(60);
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
    app.start(
        DeploymentBuilder::new("old")
            .set("first_commit_at", at(two_months_ago - chrono::Duration::hours(3)))
            .set("deploy_start_at", at(two_months_ago - chrono::Duration::hours(1)))
            .deployed_at(&at(two_months_ago)),
    )
    .await;
    let default_window = dora(&app, "").await;
    assert_eq!(default_window["deployment_frequency"]["deployments"], 0, "not in the last 30 days");
    let then = dora(
        &app,
        &format!(
            "from={}&to={}",
            (two_months_ago - chrono::Duration::days(1)).timestamp(),
            (two_months_ago + chrono::Duration::days(1)).timestamp()
        ),
    )
    .await;
    assert_eq!(then["deployment_frequency"]["deployments"], 1);
    close(&then["lead_time_for_changes"]["median_seconds"], 3.0 * 3600.0);
}

#[tokio::test]
async fn the_default_window_is_the_last_30_days() {
    let app = TestApp::new();
    let r = dora(&app, "").await;
    let from = chrono::DateTime::parse_from_rfc3339(r["from"].as_str().unwrap_or("")).expect("from");
    let to = chrono::DateTime::parse_from_rfc3339(r["to"].as_str().unwrap_or("")).expect("to");
    assert_eq!((to - from).num_days(), 30);
    assert!((chrono::Utc::now() - to.with_timezone(&chrono::Utc)).num_seconds().abs() < 60);
}

#[tokio::test]
async fn level_boundaries_hold_through_the_api() {
    let app = TestApp::new();
    // 20 deployments, one a day, each with a lead time of exactly one day; one caused an incident.
    for day in 1..=20 {
        let deployed = format!("2024-06-{day:02}T12:00:00Z");
        let commit = format!("2024-06-{:02}T12:00:00Z", day - 1).replace("06-00", "05-31");
        app.start(deployment(&format!("d{day}"), "api", "prod", &commit, &deployed, &deployed)).await;
    }
    incident(&app, json!({"project_id": "api", "deployment_id": "d7", "started_at": "2024-06-07T13:00:00Z", "restored_at": "2024-06-07T14:00:00Z"})).await;
    let r = dora(&app, "from=2024-06-01T00:00:00Z&to=2024-06-21T00:00:00Z").await;
    close(&r["deployment_frequency"]["per_day"], 1.0);
    assert_eq!(r["deployment_frequency"]["level"], "elite", "exactly one a day is elite");
    close(&r["lead_time_for_changes"]["median_seconds"], 86400.0);
    assert_eq!(r["lead_time_for_changes"]["level"], "high", "exactly one day is high");
    close(&r["change_failure_rate"]["rate"], 0.05);
    assert_eq!(r["change_failure_rate"]["level"], "elite", "exactly 5 % is elite");
    close(&r["time_to_restore"]["median_seconds"], 3600.0);
    assert_eq!(r["time_to_restore"]["level"], "high", "exactly one hour is high");
    assert_eq!(r["level"], "high");
}

#[tokio::test]
async fn the_daily_trend_has_every_day_with_empty_ones_zeroed() {
    let app = fixture().await;
    let reply = app.get(&format!("/dora/trend?interval=day&{WEEK}&{EVERY}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["interval"], "day");
    let buckets = reply.body["buckets"].as_array().cloned().unwrap_or_default();
    assert_eq!(buckets.len(), 7);
    let deployments: Vec<i64> =
        buckets.iter().map(|b| b["deployment_frequency"]["deployments"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(deployments, [2, 1, 2, 0, 0, 0, 1]);
    assert_eq!(buckets[0]["start"], "2024-05-01T00:00:00.000Z");
    assert_eq!(buckets[0]["end"], "2024-05-02T00:00:00.000Z");
    close(&buckets[0]["deployment_frequency"]["per_day"], 2.0);
    // 05-04: no deployment, but f1 failed; 05-05: i4 restored in 600 s.
    assert_eq!(buckets[3]["failed_deployments"], 1);
    assert_eq!(buckets[3]["lead_time_for_changes"]["median_seconds"], Value::Null);
    assert_eq!(buckets[3]["level"], Value::Null);
    close(&buckets[4]["time_to_restore"]["median_seconds"], 600.0);
    assert_eq!(buckets[4]["level"], "elite", "only time to restore has data that day");
}

#[tokio::test]
async fn weekly_trend_buckets_start_on_monday() {
    let app = fixture().await;
    let reply = app.get(&format!("/dora/trend?from=2024-04-29T00:00:00Z&to=2024-05-13T00:00:00Z&{EVERY}")).await;
    assert_eq!(reply.body["interval"], "week", "week is the default");
    let buckets = reply.body["buckets"].as_array().cloned().unwrap_or_default();
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[0]["start"], "2024-04-29T00:00:00.000Z");
    assert_eq!(buckets[1]["start"], "2024-05-06T00:00:00.000Z");
    // Week 1: d0..d4; week 2: d5, d6.
    assert_eq!(buckets[0]["deployment_frequency"]["deployments"], 5);
    assert_eq!(buckets[1]["deployment_frequency"]["deployments"], 2);
}

#[tokio::test]
async fn monthly_buckets_split_at_the_month_boundary() {
    let app = TestApp::new();
    for (id, at) in [("jan", "2024-01-31T23:59:59Z"), ("feb", "2024-02-01T00:00:00Z"), ("feb2", "2024-02-29T12:00:00Z")]
    {
        app.start(deployment(id, "api", "prod", "2024-01-01T00:00:00Z", at, at)).await;
    }
    let reply = app.get("/dora/trend?interval=month&from=2024-01-15T00:00:00Z&to=2024-03-15T00:00:00Z").await;
    let buckets = reply.body["buckets"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(String, String, i64)> = buckets
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap_or("").to_string(),
                b["end"].as_str().unwrap_or("").to_string(),
                b["deployment_frequency"]["deployments"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("2024-01-15T00:00:00.000Z".to_string(), "2024-02-01T00:00:00.000Z".to_string(), 1),
            ("2024-02-01T00:00:00.000Z".to_string(), "2024-03-01T00:00:00.000Z".to_string(), 2),
            ("2024-03-01T00:00:00.000Z".to_string(), "2024-03-15T00:00:00.000Z".to_string(), 0),
        ]
    );
    // February 2024 has 29 days: per_day is 2 / 29, to 4 decimals.
    close(&buckets[1]["deployment_frequency"]["per_day"], 0.069);
}

#[tokio::test]
async fn daily_buckets_stay_24_hours_across_a_dst_change() {
    let app = TestApp::new();
    // Europe and the US change clocks on 2024-03-31 and 2024-03-10; UTC does not.
    let reply = app.get("/dora/trend?interval=day&from=2024-03-09T00:00:00Z&to=2024-04-02T00:00:00Z").await;
    let buckets = reply.body["buckets"].as_array().cloned().unwrap_or_default();
    assert_eq!(buckets.len(), 24);
    for b in &buckets {
        let start = chrono::DateTime::parse_from_rfc3339(b["start"].as_str().unwrap_or("")).expect("start");
        let end = chrono::DateTime::parse_from_rfc3339(b["end"].as_str().unwrap_or("")).expect("end");
        assert_eq!((end - start).num_hours(), 24, "{b}");
        assert!(b["start"].as_str().unwrap_or("").ends_with("T00:00:00.000Z"));
    }
}

#[tokio::test]
async fn the_breakdown_groups_by_team_with_no_team_last() {
    let app = fixture().await;
    let reply = app.get(&format!("/dora/breakdown?by=team_id&{WEEK}&{EVERY}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["by"], "team_id");
    let groups = reply.body["groups"].as_array().cloned().unwrap_or_default();
    let keys: Vec<Value> = groups.iter().map(|g| g["key"].clone()).collect();
    assert_eq!(keys, [json!("backend"), Value::Null]);
    assert_eq!(groups[0]["deployment_frequency"]["deployments"], 5);
    close(&groups[0]["change_failure_rate"]["rate"], 0.4);
    assert_eq!(groups[0]["failed_deployments"], 1);
    assert_eq!(groups[0]["from"], "2024-05-01T00:00:00.000Z");
    assert_eq!(groups[1]["deployment_frequency"]["deployments"], 1);
    assert_eq!(groups[1]["time_to_restore"]["open_incidents"], 1);

    let by_project = app.get(&format!("/dora/breakdown?by=project_id&{WEEK}&{EVERY}")).await;
    let keys: Vec<Value> =
        by_project.body["groups"].as_array().map(|g| g.iter().map(|g| g["key"].clone()).collect()).unwrap_or_default();
    assert_eq!(keys, [json!("api"), json!("web")]);
    let by_env = app.get(&format!("/api/v1/dora/breakdown?by=environment&{WEEK}&project_id=web")).await;
    let keys: Vec<Value> =
        by_env.body["groups"].as_array().map(|g| g.iter().map(|g| g["key"].clone()).collect()).unwrap_or_default();
    assert_eq!(keys, [json!("staging")]);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let app = TestApp::new();
    let cases = [
        ("/dora?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "from"),
        ("/dora?from=2024-05-01T00:00:00Z&to=2024-05-01T00:00:00Z", "from"),
        ("/dora?from=last-week", "from"),
        ("/dora?to=2024-05-01", "to"),
        ("/dora/trend?interval=year", "interval"),
        ("/dora/trend?interval=day&from=2000-01-01T00:00:00Z&to=2010-01-01T00:00:00Z", "interval"),
        ("/dora/breakdown?by=user", "by"),
    ];
    for (uri, field) in cases {
        assert_error(&app.get(uri).await, StatusCode::BAD_REQUEST, "bad_request", Some(field));
    }
}

#[tokio::test]
async fn insights_need_credentials() {
    let app = TestApp::new();
    for uri in ["/dora", "/dora/trend", "/dora/breakdown", "/api/v1/dora"] {
        let reply = app.request(axum::http::Method::GET, uri, None, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
}

/// p1 has 3 deployments, p2 and p3 2 each, p4 1; p5 only an incident.
#[tokio::test]
async fn a_breakdown_keeps_the_largest_groups_and_counts_the_rest() {
    let app = TestApp::new();
    let mut n = 0;
    for (project, count) in [("p1", 3), ("p2", 2), ("p3", 2), ("p4", 1)] {
        for _ in 0..count {
            n += 1;
            app.start(DeploymentBuilder::new(&format!("d{n}")).project(project).deployed_at("2024-05-01T10:00:00Z"))
                .await;
        }
    }
    incident(&app, json!({"project_id": "p5", "started_at": "2024-05-02T00:00:00Z"})).await;
    let keys = |body: &Value| -> Vec<Value> {
        body["groups"].as_array().map(|g| g.iter().map(|g| g["key"].clone()).collect()).unwrap_or_default()
    };
    let all = app.get(&format!("/dora/breakdown?by=project_id&{WEEK}&{EVERY}")).await.body;
    // Most deployments first, ties by name; p5 has data (an incident) but no deployment.
    assert_eq!(keys(&all), [json!("p1"), json!("p2"), json!("p3"), json!("p4"), json!("p5")]);
    assert_eq!(all["omitted_groups"], 0);
    let top = app.get(&format!("/dora/breakdown?by=project_id&limit=2&{WEEK}&{EVERY}")).await.body;
    assert_eq!(keys(&top), [json!("p1"), json!("p2")]);
    assert_eq!(top["omitted_groups"], 3);
    assert_eq!(top["groups"][0]["deployment_frequency"]["deployments"], 3, "kept groups are complete");
    for bad in ["0", "1001", "ten"] {
        let reply = app.get(&format!("/dora/breakdown?limit={bad}")).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some("limit"));
    }
}
