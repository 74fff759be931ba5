//! The dashboard through the real router: who may see it, the session
//! cookie, the security headers, escaping, and numbers that equal `/dora`.
//! The browser checks (Chromium, axe-core, screenshots) are in
//! tests/stack/test_ui_browser.py.

use axum::http::{header, Method, StatusCode};
use base64::Engine;
use em_metrics::config::AuthSettings;
use em_metrics::secret::Secret;
use serde_json::{json, Value};

use crate::helpers::{assert_error, DeploymentBuilder, TestApp, TextReply, TOKEN};

const WINDOW: &str = "from=2024-05-01T00:00:00Z&to=2024-05-08T00:00:00Z";

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

async fn page(app: &TestApp, uri: &str, headers: &[(&str, &str)]) -> TextReply {
    app.request_text(Method::GET, uri, None, headers).await
}

async fn sign_in(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> TextReply {
    let body = format!("token={}", token.replace(' ', "+"));
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    app.request_text(Method::POST, "/ui/login", Some(&body), &headers).await
}

/// The `name=value` of a session cookie from a login's Set-Cookie.
fn session_of(reply: &TextReply) -> String {
    let set = reply.headers.get(header::SET_COOKIE).expect("a Set-Cookie").to_str().expect("text");
    set.split(';').next().expect("name=value").to_string()
}

/// A tile's exact number, from its `data-value`.
fn tile_value(html: &str, key: &str) -> Option<f64> {
    let tile = &html[html.find(&format!("data-key=\"{key}\""))?..];
    let tag = tile.split("class=\"value\"").nth(1)?.split('>').next()?;
    tag.split_once("data-value=\"")?.1.split('"').next()?.parse().ok()
}

fn both_methods() -> AuthSettings {
    AuthSettings {
        disabled: false,
        token: Some(Secret::new(TOKEN)),
        basic: Some((Secret::new("viewer"), Secret::new("s3cret"))),
    }
}

/// Three deployments in the first week of May 2024 with lead times of 2 h,
/// 4 h and 26 h; the second caused an incident restored after 30 minutes.
async fn story(app: &TestApp) {
    let deployments = [
        ("d1", "web", "2024-05-01T08:00:00Z", "2024-05-01T10:00:00Z"),
        ("d2", "api", "2024-05-02T08:00:00Z", "2024-05-02T12:00:00Z"),
        ("d3", "api", "2024-05-03T08:00:00Z", "2024-05-04T10:00:00Z"),
    ];
    for (id, project, first, deployed) in deployments {
        let d = DeploymentBuilder::new(id)
            .project(project)
            .set("first_commit_at", first)
            .set("deploy_start_at", deployed)
            .deployed_at(deployed);
        app.start(d).await;
    }
    let incident = json!({"id": "inc-1", "project_id": "api", "deployment_id": "d2",
        "title": "<script>alert(1)</script>", "started_at": "2024-05-02T13:00:00Z",
        "restored_at": "2024-05-02T13:30:00Z"});
    assert_eq!(app.post("/incidents", incident).await.status, StatusCode::CREATED);
    let open = json!({"id": "inc/2 & co", "project_id": "web", "title": "checkout \"slow\"",
        "started_at": "2024-05-05T09:00:00Z"});
    assert_eq!(app.post("/incidents", open).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_root_redirects_to_the_dashboard() {
    let app = TestApp::new();
    let reply = page(&app, "/", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "/ui");
}

#[tokio::test]
async fn without_credentials_the_page_sends_the_browser_to_the_login_form() {
    let app = TestApp::new();
    story(&app).await;
    let reply = page(&app, "/ui", &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "/ui/login");
    assert!(!reply.text.contains("api"), "no data before signing in");
    let form = page(&app, "/ui/login", &[]).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("type=\"password\" name=\"token\""), "{}", form.text);
}

#[tokio::test]
async fn with_basic_auth_the_page_asks_the_browser_for_it() {
    let app = TestApp::builder().auth(both_methods()).build();
    story(&app).await;
    let reply = page(&app, "/ui", &[]).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Basic realm=\"em-metrics\"");
    assert!(reply.headers[header::CONTENT_TYPE].to_str().expect("text").starts_with("text/html"));
    assert!(reply.text.contains("href=\"/ui/login\""), "the token login is offered too");
    assert!(!reply.text.contains("d2"));
    let wrong = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("viewer:nope"));
    assert_eq!(page(&app, "/ui", &[("authorization", &wrong)]).await.status, StatusCode::UNAUTHORIZED);
    let right = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("viewer:s3cret"));
    let ok = page(&app, "/ui", &[("authorization", &right)]).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(!ok.text.contains("Sign out"), "nothing to sign out of with basic auth");
}

