//! The browser side of the code flow: `GET /authorize`, `POST /login`, `POST
//! /authorize` (the tenant picker's answer) and RP-initiated logout. The handlers parse
//! the request, call `login` (whose [`crate::login::decide::decide`] decides the
//! outcome) and render it here: pages, cookies and redirects.
//!
//! | file | routes |
//! |---|---|
//! | `authorize.rs` | `GET /authorize`, `POST /authorize` (picker) |
//! | `login.rs` | `POST /login` |
//! | `factor.rs` | `POST /login/factor`, `/login/webauthn/begin`, `/login/webauthn`, `/login/enrol`, `/login/continue` |
//! | `logout.rs` | `GET /logout`, `POST /logout` |
//! | `account.rs` | `GET /account`, `POST /account/…` (a user's own factors) |

mod account;
mod authorize;
mod factor;
mod login;
mod logout;

pub use account::{
    get_account, post_account_login, post_passkey, post_passkey_begin,
    post_passkey_login as post_account_passkey_login,
    post_passkey_login_begin as post_account_passkey_login_begin, post_passkey_remove,
    post_recovery, post_totp, post_totp_confirm, post_totp_remove,
};
pub use authorize::{get_authorize, post_authorize};
pub use factor::{post_continue, post_enrol, post_factor, post_webauthn, post_webauthn_begin};
pub use login::{
    post_login, post_passkey as post_passkey_login, post_passkey_begin as post_passkey_login_begin,
};
pub use logout::{get_logout, post_logout};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};

use super::pages::{self, EnrolPage, LoginPage, PickerPage, RecoveryCodesPage, SecondFactorPage};
use super::AppState;
use crate::error::Error;
use crate::login::decide::{self, Decision, Settings};
use crate::login::store::PendingRequest;
use crate::login::{AuthorizeError, PendingHandle};
use crate::oauth::code::CodeRequest;
use crate::tenants::Tenant;

use crate::http::{DEVICE_COOKIE, REQUEST_COOKIE, SESSION_COOKIE};

