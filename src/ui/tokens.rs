//! The admins' Tokens page: list, create (the secret shown once), revoke.
//!
//! Its forms carry a CSRF token that must match the `em_metrics_csrf`
//! cookie ([`crate::auth::session`]); a POST without it is refused before
//! anything is read from it. The cross-site refusal of the whole app
//! (`Origin`, `Sec-Fetch-Site`) applies too.

use std::net::IpAddr;

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::page::{self, Viewer};
use super::sign_in::audit_on;
use super::{came_over_https, client_of, is_admin, private, viewer};
use crate::auth::session::{self, csrf_matches, set_csrf_cookie, CSRF_COOKIE};
use crate::auth::token_secret;
use crate::domain::token::{NewToken, Role, Token};
use crate::domain::Id;
use crate::http::error::AppError;
use crate::state::AppState;
use crate::time::Timestamp;

/// The expiries the form offers, in days (0: never).
const EXPIRY_DAYS: [u32; 4] = [0, 30, 90, 365];

/// The admin looking, or the answer for anyone else.
async fn admin(state: &AppState, headers: &HeaderMap, client: IpAddr) -> Result<Viewer, Response> {
    let viewer = viewer(state, headers, client).await?;
    if !is_admin(&viewer.principal) {
        let text = "Only admins manage tokens.";
        return Err(
            (StatusCode::FORBIDDEN, Html(page::message("Not allowed", text, Some(("/ui", "Back"))))).into_response()
        );
    }
    Ok(viewer)
}

pub async fn page(State(state): State<AppState>, request: Request) -> Response {
    let (headers, uri, client) = (request.headers().clone(), request.uri().clone(), client_of(&state, &request));
    let viewer = match admin(&state, &headers, client).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    render(&state, &viewer, &headers, &uri, StatusCode::OK, Notice::None).await
}

/// What the page says above the list.
enum Notice {
    None,
    Error(String),
    /// A token just made: its secret, shown this once.
    Created {
        name: String,
        secret: String,
    },
}