#[tokio::test]
async fn every_dashboard_answer_carries_the_security_headers() {
    let app = TestApp::new();
    let long = format!("/ui?days={}", "7".repeat(9000));
    let answers = [
        (Method::GET, "/ui", StatusCode::OK),
        (Method::GET, "/ui/login", StatusCode::SEE_OTHER),
        (Method::GET, "/ui/static/app.css", StatusCode::OK),
        (Method::GET, "/", StatusCode::SEE_OTHER),
        // Answered by the application's fallbacks and limits, not the dashboard's routes.
        (Method::GET, "/ui/no-such-page", StatusCode::NOT_FOUND),
        (Method::GET, "/ui/static/no-such-file.js", StatusCode::NOT_FOUND),
        (Method::PUT, "/ui", StatusCode::METHOD_NOT_ALLOWED),
        (Method::DELETE, "/ui/login", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, long.as_str(), StatusCode::URI_TOO_LONG),
    ];
    for (method, uri, status) in answers {
        let reply = app.request_text(method.clone(), uri, None, &[("authorization", &bearer())]).await;
        let uri = &uri[..uri.len().min(40)];
        assert_eq!(reply.status, status, "{method} {uri}");
        let h = &reply.headers;
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("text");
        assert!(csp.starts_with("default-src 'self'"), "{method} {uri}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{uri}: {csp}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
        assert_eq!(h[header::REFERRER_POLICY], "same-origin", "{uri}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{uri}");
    }
    let ui = page(&app, "/ui", &[("authorization", &bearer())]).await;
    assert_eq!(ui.headers[header::CACHE_CONTROL], "no-store");
    assert!(!ui.text.contains("<script>"), "no inline script: only <script src>");
    assert!(!ui.text.contains(" style="), "no inline styles");
    for outside in ["http://", "https://", "//cdn", "fonts.g"] {
        assert!(!ui.text.contains(outside), "nothing loaded from another origin: {outside}");
    }
}

#[tokio::test]
async fn a_token_login_sets_a_strict_http_only_cookie_that_holds_no_token() {
    let app = TestApp::new();
    let reply = sign_in(&app, TOKEN, &[]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[header::LOCATION], "/ui");
    let set = reply.headers[header::SET_COOKIE].to_str().expect("text");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(part), "{part} in {set}");
    }
    assert!(!set.contains("Secure"), "plain http: a Secure cookie would be dropped");
    assert!(!set.contains(TOKEN), "the cookie holds a session id, never the token");
    let behind_tls = sign_in(&app, TOKEN, &[("x-forwarded-proto", "https")]).await;
    assert!(behind_tls.headers[header::SET_COOKIE].to_str().expect("text").contains("; Secure"));
    assert_ne!(session_of(&reply), session_of(&behind_tls), "each login gets its own session");
}

