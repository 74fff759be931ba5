//! Signing in to the dashboard and out again: the token form, single
//! sign-on with an OpenID provider, and the session both start.
//!
//! Every sign-in and sign-out is in the audit log. Failed sign-ins count
//! against the client's address ([`crate::auth::limiter`]); the token is
//! never logged.

use std::net::IpAddr;

use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{came_over_https, client_of, page, private};
use crate::auth::limiter::Attempt;
use crate::auth::oidc::SignInError;
use crate::auth::session::{self, clear_cookie, set_cookie, SESSION_LIFETIME};
use crate::auth::{token_secret, Need, Principal};
use crate::domain::Scope;
use crate::http::access::Quiet;
use crate::http::error::AppError;
use crate::state::AppState;
use crate::store::{AuditRecord, SessionRecord};
use crate::time::Timestamp;

/// The cookie that binds an SSO sign-in to the browser that started it.
const STATE_COOKIE: &str = "em_metrics_oidc_state";

pub async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.auth.is_disabled() {
        return no_sign_in("This server runs without authentication: the dashboard is open.");
    }
    if super::viewer(&state, &headers, IpAddr::from([0, 0, 0, 0])).await.is_ok() {
        // Signed in already (a session, or credentials the browser sends).
        return Redirect::to("/ui").into_response();
    }
    private(Html(page::login(&options(&state), None)))
}

/// What the sign-in page offers.
fn options(state: &AppState) -> page::SignInOptions {
    page::SignInOptions { token_form: state.auth.ui_token_login, sso: state.auth.oidc.is_some() }
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

/// The token form: an API token of role read or above, or the settings' token.
pub async fn login(State(state): State<AppState>, request: Request) -> Response {
    if state.auth.is_disabled() || !state.auth.ui_token_login {
        return no_sign_in("Token sign-in is off on this server (EM_METRICS_UI_TOKEN_LOGIN=false).");
    }
    let client = client_of(&state, &request);
    let https = came_over_https(request.headers(), request.uri());
    let Form(form) = match Form::<TokenForm>::from_request(request, &state).await {
        Ok(form) => form,
        Err(_) => return AppError::bad_field("token", "send the form field token").into_response(),
    };
    let given = form.token.trim().as_bytes();
    let limiter = &state.auth.sign_in_failures;
    if let Attempt::Blocked(wait) = limiter.attempt(client, given) {
        return too_many(wait);
    }
    let found = token_principal(&state, given).await;
    limiter.finish(client, given, !matches!(found, Ok(None)));
    let refuse = |status: StatusCode, why: &str| {
        (status, private(Html(page::login(&options(&state), Some(why))))).into_response()
    };
    let (principal, token_name, expires_at) = match found {
        Ok(Some(found)) => found,
        Ok(None) => {
            tracing::warn!(%client, "dashboard sign-in with a wrong token");
            return refuse(StatusCode::FORBIDDEN, "That token is not right.");
        }
        Err(e) => return e.into_response(),
    };
    if let Some(at) = expires_at.filter(|at| *at <= Timestamp::now()) {
        return refuse(StatusCode::FORBIDDEN, &format!("That token expired at {at}."));
    }
    if !principal.role.grants(Need::Read) {
        let why = format!(
            "A token of role {} cannot sign in to the dashboard: use one of role read or above.",
            principal.role.as_str()
        );
        return refuse(StatusCode::FORBIDDEN, &why);
    }
    start_session(&state, principal, token_name, expires_at, https, "/ui/login", "POST").await
}

/// The principal a token names, its name in the store, and its expiry.
async fn token_principal(
    state: &AppState,
    given: &[u8],
) -> Result<Option<(Principal, Option<String>, Option<Timestamp>)>, AppError> {
    if state.auth.is_settings_token(given) {
        return Ok(Some((Principal::settings(), None, None)));
    }
    let Some(hash) = token_secret::hash_if_shaped(given) else { return Ok(None) };
    let Some(token) = state.store.token_by_secret(hash).await? else { return Ok(None) };
    let principal =
        Principal { actor: token.name.as_str().into(), role: token.role, scope: Scope::from(token.projects) };
    Ok(Some((principal, Some(token.name), token.expires_at)))
}

/// Keeps a new session for `principal` and answers with its cookie and a
/// redirect to the dashboard. It ends with the token it was made with.
async fn start_session(
    state: &AppState,
    principal: Principal,
    token_name: Option<String>,
    token_expires_at: Option<Timestamp>,
    https: bool,
    route: &str,
    method: &str,
) -> Response {
    let Some((id, id_hash)) = session::new_id() else {
        return AppError::Unavailable("no secure random numbers to make a session from".into()).into_response();
    };
    let now = Timestamp::now();
    let lifetime_ends = Timestamp::from_millis(now.millis() + SESSION_LIFETIME.as_millis() as i64);
    let record = SessionRecord {
        id_hash,
        actor: principal.actor.to_string(),
        role: principal.role,
        projects: principal.scope.projects(),
        token_name,
        created_at: now,
        expires_at: token_expires_at.map_or(lifetime_ends, |t| t.min(lifetime_ends)),
    };
    if let Err(e) = state.store.create_session(record).await {
        return AppError::from(e).into_response();
    }
    audit(state, &principal.actor, method, route, StatusCode::SEE_OTHER).await;
    let mut response = Redirect::to("/ui").into_response();
    let headers = response.headers_mut();
    if let Ok(cookie) = set_cookie(&id, https).parse() {
        headers.append(header::SET_COOKIE, cookie);
    }
    if let Ok(clear_state) = format!("{STATE_COOKIE}=; Max-Age=0; Path=/ui/oidc; HttpOnly; SameSite=Lax").parse() {
        headers.append(header::SET_COOKIE, clear_state);
    }
    response
}

/// Ends the session of the request's cookie. A POST only: a link on
/// another site cannot sign anyone out.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(id_hash) = session::session_of(&headers) {
        if let Ok(Some(record)) = state.store.session(id_hash, Timestamp::now()).await {
            audit(&state, &record.actor, "POST", "/ui/logout", StatusCode::SEE_OTHER).await;
        }
        if let Err(e) = state.store.end_session(id_hash).await {
            return AppError::from(e).into_response();
        }
    }
    let to = if state.auth.is_disabled() { "/ui" } else { "/ui/login" };
    ([(header::SET_COOKIE, clear_cookie(came_over_https(&headers, &uri)))], Redirect::to(to)).into_response()
}

