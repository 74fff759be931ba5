//! `Idempotency-Key` (the IETF httpapi draft header) on POST and PATCH.
//!
//! The same key with the same request within 24 hours gets the first answer
//! again (status and body) and changes nothing; the same key with another
//! request gets 409. Without the header nothing changes. This makes even
//! `POST /incidents` without an id safe to retry.
//!
//! Keys are per caller: the same key sent with another token is another
//! key, so no caller can replay (or block) another's answer.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::answer::{AnswerKept, ClaimedKey};
use super::error::AppError;
use super::extract::MAX_BODY_BYTES;
use crate::auth::Principal;
use crate::domain::MAX_ID_CHARS;
use crate::state::AppState;
use crate::store::Claim;
use crate::time::Timestamp;

pub const HEADER: &str = "idempotency-key";
/// The header as errors name it.
const HEADER_NAME: &str = "Idempotency-Key";

pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::POST | Method::PATCH) {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let key = match key.to_str().map(str::trim) {
        Ok(k) if !k.is_empty() && k.chars().count() <= MAX_ID_CHARS => k.to_string(),
        _ => {
            let message = format!("Idempotency-Key must be 1 to {MAX_ID_CHARS} characters of text");
            return AppError::bad_field(HEADER_NAME, message).into_response();
        }
    };
    // Behind `authorize`, which leaves the caller in the extensions.
    let actor = request.extensions().get::<Principal>().map(|p| p.actor.clone()).unwrap_or_default();
    let key = format!("{actor}\u{1f}{key}");
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return AppError::PayloadTooLarge(MAX_BODY_BYTES).into_response(),
    };
    let fingerprint = fingerprint(&parts.method, parts.uri.path(), &bytes);
    match state.store.claim_key(key.clone(), fingerprint, Timestamp::now()).await {
        Err(e) => AppError::from(e).into_response(),
        Ok(Claim::Mismatch) => AppError::Conflict {
            message: "this Idempotency-Key was used for another request (method, path or body) in the last 24 hours"
                .into(),
            field: Some(HEADER_NAME.into()),
        }
        .into_response(),
        Ok(Claim::InProgress) => {
            AppError::conflict("a request with this Idempotency-Key is still running; retry shortly").into_response()
        }
        Ok(Claim::Replay { status, body }) => replay(status, body),
        Ok(Claim::Run) => {
            let mut request = Request::from_parts(parts, Body::from(bytes));
            request.extensions_mut().insert(ClaimedKey(key.clone()));
            let response = next.run(request).await;
            if response.extensions().get::<AnswerKept>().is_some() {
                // Kept in the command's own transaction.
                return response;
            }
            keep(&state, key, response).await
        }
    }
}

/// SHA-256 over the method, the path and the body, each length-prefixed so
/// no two requests share a preimage.
fn fingerprint(method: &Method, path: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [method.as_str().as_bytes(), path.as_bytes(), body] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores a final answer that no command kept (a refusal: 4xx, which wrote
/// nothing, is what the same request would get again) and releases the key
/// after a 5xx, which a retry may not get.
async fn keep(state: &AppState, key: String, response: Response) -> Response {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return AppError::Internal("reading the response to keep for Idempotency-Key failed".into()).into_response();
    };
    let answer = (!status.is_server_error()).then(|| (status.as_u16(), bytes.to_vec()));
    if let Err(e) = state.store.keep_answer(key, answer).await {
        tracing::warn!(error = %e, "the answer to an Idempotency-Key request was not kept; a retry runs it again");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(status: u16, body: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
