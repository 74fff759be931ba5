//! Authentication: token (Bearer or Token scheme) and HTTP Basic.
//!
//! Any configured method is enough. A missing header or a scheme the server
//! does not accept is 401; a known scheme with wrong credentials is 403.
//! Comparisons are constant-time, and no credential is ever logged.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::error::AppError;
use crate::config::AuthSettings;

const BASIC_CHALLENGE: &str = "Basic realm=\"em-metrics\"";

#[derive(Debug, Clone)]
pub struct Auth {
    settings: AuthSettings,
}

impl Auth {
    pub fn new(settings: AuthSettings) -> Self {
        Self { settings }
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), AppError> {
        if self.settings.disabled {
            return Ok(());
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(self.unauthorized("missing Authorization header"));
        };
        let Ok(value) = value.to_str() else {
            return Err(self.unauthorized("the Authorization header is not readable text"));
        };
        let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
            let Some(token) = &self.settings.token else {
                return Err(self.unauthorized("token authentication is not enabled on this server"));
            };
            return if bool::from(credentials.as_bytes().ct_eq(token.expose().as_bytes())) {
                Ok(())
            } else {
                Err(AppError::Forbidden("invalid token".into()))
            };
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let Some((user, pass)) = &self.settings.basic else {
                return Err(self.unauthorized("basic authentication is not enabled on this server"));
            };
            let decoded = base64::engine::general_purpose::STANDARD.decode(credentials).unwrap_or_default();
            let (given_user, given_pass) = match decoded.iter().position(|&b| b == b':') {
                Some(i) => (&decoded[..i], &decoded[i + 1..]),
                None => (&decoded[..], &b""[..]),
            };
            // `&` rather than `&&`: check both halves whatever the first says.
            let ok = given_user.ct_eq(user.expose().as_bytes()) & given_pass.ct_eq(pass.expose().as_bytes());
            return if bool::from(ok) {
                Ok(())
            } else {
                Err(AppError::Forbidden("invalid username or password".into()))
            };
        }
        Err(self.unauthorized("unsupported Authorization scheme; use Bearer, Token or Basic"))
    }

    fn unauthorized(&self, message: &str) -> AppError {
        AppError::Unauthorized {
            message: message.to_string(),
            challenge: self.settings.basic.as_ref().map(|_| BASIC_CHALLENGE),
        }
    }
}

/// Middleware for every route but the probes.
pub async fn require(State(auth): State<std::sync::Arc<Auth>>, request: Request, next: Next) -> Response {
    match auth.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}
