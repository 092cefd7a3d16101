//! The OpenAPI 3 document, generated from the handlers and types (utoipa). Served at
//! `/openapi.json` and checked in as `openapi.json`; a test fails when the copy is stale.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::Problem;
use super::orders;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orderflow",
        description = "Kafka-first order management. Writes produce a command and answer 202; reads come from the cache, then PostgreSQL; everything is scoped to the caller's storefront.",
        license(name = "Apache-2.0")
    ),
    paths(
        orders::create,
        orders::list,
        orders::get,
        orders::update,
        orders::delete,
        orders::confirm,
        orders::ship,
        orders::update_shipping,
        orders::deliver,
        orders::cancel,
        orders::events,
        orders::command,
    ),
    components(schemas(Problem, orders::Accepted)),
    modifiers(&ApiKeyAuth),
    security(("api_key" = []))
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `orderflow apikeys create` (also accepted as `X-Api-Key`), \
                         or, where the service is given a JWKS, an RS256 JWT whose storefront claim \
                         names the caller's storefront.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as checked in: pretty JSON with a final newline.
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serializes");
    json.push('\n');
    json
}