/// What a step of the flow shows the browser next.
pub(super) enum Next {
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
    /// The second-factor page.
    SecondFactor {
        handle: PendingHandle,
        client_name: String,
        redirect_uri: String,
        error: Option<&'static str>,
        /// Offer the user's passkey (the page then loads the script).
        passkey: bool,
    },
    /// The TOTP enrolment page.
    Enrol {
        handle: PendingHandle,
        client_name: String,
        redirect_uri: String,
        enrolment: crate::mfa::Enrolment,
        error: Option<&'static str>,
    },
    /// The recovery codes of a new enrolment, shown once, then on to the client.
    RecoveryCodes {
        handle: PendingHandle,
        redirect_uri: String,
        codes: Vec<String>,
    },
    /// Back to the client (a code or an error).
    Redirect(String),
    /// An error page (never a redirect: the client or the form is not trusted).
    Page(StatusCode, &'static str),
}

/// Everything a page's answer needs besides the next step.
pub(super) struct Step {
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

pub(super) fn secure(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

pub(super) fn cookie<'a>(
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

pub(super) fn expired_cookie<'a>(state: &AppState, name: &'a str) -> Cookie<'a> {
    let mut c = cookie(state, name, String::new(), std::time::Duration::ZERO);
    c.make_removal();
    c
}

pub(super) fn respond(state: &AppState, step: Step, after_post: bool) -> HttpResponse {
    let mut response = match step.next {
        Next::Login {
            handle,
            client_name,
            redirect_uri,
            email,
            error,
        } => {
            // A passkey can sign in without a password where the issuer has passkeys.
            let nonce = state.webauthn.is_some().then(pages::nonce);
            let mut r = pages::render_with_script(
                StatusCode::OK,
                &LoginPage {
                    client_name: &client_name,
                    request: &handle.id,
                    csrf: &handle.csrf,
                    email: &email,
                    error,
                    nonce: nonce.as_deref(),
                },
                pages::csp_source(&redirect_uri).as_deref(),
                nonce.as_deref(),
            );
            let _ = r.add_cookie(&request_cookie_of(state, &handle));
            r
        }
        Next::Pick {
            handle,
            client_name,
            redirect_uri,
            tenants,
        } => held_page(
            state,
            &handle,
            &PickerPage {
                client_name: &client_name,
                request: &handle.id,
                csrf: &handle.csrf,
                tenants: &tenants,
            },
            &redirect_uri,
        ),
        Next::SecondFactor {
            handle,
            client_name,
            redirect_uri,
            error,
            passkey,
        } => {
            let nonce = (passkey && state.webauthn.is_some()).then(pages::nonce);
            let mut r = pages::render_with_script(
                StatusCode::OK,
                &SecondFactorPage {
                    client_name: &client_name,
                    request: &handle.id,
                    csrf: &handle.csrf,
                    error,
                    nonce: nonce.as_deref(),
                },
                pages::csp_source(&redirect_uri).as_deref(),
                nonce.as_deref(),
            );
            let _ = r.add_cookie(&request_cookie_of(state, &handle));
            r
        }
        Next::Enrol {
            handle,
            client_name,
            redirect_uri,
            enrolment,
            error,
        } => held_page(
            state,
            &handle,
            &EnrolPage {
                client_name: &client_name,
                request: &handle.id,
                csrf: &handle.csrf,
                action: "/login/enrol",
                uri: &enrolment.uri,
                qr_svg: &enrolment.qr_svg,
                error,
            },
            &redirect_uri,
        ),
        Next::RecoveryCodes {
            handle,
            redirect_uri,
            codes,
        } => held_page(
            state,
            &handle,
            &RecoveryCodesPage {
                codes: &codes,
                action: "/login/continue",
                request: &handle.id,
                csrf: &handle.csrf,
            },
            &redirect_uri,
        ),
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

/// A page of a pending request: rendered, with the cookie that binds the request to
/// this browser. `redirect_uri` is where the page's form may lead (its CSP).
fn held_page(
    state: &AppState,
    handle: &PendingHandle,
    page: &impl askama::Template,
    redirect_uri: &str,
) -> HttpResponse {
    let mut r = pages::render(
        StatusCode::OK,
        page,
        pages::csp_source(redirect_uri).as_deref(),
    );
    let _ = r.add_cookie(&request_cookie_of(state, handle));
    r
}

/// The cookie that binds a pending request to this browser.
fn request_cookie_of<'a>(state: &AppState, handle: &PendingHandle) -> Cookie<'a> {
    let value = format!("{}.{}", handle.id, handle.csrf);
    cookie(state, REQUEST_COOKIE, value, state.config.login_request_ttl)
}

/// `redirect_uri` with `params` added to its query.
pub(super) fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Next {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(params);
            Next::Redirect(url.to_string())
        }
        Err(_) => Next::Page(StatusCode::BAD_REQUEST, "The redirect URI is not valid."),
    }
}

pub(super) fn error_redirect(
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

pub(super) fn authorize_error(issuer: &str, e: AuthorizeError) -> Result<Next, Error> {
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
pub(super) struct Context<'a> {
    issuer: &'a str,
    redirect_uri: &'a str,
    state: Option<&'a str>,
    client_name: &'a str,
}

/// The page or redirect that shows `decision`.
pub(super) fn render(ctx: &Context<'_>, decision: Decision) -> Next {
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
        Decision::SecondFactor { handle, passkey } => Next::SecondFactor {
            handle,
            client_name: ctx.client_name.to_owned(),
            redirect_uri: ctx.redirect_uri.to_owned(),
            error: None,
            passkey,
        },
        Decision::Enrol { handle, enrolment } => Next::Enrol {
            handle,
            client_name: ctx.client_name.to_owned(),
            redirect_uri: ctx.redirect_uri.to_owned(),
            enrolment,
            error: None,
        },
        Decision::InteractionRequired(description) => error_redirect(
            ctx.issuer,
            ctx.redirect_uri,
            ctx.state,
            "interaction_required",
            description,
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

/// The lockout every sign-in path counts attempts under.
pub(super) fn lockout(app: &AppState) -> crate::users::Lockout {
    crate::users::Lockout {
        max_failures: app.config.login_max_failures,
        duration: app.config.lockout,
    }
}

/// Seconds since the epoch, for TOTP steps.
pub(super) fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

pub(super) fn settings(app: &AppState) -> Result<Settings<'_>, Error> {
    Ok(Settings {
        code: app.config.auth_code_ttl,
        pending: app.config.login_request_ttl,
        sealer: app.sealer()?,
        label: &app.mfa_label,
    })
}

/// The code a pending request will lead to.
pub(super) fn pending_code<'a>(
    pending: &'a PendingRequest,
    session_hash: &'a str,
    amr: &'a str,
) -> CodeRequest<'a> {
    CodeRequest {
        client_id: &pending.client_id,
        redirect_uri: &pending.redirect_uri,
        scope: &pending.scope,
        nonce: pending.nonce.as_deref(),
        code_challenge: &pending.code_challenge,
        session_hash: Some(session_hash),
        amr,
    }
}

pub(super) fn request_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.cookie(name).map(|c| c.value().to_owned())
}

