//! `/account`: a signed-in user's own second factors. `GET /account` shows them (or
//! the sign-in form); `POST /account/login` signs in, or confirms it is still the user,
//! with the password and, when the user has one, the second factor, through the same
//! throttle, hashing pool and lockout as the hosted login. Changes (`POST
//! /account/totp`, `/account/totp/confirm`, `/account/totp/remove`,
//! `/account/recovery`) need an authentication within the last five minutes that used
//! the user's second factor, and a CSRF token derived from the session; so do passkeys
//! (`POST /account/passkey/begin`, `/account/passkey`, `/account/passkey/remove`).

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use subtle::ConstantTimeEq;

use super::login::{busy, throttled};
use super::{cookie, lockout, request_cookie, secure, unix_now};
use crate::db::DbConnection;
use crate::error::Error;
use crate::http::pages::{self, AccountPage, AccountView, EnrolPage, RecoveryCodesPage};
use crate::http::{audited_write, blocking, request_meta, AppState, DEVICE_COOKIE, SESSION_COOKIE};
use crate::login::throttle::Verdict;
use crate::login::{self, Given, Proof, Session};
use crate::mfa;
use crate::users::User;

/// How recent an authentication must be to change factors.
pub const RECENCY: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// The CSRF purpose of `/account`'s forms.
const PURPOSE: &str = "account";
/// The double-submit cookie of the sign-in form (no session yet).
const FORM_COOKIE: &str = "tessera_account";
const INVALID: &str = "Invalid credentials.";

#[derive(Debug, serde::Deserialize)]
pub struct AccountForm {
    csrf: Option<String>,
    email: Option<String>,
    password: Option<String>,
    code: Option<String>,
    /// A WebAuthn ceremony's handle, the browser's answer (JSON), the key's name.
    handle: Option<String>,
    credential: Option<String>,
    name: Option<String>,
    /// The credential to remove.
    id: Option<String>,
}

/// What an `/account` request answers, built on the blocking pool and rendered after.
enum Reply {
    /// The account page (`user: None`: the sign-in form, with its double-submit
    /// cookie).
    Page {
        user: Option<AccountView>,
        csrf: String,
        error: Option<&'static str>,
    },
    /// Back to `GET /account`.
    ToAccount,
    /// A form that does not belong to this browser's session.
    Forbidden,
    Enrol {
        csrf: String,
        enrolment: mfa::Enrolment,
        error: Option<&'static str>,
    },
    /// The recovery codes, shown once.
    Codes(Vec<String>),
    /// A begun WebAuthn ceremony, for the page's script.
    Ceremony(mfa::webauthn::Challenge),
    SignedIn {
        session: String,
        device: Option<String>,
    },
}

/// The page for `session` (or the sign-in form without one).
fn page(
    conn: &mut DbConnection,
    signed_in: Option<(&Session, &User, &str)>,
    error: Option<&'static str>,
) -> Result<Reply, Error> {
    let Some((session, user, cookie_value)) = signed_in else {
        return Ok(Reply::Page {
            user: None,
            csrf: crate::tokens::opaque(),
            error,
        });
    };
    let factors = mfa::factors(conn, user)?;
    Ok(Reply::Page {
        user: Some(AccountView {
            email: user.email.clone(),
            totp: factors.totp,
            recovery_codes: factors.recovery_codes,
            fresh: login::is_fresh(session, factors.any(), RECENCY),
            passkeys: mfa::webauthn::credentials(conn, user)?,
        }),
        csrf: login::session_csrf(PURPOSE, cookie_value),
        error,
    })
}

/// The page of the browser's current session, if any.
fn current_page(
    conn: &mut DbConnection,
    session_cookie: Option<&str>,
    error: Option<&'static str>,
) -> Result<Reply, Error> {
    let current = login::current_session(conn, session_cookie)?;
    let signed_in = current
        .as_ref()
        .zip(session_cookie)
        .map(|((s, u), c)| (s, u, c));
    page(conn, signed_in, error)
}

