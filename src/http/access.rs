//! Who may call which route: the role each route needs, the check of the
//! caller's credentials against it, the refusal of cross-site browser
//! writes, and the audit record of every authorized write.
//!
//! [`authorize`] runs on every API route but the probes and the signed
//! webhooks. It authenticates the request ([`crate::auth`]), compares the
//! caller's role with [`need_of`] the route, and hands the caller to the
//! handler ([`Caller`]). Its scope (the projects it may use) is the
//! handler's and the domain's business.

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::AppError;
use super::{is_one_of, SESSION_READABLE};
use crate::auth::{session, Denied, Need, Principal};
use crate::client_address as client;
use crate::state::AppState;
use crate::store::AuditRecord;
use crate::time::Timestamp;

/// What `method route` (a template, at either prefix) needs of the caller's
/// role. A route this table does not name needs admin: a new route is
/// closed until someone decides otherwise.
pub fn need_of(method: &Method, route: &str) -> Need {
    let route = route.strip_prefix("/api/v1").unwrap_or(route);
    let read = *method == Method::GET || *method == Method::HEAD;
    match route {
        "/deployments" | "/incidents" | "/pull-requests" if *method == Method::POST => Need::Ingest,
        "/deployments/{id}/deployed"
        | "/deployments/{id}/failed"
        | "/incidents/{id}/restored"
        | "/incidents/{id}/finished"
        | "/pull-requests/{id}/ready"
        | "/pull-requests/{id}/reviewed"
        | "/pull-requests/{id}/merged"
        | "/pull-requests/{id}/closed"
        | "/pull-requests/{id}/reopened"
        | "/webhooks/alertmanager"
            if *method == Method::POST =>
        {
            Need::Ingest
        }
        "/deployments" | "/deployments/{id}" | "/incidents" | "/incidents/{id}" if read => Need::IngestOrRead,
        "/dora" | "/dora/trend" | "/dora/breakdown" | "/dora/cycle-time" | "/version" | "/openapi.json"
        | "/metrics"
            if read =>
        {
            Need::Read
        }
        "/pull-requests" | "/pull-requests/{id}" if read => Need::Read,
        "/incidents/{id}" if *method == Method::PATCH => Need::Write,
        "/deployments/{id}" | "/incidents/{id}" | "/pull-requests/{id}" if *method == Method::DELETE => Need::Write,
        _ => Need::Admin,
    }
}

/// Whether `method` changes something: what the audit log records and what
/// a cross-site browser request may not do.
pub fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The caller of an authorized request: an extractor for handlers behind
/// [`authorize`]. Without one (a route left outside it by mistake) the
/// request is refused rather than run as nobody.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts.extensions.get::<Principal>().cloned().map(Caller).ok_or_else(|| AppError::Unauthorized {
            message: "this route has no caller: credentials were not checked".into(),
            challenge: None,
        })
    }
}

/// The API's credentials (a token, basic auth) or, on a GET of a route the
/// dashboard reads, the cookie of a live dashboard session; then the role
/// the route needs.
pub async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let method = request.method().clone();
    let client = state.auth.proxies.client(client::peer(&request), request.headers());
    // The body is not Sync: only the parts are held while the store is asked.
    let (mut parts, body) = request.into_parts();
    let principal = match caller(&state, &parts, &route, client).await {
        Ok(p) => p,
        Err(denied) => {
            let quiet = matches!(denied, Denied::Repeated(_) | Denied::TooMany(_));
            let mut response = AppError::from(denied).into_response();
            if quiet {
                response.extensions_mut().insert(Quiet);
            }
            return response;
        }
    };
    let need = need_of(&method, &route);
    if !principal.role.grants(need) {
        let shown = route.strip_prefix("/api/v1").unwrap_or(&route);
        let message = principal.refusal(method.as_str(), shown, need);
        return AppError::Forbidden { message, field: None }.into_response();
    }
    parts.extensions.insert(principal.clone());
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // For the audit layer, which sees the response but not this request.
    response.extensions_mut().insert(principal);
    response
}

/// The principal of a request: its Authorization header, else its session.
async fn caller(state: &AppState, request: &Parts, route: &str, client: std::net::IpAddr) -> Result<Principal, Denied> {
    let headers = &request.headers;
    if let Some(principal) = state.auth.authenticate(&state.store, headers, client).await? {
        return Ok(principal);
    }
    let readable = matches!(request.method, Method::GET | Method::HEAD) && is_one_of(&SESSION_READABLE, route);
    if let (true, Some(id_hash)) = (readable, session::session_of(headers)) {
        let found = state.store.session(id_hash, Timestamp::now()).await;
        if let Some(record) = found.map_err(|e| Denied::Unavailable(e.to_string()))? {
            return Ok(session::principal(&record));
        }
    }
    Err(state.auth.unauthorized("missing Authorization header"))
}

/// Marks an answer the request log writes at debug only: the repeats of a
/// refused credential and the refusals of a blocked address, so a flood
/// of them does not flood the log (the limiter logs one line per blocked
/// address and window instead).
#[derive(Debug, Clone, Copy)]
pub struct Quiet;

