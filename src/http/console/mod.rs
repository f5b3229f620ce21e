//! `/console`: the security console, server-rendered pages for auditors and admins.
//!
//! It signs readers in as an OAuth client of this very server (authorization code +
//! PKCE, its client registered at start by `console::client`), so the login page,
//! lockout, tenant picker and second factor are the same as for every application.
//! The code is redeemed in-process, the access token verified, and its claims kept in
//! a server-side session (`console::session`); the browser holds only a random cookie
//! (`HttpOnly`, `SameSite=Strict`, `Secure` under https). Every page is `no-store`
//! under a CSP with no inline script or style and `frame-ancestors 'none'`; every form
//! carries a CSRF token derived from the cookie.
//!
//! What a reader sees is decided by `access::read_logs`, exactly as for `/api/v1`, and
//! every read is recorded the same way. An event, token or tenant of another tenant is
//! "Not found", like one that does not exist.

mod charts;
mod checkpoints;
mod events;
mod forms;
mod overview;
mod rows;
mod tokens;
mod views;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::{blocking, request_meta, AppState};
use crate::access::{self, Reader, Recorded, Target, TenantContext};
use crate::db::DbConnection;
use crate::error::Error;
use crate::login::{session_csrf, session_csrf_matches};

/// The console session's cookie.
pub const COOKIE: &str = "tessera_console";
const CSRF_PURPOSE: &str = "console";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(overview::get_overview))
        .route("/console/login", web::get().to(get_login))
        .route("/console/callback", web::get().to(get_callback))
        .route("/console/logout", web::post().to(post_logout))
        .route("/console/time-zone", web::post().to(post_time_zone))
        .route("/console/verify", web::post().to(overview::post_verify))
        .route("/console/events", web::get().to(events::get_events))
        .route("/console/events/export", web::get().to(events::get_export))
        .route(
            "/console/events/{tenant}/{seq}",
            web::get().to(events::get_event),
        )
        .route("/console/tokens", web::get().to(tokens::get_tokens))
        .route("/console/tokens/{jti}", web::get().to(tokens::get_token))
        .route(
            "/console/tokens/{jti}/revoke",
            web::get().to(tokens::get_revoke),
        )
        .route(
            "/console/tokens/{jti}/revoke",
            web::post().to(tokens::post_revoke),
        )
        .route("/console/checkpoints", web::get().to(checkpoints::get_page))
        .route(
            "/console/checkpoints",
            web::post().to(checkpoints::post_take),
        )
        .route(
            "/console/checkpoints/check",
            web::post().to(checkpoints::post_check),
        )
        .route("/assets/console.css", web::get().to(get_css));
}

/// A signed-in reader who may read logs.
pub(super) struct Console {
    pub ctx: TenantContext,
    pub cookie: String,
    pub time_zone: Option<chrono_tz::Tz>,
}

impl Console {
    pub fn csrf(&self) -> String {
        session_csrf(CSRF_PURPOSE, &self.cookie)
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, presented: &str) -> crate::error::Result<()> {
        if session_csrf_matches(CSRF_PURPOSE, &self.cookie, presented) {
            Ok(())
        } else {
            Err(STALE_FORM)
        }
    }

    /// Runs `read` on a pooled connection through `access::read_logs` for this reader:
    /// authorized for `selector`, recorded as `action`; what every console page reads.
    pub async fn read_logs<T: Send + 'static>(
        &self,
        state: &web::Data<AppState>,
        selector: Option<String>,
        action: &'static str,
        read: impl FnOnce(&mut DbConnection, &Target, &AppState) -> crate::error::Result<(T, Recorded)>
            + Send
            + 'static,
    ) -> crate::error::Result<T> {
        let ctx = self.ctx.clone();
        let state = state.clone().into_inner();
        blocking(move || {
            let mut conn = state.pool.get()?;
            access::read_logs(
                &mut conn,
                Reader::Caller(&ctx),
                selector.as_deref(),
                action,
                |conn, target| read(conn, target, &state),
            )
        })
        .await
    }

    /// What every page's header shows and posts.
    pub fn nav(&self, section: &'static str) -> views::Nav {
        views::Nav {
            section,
            tenant: self.ctx.tenant.clone(),
            roles: self
                .ctx
                .roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            platform: self.ctx.is_platform(),
            csrf: self.csrf(),
            time_zone: self
                .time_zone
                .map(|tz| tz.name().to_owned())
                .unwrap_or_default(),
        }
    }

    pub fn clock(&self) -> views::Clock {
        views::Clock(self.time_zone)
    }
}

