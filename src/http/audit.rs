//! `GET /audit`: who changed what, newest first, for admins.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, Result};
use super::extract::{blank_is_none, Query};
use super::paging::{page, range};
use crate::state::AppState;
use crate::store::{AuditFilter, AuditRecord, Order};
use crate::time::Timestamp;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListAudit {
    /// Inclusive. RFC 3339 or Unix seconds.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub from: Option<Timestamp>,
    /// Exclusive.
    #[serde(default, deserialize_with = "blank_is_none")]
    #[param(inline)]
    pub to: Option<Timestamp>,
    /// A token's name, `settings`, `sso:<email or subject>` or `webhook:<source>`.
    #[serde(default, deserialize_with = "blank_is_none")]
    pub actor: Option<String>,
    /// 1 to 1000, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// Default 0.
    #[param(value_type = Option<u64>, minimum = 0)]
    pub offset: Option<String>,
}

/// One authorized write, admin action, sign-in or sign-out.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditView {
    pub at: String,
    /// A token's name, `settings`, `sso:<email or subject>`, `webhook:<source>`, or `cli` (the command line).
    pub actor: String,
    pub method: String,
    /// The route template, e.g. `/deployments/{id}/deployed`.
    pub route: String,
    /// The id of the deployment, incident or token it was about, when there is one.
    pub target: Option<String>,
    /// The HTTP status it was answered with.
    pub status: u16,
}

impl From<AuditRecord> for AuditView {
    fn from(r: AuditRecord) -> Self {
        Self {
            at: r.at.to_rfc3339(),
            actor: r.actor,
            method: r.method,
            route: r.route,
            target: r.target,
            status: r.status,
        }
    }
}

#[utoipa::path(get, path = "/audit", operation_id = "list_audit", tag = "access", params(ListAudit),
    responses(
        (status = 200, description = "Newest first", body = Vec<AuditView>),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn list(State(state): State<AppState>, Query(q): Query<ListAudit>) -> Result<Json<Vec<AuditView>>> {
    let filter = AuditFilter {
        range: range(q.from, q.to)?,
        actor: q.actor,
        page: page(q.limit.as_deref(), q.offset.as_deref(), Some(Order::Desc))?,
    };
    // What this server was handed before is stored before it is read.
    state.audit.flush().await;
    Ok(Json(state.store.audit(filter).await?.into_iter().map(AuditView::from).collect()))
}
