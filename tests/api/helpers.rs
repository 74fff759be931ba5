//! `TestApp`: the production router on a fresh store (a SQLite file, or a
//! PostgreSQL database on that pass), driven in process.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use em_metrics::audit::AuditLog;
use em_metrics::auth::Auth;
use em_metrics::config::{AccessSettings, AuthSettings, WebhookSettings};
use em_metrics::domain::Attribution;
use em_metrics::events::Collect;
use em_metrics::events::EventSink;
use em_metrics::secret::Secret;
use em_metrics::store::Store;
use em_metrics::teams::{TeamConfig, Teams};
use em_metrics::telemetry::Telemetry;
use em_metrics::{AppState, Shared};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub const TOKEN: &str = "test-token-3f9a";
/// The webhook secrets every TestApp enables its sources with.
pub const GITHUB_SECRET: &str = "gh-secret-7c1e";
pub const GITLAB_TOKEN: &str = "gl-token-51d0";
pub const PAGERDUTY_SECRET: &str = "pd-secret-90ab";
/// A Standard Webhooks secret: `whsec_` and base64.
pub const INCIDENT_IO_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

pub fn webhook_settings() -> em_metrics::config::WebhookSettings {
    em_metrics::config::WebhookSettings {
        github_secret: Some(Secret::new(GITHUB_SECRET)),
        gitlab_token: Some(Secret::new(GITLAB_TOKEN)),
        pagerduty_secret: Some(Secret::new(PAGERDUTY_SECRET)),
        incident_io_secret: Some(Secret::new(INCIDENT_IO_SECRET)),
        incident_io_project_field: "Affected service".into(),
        grafana_secret: None,
    }
}

pub struct TestApp {
    pub router: Router,
    pub events: Arc<Collect>,
    pub store: Store,
    pub teams: Teams,
    /// Keeps the database folder alive for the test's duration.
    pub dir: tempfile::TempDir,
}

pub struct TextReply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

/// How a [`TestApp`] is put together; every part has a default:
/// `TestApp::builder().teams(json).attribution(a).build()`.
pub struct TestAppBuilder {
    teams: TeamConfig,
    auth: AuthSettings,
    access: AccessSettings,
    sink: Option<Arc<dyn EventSink>>,
    prometheus: Option<prometheus::Registry>,
    attribution: Attribution,
    webhooks: WebhookSettings,
    store_usernames: bool,
    min_group_size: usize,
    store: Option<(Store, tempfile::TempDir)>,
}

impl TestAppBuilder {
    /// A team config, as its JSON text.
    pub fn teams(mut self, json: &str) -> Self {
        self.teams = TeamConfig::parse(json).expect("valid team config");
        self
    }

    pub fn auth(mut self, auth: AuthSettings) -> Self {
        self.auth = auth;
        self
    }

    /// The public URL, trusted proxies, sign-in methods.
    pub fn access(mut self, access: AccessSettings) -> Self {
        self.access = access;
        self
    }

    /// The production metrics sink and `/metrics` on top of `telemetry`.
    pub fn telemetry(mut self, telemetry: &Telemetry) -> Self {
        self.sink = Some(Arc::new(telemetry.metrics()));
        self.prometheus = telemetry.prometheus();
        self
    }

    pub fn attribution(mut self, attribution: Attribution) -> Self {
        self.attribution = attribution;
        self
    }

    pub fn webhooks(mut self, webhooks: WebhookSettings) -> Self {
        self.webhooks = webhooks;
        self
    }

    /// EM_METRICS_STORE_USERNAMES=false.
    /// EM_METRICS_MIN_GROUP_SIZE.
    pub fn min_group_size(mut self, n: usize) -> Self {
        self.min_group_size = n;
        self
    }

    pub fn without_stored_usernames(mut self) -> Self {
        self.store_usernames = false;
        self
    }

    /// A store opened by the test (an upgraded or reopened file), with the
    /// folder that holds it.
    pub fn store(mut self, store: Store, dir: tempfile::TempDir) -> Self {
        self.store = Some((store, dir));
        self
    }

    pub fn build(self) -> TestApp {
        let (store, dir) = self.store.unwrap_or_else(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = match super::stores::database_for(&dir.path().join("em-metrics.db")) {
                Some(url) => {
                    let url = em_metrics::store::postgres::DatabaseUrl::parse(&url).expect("a database URL");
                    Store::open_postgres(&url, em_metrics::store::DEFAULT_WRITE_TIMEOUT).expect("store opens")
                }
                None => Store::open(dir.path().join("em-metrics.db")).expect("store opens"),
            };
            (store, dir)
        });
        let events = Arc::new(Collect::default());
        let sink = self.sink.unwrap_or_else(|| events.clone());
        let store = store.recording_to(sink);
        let teams = Teams::new(self.teams);
        let state = AppState::new(Shared {
            store: store.clone(),
            teams: teams.clone(),
            auth: Arc::new(Auth::new(self.auth, self.access).expect("auth settings")),
            default_environment: em_metrics::domain::Id::parse("production").expect("an id"),
            attribution: self.attribution,
            max_clock_skew_ms: em_metrics::domain::DEFAULT_MAX_CLOCK_SKEW_MS,
            prometheus: self.prometheus,
            webhooks: Arc::new(self.webhooks),
            store_usernames: self.store_usernames,
            min_group_size: self.min_group_size,
            audit: AuditLog::start(store.clone()),
        });
        TestApp { router: em_metrics::app(state), events, store, teams, dir }
    }
}

