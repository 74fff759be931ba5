//! `/deployments`: what CI/CD pipelines call.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::Caller;
use super::answer::{commit, Claimed};
use super::error::{AppError, ErrorBody, Result};
use super::extract::{blank_is_none, comma_list, username, IdPath, LenientJson, Query};
use super::paging::{page, range};
use crate::domain::deployment::{MarkDeployed, NewDeployment};
use crate::domain::{Commit, Deployment, DeploymentKind, DeploymentStatus, Id, Username};
use crate::state::AppState;
use crate::store::{DeploymentFilter, Order};
use crate::time::Timestamp;

/// A deployment as the API returns it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeploymentView {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub project_id: Id,
    pub team_id: Option<String>,
    #[schema(value_type = String)]
    pub environment: Id,
    #[schema(value_type = Option<String>)]
    pub username: Option<Username>,
    pub status: DeploymentStatus,
    #[schema(format = DateTime)]
    pub first_commit_at: String,
    #[schema(format = DateTime)]
    pub deploy_start_at: String,
    #[schema(format = DateTime)]
    pub deployed_at: Option<String>,
    /// deployed_at − first_commit_at, null until deployed.
    pub lead_time_seconds: Option<f64>,
    /// deployed_at − deploy_start_at, null until deployed.
    pub duration_seconds: Option<f64>,
    /// The commit the deployment runs.
    #[schema(value_type = Option<String>)]
    pub commit_sha: Option<Id>,
    pub kind: DeploymentKind,
    /// The incident this deployment fixes.
    #[schema(value_type = Option<String>)]
    pub restores_incident: Option<Id>,
    /// Changes this deployment shipped first to its environment; 0 until deployed.
    pub change_count: u64,
    /// A rollback, a hotfix or an incident fix: unplanned work.
    pub rework: bool,
    /// The deployment this rollback rolled back.
    #[schema(value_type = Option<String>)]
    pub rollback_of: Option<Id>,
    /// An incident is linked to it, or it was rolled back.
    pub change_failure: bool,
    /// Who reported it: the token's name, `settings` (the credentials from
    /// settings), `sso:<email>` or `webhook:<source>`; null for deployments
    /// stored before this was kept.
    pub created_by: Option<String>,
}

impl From<Deployment> for DeploymentView {
    fn from(d: Deployment) -> Self {
        Self {
            lead_time_seconds: d.lead_time_seconds(),
            duration_seconds: d.duration_seconds(),
            id: d.id,
            project_id: d.project_id,
            team_id: d.team_id,
            environment: d.environment,
            username: d.username,
            status: d.status,
            first_commit_at: d.first_commit_at.to_rfc3339(),
            deploy_start_at: d.deploy_start_at.to_rfc3339(),
            deployed_at: d.deployed_at.map(Timestamp::to_rfc3339),
            commit_sha: d.commit_sha,
            kind: d.kind,
            restores_incident: d.restores_incident,
            change_count: d.change_count,
            rework: d.rework,
            rollback_of: d.rollback_of,
            change_failure: d.marks.change_failure,
            created_by: d.created_by,
        }
    }
}

/// Body of `POST /deployments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    /// Unique per deployment, e.g. the pipeline run id. 1 to 200 characters.
    #[schema(value_type = Option<String>, required, nullable = false, min_length = 1, max_length = 200, pattern = r"\S")]
    pub id: Option<Id>,
    #[schema(value_type = Option<String>, required, nullable = false, min_length = 1, max_length = 200, pattern = r"\S")]
    pub project_id: Option<Id>,
    /// Time of the oldest commit in this deployment. Default: the earliest
    /// `committed_at` of `commits`; one of the two is required.
    pub first_commit_at: Option<Timestamp>,
    /// Default: now (or deployed_at, when that is given and earlier).
    pub deploy_start_at: Option<Timestamp>,
    /// The person who triggered it; also accepted as `user`.
    #[serde(default, alias = "user", deserialize_with = "username")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub username: Option<Username>,
    /// Default: the service's DEPLOYMENT_ENVIRONMENT.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub environment: Option<Id>,
    /// When given, the deployment is recorded as started and deployed in this one call.
    pub deployed_at: Option<Timestamp>,
    // These four fields repeat in MarkDeployedBody on purpose: through
    // #[serde(flatten)], serde_path_to_error no longer names the field at
    // fault, and deny_unknown_fields stops working.
    /// The commit the deployment runs (1 to 200 characters).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub commit_sha: Option<Id>,
    /// The changes it ships, at most 10,000; a sha listed twice counts once.
    /// Each not yet shipped to this project and environment becomes a change
    /// with its own lead time.
    #[schema(max_items = 10000)]
    pub commits: Option<Vec<Commit>>,
    /// `release` (default), `hotfix` or `rollback`.
    pub kind: Option<DeploymentKind>,
    /// An incident this deployment fixes: restored at its deployed_at.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub restores_incident: Option<Id>,
}

impl From<CreateDeployment> for NewDeployment {
    fn from(body: CreateDeployment) -> Self {
        Self {
            id: body.id,
            project_id: body.project_id,
            first_commit_at: body.first_commit_at,
            deploy_start_at: body.deploy_start_at,
            username: body.username,
            environment: body.environment,
            deployed_at: body.deployed_at,
            commit_sha: body.commit_sha,
            commits: body.commits,
            kind: body.kind,
            restores_incident: body.restores_incident,
        }
    }
}

