//! The OpenAPI document, generated from the handlers' annotations, and the
//! route that serves it.

use axum::Json;
use serde_json::{json, Value};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{audit, deployments, incidents, insights, pull_requests, service, tokens, usernames, webhooks};

#[utoipa::path(get, path = "/openapi.json", tag = "service",
    responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn document() -> Json<Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|e| json!({ "error": e.to_string() })))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "em-metrics",
        description = "DORA metrics from deployments and incidents. Every route is also served under /api/v1. \
            A token's role decides the routes it may call (ingest, read, write, admin; see docs/access.md), \
            and a token limited to projects sees and changes only those."
    ),
    paths(
        deployments::create, deployments::list_all, deployments::get_one, deployments::delete,
        deployments::deployed, deployments::failed,
        incidents::create, incidents::list_all, incidents::get_one, incidents::delete, incidents::correct,
        incidents::restored, incidents::finished,
        pull_requests::create, pull_requests::list_all, pull_requests::get_one, pull_requests::delete,
        pull_requests::ready, pull_requests::reviewed, pull_requests::merged, pull_requests::closed,
        pull_requests::reopened,
        insights::dora, insights::trend, insights::breakdown, insights::cycle_time,
        service::health, service::ready, service::version, service::config, document, service::metrics,
        webhooks::github, webhooks::gitlab, webhooks::pagerduty, webhooks::incident_io, webhooks::alertmanager,
        usernames::clear,
        tokens::create, tokens::list, tokens::revoke, audit::list,
    ),
    modifiers(&Security),
    security(("bearer" = []), ("basic" = [])),
    servers((url = "/", description = "the root"), (url = "/api/v1", description = "the same routes, versioned")),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
        // Every protected operation answers 401 and 403 the same way; saying
        // so once here beats 20 copies in the annotations.
        let error = || {
            ResponseBuilder::new().content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
            )
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let has_path_id = path.contains('{');
            for op in operations(item) {
                // A blank or malformed `{id}`, or a body that is not the
                // JSON object the route takes, is a 400 on every route.
                if has_path_id || op.request_body.is_some() {
                    op.responses.responses.entry("400".into()).or_insert_with(|| {
                        error().description("Invalid path parameter or request body").build().into()
                    });
                }
                // `security(())` in an annotation: a probe, or a webhook its
                // sender signs (its 401 is in its own annotation). Neither
                // needs the API's credentials.
                if op.security.as_ref().is_some_and(|s| s.iter().all(|r| *r == SecurityRequirement::default())) {
                    op.security = Some(Vec::new());
                    continue;
                }
                op.responses.responses.entry("401".into()).or_insert_with(|| {
                    error().description("No credentials, or a scheme this server does not accept").build().into()
                });
                op.responses.responses.entry("403".into()).or_insert_with(|| {
                    error()
                        .description(
                            "Wrong or expired credentials, a role that does not allow this route, a project \
                             outside the token's scope (field: project_id), or a write from another site",
                        )
                        .build()
                        .into()
                });
                op.responses.responses.entry("429".into()).or_insert_with(|| {
                    error()
                        .description("Too many failed authentications from this address; see Retry-After")
                        .build()
                        .into()
                });
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
}