#[tokio::test]
async fn the_session_opens_the_page_and_the_read_only_json_but_never_a_write() {
    let app = TestApp::new();
    story(&app).await;
    let cookie = session_of(&sign_in(&app, TOKEN, &[]).await);
    let with = [("cookie", cookie.as_str())];
    let ui = page(&app, &format!("/ui?{WINDOW}"), &with).await;
    assert_eq!(ui.status, StatusCode::OK);
    assert!(ui.text.contains("Sign out"));
    assert!(!ui.text.contains(TOKEN), "the token never appears in a page");
    for uri in ["/dora", "/api/v1/dora/trend", "/dora/breakdown", "/api/v1/deployments/d1", "/incidents"] {
        assert_eq!(app.request(Method::GET, uri, None, None).await.status, StatusCode::UNAUTHORIZED, "{uri}");
        let reply = app.request_with(Method::GET, uri, None, &with).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.body);
    }
    // Writes and the other routes still need the API's credentials.
    let post = app.request_with(Method::POST, "/deployments", Some(r#"{"id":"x","project_id":"p"}"#), &with).await;
    assert_error(&post, StatusCode::UNAUTHORIZED, "unauthorized", None);
    let delete = app.request_with(Method::DELETE, "/api/v1/deployments/d1", None, &with).await;
    assert_eq!(delete.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.request_with(Method::GET, "/config", None, &with).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get("/deployments/d1").await.status, StatusCode::OK, "nothing was deleted");
}

#[tokio::test]
async fn logging_out_ends_the_session_for_good() {
    let app = TestApp::new();
    let cookie = session_of(&sign_in(&app, TOKEN, &[]).await);
    let with = [("cookie", cookie.as_str())];
    assert_eq!(page(&app, "/ui", &with).await.status, StatusCode::OK);
    let out = app.request_text(Method::POST, "/ui/logout", None, &with).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers[header::SET_COOKIE].to_str().expect("text").contains("Max-Age=0"));
    // The old cookie, replayed, no longer works.
    assert_eq!(page(&app, "/ui", &with).await.status, StatusCode::SEE_OTHER);
    assert_eq!(app.request_with(Method::GET, "/dora", None, &with).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_repeated_failures_are_rate_limited() {
    let app = TestApp::new();
    let wrong = sign_in(&app, "not-the-token", &[]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    assert!(wrong.text.contains("That token is not right."));
    assert!(!wrong.text.contains("not-the-token"), "what was typed is not echoed");
    for _ in 1..em_metrics::auth::SIGN_IN_FAILURE_LIMIT {
        assert_eq!(sign_in(&app, "guess", &[]).await.status, StatusCode::FORBIDDEN);
    }
    let limited = sign_in(&app, TOKEN, &[]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "even the right token waits");
    assert!(limited.headers.get(header::RETRY_AFTER).is_some());
    assert!(limited.headers.get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_forged_or_unknown_cookie_opens_nothing() {
    let app = TestApp::new();
    let forged = format!("em_metrics_session={}", "A".repeat(43));
    assert_eq!(page(&app, "/ui", &[("cookie", &forged)]).await.status, StatusCode::SEE_OTHER);
    let token_as_cookie = format!("em_metrics_session={TOKEN}");
    assert_eq!(page(&app, "/ui", &[("cookie", &token_as_cookie)]).await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_tiles_show_exactly_what_dora_gives_for_the_same_window() {
    let app = TestApp::new();
    story(&app).await;
    let ui = page(&app, &format!("/ui?{WINDOW}"), &[("authorization", &bearer())]).await;
    assert_eq!(ui.status, StatusCode::OK, "{}", ui.text);
    let dora = app.get(&format!("/dora?{WINDOW}")).await.body;
    let expect = |path: &str| dora.pointer(path).and_then(Value::as_f64);
    let pairs = [
        ("deployment_frequency", "/deployment_frequency/per_day"),
        ("lead_time_for_changes", "/lead_time_for_changes/median_seconds"),
        ("change_failure_rate", "/change_failure_rate/rate"),
        ("failed_deployment_recovery_time", "/failed_deployment_recovery_time/median_seconds"),
        ("rework_rate", "/rework_rate/rate"),
    ];
    for (key, path) in pairs {
        assert_eq!(tile_value(&ui.text, key), expect(path), "{key}");
    }
    // Worked out by hand: 3 deployments over 7 days; lead times 2 h, 4 h
    // and 26 h (median 4 h); d2 failed (1 of 3); recovered 1.5 h after d2.
    assert_eq!(tile_value(&ui.text, "deployment_frequency"), Some(0.4286), "3 / 7 a day, to 4 decimals");
    assert_eq!(tile_value(&ui.text, "lead_time_for_changes"), Some(4.0 * 3600.0));
    assert!(ui.text.contains(">4 h</p>"), "the human form");
    assert!(ui.text.contains(">33.3 %</p>"));
    assert!(ui.text.contains(">1 h 30 min</p>"));
    assert!(ui.text.contains(">3.0 per week</p>"));
}

#[tokio::test]
async fn filters_change_the_tiles_as_they_change_dora() {
    let app = TestApp::new();
    story(&app).await;
    let ui = page(&app, &format!("/ui?{WINDOW}&project_id=api"), &[("authorization", &bearer())]).await;
    let dora = app.get(&format!("/dora?{WINDOW}&project_id=api")).await.body;
    assert_eq!(tile_value(&ui.text, "lead_time_for_changes"), dora["lead_time_for_changes"]["median_seconds"].as_f64());
    assert_eq!(tile_value(&ui.text, "change_failure_rate"), Some(0.5), "1 of the 2 api deployments");
    assert!(ui.text.contains("<option value=\"api\" selected>"), "the filter shows as chosen");
}

#[tokio::test]
async fn user_input_is_shown_as_text() {
    let app = TestApp::new();
    story(&app).await;
    let ui = page(&app, &format!("/ui?{WINDOW}"), &[("authorization", &bearer())]).await;
    assert!(!ui.text.contains("<script>alert(1)</script>"));
    assert!(ui.text.contains("checkout &quot;slow&quot;"), "the open incident, escaped");
    // Links to a record's JSON encode its id as one path segment.
    assert!(ui.text.contains("href=\"/api/v1/incidents/inc%2F2%20%26%20co\""), "{}", ui.text);
    let json = app.get("/api/v1/incidents/inc%2F2%20%26%20co").await;
    assert_eq!(json.status, StatusCode::OK, "the link leads to the record");
}

#[tokio::test]
async fn the_breakdown_has_one_row_per_group_and_sorts_by_any_column() {
    let app = TestApp::builder()
        .teams(r#"{"teams": {"shop": {"projects": ["web"]}, "core": {"projects": ["api"]}}}"#)
        .build();
    story(&app).await;
    let auth = [("authorization", bearer())];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ui = page(&app, &format!("/ui?{WINDOW}"), &auth).await;
    let rows = |html: &str| -> Vec<String> {
        html.split("<th scope=\"row\">").skip(1).map(|r| r.split('<').next().unwrap_or_default().to_string()).collect()
    };
    assert_eq!(rows(&ui.text), ["core", "shop"], "most deployments first");
    let by_key = page(&app, &format!("/ui?{WINDOW}&sort=key&dir=desc"), &auth).await;
    assert_eq!(rows(&by_key.text), ["shop", "core"]);
    let by_lead = page(&app, &format!("/ui?{WINDOW}&sort=lead_time&dir=asc"), &auth).await;
    assert_eq!(rows(&by_lead.text), ["shop", "core"], "2 h before a 15 h median");
    assert!(by_lead.text.contains("aria-sort=\"ascending\""));
    let by_project = page(&app, &format!("/ui?{WINDOW}&by=project_id"), &auth).await;
    assert_eq!(rows(&by_project.text), ["api", "web"]);
}

#[tokio::test]
async fn an_empty_store_says_how_to_record_a_first_deployment() {
    let app = TestApp::new();
    let ui = page(&app, "/ui", &[("authorization", &bearer())]).await;
    assert_eq!(ui.status, StatusCode::OK);
    assert!(ui.text.contains("No deployments yet"));
    assert!(ui.text.contains("/api/v1/deployments"));
    assert!(ui.text.contains("em-metrics demo"));
}

#[tokio::test]
async fn bad_parameters_get_a_json_error_naming_them() {
    let app = TestApp::new();
    let auth = Some(bearer());
    for (query, field) in [("days=8", "days"), ("windw=7", "windw"), ("by=user", "by"), ("refresh=0", "refresh")] {
        let reply = app.request(Method::GET, &format!("/ui?{query}"), None, auth.as_deref()).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "bad_request", Some(field));
    }
    // Parameters are read only after the credentials.
    let unsigned = page(&app, "/ui?days=8", &[]).await;
    assert_eq!(unsigned.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn refresh_reloads_the_page_for_a_wall_screen() {
    let app = TestApp::new();
    let ui = page(&app, "/ui?refresh=60", &[("authorization", &bearer())]).await;
    assert!(ui.text.contains("<meta http-equiv=\"refresh\" content=\"60\">"));
    assert!(ui.text.contains("name=\"refresh\" value=\"60\""), "the filters keep it");
}

#[tokio::test]
async fn without_auth_configured_the_dashboard_is_open_and_has_no_login() {
    let app = TestApp::builder().auth(AuthSettings { disabled: true, token: None, basic: None }).build();
    assert_eq!(page(&app, "/ui", &[]).await.status, StatusCode::OK);
    assert_eq!(page(&app, "/ui/login", &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_breakdown_keeps_the_largest_groups_as_dora_breakdown_does() {
    let app = TestApp::new();
    // 103 projects: p0 has 3 deployments, p1 and p2 two, the others one.
    for p in 0..103 {
        let n = match p {
            0 => 3,
            1 | 2 => 2,
            _ => 1,
        };
        for k in 0..n {
            let d = DeploymentBuilder::new(&format!("d{p}-{k}"))
                .project(&format!("p{p}"))
                .deployed_at("2024-05-02T10:00:00Z");
            app.start(d).await;
        }
    }
    let auth = bearer();
    let ui = page(&app, &format!("/ui?{WINDOW}&by=project_id"), &[("authorization", &auth)]).await;
    let rows: Vec<&str> =
        ui.text.split("<th scope=\"row\">").skip(1).map(|r| r.split('<').next().unwrap_or_default()).collect();
    let json = app.get(&format!("/dora/breakdown?{WINDOW}&by=project_id")).await.body;
    let keys: Vec<&str> = json["groups"].as_array().expect("groups").iter().filter_map(|g| g["key"].as_str()).collect();
    assert_eq!(rows.len(), 100);
    assert_eq!(rows, keys, "the same 100 groups in the same order");
    assert_eq!(json["omitted_groups"], 3);
    assert!(ui.text.contains("3 smaller groups are not shown"), "the page says so too");
}

/// The page counts production unless told otherwise: the environment
/// select has production chosen and "All environments" first; a staging
/// deployment counts only with `environment=*` (chosen beside others, it
/// still means all).
#[tokio::test]
async fn the_page_counts_production_by_default_and_all_environments_on_request() {
    let app = TestApp::new();
    story(&app).await;
    let staging = DeploymentBuilder::new("s1")
        .set("environment", "staging")
        .set("deploy_start_at", "2024-05-04T11:00:00Z")
        .deployed_at("2024-05-04T11:00:00Z");
    app.start(staging).await;
    let auth = [("authorization", bearer())];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let default = page(&app, &format!("/ui?{WINDOW}"), &auth).await;
    assert!(default.text.contains(r#"<option value="*">All environments</option>"#), "{}", default.text);
    assert!(default.text.contains(r#"<option value="production" selected>production</option>"#));
    assert!(default.text.contains(r#"<option value="staging">staging</option>"#));
    assert_eq!(tile_value(&default.text, "deployment_frequency"), Some(0.4286), "3 production deployments in 7 days");
    for query in ["environment=*", "environment=production&environment=*"] {
        let all = page(&app, &format!("/ui?{WINDOW}&{query}"), &auth).await;
        assert_eq!(all.status, StatusCode::OK, "{query}");
        assert!(all.text.contains(r#"<option value="*" selected>All environments</option>"#), "{query}");
        assert_eq!(tile_value(&all.text, "deployment_frequency"), Some(0.5714), "{query}: 4 in 7 days");
    }
}

/// The "Cycle time" section: the medians of the four stages and their total,
/// merges per bucket, and the latest merges with their titles escaped.
#[tokio::test]
async fn the_cycle_time_section_shows_the_stages_and_escapes_titles() {
    let app = TestApp::new();
    let empty = page(&app, &format!("/ui?{WINDOW}"), &[("authorization", &bearer())]).await;
    assert!(empty.text.contains("No pull requests merged in this window"), "the empty state");

    let pr = json!({"id": "api#1", "project_id": "api", "title": "<script>alert(1)</script> faster builds",
        "opened_at": "2024-05-02T09:00:00Z", "first_commit_at": "2024-05-02T07:00:00Z"});
    assert_eq!(app.post("/pull-requests", pr).await.status, StatusCode::CREATED);
    let review = json!({"reviewed_at": "2024-05-02T10:00:00Z", "state": "approved", "reviewer": "bob"});
    assert_eq!(app.post("/pull-requests/api%231/reviewed", review).await.status, StatusCode::OK);
    let merge = json!({"merged_at": "2024-05-02T13:00:00Z", "merge_commit_sha": "m1"});
    assert_eq!(app.post("/pull-requests/api%231/merged", merge).await.status, StatusCode::OK);
    app.start(DeploymentBuilder::new("d1").set("commit_sha", "m1").deployed_at("2024-05-02T17:00:00Z")).await;

    let ui = page(&app, &format!("/ui?{WINDOW}"), &[("authorization", &bearer())]).await;
    assert_eq!(ui.status, StatusCode::OK);
    let section = &ui.text[ui.text.find("id=\"cycle-time\"").expect("the section")..];
    // Coding 2 h, pickup 1 h, review 3 h, deploy 4 h: 10 h together.
    for shown in ["Coding</span> 2 h", "Pickup</span> 1 h", "Review</span> 3 h", "Deploy</span> 4 h", "together 10 h"] {
        assert!(section.contains(shown), "`{shown}` in the section:\n{}", &section[..section.len().min(3000)]);
    }
    assert!(section.contains("&lt;script&gt;alert(1)&lt;/script&gt; faster builds"), "the title, escaped");
    assert!(!ui.text.contains("<script>alert(1)"), "never raw");
    assert!(section.contains("/api/v1/pull-requests/api%231"), "the row links to its JSON");
}
