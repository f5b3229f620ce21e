//! The browser side of login: `GET /authorize`, `POST /login`, `POST /authorize` (the
//! tenant picker's answer), `GET /logout` and `GET /userinfo`. Handlers parse, call the
//! `login`, `memberships` and `oauth::code` operations, and shape pages, cookies and
//! redirects.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::pages::{self, LoginPage, LogoutPage, PickerPage};
use super::{blocking, request_meta, AppState};
use crate::audit::Origin;
use crate::clients;
use crate::db::DbConnection;
use crate::error::Error;
use crate::login::decide::{self, Decision, Flow, Lifetimes};
use crate::login::throttle::Verdict;
use crate::login::{
    self, AuthorizeError, AuthorizeParams, PendingHandle, PendingRequest, ValidRequest,
};
use crate::oauth::code::CodeRequest;
use crate::tenants::Tenant;
use crate::users::Lockout;

pub const SESSION_COOKIE: &str = "tessera_session";
pub const REQUEST_COOKIE: &str = "tessera_authz";
/// A browser the user signed in from before (see `login::begin_login`).
pub const DEVICE_COOKIE: &str = "tessera_device";

/// What a step of the flow shows the browser next.
enum Next {
    /// The login form (with a generic error after a failed attempt).
    Login {
        handle: PendingHandle,
        client_name: String,
        redirect_uri: String,
        email: String,
        error: Option<&'static str>,
    },
    /// The tenant picker.
    Pick {
        handle: PendingHandle,
        client_name: String,
        redirect_uri: String,
        tenants: Vec<Tenant>,
    },
    /// Back to the client (a code or an error).
    Redirect(String),
    /// An error page (never a redirect: the client or the form is not trusted).
    Page(StatusCode, &'static str),
}

/// Everything a page's answer needs besides the next step.
struct Step {
    next: Next,
    set_session: Option<String>,
    /// A new known-browser cookie, after a first successful login from this browser.
    set_device: Option<String>,
}

impl From<Next> for Step {
    fn from(next: Next) -> Self {
        Self {
            next,
            set_session: None,
            set_device: None,
        }
    }
}

fn secure(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

fn cookie<'a>(
    state: &AppState,
    name: &'a str,
    value: String,
    max_age: std::time::Duration,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(secure(state))
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(3600),
        ))
        .finish()
}

fn expired_cookie<'a>(state: &AppState, name: &'a str) -> Cookie<'a> {
    let mut c = cookie(state, name, String::new(), std::time::Duration::ZERO);
    c.make_removal();
    c
}

fn respond(state: &AppState, step: Step, after_post: bool) -> HttpResponse {
    let mut response = match step.next {
        Next::Login {
            handle,
            client_name,
            redirect_uri,
            email,
            error,
        } => {
            let mut r = pages::render(
                StatusCode::OK,
                &LoginPage {
                    client_name: &client_name,
                    request: &handle.id,
                    csrf: &handle.csrf,
                    email: &email,
                    error,
                },
                pages::csp_source(&redirect_uri).as_deref(),
            );
            let value = format!("{}.{}", handle.id, handle.csrf);
            let _ = r.add_cookie(&cookie(
                state,
                REQUEST_COOKIE,
                value,
                state.config.login_request_ttl,
            ));
            r
        }
        Next::Pick {
            handle,
            client_name,
            redirect_uri,
            tenants,
        } => {
            let mut r = pages::render(
                StatusCode::OK,
                &PickerPage {
                    client_name: &client_name,
                    request: &handle.id,
                    csrf: &handle.csrf,
                    tenants: &tenants,
                },
                pages::csp_source(&redirect_uri).as_deref(),
            );
            let value = format!("{}.{}", handle.id, handle.csrf);
            let _ = r.add_cookie(&cookie(
                state,
                REQUEST_COOKIE,
                value,
                state.config.login_request_ttl,
            ));
            r
        }
        Next::Redirect(location) => {
            // 303 after a form post, so the browser does not re-send the form (RFC 9700).
            let mut builder = if after_post {
                HttpResponse::SeeOther()
            } else {
                HttpResponse::Found()
            };
            pages::security_headers(&mut builder, "'none'");
            let mut r = builder.insert_header((header::LOCATION, location)).finish();
            let _ = r.add_cookie(&expired_cookie(state, REQUEST_COOKIE));
            r
        }
        Next::Page(status, message) => pages::message(status, "Sign-in failed", message),
    };
    if let Some(device) = step.set_device {
        let ttl = crate::users::DEVICE_TTL.to_std().unwrap_or_default();
        let _ = response.add_cookie(&cookie(state, DEVICE_COOKIE, device, ttl));
    }
    if let Some(session) = step.set_session {
        let _ = response.add_cookie(&cookie(
            state,
            SESSION_COOKIE,
            session,
            state.config.session_ttl,
        ));
    }
    response
}

