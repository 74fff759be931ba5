//! Probes, version, the loaded config and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::access::Caller;
use super::error::{AppError, ErrorBody, Result};
use crate::domain::Scope;
use crate::state::AppState;
use crate::teams::TeamConfig;

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub ok: bool,
}

#[derive(Serialize, ToSchema)]
pub struct Version {
    pub version: &'static str,
}

/// Liveness: the process serves HTTP. No auth.
#[utoipa::path(get, path = "/health", tag = "service", security(()),
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { ok: true })
}

/// Readiness: the database answers. No auth.
#[utoipa::path(get, path = "/ready", tag = "service", security(()),
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    ))]
pub async fn ready(State(state): State<AppState>) -> Result<Json<Health>> {
    state.store.ping().await.map_err(|e| AppError::Unavailable(format!("database not ready: {e}")))?;
    Ok(Json(Health { ok: true }))
}

#[utoipa::path(get, path = "/version", tag = "service",
    responses((status = 200, description = "The running version", body = Version)))]
pub async fn version() -> Json<Version> {
    Json(Version { version: env!("CARGO_PKG_VERSION") })
}

/// The team config in force (after the last SIGHUP reload).
#[utoipa::path(get, path = "/config", tag = "service",
    responses((status = 200, description = "The loaded team config", body = TeamConfig)))]
pub async fn config(State(state): State<AppState>) -> Json<TeamConfig> {
    Json((*state.teams.get()).clone())
}

/// The metric catalog in the Prometheus text format, for Prometheus to scrape.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses(
        (status = 200, description = "Prometheus text exposition format", content_type = "text/plain"),
        (status = 404, description = "Disabled with EM_METRICS_PROMETHEUS=false", body = ErrorBody),
    ))]
pub async fn metrics(State(state): State<AppState>, Caller(caller): Caller) -> Result<Response> {
    let Some(registry) = &state.prometheus else {
        return Err(AppError::NotFound("the Prometheus endpoint is disabled (EM_METRICS_PROMETHEUS=false)".into()));
    };
    let mut families = registry.gather();
    if caller.scope != Scope::All {
        // A caller limited to projects sees their series only; series of no
        // project (the service's own) stay.
        for family in &mut families {
            family.mut_metric().retain(|m| {
                m.get_label().iter().find(|l| l.name() == "project_id").is_none_or(|l| caller.scope.allows(l.value()))
            });
        }
        families.retain(|f| !f.get_metric().is_empty());
    }
    let mut text = String::new();
    prometheus::TextEncoder::new()
        .encode_utf8(&families, &mut text)
        .map_err(|e| AppError::Internal(format!("encoding metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response())
}

pub async fn not_found() -> AppError {
    AppError::NotFound("no such route; see /openapi.json for the API".into())
}

pub async fn method_not_allowed() -> (StatusCode, AppError) {
    (StatusCode::METHOD_NOT_ALLOWED, AppError::MethodNotAllowed)
}
