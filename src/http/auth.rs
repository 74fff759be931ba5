//! Authentication: token (Bearer or Token scheme) and HTTP Basic.
//!
//! Any configured method is enough. A missing header or a scheme the server
//! does not accept is 401; a known scheme with wrong credentials is 403.
//! Comparisons are constant-time, and no credential is ever logged.
//!
//! A dashboard session (the cookie of a token login, see [`super::session`])
//! also opens the read-only JSON routes the dashboard links to, for GET
//! only: a cookie never authorises a write, so there is nothing for a
//! forged cross-site request to do.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use subtle::ConstantTimeEq;

use super::error::AppError;
use super::session::Sessions;
use crate::config::AuthSettings;

pub const BASIC_CHALLENGE: &str = "Basic realm=\"em-metrics\"";

/// The routes a dashboard session may read (GET or HEAD), at either prefix.
const SESSION_READABLE: [&str; 7] =
    ["/dora", "/dora/trend", "/dora/breakdown", "/deployments", "/deployments/{id}", "/incidents", "/incidents/{id}"];

#[derive(Debug)]
pub struct Auth {
    settings: AuthSettings,
    pub sessions: Sessions,
}

impl Auth {
    pub fn new(settings: AuthSettings) -> Self {
        Self { settings, sessions: Sessions::default() }
    }

    /// EM_METRICS_NO_AUTH: everything is open, the dashboard too.
    pub fn is_disabled(&self) -> bool {
        self.settings.disabled
    }

    /// Whether basic auth is configured: the dashboard then asks the browser
    /// for it with a 401 challenge.
    pub fn has_basic(&self) -> bool {
        self.settings.basic.is_some()
    }

    /// Whether a token is configured: the dashboard then offers a login form.
    pub fn has_token(&self) -> bool {
        self.settings.token.is_some()
    }

    /// Whether `given` is the configured token, compared in constant time.
    pub fn is_token(&self, given: &str) -> bool {
        self.settings.token.as_ref().is_some_and(|t| bool::from(given.as_bytes().ct_eq(t.expose().as_bytes())))
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
        Err(_) if session_may_read(&auth, &request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// A GET of a read-only route, without an Authorization header, carrying
/// the cookie of a live dashboard session.
fn session_may_read(auth: &Auth, request: &Request) -> bool {
    let readable_route = request.extensions().get::<MatchedPath>().is_some_and(|p| {
        let route = p.as_str().strip_prefix("/api/v1").unwrap_or(p.as_str());
        SESSION_READABLE.contains(&route)
    });
    matches!(*request.method(), Method::GET | Method::HEAD)
        && readable_route
        && !request.headers().contains_key(header::AUTHORIZATION)
        && auth.sessions.is_signed_in(request.headers())
}
