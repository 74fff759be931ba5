//! `/pull-requests`: what a pipeline or a Git host reports of a pull request,
//! and the stages of cycle time derived from it.

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
use crate::domain::pull_request::{Merge, NewPullRequest, NewReview};
use crate::domain::{Id, PullRequest, PullRequestState, ReviewState, Username};
use crate::state::AppState;
use crate::store::{Order, PullRequestFilter};
use crate::time::Timestamp;

/// A pull request as the API returns it: what was reported, and what is
/// derived from it (null until known).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PullRequestView {
    #[schema(value_type = String)]
    pub id: Id,
    #[schema(value_type = String)]
    pub project_id: Id,
    pub team_id: Option<String>,
    pub number: Option<i64>,
    pub title: Option<String>,
    /// Null when usernames are not stored.
    #[schema(value_type = Option<String>)]
    pub author: Option<Username>,
    pub base_branch: Option<String>,
    #[schema(value_type = Option<String>)]
    pub head_sha: Option<Id>,
    pub draft: bool,
    pub state: PullRequestState,
    #[schema(format = DateTime)]
    pub opened_at: String,
    #[schema(format = DateTime)]
    pub first_commit_at: Option<String>,
    /// opened_at, or when a draft first became ready for review.
    #[schema(format = DateTime)]
    pub ready_at: Option<String>,
    /// The first review by someone other than the author.
    #[schema(format = DateTime)]
    pub first_review_at: Option<String>,
    /// The first approval by someone other than the author.
    #[schema(format = DateTime)]
    pub approved_at: Option<String>,
    /// Reviews by others than the author.
    pub reviews: u64,
    #[schema(format = DateTime)]
    pub merged_at: Option<String>,
    #[schema(value_type = Option<String>)]
    pub merge_commit_sha: Option<Id>,
    pub additions: Option<i64>,
    pub deletions: Option<i64>,
    #[schema(format = DateTime)]
    pub closed_at: Option<String>,
    /// The first production deployment of the project that shipped merge_commit_sha.
    #[schema(value_type = Option<String>)]
    pub deployment_id: Option<Id>,
    #[schema(format = DateTime)]
    pub deployed_at: Option<String>,
    /// first_commit_at → ready_at.
    pub coding_seconds: Option<f64>,
    /// ready_at → first_review_at.
    pub pickup_seconds: Option<f64>,
    /// first_review_at (ready_at without a review) → merged_at.
    pub review_seconds: Option<f64>,
    /// merged_at → deployed_at.
    pub deploy_seconds: Option<f64>,
    /// first_commit_at (else opened_at) → deployed_at.
    pub cycle_seconds: Option<f64>,
    /// Who reported it: the token's name, `settings` or `webhook:<source>`.
    pub created_by: Option<String>,
}

fn time(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

use crate::insights::report::to_millisecond as seconds;

impl From<PullRequest> for PullRequestView {
    fn from(p: PullRequest) -> Self {
        Self {
            coding_seconds: seconds(p.coding_seconds()),
            pickup_seconds: seconds(p.pickup_seconds()),
            review_seconds: seconds(p.review_seconds()),
            deploy_seconds: seconds(p.deploy_seconds()),
            cycle_seconds: seconds(p.cycle_seconds()),
            opened_at: p.opened_at.to_rfc3339(),
            first_commit_at: time(p.first_commit_at),
            ready_at: time(p.ready_at),
            first_review_at: time(p.first_review_at),
            approved_at: time(p.approved_at),
            merged_at: time(p.merged_at),
            closed_at: time(p.closed_at),
            deployed_at: time(p.deployed_at),
            id: p.id,
            project_id: p.project_id,
            team_id: p.team_id,
            number: p.number,
            title: p.title,
            author: p.author,
            base_branch: p.base_branch,
            head_sha: p.head_sha,
            draft: p.draft,
            state: p.state,
            reviews: p.reviews,
            merge_commit_sha: p.merge_commit_sha,
            additions: p.additions,
            deletions: p.deletions,
            deployment_id: p.deployment_id,
            created_by: p.created_by,
        }
    }
}

/// Body of `POST /pull-requests`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePullRequest {
    /// Required; a Git host's deliveries use `{project_id}#{number}`.
    #[schema(value_type = Option<String>, required, nullable = false, min_length = 1, max_length = 200, pattern = r"\S")]
    pub id: Option<Id>,
    #[schema(value_type = Option<String>, required, nullable = false, min_length = 1, max_length = 200, pattern = r"\S")]
    pub project_id: Option<Id>,
    #[schema(minimum = 0)]
    pub number: Option<i64>,
    #[schema(max_length = 1000)]
    pub title: Option<String>,
    /// The author's login; kept only when EM_METRICS_STORE_USERNAMES is on.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub author: Option<Username>,
    pub base_branch: Option<String>,
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub head_sha: Option<Id>,
    /// Default false. A draft is ready for review once `/ready` says so.
    pub draft: Option<bool>,
    /// Default: now.
    pub opened_at: Option<Timestamp>,
    /// The earliest commit of the pull request: where coding time starts.
    pub first_commit_at: Option<Timestamp>,
}

