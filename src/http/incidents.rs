//! `/incidents`: what incident tools call through webhooks.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::Caller;
use super::answer::{commit, Claimed};
use super::deployments::DateBody;
use super::error::{AppError, ErrorBody, Result};
use super::extract::{blank_is_none, comma_list, IdPath, LenientJson, Query};
use super::paging::{page, range};
use crate::domain::incident::{Correction, NewIncident};
use crate::domain::{DeploymentLink, Id, Incident, IncidentStatus};
use crate::state::AppState;
use crate::store::{IncidentFilter, IncidentState, Order};
use crate::time::Timestamp;

/// An incident as the API returns it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentView {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub project_id: Id,
    pub team_id: Option<String>,
    #[schema(value_type = String)]
    pub environment: Id,
    #[schema(value_type = Option<String>)]
    pub deployment_id: Option<Id>,
    /// `explicit` (the caller gave deployment_id), `inferred` (attribution) or null.
    pub deployment_link: Option<DeploymentLink>,
    pub title: Option<String>,
    pub status: IncidentStatus,
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(format = DateTime)]
    pub restored_at: Option<String>,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// restored_at − started_at, null until restored.
    pub time_to_restore_seconds: Option<f64>,
    /// started_at − the deployment's deployed_at; null without a deployed deployment.
    pub time_to_detect_seconds: Option<f64>,
    /// Who reported it: the token's name, `settings`, `sso:<email>` or
    /// `webhook:<source>`; null for incidents stored before this was kept.
    pub created_by: Option<String>,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        Self {
            status: i.status(),
            time_to_restore_seconds: i.time_to_restore_seconds(),
            time_to_detect_seconds: i.time_to_detect_seconds(),
            id: i.id,
            project_id: i.project_id,
            team_id: i.team_id,
            environment: i.environment,
            deployment_id: i.deployment_id,
            deployment_link: i.deployment_link,
            title: i.title,
            started_at: i.started_at.to_rfc3339(),
            restored_at: i.restored_at.map(Timestamp::to_rfc3339),
            finished_at: i.finished_at.map(Timestamp::to_rfc3339),
            created_by: i.created_by,
        }
    }
}

/// Body of `POST /incidents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIncident {
    /// Default: `incident_<project_id>_<n>`, never an existing id.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub id: Option<Id>,
    #[schema(value_type = Option<String>, required, nullable = false, min_length = 1, max_length = 200, pattern = r"\S")]
    pub project_id: Option<Id>,
    /// The deployment that caused it: it then counts as a failed change.
    /// Without it, the latest deployment of the project that went live within
    /// EM_METRICS_ATTRIBUTION_WINDOW before started_at is linked (inferred).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub deployment_id: Option<Id>,
    #[schema(max_length = 2000)]
    pub title: Option<String>,
    /// Default: the deployment's environment, else DEPLOYMENT_ENVIRONMENT.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub environment: Option<Id>,
    /// Default: now.
    pub started_at: Option<Timestamp>,
    pub restored_at: Option<Timestamp>,
    /// Finished implies restored: restored_at defaults to finished_at.
    pub finished_at: Option<Timestamp>,
}

impl From<CreateIncident> for NewIncident {
    fn from(body: CreateIncident) -> Self {
        Self {
            id: body.id,
            project_id: body.project_id,
            deployment_id: body.deployment_id,
            title: body.title,
            environment: body.environment,
            started_at: body.started_at,
            restored_at: body.restored_at,
            finished_at: body.finished_at,
        }
    }
}

/// Body of `PATCH /incidents/{id}`: only the fields given change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectIncident {
    /// A deployment id links it explicitly; null unlinks it ("not caused by a deployment").
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, nullable = true)]
    pub deployment_id: Option<Option<Id>>,
    #[schema(max_length = 2000)]
    pub title: Option<String>,
    pub started_at: Option<Timestamp>,
    pub restored_at: Option<Timestamp>,
    /// Finished implies restored.
    pub finished_at: Option<Timestamp>,
}

impl From<CorrectIncident> for Correction {
    fn from(body: CorrectIncident) -> Self {
        Self {
            deployment_id: body.deployment_id,
            title: body.title,
            started_at: body.started_at,
            restored_at: body.restored_at,
            finished_at: body.finished_at,
        }
    }
}

