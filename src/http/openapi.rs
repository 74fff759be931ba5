//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{deployments, incidents, insights, service, usernames, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "em-metrics",
        description = "DORA metrics from deployments and incidents. Every route is also served under /api/v1."
    ),
    paths(
        deployments::create, deployments::list_all, deployments::get_one, deployments::delete,
        deployments::deployed, deployments::failed,
        incidents::create, incidents::list_all, incidents::get_one, incidents::delete, incidents::correct,
        incidents::restored, incidents::finished,
        insights::dora, insights::trend, insights::breakdown,
        service::health, service::ready, service::version, service::config, service::openapi, service::metrics,
        webhooks::github, webhooks::gitlab, webhooks::pagerduty, webhooks::incident_io, webhooks::alertmanager,
        usernames::clear,
    ),
    modifiers(&Security),
    security(("bearer" = []), ("basic" = [])),
    servers((url = "/", description = "the root"), (url = "/api/v1", description = "the same routes, versioned")),
)]
pub struct ApiDoc;

/// Routes a load balancer or orchestrator probes without credentials.
const OPEN_PATHS: [&str; 2] = ["/health", "/ready"];
/// Routes whose senders sign each delivery instead of sending the API's
/// credentials; their 401 (bad signature) is in their own annotations.
const SIGNED_PATHS: [&str; 4] =
    ["/webhooks/github", "/webhooks/gitlab", "/webhooks/pagerduty", "/webhooks/incident-io"];

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
            if OPEN_PATHS.contains(&path.as_str()) || SIGNED_PATHS.contains(&path.as_str()) {
                // Neither needs the API's credentials.
                for op in operations(item) {
                    op.security = Some(Vec::new());
                }
                continue;
            }
            for op in operations(item) {
                op.responses.responses.entry("401".into()).or_insert_with(|| {
                    error().description("No credentials, or a scheme this server does not accept").build().into()
                });
                op.responses
                    .responses
                    .entry("403".into())
                    .or_insert_with(|| error().description("Wrong credentials").build().into());
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
}
