//! The OpenAPI document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{deployments, incidents, insights, service};

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
    ),
    modifiers(&Security),
    security(("bearer" = []), ("basic" = [])),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("basic", SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)));
    }
}
