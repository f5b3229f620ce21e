//! `/api/v1/streams`: audit streams, for administrators. A tenant administrator streams
//! its own tenant's chain; a platform administrator any tenant's, or every tenant's.
//! Another tenant's stream is a 404 like a missing one. Every change is audited by the
//! domain operation it calls.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};

use tessera_proto::api::{NewStream, Page, StreamCreated, StreamUpdate, StreamView};

use super::responses::ApiErrors;
use super::{blocking, selector};
use crate::access::{self, TenantContext};
use crate::db;
use crate::error::Result;
use crate::http::AppState;
use crate::streams::{self, Format};

/// The streams a caller administers: its tenant's (`Some`), or every one (`None`).
fn reach(ctx: &TenantContext) -> Result<Option<&str>> {
    access::require_admin(ctx)?;
    Ok((!ctx.is_platform()).then_some(ctx.tenant_id.as_str()))
}

/// `POST /api/v1/streams`: the secret is in the answer, once.
#[utoipa::path(
    tag = "streams",
    request_body = NewStream,
    responses(
        (status = 201, description = "The stream, with its `secret` (shown once)", body = StreamCreated),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[post("/streams")]
pub async fn post_streams(
    state: web::Data<AppState>,
    req: HttpRequest,
    ctx: TenantContext,
    body: web::Json<NewStream>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let chosen = selector(&req, body.tenant_id.as_deref())?;
    let state = state.into_inner();
    let created = blocking(move || {
        let mut conn = state.pool.get()?;
        // A tenant administrator's stream is its tenant's even when it names none.
        let chosen = chosen.or_else(|| (!ctx.is_platform()).then(|| ctx.tenant_id.clone()));
        let tenant = access::admin::client_listing(&mut conn, &ctx, chosen.as_deref())?;
        let format = Format::parse(body.format.as_deref().unwrap_or("ndjson"))?;
        let sealer = state.sealer()?;
        let origin = ctx.origin();
        db::write_tx(&mut conn, |tx| {
            streams::create(
                tx,
                sealer,
                &origin,
                tenant.as_ref().map(|t| t.id.as_str()),
                &body.url,
                format,
            )
        })
    })
    .await?;
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header(("cache-control", "no-store"))
        .json(created))
}

/// `GET /api/v1/streams`.
#[utoipa::path(
    tag = "streams",
    responses((status = 200, description = "The streams", body = Page<StreamView>), ApiErrors),
    security(("bearer" = []))
)]
#[get("/streams")]
pub async fn get_streams(state: web::Data<AppState>, ctx: TenantContext) -> Result<HttpResponse> {
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        let rows = streams::list(&mut conn, reach(&ctx)?)?;
        Ok(Page::all(rows.iter().map(StreamView::from).collect()))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/streams/{id}`.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "The stream's id")),
    responses((status = 200, description = "The stream", body = StreamView), ApiErrors),
    security(("bearer" = []))
)]
#[get("/streams/{id}")]
pub async fn get_stream(
    state: web::Data<AppState>,
    ctx: TenantContext,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        let row = streams::find(&mut conn, reach(&ctx)?, &id)?;
        Ok(StreamView::from(&row))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `PATCH /api/v1/streams/{id}`: pause, or resume (which also lifts a suspension).
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "The stream's id")),
    request_body = StreamUpdate,
    responses((status = 200, description = "The stream", body = StreamView), ApiErrors),
    security(("bearer" = []))
)]
#[patch("/streams/{id}")]
pub async fn patch_stream(
    state: web::Data<AppState>,
    ctx: TenantContext,
    id: web::Path<String>,
    body: web::Json<StreamUpdate>,
) -> Result<HttpResponse> {
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        let origin = ctx.origin();
        let reach = reach(&ctx)?;
        let row = db::write_tx(&mut conn, |tx| {
            let row = streams::find(tx, reach, &id)?;
            streams::set_state(tx, &origin, &row, &body.state)
        })?;
        Ok(StreamView::from(&row))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `DELETE /api/v1/streams/{id}`.
#[utoipa::path(
    tag = "streams",
    params(("id" = String, Path, description = "The stream's id")),
    responses((status = 204, description = "Deleted"), ApiErrors),
    security(("bearer" = []))
)]
#[delete("/streams/{id}")]
pub async fn delete_stream(
    state: web::Data<AppState>,
    ctx: TenantContext,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let state = state.into_inner();
    blocking(move || {
        let mut conn = state.pool.get()?;
        let origin = ctx.origin();
        let reach = reach(&ctx)?;
        db::write_tx(&mut conn, |tx| {
            let row = streams::find(tx, reach, &id)?;
            streams::delete(tx, &origin, &row)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