async fn render(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    uri: &Uri,
    status: StatusCode,
    notice: Notice,
) -> Response {
    let tokens = match state.store.tokens().await {
        Ok(t) => t,
        Err(e) => return AppError::from(e).into_response(),
    };
    // The CSRF token: the browser's, or a new one it keeps for the session's length.
    let (csrf, set) = match session::cookie(headers, CSRF_COOKIE) {
        Some(c) => (c.to_string(), None),
        None => match session::new_id() {
            Some((c, _)) => (c.clone(), Some(set_csrf_cookie(&c, came_over_https(headers, uri)))),
            None => return AppError::Unavailable("no secure random numbers for a form token".into()).into_response(),
        },
    };
    let mut response = (status, private(Html(markup(viewer, &tokens, &csrf, &notice)))).into_response();
    if let Some(cookie) = set.and_then(|c| c.parse().ok()) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

#[derive(Deserialize)]
struct CreateForm {
    csrf: String,
    name: String,
    role: String,
    /// Comma- or space-separated project ids; blank for every project.
    #[serde(default)]
    projects: String,
    /// Days until it expires; 0 or blank for never.
    #[serde(default)]
    expires_in_days: String,
}

pub async fn create(State(state): State<AppState>, request: Request) -> Response {
    let (headers, uri, client) = (request.headers().clone(), request.uri().clone(), client_of(&state, &request));
    let viewer = match admin(&state, &headers, client).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let form = match Form::<CreateForm>::from_request(request, &state).await {
        Ok(Form(form)) if csrf_matches(&headers, &form.csrf) => form,
        _ => return csrf_refused(),
    };
    let fail = |status, why: String| render(&state, &viewer, &headers, &uri, status, Notice::Error(why));
    let Some(role) = Role::parse(form.role.trim()) else {
        return fail(StatusCode::BAD_REQUEST, "Choose a role: ingest, read, write or admin.".into()).await;
    };
    let projects: Result<Vec<Id>, String> = form
        .projects
        .split([',', ' '])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| Id::parse(p).map_err(|why| format!("Project `{p}` {why}.")))
        .collect();
    let projects = match projects {
        Ok(list) if list.is_empty() => None,
        Ok(list) => Some(list),
        Err(why) => return fail(StatusCode::BAD_REQUEST, why).await,
    };
    let days: u32 = form.expires_in_days.trim().parse().unwrap_or(0);
    let expires_at =
        (days > 0).then(|| Timestamp::from_millis(Timestamp::now().millis() + i64::from(days) * 86_400_000));
    let Some((secret, hash)) = token_secret::generate() else {
        return AppError::Unavailable("no secure random numbers to make a token from".into()).into_response();
    };
    let cmd = NewToken { name: form.name.clone(), role, projects, expires_at };
    let made = state.apply(&viewer.principal, move |tx, ctx| tx.create_token(cmd, hash, ctx)).await;
    let actor = viewer.principal.actor.clone();
    match made {
        Ok(t) => {
            audit_on(&state, &actor, "POST", "/ui/tokens", Some(t.value.name.clone()), StatusCode::CREATED).await;
            let notice = Notice::Created { name: t.value.name, secret };
            render(&state, &viewer, &headers, &uri, StatusCode::CREATED, notice).await
        }
        Err(e) => {
            let e = AppError::from(e);
            let status = e.status();
            audit_on(&state, &actor, "POST", "/ui/tokens", Some(form.name), status).await;
            fail(status, e.to_string()).await
        }
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: String,
    name: String,
}

pub async fn revoke(State(state): State<AppState>, request: Request) -> Response {
    let (headers, uri, client) = (request.headers().clone(), request.uri().clone(), client_of(&state, &request));
    let viewer = match admin(&state, &headers, client).await {
        Ok(v) => v,
        Err(refusal) => return refusal,
    };
    let form = match Form::<RevokeForm>::from_request(request, &state).await {
        Ok(Form(form)) if csrf_matches(&headers, &form.csrf) => form,
        _ => return csrf_refused(),
    };
    let name = form.name.clone();
    let revoked = state.apply(&viewer.principal, move |tx, _| tx.revoke_token(&name)).await;
    let status = match &revoked {
        Ok(_) => StatusCode::NO_CONTENT,
        Err(e) => AppError::from(e.clone()).status(),
    };
    audit_on(&state, &viewer.principal.actor, "POST", "/ui/tokens/revoke", Some(form.name), status).await;
    match revoked {
        Ok(_) => Redirect::to("/ui/tokens").into_response(),
        Err(e) => render(&state, &viewer, &headers, &uri, status, Notice::Error(AppError::from(e).to_string())).await,
    }
}

fn csrf_refused() -> Response {
    let text = "This form is out of date or did not come from this dashboard. Open the Tokens page again.";
    (StatusCode::FORBIDDEN, Html(page::message("Form refused", text, Some(("/ui/tokens", "Tokens"))))).into_response()
}

fn markup(viewer: &Viewer, tokens: &[Token], csrf: &str, notice: &Notice) -> Markup {
    let body = html! {
        header.top {
            div.title { h1 { "API tokens" } p { a href="/ui" { "Back to the dashboard" } } }
            div.account { span.who { (viewer.principal.actor) " · admin" } }
        }
        main.tokens {
            @match notice {
                Notice::None => {},
                Notice::Error(why) => p.error role="alert" { (why) },
                Notice::Created { name, secret } => section.created role="status" {
                    h2 { "Token " (name) " created" }
                    p { "Copy it now: it is shown this once, and only its hash is stored." }
                    pre { code #new-token { (secret) } }
                },
            }
            section {
                h2 { "New token" }
                form.new-token method="post" action="/ui/tokens" {
                    input type="hidden" name="csrf" value=(csrf);
                    label { "Name" input type="text" name="name" required maxlength="100"; }
                    label {
                        "Role"
                        select name="role" {
                            option value="ingest" { "ingest: pipelines report deployments and incidents" }
                            option value="read" selected { "read: the dashboard and every GET" }
                            option value="write" { "write: ingest, read, corrections and deletions" }
                            option value="admin" { "admin: everything, tokens and the audit log too" }
                        }
                    }
                    label { "Projects (blank: every project)" input type="text" name="projects" placeholder="api, web"; }
                    label {
                        "Expires"
                        select name="expires_in_days" {
                            @for days in EXPIRY_DAYS {
                                option value=(days) selected[days == 90] {
                                    @if days == 0 { "never" } @else { "in " (days) " days" }
                                }
                            }
                        }
                    }
                    button type="submit" { "Create" }
                }
            }
            section {
                h2 { "Tokens" }
                @if tokens.is_empty() {
                    p { "No API tokens yet." }
                } @else {
                    table.cards {
                        thead { tr { th { "Name" } th { "Role" } th { "Projects" } th { "Expires" } th { "Last used" } th {} } }
                        tbody {
                            @for t in tokens {
                                tr {
                                    td data-label="Name" { (t.name) }
                                    td data-label="Role" { (t.role.as_str()) }
                                    td data-label="Projects" {
                                        @match &t.projects {
                                            None => "all",
                                            Some(list) => (list.iter().map(Id::as_str).collect::<Vec<_>>().join(", ")),
                                        }
                                    }
                                    td data-label="Expires" { (t.expires_at.map_or("never".to_string(), |at| at.to_rfc3339())) }
                                    td data-label="Last used" { (t.last_used_at.map_or("never".to_string(), |at| at.to_rfc3339())) }
                                    td {
                                        form method="post" action="/ui/tokens/revoke" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="name" value=(t.name);
                                            button type="submit" aria-label={ "Revoke " (t.name) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page::layout("Tokens · em-metrics", None, body)
}