/// `GET /ui/oidc/login`: off to the provider, with a fresh `state`,
/// `nonce` and PKCE challenge; the state also goes into a cookie, so only
/// this browser can finish the sign-in.
pub async fn sso_login(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let Some(oidc) = &state.auth.oidc else {
        return no_sign_in("Single sign-on is not configured on this server (EM_METRICS_OIDC_ISSUER).");
    };
    let (url, sign_in_state, pending) = match oidc.begin().await {
        Ok(begun) => begun,
        Err(e) => return sign_in_failed(&e),
    };
    let expires_at = Timestamp::from_millis(Timestamp::now().millis() + crate::auth::oidc::SIGN_IN_LIFETIME_MS);
    if let Err(e) = state.store.begin_sign_in(session::hash(&sign_in_state), pending, expires_at).await {
        return AppError::from(e).into_response();
    }
    // Lax, not Strict: the provider's redirect back is a cross-site navigation.
    let secure = if came_over_https(&headers, &uri) { "; Secure" } else { "" };
    let cookie = format!("{STATE_COOKIE}={sign_in_state}; Max-Age=600; Path=/ui/oidc; HttpOnly; SameSite=Lax{secure}");
    ([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response()
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    /// The provider's refusal (the user cancelled, say).
    error: Option<String>,
}

/// `GET /ui/oidc/callback`: `state`, then the code exchange, the ID
/// token's signature, `iss`, `aud`, `exp` and `nonce`, then the groups.
pub async fn sso_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Query(q): Query<Callback>,
) -> Response {
    let Some(oidc) = &state.auth.oidc else {
        return no_sign_in("Single sign-on is not configured on this server (EM_METRICS_OIDC_ISSUER).");
    };
    let bad_state = || {
        let text = "This sign-in link is wrong, was used already, or is too old. Start again.";
        refused(StatusCode::BAD_REQUEST, "Sign-in failed", text)
    };
    let Some(given) = q.state.filter(|s| !s.is_empty()) else { return bad_state() };
    let from_cookie = session::cookie(&headers, STATE_COOKIE).unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(from_cookie.as_bytes())) {
        return bad_state();
    }
    let pending = match state.store.take_sign_in(session::hash(&given), Timestamp::now()).await {
        Ok(Some(p)) => p,
        Ok(None) => return bad_state(),
        Err(e) => return AppError::from(e).into_response(),
    };
    if let Some(error) = q.error {
        let text = format!("The sign-in provider refused: {error}.");
        return refused(StatusCode::UNAUTHORIZED, "Sign-in failed", &text);
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return refused(StatusCode::BAD_REQUEST, "Sign-in failed", "The provider sent no code.");
    };
    let user = match oidc.finish(&code, pending).await {
        Ok(user) => user,
        Err(e) => {
            if let SignInError::NotAllowed { actor, .. } = &e {
                audit(&state, actor, "GET", "/ui/oidc/callback", StatusCode::FORBIDDEN).await;
            }
            return sign_in_failed(&e);
        }
    };
    let principal = Principal { actor: user.actor.into(), role: user.role, scope: Scope::All };
    let https = came_over_https(&headers, &uri);
    start_session(&state, principal, None, None, https, "/ui/oidc/callback", "GET").await
}

