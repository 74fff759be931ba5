//! Access control through the real router: roles against every route of the
//! OpenAPI document, scoped tokens, revocation, expiry, hashing, the audit
//! log, cross-site refusal and the limits on failed authentication.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use em_metrics::client_address::TrustedProxies;
use em_metrics::config::AccessSettings;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{assert_error, DeploymentBuilder, TestApp, TOKEN};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Makes a token with the settings' credentials; returns its secret.
async fn token(app: &TestApp, name: &str, role: &str, projects: Option<&[&str]>) -> String {
    let mut body = json!({"name": name, "role": role});
    if let Some(p) = projects {
        body["projects"] = json!(p);
    }
    let reply = app.post("/tokens", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["token"].as_str().expect("a secret").to_string()
}

async fn get_as(app: &TestApp, secret: &str, uri: &str) -> crate::helpers::Reply {
    app.request(Method::GET, uri, None, Some(&bearer(secret))).await
}

async fn post_as(app: &TestApp, secret: &str, uri: &str, body: Value) -> crate::helpers::Reply {
    app.request(Method::POST, uri, Some(&body.to_string()), Some(&bearer(secret))).await
}

/// What the issue says each role may do, written out independently of the
/// server's own table.
fn allowed(role: &str, method: &str, route: &str) -> bool {
    let ingest = [
        ("POST", "/deployments"),
        ("POST", "/deployments/{id}/deployed"),
        ("POST", "/deployments/{id}/failed"),
        ("POST", "/incidents"),
        ("POST", "/incidents/{id}/restored"),
        ("POST", "/incidents/{id}/finished"),
        ("POST", "/pull-requests"),
        ("POST", "/pull-requests/{id}/ready"),
        ("POST", "/pull-requests/{id}/reviewed"),
        ("POST", "/pull-requests/{id}/merged"),
        ("POST", "/pull-requests/{id}/closed"),
        ("POST", "/pull-requests/{id}/reopened"),
        ("POST", "/webhooks/alertmanager"),
        ("GET", "/deployments"),
        ("GET", "/deployments/{id}"),
        ("GET", "/incidents"),
        ("GET", "/incidents/{id}"),
    ];
    let read = method == "GET" && !["/config", "/tokens", "/audit"].contains(&route);
    let write_only = [
        ("PATCH", "/incidents/{id}"),
        ("DELETE", "/deployments/{id}"),
        ("DELETE", "/incidents/{id}"),
        ("DELETE", "/pull-requests/{id}"),
    ];
    let is_ingest = ingest.contains(&(method, route));
    match role {
        "ingest" => is_ingest,
        "read" => read,
        "write" => is_ingest || read || write_only.contains(&(method, route)),
        "admin" => true,
        other => panic!("role {other}"),
    }
}

#[tokio::test]
async fn every_route_of_the_openapi_document_answers_each_role_as_the_table_says() {
    let app = TestApp::new();
    let doc = app.get("/openapi.json").await.body;
    let roles = ["ingest", "read", "write", "admin"];
    let mut secrets = Vec::new();
    for role in roles {
        secrets.push((role, token(&app, &format!("t-{role}"), role, None).await));
    }
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("operations") {
            let method = method.to_uppercase();
            // The probes and the signed webhooks take no API credentials.
            if op.get("security").and_then(Value::as_array).is_some_and(Vec::is_empty) {
                continue;
            }
            let uri = path.replace("{id}", "x1").replace("{name}", "nobody").replace("{username}", "someone");
            for (role, secret) in &secrets {
                for prefix in ["", "/api/v1"] {
                    let m = Method::from_bytes(method.as_bytes()).expect("method");
                    let body = (method != "GET" && method != "DELETE").then_some("{}");
                    let reply = app.request(m, &format!("{prefix}{uri}"), body, Some(&bearer(secret))).await;
                    if allowed(role, &method, path) {
                        assert!(
                            reply.status != StatusCode::FORBIDDEN && reply.status != StatusCode::UNAUTHORIZED,
                            "{role} {method} {prefix}{path}: {} {}",
                            reply.status,
                            reply.body
                        );
                    } else {
                        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{role} {method} {prefix}{path}");
                        let message = reply.body["error"].as_str().expect("message");
                        let prefix_words = format!("this token's role is {role}; {method} {path} needs ");
                        assert!(message.starts_with(&prefix_words), "{message}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 4 * 2 * 22, "every route checked: {checked}");
    // The refusal names the role needed.
    let ingest = &secrets[0].1;
    let reply = get_as(&app, ingest, "/dora").await;
    assert_eq!(reply.body["error"], "this token's role is ingest; GET /dora needs read");
    let reply = get_as(&app, &secrets[1].1, "/tokens").await;
    assert_eq!(reply.body["error"], "this token's role is read; GET /tokens needs admin");
}

#[tokio::test]
async fn a_token_is_emm_and_43_characters_shown_once_and_stored_only_as_its_hash() {
    let app = TestApp::new();
    let created = app.post("/api/v1/tokens", json!({"name": "ci", "role": "ingest"})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let secret = created.body["token"].as_str().expect("secret").to_string();
    let rest = secret.strip_prefix("emm_").expect("the prefix");
    assert!(rest.len() >= 43 && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{secret}");
    let fields: BTreeSet<&str> = created.body.as_object().expect("object").keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> =
        ["name", "role", "projects", "expires_at", "created_at", "last_used_at", "token"].into_iter().collect();
    assert_eq!(fields, expected);
    assert_eq!(created.body["projects"], Value::Null);
    // Listed without secrets, at both prefixes.
    for uri in ["/tokens", "/api/v1/tokens"] {
        let list = app.get(uri).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.body[0]["name"], "ci");
        assert!(list.body[0].get("token").is_none(), "{}", list.body);
    }
    assert!(!app.get("/tokens").await.body.to_string().contains(&secret));
    // The file (and its WAL) never holds the secret; it holds its SHA-256.
    let dir = app.dir.path();
    let mut bytes = Vec::new();
    for name in ["em-metrics.db", "em-metrics.db-wal"] {
        bytes.extend(std::fs::read(dir.join(name)).unwrap_or_default());
    }
    assert!(!bytes.windows(rest.len()).any(|w| w == rest.as_bytes()), "the secret is in the database files");
    let stored = app.sql_rows("SELECT secret_hash FROM tokens WHERE name = 'ci'").await;
    assert_eq!(stored, vec![vec![em_metrics::store::SqlValue::Blob(Sha256::digest(secret.as_bytes()).to_vec())]]);
    // Bearer and Token schemes both work.
    assert_eq!(get_as(&app, &secret, "/deployments").await.status, StatusCode::OK);
    let token_scheme = app.request(Method::GET, "/deployments", None, Some(&format!("Token {secret}"))).await;
    assert_eq!(token_scheme.status, StatusCode::OK);
}

#[tokio::test]
async fn creating_a_token_checks_every_field_and_names_the_one_at_fault() {
    let app = TestApp::new();
    let cases = [
        (json!({"name": "", "role": "read"}), StatusCode::BAD_REQUEST, "name"),
        (json!({"name": "n".repeat(101), "role": "read"}), StatusCode::BAD_REQUEST, "name"),
        (json!({"name": "x", "role": "owner"}), StatusCode::BAD_REQUEST, "role"),
        (
            json!({"name": "x", "role": "read", "expires_at": "2020-01-01T00:00:00Z"}),
            StatusCode::BAD_REQUEST,
            "expires_at",
        ),
        (json!({"name": "x", "role": "read", "expires_at": 1_000_000}), StatusCode::BAD_REQUEST, "expires_at"),
        (json!({"name": "x", "role": "admin", "projects": ["api"]}), StatusCode::BAD_REQUEST, "projects"),
        (json!({"name": "x", "role": "read", "projects": []}), StatusCode::BAD_REQUEST, "projects"),
        (json!({"name": "x", "role": "read", "projects": [""]}), StatusCode::BAD_REQUEST, "projects[0]"),
        (json!({"name": "x", "role": "read", "colour": "red"}), StatusCode::BAD_REQUEST, "colour"),
    ];
    for (body, status, field) in cases {
        let reply = app.post("/tokens", body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        assert_eq!(reply.body["field"], field, "{body}: {}", reply.body);
    }
    let in_a_year = chrono::Utc::now().timestamp() + 365 * 86_400;
    let ok = app.post("/tokens", json!({"name": "x", "role": "read", "expires_at": in_a_year})).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert!(ok.body["expires_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let again = app.post("/tokens", json!({"name": "x", "role": "write"})).await;
    assert_error(&again, StatusCode::CONFLICT, "conflict", Some("name"));
    assert_eq!(app.get("/tokens").await.body.as_array().map(Vec::len), Some(1), "nothing else was stored");
}

#[tokio::test]
async fn a_revoked_token_stops_at_once_and_an_expired_one_says_it_expired() {
    let app = TestApp::new();
    let secret = token(&app, "ci", "write", None).await;
    assert_eq!(get_as(&app, &secret, "/deployments").await.status, StatusCode::OK);
    assert_eq!(app.delete("/tokens/ci").await.status, StatusCode::NO_CONTENT);
    let after = get_as(&app, &secret, "/deployments").await;
    assert!(after.status == StatusCode::UNAUTHORIZED || after.status == StatusCode::FORBIDDEN, "{}", after.status);
    assert_eq!(app.delete("/tokens/ci").await.status, StatusCode::NOT_FOUND);

    let old = token(&app, "old", "read", None).await;
    app.sql("UPDATE tokens SET expires_at = 1000 WHERE name = 'old'").await;
    let expired = get_as(&app, &old, "/dora").await;
    assert_eq!(expired.status, StatusCode::FORBIDDEN);
    assert!(expired.body["error"].as_str().is_some_and(|m| m.contains("expired")), "{}", expired.body);
}

#[tokio::test]
async fn last_used_at_is_written_on_first_use_and_not_again_within_a_minute() {
    let app = TestApp::new();
    let secret = token(&app, "ci", "read", None).await;
    assert_eq!(app.get("/tokens").await.body[0]["last_used_at"], Value::Null);
    assert_eq!(get_as(&app, &secret, "/version").await.status, StatusCode::OK);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let first = loop {
        let used = app.get("/tokens").await.body[0]["last_used_at"].clone();
        if !used.is_null() {
            break used;
        }
        assert!(std::time::Instant::now() < until, "last_used_at never written");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    for _ in 0..5 {
        assert_eq!(get_as(&app, &secret, "/version").await.status, StatusCode::OK);
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(app.get("/tokens").await.body[0]["last_used_at"], first, "not rewritten within the minute");
}

#[tokio::test]
async fn a_scoped_token_writes_and_reads_only_its_projects() {
    let app = TestApp::new();
    // Another project's history, written with the settings' credentials.
    app.start(DeploymentBuilder::new("w1").project("web").deployed_at("2024-05-02T10:00:00Z")).await;
    let inc =
        app.post("/incidents", json!({"id": "iw", "project_id": "web", "started_at": "2024-05-02T11:00:00Z"})).await;
    assert_eq!(inc.status, StatusCode::CREATED);
    let scoped = token(&app, "api-ci", "write", Some(&["api"])).await;

    // Writes naming another project: 403 naming project_id.
    let d = DeploymentBuilder::new("w2").project("web").deployed_at("2024-05-02T12:00:00Z").json();
    assert_error(
        &post_as(&app, &scoped, "/deployments", d).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        Some("project_id"),
    );
    let i = json!({"project_id": "web", "started_at": "2024-05-02T11:00:00Z"});
    assert_error(
        &post_as(&app, &scoped, "/incidents", i).await,
        StatusCode::FORBIDDEN,
        "forbidden",
        Some("project_id"),
    );
    let create = json!({"project_id": "web", "create_if_not_exists": true, "first_commit_at": "2024-05-02T09:00:00Z"});
    let via_deployed = post_as(&app, &scoped, "/deployments/new-web/deployed", create).await;
    assert_error(&via_deployed, StatusCode::FORBIDDEN, "forbidden", Some("project_id"));
    // Another project's records do not exist for it: 404, and nothing changes.
    for (method, uri) in [
        (Method::POST, "/deployments/w1/deployed"),
        (Method::POST, "/deployments/w1/failed"),
        (Method::DELETE, "/deployments/w1"),
        (Method::GET, "/deployments/w1"),
        (Method::POST, "/incidents/iw/restored"),
        (Method::POST, "/incidents/iw/finished"),
        (Method::PATCH, "/incidents/iw"),
        (Method::DELETE, "/incidents/iw"),
        (Method::GET, "/incidents/iw"),
    ] {
        let body = (method != Method::GET && method != Method::DELETE).then_some("{}");
        let reply = app.request(method.clone(), uri, body, Some(&bearer(&scoped))).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {uri}: {}", reply.body);
    }
    assert_eq!(app.get("/incidents/iw").await.body["restored_at"], Value::Null, "unchanged");
    // Linking its incident to another project's deployment: that deployment is
    // missing as far as it knows, and the other project is not named.
    let linked = post_as(&app, &scoped, "/incidents", json!({"project_id": "api", "deployment_id": "w1"})).await;
    assert_error(&linked, StatusCode::BAD_REQUEST, "bad_request", Some("deployment_id"));
    assert!(!linked.body["error"].as_str().unwrap_or_default().contains("web"), "{}", linked.body);
    assert_eq!(app.get("/deployments/w1").await.status, StatusCode::OK, "still there");

    // Its own project works, and says who reported it.
    let own = DeploymentBuilder::new("a1").project("api").deployed_at("2024-05-02T13:00:00Z").json();
    let created = post_as(&app, &scoped, "/deployments", own).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["created_by"], "api-ci");
    assert_eq!(app.get("/deployments/w1").await.body["created_by"], "settings");

    // Lists, /dora, trend and breakdown see its projects only.
    let ids = |v: &Value| v.as_array().expect("list").iter().map(|d| d["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&get_as(&app, &scoped, "/deployments").await.body), [json!("a1")]);
    assert!(ids(&get_as(&app, &scoped, "/incidents").await.body).is_empty());
    let window = "from=2024-05-01T00:00:00Z&to=2024-05-08T00:00:00Z";
    let dora = get_as(&app, &scoped, &format!("/dora?{window}")).await.body;
    assert_eq!(dora["deployment_frequency"]["deployments"], 1);
    assert_eq!(dora["filters"]["project_id"], json!(["api"]));
    let everyone = app.get(&format!("/dora?{window}")).await.body;
    assert_eq!(everyone["deployment_frequency"]["deployments"], 2);
    let by_project = get_as(&app, &scoped, &format!("/dora/breakdown?by=project_id&{window}")).await.body;
    let groups: Vec<&Value> = by_project["groups"].as_array().expect("groups").iter().map(|g| &g["key"]).collect();
    assert_eq!(groups, [&json!("api")]);
    let trend = get_as(&app, &scoped, &format!("/dora/trend?interval=week&{window}")).await;
    assert_eq!(trend.status, StatusCode::OK);
    // A filter outside its scope: 403 naming project_id.
    for uri in [format!("/dora?project_id=web&{window}"), "/deployments?project_id=api,web".into()] {
        assert_error(&get_as(&app, &scoped, &uri).await, StatusCode::FORBIDDEN, "forbidden", Some("project_id"));
    }
}

#[tokio::test]
async fn a_scoped_token_sees_only_its_projects_series_in_metrics() {
    let telemetry = crate::metrics::telemetry(em_metrics::config::MetricsSettings::local("test")).await;
    let app = TestApp::builder().telemetry(&telemetry).build();
    for (id, project) in [("a1", "api"), ("w1", "web")] {
        app.start(DeploymentBuilder::new(id).project(project).deployed_at("2024-05-02T10:00:00Z")).await;
    }
    let scoped = token(&app, "api-read", "read", Some(&["api"])).await;
    let text = |secret: String| {
        let app = &app;
        async move {
            let reply = app.request_text(Method::GET, "/metrics", None, &[("authorization", &bearer(&secret))]).await;
            assert_eq!(reply.status, StatusCode::OK);
            reply.text
        }
    };
    let all = text(TOKEN.to_string()).await;
    assert!(all.contains("project_id=\"web\"") && all.contains("project_id=\"api\""), "{all}");
    let mine = text(scoped).await;
    assert!(mine.contains("project_id=\"api\""), "{mine}");
    assert!(!mine.contains("project_id=\"web\""), "{mine}");
}

#[tokio::test]
async fn the_audit_log_records_authorized_writes_with_actor_route_target_and_status() {
    let app = TestApp::new();
    let ci = token(&app, "ci", "ingest", None).await;
    let d = DeploymentBuilder::new("d1").project("api").deployed_at("2024-05-02T10:00:00Z").json();
    assert_eq!(post_as(&app, &ci, "/api/v1/deployments", d).await.status, StatusCode::CREATED);
    let bad = post_as(&app, &ci, "/deployments", json!({"id": "d2"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // Not authorized: not recorded. Reads: not recorded.
    assert_eq!(get_as(&app, &ci, "/dora").await.status, StatusCode::FORBIDDEN);
    let wrong = app.request(Method::POST, "/deployments", Some("{}"), Some("Bearer wrong")).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert_eq!(get_as(&app, &ci, "/deployments").await.status, StatusCode::OK);
    assert_eq!(app.delete("/usernames/alice").await.status, StatusCode::OK);

    let log = app.get("/audit").await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    let rows: Vec<Value> = log
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|r| json!([r["actor"], r["method"], r["route"], r["target"], r["status"]]))
        .collect();
    assert_eq!(
        rows,
        [
            // Newest first; the username is never kept.
            json!(["settings", "DELETE", "/usernames/{username}", null, 200]),
            json!(["ci", "POST", "/deployments", null, 400]),
            json!(["ci", "POST", "/deployments", "d1", 201]),
            json!(["settings", "POST", "/tokens", "ci", 201]),
        ]
    );
    assert!(log.body[0]["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(!log.body.to_string().contains("alice"));
    // Filters and pages.
    let mine = app.get("/audit?actor=ci&limit=1").await.body;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(mine[0]["status"], 400);
    let second = app.get("/audit?actor=ci&limit=1&offset=1").await.body;
    assert_eq!(second[0]["target"], "d1");
    assert_eq!(app.get("/audit?from=2999-01-01T00:00:00Z").await.body, json!([]));
    assert_error(&app.get("/audit?limit=0").await, StatusCode::BAD_REQUEST, "bad_request", Some("limit"));
    assert_eq!(get_as(&app, &ci, "/audit").await.status, StatusCode::FORBIDDEN, "admins only");
}

#[tokio::test]
async fn a_webhook_delivery_is_audited_under_its_source() {
    let app = TestApp::new();
    let body = crate::webhooks::fixture("github/deployment_status-success.json").to_string();
    let signature = format!("sha256={}", crate::webhooks::hmac_hex(crate::helpers::GITHUB_SECRET, &[body.as_bytes()]));
    let headers = [
        ("x-github-event", "deployment_status"),
        ("x-github-delivery", "delivery-1"),
        ("x-hub-signature-256", signature.as_str()),
    ];
    let reply = crate::webhooks::deliver(&app, "/webhooks/github", &body, &headers).await;
    assert!(reply.status.is_success(), "{}", reply.body);
    // A delivery with a wrong signature is not authorized: not recorded.
    let forged = [("x-github-event", "deployment_status"), ("x-hub-signature-256", "sha256=00")];
    assert_eq!(
        crate::webhooks::deliver(&app, "/webhooks/github", &body, &forged).await.status,
        StatusCode::UNAUTHORIZED
    );
    let log = app.get("/audit").await.body;
    assert_eq!(log.as_array().map(Vec::len), Some(1), "{log}");
    assert_eq!(log[0]["actor"], "webhook:github");
    assert_eq!(log[0]["route"], "/webhooks/github");
    assert_eq!(log[0]["target"], "delivery-1");
    if let Some(d) = reply.body.get("deployment") {
        assert_eq!(d["created_by"], "webhook:github");
    }
}

#[tokio::test]
async fn writes_from_another_site_are_refused_and_pipelines_and_signed_webhooks_are_not() {
    let app = TestApp::new();
    let auth = TestApp::bearer();
    let d = DeploymentBuilder::new("d1").project("api").deployed_at("2024-05-02T10:00:00Z").json().to_string();
    let with = |extra: Vec<(&'static str, &'static str)>| {
        let mut h = vec![("authorization", auth.as_str()), ("host", "metrics.example.com")];
        h.extend(extra);
        h
    };
    for headers in
        [vec![("sec-fetch-site", "cross-site")], vec![("origin", "https://evil.example")], vec![("origin", "null")]]
    {
        let reply = app.request_with(Method::POST, "/deployments", Some(&d), &with(headers.clone())).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{headers:?}");
        let reply = app.request_with(Method::DELETE, "/api/v1/incidents/x", None, &with(headers.clone())).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert_eq!(app.get("/deployments").await.body, json!([]), "nothing was written");
    // The service's own pages, and pipelines (no Origin): fine.
    let own = with(vec![("origin", "http://metrics.example.com"), ("sec-fetch-site", "same-origin")]);
    assert_eq!(app.request_with(Method::POST, "/deployments", Some(&d), &own).await.status, StatusCode::CREATED);
    let curl = with(vec![("content-type", "application/x-www-form-urlencoded")]);
    assert_eq!(app.request_with(Method::POST, "/deployments", Some(&d), &curl).await.status, StatusCode::OK);
    // Reads are not writes.
    let read = with(vec![("sec-fetch-site", "cross-site")]);
    assert_eq!(app.request_with(Method::GET, "/deployments", None, &read).await.status, StatusCode::OK);
    // A signed webhook is judged by its signature, not its Origin.
    let body = crate::webhooks::fixture("github/deployment_status-success.json").to_string();
    let signature = format!("sha256={}", crate::webhooks::hmac_hex(crate::helpers::GITHUB_SECRET, &[body.as_bytes()]));
    let hook = [
        ("x-github-event", "deployment_status"),
        ("x-hub-signature-256", signature.as_str()),
        ("origin", "https://github.com"),
        ("sec-fetch-site", "cross-site"),
    ];
    assert!(crate::webhooks::deliver(&app, "/webhooks/github", &body, &hook).await.status.is_success());
    // With EM_METRICS_PUBLIC_URL, that origin and no other.
    let public = TestApp::builder()
        .access(AccessSettings {
            public_origin: Some("https://metrics.example.com".into()),
            ..AccessSettings::default()
        })
        .build();
    let via_proxy =
        [("authorization", auth.as_str()), ("host", "em-metrics:3000"), ("origin", "https://metrics.example.com")];
    assert_eq!(
        public.request_with(Method::POST, "/deployments", Some(&d), &via_proxy).await.status,
        StatusCode::CREATED
    );
    let other = [("authorization", auth.as_str()), ("host", "em-metrics:3000"), ("origin", "http://em-metrics:3000")];
    assert_eq!(public.request_with(Method::POST, "/deployments", Some(&d), &other).await.status, StatusCode::FORBIDDEN);
}

/// An app whose in-process requests (no peer address) may name their client
/// in X-Forwarded-For, as behind a trusted proxy.
fn behind_proxy() -> TestApp {
    let proxies = TrustedProxies::parse("0.0.0.0").expect("the in-process peer");
    TestApp::builder().access(AccessSettings { trusted_proxies: proxies, ..AccessSettings::default() }).build()
}

#[tokio::test]
async fn guessing_tokens_is_stopped_per_address_and_a_job_repeating_one_wrong_token_locks_out_no_one() {
    let app = behind_proxy();
    let request = |ip: &'static str, token: String| {
        let app = &app;
        async move {
            let auth = bearer(&token);
            app.request_with(Method::GET, "/deployments", None, &[("authorization", &auth), ("x-forwarded-for", ip)])
                .await
        }
    };
    // One misconfigured job repeats one wrong token: every repeat is a 403,
    // and the right token from the same address keeps working.
    for _ in 0..100 {
        assert_eq!(request("10.1.1.1", "emm_stale".into()).await.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(request("10.1.1.1", TOKEN.into()).await.status, StatusCode::OK);
    // Someone guessing: distinct tokens, stopped at the limit with 429.
    let limit = em_metrics::auth::API_FAILURE_LIMIT as usize;
    let mut statuses = Vec::new();
    for n in 0..limit + 5 {
        statuses.push(request("10.2.2.2", format!("guess-{n}")).await.status);
    }
    assert!(statuses[..limit - 1].iter().all(|s| *s == StatusCode::FORBIDDEN), "{statuses:?}");
    assert!(statuses[limit..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let blocked = request("10.2.2.2", TOKEN.into()).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "blocked, the right token is not even compared");
    assert!(blocked.headers.get("retry-after").is_some());
    assert_eq!(request("10.3.3.3", TOKEN.into()).await.status, StatusCode::OK, "other addresses are not");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_never_compare_more_tokens_than_the_limit() {
    use tower::ServiceExt;
    let app = behind_proxy();
    let limit = em_metrics::auth::API_FAILURE_LIMIT as usize;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..limit * 5 {
        let router = app.router.clone();
        tasks.spawn(async move {
            let request = axum::http::Request::builder()
                .uri("/dora")
                .header("authorization", bearer(&format!("emm_{n:043}")))
                .header("x-forwarded-for", "10.9.9.9")
                .body(axum::body::Body::empty())
                .expect("request");
            router.oneshot(request).await.expect("infallible").status()
        });
    }
    let statuses = tasks.join_all().await;
    let compared = statuses.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert!(compared <= limit, "compared {compared} against a limit of {limit}");
    assert_eq!(compared + refused, limit * 5, "{statuses:?}");
}

#[tokio::test]
async fn a_blocked_sign_in_address_stays_blocked_whatever_other_addresses_do() {
    let app = behind_proxy();
    let sign_in = |ip: String, token: &'static str| {
        let app = &app;
        async move {
            let body = format!("token={token}");
            let headers = [("content-type", "application/x-www-form-urlencoded"), ("x-forwarded-for", ip.as_str())];
            app.request_text(Method::POST, "/ui/login", Some(&body), &headers).await.status
        }
    };
    for _ in 0..em_metrics::auth::SIGN_IN_FAILURE_LIMIT {
        assert_eq!(sign_in("10.0.0.1".into(), "wrong").await, StatusCode::FORBIDDEN);
    }
    assert_eq!(sign_in("10.0.0.1".into(), "wrong").await, StatusCode::TOO_MANY_REQUESTS);
    for n in 0..10_000u32 {
        let other = format!("127.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255);
        sign_in(other, "wrong").await;
    }
    assert_eq!(sign_in("10.0.0.1".into(), TOKEN).await, StatusCode::TOO_MANY_REQUESTS, "still blocked");
}

async fn sign_in(app: &TestApp, token: &str) -> crate::helpers::TextReply {
    let body = format!("token={token}");
    app.request_text(Method::POST, "/ui/login", Some(&body), &[("content-type", "application/x-www-form-urlencoded")])
        .await
}

/// The cookies a response sets, as one `Cookie` header value.
fn cookies(reply: &crate::helpers::TextReply) -> String {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter(|pair| !pair.ends_with('='))
        .collect::<Vec<_>>()
        .join("; ")
}

#[tokio::test]
async fn the_token_form_takes_read_tokens_and_up_and_refuses_ingest_ones() {
    let app = TestApp::new();
    let ingest = token(&app, "ci", "ingest", None).await;
    let refused = sign_in(&app, &ingest).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text.contains("role ingest cannot sign in"), "{}", refused.text);
    assert!(refused.headers.get("set-cookie").is_none(), "no session");
    // Not even with the token in a header: an ingest token may not read the page.
    let page = app.request_text(Method::GET, "/ui", None, &[("authorization", &bearer(&ingest))]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let reader = token(&app, "viewer", "read", None).await;
    let signed = sign_in(&app, &reader).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let cookie = cookies(&signed);
    let page = app.request_text(Method::GET, "/ui", None, &[("cookie", &cookie)]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("viewer · read"), "who is signed in is shown");
    assert!(!page.text.contains("href=\"/ui/tokens\""), "no Tokens link for a reader");
    // The session reads the lists, not more than its role.
    let lists = app.request_text(Method::GET, "/deployments", None, &[("cookie", &cookie)]).await;
    assert_eq!(lists.status, StatusCode::OK);
    let write = app.request_text(Method::DELETE, "/deployments/x", None, &[("cookie", &cookie)]).await;
    assert_eq!(write.status, StatusCode::UNAUTHORIZED, "a session never writes through the API");

    // Revoking the token ends its session.
    assert_eq!(app.delete("/tokens/viewer").await.status, StatusCode::NO_CONTENT);
    let after = app.request_text(Method::GET, "/ui", None, &[("cookie", &cookie)]).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "back to the sign-in page");
    let lists = app.request_text(Method::GET, "/deployments", None, &[("cookie", &cookie)]).await;
    assert_eq!(lists.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_scoped_session_shows_only_its_projects() {
    let app = TestApp::builder()
        .teams(r#"{"teams": {"core": {"projects": ["api"]}, "team-secret": {"projects": ["web-secret"]}}}"#)
        .build();
    for (id, project, environment) in [("a1", "api", "production"), ("w1", "web-secret", "env-secret")] {
        let d = DeploymentBuilder::new(id).project(project).set("environment", environment);
        app.start(d.deployed_at("2024-05-02T10:00:00Z")).await;
    }
    let scoped = token(&app, "api-viewer", "read", Some(&["api"])).await;
    let cookie = cookies(&sign_in(&app, &scoped).await);
    let page = app
        .request_text(Method::GET, "/ui?from=2024-05-01&to=2024-05-08&by=project_id", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(">api<"), "its project is there");
    assert!(!page.text.contains("web-secret"), "another project is nowhere on the page");
    assert!(page.text.contains(">core<"), "its team is offered");
    for other in ["team-secret", "env-secret"] {
        assert!(!page.text.contains(other), "another project's team and environment are not offered: {other}");
    }
    let lists = app.request(Method::GET, "/deployments", None, None).await;
    assert_eq!(lists.status, StatusCode::UNAUTHORIZED);
    let mine = app.request_text(Method::GET, "/deployments", None, &[("cookie", &cookie)]).await;
    assert!(mine.text.contains("a1") && !mine.text.contains("w1"), "{}", mine.text);
    let other = app.request_text(Method::GET, "/ui?project_id=web-secret", None, &[("cookie", &cookie)]).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_tokens_page_creates_shows_once_and_revokes_only_with_its_csrf_token() {
    let app = TestApp::new();
    let admin = token(&app, "boss", "admin", None).await;
    let cookie = cookies(&sign_in(&app, &admin).await);
    let page = app.request_text(Method::GET, "/ui/tokens", None, &[("cookie", &cookie)]).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf_cookie = cookies(&page);
    assert!(csrf_cookie.starts_with("em_metrics_csrf="), "{csrf_cookie}");
    let csrf = csrf_cookie.trim_start_matches("em_metrics_csrf=").to_string();
    assert!(page.text.contains(&format!("name=\"csrf\" value=\"{csrf}\"")));
    let both = format!("{cookie}; {csrf_cookie}");
    let form = |body: String| {
        let app = &app;
        let both = both.clone();
        async move {
            let headers = [("cookie", both.as_str()), ("content-type", "application/x-www-form-urlencoded")];
            app.request_text(Method::POST, "/ui/tokens", Some(&body), &headers).await
        }
    };
    // Without the CSRF token, or with another: refused, nothing made.
    assert_eq!(form("name=ci&role=ingest".into()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(form("csrf=forged&name=ci&role=ingest".into()).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.get("/tokens").await.body.as_array().map(Vec::len), Some(1));
    // With it: made, its secret shown this once.
    let made = form(format!("csrf={csrf}&name=ci&role=ingest&projects=api&expires_in_days=30")).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    let secret = made.text.split("id=\"new-token\">").nth(1).and_then(|t| t.split('<').next()).expect("the secret");
    assert!(secret.starts_with("emm_"));
    assert_eq!(get_as(&app, secret, "/deployments").await.status, StatusCode::OK);
    let again = app.request_text(Method::GET, "/ui/tokens", None, &[("cookie", &both)]).await;
    assert!(!again.text.contains(secret), "shown once");
    let listed = app.get("/tokens").await.body;
    assert!(listed.to_string().contains("\"projects\":[\"api\"]"), "{listed}");
    // Revoke: the form and its CSRF token.
    let headers = [("cookie", both.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    let forged = app.request_text(Method::POST, "/ui/tokens/revoke", Some("name=ci"), &headers).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let body = format!("csrf={csrf}&name=ci");
    let revoked = app.request_text(Method::POST, "/ui/tokens/revoke", Some(&body), &headers).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(get_as(&app, secret, "/deployments").await.status, StatusCode::FORBIDDEN);
    // Audited as the admin's.
    let log = app.get("/audit?actor=boss").await.body;
    let routes: Vec<&str> = log.as_array().expect("list").iter().filter_map(|r| r["route"].as_str()).collect();
    assert_eq!(routes, ["/ui/tokens/revoke", "/ui/tokens", "/ui/login"]);
    // A reader may not see the page.
    let reader = token(&app, "r", "read", None).await;
    let reader_cookie = cookies(&sign_in(&app, &reader).await);
    let page = app.request_text(Method::GET, "/ui/tokens", None, &[("cookie", &reader_cookie)]).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sign_ins_and_sign_outs_are_audited_and_the_form_can_be_turned_off() {
    let app = TestApp::new();
    let reader = token(&app, "viewer", "read", None).await;
    let cookie = cookies(&sign_in(&app, &reader).await);
    let out = app.request_text(Method::POST, "/ui/logout", None, &[("cookie", &cookie)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let log = app.get("/audit?actor=viewer").await.body;
    let routes: Vec<&str> = log.as_array().expect("list").iter().filter_map(|r| r["route"].as_str()).collect();
    assert_eq!(routes, ["/ui/logout", "/ui/login"]);
    assert_eq!(app.request_text(Method::GET, "/ui", None, &[("cookie", &cookie)]).await.status, StatusCode::SEE_OTHER);

    let off = TestApp::builder().access(AccessSettings { ui_token_login: false, ..AccessSettings::default() }).build();
    let form = off.request_text(Method::GET, "/ui/login", None, &[]).await;
    assert!(!form.text.contains("name=\"token\""), "no token form");
    assert_eq!(sign_in(&off, TOKEN).await.status, StatusCode::NOT_FOUND);
}
