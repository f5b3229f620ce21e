//! `POST /login/factor` (a TOTP or recovery code), `POST /login/webauthn/begin` and
//! `POST /login/webauthn` (a passkey), `POST /login/enrol` (the first code
//! of a new TOTP credential, then the recovery codes) and `POST /login/continue` (on
//! from the recovery codes). Each continues a pending request whose tenant is already
//! resolved, in the session that gave the password; the decision is made again, from
//! the memberships, once the session holds its second factor.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{
    continued, lockout, render, request_cookie, respond, settings, unix_now, Continued, Next, Step,
};
use crate::error::Error;
use crate::http::{
    audited_write, blocking, request_meta, AppState, DEVICE_COOKIE, REQUEST_COOKIE, SESSION_COOKIE,
};
use crate::login::decide;
use crate::login::{self, Given, PendingHandle, Proof};
use crate::mfa;

#[derive(Debug, serde::Deserialize)]
pub struct FactorForm {
    request: Option<String>,
    csrf: Option<String>,
    code: Option<String>,
    /// A WebAuthn ceremony's handle and the browser's answer (JSON).
    handle: Option<String>,
    credential: Option<String>,
}

/// The one answer to a wrong, reused or unknown code, or a locked account.
const INVALID_CODE: &str = "Invalid code.";

/// What every form of this file carries, with the browser's cookies.
struct Submitted {
    handle: PendingHandle,
    code: String,
    ceremony: String,
    credential: String,
    request_cookie: Option<String>,
    session_cookie: Option<String>,
    device_cookie: Option<String>,
    ip: Option<String>,
    request_id: Option<String>,
}

impl Submitted {
    fn new(req: &HttpRequest, form: FactorForm) -> Option<Self> {
        let (ip, request_id) = request_meta(req);
        Some(Self {
            handle: PendingHandle {
                id: form.request?,
                csrf: form.csrf?,
            },
            code: form.code.unwrap_or_default(),
            ceremony: form.handle.unwrap_or_default(),
            credential: form.credential.unwrap_or_default(),
            request_cookie: request_cookie(req, REQUEST_COOKIE),
            session_cookie: request_cookie(req, SESSION_COOKIE),
            device_cookie: request_cookie(req, DEVICE_COOKIE),
            ip,
            request_id,
        })
    }

    /// The pending request and session the form continues, or `None` (expired).
    fn held(&self, conn: &mut crate::db::DbConnection) -> Result<Option<Continued>, Error> {
        continued(
            conn,
            self.handle.clone(),
            self.request_cookie.as_deref(),
            self.session_cookie.as_deref(),
        )
    }

    fn origin(&self, held: &Continued) -> crate::audit::Origin {
        login::browser_origin(
            Some(&held.user.id),
            self.ip.clone(),
            self.request_id.clone(),
        )
    }
}

/// Runs `f` in an audited write with the form's pending request (read first); `None`
/// when the form is expired or foreign.
async fn continue_with<T: Send + 'static>(
    app: &web::Data<AppState>,
    req: &HttpRequest,
    form: FactorForm,
    f: impl FnOnce(&AppState, &mut crate::db::DbConnection, &Submitted, Continued) -> Result<T, Error>
        + Send
        + 'static,
) -> Result<Option<T>, Error> {
    let Some((submitted, held)) = load_held(app, req, form).await? else {
        return Ok(None);
    };
    let state = app.clone().into_inner();
    let value = audited_write(app, move |tx| f(&state, tx, &submitted, held)).await?;
    Ok(Some(value))
}

/// The page of a continued step; the expired page for an expired or foreign form.
fn respond_continued(app: &AppState, step: Option<Step>) -> HttpResponse {
    respond(app, step.unwrap_or_else(|| Next::expired().into()), true)
}

/// The form and the pending request and session it continues; `None` when the form is
/// incomplete or expired.
async fn load_held(
    app: &web::Data<AppState>,
    req: &HttpRequest,
    form: FactorForm,
) -> Result<Option<(Submitted, Continued)>, Error> {
    let Some(submitted) = Submitted::new(req, form) else {
        return Ok(None);
    };
    let state = app.clone().into_inner();
    blocking(move || {
        let held = submitted.held(&mut *state.pool.get()?)?;
        Ok(held.map(|held| (submitted, held)))
    })
    .await
}

/// Issues the code (or the next page) for a session that now holds a second factor.
fn decide_again(
    app: &AppState,
    tx: &mut crate::db::DbConnection,
    origin: &crate::audit::Origin,
    held: &mut Continued,
    amr: String,
) -> Result<Next, Error> {
    held.session.amr = amr;
    let hint = held.pending.tenant_hint.clone();
    let decision = decide::decide(
        tx,
        origin,
        &held.request(hint.as_deref(), true),
        settings(app)?,
    )?;
    Ok(render(&held.context(&app.config.issuer), decision))
}

/// `POST /login/factor`: a TOTP or recovery code.
pub async fn post_factor(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FactorForm>,
) -> Result<HttpResponse, Error> {
    give(app, req, form.into_inner(), false).await
}

/// `POST /login/webauthn`: the answer to the ceremony `POST /login/webauthn/begin`
/// started.
pub async fn post_webauthn(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FactorForm>,
) -> Result<HttpResponse, Error> {
    give(app, req, form.into_inner(), true).await
}