impl TestApp {
    /// Runs `sql` as written on the test's store, whichever engine it is.
    pub async fn sql(&self, sql: &str) {
        self.store.run_sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The rows of `sql` on the test's store.
    pub async fn sql_rows(&self, sql: &str) -> Vec<Vec<em_metrics::store::SqlValue>> {
        self.store.query_sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The one integer `sql` answers (a count).
    pub async fn sql_i64(&self, sql: &str) -> i64 {
        match self.sql_rows(sql).await.first().and_then(|row| row.first()) {
            Some(em_metrics::store::SqlValue::Int(n)) => *n,
            other => panic!("{sql}: {other:?}"),
        }
    }

    /// Every part at its default: token auth, no teams, every webhook source on.
    pub fn new() -> Self {
        Self::builder().build()
    }

    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            teams: TeamConfig::default(),
            auth: token_auth(),
            access: AccessSettings::default(),
            sink: None,
            prometheus: None,
            attribution: Attribution::default(),
            webhooks: webhook_settings(),
            store_usernames: true,
            min_group_size: em_metrics::insights::cycle_time::DEFAULT_MIN_GROUP_SIZE,
            store: None,
        }
    }

    pub async fn request(&self, method: Method, uri: &str, body: Option<&str>, auth: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = auth.map(|a| ("authorization", a)).into_iter().collect();
        self.request_with(method, uri, body, &headers).await
    }

    pub async fn request_with(&self, method: Method, uri: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let TextReply { status, headers, text } = self.request_text(method, uri, body, headers).await;
        let bytes = text.as_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes)
                .unwrap_or_else(|_| panic!("JSON body, got {:?}", String::from_utf8_lossy(bytes)))
        };
        Reply { status, headers, body }
    }

    /// A request whose answer is read as text (the dashboard's HTML).
    pub async fn request_text(
        &self,
        method: Method,
        uri: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> TextReply {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = self.router.clone().oneshot(builder.body(body).expect("request")).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        TextReply { status, headers, text: String::from_utf8(bytes.to_vec()).expect("UTF-8 body") }
    }

    pub fn bearer() -> String {
        format!("Bearer {TOKEN}")
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, None, Some(&Self::bearer())).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.post_raw(uri, &body.to_string()).await
    }

    pub async fn post_raw(&self, uri: &str, body: &str) -> Reply {
        self.request(Method::POST, uri, Some(body), Some(&Self::bearer())).await
    }

    pub async fn patch(&self, uri: &str, body: Value) -> Reply {
        self.request(Method::PATCH, uri, Some(&body.to_string()), Some(&Self::bearer())).await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.request(Method::DELETE, uri, None, Some(&Self::bearer())).await
    }

    /// Starts a deployment with the builder's fields; panics unless 201.
    pub async fn start(&self, d: DeploymentBuilder) -> Value {
        let reply = self.post("/deployments", d.json()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    pub fn event_count(&self, pred: impl Fn(&em_metrics::domain::DomainEvent) -> bool) -> usize {
        self.events.events().iter().filter(|e| pred(e)).count()
    }
}

pub fn token_auth() -> AuthSettings {
    AuthSettings { disabled: false, token: Some(Secret::new(TOKEN)), basic: None }
}

/// Test data with defaults: `DeploymentBuilder::new("d1").deployed_at(..)`.
#[derive(Clone)]
pub struct DeploymentBuilder {
    fields: serde_json::Map<String, Value>,
}

impl DeploymentBuilder {
    pub fn new(id: &str) -> Self {
        let fields = json!({
            "id": id,
            "project_id": "api",
            "first_commit_at": "2024-05-01T08:00:00Z",
            "deploy_start_at": "2024-05-01T09:00:00Z",
        });
        Self { fields: fields.as_object().cloned().unwrap_or_default() }
    }

    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    pub fn project(self, p: &str) -> Self {
        self.set("project_id", p)
    }

    pub fn deployed_at(self, t: &str) -> Self {
        self.set("deployed_at", t)
    }

    pub fn json(&self) -> Value {
        Value::Object(self.fields.clone())
    }
}

/// `GET /dora?query`, asserted 200.
pub async fn dora(app: &TestApp, query: &str) -> Value {
    let reply = app.get(&format!("/dora?{query}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// `POST /incidents`, asserted 201; the created incident.
pub async fn incident(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/incidents", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// A JSON number equal to `expected`, give or take float rounding.
pub fn close(actual: &Value, expected: f64) {
    let a = actual.as_f64().unwrap_or_else(|| panic!("expected a number, got {actual}"));
    assert!((a - expected).abs() < 1e-9, "expected {expected}, got {a}");
}

/// Asserts the error shape: status, code, and the field it names.
pub fn assert_error(reply: &Reply, status: StatusCode, code: &str, field: Option<&str>) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.body["code"], code, "{}", reply.body);
    assert!(reply.body["error"].as_str().is_some_and(|e| !e.is_empty()), "{}", reply.body);
    match field {
        Some(f) => assert_eq!(reply.body["field"], f, "{}", reply.body),
        None => assert!(reply.body.get("field").is_none(), "{}", reply.body),
    }
}