/// A field that was sent, even as null: `Some(None)` for null, so absent
/// (None, from `default`) and null can be told apart.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(de: D) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListIncidents {
    /// `in-progress` (not restored) or `unfinished` (not finished).
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub filter: Option<IncidentState>,
    /// Synonym of `filter`.
    #[serde(default, rename = "type", deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub kind: Option<IncidentState>,
    /// Repeatable or comma-separated.
    #[serde(default, deserialize_with = "comma_list")]
    pub project_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub team_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub environment: Vec<String>,
    /// On started_at, inclusive. RFC 3339 or Unix seconds.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub from: Option<Timestamp>,
    /// On started_at, exclusive.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub to: Option<Timestamp>,
    /// 1 to 1000, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<u64>, minimum = 0)]
    pub offset: Option<String>,
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub order: Option<Order>,
}

#[utoipa::path(post, path = "/incidents", operation_id = "create_incident", tag = "incidents", request_body = CreateIncident,
    responses(
        (status = 201, description = "Created", body = IncidentView),
        (status = 200, description = "The same incident was posted before (a retry)", body = IncidentView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 409, description = "The id exists with different fields", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    claimed: Claimed,
    LenientJson(body): LenientJson<CreateIncident>,
) -> Result<Response> {
    let cmd = NewIncident::from(body);
    commit(&state, &caller, claimed, move |tx, ctx| tx.open_incident(cmd, ctx), IncidentView::from).await
}

#[utoipa::path(get, path = "/incidents", operation_id = "list_incidents", tag = "incidents", params(ListIncidents),
    responses(
        (status = 200, description = "Ordered by started_at, then id", body = Vec<IncidentView>),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn list_all(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListIncidents>,
) -> Result<Json<Vec<IncidentView>>> {
    let filter = IncidentFilter {
        state: q.filter.or(q.kind),
        project_ids: caller.scope.narrow(q.project_id)?,
        team_ids: q.team_id,
        environments: q.environment,
        range: range(q.from, q.to)?,
        page: page(q.limit.as_deref(), q.offset.as_deref(), q.order)?,
    };
    let rows = state.store.incidents(filter).await?;
    Ok(Json(rows.into_iter().map(IncidentView::from).collect()))
}

#[utoipa::path(get, path = "/incidents/{id}", operation_id = "get_incident", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = IncidentView),
        (status = 404, description = "No such incident", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
) -> Result<Json<IncidentView>> {
    let stored = state.store.incident(id.clone()).await?;
    // Another project's incident does not exist, as far as a scoped caller knows.
    match stored.filter(|i| caller.scope.allows(&i.project_id)) {
        Some(i) => Ok(Json(i.into())),
        None => Err(AppError::NotFound(format!("incident `{id}` not found"))),
    }
}

#[utoipa::path(delete, path = "/incidents/{id}", operation_id = "delete_incident", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such incident", body = ErrorBody),
    ))]
pub async fn delete(State(state): State<AppState>, Caller(caller): Caller, IdPath(id): IdPath) -> Result<StatusCode> {
    state.apply(&caller, move |tx, ctx| tx.delete_incident(&id, ctx)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(patch, path = "/incidents/{id}", tag = "incidents", request_body = CorrectIncident,
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The corrected incident", body = IncidentView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
    ))]
pub async fn correct(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<CorrectIncident>,
) -> Result<Response> {
    let cmd = Correction::from(body);
    commit(&state, &caller, claimed, move |tx, ctx| tx.correct_incident(&id, cmd, ctx), IncidentView::from).await
}

#[utoipa::path(post, path = "/incidents/{id}/restored", tag = "incidents", request_body = DateBody,
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "Restored (or already restored at that time)", body = IncidentView),
        (status = 400, description = "Date before the start", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 409, description = "Already restored at another time", body = ErrorBody),
    ))]
pub async fn restored(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<DateBody>,
) -> Result<Response> {
    commit(&state, &caller, claimed, move |tx, ctx| tx.restore_incident(&id, body.date, ctx), IncidentView::from).await
}

#[utoipa::path(post, path = "/incidents/{id}/finished", tag = "incidents", request_body = DateBody,
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "Finished (and restored, if it was not)", body = IncidentView),
        (status = 400, description = "Date before the start or the restore", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody),
    ))]
pub async fn finished(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<DateBody>,
) -> Result<Response> {
    commit(&state, &caller, claimed, move |tx, ctx| tx.finish_incident(&id, body.date, ctx), IncidentView::from).await
}
