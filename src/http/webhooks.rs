//! `POST /webhooks/{github,gitlab,pagerduty,incident-io,alertmanager}`:
//! deliveries from the tools themselves, no glue in between.
//!
//! Each delivery goes: enabled? (404 naming the setting) → body (5 MiB) →
//! signature (401, one warn line without secret or body) → JSON (400) →
//! the source's actions → one transaction that also remembers the delivery
//! id → an answer that is 2xx for everything else, so senders do not retry
//! forever what em-metrics chose to ignore.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::access::{AuditTarget, Caller};
use super::deployments::DeploymentView;
use super::error::{AppError, ErrorBody, Result};
use super::extract::BODY_TIMEOUT;
use super::incidents::IncidentView;
use crate::auth::Principal;
use crate::domain::delivery::{Delivery, Outcome};
use crate::secret::Secret;
use crate::state::AppState;
use crate::time::Timestamp;
use crate::webhooks::{self, alertmanager, github, gitlab, incident_io, pagerduty, signature, Source};

/// The answer to a delivery, in one of these shapes (Alertmanager answers a
/// list of them, one per alert).
#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// The deployment it started, deployed or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentView>,
    /// The incident it opened, restored, finished or deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentView>,
    /// True when the incident was deleted (incident.io: declined, canceled or merged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<bool>,
    /// Why the delivery changed nothing (202).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    /// The delivery id was seen in the last 7 days: nothing changed (200).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// A push: the commits that became known commits of the repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_commits: Option<KnownCommits>,
}

#[derive(Serialize, ToSchema)]
pub struct KnownCommits {
    /// `github:` or `gitlab:` and the repository's path, lower-cased.
    pub repository: String,
    /// The commits the push listed.
    pub commits: usize,
}

#[utoipa::path(post, path = "/webhooks/github", tag = "webhooks", operation_id = "github_webhook", security(()),
    request_body(content = Object, description = "A GitHub `ping`, `push`, `deployment` or `deployment_status` event, \
        signed in X-Hub-Signature-256; X-GitHub-Event names it"),
    responses(
        (status = 200, description = "Changed a deployment, remembered a push's commits, a ping, or a duplicate delivery", body = WebhookAnswer),
        (status = 201, description = "Created a deployment", body = WebhookAnswer),
        (status = 202, description = "Ignored, with the reason", body = WebhookAnswer),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 404, description = "Not enabled: set EM_METRICS_GITHUB_WEBHOOK_SECRET", body = ErrorBody),
    ))]
pub async fn github(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(state, None, Source::Github, headers, body).await
}

#[utoipa::path(post, path = "/webhooks/gitlab", tag = "webhooks", operation_id = "gitlab_webhook", security(()),
    request_body(content = Object, description = "A GitLab `Push Hook` or `Deployment Hook`, with X-Gitlab-Token"),
    responses(
        (status = 200, description = "Changed a deployment, remembered a push's commits, or a duplicate delivery", body = WebhookAnswer),
        (status = 201, description = "Created a deployment", body = WebhookAnswer),
        (status = 202, description = "Ignored, with the reason", body = WebhookAnswer),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong X-Gitlab-Token", body = ErrorBody),
        (status = 404, description = "Not enabled: set EM_METRICS_GITLAB_WEBHOOK_TOKEN", body = ErrorBody),
    ))]
pub async fn gitlab(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(state, None, Source::Gitlab, headers, body).await
}

#[utoipa::path(post, path = "/webhooks/pagerduty", tag = "webhooks", operation_id = "pagerduty_webhook", security(()),
    request_body(content = Object, description = "A PagerDuty v3 webhook event, signed in X-PagerDuty-Signature"),
    responses(
        (status = 200, description = "Changed an incident, or a duplicate delivery", body = WebhookAnswer),
        (status = 201, description = "Created an incident", body = WebhookAnswer),
        (status = 202, description = "Ignored, with the reason", body = WebhookAnswer),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 404, description = "Not enabled: set EM_METRICS_PAGERDUTY_WEBHOOK_SECRET", body = ErrorBody),
    ))]
pub async fn pagerduty(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(state, None, Source::Pagerduty, headers, body).await
}

