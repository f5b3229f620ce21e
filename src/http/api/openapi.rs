//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 description of `/api/v1`, collected by
//! `utoipa_actix_web` from the services actually mounted (so it cannot drift from the
//! route table) and rendered once at start.

use actix_web::{get, web, HttpResponse};
use tessera_proto::api::ErrorBody;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;

/// The rendered document.
pub struct Document(pub String);

/// Completes the collected paths with the API's title and its bearer scheme.
pub fn finish(mut api: OpenApi) -> Document {
    api.info.title = "Tessera API".to_owned();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    api.info.description = Some(
        "Tenant-checked administration and audit API. Every call needs a bearer access \
         token issued by this service; the tenant comes from the token."
            .to_owned(),
    );
    let components = api.components.get_or_insert_with(Default::default);
    // Named by the shared error responses (`responses::ApiErrors`), not by a path.
    components.schemas.insert(
        <ErrorBody as utoipa::ToSchema>::name().into_owned(),
        <ErrorBody as utoipa::PartialSchema>::schema(),
    );
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    Document(api.to_json().unwrap_or_else(|_| "{}".to_owned()))
}

/// The document itself is public, like discovery.
#[utoipa::path(tag = "meta", responses((status = 200, description = "This OpenAPI document")))]
#[get("/openapi.json")]
pub async fn get_openapi(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}
