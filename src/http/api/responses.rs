//! The error answers every `/api/v1` route can give, listed once for the OpenAPI
//! document (each annotation names the set instead of repeating the lines). Every one
//! has the generic [`ErrorBody`]: what went wrong is in its `error` code, never in a
//! detail that could reveal another tenant's data.

use std::collections::BTreeMap;

use tessera_proto::api::ErrorBody;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa::{IntoResponses, ToSchema};

/// The shared error responses of the bearer-protected API.
pub struct ApiErrors;

impl IntoResponses for ApiErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "Invalid input (the description names the field)"),
            (
                "401",
                "Missing, invalid, expired or revoked token (WWW-Authenticate: Bearer)",
            ),
            (
                "403",
                "Not allowed: the role or scope is missing, or another tenant was named (audited)",
            ),
            ("404", "Not found (also for what exists in another tenant)"),
            ("409", "Already exists"),
            ("413", "Request body too large"),
            ("422", "An idempotency key reused for a different request"),
            ("429", "Too many long reads at once for this caller"),
            ("503", "Temporarily unavailable (Retry-After)"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", content)
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
    }
}
