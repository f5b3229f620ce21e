//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `GET /logout` signs out at once only with an ID token hint of the signed-in user, and otherwise asks; `POST /logout` is the confirmation.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::{expired_cookie, request_cookie, FORM_EXPIRED};
use crate::audit::Origin;
use crate::db::DbConnection;
use crate::error::Error;
use crate::http::pages::{self, LogoutPage};
use crate::http::{blocking, request_meta, AppState, SESSION_COOKIE};
use crate::login;

#[derive(Debug, serde::Deserialize)]
pub struct LogoutParams {
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    id_token_hint: Option<String>,
    state: Option<String>,
}

/// What a sign-out request leads to.
enum Logout {
    /// Ask first: a link without proof of who sent it must not sign anyone out.
    Confirm(String),
    /// Signed out (or there was nothing to end); where to go next, if anywhere.
    Done(Option<String>),
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
        let hint = params.id_token_hint.as_deref().and_then(|hint| {
            app.keys
                .current()
                .verify::<crate::tokens::IdClaims>(hint, crate::tokens::ID_TOKEN_TYP)
                .filter(|claims| claims.iss == app.config.issuer)
        });
        let hinted_client = hint
            .as_ref()
            .and_then(|c| c.aud.0.first().cloned().filter(|_| c.aud.0.len() == 1));
        let client_id = match (params.client_id, hinted_client) {
            (Some(named), Some(hinted)) if named != hinted => None,
            (named, hinted) => named.or(hinted),
        };
        let mut signed_in = None;
        if let Some(cookie) = &session_cookie {
            if let Some((_, user)) = login::current_session(&mut conn, Some(cookie))? {
                if hint.as_ref().map(|c| c.sub.as_str()) != Some(user.id.as_str()) {
                    return Ok(Logout::Confirm(login::logout_csrf(cookie)));
                }
                signed_in = Some(cookie.as_str());
            }
        }
        let origin = login::browser_origin(None, ip, request_id);
        let target = sign_out(
            &mut conn,
            &origin,
            signed_in,
            client_id.as_deref(),
            params.post_logout_redirect_uri.as_deref(),
            params.state.as_deref(),
        )?;
        Ok(Logout::Done(target))
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
        Logout::Done(target) => signed_out(&app, target, false),
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
        let app = &state;
        let (Some(cookie), Some(csrf)) = (session_cookie, form.csrf) else {
            return Ok(None);
        };
        if !login::logout_csrf_matches(&cookie, &csrf) {
            return Ok(None);
        }
        let mut conn = app.pool.get()?;
        let origin = login::browser_origin(None, ip, request_id);
        let target = sign_out(
            &mut conn,
            &origin,
            Some(&cookie),
            form.client_id.as_deref(),
            form.post_logout_redirect_uri.as_deref(),
            form.state.as_deref(),
        )?;
        Ok(Some(target))
    })
    .await?;
    Ok(match outcome {
        Some(target) => signed_out(&app, target, true),
        None => pages::message(StatusCode::FORBIDDEN, "Sign-out failed", FORM_EXPIRED),
    })
}

/// Ends the session `cookie` names (and its refresh tokens), if any, and says where
/// RP-initiated logout may send the browser next.
fn sign_out(
    conn: &mut DbConnection,
    origin: &Origin,
    cookie: Option<&str>,
    client_id: Option<&str>,
    uri: Option<&str>,
    state: Option<&str>,
) -> Result<Option<String>, Error> {
    if let Some(cookie) = cookie {
        crate::db::write_tx(conn, |tx| login::end_session(tx, origin, cookie))?;
    }
    login::post_logout_redirect(conn, client_id, uri, state)
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
