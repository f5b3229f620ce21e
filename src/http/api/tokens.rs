//! `/api/v1/tokens`: the issued-token ledger.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{blocking, limit_param, selector, time_param};
use tessera_proto::api::{Page, Revoked, TokenItem};

use super::responses::ApiErrors;
use crate::access::{self, Reader, Recorded, TenantContext};
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::tokens::{self, TokenFilter};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokensQuery {
    tenant: Option<String>,
    subject: Option<String>,
    client: Option<String>,
    active: Option<String>,
    /// `false`: users' tokens issued without a second factor; `true`: with one.
    mfa: Option<String>,
    /// `authorization_code`, `refresh_token` or `client_credentials`.
    grant: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/tokens`: newest first.
#[utoipa::path(
    tag = "tokens",
    params(TokensQuery),
    responses(
        (status = 200, description = "Ledger entries, newest first", body = Page<TokenItem>),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/tokens")]
pub async fn get_tokens(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    q: web::Query<TokensQuery>,
) -> Result<HttpResponse> {
    let q = q.into_inner();
    let chosen = selector(&req, q.tenant.as_deref())?;
    let active = bool_param(q.active.as_deref(), "active: expected true or false")?;
    let mfa = bool_param(q.mfa.as_deref(), "mfa: expected true or false")?;
    let mut filter = TokenFilter {
        tenant_id: None,
        subject: q.subject.filter(|v| !v.is_empty()),
        client_id: q.client.filter(|v| !v.is_empty()),
        active,
        mfa,
        grant: grant_param(q.grant.as_deref())?,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
        limit: limit_param(q.limit.as_deref())?,
        after: q
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(tokens::decode_cursor)
            .transpose()?,
    };
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        access::read_logs(
            &mut conn,
            Reader::Caller(&ctx),
            chosen.as_deref(),
            "tokens.read",
            |conn, target| {
                filter.tenant_id = target.tenant_id().map(str::to_owned);
                let (rows, next) = tokens::page(conn, &filter)?;
                let details = serde_json::json!({ "tokens": rows.len() });
                let items = rows.into_iter().map(TokenItem::from).collect();
                Ok((
                    Page {
                        items,
                        next_cursor: next,
                    },
                    Recorded::Once(details),
                ))
            },
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `grant=`: a grant type's name (empty: any grant).
pub(crate) fn grant_param(value: Option<&str>) -> Result<Option<String>> {
    value
        .filter(|g| !g.is_empty())
        .map(|g| crate::clients::GrantType::parse(g).map(|g| g.as_str().to_owned()))
        .transpose()
}

/// `true`, `false` or nothing (empty: nothing).
pub(crate) fn bool_param(value: Option<&str>, invalid: &'static str) -> Result<Option<bool>> {
    match value {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(Error::Invalid(invalid)),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevokeQuery {
    family: Option<bool>,
}

/// `POST /api/v1/tokens/{jti}/revoke` (`?family=true`: the token's whole refresh
/// family). Admins only; a token of another tenant is not found.
#[utoipa::path(
    tag = "tokens",
    params(("jti" = String, Path, description = "The token's jti"), RevokeQuery),
    responses(
        (status = 200, description = "How many tokens were revoked", body = Revoked),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[post("/tokens/{jti}/revoke")]
pub async fn post_revoke(
    state: web::Data<AppState>,
    ctx: TenantContext,
    jti: web::Path<String>,
    q: web::Query<RevokeQuery>,
) -> Result<HttpResponse> {
    let jti = jti.into_inner();
    let family = q.family.unwrap_or(false);
    let state = state.into_inner();
    let body = blocking(move || {
        let scope = access::admin::revocation_scope(&ctx)?;
        let mut conn = state.pool.get()?;
        let origin = ctx.origin();
        let revoked = crate::db::write_tx(&mut conn, |tx| {
            tokens::revoke_by_admin(tx, &origin, scope, &jti, family)
        })?;
        Ok(Revoked {
            jti,
            revoked: u64::try_from(revoked).unwrap_or(u64::MAX),
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
