//! Who is calling, and what they may do.
//!
//! A request is authenticated by one of:
//! - the credentials from settings (`EM_METRICS_TOKEN_AUTH` in the Bearer or
//!   Token scheme, or HTTP Basic): admin of every project, the way the first
//!   API token gets made;
//! - an API token from the store (`emm_…`, found by the SHA-256 of its
//!   secret): its name, role and projects;
//! - the cookie of a dashboard session ([`session`]), on the routes the
//!   dashboard reads.
//!
//! The result is a [`Principal`]; [`role`] says what its role grants, and
//! the router ([`crate::http::access`]) says what each route needs.
//!
//! A missing header or a scheme the server does not accept is 401; wrong
//! credentials are 403, and too many of them from one address are 429
//! without being compared ([`limiter`]). Comparisons with the settings'
//! secrets are constant-time; no credential is ever logged.

pub mod limiter;
pub mod oidc;
pub mod role;
pub mod session;
pub mod token_secret;

use std::net::IpAddr;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use base64::Engine;
use subtle::ConstantTimeEq;

use self::limiter::{Attempt, Limiter};
pub use self::role::{Need, Principal, Role};
use crate::config::{AccessSettings, AuthSettings};
use crate::domain::Scope;
use crate::store::{Store, LAST_USED_EVERY_MS};
use crate::time::Timestamp;

pub const BASIC_CHALLENGE: &str = "Basic realm=\"em-metrics\"";

/// Distinct wrong API credentials an address may send per window.
pub const API_FAILURE_LIMIT: u32 = 20;
/// Failed dashboard sign-ins an address may make per window.
pub const SIGN_IN_FAILURE_LIMIT: u32 = 5;
/// The window of both limits.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Why a request may not go on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Denied {
    /// No credentials, or a scheme this server does not accept: 401, with
    /// the basic-auth challenge when basic auth is on.
    #[error("{message}")]
    Unauthorized { message: String, challenge: Option<&'static str> },
    /// Credentials that are wrong, expired, or not enough for the route: 403.
    #[error("{0}")]
    Forbidden(String),
    /// A credential that already failed from this address in this window:
    /// 403 without comparing it again (and without a log line of its own).
    #[error("{0}")]
    Repeated(&'static str),
    /// Too many wrong credentials from this address: 429, try again after this long.
    #[error("too many failed authentications from this address; try again in {} s", .0.as_secs())]
    TooMany(Duration),
    /// The store could not be asked about a token: 503.
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug)]
pub struct Auth {
    settings: AuthSettings,
    /// EM_METRICS_PUBLIC_URL's origin: where browser writes must come from.
    pub public_origin: Option<String>,
    /// Whose X-Forwarded-For names the client.
    pub proxies: crate::client_address::TrustedProxies,
    /// Whether the dashboard offers its token sign-in form.
    pub ui_token_login: bool,
    /// Dashboard sign-in through an OpenID provider, when configured.
    pub oidc: Option<oidc::Oidc>,
    /// Failed API authentications per client address (distinct credentials).
    api_failures: Limiter,
    /// Failed dashboard sign-ins per client address (every one).
    pub sign_in_failures: Limiter,
}