/// `redirect_uri` with `params` added to its query.
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Next {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            Next::Redirect(url.to_string())
        }
        Err(_) => Next::Page(StatusCode::BAD_REQUEST, "The redirect URI is not valid."),
    }
}

fn error_redirect(
    issuer: &str,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Next {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    params.push(("iss", issuer));
    redirect_with(redirect_uri, &params)
}

fn authorize_error(issuer: &str, e: AuthorizeError) -> Result<Next, Error> {
    match e {
        AuthorizeError::Page(message) => Ok(Next::Page(StatusCode::BAD_REQUEST, message)),
        AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
            description,
        } => Ok(error_redirect(
            issuer,
            &redirect_uri,
            state.as_deref(),
            error,
            description,
        )),
        AuthorizeError::Internal(e) => Err(e),
    }
}

/// What the rendering of a decision needs besides the decision.
struct Context<'a> {
    issuer: &'a str,
    redirect_uri: &'a str,
    state: Option<&'a str>,
    client_name: &'a str,
}

/// The page or redirect that shows `decision`.
fn render(ctx: &Context<'_>, decision: Decision) -> Next {
    match decision {
        Decision::Code(code) => {
            let mut params = vec![("code", code.as_str())];
            if let Some(state) = ctx.state {
                params.push(("state", state));
            }
            params.push(("iss", ctx.issuer));
            redirect_with(ctx.redirect_uri, &params)
        }
        Decision::PickTenant { handle, tenants } => Next::Pick {
            handle,
            client_name: ctx.client_name.to_owned(),
            redirect_uri: ctx.redirect_uri.to_owned(),
            tenants,
        },
        Decision::InteractionRequired => error_redirect(
            ctx.issuer,
            ctx.redirect_uri,
            ctx.state,
            "interaction_required",
            "the user must choose a tenant",
        ),
        Decision::Denied => error_redirect(
            ctx.issuer,
            ctx.redirect_uri,
            ctx.state,
            "access_denied",
            "the user has no access to the requested tenant",
        ),
    }
}

fn lifetimes(app: &AppState) -> Lifetimes {
    Lifetimes {
        code: app.config.auth_code_ttl,
        pending: app.config.login_request_ttl,
    }
}

/// The code a pending request will lead to.
fn pending_code<'a>(pending: &'a PendingRequest, session_hash: &'a str) -> CodeRequest<'a> {
    CodeRequest {
        client_id: &pending.client_id,
        redirect_uri: &pending.redirect_uri,
        scope: &pending.scope,
        nonce: pending.nonce.as_deref(),
        code_challenge: &pending.code_challenge,
        session_hash: Some(session_hash),
    }
}

