//! The JSON API: its routes, who may call them, the error shape, and one
//! module per resource. [`crate::app`](mod@crate::app) serves it at the root and under
//! `/api/v1`, beside the dashboard.
//!
//! A tour: [`access`] says who may call which route (roles, the cross-site
//! refusal, the audit record); [`deployments`], [`incidents`], [`pull_requests`], [`insights`],
//! [`usernames`], [`tokens`], [`audit`], [`webhooks`] and [`service`] hold
//! the handlers, and [`answer`] says how a committed change is answered;
//! [`extract`] reads
//! requests and [`error`] answers failures, both in the one error shape;
//! [`idempotency`] replays `Idempotency-Key` answers; [`paging`] reads list
//! parameters; [`openapi`] documents it all.

pub mod access;
pub mod answer;
pub mod audit;
pub mod deployments;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod incidents;
pub mod insights;
pub mod openapi;
pub mod paging;
pub mod pull_requests;
pub mod service;
pub mod tokens;
pub mod usernames;
pub mod webhooks;

use axum::middleware;
use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

/// Routes a load balancer or orchestrator probes without credentials; the
/// request log writes them at debug, since they come every few seconds.
pub const PROBES: [&str; 2] = ["/health", "/ready"];

/// The routes a dashboard session may read (GET or HEAD), as far as its
/// role allows: what the dashboard links to. A session never authorises a
/// write through the API, so there is nothing for a forged cross-site
/// request to do with it.
pub const SESSION_READABLE: [&str; 7] =
    ["/dora", "/dora/trend", "/dora/breakdown", "/deployments", "/deployments/{id}", "/incidents", "/incidents/{id}"];

/// The API's routes, without a prefix: [`crate::app`](mod@crate::app) mounts them twice.
pub fn router(state: &AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/deployments", post(deployments::create).get(deployments::list_all))
        .route("/deployments/{id}", get(deployments::get_one).delete(deployments::delete))
        .route("/deployments/{id}/deployed", post(deployments::deployed))
        .route("/deployments/{id}/failed", post(deployments::failed))
        .route("/incidents", post(incidents::create).get(incidents::list_all))
        .route("/incidents/{id}", get(incidents::get_one).delete(incidents::delete).patch(incidents::correct))
        .route("/incidents/{id}/restored", post(incidents::restored))
        .route("/incidents/{id}/finished", post(incidents::finished))
        .route("/pull-requests", post(pull_requests::create).get(pull_requests::list_all))
        .route("/pull-requests/{id}", get(pull_requests::get_one).delete(pull_requests::delete))
        .route("/pull-requests/{id}/ready", post(pull_requests::ready))
        .route("/pull-requests/{id}/reviewed", post(pull_requests::reviewed))
        .route("/pull-requests/{id}/merged", post(pull_requests::merged))
        .route("/pull-requests/{id}/closed", post(pull_requests::closed))
        .route("/pull-requests/{id}/reopened", post(pull_requests::reopened))
        .route("/usernames/{username}", delete(usernames::clear))
        .route("/dora", get(insights::dora))
        .route("/dora/trend", get(insights::trend))
        .route("/dora/breakdown", get(insights::breakdown))
        .route("/dora/cycle-time", get(insights::cycle_time))
        .route("/version", get(service::version))
        .route("/config", get(service::config))
        .route("/openapi.json", get(openapi::document))
        .route("/metrics", get(service::metrics))
        .route("/tokens", post(tokens::create).get(tokens::list))
        .route("/tokens/{name}", delete(tokens::revoke))
        .route("/audit", get(audit::list))
        // Alertmanager signs nothing: it sends the API's credentials.
        .route("/webhooks/alertmanager", post(webhooks::alertmanager))
        // Layers run last-added first: the audit record around everything,
        // then credentials and role, then Idempotency-Key, so an
        // unauthorized request never claims a key.
        .route_layer(middleware::from_fn_with_state(state.clone(), idempotency::guard))
        .route_layer(middleware::from_fn_with_state(state.clone(), access::authorize))
        .route_layer(middleware::from_fn_with_state(state.clone(), access::audit));
    let probes = Router::new().route(PROBES[0], get(service::health)).route(PROBES[1], get(service::ready));
    // Signed by their senders instead of the API's credentials, and without
    // Idempotency-Key: deliveries carry their own ids.
    let hooks = Router::new()
        .route("/webhooks/github", post(webhooks::github))
        .route("/webhooks/gitlab", post(webhooks::gitlab))
        .route("/webhooks/pagerduty", post(webhooks::pagerduty))
        .route("/webhooks/incident-io", post(webhooks::incident_io))
        .route_layer(middleware::from_fn_with_state(state.clone(), access::audit));
    probes.merge(hooks).merge(protected)
}

/// Whether `route` (a template, at either prefix) is one of `routes`.
pub fn is_one_of(routes: &[&str], route: &str) -> bool {
    routes.contains(&route.strip_prefix("/api/v1").unwrap_or(route))
}
