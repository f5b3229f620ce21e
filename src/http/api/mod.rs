//! `/api/v1`: every handler takes a [`TenantContext`], produced here from a fully
//! verified bearer token (signature, `typ`, `iss`, `aud`, `exp`/`nbf`, and a ledger row
//! that is not revoked). A tenant named by the request (`tenant` in the query, a path
//! segment, `X-Tenant-ID`) is only a selector, checked by `access::resolve_target`.

pub mod admin;
pub mod audit;
pub mod openapi;
pub mod responses;
pub mod streams;
pub mod tokens;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::NaiveDateTime;

use super::{request_meta, AppState};
use crate::access::{self, TenantContext};
use crate::error::{Error, Result};

/// The verified caller of an `/api/v1` route other than ingestion: the token must also
/// carry [`access::API_SCOPE`], which only clients registered for it can obtain, so an
/// application's token is never an API credential (403 `insufficient_scope`).
impl FromRequest for TenantContext {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verified = verified_caller(req);
        Box::pin(async move {
            let ctx = verified.await?;
            if !ctx.has_scope(access::API_SCOPE) {
                return Err(Error::InsufficientScope(access::API_SCOPE));
            }
            Ok(ctx)
        })
    }
}

/// The verified caller of audit ingestion: any user's token, or a client's token with
/// `audit:write` (checked by the ingestion itself).
pub struct Ingestor(pub TenantContext);

impl FromRequest for Ingestor {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verified = verified_caller(req);
        Box::pin(async move { verified.await.map(Ingestor) })
    }
}

/// The caller behind the request's bearer token, fully verified (signature, `typ`,
/// `iss`, `aud`, `exp`/`nbf`, a ledger row that is not revoked).
fn verified_caller(req: &HttpRequest) -> impl Future<Output = Result<TenantContext>> {
    let token = super::auth::bearer_token(req);
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (ip, request_id) = request_meta(req);
    async move {
        let (Some(token), Some(state)) = (token, state) else {
            return Err(Error::Unauthenticated);
        };
        let ctx = blocking(move || {
            let mut conn = state.pool.get()?;
            let keys = state.keys.current();
            let Some(verified) =
                crate::tokens::verify_access_token(&mut conn, &keys, &state.config.issuer, &token)?
            else {
                return Ok(None);
            };
            if !verified.claims.aud.contains(&state.config.audience) {
                return Ok(None);
            }
            Ok(Some(TenantContext::from_claims(
                verified.claims,
                ip,
                request_id,
            )))
        })
        .await?;
        ctx.ok_or(Error::Unauthenticated)
    }
}

pub use super::blocking;

/// The tenant selector of a request: the `tenant` parameter or path segment, or the
/// `X-Tenant-ID` header; naming two different tenants at once is a bad request.
pub fn selector(req: &HttpRequest, named: Option<&str>) -> Result<Option<String>> {
    let header = req
        .headers()
        .get("x-tenant-id")
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| Error::Invalid("X-Tenant-ID"))
        })
        .transpose()?;
    match (named.filter(|n| !n.is_empty()), header) {
        (Some(a), Some(b)) if a != b => {
            Err(Error::Invalid("tenant: the query and X-Tenant-ID disagree"))
        }
        (Some(a), _) => Ok(Some(a.to_owned())),
        (None, b) => Ok(b),
    }
}

/// An RFC 3339 time filter.
pub fn time_param(name: &'static str, value: Option<&str>) -> Result<Option<NaiveDateTime>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.naive_utc())
                .map_err(|_| Error::Invalid(name))
        })
        .transpose()
}

/// `limit`: 1–1000, default 100.
pub fn limit_param(value: Option<&str>) -> Result<i64> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(100),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or(Error::Invalid("limit: expected 1-1000")),
    }
}

/// The `/api/v1` routes, registered through `utoipa_actix_web` so the OpenAPI
/// document is collected from the very services that are mounted.
pub fn scope() -> utoipa_actix_web::scope::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    utoipa_actix_web::scope("/api/v1")
        // Logs, tokens and secrets are never kept by a browser or a proxy.
        .wrap(
            actix_web::middleware::DefaultHeaders::new()
                .add((header::CACHE_CONTROL, "no-store"))
                .add((header::PRAGMA, "no-cache")),
        )
        .app_data(
            web::JsonConfig::default()
                .limit(256 * 1024)
                .error_handler(|e, _| {
                    let message = match &e {
                        actix_web::error::JsonPayloadError::Deserialize(e) => {
                            e.to_string().chars().take(200).collect()
                        }
                        actix_web::error::JsonPayloadError::ContentType => {
                            "the body must be application/json".to_owned()
                        }
                        _ => "malformed JSON body".to_owned(),
                    };
                    Error::BadRequest(message).into()
                }),
        )
        .service(audit::post_events)
        .service(audit::get_events)
        .service(audit::get_export)
        .service(audit::get_verify)
        .service(audit::get_checkpoint)
        .service(tokens::get_tokens)
        .service(tokens::post_revoke)
        .service(admin::get_tenants)
        .service(admin::post_tenants)
        .service(admin::patch_tenant)
        .service(admin::post_mfa_reset)
        .service(admin::get_members)
        .service(admin::post_members)
        .service(admin::delete_member)
        .service(admin::get_clients)
        .service(admin::post_clients)
        .service(streams::post_streams)
        .service(streams::get_streams)
        .service(streams::get_stream)
        .service(streams::patch_stream)
        .service(streams::delete_stream)
        .service(openapi::get_openapi)
}