/// A pending request continued by a form, with the signed-in browser that started it.
pub(super) struct Continued {
    pub pending: PendingRequest,
    pub session: crate::login::Session,
    pub user: crate::users::User,
    pub client: crate::clients::Client,
    pub handle: PendingHandle,
}

/// The pending request a form continues: its handle, the browser's request cookie and
/// the CSRF token agree, and the browser's session is that of the user who logged in.
/// `None` for anything else (the caller shows the expired page).
pub(super) fn continued(
    conn: &mut crate::db::DbConnection,
    handle: PendingHandle,
    request_cookie: Option<&str>,
    session_cookie: Option<&str>,
) -> Result<Option<Continued>, Error> {
    let pending = match crate::login::load_pending(conn, &handle.id, &handle.csrf, request_cookie) {
        Ok(pending) => pending,
        Err(Error::Forbidden) => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some((session, user)) = crate::login::current_session(conn, session_cookie)? else {
        return Ok(None);
    };
    if pending.user_id.as_deref() != Some(user.id.as_str()) || pending.auth_time.is_none() {
        return Ok(None);
    }
    let client = crate::clients::find(conn, &pending.client_id)?.ok_or(Error::NotFound)?;
    Ok(Some(Continued {
        pending,
        session,
        user,
        client,
        handle,
    }))
}

impl Continued {
    pub(super) fn context<'a>(&'a self, issuer: &'a str) -> Context<'a> {
        Context {
            issuer,
            redirect_uri: &self.pending.redirect_uri,
            state: self.pending.state.as_deref(),
            client_name: &self.client.name,
        }
    }

    /// The decision's input for this request, the tenant named by `hint`.
    pub(super) fn request<'a>(
        &'a self,
        hint: Option<&'a str>,
        picked: bool,
    ) -> decide::Request<'a> {
        decide::Request {
            flow: decide::Flow::Pending {
                row: &self.pending,
                handle: &self.handle,
            },
            code: pending_code(&self.pending, &self.session.id_hash, &self.session.amr),
            client_tenant: self.client.tenant_id.as_deref(),
            user: &self.user,
            auth_time: self.pending.auth_time.unwrap_or(self.session.auth_time),
            hint,
            no_prompt: false,
            picked,
            wants_mfa: self.pending.wants_mfa(),
        }
    }
}

/// The answer to a form that does not belong to this browser (or has expired).
pub(super) const FORM_EXPIRED: &str =
    "This sign-in form has expired or was not issued to this browser. Return to the application and try again.";

impl Next {
    /// The page for a form that does not belong to this browser, or has expired.
    pub(super) fn expired() -> Self {
        Next::Page(StatusCode::FORBIDDEN, FORM_EXPIRED)
    }
}