fn request_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_owned())
}

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
                },
                client_tenant: request.client.tenant_id.as_deref(),
                user: &user,
                auth_time: session.auth_time,
                hint: request.tenant_hint.as_deref(),
                no_prompt: request.no_prompt,
            };
            decide::decide(tx, &origin, &input, lifetimes(app))
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
pub struct LoginForm {
    request: Option<String>,
    csrf: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

const FORM_EXPIRED: &str =
    "This sign-in form has expired or was not issued to this browser. Return to the application and try again.";
const INVALID_CREDENTIALS: &str = "Invalid email or password.";

pub async fn post_login(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, Error> {
    let form = form.into_inner();
    let (Some(request_handle), Some(csrf)) = (form.request, form.csrf) else {
        return Ok(respond(
            &app,
            Next::Page(StatusCode::FORBIDDEN, FORM_EXPIRED).into(),
            true,
        ));
    };
    let email = form.email.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let cookie = request_cookie(&req, REQUEST_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let policy = Lockout {
        max_failures: app.config.login_max_failures,
        duration: app.config.lockout,
    };

    // 0. The source's allowance, then a place in the hashing pool: a login refused for
    //    either must not have reserved an attempt of the account.
    let source = super::client_ip(&req).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if let Verdict::Throttled { audit } = app.throttle.check(source) {
        crate::metrics::login_throttled();
        if audit {
            let state = app.clone().into_inner();
            let origin = login::browser_origin(None, ip.clone(), request_id.clone());
            blocking(move || {
                let mut conn = state.pool.get()?;
                crate::db::write_tx(&mut conn, |tx| login::record_throttled(tx, &origin))
            })
            .await?;
        }
        return Ok(throttled());
    }
    let Ok(slot) = app.hasher.admit() else {
        return Ok(busy());
    };

    // 1. The form must belong to this browser; reserve an attempt for the account.
    let state = app.clone().into_inner();
    let (handle_id, csrf_value, email_for_lookup) =
        (request_handle.clone(), csrf.clone(), email.clone());
    let device_cookie = request_cookie(&req, DEVICE_COOKIE);
    let first = blocking(move || {
        let mut conn = state.pool.get()?;
        let pending =
            match login::load_pending(&mut conn, &handle_id, &csrf_value, cookie.as_deref()) {
                Ok(pending) => pending,
                Err(Error::Forbidden) => return Ok(None),
                Err(e) => return Err(e),
            };
        let attempt = crate::db::write_tx(&mut conn, |tx| {
            login::begin_login(tx, &email_for_lookup, device_cookie.as_deref(), policy)
        })?;
        Ok(Some((pending, attempt)))
    })
    .await?;
    let Some((pending, mut attempt)) = first else {
        return Ok(respond(
            &app,
            Next::Page(StatusCode::FORBIDDEN, FORM_EXPIRED).into(),
            true,
        ));
    };

    // 2. The password, on the bounded hashing pool (a dummy hash when there is no
    //    usable account, so every failure costs the same).
    let evaluated = attempt.hash.is_some();
    let matched = match app.hasher.verify(slot, password, attempt.hash.take()).await {
        Ok(matched) => matched,
        Err(Error::Unavailable) => return Ok(busy()),
        Err(e) => return Err(e),
    };

    // 3. Settle the attempt; on success open a session and continue the authorization.
    // An active account whose password was not evaluated was locked.
    let refused = attempt.user.as_ref().is_some_and(|u| u.status == "active") && !evaluated;
    let state = app.clone().into_inner();
    let step = blocking(move || {
        let app = &state;
        let mut conn = app.pool.get()?;
        let client = clients::find(&mut conn, &pending.client_id)?;
        let user = attempt.user.as_ref();
        let origin = login::browser_origin(user.map(|u| u.id.as_str()), ip, request_id);
        crate::db::write_tx(&mut conn, |tx| {
            let outcome = login::finish_login(
                tx,
                &origin,
                &attempt,
                matched,
                policy,
                app.config.session_ttl,
            )?;
            let (
                Some(login::SignedIn {
                    session,
                    auth_time,
                    device,
                }),
                Some(user),
            ) = (outcome, user)
            else {
                return Ok(Step::from(Next::Login {
                    handle: PendingHandle {
                        id: request_handle.clone(),
                        csrf: csrf.clone(),
                    },
                    client_name: client.name.clone(),
                    redirect_uri: pending.redirect_uri.clone(),
                    email: email.clone(),
                    error: Some(INVALID_CREDENTIALS),
                }));
            };
            let session_hash = crate::tokens::opaque_hash(&session);
            let handle = PendingHandle {
                id: request_handle.clone(),
                csrf: csrf.clone(),
            };
            let input = decide::Request {
                flow: Flow::Pending {
                    row: &pending,
                    handle: &handle,
                },
                code: pending_code(&pending, &session_hash),
                client_tenant: client.tenant_id.as_deref(),
                user,
                auth_time,
                hint: pending.tenant_hint.as_deref(),
                no_prompt: false,
            };
            let decision = decide::decide(tx, &origin, &input, lifetimes(app))?;
            let ctx = Context {
                issuer: &app.config.issuer,
                redirect_uri: &pending.redirect_uri,
                state: pending.state.as_deref(),
                client_name: &client.name,
            };
            Ok(Step {
                next: render(&ctx, decision),
                set_session: Some(session),
                set_device: device,
            })
        })
    })
    .await?;
    crate::metrics::login(match (&step.set_session, refused) {
        (Some(_), _) => "success",
        (None, true) => "locked",
        (None, false) => "failure",
    });
    Ok(respond(&app, step, true))
}

fn throttled() -> HttpResponse {
    let mut response = pages::message(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "Too many sign-in attempts from your network. Wait a minute and try again.",
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from_static("60"),
    );
    response
}

fn busy() -> HttpResponse {
    pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "The sign-in service is busy. Please try again in a moment.",
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
        return Ok(respond(
            &app,
            Next::Page(StatusCode::FORBIDDEN, FORM_EXPIRED).into(),
            true,
        ));
    };
    let cookie = request_cookie(&req, REQUEST_COOKIE);
    let session_cookie = request_cookie(&req, SESSION_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let state = app.clone().into_inner();
    let step = blocking(move || {
        let app = &state;
        let mut conn = app.pool.get()?;
        let pending =
            match login::load_pending(&mut conn, &request_handle, &csrf, cookie.as_deref()) {
                Ok(pending) => pending,
                Err(Error::Forbidden) => {
                    return Ok(Next::Page(StatusCode::FORBIDDEN, FORM_EXPIRED).into())
                }
                Err(e) => return Err(e),
            };
        // The picker is answered by the browser that logged in, in the same session.
        let session = login::current_session(&mut conn, session_cookie.as_deref())?;
        let (Some(user_id), Some(auth_time), Some((session, user))) =
            (&pending.user_id, pending.auth_time, session)
        else {
            return Ok(Next::Page(StatusCode::FORBIDDEN, FORM_EXPIRED).into());
        };
        if &user.id != user_id {
            return Ok(Next::Page(StatusCode::FORBIDDEN, FORM_EXPIRED).into());
        }
        let client = clients::find(&mut conn, &pending.client_id)?;
        let origin = login::browser_origin(Some(&user.id), ip, request_id);
        // A missing answer names no tenant: it fails like a tenant the user is not in.
        let hint = form.tenant.unwrap_or_default();
        let handle = PendingHandle {
            id: request_handle.clone(),
            csrf: csrf.clone(),
        };
        let decision = crate::db::write_tx(&mut conn, |tx| {
            let input = decide::Request {
                flow: Flow::Pending {
                    row: &pending,
                    handle: &handle,
                },
                code: pending_code(&pending, &session.id_hash),
                client_tenant: client.tenant_id.as_deref(),
                user: &user,
                auth_time,
                hint: Some(&hint),
                // The picker was answered: another one would loop.
                no_prompt: true,
            };
            decide::decide(tx, &origin, &input, lifetimes(app))
        })?;
        let ctx = Context {
            issuer: &app.config.issuer,
            redirect_uri: &pending.redirect_uri,
            state: pending.state.as_deref(),
            client_name: &client.name,
        };
        Ok(render(&ctx, decision).into())
    })
    .await?;
    Ok(respond(&app, step, true))
}

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
