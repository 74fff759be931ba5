//! The HTTP API: router, shared state, auth, errors and one module per resource.

pub mod auth;
pub mod deployments;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod incidents;
pub mod insights;
pub mod openapi;
pub mod service;
pub mod session;
pub mod usernames;
pub mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;

use self::auth::Auth;
use self::error::{AppError, Result};
use crate::domain::{Attribution, Context, Transition, Write};
use crate::events::EventSink;
use crate::store::{Order, Page, Store, StoreResult, TimeRange};
use crate::teams::Teams;
use crate::time::Timestamp;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest query string accepted; longer ones get 414.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Default and largest page of the list endpoints.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 1000;

/// Everything a handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub teams: Teams,
    pub auth: Arc<Auth>,
    /// The environment of events that do not name one (DEPLOYMENT_ENVIRONMENT).
    pub default_environment: Arc<str>,
    /// How incidents reported without a deployment are linked to one.
    pub attribution: Attribution,
    /// How far ahead of the server's clock a given time may be.
    pub max_clock_skew_ms: i64,
    pub events: Arc<dyn EventSink>,
    /// What `/metrics` renders; None when EM_METRICS_PROMETHEUS=false.
    pub prometheus: Option<prometheus::Registry>,
    /// The webhook sources' secrets: a source without one answers 404.
    pub webhooks: Arc<crate::config::WebhookSettings>,
    /// EM_METRICS_STORE_USERNAMES.
    pub store_usernames: bool,
}

impl AppState {
    pub fn context(&self) -> Context {
        Context {
            now: Timestamp::now(),
            default_environment: self.default_environment.to_string(),
            teams: self.teams.get(),
            attribution: self.attribution.clone(),
            max_clock_skew_ms: self.max_clock_skew_ms,
            store_usernames: self.store_usernames,
        }
    }

    /// Runs one state change through [`Store::apply`] with a fresh
    /// [`Context`]: load, decide, save, commit, record the events.
    async fn apply<T, F>(&self, step: F) -> Result<Transition<T>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &Context) -> StoreResult<Transition<T>> + Send + 'static,
    {
        let ctx = self.context();
        Ok(self.store.apply(self.events.clone(), move |tx| step(tx, &ctx)).await?)
    }
}

/// The status of a committed transition (201 when something was created,
/// 200 otherwise) and its JSON view.
fn applied<T, V>(t: Transition<T>, view: impl FnOnce(T) -> V) -> (StatusCode, Json<V>) {
    let status = if t.write == Write::Insert { StatusCode::CREATED } else { StatusCode::OK };
    (status, Json(view(t.value)))
}

/// The whole API, served both at the root and under `/api/v1`.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/deployments", post(deployments::create).get(deployments::list_all))
        .route("/deployments/{id}", get(deployments::get_one).delete(deployments::delete))
        .route("/deployments/{id}/deployed", post(deployments::deployed))
        .route("/deployments/{id}/failed", post(deployments::failed))
        .route("/incidents", post(incidents::create).get(incidents::list_all))
        .route("/incidents/{id}", get(incidents::get_one).delete(incidents::delete).patch(incidents::correct))
        .route("/incidents/{id}/restored", post(incidents::restored))
        .route("/incidents/{id}/finished", post(incidents::finished))
        .route("/usernames/{username}", axum::routing::delete(usernames::clear))
        .route("/dora", get(insights::dora))
        .route("/dora/trend", get(insights::trend))
        .route("/dora/breakdown", get(insights::breakdown))
        .route("/version", get(service::version))
        .route("/config", get(service::config))
        .route("/openapi.json", get(service::openapi))
        .route("/metrics", get(service::metrics))
        // Layers run last-added first: auth, then Idempotency-Key, so an
        // unauthenticated request never claims a key.
        .route_layer(middleware::from_fn_with_state(state.clone(), idempotency::guard))
        .route_layer(middleware::from_fn_with_state(state.auth.clone(), auth::require));
    let probes = Router::new().route("/health", get(service::health)).route("/ready", get(service::ready));
    // Signed by their senders instead of the API's credentials (Alertmanager
    // checks those itself), and without Idempotency-Key: deliveries carry
    // their own ids.
    let hooks = Router::new()
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .route("/webhooks/pagerduty", post(webhooks::pagerduty))
        .route("/webhooks/incident-io", post(webhooks::incident_io))
        .route("/webhooks/alertmanager", post(webhooks::alertmanager));
    let api = probes.merge(hooks).merge(protected);

    Router::new()
        .merge(api.clone())
        .nest("/api/v1", api)
        .merge(crate::ui::router())
        .fallback(service::not_found)
        .method_not_allowed_fallback(service::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(errors_in_json))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

/// Every error in the one JSON shape: a query string that is too long gets
/// 414 here, and an error response some layer produced in plain text
/// (axum's rejections, tower's) is rewritten with its status kept.
async fn errors_in_json(request: Request, next: Next) -> Response {
    if request.uri().query().map_or(0, str::len) > MAX_QUERY_BYTES {
        return AppError::UriTooLong.into_response();
    }
    let response = next.run(request).await;
    let status = response.status();
    // JSON already, or one of the dashboard's own pages (a sign-in prompt).
    let is_ours = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_ours {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
    let message = match std::str::from_utf8(&text).map(str::trim) {
        Ok(t) if !t.is_empty() => t.to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let body = error::ErrorBody { error: message, code: error::code_of(status), field: None };
    (status, Json(body)).into_response()
}

/// One line per request: method, route template (never the raw URI, which
/// holds ids), status and latency. Headers are never logged: they hold credentials.
async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // A MatchedPath clone shares its text: no copy per request.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("<unmatched>", MatchedPath::as_str);
    let response = next.run(request).await;
    let (status, latency_ms) = (response.status().as_u16(), started.elapsed().as_secs_f64() * 1000.0);
    // Probes come every few seconds from every orchestrator: at info they
    // would drown the requests that matter.
    if matches!(route, "/health" | "/ready" | "/api/v1/health" | "/api/v1/ready") {
        tracing::debug!(%method, route, status, latency_ms, "request");
    } else {
        tracing::info!(%method, route, status, latency_ms, "request");
    }
    response
}

/// `limit` (1 to 1000, default 50), `offset` (default 0) and `order`.
fn page(limit: Option<&str>, offset: Option<&str>, order: Option<Order>) -> Result<Page> {
    let limit = match limit.map(str::trim).filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(text) => text.parse::<u32>().ok().filter(|l| (1..=MAX_LIMIT).contains(l)).ok_or_else(|| {
            AppError::bad_field("limit", format!("limit must be a whole number from 1 to {MAX_LIMIT}"))
        })?,
    };
    let offset = match offset.map(str::trim).filter(|o| !o.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|o| *o <= i64::MAX as u64)
            .ok_or_else(|| AppError::bad_field("offset", "offset must be a whole number, 0 or more"))?,
    };
    Ok(Page { limit, offset, order: order.unwrap_or_default() })
}

/// `from` must be before `to` when both are given.
fn range(from: Option<Timestamp>, to: Option<Timestamp>) -> Result<TimeRange> {
    match (from, to) {
        (Some(f), Some(t)) if f >= t => Err(AppError::bad_field("from", "from must be before to")),
        _ => Ok(TimeRange { from, to }),
    }
}