/// The credentials an Authorization header carries.
enum Credentials<'a> {
    Token(&'a [u8]),
    Basic(&'a [u8]),
}

impl Auth {
    pub fn new(settings: AuthSettings, access: AccessSettings) -> Result<Self, String> {
        let oidc = access.oidc.map(oidc::Oidc::new).transpose()?;
        Ok(Self {
            settings,
            public_origin: access.public_origin,
            proxies: access.trusted_proxies,
            ui_token_login: access.ui_token_login,
            oidc,
            api_failures: Limiter::new("API", API_FAILURE_LIMIT, FAILURE_WINDOW, true),
            sign_in_failures: Limiter::new("sign-in", SIGN_IN_FAILURE_LIMIT, FAILURE_WINDOW, false),
        })
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

    /// The caller of a request by its Authorization header; None when it has
    /// none (a dashboard session may still be there). With authentication
    /// off, everyone is the settings' admin.
    pub async fn authenticate(
        &self,
        store: &Store,
        headers: &HeaderMap,
        client: IpAddr,
    ) -> Result<Option<Principal>, Denied> {
        if self.settings.disabled {
            return Ok(Some(Principal::settings()));
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
        let credentials = match parse(value.as_bytes()) {
            Some(c) => c,
            None => return Err(self.unauthorized("unsupported Authorization scheme; use Bearer, Token or Basic")),
        };
        let (bytes, is_basic) = match credentials {
            Credentials::Token(t) => (t, false),
            Credentials::Basic(b) => (b, true),
        };
        if is_basic && self.settings.basic.is_none() {
            return Err(self.unauthorized("basic authentication is not enabled on this server"));
        }
        match self.api_failures.attempt(client, bytes) {
            Attempt::Blocked(wait) => return Err(Denied::TooMany(wait)),
            Attempt::KnownWrong => return Err(Denied::Repeated(wrong(is_basic))),
            Attempt::Compare => {}
        }
        let found = if is_basic {
            Ok(self.basic_matches(bytes).then(Principal::settings))
        } else {
            self.token(store, bytes).await
        };
        // A store that cannot answer is no verdict on the credential.
        let succeeded = !matches!(found, Ok(None));
        self.api_failures.finish(client, bytes, succeeded);
        match found? {
            Some(principal) => Ok(Some(principal)),
            None => Err(Denied::Forbidden(wrong(is_basic).into())),
        }
    }

    /// The caller a token names: the settings' token, or an API token from
    /// the store (refused when expired). None: no such token.
    async fn token(&self, store: &Store, given: &[u8]) -> Result<Option<Principal>, Denied> {
        if self.settings.token.as_ref().is_some_and(|t| bool::from(given.ct_eq(t.expose().as_bytes()))) {
            return Ok(Some(Principal::settings()));
        }
        let Some(hash) = token_secret::hash_if_shaped(given) else { return Ok(None) };
        let token = store.token_by_secret(hash).await.map_err(|e| Denied::Unavailable(e.to_string()))?;
        let Some(token) = token else { return Ok(None) };
        let now = Timestamp::now();
        if token.expired(now) {
            let at = token.expires_at.map(|t| t.to_rfc3339()).unwrap_or_default();
            return Err(Denied::Forbidden(format!("token `{}` expired at {at}", token.name)));
        }
        if token.last_used_at.is_none_or(|at| now.millis() - at.millis() >= LAST_USED_EVERY_MS) {
            // Not waited for: a request is not slowed by the bookkeeping,
            // and a failure to note it only loses a timestamp.
            let (store, name) = (store.clone(), token.name.clone());
            tokio::spawn(async move {
                if let Err(e) = store.token_used(name, now).await {
                    tracing::debug!(error = %e, "last_used_at not updated");
                }
            });
        }
        Ok(Some(Principal { actor: token.name.into(), role: token.role, scope: Scope::from(token.projects) }))
    }

    /// Whether `token` is the settings' token: the dashboard's sign-in form.
    pub fn is_settings_token(&self, given: &[u8]) -> bool {
        self.settings.token.as_ref().is_some_and(|t| bool::from(given.ct_eq(t.expose().as_bytes())))
    }

    /// Whether the settings configure a token (then the sign-in form also
    /// takes it, besides API tokens).
    pub fn has_settings_token(&self) -> bool {
        self.settings.token.is_some()
    }

    fn basic_matches(&self, encoded: &[u8]) -> bool {
        let Some((user, pass)) = &self.settings.basic else { return false };
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
        let (given_user, given_pass) = match decoded.iter().position(|&b| b == b':') {
            Some(i) => (&decoded[..i], &decoded[i + 1..]),
            None => (&decoded[..], &b""[..]),
        };
        // `&` rather than `&&`: check both halves whatever the first says.
        bool::from(given_user.ct_eq(user.expose().as_bytes()) & given_pass.ct_eq(pass.expose().as_bytes()))
    }

    /// The 401 of a request without (usable) credentials.
    pub fn unauthorized(&self, message: &str) -> Denied {
        Denied::Unauthorized {
            message: message.to_string(),
            challenge: self.settings.basic.as_ref().map(|_| BASIC_CHALLENGE),
        }
    }
}

fn wrong(basic: bool) -> &'static str {
    if basic {
        "invalid username or password"
    } else {
        "invalid token"
    }
}

/// The scheme and credentials of an Authorization header, compared as
/// bytes: a token may be any UTF-8 text, which HTTP carries as raw bytes.
fn parse(value: &[u8]) -> Option<Credentials<'_>> {
    let value = value.trim_ascii();
    let (scheme, credentials) = match value.iter().position(|b| *b == b' ') {
        Some(at) => (&value[..at], value[at + 1..].trim_ascii()),
        None => (value, &b""[..]),
    };
    if scheme.eq_ignore_ascii_case(b"bearer") || scheme.eq_ignore_ascii_case(b"token") {
        Some(Credentials::Token(credentials))
    } else if scheme.eq_ignore_ascii_case(b"basic") {
        Some(Credentials::Basic(credentials))
    } else {
        None
    }
}