#[utoipa::path(post, path = "/webhooks/incident-io", tag = "webhooks", operation_id = "incident_io_webhook", security(()),
    request_body(content = Object, description = "An incident.io public incident event, signed by Standard Webhooks \
        (webhook-id, webhook-timestamp, webhook-signature)"),
    responses(
        (status = 200, description = "Changed or deleted an incident, or a duplicate delivery", body = WebhookAnswer),
        (status = 201, description = "Created an incident", body = WebhookAnswer),
        (status = 202, description = "Ignored, with the reason", body = WebhookAnswer),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing, stale or wrong signature", body = ErrorBody),
        (status = 404, description = "Not enabled: set EM_METRICS_INCIDENT_IO_WEBHOOK_SECRET", body = ErrorBody),
    ))]
pub async fn incident_io(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    receive(state, None, Source::IncidentIo, headers, body).await
}

#[utoipa::path(post, path = "/webhooks/alertmanager", tag = "webhooks", operation_id = "alertmanager_webhook",
    request_body(content = Object, description = "An Alertmanager (version 4) or Grafana Alerting (version 1) \
        notification; with EM_METRICS_GRAFANA_WEBHOOK_SECRET, signed in X-Grafana-Alerting-Signature"),
    responses(
        (status = 200, description = "One answer per alert; nothing new was created", body = Vec<WebhookAnswer>),
        (status = 201, description = "One answer per alert; at least one incident was created", body = Vec<WebhookAnswer>),
        (status = 202, description = "Every alert was ignored, with the reasons", body = WebhookAnswer),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Missing credentials, or a wrong Grafana signature", body = ErrorBody),
        (status = 403, description = "Wrong credentials", body = ErrorBody),
    ))]
pub async fn alertmanager(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // No signature of its own: the API's credentials (Alertmanager's
    // http_config.authorization, a Grafana contact point's header), checked
    // by the router like any API route's, with the role ingest.
    receive(state, Some(caller), Source::Alertmanager, headers, body).await
}

/// A delivery from `source`: its answer, carrying the sender as the audit
/// log's actor once the signature checked out (`caller`, for Alertmanager,
/// was checked before).
async fn receive(
    state: AppState,
    caller: Option<Principal>,
    source: Source,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let bytes = match verified(&state, source, &headers, body).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused.into_response(),
    };
    let principal = caller.unwrap_or_else(|| Principal::webhook(source.name()));
    let delivery_id = source.delivery_headers().iter().map(|h| text(&headers, h)).find(|id| !id.is_empty());
    let mut response = match deliver(&state, &principal, source, &headers, bytes, delivery_id.clone()).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(principal);
    if let Some(id) = delivery_id {
        response.extensions_mut().insert(AuditTarget(id));
    }
    response
}

/// The body of a delivery from an enabled source whose signature checks out.
async fn verified(state: &AppState, source: Source, headers: &HeaderMap, body: Body) -> Result<Bytes> {
    let secret = state.webhooks.secret(source);
    if source != Source::Alertmanager && secret.is_none() {
        return Err(AppError::NotFound(format!(
            "the {} webhook is not enabled on this server: set {} to enable it",
            source.name(),
            source.setting()
        )));
    }
    let bytes = read_body(body).await?;
    if let Err(refused) = authenticate(source, headers, &bytes, secret) {
        // The reason only: never the secret, the signature or the body.
        tracing::warn!(source = source.name(), reason = %refused, "webhook delivery refused");
        return Err(AppError::Unauthorized { message: refused.to_string(), challenge: None });
    }
    Ok(bytes)
}