/// `POST /login/webauthn/begin`: the options of an authentication with the user's
/// passkeys (JSON: `handle`, `options`), for the pending request the form continues.
pub async fn post_webauthn_begin(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FactorForm>,
) -> Result<HttpResponse, Error> {
    let Some(rp) = app.webauthn.clone() else {
        return Err(Error::Forbidden);
    };
    let Some((_, held)) = load_held(&app, &req, form.into_inner()).await? else {
        return Err(Error::Forbidden);
    };
    let challenge = audited_write(&app, move |tx| {
        mfa::webauthn::begin_authentication(tx, &rp, &held.user)
    })
    .await?;
    Ok(ceremony_json(challenge.ok_or(Error::Forbidden)?))
}

/// A begun ceremony for the page's script: never cached.
pub(super) fn ceremony_json(challenge: mfa::webauthn::Challenge) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({ "handle": challenge.handle, "options": challenge.options }))
}

/// The second factor of the form: a code, or (`webauthn`) a ceremony's answer.
async fn give(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: FactorForm,
    webauthn: bool,
) -> Result<HttpResponse, Error> {
    let policy = lockout(&app);
    let rp = app.webauthn.clone();
    let outcome = continue_with(&app, &req, form, move |app, tx, submitted, mut held| {
        let origin = submitted.origin(&held);
        let sealer = app.sealer()?;
        let proof = match (webauthn, rp.as_deref()) {
            (false, _) => Proof::Code(&submitted.code),
            (true, Some(rp)) => Proof::Webauthn {
                rp,
                handle: &submitted.ceremony,
                answer: &submitted.credential,
            },
            (true, None) => return Err(Error::NotFound),
        };
        let given = Given {
            proof,
            device_cookie: submitted.device_cookie.as_deref(),
            now: unix_now(),
        };
        let accepted = login::give_second_factor(
            tx,
            &origin,
            sealer,
            &held.session,
            &held.user,
            given,
            policy,
        )?;
        let accepted_now = accepted.is_some();
        let step = match accepted {
            Some(accepted) => Step {
                next: decide_again(app, tx, &origin, &mut held, accepted.amr)?,
                set_session: None,
                set_device: accepted.device,
            },
            None => Next::SecondFactor {
                passkey: mfa::factors(tx, &held.user)?.webauthn > 0,
                client_name: held.client.name.clone(),
                redirect_uri: held.pending.redirect_uri.clone(),
                handle: held.handle,
                error: Some(INVALID_CODE),
            }
            .into(),
        };
        Ok((step, accepted_now))
    })
    .await?;
    // Counted once its outcome is committed.
    if let Some((_, accepted)) = &outcome {
        crate::metrics::second_factor(if *accepted { "success" } else { "failure" });
    }
    Ok(respond_continued(&app, outcome.map(|(step, _)| step)))
}

/// `POST /login/enrol`: confirms the enrolment, then shows the recovery codes once.
pub async fn post_enrol(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FactorForm>,
) -> Result<HttpResponse, Error> {
    let step = continue_with(
        &app,
        &req,
        form.into_inner(),
        move |app, tx, submitted, held| {
            let origin = submitted.origin(&held);
            let sealer = app.sealer()?;
            // Enrolment at login is for users without a factor: anyone else gives
            // theirs (a pending seed of theirs is never shown or confirmed here).
            if mfa::factors(tx, &held.user)?.any() {
                return Ok(Next::expired().into());
            }
            let enrolled = login::confirm_enrolment(
                tx,
                &origin,
                sealer,
                &held.session,
                &held.user,
                &submitted.code,
                unix_now(),
            )?;
            if let Some(enrolled) = enrolled {
                return Ok(Step {
                    next: Next::RecoveryCodes {
                        redirect_uri: held.pending.redirect_uri.clone(),
                        handle: held.handle,
                        codes: enrolled.recovery_codes,
                    },
                    set_session: None,
                    set_device: Some(enrolled.device),
                });
            }
            // The same key again: the user may have scanned it already.
            let next = match mfa::pending_enrolment(tx, sealer, &held.user, &app.mfa_label)? {
                Some(enrolment) => Next::Enrol {
                    client_name: held.client.name.clone(),
                    redirect_uri: held.pending.redirect_uri.clone(),
                    handle: held.handle,
                    enrolment,
                    error: Some(INVALID_CODE),
                },
                None => Next::expired(),
            };
            Ok(next.into())
        },
    )
    .await?;
    Ok(respond_continued(&app, step))
}

/// `POST /login/continue`: on from the recovery codes, for a session that holds its
/// second factor.
pub async fn post_continue(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<FactorForm>,
) -> Result<HttpResponse, Error> {
    let step = continue_with(
        &app,
        &req,
        form.into_inner(),
        move |app, tx, submitted, mut held| {
            if !held.session.has_second_factor() {
                return Ok(Next::expired().into());
            }
            let origin = submitted.origin(&held);
            let amr = held.session.amr.clone();
            decide_again(app, tx, &origin, &mut held, amr).map(Step::from)
        },
    )
    .await?;
    Ok(respond_continued(&app, step))
}