impl From<CreatePullRequest> for NewPullRequest {
    fn from(b: CreatePullRequest) -> Self {
        Self {
            id: b.id,
            project_id: b.project_id,
            number: b.number,
            title: b.title,
            author: b.author,
            base_branch: b.base_branch,
            head_sha: b.head_sha,
            head_branch: None,
            draft: b.draft,
            opened_at: b.opened_at,
            first_commit_at: b.first_commit_at,
        }
    }
}

/// Body of `POST /pull-requests/{id}/reviewed`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// Default: now.
    pub reviewed_at: Option<Timestamp>,
    pub state: ReviewState,
    /// The reviewer's login: a review by the author is stored but never counts.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200)]
    pub reviewer: Option<Username>,
}

/// Body of `POST /pull-requests/{id}/merged`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// Default: now.
    pub merged_at: Option<Timestamp>,
    /// Required: the commit a production deployment must ship for the pull request to count as deployed.
    #[schema(value_type = Option<String>, required, nullable = false, min_length = 1, max_length = 200, pattern = r"\S")]
    pub merge_commit_sha: Option<Id>,
    #[schema(minimum = 0)]
    pub additions: Option<i64>,
    #[schema(minimum = 0)]
    pub deletions: Option<i64>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListPullRequests {
    /// Repeatable or comma-separated.
    #[serde(default, deserialize_with = "comma_list")]
    pub project_id: Vec<String>,
    #[serde(default, deserialize_with = "comma_list")]
    pub team_id: Vec<String>,
    /// `open`, `merged` or `closed`.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub state: Option<PullRequestState>,
    /// On opened_at, inclusive. RFC 3339 or Unix seconds.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub from: Option<Timestamp>,
    /// On opened_at, exclusive.
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

#[utoipa::path(post, path = "/pull-requests", operation_id = "create_pull_request", tag = "pull-requests",
    request_body = CreatePullRequest,
    responses(
        (status = 201, description = "Created", body = PullRequestView),
        (status = 200, description = "The same pull request was posted before (a retry)", body = PullRequestView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 409, description = "The id exists with different fields", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    claimed: Claimed,
    LenientJson(body): LenientJson<CreatePullRequest>,
) -> Result<Response> {
    let cmd = NewPullRequest::from(body);
    commit(&state, &caller, claimed, move |tx, ctx| tx.open_pull_request(cmd, ctx), PullRequestView::from).await
}

#[utoipa::path(get, path = "/pull-requests", operation_id = "list_pull_requests", tag = "pull-requests",
    params(ListPullRequests),
    responses(
        (status = 200, description = "Ordered by opened_at, then id", body = Vec<PullRequestView>),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
    ))]
pub async fn list_all(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Query(q): Query<ListPullRequests>,
) -> Result<Json<Vec<PullRequestView>>> {
    let filter = PullRequestFilter {
        project_ids: caller.scope.narrow(q.project_id)?,
        team_ids: q.team_id,
        state: q.state,
        range: range(q.from, q.to)?,
        page: page(q.limit.as_deref(), q.offset.as_deref(), q.order)?,
    };
    let rows = state.store.pull_requests(filter).await?;
    Ok(Json(rows.into_iter().map(PullRequestView::from).collect()))
}

#[utoipa::path(get, path = "/pull-requests/{id}", operation_id = "get_pull_request", tag = "pull-requests",
    params(("id" = String, Path, description = "Pull request id")),
    responses(
        (status = 200, description = "The pull request", body = PullRequestView),
        (status = 404, description = "No such pull request", body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
) -> Result<Json<PullRequestView>> {
    let stored = state.store.pull_request(id.clone()).await?;
    match stored.filter(|p| caller.scope.allows(&p.project_id)) {
        Some(p) => Ok(Json(p.into())),
        None => Err(AppError::NotFound(format!("pull request `{id}` not found"))),
    }
}

#[utoipa::path(delete, path = "/pull-requests/{id}", operation_id = "delete_pull_request", tag = "pull-requests",
    params(("id" = String, Path, description = "Pull request id")),
    responses(
        (status = 204, description = "Deleted, with its reviews"),
        (status = 404, description = "No such pull request", body = ErrorBody),
    ))]