fn render(state: &AppState, reply: Reply) -> HttpResponse {
    match reply {
        Reply::Page { user, csrf, error } => {
            let anonymous = user.is_none();
            // The script where passkeys exist: to sign in, confirm, or add one.
            let nonce = state.webauthn.is_some().then(pages::nonce);
            let mut response = pages::render_with_script(
                StatusCode::OK,
                &AccountPage {
                    user,
                    csrf: &csrf,
                    notice: None,
                    error,
                    nonce: nonce.as_deref(),
                },
                None,
                nonce.as_deref(),
            );
            if anonymous {
                let form_cookie = Cookie::build(FORM_COOKIE, csrf)
                    .path("/account")
                    .http_only(true)
                    .secure(secure(state))
                    .same_site(SameSite::Strict)
                    .finish();
                let _ = response.add_cookie(&form_cookie);
            }
            response
        }
        Reply::ToAccount => to_account(),
        Reply::Ceremony(challenge) => super::factor::ceremony_json(challenge),
        Reply::Forbidden => {
            pages::message(StatusCode::FORBIDDEN, "Not allowed", super::FORM_EXPIRED)
        }
        Reply::Enrol {
            csrf,
            enrolment,
            error,
        } => pages::render(
            StatusCode::OK,
            &EnrolPage {
                client_name: "",
                request: "",
                csrf: &csrf,
                action: "/account/totp/confirm",
                uri: &enrolment.uri,
                qr_svg: &enrolment.qr_svg,
                error,
            },
            None,
        ),
        Reply::Codes(codes) => pages::render(
            StatusCode::OK,
            &RecoveryCodesPage {
                codes: &codes,
                action: "/account",
                request: "",
                csrf: "",
            },
            None,
        ),
        Reply::SignedIn { session, device } => {
            let mut response = to_account();
            let _ = response.add_cookie(&cookie(
                state,
                SESSION_COOKIE,
                session,
                state.config.session_ttl,
            ));
            if let Some(device) = device {
                let ttl = crate::users::DEVICE_TTL.to_std().unwrap_or_default();
                let _ = response.add_cookie(&cookie(state, DEVICE_COOKIE, device, ttl));
            }
            response
        }
    }
}

fn to_account() -> HttpResponse {
    let mut builder = HttpResponse::SeeOther();
    pages::security_headers(&mut builder, "'self'");
    builder
        .insert_header((header::LOCATION, "/account"))
        .finish()
}

