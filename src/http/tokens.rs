//! `/tokens`: API tokens, for admins. A token's secret is made here, shown
//! once in the answer to its creation, and only its SHA-256 is stored.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::access::{AuditTarget, Caller};
use super::error::{AppError, ErrorBody, Result};
use super::extract::LenientJson;
use crate::auth::token_secret;
use crate::domain::token::{NewToken, Role, Token};
use crate::domain::Id;
use crate::state::AppState;
use crate::time::Timestamp;

/// `POST /tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// Unique, 1 to 100 characters: how `created_by` and the audit log call it.
    pub name: String,
    pub role: Role,
    /// The project ids it is limited to; leave it out for every project (an admin token is always for every project).
    #[schema(value_type = Option<Vec<String>>)]
    pub projects: Option<Vec<Id>>,
    /// When it stops working, in the future: RFC 3339 or Unix seconds. Leave it out for a token that never expires.
    pub expires_at: Option<Timestamp>,
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub name: String,
    pub role: Role,
    /// Null: every project.
    #[schema(value_type = Option<Vec<String>>)]
    pub projects: Option<Vec<Id>>,
    pub expires_at: Option<String>,
    pub created_at: String,
    /// Updated at most once a minute.
    pub last_used_at: Option<String>,
    /// The secret (`emm_…`): in the answer to `POST /tokens` only, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<Token> for TokenView {
    fn from(t: Token) -> Self {
        Self {
            name: t.name,
            role: t.role,
            projects: t.projects,
            expires_at: t.expires_at.map(Timestamp::to_rfc3339),
            created_at: t.created_at.to_rfc3339(),
            last_used_at: t.last_used_at.map(Timestamp::to_rfc3339),
            token: None,
        }
    }
}

#[utoipa::path(post, path = "/tokens", operation_id = "create_token", tag = "access", request_body = CreateToken,
    responses(
        (status = 201, description = "Created; `token` is its secret, shown this once", body = TokenView),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "A token of that name exists (field: name)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    LenientJson(body): LenientJson<CreateToken>,
) -> Result<Response> {
    let (secret, hash) = token_secret::generate()
        .ok_or_else(|| AppError::Unavailable("no secure random numbers to make a token from".into()))?;
    let cmd = NewToken { name: body.name, role: body.role, projects: body.projects, expires_at: body.expires_at };
    let t = state.apply(&caller, move |tx, ctx| tx.create_token(cmd, hash, ctx)).await?;
    let target = AuditTarget(t.value.name.clone());
    let view = TokenView { token: Some(secret), ..TokenView::from(t.value) };
    let mut response = (StatusCode::CREATED, Json(view)).into_response();
    response.extensions_mut().insert(target);
    Ok(response)
}

#[utoipa::path(get, path = "/tokens", operation_id = "list_tokens", tag = "access",
    responses(
        (status = 200, description = "Every token, by name, without secrets", body = Vec<TokenView>),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<TokenView>>> {
    Ok(Json(state.store.tokens().await?.into_iter().map(TokenView::from).collect()))
}

#[utoipa::path(delete, path = "/tokens/{name}", operation_id = "revoke_token", tag = "access",
    params(("name" = String, Path, description = "The token's name")),
    responses(
        (status = 204, description = "Revoked: it stops working at once, and its dashboard sessions end"),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(name): Path<String>,
) -> Result<StatusCode> {
    state.apply(&caller, move |tx, _| tx.revoke_token(&name)).await?;
    Ok(StatusCode::NO_CONTENT)
}
