//! The one error type of the HTTP layer and its JSON shape.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::auth::Denied;
use crate::domain::Rejection;
use crate::store::StoreError;

pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// `{"error": "...", "code": "...", "field": "..."}`, the body of every error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A sentence a person can act on.
    pub error: String,
    /// One of bad_request, unauthorized, forbidden, not_found, conflict,
    /// method_not_allowed, payload_too_large, too_many_requests, unavailable, internal.
    pub code: &'static str,
    /// The request field or parameter at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{message}")]
    BadRequest { message: String, field: Option<String> },
    #[error("{message}")]
    Unauthorized { message: String, challenge: Option<&'static str> },
    #[error("{message}")]
    Forbidden { message: String, field: Option<String> },
    /// Too many failed authentications from the client's address.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { message: String, field: Option<String> },
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// The body is over the route's limit, in bytes.
    #[error("request body is larger than {} MiB", .0 >> 20)]
    PayloadTooLarge(usize),
    /// Reported as `bad_request`, like [`AppError::RequestTimeout`].
    #[error("the query string is longer than {0} bytes")]
    UriTooLong(usize),
    /// The body did not arrive in time. Reported as `bad_request`: a slow
    /// client is a client problem, and the error codes are a fixed list.
    #[error("the request body did not arrive within 10 seconds")]
    RequestTimeout,
    #[error("{0}")]
    Unavailable(String),
    /// The write waited EM_METRICS_WRITE_TIMEOUT and did not run: 503 with
    /// Retry-After, so clients and proxies back off and try again.
    #[error("{0}")]
    Busy(String),
    /// The cause is logged; the client only learns that something failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadRequest { message: message.into(), field: Some(field.into()) }
    }

    /// A 409 that names no field.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict { message: message.into(), field: None }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::RequestTimeout => (StatusCode::REQUEST_TIMEOUT, "bad_request"),
            Self::UriTooLong(_) => (StatusCode::URI_TOO_LONG, "bad_request"),
            Self::Unavailable(_) | Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let error = match &self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                "internal error; the cause is in the server log".to_string()
            }
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "storage unavailable");
                "storage is unavailable (a full disk, a read-only file, or a database that cannot be reached); \
                 the request was not acknowledged, retry later"
                    .to_string()
            }
            Self::Busy(cause) => {
                tracing::warn!(%cause, "write timed out");
                "the database is busy (many writes queued, or locked by another process); nothing was written, \
                 retry shortly"
                    .to_string()
            }
            other => other.to_string(),
        };
        let field = match &self {
            Self::BadRequest { field, .. } | Self::Conflict { field, .. } | Self::Forbidden { field, .. } => {
                field.clone()
            }
            _ => None,
        };
        let retry_after = match &self {
            Self::Busy(_) => Some(1),
            // Room on a disk, or a database back after a failover: seconds.
            Self::Unavailable(_) => Some(5),
            Self::TooManyRequests { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        };
        let mut response = (status, Json(ErrorBody { error, code, field })).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Self::Unauthorized { challenge: Some(challenge), .. } = self {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

/// The code of the error shape for a status the service did not answer itself.
pub fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

impl From<Denied> for AppError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Unauthorized { message, challenge } => Self::Unauthorized { message, challenge },
            Denied::Forbidden(message) => Self::Forbidden { message, field: None },
            Denied::Repeated(message) => Self::Forbidden { message: message.into(), field: None },
            Denied::TooMany(wait) => Self::TooManyRequests {
                message: format!(
                    "too many failed authentications from this address; try again in {} s",
                    wait.as_secs().max(1)
                ),
                retry_after_secs: wait.as_secs().max(1),
            },
            Denied::Unavailable(cause) => Self::Unavailable(cause),
        }
    }
}

impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Invalid { field, message } => Self::BadRequest { message, field: Some(field) },
            Rejection::Conflict { field, message } => Self::Conflict { message, field },
            Rejection::NotFound(m) => Self::NotFound(m),
            Rejection::Forbidden { field, message } => Self::Forbidden { message, field },
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(r) => r.into(),
            StoreError::Unavailable(m) => Self::Unavailable(m),
            StoreError::Busy(m) => Self::Busy(m),
            StoreError::Internal(m) => Self::Internal(m),
        }
    }
}
