//! The built-in dashboard: `/ui`, one server-rendered page of the five key
//! metrics, their trends, a breakdown and the latest events.
//!
//! A tour: [`params`] reads the query string into a view; [`data`] reads
//! what the page shows from the store (the same scans as `/dora`);
//! `page` and `charts` write the HTML and SVG; [`format`](mod@format) says numbers
//! the way people read them. `sign_in` holds the token form, single
//! sign-on and sign-out; `tokens` the admins' Tokens page. Sessions are in
//! [`crate::auth::session`].
//!
//! No data is shown without credentials of role read or above: the API's
//! own (basic auth asked by the browser, or a token header), or the session
//! cookie of a sign-in. A session limited to projects sees only those.
//! Every response carries a strict Content-Security-Policy; CSS, script and
//! icon are compiled into the binary and served from `/ui/static`, so the
//! page loads nothing from another origin.

mod charts;
pub mod data;
pub mod format;
mod page;
pub mod params;
mod sign_in;
mod tokens;

use std::net::IpAddr;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::auth::{session, Need, Principal, BASIC_CHALLENGE};
use crate::client_address as client;
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
        .route("/ui/login", get(sign_in::login_form).post(sign_in::login))
        .route("/ui/logout", post(sign_in::logout))
        .route("/ui/oidc/login", get(sign_in::sso_login))
        .route("/ui/oidc/callback", get(sign_in::sso_callback))
        .route("/ui/tokens", get(tokens::page).post(tokens::create))
        .route("/ui/tokens/revoke", post(tokens::revoke))
        .route("/ui/static/{file}", get(asset))
}

/// Who is looking: credentials the request carries (basic auth in the
/// browser, a token from a script) or a session's cookie. Err: nobody, or
/// someone whose role may not see the dashboard.
async fn viewer(state: &AppState, headers: &HeaderMap, client: IpAddr) -> Result<Viewer, Response> {
    // Credentials that do not check out (a browser's stale basic auth) are
    // no reason to ignore a session.
    if let Ok(Some(principal)) = state.auth.authenticate(&state.store, headers, client).await {
        return may_view(Viewer { principal, session: false });
    }
    if let Some(id_hash) = session::session_of(headers) {
        match state.store.session(id_hash, Timestamp::now()).await {
            Ok(Some(record)) => return may_view(Viewer { principal: session::principal(&record), session: true }),
            Ok(None) => {}
            Err(e) => return Err(AppError::from(e).into_response()),
        }
    }
    Err(ask_to_sign_in(state))
}

/// The answers of the sign-in pages are ordinary responses; their size is no concern.
#[allow(clippy::result_large_err)]
fn may_view(viewer: Viewer) -> Result<Viewer, Response> {
    if viewer.principal.role.grants(Need::Read) {
        return Ok(viewer);
    }
    let text = format!(
        "These credentials have the role {}, which may report deployments but not read the dashboard.",
        viewer.principal.role.as_str()
    );
    Err((StatusCode::FORBIDDEN, Html(page::message("Not for this dashboard", &text, None))).into_response())
}

/// The answer that asks for credentials: the browser's basic-auth prompt
/// when basic auth is on, else the sign-in page.
fn ask_to_sign_in(state: &AppState) -> Response {
    if state.auth.has_basic() {
        let other = state.auth.ui_token_login || state.auth.oidc.is_some();
        let link = other.then_some(("/ui/login", "Sign in another way"));
        let page = page::message("Sign in needed", "This dashboard needs the server's username and password.", link);
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, BASIC_CHALLENGE)], Html(page)).into_response();
    }
    Redirect::to("/ui/login").into_response()
}

async fn dashboard(State(state): State<AppState>, request: Request) -> Result<Response, AppError> {
    let client = client_of(&state, &request);
    let (headers, uri) = (request.headers(), request.uri());
    let viewer = match viewer(&state, headers, client).await {
        Ok(viewer) => viewer,
        Err(ask) => return Ok(ask),
    };
    // Parameters are read only once the credentials are known to be good.
    let params: UiParams = parse_query(uri.query().unwrap_or_default())?;
    let now = Timestamp::now();
    let mut view = View::parse(params, now, state.attribution.production(&state.default_environment))?;
    view.filter.project_ids = viewer.principal.scope.narrow(std::mem::take(&mut view.filter.project_ids))?;
    let within = viewer.principal.scope.projects().map(|ids| ids.iter().map(|p| p.to_string()).collect());
    let data = data::load(&state.store, &view, within).await?;
    Ok(private(Html(page::dashboard(&data, &view, &viewer, now))))
}

/// The client's address, for the limits on failed sign-ins: the peer, or
/// what a trusted proxy says (EM_METRICS_TRUSTED_PROXIES).
fn client_of(state: &AppState, request: &Request) -> IpAddr {
    state.auth.proxies.client(client::peer(request), request.headers())
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

/// Whoever is looking, for pages that need an admin.
fn is_admin(principal: &Principal) -> bool {
    principal.role.grants(Need::Admin)
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
    // same-origin, not no-referrer: under no-referrer a browser sends
    // `Origin: null` with the page's own form posts, which the cross-site
    // refusal could not tell from a forged one. Other sites still get nothing.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