fn sign_in_failed(e: &SignInError) -> Response {
    let status = match e {
        SignInError::Provider(_) => StatusCode::BAD_GATEWAY,
        SignInError::BadToken(_) => StatusCode::UNAUTHORIZED,
        SignInError::NotAllowed { .. } => StatusCode::FORBIDDEN,
    };
    // The cause goes to the log; the page says what to do.
    tracing::warn!(reason = %e, "dashboard sign-in failed");
    let text = match e {
        SignInError::Provider(_) => "The sign-in provider could not be reached. Try again in a minute.".to_string(),
        SignInError::BadToken(_) => "The sign-in could not be verified. Start again.".to_string(),
        SignInError::NotAllowed { .. } => e.to_string(),
    };
    refused(status, "Sign-in failed", &text)
}

fn refused(status: StatusCode, title: &str, text: &str) -> Response {
    (status, private(Html(page::message(title, text, Some(("/ui/login", "Back to sign-in")))))).into_response()
}

fn no_sign_in(text: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(page::message("No such sign-in", text, Some(("/ui", "Go to the dashboard")))))
        .into_response()
}

fn too_many(wait: std::time::Duration) -> Response {
    let text = format!("Too many failed sign-ins from this address. Try again in {} minutes.", wait.as_secs() / 60 + 1);
    let page = page::message("Too many tries", &text, None);
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, wait.as_secs().max(1).to_string())], Html(page))
            .into_response();
    // The limiter logged this address once; its refusals are not logged again.
    response.extensions_mut().insert(Quiet);
    response
}

/// A sign-in, sign-out or dashboard admin action, for the audit log.
pub async fn audit(state: &AppState, actor: &str, method: &str, route: &str, status: StatusCode) {
    audit_on(state, actor, method, route, None, status).await;
}

/// [`audit`] of an action about `target` (a token's name).
pub async fn audit_on(
    state: &AppState,
    actor: &str,
    method: &str,
    route: &str,
    target: Option<String>,
    status: StatusCode,
) {
    let record = AuditRecord {
        at: Timestamp::now(),
        actor: actor.to_string(),
        method: method.to_string(),
        route: route.to_string(),
        target,
        status: status.as_u16(),
    };
    state.audit.record(record).await;
}