/// Why a page is not shown.
pub(super) enum Refusal {
    /// Not signed in (or the session ended): sign in, then come back here.
    SignIn(String),
    Page(HttpResponse),
}

impl From<Refusal> for HttpResponse {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::SignIn(return_to) => {
                let mut url = url::form_urlencoded::Serializer::new(String::new());
                url.append_pair("return_to", &return_to);
                see_other(&format!("/console/login?{}", url.finish()))
            }
            Refusal::Page(page) => page,
        }
    }
}

/// The reader of this request: signed in, token unexpired and unrevoked, allowed to
/// read logs (everyone else: the generic 403 page).
pub(super) async fn reader(
    req: &HttpRequest,
    state: &web::Data<AppState>,
) -> Result<Console, Refusal> {
    let return_to = if req.method() == actix_web::http::Method::GET {
        req.uri()
            .path_and_query()
            .map_or("/console".to_owned(), |p| p.as_str().to_owned())
    } else {
        "/console".to_owned()
    };
    let Some(cookie) = req.cookie(COOKIE).map(|c| c.value().to_owned()) else {
        return Err(Refusal::SignIn(return_to));
    };
    let (ip, request_id) = request_meta(req);
    let state = state.clone().into_inner();
    let found = {
        let cookie = cookie.clone();
        blocking(move || {
            let mut conn = state.pool.get()?;
            crate::console::session::reader(&mut conn, &cookie)
        })
        .await
    };
    match found {
        Ok(Some(reader)) => {
            let ctx = TenantContext::from_claims(reader.claims, ip, request_id);
            if !ctx.can_read_logs() {
                return Err(Refusal::Page(forbidden(&cookie)));
            }
            Ok(Console {
                ctx,
                cookie,
                time_zone: reader.time_zone,
            })
        }
        Ok(None) => Err(Refusal::SignIn(return_to)),
        Err(e) => Err(Refusal::Page(failure(e))),
    }
}

/// The same page for everyone signed in who may not read logs.
fn forbidden(cookie: &str) -> HttpResponse {
    let csrf = session_csrf(CSRF_PURPOSE, cookie);
    render(
        StatusCode::FORBIDDEN,
        &views::Message {
            nav: None,
            title: "No access",
            message: "This account may not use the security console. Ask an administrator for the auditor role.",
            sign_out_csrf: Some(&csrf),
        },
    )
}

/// A form whose CSRF token is not the session's.
const STALE_FORM: Error = Error::Invalid("form: reload the page and try again");

/// The page for a failed request: generic words, the cause logged for 5xx only.
pub(super) fn failure(e: Error) -> HttpResponse {
    let (status, title, message): (StatusCode, &str, String) = match &e {
        Error::NotFound | Error::Forbidden => (
            StatusCode::NOT_FOUND,
            "Not found",
            "There is nothing here, or nothing you may see.".to_owned(),
        ),
        Error::Invalid(what) => (
            StatusCode::BAD_REQUEST,
            "Invalid request",
            format!("Invalid {what}."),
        ),
        Error::BadRequest(what) => (StatusCode::BAD_REQUEST, "Invalid request", what.clone()),
        Error::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            "That file is too large.".to_owned(),
        ),
        Error::TooManyRequests => (
            StatusCode::TOO_MANY_REQUESTS,
            "Busy",
            "Another long read of yours is running; try again when it is done.".to_owned(),
        ),
        Error::Unavailable | Error::Outage(_) | Error::RequestTimeout => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "The service is unavailable for a moment; try again shortly.".to_owned(),
        ),
        _ => {
            log::error!("console request failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The request could not be completed.".to_owned(),
            )
        }
    };
    render(
        status,
        &views::Message {
            nav: None,
            title,
            message: &message,
            sign_out_csrf: None,
        },
    )
}

