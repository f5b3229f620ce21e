//! `/api/v1/tenants`, `/api/v1/tenants/{id}/members`, `/api/v1/clients`: administration
//! for platform admins (every tenant) and tenant admins (their own). Every change is
//! audited by the domain operation it calls.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use tessera_proto::api::{
    ClientCreated, MemberAdded, MemberView, MfaReset, MfaResetDone, NewClient as NewClientBody,
    NewMember, NewTenant, Page, TenantUpdate, TenantView,
};

use super::responses::ApiErrors;
use super::{blocking, selector};
use crate::access::{self, TenantContext};
use crate::clients::{self, ClientId, ClientView, NewClient};
use crate::db;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::memberships::{self, Role, Roles};
use crate::mfa;
use crate::tenants::{self, Slug};
use crate::users::{self, Email};

/// `GET /api/v1/tenants`: every tenant for platform admins, one's own otherwise.
#[utoipa::path(
    tag = "admin",
    responses(
        (status = 200, description = "The tenants", body = Page<TenantView>),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tenants")]
pub async fn get_tenants(state: web::Data<AppState>, ctx: TenantContext) -> Result<HttpResponse> {
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        let items = access::admin::visible_tenants(&mut conn, &ctx)?;
        Ok(Page::all(items.iter().map(TenantView::from).collect()))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/tenants`: platform admins only.
#[utoipa::path(
    tag = "admin",
    request_body = NewTenant,
    responses(
        (status = 201, description = "The new tenant", body = TenantView),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[post("/tenants")]
pub async fn post_tenants(
    state: web::Data<AppState>,
    ctx: TenantContext,
    body: web::Json<NewTenant>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let state = state.into_inner();
    let tenant = blocking(move || {
        access::admin::require_platform_admin(&ctx)?;
        let slug = Slug::parse(&body.slug)?;
        let mut conn = state.pool.get()?;
        let origin = ctx.origin();
        db::write_tx(&mut conn, |tx| {
            tenants::create(tx, &origin, &slug, body.name.as_deref())
        })
    })
    .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(TenantView::from(&tenant)))
}

/// `PATCH /api/v1/tenants/{id}`: a platform admin changes any tenant, a tenant admin
/// their own.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id or slug")),
    request_body = TenantUpdate,
    responses(
        (status = 200, description = "The tenant as changed", body = TenantView),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[patch("/tenants/{id}")]
pub async fn patch_tenant(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<TenantUpdate>,
) -> Result<HttpResponse> {
    let id = selector(&req, Some(&id.into_inner()))?.unwrap_or_default();
    let body = body.into_inner();
    let policy = body.mfa.as_deref().map(mfa::Policy::parse).transpose()?;
    let state = state.into_inner();
    let tenant = blocking(move || {
        let mut conn = state.pool.get()?;
        let origin = ctx.origin();
        // Outside the change's transaction: a refusal is recorded and committed.
        let tenant = access::admin::administered(&mut conn, &ctx, &id)?;
        db::write_tx(&mut conn, |tx| {
            if let Some(policy) = policy {
                mfa::set_policy(tx, &origin, &tenant, policy)?;
            }
            tenants::find_by_id(tx, &tenant.id)?.ok_or(Error::NotFound)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(TenantView::from(&tenant)))
}

/// `POST /api/v1/users/{id}/mfa/reset`: platform admins only. A user is one identity
/// across tenants, so a tenant admin may never weaken it: refused (`403`) before the
/// user is looked up, and recorded in the caller's chain.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "User id")),
    request_body = MfaReset,
    responses(
        (status = 200, description = "The factors were removed", body = MfaResetDone),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[post("/users/{id}/mfa/reset")]
pub async fn post_mfa_reset(
    state: web::Data<AppState>,
    ctx: TenantContext,
    id: web::Path<String>,
    body: web::Json<MfaReset>,
) -> Result<HttpResponse> {
    let user_id = id.into_inner();
    let reason = body.into_inner().reason;
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        let origin = ctx.origin();
        if access::admin::require_platform_admin(&ctx).is_err() {
            db::write_tx(&mut conn, |tx| {
                access::admin::record_denied(tx, &ctx, "mfa.reset_denied", &user_id)
            })?;
            return Err(Error::Forbidden);
        }
        mfa::reset_reason(&reason)?;
        db::write_tx(&mut conn, |tx| {
            let user = users::find(tx, &user_id)?.ok_or(Error::NotFound)?;
            let removed = crate::login::reset_factors(tx, &origin, &user, &reason)?;
            Ok(MfaResetDone {
                user_id: user.id,
                removed,
            })
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/tenants/{id}/members`.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, description = "The tenant's members", body = Page<MemberView>),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tenants/{id}/members")]
pub async fn get_members(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse> {
    let id = selector(&req, Some(&id.into_inner()))?.unwrap_or_default();
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        let tenant = access::admin::administered(&mut conn, &ctx, &id)?;
        let members = memberships::list(&mut conn, &tenant)?;
        Ok(Page::all(
            members.into_iter().map(MemberView::from).collect(),
        ))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/tenants/{id}/members`: adds a person by email (an account that does
/// not exist yet is created as `invited`, so the answer never reveals which exist).
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id or slug")),
    request_body = NewMember,
    responses(
        (status = 201, description = "The membership (the user is invited if new)", body = MemberAdded),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[post("/tenants/{id}/members")]
pub async fn post_members(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<NewMember>,
) -> Result<HttpResponse> {
    let id = selector(&req, Some(&id.into_inner()))?.unwrap_or_default();
    let body = body.into_inner();
    let state = state.into_inner();
    let member = blocking(move || {
        let email = Email::parse(&body.email)?;
        let roles = Roles::new(
            body.roles
                .iter()
                .map(|r| Role::parse(r))
                .collect::<Result<Vec<_>>>()?,
        )?;
        let mut conn = state.pool.get()?;
        let tenant = access::admin::administered(&mut conn, &ctx, &id)?;
        let origin = ctx.origin();
        db::write_tx(&mut conn, |tx| {
            let user = users::find_or_invite(tx, &origin, &email)?;
            memberships::add(tx, &origin, &tenant, &user, &roles)?;
            Ok(MemberAdded {
                user_id: user.id,
                email: user.email,
                roles: roles.names().into_iter().map(str::to_owned).collect(),
                tenant_id: tenant.id.clone(),
            })
        })
    })
    .await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(member))
}

/// `DELETE /api/v1/tenants/{id}/members/{user_id}`.
#[utoipa::path(
    tag = "admin",
    params(("id" = String, Path, description = "Tenant id or slug"), ("user_id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Removed"),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[delete("/tenants/{id}/members/{user_id}")]
pub async fn delete_member(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, user_id) = path.into_inner();
    let id = selector(&req, Some(&id))?.unwrap_or_default();
    let state = state.into_inner();
    blocking(move || {
        let mut conn = state.pool.get()?;
        let tenant = access::admin::administered(&mut conn, &ctx, &id)?;
        let origin = ctx.origin();
        db::write_tx(&mut conn, |tx| {
            let user = users::find(tx, &user_id)?.ok_or(Error::NotFound)?;
            memberships::remove(tx, &origin, &tenant, &user)
        })
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientsQuery {
    tenant: Option<String>,
}

/// `GET /api/v1/clients`: a tenant admin sees its tenant's clients; a platform admin
/// every client, or one tenant's with `tenant`.
#[utoipa::path(
    tag = "admin",
    params(ClientsQuery),
    responses(
        (status = 200, description = "The clients", body = Page<ClientView>),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/clients")]
pub async fn get_clients(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    q: web::Query<ClientsQuery>,
) -> Result<HttpResponse> {
    let chosen = selector(&req, q.tenant.as_deref())?;
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        let tenant = access::admin::client_listing(&mut conn, &ctx, chosen.as_deref())?;
        let items: Vec<ClientView> = clients::list(&mut conn, tenant.as_ref())?
            .iter()
            .map(ClientView::from)
            .collect();
        Ok(Page::all(items))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `POST /api/v1/clients`: a tenant admin's client is bound to its tenant; a platform
/// admin may bind one to any tenant or leave it unbound. The secret is in the answer,
/// once.
#[utoipa::path(
    tag = "admin",
    request_body = NewClientBody,
    responses(
        (status = 201, description = "The client, with `client_secret` (shown once) for a confidential one", body = ClientCreated),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[post("/clients")]
pub async fn post_clients(
    state: web::Data<AppState>,
    ctx: TenantContext,
    body: web::Json<NewClientBody>,
) -> Result<HttpResponse> {
    let body = body.into_inner();
    let state = state.into_inner();
    let created = blocking(move || {
        let id = ClientId::parse(&body.client_id)?;
        let mut conn = state.pool.get()?;
        let tenant =
            access::admin::new_client_tenant(&mut conn, &ctx, &id, body.tenant_id.as_deref())?;
        let origin = ctx.origin();
        let input = NewClient {
            name: body.name,
            confidential: body.confidential,
            redirect_uris: body.redirect_uris,
            grants: body.grant_types,
            scopes: body.scopes,
            exchange_audiences: body.exchange_audiences,
        };
        let (client, secret) = db::write_tx(&mut conn, |tx| {
            clients::create(tx, &origin, &id, tenant.as_ref(), input)
        })?;
        Ok(ClientCreated::new(ClientView::from(&client), secret))
    })
    .await?;
    Ok(HttpResponse::build(StatusCode::CREATED)
        .insert_header(("cache-control", "no-store"))
        .json(created))
}