/// The id an answered write was about, when the route does not carry it
/// (a creation): handlers put it in the response's extensions.
#[derive(Debug, Clone)]
pub struct AuditTarget(pub String);

/// Records every authorized write with its status. Authorized means a
/// [`Principal`] came back with the response: [`authorize`] puts it there,
/// and so does a webhook handler once the delivery's signature checked out.
pub async fn audit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if !is_write(&method) {
        return next.run(request).await;
    }
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let (mut parts, body) = request.into_parts();
    let target = target_in_path(&mut parts, &route).await;
    let response = next.run(Request::from_parts(parts, body)).await;
    let Some(principal) = response.extensions().get::<Principal>() else { return response };
    let target = target.or_else(|| response.extensions().get::<AuditTarget>().map(|t| t.0.clone()));
    let record = AuditRecord {
        at: Timestamp::now(),
        actor: principal.actor.to_string(),
        method: method.to_string(),
        route: route.strip_prefix("/api/v1").unwrap_or(&route).to_string(),
        target,
        status: response.status().as_u16(),
    };
    state.audit.record(record).await;
    response
}

/// The `{id}` or `{name}` of the route. Never a `{username}`: the audit log
/// keeps no personal data of the people it is not about.
async fn target_in_path(parts: &mut Parts, route: &str) -> Option<String> {
    if route.contains("{username}") {
        return None;
    }
    let params = RawPathParams::from_request_parts(parts, &()).await.ok()?;
    params.iter().find(|(name, _)| matches!(*name, "id" | "name")).map(|(_, value)| value.to_string())
}

/// Refuses a write that a browser sent from another site: with
/// `Sec-Fetch-Site: cross-site`, or with an `Origin` that is not the
/// service's own (`EM_METRICS_PUBLIC_URL`'s, or the request's own host when
/// that is unset). Pipelines send neither header and are not affected; the
/// signed webhooks are exempt (their senders sign them).
pub async fn refuse_cross_site(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_write(request.method()) && !is_signed_webhook(request.uri().path()) {
        if let Some(why) = cross_site(request.headers(), state.auth.public_origin.as_deref()) {
            return AppError::Forbidden { message: why, field: None }.into_response();
        }
    }
    next.run(request).await
}

/// The signed webhook routes, at either prefix. Alertmanager's is not
/// signed (it carries the API's credentials), so it is not among them.
fn is_signed_webhook(path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    matches!(path, "/webhooks/github" | "/webhooks/gitlab" | "/webhooks/pagerduty" | "/webhooks/incident-io")
}

/// Why a write's headers show another site sent it, if they do.
fn cross_site(headers: &HeaderMap, public_origin: Option<&str>) -> Option<String> {
    let text = |name| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string());
    match text("sec-fetch-site").map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("cross-site") => return Some("cross-site requests may not write (Sec-Fetch-Site: cross-site)".into()),
        // The browser itself says the page is ours (a header no page can
        // set), whatever Origin a strict referrer policy left it.
        Some("same-origin") => return None,
        _ => {}
    }
    let origin = text(header::ORIGIN.as_str())?;
    let own = match public_origin {
        Some(own) => origin.eq_ignore_ascii_case(own),
        // No public URL: the origin's host and port must be the Host header's.
        None => {
            let host = text(header::HOST.as_str()).unwrap_or_default();
            origin
                .split_once("://")
                .is_some_and(|(_, authority)| !host.is_empty() && authority.eq_ignore_ascii_case(&host))
        }
    };
    (!own).then(|| format!("requests from another origin may not write (Origin: {origin})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_route_nobody_listed_needs_admin() {
        assert_eq!(need_of(&Method::GET, "/tokens"), Need::Admin);
        assert_eq!(need_of(&Method::GET, "/something-new"), Need::Admin);
        assert_eq!(need_of(&Method::PUT, "/deployments"), Need::Admin);
        assert_eq!(need_of(&Method::POST, "/api/v1/deployments"), Need::Ingest);
        assert_eq!(need_of(&Method::HEAD, "/api/v1/dora"), Need::Read);
    }

    #[test]
    fn writes_from_another_site_are_recognised_and_pipelines_are_not_touched() {
        assert!(cross_site(&headers(&[("sec-fetch-site", "cross-site")]), None).is_some());
        assert!(cross_site(&headers(&[("origin", "https://evil.example"), ("host", "m.example")]), None).is_some());
        assert!(cross_site(&headers(&[("origin", "null"), ("host", "m.example")]), None).is_some());
        assert!(cross_site(&headers(&[("origin", "https://m.example"), ("host", "m.example")]), None).is_none());
        assert!(cross_site(&headers(&[("origin", "https://m.example")]), Some("https://m.example")).is_none());
        assert!(cross_site(&headers(&[("origin", "http://m.example")]), Some("https://m.example")).is_some());
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-origin")]), None).is_none());
        assert!(cross_site(&headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")]), None).is_none());
        assert!(
            cross_site(&headers(&[("sec-fetch-site", "same-site"), ("origin", "https://a.m.example")]), None).is_some()
        );
        assert!(cross_site(&headers(&[("host", "m.example")]), None).is_none(), "curl: no Origin");
    }
}