/// What an authentic delivery changes, and the answer.
async fn deliver(
    state: &AppState,
    principal: &Principal,
    source: Source,
    headers: &HeaderMap,
    bytes: Bytes,
    delivery_id: Option<String>,
) -> Result<Response> {
    // Checked without building a tree: each source reads only what it uses.
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map_err(|e| AppError::BadRequest { message: format!("the body is not JSON: {e}"), field: None })?;
    let json = &bytes[..];
    // One snapshot for the whole delivery: the parsers and the decisions see
    // the same team config and the same clock.
    let ctx = state.context(principal);
    let teams = ctx.teams.clone();
    let header = |name: &str| text(headers, name);
    let actions = match source {
        Source::Github => vec![github::actions(&header("x-github-event"), json, &teams)],
        Source::Gitlab => vec![gitlab::actions(&header("x-gitlab-event"), json, &teams)],
        Source::Pagerduty => vec![pagerduty::actions(json, &teams)],
        Source::IncidentIo => {
            vec![incident_io::actions(json, &teams, &state.webhooks.incident_io_project_field)]
        }
        Source::Alertmanager => alertmanager::actions(json, &teams),
    };
    let source_name = source.name();
    let t = state
        .apply_with(ctx, move |tx, ctx| tx.run_delivery(source_name, delivery_id.as_deref(), actions, ctx))
        .await?;
    Ok(answer(source, t.value))
}

/// A header's text, trimmed; empty when absent or not text.
fn text(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().trim().to_string()
}

/// The raw body, up to the webhook limit: signatures are over these bytes.
async fn read_body(body: Body) -> Result<Bytes> {
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, webhooks::MAX_BODY_BYTES));
    match read.await {
        Err(_) => Err(AppError::RequestTimeout),
        Ok(Err(_)) => Err(AppError::PayloadTooLarge(webhooks::MAX_BODY_BYTES)),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn authenticate(
    source: Source,
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&Secret>,
) -> std::result::Result<(), signature::Refused> {
    let Some(secret) = secret.map(Secret::expose) else {
        // Only Alertmanager gets here without a secret: the API's auth was checked.
        return Ok(());
    };
    match source {
        Source::Github => signature::github(headers, body, secret),
        Source::Gitlab => signature::gitlab(headers, secret),
        Source::Pagerduty => signature::pagerduty(headers, body, secret),
        Source::IncidentIo => signature::standard_webhooks(headers, body, secret),
        Source::Alertmanager => signature::grafana(headers, body, secret, Timestamp::now().millis() / 1000),
    }
}

fn answer(source: Source, delivery: Delivery) -> Response {
    let outcomes = match delivery {
        Delivery::Duplicate => return (StatusCode::OK, Json(json!({ "duplicate": true }))).into_response(),
        Delivery::Ran(outcomes) => outcomes,
    };
    if source == Source::Alertmanager {
        let reasons: Vec<&str> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Ignored(why) => Some(why.as_str()),
                _ => None,
            })
            .collect();
        if reasons.len() == outcomes.len() {
            return (StatusCode::ACCEPTED, Json(json!({ "ignored": reasons.join("; ") }))).into_response();
        }
        let created = outcomes.iter().any(|o| matches!(o, Outcome::Incident { created: true, .. }));
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        let list: Vec<Value> = outcomes.into_iter().map(|o| one(o).1).collect();
        return (status, Json(Value::Array(list))).into_response();
    }
    let (status, body) = match outcomes.into_iter().next() {
        Some(outcome) => one(outcome),
        None => (StatusCode::ACCEPTED, json!({ "ignored": "the delivery asked for nothing" })),
    };
    (status, Json(body)).into_response()
}

fn one(outcome: Outcome) -> (StatusCode, Value) {
    let created = |c: bool| if c { StatusCode::CREATED } else { StatusCode::OK };
    match outcome {
        Outcome::Ignored(why) => (StatusCode::ACCEPTED, json!({ "ignored": why })),
        Outcome::Ping => (StatusCode::OK, json!({ "ping": "pong" })),
        Outcome::KnownCommits { repository, commits } => {
            (StatusCode::OK, json!({ "known_commits": { "repository": repository, "commits": commits } }))
        }
        Outcome::Deployment { created: c, deployment } => {
            (created(c), json!({ "deployment": DeploymentView::from(deployment) }))
        }
        Outcome::Incident { created: c, incident } => (created(c), json!({ "incident": IncidentView::from(incident) })),
        Outcome::IncidentDeleted(incident) => {
            (StatusCode::OK, json!({ "incident": IncidentView::from(incident), "deleted": true }))
        }
        Outcome::PullRequest { created: c, pull_request } => {
            (created(c), json!({ "pull_request": super::pull_requests::PullRequestView::from(*pull_request) }))
        }
    }
}
