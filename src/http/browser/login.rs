//! `POST /login`: the source's allowance, a place in the hashing pool, the password, then
//! the decision. A failure of any kind shows the same form with the same message.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use super::{
    lockout, pending_code, render, request_cookie, respond, settings, Context, Next, Step,
};
use crate::clients::{self, Client};
use crate::error::Error;
use crate::http::pages;
use crate::http::{blocking, request_meta, AppState, DEVICE_COOKIE, REQUEST_COOKIE};
use crate::login::decide::{self, Decision, Flow};
use crate::login::store::PendingRequest;
use crate::login::throttle::Verdict;
use crate::login::{self, PendingHandle};
use crate::users::User;

#[derive(Debug, serde::Deserialize)]
pub struct LoginForm {
    request: Option<String>,
    csrf: Option<String>,
    email: Option<String>,
    password: Option<String>,
}

const INVALID_CREDENTIALS: &str = "Invalid email or password.";

pub async fn post_login(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, Error> {
    let form = form.into_inner();
    let (Some(request_handle), Some(csrf)) = (form.request, form.csrf) else {
        return Ok(respond(&app, Next::expired().into(), true));
    };
    let email = form.email.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let cookie = request_cookie(&req, REQUEST_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let policy = lockout(&app);

    // 0. The source's allowance, then a place in the hashing pool: a login refused for
    //    either must not have reserved an attempt of the account.
    let source = crate::http::client_ip(&req).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if let Verdict::Throttled { audit } = app.throttle.check(source) {
        crate::metrics::login_throttled();
        if audit {
            let origin = login::browser_origin(None, ip.clone(), request_id.clone());
            crate::http::audited_write(&app, move |tx| login::record_throttled(tx, &origin))
                .await?;
        }
        return Ok(throttled());
    }
    let Ok(slot) = app.hasher.admit() else {
        return Ok(busy());
    };

    // 1. The form must belong to this browser; reserve an attempt for the account.
    let Some(resumed) = Resumed::load(&app, request_handle, csrf, cookie).await? else {
        return Ok(respond(&app, Next::expired().into(), true));
    };
    let (email_for_lookup, device_cookie) = (email.clone(), request_cookie(&req, DEVICE_COOKIE));
    let mut attempt = crate::http::audited_write(&app, move |tx| {
        login::begin_login(tx, &email_for_lookup, device_cookie.as_deref(), policy)
    })
    .await?;

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
    let step = crate::http::audited_write(&app, move |tx| -> Result<Step, Error> {
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
            return Ok(resumed.refused(email, INVALID_CREDENTIALS));
        };
        let decision = resumed.decide(tx, app, &origin, user, &signed, login::PASSWORD_AMR)?;
        // A user with a factor whose tenant did not ask for it has now completed the
        // login: their count starts over, their browser becomes known.
        let device = match decision {
            Decision::Code(_) if signed.first_factor_only => {
                login::complete_without_factor(tx, &attempt, policy)?
            }
            _ => signed.device.clone(),
        };
        Ok(Step {
            next: render(&resumed.context(app), decision),
            set_session: Some(signed.session),
            set_device: device,
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

#[derive(Debug, serde::Deserialize)]
pub struct PasskeyForm {
    request: Option<String>,
    csrf: Option<String>,
    handle: Option<String>,
    credential: Option<String>,
}

const PASSKEY_REFUSED: &str = "The passkey was not accepted.";

/// `POST /login/passkey/begin`: the options of a passwordless sign-in (JSON), for the
/// pending request the form belongs to.
pub async fn post_passkey_begin(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PasskeyForm>,
) -> Result<HttpResponse, Error> {
    let form = form.into_inner();
    let (Some(rp), Some(id), Some(csrf)) = (app.webauthn.clone(), form.request, form.csrf) else {
        return Err(Error::Forbidden);
    };
    let cookie = request_cookie(&req, REQUEST_COOKIE);
    let state = app.clone().into_inner();
    let pending = blocking(move || {
        let mut conn = state.pool.get()?;
        browser_pending(&mut conn, &id, &csrf, cookie.as_deref())
    })
    .await?;
    if pending.is_none() {
        return Err(Error::Forbidden);
    }
    let challenge = crate::http::audited_write(&app, move |tx| {
        crate::mfa::webauthn::begin_discoverable(tx, &rp)
    })
    .await?;
    Ok(super::factor::ceremony_json(challenge))
}

/// `POST /login/passkey`: the browser's answer; on success the authorization goes on
/// as after a password and a second factor.
pub async fn post_passkey(
    app: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<PasskeyForm>,
) -> Result<HttpResponse, Error> {
    let form = form.into_inner();
    let (Some(rp), Some(request_handle), Some(csrf)) =
        (app.webauthn.clone(), form.request, form.csrf)
    else {
        return Ok(respond(&app, Next::expired().into(), true));
    };
    let cookie = request_cookie(&req, REQUEST_COOKIE);
    let (ip, request_id) = request_meta(&req);
    let ceremony = form.handle.unwrap_or_default();
    let answer = form.credential.unwrap_or_default();
    let Some(resumed) = Resumed::load(&app, request_handle, csrf, cookie).await? else {
        return Ok(respond(&app, Next::expired().into(), true));
    };
    let state = app.clone().into_inner();
    let step = crate::http::audited_write(&app, move |tx| -> Result<Step, Error> {
        let app = &state;
        let origin = login::browser_origin(None, ip, request_id);
        let signed = login::sign_in_with_passkey(
            tx,
            &origin,
            &rp,
            &ceremony,
            &answer,
            app.config.session_ttl,
        )?;
        let Some((user, signed, amr)) = signed else {
            return Ok(resumed.refused(String::new(), PASSKEY_REFUSED));
        };
        let origin = login::browser_origin(Some(&user.id), origin.ip, origin.request_id);
        let decision = resumed.decide(tx, app, &origin, &user, &signed, &amr)?;
        Ok(Step {
            next: render(&resumed.context(app), decision),
            set_session: Some(signed.session),
            set_device: signed.device,
        })
    })
    .await?;
    crate::metrics::login(if step.set_session.is_some() {
        "success"
    } else {
        "failure"
    });
    Ok(respond(&app, step, true))
}

/// The pending request `id`, or `None` when it is expired or not this browser's.
fn browser_pending(
    conn: &mut crate::db::DbConnection,
    id: &str,
    csrf: &str,
    cookie: Option<&str>,
) -> Result<Option<PendingRequest>, Error> {
    match login::load_pending(conn, id, csrf, cookie) {
        Ok(pending) => Ok(Some(pending)),
        Err(Error::Forbidden) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The pending request a sign-in form continues, with its handle and client.
struct Resumed {
    pending: PendingRequest,
    handle: PendingHandle,
    client: Client,
}

impl Resumed {
    /// The form's pending request, or `None` when it is expired or not this browser's.
    async fn load(
        app: &web::Data<AppState>,
        id: String,
        csrf: String,
        cookie: Option<String>,
    ) -> Result<Option<Self>, Error> {
        let state = app.clone().into_inner();
        blocking(move || {
            let mut conn = state.pool.get()?;
            let Some(pending) = browser_pending(&mut conn, &id, &csrf, cookie.as_deref())? else {
                return Ok(None);
            };
            let client = clients::find(&mut conn, &pending.client_id)?.ok_or(Error::NotFound)?;
            Ok(Some(Self {
                pending,
                handle: PendingHandle { id, csrf },
                client,
            }))
        })
        .await
    }

    /// The form again, with `error`.
    fn refused(&self, email: String, error: &'static str) -> Step {
        Step::from(Next::Login {
            handle: self.handle.clone(),
            client_name: self.client.name.clone(),
            redirect_uri: self.pending.redirect_uri.clone(),
            email,
            error: Some(error),
        })
    }

    /// The decision for `user`, just signed in with the session `signed` by `amr`.
    fn decide(
        &self,
        tx: &mut crate::db::DbConnection,
        app: &AppState,
        origin: &crate::audit::Origin,
        user: &User,
        signed: &login::SignedIn,
        amr: &str,
    ) -> Result<Decision, Error> {
        let session_hash = crate::tokens::opaque_hash(&signed.session);
        let input = decide::Request {
            flow: Flow::Pending {
                row: &self.pending,
                handle: &self.handle,
            },
            code: pending_code(&self.pending, &session_hash, amr),
            client_tenant: self.client.tenant_id.as_deref(),
            user,
            auth_time: signed.auth_time,
            hint: self.pending.tenant_hint.as_deref(),
            no_prompt: false,
            picked: false,
            wants_mfa: self.pending.wants_mfa(),
        };
        decide::decide(tx, origin, &input, settings(app)?)
    }

    fn context<'a>(&'a self, app: &'a AppState) -> Context<'a> {
        Context {
            issuer: &app.config.issuer,
            redirect_uri: &self.pending.redirect_uri,
            state: self.pending.state.as_deref(),
            client_name: &self.client.name,
        }
    }
}

pub(super) fn throttled() -> HttpResponse {
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

pub(super) fn busy() -> HttpResponse {
    pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "The sign-in service is busy. Please try again in a moment.",
    )
}
