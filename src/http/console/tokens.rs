//! The issued-token ledger: a filtered list, one token with its family and the audit
//! events about it, and revocation (administrators only, after a confirmation step).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::forms::TokensQuery;
use super::rows::{event_row, slugs, token_row};
use super::views::{RevokePage, TokenPage, TokenRow, Tokens};
use super::{failure, reader, render, see_other, Console};
use crate::access::{self, Recorded};
use crate::error::{Error, Result};
use crate::http::{blocking, AppState};
use crate::tokens::{self, IssuedToken};

/// `GET /console/tokens`.
pub async fn get_tokens(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<TokensQuery>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let q = q.into_inner();
    let mut filter = match q.filter() {
        Ok(f) => f,
        Err(e) => return failure(e),
    };
    let chosen = q.selector();
    let clock = console.clock();
    let read = console
        .read_logs(&state, chosen, "tokens.read", move |conn, target, _| {
            filter.tenant_id = target.tenant_id().map(str::to_owned);
            let (rows, next) = tokens::page(conn, &filter)?;
            let slugs = slugs(conn, target)?;
            let rows: Vec<TokenRow> = rows.iter().map(|r| token_row(r, &clock, &slugs)).collect();
            let details = serde_json::json!({ "tokens": rows.len() });
            Ok(((rows, next), Recorded::Once(details)))
        })
        .await;
    let (rows, next) = match read {
        Ok(r) => r,
        Err(e) => return failure(e),
    };
    let page = Tokens {
        nav: Some(console.nav("tokens")),
        platform: console.ctx.is_platform(),
        rows,
        next: next.map(|c| q.link(Some(&c))),
        first: (!q.cursor.is_empty()).then(|| q.link(None)),
        f: q,
    };
    render(StatusCode::OK, &page)
}

struct Found {
    token: IssuedToken,
    family: Vec<IssuedToken>,
    events: Vec<crate::audit::AuditRow>,
    slugs: HashMap<String, String>,
}

/// The token `jti` if the reader may see it (`NotFound` otherwise, whether it exists
/// in another tenant or not at all), with its family and the events about it; the
/// read recorded as `tokens.read` in the token's chain.
async fn find(state: &web::Data<AppState>, console: &Console, jti: String) -> Result<Found> {
    if uuid::Uuid::parse_str(&jti).is_err() {
        return Err(Error::NotFound);
    }
    console
        .read_logs(state, None, "tokens.read", move |conn, target, _| {
            let token = tokens::store::by_jti(conn, &jti)?.ok_or(Error::NotFound)?;
            if target.tenant_id().is_some_and(|t| t != token.tenant_id) {
                return Err(Error::NotFound);
            }
            let family = match &token.family_id {
                Some(f) => tokens::store::of_family(conn, &token.tenant_id, f, 200)?,
                None => Vec::new(),
            };
            let mut about = vec![token.jti.as_str()];
            if let Some(f) = &token.family_id {
                about.push(f);
            }
            // Events about a token happen while it and its family live, or when they
            // are revoked: the span the ledger gives.
            let lived = std::iter::once(&token).chain(family.iter());
            let from = lived
                .clone()
                .map(|t| t.issued_at)
                .min()
                .unwrap_or(token.issued_at)
                - chrono::Duration::minutes(1);
            let to = lived
                .flat_map(|t| [Some(t.expires_at), t.revoked_at])
                .flatten()
                .max()
                .unwrap_or(token.expires_at)
                + chrono::Duration::minutes(1);
            let events = crate::audit::store::about(conn, &token.tenant_id, &about, from, to, 100)?;
            let slugs = slugs(conn, target)?;
            let details = serde_json::json!({ "jti": token.jti });
            let chain = token.tenant_id.clone();
            Ok((
                Found {
                    token,
                    family,
                    events,
                    slugs,
                },
                Recorded::PerTenant(vec![(chain, details)]),
            ))
        })
        .await
}

