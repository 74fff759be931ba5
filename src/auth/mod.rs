//! Who may call: the credentials from settings (a token in the Bearer or
//! Token scheme, or HTTP Basic) and dashboard sessions.
//!
//! Any configured method is enough. A missing header or a scheme the server
//! does not accept is 401; a known scheme with wrong credentials is 403.
//! Comparisons are constant-time, and no credential is ever logged.
//!
//! Which routes a session may read is the router's business
//! ([`crate::http::SESSION_READABLE`]); this module only says whether a
//! request carries good credentials or a live session ([`session`]).

pub mod session;

use axum::http::{header, HeaderMap};
use base64::Engine;
use subtle::ConstantTimeEq;

use self::session::Sessions;
use crate::config::AuthSettings;

pub const BASIC_CHALLENGE: &str = "Basic realm=\"em-metrics\"";

/// Why a request may not go on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Denied {
    /// No credentials, or a scheme this server does not accept: 401, with
    /// the basic-auth challenge when basic auth is on.
    #[error("{message}")]
    Unauthorized { message: String, challenge: Option<&'static str> },
    /// Credentials that are wrong: 403.
    #[error("{0}")]
    Forbidden(String),
}

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

    pub fn check(&self, headers: &HeaderMap) -> Result<(), Denied> {
        if self.settings.disabled {
            return Ok(());
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(self.unauthorized("missing Authorization header"));
        };
        // Compared as bytes: a token may be any UTF-8 text, which HTTP
        // carries as raw bytes (not "readable text" to the header API).
        let value = value.as_bytes().trim_ascii();
        let (scheme, credentials) = match value.iter().position(|b| *b == b' ') {
            Some(at) => (&value[..at], value[at + 1..].trim_ascii()),
            None => (value, &b""[..]),
        };
        if scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"token") {
            let Some(token) = &self.settings.token else {
                return Err(self.unauthorized("token authentication is not enabled on this server"));
            };
            return if bool::from(credentials.ct_eq(token.expose().as_bytes())) {
                Ok(())
            } else {
                Err(Denied::Forbidden("invalid token".into()))
            };
        }
        if scheme.eq_ignore_ascii_case(b"basic") {
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
            return if bool::from(ok) { Ok(()) } else { Err(Denied::Forbidden("invalid username or password".into())) };
        }
        Err(self.unauthorized("unsupported Authorization scheme; use Bearer, Token or Basic"))
    }

    fn unauthorized(&self, message: &str) -> Denied {
        Denied::Unauthorized {
            message: message.to_string(),
            challenge: self.settings.basic.as_ref().map(|_| BASIC_CHALLENGE),
        }
    }
}