pub async fn delete(State(state): State<AppState>, Caller(caller): Caller, IdPath(id): IdPath) -> Result<StatusCode> {
    state.apply(&caller, move |tx, ctx| tx.delete_pull_request(&id, ctx)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/pull-requests/{id}/ready", operation_id = "ready_pull_request", tag = "pull-requests", request_body = DateBody,
    params(("id" = String, Path, description = "Pull request id")),
    responses(
        (status = 200, description = "Ready for review (the first time counts)", body = PullRequestView),
        (status = 400, description = "Date before opened_at", body = ErrorBody),
        (status = 404, description = "No such pull request", body = ErrorBody),
    ))]
pub async fn ready(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<DateBody>,
) -> Result<Response> {
    commit(&state, &caller, claimed, move |tx, ctx| tx.ready_pull_request(&id, body.date, ctx), PullRequestView::from)
        .await
}

#[utoipa::path(post, path = "/pull-requests/{id}/reviewed", operation_id = "review_pull_request", tag = "pull-requests", request_body = ReviewBody,
    params(("id" = String, Path, description = "Pull request id")),
    responses(
        (status = 200, description = "The review is recorded (the same review again changes nothing)", body = PullRequestView),
        (status = 400, description = "Invalid field, or reviewed_at before opened_at", body = ErrorBody),
        (status = 404, description = "No such pull request", body = ErrorBody),
    ))]
pub async fn reviewed(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<ReviewBody>,
) -> Result<Response> {
    let cmd = NewReview { reviewed_at: body.reviewed_at, state: body.state, reviewer: body.reviewer };
    commit(&state, &caller, claimed, move |tx, ctx| tx.review_pull_request(&id, cmd, ctx), PullRequestView::from).await
}

#[utoipa::path(post, path = "/pull-requests/{id}/merged", operation_id = "merge_pull_request", tag = "pull-requests", request_body = MergeBody,
    params(("id" = String, Path, description = "Pull request id")),
    responses(
        (status = 200, description = "Merged (or already merged the same way)", body = PullRequestView),
        (status = 400, description = "Invalid field, or merged_at before opened_at", body = ErrorBody),
        (status = 404, description = "No such pull request", body = ErrorBody),
        (status = 409, description = "Closed, or merged with another commit or time", body = ErrorBody),
    ))]
pub async fn merged(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<MergeBody>,
) -> Result<Response> {
    let cmd = Merge {
        merged_at: body.merged_at,
        merge_commit_sha: body.merge_commit_sha,
        additions: body.additions,
        deletions: body.deletions,
    };
    commit(&state, &caller, claimed, move |tx, ctx| tx.merge_pull_request(&id, cmd, ctx), PullRequestView::from).await
}

/// Body of `POST /pull-requests/{id}/closed`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClosedBody {
    /// Default: now.
    pub closed_at: Option<Timestamp>,
}

#[utoipa::path(post, path = "/pull-requests/{id}/closed", operation_id = "close_pull_request", tag = "pull-requests", request_body = ClosedBody,
    params(("id" = String, Path, description = "Pull request id")),
    responses(
        (status = 200, description = "Closed without merging", body = PullRequestView),
        (status = 400, description = "closed_at before opened_at", body = ErrorBody),
        (status = 404, description = "No such pull request", body = ErrorBody),
        (status = 409, description = "Merged, or closed at another time", body = ErrorBody),
    ))]
pub async fn closed(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<ClosedBody>,
) -> Result<Response> {
    commit(
        &state,
        &caller,
        claimed,
        move |tx, ctx| tx.close_pull_request(&id, body.closed_at, ctx),
        PullRequestView::from,
    )
    .await
}

#[utoipa::path(post, path = "/pull-requests/{id}/reopened", operation_id = "reopen_pull_request", tag = "pull-requests", request_body = DateBody,
    params(("id" = String, Path, description = "Pull request id")),
    responses(
        (status = 200, description = "Open again", body = PullRequestView),
        (status = 404, description = "No such pull request", body = ErrorBody),
        (status = 409, description = "Merged", body = ErrorBody),
    ))]
pub async fn reopened(
    State(state): State<AppState>,
    Caller(caller): Caller,
    IdPath(id): IdPath,
    claimed: Claimed,
    LenientJson(body): LenientJson<DateBody>,
) -> Result<Response> {
    commit(&state, &caller, claimed, move |tx, ctx| tx.reopen_pull_request(&id, body.date, ctx), PullRequestView::from)
        .await
}