pub async fn get_account(
    app: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, Error> {
    let session_cookie = request_cookie(&req, SESSION_COOKIE);
    let state = app.clone().into_inner();
    let reply = blocking(move || {
        let mut conn = state.pool.get()?;
        current_page(&mut conn, session_cookie.as_deref(), None)
    })
    .await?;
    Ok(render(&app, reply))
}

/// Whether a sign-in form carries this browser's token: the session's, or (before a
/// session) the double-submit cookie's.
fn sign_in_form_ok(req: &HttpRequest, csrf: Option<&str>) -> bool {
    let csrf = csrf.unwrap_or_default();
    let by_session = request_cookie(req, SESSION_COOKIE)
        .is_some_and(|c| login::session_csrf_matches(PURPOSE, &c, csrf));
    let by_cookie = request_cookie(req, FORM_COOKIE)
        .is_some_and(|c| !csrf.is_empty() && bool::from(c.as_bytes().ct_eq(csrf.as_bytes())));
    by_session || by_cookie
}

/// `POST /account/passkey-login/begin`: a passwordless sign-in (JSON), for the sign-in
/// or "confirm it is you" form.
pub async fn post_passkey_login_begin(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    let rp = app.webauthn.clone().ok_or(Error::NotFound)?;
    if !sign_in_form_ok(&req, form.csrf.as_deref()) {
        return Err(Error::Forbidden);
    }
    let challenge =
        audited_write(&app, move |tx| mfa::webauthn::begin_discoverable(tx, &rp)).await?;
    Ok(super::factor::ceremony_json(challenge))
}

/// `POST /account/passkey-login`: the answer; a new session (two factors, fresh).
pub async fn post_passkey_login(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    let form = form.into_inner();
    let rp = app.webauthn.clone().ok_or(Error::NotFound)?;
    if !sign_in_form_ok(&req, form.csrf.as_deref()) {
        return Ok(render(&app, Reply::Forbidden));
    }
    let session_cookie = request_cookie(&req, SESSION_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let state = app.clone().into_inner();
    let signed = audited_write(&app, move |tx| {
        let origin = login::browser_origin(None, ip, request_id);
        login::sign_in_with_passkey(
            tx,
            &origin,
            &rp,
            form.handle.as_deref().unwrap_or_default(),
            form.credential.as_deref().unwrap_or_default(),
            state.config.session_ttl,
        )
    })
    .await?;
    let reply = match signed {
        Some((_, signed, _)) => Reply::SignedIn {
            session: signed.session,
            device: signed.device,
        },
        None => refused(&app, session_cookie).await?,
    };
    Ok(render(&app, reply))
}

/// The page again after a refused sign-in, with the one message for every failure.
async fn refused(
    app: &web::Data<AppState>,
    session_cookie: Option<String>,
) -> Result<Reply, Error> {
    let state = app.clone().into_inner();
    blocking(move || {
        current_page(
            &mut *state.pool.get()?,
            session_cookie.as_deref(),
            Some(INVALID),
        )
    })
    .await
}

/// `POST /account/login`: the password (and the second factor, if the user has one);
/// a new session on success. Every failure gives the same page.
pub async fn post_account_login(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    let form = form.into_inner();
    let session_cookie = request_cookie(&req, SESSION_COOKIE);
    if !sign_in_form_ok(&req, form.csrf.as_deref()) {
        return Ok(render(&app, Reply::Forbidden));
    }
    let source = crate::http::client_ip(&req).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if let Verdict::Throttled { .. } = app.throttle.check(source) {
        crate::metrics::login_throttled();
        return Ok(throttled());
    }
    let Ok(slot) = app.hasher.admit() else {
        return Ok(busy());
    };
    let policy = lockout(&app);
    let (ip, request_id) = request_meta(&req);
    let device_cookie = request_cookie(&req, DEVICE_COOKIE);
    let email = form.email.unwrap_or_default();
    let device = device_cookie.clone();
    let mut attempt = audited_write(&app, move |tx| {
        login::begin_login(tx, &email, device.as_deref(), policy)
    })
    .await?;
    let evaluated = attempt.hash.is_some();
    let password = form.password.unwrap_or_default();
    let matched = match app.hasher.verify(slot, password, attempt.hash.take()).await {
        Ok(matched) => matched,
        Err(Error::Unavailable) => return Ok(busy()),
        Err(e) => return Err(e),
    };
    let code = form.code.unwrap_or_default();
    let state = app.clone().into_inner();
    let signed_in = audited_write(&app, move |tx| -> Result<Option<Reply>, Error> {
        let app = &state;
        let (origin, outcome) = login::finish_login(
            tx,
            &attempt,
            matched,
            policy,
            app.config.session_ttl,
            ip,
            request_id,
        )?;
        let user = attempt.user.as_ref();
        let (Some(signed), Some(user)) = (outcome, user) else {
            return Ok(None);
        };
        let mut device = signed.device.clone();
        if mfa::factors(tx, user)?.any() {
            let hash = crate::tokens::opaque_hash(&signed.session);
            let session = login::store::session(tx, &hash)?.ok_or(Error::NotFound)?;
            let given = Given {
                proof: Proof::Code(&code),
                device_cookie: device_cookie.as_deref(),
                now: unix_now(),
            };
            let sealer = app.sealer()?;
            match login::give_second_factor(tx, &origin, sealer, &session, user, given, policy)? {
                Some(accepted) => device = accepted.device,
                None => {
                    // The password alone opens nothing here.
                    login::store::end_session(tx, &hash, crate::db::now())?;
                    return Ok(None);
                }
            }
        }
        Ok(Some(Reply::SignedIn {
            session: signed.session,
            device,
        }))
    })
    .await?;
    let reply = match signed_in {
        Some(reply) => reply,
        None => refused(&app, session_cookie).await?,
    };
    crate::metrics::login(match (&reply, evaluated) {
        (Reply::SignedIn { .. }, _) => "success",
        (_, false) => "locked",
        (_, true) => "failure",
    });
    Ok(render(&app, reply))
}

/// A change's context: the session, its user, the origin, checked fresh and
/// CSRF-protected; `Err(response)` when not (back to `/account`, or refused).
struct Change {
    session: Session,
    user: User,
    origin: crate::audit::Origin,
}

fn change(
    conn: &mut DbConnection,
    req: &Meta,
    csrf: Option<&str>,
) -> Result<Result<Change, Reply>, Error> {
    let Some(cookie_value) = req.session_cookie.as_deref() else {
        return Ok(Err(Reply::ToAccount));
    };
    let Some((session, user)) = login::current_session(conn, Some(cookie_value))? else {
        return Ok(Err(Reply::ToAccount));
    };
    if !login::session_csrf_matches(PURPOSE, cookie_value, csrf.unwrap_or_default()) {
        return Ok(Err(Reply::Forbidden));
    }
    if !login::is_fresh(&session, mfa::factors(conn, &user)?.any(), RECENCY) {
        return Ok(Err(Reply::ToAccount));
    }
    let origin = login::browser_origin(Some(&user.id), req.ip.clone(), req.request_id.clone());
    Ok(Ok(Change {
        session,
        user,
        origin,
    }))
}

/// What a change handler needs of the request.
struct Meta {
    session_cookie: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
}

impl Meta {
    fn of(req: &HttpRequest) -> Self {
        let (ip, request_id) = request_meta(req);
        Self {
            session_cookie: request_cookie(req, SESSION_COOKIE),
            ip,
            request_id,
        }
    }
}

/// Runs a change on the blocking pool, once [`change`] allowed it.
async fn changing(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: AccountForm,
    f: impl FnOnce(&AppState, &mut DbConnection, Change, &AccountForm) -> Result<Reply, Error>
        + Send
        + 'static,
) -> Result<HttpResponse, Error> {
    let meta = Meta::of(&req);
    let state = app.clone().into_inner();
    let reply = blocking(move || {
        let mut conn = state.pool.get()?;
        match change(&mut conn, &meta, form.csrf.as_deref())? {
            Ok(allowed) => f(&state, &mut conn, allowed, &form),
            Err(reply) => Ok(reply),
        }
    })
    .await?;
    Ok(render(&app, reply))
}

/// `POST /account/totp`: starts an enrolment (the key and QR code).
pub async fn post_totp(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    changing(app, req, form.into_inner(), |app, conn, c, form| {
        let sealer = app.sealer()?;
        let enrolment = match crate::db::write_tx(conn, |tx| {
            mfa::begin_totp(tx, sealer, &c.user, &app.mfa_label)
        }) {
            Ok(enrolment) => enrolment,
            // One authenticator app at a time: remove the current one first.
            Err(Error::Conflict(_)) => return Ok(Reply::ToAccount),
            Err(e) => return Err(e),
        };
        Ok(Reply::Enrol {
            csrf: form.csrf.clone().unwrap_or_default(),
            enrolment,
            error: None,
        })
    })
    .await
}

/// `POST /account/totp/confirm`: the first code; then the recovery codes, once.
pub async fn post_totp_confirm(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    changing(app, req, form.into_inner(), |app, conn, c, form| {
        let sealer = app.sealer()?;
        let code = form.code.as_deref().unwrap_or_default();
        let now = unix_now();
        let enrolled = crate::db::write_tx(conn, |tx| {
            login::confirm_enrolment(tx, &c.origin, sealer, &c.session, &c.user, code, now)
        })?;
        if let Some(enrolled) = enrolled {
            return Ok(Reply::Codes(enrolled.recovery_codes));
        }
        match mfa::pending_enrolment(conn, sealer, &c.user, &app.mfa_label)? {
            Some(enrolment) => Ok(Reply::Enrol {
                csrf: form.csrf.clone().unwrap_or_default(),
                enrolment,
                error: Some("Invalid code."),
            }),
            None => Ok(Reply::ToAccount),
        }
    })
    .await
}

/// `POST /account/totp/remove`.
pub async fn post_totp_remove(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    changing(app, req, form.into_inner(), |_, conn, c, _| {
        crate::db::write_tx(conn, |tx| mfa::remove_totp(tx, &c.origin, &c.user))?;
        Ok(Reply::ToAccount)
    })
    .await
}

/// `POST /account/recovery`: a new set of recovery codes (the old one stops working).
pub async fn post_recovery(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    changing(app, req, form.into_inner(), |_, conn, c, _| {
        if !mfa::factors(conn, &c.user)?.any() {
            return Ok(Reply::ToAccount);
        }
        let codes =
            crate::db::write_tx(conn, |tx| mfa::regenerate_recovery(tx, &c.origin, &c.user))?;
        Ok(Reply::Codes(codes))
    })
    .await
}

/// The relying party, when the issuer can have passkeys.
fn relying_party(app: &AppState) -> Result<&mfa::webauthn::RelyingParty, Error> {
    app.webauthn.as_deref().ok_or(Error::NotFound)
}

/// `POST /account/passkey/begin`: the options of a registration (JSON).
pub async fn post_passkey_begin(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    changing(app, req, form.into_inner(), |app, conn, c, _| {
        let rp = relying_party(app)?;
        let challenge = crate::db::write_tx(conn, |tx| {
            mfa::webauthn::begin_registration(tx, rp, &c.user)
        })?;
        Ok(Reply::Ceremony(challenge))
    })
    .await
}

/// `POST /account/passkey`: the browser's answer; a first factor also gets recovery
/// codes, shown once.
pub async fn post_passkey(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    changing(app, req, form.into_inner(), |app, conn, c, form| {
        let rp = relying_party(app)?;
        crate::db::write_tx(conn, |tx| {
            let first = !mfa::factors(tx, &c.user)?.any();
            let added = mfa::webauthn::finish_registration(
                tx,
                &c.origin,
                rp,
                &c.user,
                form.handle.as_deref().unwrap_or_default(),
                form.credential.as_deref().unwrap_or_default(),
                form.name.as_deref().unwrap_or_default(),
            )?;
            if added && first {
                return Ok(Reply::Codes(mfa::regenerate_recovery(
                    tx, &c.origin, &c.user,
                )?));
            }
            Ok(Reply::ToAccount)
        })
    })
    .await
}

/// `POST /account/passkey/remove`: one of the user's passkeys, by id.
pub async fn post_passkey_remove(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<AccountForm>,
) -> Result<HttpResponse, Error> {
    changing(app, req, form.into_inner(), |_, conn, c, form| {
        let id = form.id.as_deref().unwrap_or_default();
        crate::db::write_tx(conn, |tx| mfa::webauthn::remove(tx, &c.origin, &c.user, id))?;
        Ok(Reply::ToAccount)
    })
    .await
}
