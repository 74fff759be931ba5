//! `DELETE /usernames/{username}`: removes a person's name from every
//! stored event (the right to be forgotten). The teams already resolved from
//! it stay, so the delivery history keeps its shape.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{AppError, ErrorBody, Result};
use crate::domain::Username;
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Cleared {
    /// Stored events that held the username.
    pub cleared: u64,
}

#[utoipa::path(delete, path = "/usernames/{username}", tag = "privacy",
    params(("username" = String, Path, description = "The username, as pipelines sent it")),
    responses(
        (status = 200, description = "The username is gone from every stored event", body = Cleared),
        (status = 400, description = "Blank or too long", body = ErrorBody),
    ))]
pub async fn clear(State(state): State<AppState>, Path(username): Path<String>) -> Result<Json<Cleared>> {
    let username =
        Username::parse(username).map_err(|why| AppError::bad_field("username", format!("username {why}")))?;
    let cleared = state.store.clear_username(username).await?;
    Ok(Json(Cleared { cleared }))
}
