//! How a committed state change is answered, and kept for an
//! Idempotency-Key in the same transaction.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::access::AuditTarget;
use super::error::Result;
use crate::auth::Principal;
use crate::domain::{Context, Deployment, Incident, Transition, Write};
use crate::state::AppState;
use crate::store::{StoreError, StoreResult, Tx};

/// The status of a committed transition: 201 when something was created,
/// 200 otherwise.
pub fn status_of(write: Write) -> StatusCode {
    if write == Write::Insert {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// The Idempotency-Key this request claimed ([`super::idempotency::guard`]
/// puts it in the request's extensions).
#[derive(Debug, Clone)]
pub struct ClaimedKey(pub String);

/// Marks a response whose answer was stored with its command, so the
/// Idempotency-Key guard does not store it again.
#[derive(Debug, Clone, Copy)]
pub struct AnswerKept;

/// The claimed Idempotency-Key of the request, if any: an extractor that
/// never fails.
pub struct Claimed(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Claimed {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> std::result::Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ClaimedKey>().map(|k| k.0.clone())))
    }
}

/// What a command's result is called in the audit log.
pub trait Targeted {
    fn target(&self) -> String;
}

impl Targeted for Deployment {
    fn target(&self) -> String {
        self.id.to_string()
    }
}

impl Targeted for crate::domain::PullRequest {
    fn target(&self) -> String {
        self.id.to_string()
    }
}

impl Targeted for Incident {
    fn target(&self) -> String {
        self.id.to_string()
    }
}

/// Runs `caller`'s state change and answers it with `view` of the result. With a
/// claimed Idempotency-Key, the answer is stored in the command's own
/// transaction: if the client gives up before the answer reaches it, the
/// command and its answer are committed together or not at all, and a
/// retry replays what it would have got.
pub async fn commit<T, V, F>(
    state: &AppState,
    caller: &Principal,
    claimed: Claimed,
    step: F,
    view: fn(T) -> V,
) -> Result<Response>
where
    T: Targeted + Send + 'static,
    V: Serialize + Send + 'static,
    F: FnOnce(&Tx, &Context) -> StoreResult<Transition<T>> + Send + 'static,
{
    let Claimed(Some(key)) = claimed else {
        let t = state.apply(caller, step).await?;
        let target = AuditTarget(t.value.target());
        let mut response = (status_of(t.write), Json(view(t.value))).into_response();
        response.extensions_mut().insert(target);
        return Ok(response);
    };
    let t = state
        .apply(caller, move |tx, ctx| {
            let t = step(tx, ctx)?;
            let target = t.value.target();
            let t = t.map(view);
            let body = serde_json::to_vec(&t.value).map_err(|e| StoreError::Internal(format!("answer: {e}")))?;
            tx.keep_answer(&key, status_of(t.write).as_u16(), &body)?;
            Ok(t.map(|_| (body, target)))
        })
        .await?;
    let (body, target) = t.value;
    let mut response = (status_of(t.write), body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.extensions_mut().insert(AnswerKept);
    response.extensions_mut().insert(AuditTarget(target));
    Ok(response)
}
