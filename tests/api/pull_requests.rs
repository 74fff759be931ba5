//! `/pull-requests` through the API: hand-computed stages, the link to the
//! production deployment that shipped the merge, retries, conflicts, scope,
//! retention and erasure.

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, close, DeploymentBuilder, TestApp};

async fn pr(app: &TestApp, id: &str) -> Value {
    let reply = app.get(&format!("/pull-requests/{}", id.replace('#', "%23"))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

async fn step(app: &TestApp, id: &str, what: &str, body: Value) -> Value {
    let reply = app.post(&format!("/pull-requests/{}/{what}", id.replace('#', "%23")), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.body);
    reply.body
}

async fn open(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/pull-requests", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// A draft made ready, reviewed by its author (not counted) and by two
/// others, merged, shipped by staging first and then by production: every
/// stage as computed by hand.
#[tokio::test]
async fn a_draft_reviewed_merged_and_shipped_by_staging_then_production() {
    let app = TestApp::builder().teams(r#"{"teams": {"core": {"projects": ["api"]}}}"#).build();
    let created = open(
        &app,
        json!({"id": "api#7", "project_id": "api", "number": 7, "title": "Faster <b>builds</b>", "author": "ada",
               "base_branch": "main", "head_sha": "h7", "draft": true,
               "opened_at": "2024-05-01T10:00:00Z", "first_commit_at": "2024-05-01T08:00:00Z"}),
    )
    .await;
    assert_eq!(created["state"], "open");
    assert_eq!(created["team_id"], "core");
    assert_eq!(created["ready_at"], Value::Null, "a draft is not ready");
    assert_eq!(created["created_by"], "settings");

    step(&app, "api#7", "ready", json!({"date": "2024-05-01T12:00:00Z"})).await;
    let own = step(
        &app,
        "api#7",
        "reviewed",
        json!({"reviewed_at": "2024-05-01T12:10:00Z", "state": "approved", "reviewer": "ada"}),
    )
    .await;
    assert_eq!((own["reviews"].as_u64(), &own["first_review_at"]), (Some(0), &Value::Null), "the author's own");
    let review = json!({"reviewed_at": "2024-05-01T13:00:00Z", "state": "changes_requested", "reviewer": "bob"});
    step(&app, "api#7", "reviewed", review.clone()).await;
    // The same review again (a retry) counts once.
    assert_eq!(step(&app, "api#7", "reviewed", review).await["reviews"], 1);
    step(
        &app,
        "api#7",
        "reviewed",
        json!({"reviewed_at": "2024-05-01T14:00:00Z", "state": "approved", "reviewer": "cy"}),
    )
    .await;
    let merged = step(
        &app,
        "api#7",
        "merged",
        json!({"merged_at": "2024-05-01T15:00:00Z", "merge_commit_sha": "m7", "additions": 120, "deletions": 30}),
    )
    .await;
    assert_eq!(merged["state"], "merged");
    assert_eq!(merged["reviews"], 2);
    assert_eq!(merged["approved_at"], "2024-05-01T14:00:00.000Z");
    close(&merged["coding_seconds"], 4.0 * 3600.0);
    close(&merged["pickup_seconds"], 3600.0);
    close(&merged["review_seconds"], 2.0 * 3600.0);
    assert_eq!(merged["deploy_seconds"], Value::Null, "not shipped yet");

    // Staging ships it first: not linked.
    let staging = DeploymentBuilder::new("s1")
        .set("environment", "staging")
        .set("commits", json!([{"sha": "m7", "committed_at": "2024-05-01T15:00:00Z"}]))
        .deployed_at("2024-05-01T15:30:00Z");
    app.start(staging).await;
    assert_eq!(pr(&app, "api#7").await["deployment_id"], Value::Null, "staging does not count");
    // Production ships it.
    let production = DeploymentBuilder::new("p1")
        .set("environment", "production")
        .set(
            "commits",
            json!([{"sha": "x1", "committed_at": "2024-05-01T14:00:00Z"},
                               {"sha": "m7", "committed_at": "2024-05-01T15:00:00Z"}]),
        )
        .deployed_at("2024-05-01T17:00:00Z");
    app.start(production).await;
    let shipped = pr(&app, "api#7").await;
    assert_eq!(shipped["deployment_id"], "p1");
    assert_eq!(shipped["deployed_at"], "2024-05-01T17:00:00.000Z");
    close(&shipped["deploy_seconds"], 2.0 * 3600.0);
    close(&shipped["cycle_seconds"], 9.0 * 3600.0);

    // A later production deployment of the same commit does not take it over.
    let again = DeploymentBuilder::new("p2")
        .set("environment", "production")
        .set("commit_sha", "m7")
        .deployed_at("2024-05-02T09:00:00Z");
    app.start(again).await;
    assert_eq!(pr(&app, "api#7").await["deployment_id"], "p1");
    // Deleting the deployment that shipped it unlinks it.
    assert_eq!(app.delete("/deployments/p1").await.status, StatusCode::NO_CONTENT);
    assert_eq!(pr(&app, "api#7").await["deployment_id"], Value::Null);
}

/// A deployment that went live before the merge was reported links it when
/// the merge arrives; a merge never deployed has no deploy or cycle time;
/// merged without a review, review time runs from ready_at.
#[tokio::test]
async fn a_merge_reported_after_its_deployment_and_one_never_deployed() {
    let app = TestApp::new();
    let live = DeploymentBuilder::new("p1").set("commit_sha", "m1").deployed_at("2024-05-01T12:00:00Z");
    app.start(live).await;
    open(&app, json!({"id": "api#1", "project_id": "api", "opened_at": "2024-05-01T09:00:00Z"})).await;
    let merged =
        step(&app, "api#1", "merged", json!({"merged_at": "2024-05-01T11:00:00Z", "merge_commit_sha": "m1"})).await;
    assert_eq!(merged["deployment_id"], "p1");
    close(&merged["review_seconds"], 2.0 * 3600.0);
    close(&merged["deploy_seconds"], 3600.0);
    close(&merged["cycle_seconds"], 3.0 * 3600.0);
    assert_eq!(merged["coding_seconds"], Value::Null, "no first commit known");

    open(&app, json!({"id": "api#2", "project_id": "api", "opened_at": "2024-05-01T09:00:00Z"})).await;
    let never =
        step(&app, "api#2", "merged", json!({"merged_at": "2024-05-01T10:00:00Z", "merge_commit_sha": "m2"})).await;
    assert_eq!((&never["deploy_seconds"], &never["cycle_seconds"]), (&Value::Null, &Value::Null));
}

#[tokio::test]
async fn retries_conflicts_times_out_of_order_and_reopening() {
    let app = TestApp::new();
    let body = json!({"id": "api#3", "project_id": "api", "title": "t", "opened_at": "2024-05-01T09:00:00Z"});
    open(&app, body.clone()).await;
    assert_eq!(app.post("/pull-requests", body).await.status, StatusCode::OK, "the same again");
    let other = json!({"id": "api#3", "project_id": "api", "title": "other", "opened_at": "2024-05-01T09:00:00Z"});
    assert_error(&app.post("/pull-requests", other).await, StatusCode::CONFLICT, "conflict", Some("title"));
    assert_error(
        &app.post("/pull-requests", json!({"project_id": "api"})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("id"),
    );
    assert_error(
        &app.post("/pull-requests", json!({"id": "x", "project_id": "api", "draft": "yes"})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("draft"),
    );

    let early = json!({"merged_at": "2024-05-01T08:00:00Z", "merge_commit_sha": "m"});
    assert_error(
        &app.post("/pull-requests/api%233/merged", early).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("merged_at"),
    );
    let early_review = json!({"reviewed_at": "2024-05-01T08:00:00Z", "state": "approved"});
    assert_error(
        &app.post("/pull-requests/api%233/reviewed", early_review).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("reviewed_at"),
    );
    assert_error(
        &app.post("/pull-requests/api%233/reviewed", json!({"state": "lgtm"})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("state"),
    );
    assert_error(
        &app.post("/pull-requests/api%233/merged", json!({})).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
        Some("merge_commit_sha"),
    );

    let closed = step(&app, "api#3", "closed", json!({"closed_at": "2024-05-01T10:00:00Z"})).await;
    assert_eq!(closed["state"], "closed");
    let merge = json!({"merged_at": "2024-05-01T11:00:00Z", "merge_commit_sha": "m"});
    assert_error(
        &app.post("/pull-requests/api%233/merged", merge.clone()).await,
        StatusCode::CONFLICT,
        "conflict",
        None,
    );
    let reopened = step(&app, "api#3", "reopened", json!({})).await;
    assert_eq!((&reopened["state"], &reopened["closed_at"]), (&json!("open"), &Value::Null));
    step(&app, "api#3", "merged", merge.clone()).await;
    assert_eq!(app.post("/pull-requests/api%233/merged", merge).await.status, StatusCode::OK, "a retry");
    let other_sha = json!({"merged_at": "2024-05-01T11:00:00Z", "merge_commit_sha": "n"});
    assert_error(
        &app.post("/pull-requests/api%233/merged", other_sha).await,
        StatusCode::CONFLICT,
        "conflict",
        Some("merge_commit_sha"),
    );
    assert_error(&app.post("/pull-requests/nope/ready", json!({})).await, StatusCode::NOT_FOUND, "not_found", None);

    let listed = app.get("/pull-requests?state=merged&project_id=api").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body.as_array().map(Vec::len), Some(1));
    assert_eq!(app.get("/pull-requests?state=open").await.body, json!([]));
    assert_eq!(app.delete("/pull-requests/api%233").await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/pull-requests/api%233").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_scoped_token_reports_only_its_projects_and_ingest_cannot_read_them() {
    let app = TestApp::new();
    let made = app.post("/tokens", json!({"name": "ci", "role": "ingest", "projects": ["api"]})).await;
    let secret = format!("Bearer {}", made.body["token"].as_str().expect("secret"));
    let post = |body: Value| {
        let (app, secret) = (&app, secret.clone());
        async move { app.request(Method::POST, "/pull-requests", Some(&body.to_string()), Some(&secret)).await }
    };
    let mine = post(json!({"id": "api#1", "project_id": "api"})).await;
    assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
    assert_eq!(mine.body["created_by"], "ci");
    assert_error(
        &post(json!({"id": "web#1", "project_id": "web"})).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        Some("project_id"),
    );
    let read = app.request(Method::GET, "/pull-requests", None, Some(&secret)).await;
    assert_eq!(read.status, StatusCode::FORBIDDEN, "reading pull requests needs read");
}

#[tokio::test]
async fn erasing_a_username_clears_authors_and_reviewers_and_retention_purges_by_opened_at() {
    let app = TestApp::new();
    // Opened with an Idempotency-Key: its stored answer repeats the author.
    let body = json!({"id": "api#1", "project_id": "api", "author": "ada", "opened_at": "2024-05-01T09:00:00Z"});
    let (text, bearer) = (body.to_string(), TestApp::bearer());
    let headers = [("authorization", bearer.as_str()), ("idempotency-key", "k-ada")];
    let first = app.request_with(Method::POST, "/pull-requests", Some(&text), &headers).await;
    assert_eq!((first.status, &first.body["author"]), (StatusCode::CREATED, &json!("ada")), "{}", first.body);
    step(
        &app,
        "api#1",
        "reviewed",
        json!({"reviewed_at": "2024-05-01T10:00:00Z", "state": "commented", "reviewer": "ada"}),
    )
    .await;
    open(&app, json!({"id": "api#2", "project_id": "api", "author": "bob", "opened_at": "2024-06-01T09:00:00Z"})).await;
    let author_keys = || async {
        let rows = app.sql_rows("SELECT author_key FROM pull_requests ORDER BY id").await;
        rows.into_iter()
            .map(|row| match &row[0] {
                em_metrics::store::SqlValue::Text(key) => Some(key.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(author_keys().await.iter().all(Option::is_some), "both authors have a keyed hash");
    assert_eq!(app.delete("/usernames/ada").await.status, StatusCode::OK);
    assert_eq!(pr(&app, "api#1").await["author"], Value::Null);
    assert_eq!(pr(&app, "api#2").await["author"], "bob");
    let keys = author_keys().await;
    assert!(keys[0].is_none() && keys[1].is_some(), "ada's keyed hash goes with her name: {keys:?}");
    let replay = app.request_with(Method::POST, "/pull-requests", Some(&text), &headers).await;
    assert_eq!(replay.body["author"], Value::Null, "the stored answer forgets her too: {}", replay.body);
    let left = app.sql_i64("SELECT count(*) FROM pull_request_reviews WHERE reviewer = 'ada'").await;
    assert_eq!(left, 0, "the review stays, its reviewer does not");

    let purged = app
        .store
        .purge_before(em_metrics::time::Timestamp::parse("2024-05-15T00:00:00Z").expect("time"))
        .await
        .expect("purge");
    assert_eq!(purged.pull_requests, 1);
    assert_eq!(app.get("/pull-requests/api%231").await.status, StatusCode::NOT_FOUND);
    assert_eq!(pr(&app, "api#2").await["id"], "api#2");
    let reviews = app.sql_i64("SELECT count(*) FROM pull_request_reviews").await;
    assert_eq!(reviews, 0, "its reviews went with it");
}

/// `/dora/cycle-time` over two weeks, against hand counts: stages over the
/// pull requests merged in the window; opened and closed counted in it; the
/// per-author figure only with enough distinct authors.
#[tokio::test]
async fn cycle_time_over_a_window_matches_hand_counts_and_withholds_small_groups() {
    // Authors are told apart even when their logins are not stored.
    for (min_group_size, store_usernames, expect_authors) in [(5, true, None), (2, true, Some(2)), (2, false, Some(2))]
    {
        let builder = TestApp::builder().min_group_size(min_group_size);
        let app = if store_usernames { builder.build() } else { builder.without_stored_usernames().build() };
        // A: 2 h coding, 1 h pickup, 2 h review, 1 h deploy, 6 h in all.
        open(
            &app,
            json!({"id": "a", "project_id": "api", "author": "a1", "opened_at": "2024-05-02T09:00:00Z",
                          "first_commit_at": "2024-05-02T07:00:00Z"}),
        )
        .await;
        step(
            &app,
            "a",
            "reviewed",
            json!({"reviewed_at": "2024-05-02T10:00:00Z", "state": "approved", "reviewer": "r"}),
        )
        .await;
        step(&app, "a", "merged", json!({"merged_at": "2024-05-02T12:00:00Z", "merge_commit_sha": "ma"})).await;
        app.start(DeploymentBuilder::new("p1").set("commit_sha", "ma").deployed_at("2024-05-02T13:00:00Z")).await;
        // B: merged an hour after opening without a review; never deployed.
        open(&app, json!({"id": "b", "project_id": "api", "author": "a2", "opened_at": "2024-05-03T09:00:00Z"})).await;
        step(&app, "b", "merged", json!({"merged_at": "2024-05-03T10:00:00Z", "merge_commit_sha": "mb"})).await;
        // C: closed unmerged.
        open(&app, json!({"id": "c", "project_id": "api", "author": "a3", "opened_at": "2024-05-04T09:00:00Z"})).await;
        step(&app, "c", "closed", json!({"closed_at": "2024-05-04T10:00:00Z"})).await;
        // D: opened before the window (24 h coding), merged in it 15 days after ready.
        open(
            &app,
            json!({"id": "d", "project_id": "api", "author": "a1", "opened_at": "2024-04-20T09:00:00Z",
                          "first_commit_at": "2024-04-19T09:00:00Z"}),
        )
        .await;
        step(&app, "d", "merged", json!({"merged_at": "2024-05-05T09:00:00Z", "merge_commit_sha": "md"})).await;
        // E: opened in the window, merged after it.
        open(&app, json!({"id": "e", "project_id": "api", "author": "a9", "opened_at": "2024-05-10T09:00:00Z"})).await;
        step(&app, "e", "merged", json!({"merged_at": "2024-05-20T09:00:00Z", "merge_commit_sha": "me"})).await;

        let reply = app.get("/dora/cycle-time?from=2024-05-01T00:00:00Z&to=2024-05-15T00:00:00Z").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let r = reply.body;
        assert_eq!(r["pull_requests"], json!({"opened": 4, "merged": 3, "closed_unmerged": 1, "merged_per_week": 1.5}));
        assert_eq!(r["coding"], json!({"median_seconds": 46800.0, "p90_seconds": 78480.0, "samples": 2}));
        assert_eq!(r["pickup"], json!({"median_seconds": 3600.0, "p90_seconds": 3600.0, "samples": 1}));
        assert_eq!(r["review"], json!({"median_seconds": 7200.0, "p90_seconds": 1038240.0, "samples": 3}));
        assert_eq!(r["deploy"], json!({"median_seconds": 3600.0, "p90_seconds": 3600.0, "samples": 1}));
        assert_eq!(r["cycle_time"], json!({"median_seconds": 21600.0, "p90_seconds": 21600.0, "samples": 1}));
        assert_eq!(r["filters"]["environment"], json!(["production", "prod"]));
        assert_eq!(
            r["authors"],
            json!(expect_authors),
            "min group size {min_group_size}, logins kept {store_usernames}"
        );
        assert_eq!(pr(&app, "a").await["author"], if store_usernames { json!("a1") } else { Value::Null });
        assert_eq!(r["merged_per_author_per_week"], json!(expect_authors.map(|_| 0.75)));

        let other = app.get("/dora/cycle-time?from=2024-05-01T00:00:00Z&to=2024-05-15T00:00:00Z&project_id=web").await;
        assert_eq!(other.body["pull_requests"]["merged"], 0);
        assert_eq!(other.body["coding"], json!({"median_seconds": null, "p90_seconds": null, "samples": 0}));
    }
}

/// The pull request instruments, once per state change, after commit:
/// opened, picked up (first review by another), merged with coding, review
/// and size, and deploy and cycle time when production ships it (with its
/// environment). Never the author.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_request_metrics_are_recorded_once_each_without_the_author() {
    let telemetry = crate::metrics::telemetry(em_metrics::config::MetricsSettings::local("test-env")).await;
    let app =
        TestApp::builder().teams(r#"{"teams": {"backend": {"projects": ["api"]}}}"#).telemetry(&telemetry).build();
    open(
        &app,
        json!({"id": "api#1", "project_id": "api", "author": "ada", "opened_at": "2024-05-01T09:00:00Z",
                      "first_commit_at": "2024-05-01T08:00:00Z"}),
    )
    .await;
    let again = json!({"id": "api#1", "project_id": "api", "author": "ada", "opened_at": "2024-05-01T09:00:00Z",
                       "first_commit_at": "2024-05-01T08:00:00Z"});
    assert_eq!(app.post("/pull-requests", again).await.status, StatusCode::OK, "a retry records nothing");
    let review = json!({"reviewed_at": "2024-05-01T09:30:00Z", "state": "commented", "reviewer": "bob"});
    step(&app, "api#1", "reviewed", review.clone()).await;
    step(
        &app,
        "api#1",
        "reviewed",
        json!({"reviewed_at": "2024-05-01T10:00:00Z", "state": "approved", "reviewer": "cy"}),
    )
    .await;
    let merge =
        json!({"merged_at": "2024-05-01T11:00:00Z", "merge_commit_sha": "m1", "additions": 40, "deletions": 20});
    step(&app, "api#1", "merged", merge.clone()).await;
    step(&app, "api#1", "merged", merge).await;
    app.start(DeploymentBuilder::new("p1").set("commit_sha", "m1").deployed_at("2024-05-01T13:00:00Z")).await;
    app.start(DeploymentBuilder::new("p2").set("commit_sha", "m1").deployed_at("2024-05-01T15:00:00Z")).await;

    let text = crate::metrics::metrics_text(&app).await;
    for line in [
        r#"pull_request_opened_total{project_id="api",team_id="backend"} 1"#,
        r#"pull_request_merged_total{project_id="api",team_id="backend"} 1"#,
        r#"pull_request_coding_time_seconds_sum{project_id="api",team_id="backend"} 3600"#,
        r#"pull_request_pickup_time_seconds_sum{project_id="api",team_id="backend"} 1800"#,
        r#"pull_request_pickup_time_seconds_count{project_id="api",team_id="backend"} 1"#,
        r#"pull_request_review_time_seconds_sum{project_id="api",team_id="backend"} 5400"#,
        r#"pull_request_deploy_time_seconds_sum{environment="production",project_id="api",team_id="backend"} 7200"#,
        r#"pull_request_deploy_time_seconds_count{environment="production",project_id="api",team_id="backend"} 1"#,
        r#"pull_request_cycle_time_seconds_sum{environment="production",project_id="api",team_id="backend"} 18000"#,
        r#"pull_request_size_bucket{project_id="api",team_id="backend",le="50"} 0"#,
        r#"pull_request_size_bucket{project_id="api",team_id="backend",le="100"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing `{line}` in:\n{text}");
    }
    // As label values: a random service.instance.id may hold the letters "ada".
    assert!(!text.contains(r#""ada""#) && !text.contains(r#""bob""#), "no person in a metric:\n{text}");
}

/// `/dora/trend` buckets count the pull requests merged in them and their
/// median cycle time; `/dora/breakdown` groups by team or project give it too.
#[tokio::test]
async fn trend_and_breakdown_carry_merged_pull_requests_and_cycle_time() {
    let app = TestApp::builder()
        .teams(r#"{"teams": {"core": {"projects": ["api"]}, "shop": {"projects": ["web"]}}}"#)
        .build();
    // Week of 2024-05-06: two merges of api shipped after 2 h and 4 h of cycle; one of web, never shipped.
    for (id, project, opened, merged, sha, deployed) in [
        ("a1", "api", "2024-05-06T08:00:00Z", "2024-05-06T09:00:00Z", "s1", Some("2024-05-06T10:00:00Z")),
        ("a2", "api", "2024-05-07T08:00:00Z", "2024-05-07T10:00:00Z", "s2", Some("2024-05-07T12:00:00Z")),
        ("w1", "web", "2024-05-07T08:00:00Z", "2024-05-07T09:00:00Z", "s3", None),
        // The next week: one more api merge, shipped 1 h after opening.
        ("a3", "api", "2024-05-14T08:00:00Z", "2024-05-14T08:30:00Z", "s4", Some("2024-05-14T09:00:00Z")),
    ] {
        open(&app, json!({"id": id, "project_id": project, "opened_at": opened})).await;
        step(&app, id, "merged", json!({"merged_at": merged, "merge_commit_sha": sha})).await;
        if let Some(at) = deployed {
            let d = DeploymentBuilder::new(&format!("d-{id}")).project(project).set("commit_sha", sha);
            app.start(d.set("first_commit_at", opened).set("deploy_start_at", opened).deployed_at(at)).await;
        }
    }
    let trend = app.get("/dora/trend?from=2024-05-06T00:00:00Z&to=2024-05-20T00:00:00Z&interval=week").await;
    assert_eq!(trend.status, StatusCode::OK, "{}", trend.body);
    let buckets = trend.body["buckets"].as_array().expect("buckets");
    assert_eq!(buckets.len(), 2);
    assert_eq!(
        (&buckets[0]["merged_pull_requests"], &buckets[0]["cycle_time_median_seconds"]),
        (&json!(3), &json!(10800.0))
    );
    assert_eq!(
        (&buckets[1]["merged_pull_requests"], &buckets[1]["cycle_time_median_seconds"]),
        (&json!(1), &json!(3600.0))
    );

    let by_team = app.get("/dora/breakdown?from=2024-05-06T00:00:00Z&to=2024-05-20T00:00:00Z&by=team_id").await;
    assert_eq!(by_team.status, StatusCode::OK, "{}", by_team.body);
    let median_of = |key: &str| {
        by_team.body["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["key"] == key)
            .map(|g| g["cycle_time_median_seconds"].clone())
    };
    assert_eq!(median_of("core"), Some(json!(7200.0)), "api: 2 h, 4 h and 1 h");
    assert_eq!(median_of("shop"), None, "a breakdown's groups are those with deployments: web has none");
}
