//! The whole application: the JSON API at the root and under `/api/v1`, the
//! dashboard beside it, and the layers every response goes through.

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

use crate::http::access::{self, Quiet};
use crate::http::error::{self, AppError};
use crate::http::extract::{MAX_BODY_BYTES, MAX_QUERY_BYTES};
use crate::http::{self, service};
use crate::state::AppState;
use crate::ui;

/// The router `run` serves: what production runs and the tests drive.
pub fn app(state: AppState) -> Router {
    let api = http::router(&state);
    Router::new()
        .merge(api.clone())
        .nest("/api/v1", api)
        .merge(ui::router())
        .fallback(service::not_found)
        .method_not_allowed_fallback(service::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), access::refuse_cross_site))
        .layer(middleware::from_fn(errors_in_json))
        .layer(middleware::from_fn(log_request))
        // Outermost, so that no answer under /ui, whoever made it, goes without them.
        .layer(middleware::from_fn(ui::security_headers))
        .with_state(state)
}

/// Every error in the one JSON shape: a query string that is too long gets
/// 414 here, and an error response some layer produced in plain text
/// (axum's rejections, tower's) is rewritten with its status kept.
async fn errors_in_json(request: Request, next: Next) -> Response {
    if request.uri().query().map_or(0, str::len) > MAX_QUERY_BYTES {
        return AppError::UriTooLong(MAX_QUERY_BYTES).into_response();
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
    // Probes come every few seconds from every orchestrator, and a flood of
    // refused credentials as fast as an attacker sends them: at info they
    // would drown the requests that matter.
    if http::is_one_of(&http::PROBES, route) || response.extensions().get::<Quiet>().is_some() {
        tracing::debug!(%method, route, status, latency_ms, "request");
    } else {
        tracing::info!(%method, route, status, latency_ms, "request");
    }
    response
}
