//! `GET /authorize` (a signed-in browser gets its decision at once; otherwise the login
//! form) and `POST /authorize`, the tenant picker's answer, checked again against the
//! memberships.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{
    authorize_error, continued, error_redirect, render, request_cookie, respond, settings, Context,
    Next, Step,
};
use crate::error::Error;
use crate::http::{blocking, request_meta, AppState, REQUEST_COOKIE, SESSION_COOKIE};
use crate::login::decide::{self, Flow};
use crate::login::{self, AuthorizeParams, PendingHandle, ValidRequest};
use crate::oauth::code::CodeRequest;

pub async fn get_authorize(
    app: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<AuthorizeParams>,
) -> Result<HttpResponse, Error> {
    let params = params.into_inner();
    let session_cookie = request_cookie(&req, SESSION_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let state = app.clone().into_inner();
    let step = blocking(move || {
        let app = &state;
        let mut conn = app.pool.get()?;
        let request = match login::validate(&mut conn, &params) {
            Ok(request) => request,
            Err(e) => return authorize_error(&app.config.issuer, e).map(Step::from),
        };
        let session = login::current_session(&mut conn, session_cookie.as_deref())?
            .filter(|(session, _)| request.accepts_session(session));
        let Some((session, user)) = session else {
            if request.no_prompt {
                return Ok(request_failure(
                    app,
                    &request,
                    "login_required",
                    "the user must log in",
                )
                .into());
            }
            let handle = crate::db::write_tx(&mut conn, |tx| {
                login::start_pending(tx, &request, None, app.config.login_request_ttl)
            })?;
            return Ok(Next::Login {
                handle,
                client_name: request.client.name.clone(),
                redirect_uri: request.redirect_uri.clone(),
                email: String::new(),
                error: None,
            }
            .into());
        };
        let origin = login::browser_origin(Some(&user.id), ip, request_id);
        let decision = crate::db::write_tx(&mut conn, |tx| {
            let input = decide::Request {
                flow: Flow::Fresh(&request),
                code: CodeRequest {
                    client_id: &request.client.id,
                    redirect_uri: &request.redirect_uri,
                    scope: &request.scope,
                    nonce: request.nonce.as_deref(),
                    code_challenge: &request.code_challenge,
                    session_hash: Some(&session.id_hash),
                    amr: &session.amr,
                },
                client_tenant: request.client.tenant_id.as_deref(),
                user: &user,
                auth_time: session.auth_time,
                hint: request.tenant_hint.as_deref(),
                no_prompt: request.no_prompt,
                picked: false,
                wants_mfa: request.wants_mfa,
            };
            decide::decide(tx, &origin, &input, settings(app)?)
        })?;
        let ctx = Context {
            issuer: &app.config.issuer,
            redirect_uri: &request.redirect_uri,
            state: request.state.as_deref(),
            client_name: &request.client.name,
        };
        Ok(render(&ctx, decision).into())
    })
    .await?;
    Ok(respond(&app, step, false))
}

fn request_failure(app: &AppState, request: &ValidRequest, error: &str, description: &str) -> Next {
    error_redirect(
        &app.config.issuer,
        &request.redirect_uri,
        request.state.as_deref(),
        error,
        description,
    )
}

#[derive(Debug, serde::Deserialize)]
pub struct PickForm {
    request: Option<String>,
    csrf: Option<String>,
    tenant: Option<String>,
}

/// The picker's answer, checked again against the memberships.
pub async fn post_authorize(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PickForm>,
) -> Result<HttpResponse, Error> {
    let form = form.into_inner();
    let (Some(request_handle), Some(csrf)) = (form.request, form.csrf) else {
        return Ok(respond(&app, Next::expired().into(), true));
    };
    let cookie = request_cookie(&req, REQUEST_COOKIE);
    let session_cookie = request_cookie(&req, SESSION_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let state = app.clone().into_inner();
    let step = blocking(move || {
        let app = &state;
        let mut conn = app.pool.get()?;
        let handle = PendingHandle {
            id: request_handle,
            csrf,
        };
        // The picker is answered by the browser that logged in, in the same session.
        let Some(held) = continued(
            &mut conn,
            handle,
            cookie.as_deref(),
            session_cookie.as_deref(),
        )?
        else {
            return Ok(Next::expired().into());
        };
        let origin = login::browser_origin(Some(&held.user.id), ip, request_id);
        // A missing answer names no tenant: it fails like a tenant the user is not in.
        let hint = form.tenant.unwrap_or_default();
        let decision = crate::db::write_tx(&mut conn, |tx| {
            decide::decide(
                tx,
                &origin,
                &held.request(Some(&hint), true),
                settings(app)?,
            )
        })?;
        Ok(render(&held.context(&app.config.issuer), decision).into())
    })
    .await?;
    Ok(respond(&app, step, true))
}
