//! `GET /logout` and `POST /logout` (its confirmation): the decision is
//! `login::logout`'s; this file renders the confirmation page, the redirect and the
//! expired session cookie.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::{expired_cookie, request_cookie, FORM_EXPIRED};
use crate::error::Error;
use crate::http::pages::{self, LogoutPage};
use crate::http::{audited_write, blocking, request_meta, AppState, SESSION_COOKIE};
use crate::login::logout::{self, Logout, LogoutRequest, SignOut};
use crate::login::{self, logout::confirm_logout, logout::request_logout};

#[derive(Debug, serde::Deserialize)]
pub struct LogoutParams {
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    id_token_hint: Option<String>,
    state: Option<String>,
}

/// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). With an ID token hint
/// issued to the signed-in user it signs out at once; without one (a plain link, which
/// any site can make a browser follow) it asks for confirmation first. Afterwards it
/// redirects only to a URI registered for the client named by `client_id` or by the
/// hint's audience.
pub async fn get_logout(
    app: web::Data<AppState>,
    req: HttpRequest,
    params: web::Query<LogoutParams>,
) -> Result<HttpResponse, Error> {
    let params = params.into_inner();
    let session_cookie = request_cookie(&req, SESSION_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let state = app.clone().into_inner();
    let (client_id, uri, after) = (
        params.client_id.clone(),
        params.post_logout_redirect_uri.clone(),
        params.state.clone(),
    );
    let outcome = blocking(move || {
        let app = &state;
        let mut conn = app.pool.get()?;
        let request = LogoutRequest {
            session: session_cookie.as_deref(),
            id_token_hint: params.id_token_hint.as_deref(),
            client_id: params.client_id.as_deref(),
            post_logout_redirect_uri: params.post_logout_redirect_uri.as_deref(),
            state: params.state.as_deref(),
        };
        let keys = app.keys.current();
        request_logout(&mut conn, &keys, &app.config.issuer, &request)
    })
    .await?;
    Ok(match outcome {
        Logout::Confirm(csrf) => pages::render(
            StatusCode::OK,
            &LogoutPage {
                csrf: &csrf,
                client_id: client_id.as_deref(),
                post_logout_redirect_uri: uri.as_deref(),
                state: after.as_deref(),
            },
            None,
        ),
        Logout::Done(decided) => sign_out(&app, (ip, request_id), decided, false).await?,
    })
}

#[derive(Debug, serde::Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// The sign-out confirmation's answer: its CSRF token must belong to this browser's
/// session.
pub async fn post_logout(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, Error> {
    let form = form.into_inner();
    let session_cookie = request_cookie(&req, SESSION_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let state = app.clone().into_inner();
    let outcome = blocking(move || {
        let mut conn = state.pool.get()?;
        let request = LogoutRequest {
            session: session_cookie.as_deref(),
            id_token_hint: None,
            client_id: form.client_id.as_deref(),
            post_logout_redirect_uri: form.post_logout_redirect_uri.as_deref(),
            state: form.state.as_deref(),
        };
        confirm_logout(&mut conn, form.csrf.as_deref(), &request)
    })
    .await?;
    Ok(match outcome {
        Some(decided) => sign_out(&app, (ip, request_id), decided, true).await?,
        None => pages::message(StatusCode::FORBIDDEN, "Sign-out failed", FORM_EXPIRED),
    })
}

/// Ends the decided sign-out's session through the group-commit writer, then answers.
async fn sign_out(
    app: &web::Data<AppState>,
    (ip, request_id): (Option<String>, Option<String>),
    decided: SignOut,
    after_post: bool,
) -> Result<HttpResponse, Error> {
    let target = decided.target.clone();
    if decided.end.is_some() {
        let origin = login::browser_origin(None, ip, request_id);
        audited_write(app, move |tx| logout::finish(tx, &origin, &decided)).await?;
    }
    Ok(signed_out(app, target, after_post))
}

/// The answer once signed out: the redirect, or a page; the session cookie removed.
fn signed_out(app: &AppState, target: Option<String>, after_post: bool) -> HttpResponse {
    let mut response = match target {
        Some(location) => {
            let mut builder = if after_post {
                HttpResponse::SeeOther()
            } else {
                HttpResponse::Found()
            };
            pages::security_headers(&mut builder, "'none'");
            builder.insert_header((header::LOCATION, location)).finish()
        }
        None => pages::message(StatusCode::OK, "Signed out", "You have been signed out."),
    };
    let _ = response.add_cookie(&expired_cookie(app, SESSION_COOKIE));
    response
}