/// Body of `POST /deployments/{id}/deployed`; every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkDeployedBody {
    /// Default: now.
    pub deployed_at: Option<Timestamp>,
    /// Create the deployment when it does not exist (then project_id and first_commit_at are required).
    #[serde(default)]
    pub create_if_not_exists: bool,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub project_id: Option<Id>,
    pub first_commit_at: Option<Timestamp>,
    /// Default: deployed_at.
    pub deploy_start_at: Option<Timestamp>,
    #[serde(default, alias = "user", deserialize_with = "username")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub username: Option<Username>,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub environment: Option<Id>,
    /// The commit the deployment runs (1 to 200 characters).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub commit_sha: Option<Id>,
    /// The changes it ships, at most 10,000; a sha listed twice counts once.
    /// Each not yet shipped to this project and environment becomes a change
    /// with its own lead time.
    #[schema(max_items = 10000)]
    pub commits: Option<Vec<Commit>>,
    /// `release` (default), `hotfix` or `rollback`.
    pub kind: Option<DeploymentKind>,
    /// An incident this deployment fixes: restored at its deployed_at.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub restores_incident: Option<Id>,
}

impl From<MarkDeployedBody> for MarkDeployed {
    fn from(body: MarkDeployedBody) -> Self {
        Self {
            deployed_at: body.deployed_at,
            create_if_not_exists: body.create_if_not_exists,
            project_id: body.project_id,
            first_commit_at: body.first_commit_at,
            deploy_start_at: body.deploy_start_at,
            username: body.username,
            environment: body.environment,
            commit_sha: body.commit_sha,
            commits: body.commits,
            kind: body.kind,
            restores_incident: body.restores_incident,
            learned: None,
        }
    }
}

/// Body of the `/failed`, `/restored` and `/finished` routes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DateBody {
    /// Default: now.
    pub date: Option<Timestamp>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListDeployments {
    /// Repeatable or comma-separated.
    #[serde(default, deserialize_with = "comma_list")]
    pub project_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub team_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub environment: Vec<String>,
    /// started, deployed or failed; repeatable or comma-separated.
    #[serde(default, deserialize_with = "comma_list")]
    #[param(inline)]
    pub status: Vec<DeploymentStatus>,
    /// On deploy_start_at, inclusive. RFC 3339 or Unix seconds.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub from: Option<Timestamp>,
    /// On deploy_start_at, exclusive.
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

#[utoipa::path(post, path = "/deployments", operation_id = "create_deployment", tag = "deployments", request_body = CreateDeployment,
    responses(
        (status = 201, description = "Created", body = DeploymentView),
        (status = 200, description = "The same deployment was posted before (a retry)", body = DeploymentView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 409, description = "The id exists with different fields", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    claimed: Claimed,
    LenientJson(body): LenientJson<CreateDeployment>,
) -> Result<Response> {
    let cmd = NewDeployment::from(body);
    commit(&state, &caller, claimed, move |tx, ctx| tx.start_deployment(cmd, ctx), DeploymentView::from).await
}

#[utoipa::path(post, path = "/deployments/{id}/deployed", tag = "deployments", request_body = MarkDeployedBody,
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "Deployed (or already deployed at that time)", body = DeploymentView),
        (status = 201, description = "Created and deployed (create_if_not_exists)", body = DeploymentView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 409, description = "Failed, or deployed at another time", body = ErrorBody),
    ))]
pub async fn deployed(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<MarkDeployedBody>,
) -> Result<Response> {
    let cmd = MarkDeployed::from(body);
    commit(&state, &caller, claimed, move |tx, ctx| tx.mark_deployed(&id, cmd, ctx), DeploymentView::from).await
}

#[utoipa::path(post, path = "/deployments/{id}/failed", tag = "deployments", request_body = DateBody,
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "Failed (or already failed)", body = DeploymentView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 409, description = "Already deployed", body = ErrorBody),
    ))]
pub async fn failed(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<DateBody>,
) -> Result<Response> {
    commit(&state, &caller, claimed, move |tx, ctx| tx.mark_failed(&id, body.date, ctx), DeploymentView::from).await
}

#[utoipa::path(get, path = "/deployments", operation_id = "list_deployments", tag = "deployments", params(ListDeployments),
    responses(
        (status = 200, description = "Ordered by deploy_start_at, then id", body = Vec<DeploymentView>),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn list_all(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListDeployments>,
) -> Result<Json<Vec<DeploymentView>>> {
    let filter = DeploymentFilter {
        project_ids: caller.scope.narrow(q.project_id)?,
        team_ids: q.team_id,
        environments: q.environment,
        statuses: q.status,
        range: range(q.from, q.to)?,
        page: page(q.limit.as_deref(), q.offset.as_deref(), q.order)?,
    };
    let rows = state.store.deployments(filter).await?;
    Ok(Json(rows.into_iter().map(DeploymentView::from).collect()))
}

#[utoipa::path(get, path = "/deployments/{id}", operation_id = "get_deployment", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "The deployment", body = DeploymentView),
        (status = 404, description = "No such deployment", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
) -> Result<Json<DeploymentView>> {
    let stored = state.store.deployment(id.clone()).await?;
    // Another project's deployment does not exist, as far as a scoped caller knows.
    match stored.filter(|d| caller.scope.allows(&d.project_id)) {
        Some(d) => Ok(Json(d.into())),
        None => Err(AppError::NotFound(format!("deployment `{id}` not found"))),
    }
}

#[utoipa::path(delete, path = "/deployments/{id}", operation_id = "delete_deployment", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 409, description = "Incidents point to it", body = ErrorBody),
    ))]
pub async fn delete(State(state): State<AppState>, Caller(caller): Caller, IdPath(id): IdPath) -> Result<StatusCode> {
    state.apply(&caller, move |tx, ctx| tx.delete_deployment(&id, ctx)).await?;
    Ok(StatusCode::NO_CONTENT)
}
