//! The built-in dashboard: `/ui`, one server-rendered page of the five key
//! metrics, their trends, a breakdown and the latest events.
//!
//! A tour: [`params`] reads the query string into a view; [`data`] reads
//! what the page shows from the store (the same scans as `/dora`);
//! `page` and `charts` write the HTML and SVG; [`format`](mod@format) says numbers
//! the way people read them. Sessions of a token login are in
//! [`crate::auth::session`].
//!
//! No data is shown without credentials: the API's own (basic auth asked by
//! the browser, or a token header), or the session cookie of a token login.
//! Every response carries a strict Content-Security-Policy; CSS, script and
//! icon are compiled into the binary and served from `/ui/static`, so the
//! page loads nothing from another origin.

mod charts;
pub mod data;
pub mod format;
mod page;
pub mod params;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use serde::Deserialize;

use crate::auth::session::{clear_cookie, set_cookie};
use crate::auth::{Auth, BASIC_CHALLENGE};
use crate::http::error::AppError;
use crate::http::extract::parse_query;
use crate::state::AppState;
use crate::time::Timestamp;
use page::Viewer;
use params::{UiParams, View};

/// Where the page may load from: only this server; no inline script or
/// style, no frames, forms only back to itself.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'";

/// `/`, `/ui` and what they need.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui") }))
        .route("/ui", get(dashboard))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/logout", get(logout).post(logout))
        .route("/ui/static/{file}", get(asset))
}

/// The credentials a request carries, or the answer that asks for them:
/// the browser's basic-auth prompt when basic auth is on, else the login form.
#[allow(clippy::result_large_err)]
fn gate(auth: &Auth, headers: &HeaderMap) -> Result<Viewer, Response> {
    if auth.check(headers).is_ok() {
        return Ok(Viewer::Credentials);
    }
    if auth.sessions.is_signed_in(headers) {
        return Ok(Viewer::Session);
    }
    if auth.has_basic() {
        let link = auth.has_token().then_some(("/ui/login", "Sign in with the API token instead"));
        let page = page::message("Sign in needed", "This dashboard needs the server's username and password.", link);
        return Err(
            (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, BASIC_CHALLENGE)], Html(page)).into_response()
        );
    }
    Err(Redirect::to("/ui/login").into_response())
}

async fn dashboard(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, AppError> {
    let viewer = match gate(&state.auth, &headers) {
        Ok(viewer) => viewer,
        Err(ask) => return Ok(ask),
    };
    // Parameters are read only once the credentials are known to be good.
    let params: UiParams = parse_query(uri.query().unwrap_or_default())?;
    let now = Timestamp::now();
    let view = View::parse(params, now, state.attribution.production(&state.default_environment))?;
    let data = data::load(&state.store, &view).await?;
    Ok(private(Html(page::dashboard(&data, &view, viewer, now))))
}

async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.auth.has_token() {
        return no_token_login(&state.auth);
    }
    if gate(&state.auth, &headers).is_ok() && !state.auth.is_disabled() {
        // Already signed in (a session, or credentials the browser sends).
        return Redirect::to("/ui").into_response();
    }
    private(Html(page::login(None)))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(state): State<AppState>, request: Request) -> Response {
    let auth = &state.auth;
    if !auth.has_token() {
        return no_token_login(auth);
    }
    let client = client_address(&request);
    let https = came_over_https(request.headers(), request.uri());
    if let Some(wait) = auth.sessions.login_blocked_for(client) {
        let text =
            format!("Too many failed sign-ins from this address. Try again in {} minutes.", wait.as_secs() / 60 + 1);
        let page = page::message("Too many tries", &text, None);
        return (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, wait.as_secs().max(1).to_string())], Html(page))
            .into_response();
    }
    let Form(form) = match Form::<LoginForm>::from_request(request, &state).await {
        Ok(form) => form,
        Err(_) => return AppError::bad_field("token", "send the form field token").into_response(),
    };
    if !auth.is_token(form.token.trim()) {
        auth.sessions.login_failed(client);
        tracing::warn!(%client, "dashboard sign-in with a wrong token");
        return (StatusCode::FORBIDDEN, private(Html(page::login(Some("That token is not right."))))).into_response();
    }
    let Some(id) = auth.sessions.create() else {
        return AppError::Unavailable("no secure random numbers to make a session from".into()).into_response();
    };
    let cookie = set_cookie(&id, https);
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui")).into_response()
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    state.auth.sessions.end(&headers);
    let to = if state.auth.has_token() { "/ui/login" } else { "/ui" };
    ([(header::SET_COOKIE, clear_cookie(came_over_https(&headers, &uri)))], Redirect::to(to)).into_response()
}

fn no_token_login(auth: &Auth) -> Response {
    let (status, text) = if auth.is_disabled() {
        (StatusCode::NOT_FOUND, "This server runs without authentication: the dashboard is open.")
    } else {
        (
            StatusCode::NOT_FOUND,
            "Token sign-in is off on this server (no EM_METRICS_TOKEN_AUTH): use its username and password.",
        )
    };
    (status, Html(page::message("No token sign-in", text, Some(("/ui", "Go to the dashboard"))))).into_response()
}

/// The peer address the server recorded for the connection; behind a
/// proxy that is the proxy, so all clients share its failed-login count.
fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip())
}

/// Whether the browser reached us over https, directly or through a proxy
/// that says so: only then may the cookie be `Secure` (over plain http the
/// browser would drop it and the login would loop).
fn came_over_https(headers: &HeaderMap, uri: &Uri) -> bool {
    uri.scheme_str() == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').next().is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// A page with data: never kept by a cache or the browser's history store.
fn private(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/favicon.svg");

/// The stylesheet, script and icon, compiled in. Public: they hold no data.
async fn asset(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "app.css" => ("text/css; charset=utf-8", CSS),
        "app.js" => ("text/javascript; charset=utf-8", JS),
        "favicon.svg" => ("image/svg+xml", ICON),
        _ => return AppError::NotFound(format!("no asset {file}")).into_response(),
    };
    // Links carry the version, so a day's caching never serves old files.
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}

/// Whether `path` is the dashboard's: `/` and everything under `/ui`.
fn is_dashboard_path(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

/// The headers every dashboard response carries, its 404s and 405s too
/// (which the application's fallbacks answer): a layer of the whole app
/// that looks at the path, so no answer under `/ui` can go without them.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let dashboard = is_dashboard_path(request.uri().path());
    let mut response = next.run(request).await;
    if !dashboard {
        return response;
    }
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