/// A console page with its headers: no caching, no framing, and a CSP allowing only
/// the console's own stylesheet and forms (no script at all).
pub(super) fn render(status: StatusCode, page: &impl Template) -> HttpResponse {
    let body = match page.render() {
        Ok(body) => body,
        Err(e) => {
            log::error!("console page rendering failed: {e}");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let mut response = HttpResponse::build(status);
    super::pages::security_headers(&mut response, "'self'");
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

pub(super) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(super) fn see_other(location: &str) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    super::pages::security_headers(&mut response, "'self'");
    response
        .insert_header((header::LOCATION, location))
        .finish()
}

fn session_cookie(state: &AppState, value: &str) -> Cookie<'static> {
    let mut cookie = Cookie::build(COOKIE, value.to_owned())
        .path("/console")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.issuer.starts_with("https://"))
        .finish();
    if value.is_empty() {
        cookie.make_removal();
    }
    cookie
}

/// Only a console path may be returned to after signing in.
fn safe_return(path: Option<&str>) -> String {
    match path {
        Some(p)
            if (p == "/console" || p.starts_with("/console/") || p.starts_with("/console?"))
                && !p.contains("//")
                && !p.contains('\\')
                && !p.starts_with("/console/callback")
                && p.len() <= 2000 =>
        {
            p.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    return_to: Option<String>,
}

/// `GET /console/login`: starts a sign-in (a new session row, PKCE verifier kept
/// server-side) and sends the browser to `/authorize`.
async fn get_login(state: web::Data<AppState>, q: web::Query<LoginQuery>) -> HttpResponse {
    let return_to = safe_return(q.return_to.as_deref());
    let data = state.clone().into_inner();
    let begun = blocking(move || {
        let mut conn = data.pool.get()?;
        crate::console::session::begin(&mut conn, &return_to)
    })
    .await;
    let sign_in = match begun {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", crate::console::CLIENT_ID)
        .append_pair(
            "redirect_uri",
            &crate::console::redirect_uri(&state.config.issuer),
        )
        .append_pair("scope", "openid")
        .append_pair("state", &sign_in.state)
        .append_pair("code_challenge", &sign_in.code_challenge)
        .append_pair("code_challenge_method", "S256");
    if state.config.console_require_mfa {
        query.append_pair("acr_values", crate::login::MFA_ACR);
    }
    let mut response = see_other(&format!("/authorize?{}", query.finish()));
    let _ = response.add_cookie(&session_cookie(&state, &sign_in.cookie));
    response
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /console/callback`: the end of a sign-in. The state must be the one this
/// browser's session sent; the code is redeemed in-process with the session's PKCE
/// verifier, and the access token verified like any API caller's.
async fn get_callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<CallbackQuery>,
) -> HttpResponse {
    let q = q.into_inner();
    let refused = || {
        render(
            StatusCode::BAD_REQUEST,
            &views::Message {
                nav: None,
                title: "Sign-in not completed",
                message: "The sign-in could not be completed. Start again from the console.",
                sign_out_csrf: None,
            },
        )
    };
    let (Some(cookie), Some(code), Some(returned_state)) = (
        req.cookie(COOKIE).map(|c| c.value().to_owned()),
        q.code.filter(|_| q.error.is_none()),
        q.state,
    ) else {
        return refused();
    };
    let (ip, request_id) = request_meta(&req);
    let data = state.clone().into_inner();
    let done = blocking(move || {
        let mut conn = data.pool.get()?;
        let Some(returning) =
            crate::console::session::take_sign_in(&mut conn, &cookie, &returned_state)?
        else {
            return Ok(None);
        };
        let client =
            crate::clients::find(&mut conn, crate::console::CLIENT_ID)?.ok_or(Error::NotFound)?;
        let origin = crate::oauth::client_origin(&client, ip, request_id);
        let keys = data.keys.current();
        let redirect_uri = crate::console::redirect_uri(&data.config.issuer);
        let exchanged = crate::oauth::code::exchange_code(
            &mut conn,
            &keys,
            &data.config,
            &origin,
            &client,
            &crate::oauth::code::CodeExchange {
                code: &code,
                redirect_uri: Some(&redirect_uri),
                code_verifier: Some(&returning.code_verifier),
            },
        );
        let Ok(response) = exchanged else {
            return Ok(None);
        };
        let Some(verified) = crate::tokens::verify_access_token(
            &mut conn,
            &keys,
            &data.config.issuer,
            &response.access_token,
        )?
        else {
            return Ok(None);
        };
        if data.config.console_require_mfa
            && verified.claims.acr.as_deref() != Some(crate::login::MFA_ACR)
        {
            return Ok(None);
        }
        crate::console::session::complete(&mut conn, &cookie, &verified.claims)?;
        Ok(Some(returning.return_to))
    })
    .await;
    match done {
        Ok(Some(return_to)) => see_other(&return_to),
        Ok(None) => refused(),
        Err(e) => failure(e),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    csrf: String,
}

/// `POST /console/logout`: ends the console session and revokes its access token.
/// The single-sign-on session stays (`/logout` ends it).
async fn post_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<CsrfForm>,
) -> HttpResponse {
    let Some(cookie) = req.cookie(COOKIE).map(|c| c.value().to_owned()) else {
        return see_other("/console");
    };
    if !session_csrf_matches(CSRF_PURPOSE, &cookie, &form.csrf) {
        return failure(STALE_FORM);
    }
    let (ip, request_id) = request_meta(&req);
    let data = state.clone().into_inner();
    let ended = blocking(move || {
        let mut conn = data.pool.get()?;
        if let Some(claims) = crate::console::session::end(&mut conn, &cookie)? {
            let ctx = TenantContext::from_claims(claims, ip, request_id);
            let origin = ctx.origin();
            crate::db::write_tx(&mut conn, |tx| {
                crate::tokens::revoke(tx, &origin, &ctx.tenant_id, &ctx.jti, "console_logout")
            })?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = ended {
        return failure(e);
    }
    let mut response = render(
        StatusCode::OK,
        &views::Message {
            nav: None,
            title: "Signed out of the console",
            message: "Your console session has ended. Sign-in to other applications is unchanged.",
            sign_out_csrf: None,
        },
    );
    let _ = response.add_cookie(&session_cookie(&state, ""));
    response
}

#[derive(Deserialize)]
pub(super) struct TimeZoneForm {
    csrf: String,
    time_zone: String,
    return_to: Option<String>,
}

/// `POST /console/time-zone`: shows times in an IANA zone besides UTC (empty: UTC only).
async fn post_time_zone(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TimeZoneForm>,
) -> HttpResponse {
    let console = match reader(&req, &state).await {
        Ok(c) => c,
        Err(r) => return r.into(),
    };
    if let Err(e) = console.check_csrf(&form.csrf) {
        return failure(e);
    }
    let text = form.time_zone.trim();
    let zone = if text.is_empty() || text.eq_ignore_ascii_case("utc") {
        None
    } else {
        match text.parse::<chrono_tz::Tz>() {
            Ok(tz) => Some(tz),
            Err(_) => {
                return failure(Error::Invalid(
                    "time zone: use an IANA name such as Europe/Berlin",
                ))
            }
        }
    };
    let data = state.into_inner();
    let cookie = console.cookie.clone();
    if let Err(e) = blocking(move || {
        let mut conn = data.pool.get()?;
        crate::console::session::set_time_zone(&mut conn, &cookie, zone)
    })
    .await
    {
        return failure(e);
    }
    see_other(&safe_return(form.return_to.as_deref()))
}

/// `GET /assets/console.css`: the console's one stylesheet, embedded in the binary.
async fn get_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(include_str!("../../../assets/console.css"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_returned_to() {
        assert_eq!(
            safe_return(Some("/console/events?actor=a")),
            "/console/events?actor=a"
        );
        assert_eq!(
            safe_return(Some("/console?window=7d")),
            "/console?window=7d"
        );
        for bad in [
            "https://evil.example/console",
            "//evil.example/console",
            "/console//evil",
            "/consolex",
            "/console/callback?code=x",
            "/console\\..\\x",
        ] {
            assert_eq!(safe_return(Some(bad)), "/console", "{bad}");
        }
        assert_eq!(safe_return(None), "/console");
    }
}