#[derive(Deserialize)]
pub struct TokenQuery {
    revoked: Option<usize>,
}

/// `GET /console/tokens/{jti}`.
pub async fn get_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    jti: web::Path<String>,
    q: web::Query<TokenQuery>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    let found = match find(&state, &console, jti.into_inner()).await {
        Ok(f) => f,
        Err(e) => return failure(e),
    };
    let clock = console.clock();
    let t = &found.token;
    let page = TokenPage {
        nav: Some(console.nav("tokens")),
        t: token_row(t, &clock, &found.slugs),
        tenant_id: t.tenant_id.clone(),
        scope: t.scope.clone(),
        amr: t.amr.clone().unwrap_or_default(),
        kid: t.kid.clone().unwrap_or_default(),
        family_id: t.family_id.clone(),
        family: found
            .family
            .iter()
            .map(|f| token_row(f, &clock, &found.slugs))
            .collect(),
        events: found
            .events
            .iter()
            .map(|e| event_row(e, &clock, &found.slugs))
            .collect(),
        admin: console.ctx.is_admin(),
        notice: q.revoked.map(|n| match n {
            0 => "Nothing was revoked: the token was already revoked.".to_owned(),
            1 => "1 token revoked.".to_owned(),
            n => format!("{n} tokens revoked."),
        }),
    };
    render(StatusCode::OK, &page)
}

#[derive(Deserialize)]
pub struct RevokeQuery {
    family: Option<String>,
}

/// `GET /console/tokens/{jti}/revoke`: the confirmation step.
pub async fn get_revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    jti: web::Path<String>,
    q: web::Query<RevokeQuery>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    if access::admin::revocation_scope(&console.ctx).is_err() {
        return only_admins(&console);
    }
    let found = match find(&state, &console, jti.into_inner()).await {
        Ok(f) => f,
        Err(e) => return failure(e),
    };
    let clock = console.clock();
    let family = q.family.as_deref() == Some("true") && found.token.family_id.is_some();
    let now = crate::db::now();
    let reaches = if family {
        found
            .family
            .iter()
            .filter(|t| t.revoked_at.is_none() && t.expires_at > now)
            .count()
    } else {
        usize::from(found.token.revoked_at.is_none())
    };
    let page = RevokePage {
        csrf: console.csrf(),
        nav: Some(console.nav("tokens")),
        t: token_row(&found.token, &clock, &found.slugs),
        family,
        reaches,
    };
    render(StatusCode::OK, &page)
}

fn only_admins(console: &super::Console) -> HttpResponse {
    render(
        StatusCode::FORBIDDEN,
        &super::views::Message {
            nav: Some(console.nav("tokens")),
            title: "Administrators only",
            message: "Only an administrator can revoke tokens.",
            sign_out_csrf: None,
        },
    )
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: String,
    #[serde(default)]
    family: String,
}

/// `POST /console/tokens/{jti}/revoke`: the API's revocation (same scope rule, same
/// record), then back to the token's page.
pub async fn post_revoke(
    req: HttpRequest,
    state: web::Data<AppState>,
    jti: web::Path<String>,
    form: web::Form<RevokeForm>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    if let Err(e) = console.check_csrf(&form.csrf) {
        return failure(e);
    }
    let Ok(scope) = access::admin::revocation_scope(&console.ctx) else {
        return only_admins(&console);
    };
    let scope = scope.map(str::to_owned);
    let jti = jti.into_inner();
    let family = form.family == "true";
    let ctx = console.ctx.clone();
    let data = state.into_inner();
    let target = jti.clone();
    let revoked = blocking(move || {
        let mut conn = data.pool.get()?;
        let origin = ctx.origin();
        crate::db::write_tx(&mut conn, |tx| {
            tokens::revoke_by_admin(tx, &origin, scope.as_deref(), &target, family)
        })
    })
    .await;
    match revoked {
        Ok(n) => see_other(&format!("/console/tokens/{jti}?revoked={n}")),
        Err(e) => failure(e),
    }
}
