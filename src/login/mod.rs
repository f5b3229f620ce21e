//! Browser login: validating `/authorize` requests, keeping a pending request while the
//! user logs in or picks a tenant (its handle and CSRF token are bound to the browser by
//! a SameSite cookie), credential checks with lockout, and single-sign-on sessions.
//! Errors found before the client and redirect URI are known show a page; later ones go
//! back to the client (RFC 6749 section 4.1.2.1).

pub mod decide;
pub mod store;
pub mod throttle;

use chrono::NaiveDateTime;
use subtle::ConstantTimeEq;

use crate::audit::{self, ActorType, Event, Origin, Outcome};
use crate::clients::{self, Client, GrantType};
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::tenants::SYSTEM_TENANT_ID;
use crate::tokens::{opaque, opaque_hash};
use crate::users::{self, AttemptRow, Email, Lockout, User};

pub use store::{PendingRequest, Session};

/// The raw query of `/authorize`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub tenant: Option<String>,
}

/// Why an authorization request failed, and where the answer goes.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI could not be trusted: an error page, never a redirect.
    Page(&'static str),
    /// Back to the client's redirect URI with RFC 6749 error parameters and `state`.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
    Internal(Error),
}

impl From<Error> for AuthorizeError {
    fn from(e: Error) -> Self {
        Self::Internal(e)
    }
}

impl From<diesel::result::Error> for AuthorizeError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(e.into())
    }
}

/// A request whose every parameter has been checked.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub client: Client,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub tenant_hint: Option<String>,
    /// `prompt=login`: ask for the password even with a session.
    pub force_login: bool,
    /// `prompt=none`: never show a page.
    pub no_prompt: bool,
    pub max_age: Option<i64>,
}

impl ValidRequest {
    pub fn fail(&self, error: &'static str, description: &'static str) -> AuthorizeError {
        AuthorizeError::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
            description,
        }
    }

    /// Whether a session established at `auth_time` is recent enough for this request:
    /// `max_age=N` accepts an authentication at most N seconds old, measured to the
    /// millisecond, so `max_age=0` always asks for the password (OIDC Core 3.1.2.1).
    pub fn accepts_session(&self, session: &Session) -> bool {
        let fresh = self.max_age.is_none_or(|max| {
            max > 0
                && (db::now() - session.auth_time).num_milliseconds() <= max.saturating_mul(1000)
        });
        !self.force_login && fresh
    }
}

/// A PKCE S256 challenge: base64url of a SHA-256, 43 characters.
fn valid_challenge(text: &str) -> bool {
    text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks an `/authorize` request (RFC 6749 section 4.1.1, RFC 7636, OIDC Core 3.1.2).
pub fn validate(
    conn: &mut DbConnection,
    params: &AuthorizeParams,
) -> Result<ValidRequest, AuthorizeError> {
    let client_id = params
        .client_id
        .as_deref()
        .ok_or(AuthorizeError::Page("The request names no client."))?;
    let client = match clients::find(conn, client_id) {
        Ok(client) => client,
        Err(Error::NotFound) => return Err(AuthorizeError::Page("The client is not registered.")),
        Err(e) => return Err(e.into()),
    };
    let redirect_uri = params
        .redirect_uri
        .as_deref()
        .filter(|uri| client.redirect_uris.split_whitespace().any(|r| r == *uri))
        .ok_or(AuthorizeError::Page(
            "The redirect URI is not registered for this client.",
        ))?
        .to_owned();
    let state = params.state.clone().filter(|s| !s.is_empty());
    let fail = |error, description| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
    };
    // What an anonymous caller can make Tessera store is small (and expires).
    if state.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(fail("invalid_request", "state is too long"));
    }
    let texts = [
        &params.state,
        &params.nonce,
        &params.tenant,
        &params.scope,
        &params.prompt,
        &params.max_age,
        &params.response_type,
        &params.code_challenge,
        &params.code_challenge_method,
    ];
    if texts
        .iter()
        .any(|t| t.as_deref().is_some_and(|t| t.contains('\0')))
    {
        return Err(fail(
            "invalid_request",
            "a parameter contains a NUL character",
        ));
    }
    match params.response_type.as_deref() {
        Some("code") => {}
        None => return Err(fail("invalid_request", "response_type is required")),
        Some(_) => {
            return Err(fail(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    if !client.has_grant(GrantType::AuthorizationCode) {
        return Err(fail(
            "unauthorized_client",
            "the client may not use the authorization code flow",
        ));
    }
    let code_challenge = params
        .code_challenge
        .as_deref()
        .ok_or_else(|| fail("invalid_request", "PKCE code_challenge is required"))?;
    if params.code_challenge_method.as_deref() != Some("S256") {
        return Err(fail(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !valid_challenge(code_challenge) {
        return Err(fail("invalid_request", "code_challenge is malformed"));
    }
    let allowed: Vec<&str> = client.scopes().collect();
    let scope = match params.scope.as_deref() {
        None | Some("") => allowed.join(" "),
        Some(requested) => {
            let mut granted: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
            if granted.iter().any(|s| !allowed.contains(s)) {
                return Err(fail("invalid_scope", "the requested scope is invalid"));
            }
            granted.sort_unstable();
            granted.dedup();
            granted.join(" ")
        }
    };
    let prompts: Vec<&str> = params
        .prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    let no_prompt = prompts.contains(&"none");
    if no_prompt && prompts.len() > 1 {
        return Err(fail("invalid_request", "prompt=none cannot be combined"));
    }
    let max_age = match params.max_age.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| fail("invalid_request", "max_age must be a non-negative integer"))?,
        ),
    };
    let nonce = params.nonce.clone().filter(|n| !n.is_empty());
    if nonce.as_ref().is_some_and(|n| n.len() > 255) {
        return Err(fail("invalid_request", "nonce is too long"));
    }
    Ok(ValidRequest {
        client,
        redirect_uri: redirect_uri.clone(),
        scope,
        state: state.clone(),
        nonce,
        code_challenge: code_challenge.to_owned(),
        tenant_hint: params.tenant.clone().filter(|t| !t.is_empty()),
        force_login: prompts.contains(&"login"),
        no_prompt,
        max_age,
    })
}

/// The handle and CSRF token of a pending request, as the browser holds them.
#[derive(Debug, Clone)]
pub struct PendingHandle {
    pub id: String,
    pub csrf: String,
}

/// Stores a validated request while the user logs in or picks a tenant.
pub fn start_pending(
    tx: &mut DbConnection,
    request: &ValidRequest,
    user: Option<(&str, NaiveDateTime)>,
    ttl: std::time::Duration,
) -> Result<PendingHandle> {
    let handle = PendingHandle {
        id: opaque(),
        csrf: opaque(),
    };
    let now = db::now();
    store::insert_pending(
        tx,
        &PendingRequest {
            id_hash: opaque_hash(&handle.id),
            csrf_hash: opaque_hash(&handle.csrf),
            client_id: request.client.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            state: request.state.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            tenant_hint: request.tenant_hint.clone(),
            user_id: user.map(|(id, _)| id.to_owned()),
            auth_time: user.map(|(_, t)| t),
            created_at: now,
            expires_at: now
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::minutes(10)),
        },
    )?;
    Ok(handle)
}

/// The pending request a form refers to, if its handle, the browser's cookie and the
/// CSRF token all agree and it has not expired. Anything else is `Forbidden`.
pub fn load_pending(
    conn: &mut DbConnection,
    form_id: &str,
    form_csrf: &str,
    cookie: Option<&str>,
) -> Result<PendingRequest> {
    let expected_cookie = format!("{form_id}.{form_csrf}");
    let cookie_ok: bool =
        cookie.is_some_and(|c| c.as_bytes().ct_eq(expected_cookie.as_bytes()).into());
    let row = store::pending(conn, &opaque_hash(form_id))?.ok_or(Error::Forbidden)?;
    let csrf_ok: bool = opaque_hash(form_csrf)
        .as_bytes()
        .ct_eq(row.csrf_hash.as_bytes())
        .into();
    if !cookie_ok || !csrf_ok || row.expires_at <= db::now() {
        return Err(Error::Forbidden);
    }
    Ok(row)
}

pub fn finish_pending(tx: &mut DbConnection, row: &PendingRequest) -> Result<()> {
    store::delete_pending(tx, &row.id_hash)?;
    Ok(())
}

pub fn set_pending_user(
    tx: &mut DbConnection,
    row: &PendingRequest,
    user_id: &str,
    auth_time: NaiveDateTime,
) -> Result<()> {
    store::set_pending_user(tx, &row.id_hash, user_id, auth_time)?;
    Ok(())
}

/// An origin for events of a browser request before (or without) a known user.
pub fn browser_origin(
    user_id: Option<&str>,
    ip: Option<String>,
    request_id: Option<String>,
) -> Origin {
    Origin {
        source: "tessera".to_owned(),
        actor_type: ActorType::User,
        actor_id: user_id.map(str::to_owned),
        ip,
        request_id,
    }
}

/// A login attempt in progress: the account (if any), the hash to verify against
/// (`None`: the dummy hash), and the row the attempt was reserved on (`None` for an
/// email that cannot be one: nothing was reserved).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub user: Option<User>,
    pub hash: Option<String>,
    pub counted_on: Option<AttemptRow>,
}

impl Attempt {
    /// Whether the attempt came from a browser this user signed in from before.
    pub fn from_known_browser(&self) -> bool {
        matches!(self.counted_on, Some(AttemptRow::Device(_)))
    }
}

/// A successful login: the session's cookie value and time, and a new known-browser
/// cookie when the browser was not known yet.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: String,
    pub auth_time: NaiveDateTime,
    pub device: Option<String>,
}

/// The first half of a password check: finds the account and reserves an attempt. A
/// browser the user signed in from before (its device cookie) is counted on its own
/// row; any other attempt on the account's row, or for an unknown email on a decoy row
/// (the same work). So an attacker's failures lock the account for unknown browsers
/// only, never its owner's (OWASP "device cookies"), and still evaluate at most
/// `login_max_failures` passwords per lockout window. `hash` is `None` when no password
/// may be evaluated: the caller verifies against the dummy hash, so unknown, locked and
/// disabled accounts cost the same as a wrong password.
pub fn begin_login(
    tx: &mut DbConnection,
    email: &str,
    device_cookie: Option<&str>,
    policy: Lockout,
) -> Result<Attempt> {
    let known = users::device(tx, device_cookie)?;
    let Ok(email) = Email::parse(email) else {
        return Ok(Attempt {
            user: None,
            hash: None,
            counted_on: None,
        });
    };
    let user = match users::find_by_email(tx, &email) {
        Ok(user) => Some(user),
        Err(Error::NotFound) => None,
        Err(e) => return Err(e),
    };
    let row = match known.filter(|(_, owner)| user.as_ref().is_some_and(|u| &u.id == owner)) {
        Some((device, _)) => AttemptRow::Device(device),
        None => users::attempt_row(user.as_ref(), &email),
    };
    let allowed = users::reserve_attempt(tx, &row, policy)?;
    let hash = user
        .as_ref()
        .filter(|u| allowed && u.status == "active")
        .map(|u| u.password_hash.clone());
    Ok(Attempt {
        user,
        hash,
        counted_on: Some(row),
    })
}

/// The second half: settles the attempt on the row [`begin_login`] reserved it on, and
/// records the outcome. A locked account reports as a failure.
pub fn finish_login(
    tx: &mut DbConnection,
    origin: &Origin,
    attempt: &Attempt,
    matched: bool,
    policy: Lockout,
    session_ttl: std::time::Duration,
) -> Result<Option<SignedIn>> {
    let locked_now = match &attempt.counted_on {
        Some(row) => users::settle_attempt(tx, row, policy, matched)?,
        None => false,
    };
    let Some(user) = attempt.user.as_ref() else {
        let event = Event::new(SYSTEM_TENANT_ID, "login.failure", Outcome::Failure)
            .with_details(serde_json::json!({ "reason": "unknown_account" }));
        audit::record(tx, origin, event)?;
        return Ok(None);
    };
    if !matched {
        let event = Event::success(SYSTEM_TENANT_ID, "login.failure", "user", &user.id)
            .with_outcome(Outcome::Failure);
        audit::record(tx, origin, event)?;
        if locked_now {
            let mut locked = Event::success(SYSTEM_TENANT_ID, "user.locked", "user", &user.id);
            if attempt.from_known_browser() {
                locked = locked.with_details(serde_json::json!({ "scope": "known_browser" }));
            }
            audit::record(tx, origin, locked)?;
        }
        return Ok(None);
    }
    let auth_time = db::now();
    let session = create_session(tx, &user.id, auth_time, session_ttl)?;
    let device = if attempt.from_known_browser() {
        None
    } else {
        Some(users::remember_device(tx, &user.id)?)
    };
    audit::record(
        tx,
        origin,
        Event::success(SYSTEM_TENANT_ID, "login.success", "user", &user.id),
    )?;
    Ok(Some(SignedIn {
        session,
        auth_time,
        device,
    }))
}

fn create_session(
    tx: &mut DbConnection,
    user_id: &str,
    auth_time: NaiveDateTime,
    ttl: std::time::Duration,
) -> Result<String> {
    let token = opaque();
    store::insert_session(
        tx,
        &Session {
            id_hash: opaque_hash(&token),
            user_id: user_id.to_owned(),
            auth_time,
            created_at: auth_time,
            expires_at: auth_time
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8)),
            ended_at: None,
        },
    )?;
    Ok(token)
}

/// The live session a cookie refers to, whose user is still active.
pub fn current_session(
    conn: &mut DbConnection,
    cookie: Option<&str>,
) -> Result<Option<(Session, User)>> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    let Some(session) = store::session(conn, &opaque_hash(cookie))? else {
        return Ok(None);
    };
    if session.ended_at.is_some() || session.expires_at <= db::now() {
        return Ok(None);
    }
    let user = users::find(conn, &session.user_id)?;
    Ok((user.status == "active").then_some((session, user)))
}

/// Ends the session a cookie refers to, and every refresh token issued under it (each
/// revocation recorded in its tenant's chain); returns its user when there was one.
pub fn end_session(tx: &mut DbConnection, origin: &Origin, cookie: &str) -> Result<Option<String>> {
    let hash = opaque_hash(cookie);
    let Some(session) = store::session(tx, &hash)? else {
        return Ok(None);
    };
    if session.ended_at.is_some() {
        return Ok(None);
    }
    store::end_session(tx, &hash, db::now())?;
    let mut origin = origin.clone();
    origin.actor_id = Some(session.user_id.clone());
    for (family_id, _) in crate::oauth::store::session_families(tx, &hash)? {
        crate::tokens::revoke_family(
            tx,
            &origin,
            &family_id,
            None,
            &crate::tokens::FamilyRevocation {
                home: None,
                action: "token.revoked",
                reason: "logout",
                outcome: Outcome::Success,
            },
        )?;
    }
    audit::record(
        tx,
        &origin,
        Event::success(SYSTEM_TENANT_ID, "session.ended", "user", &session.user_id),
    )?;
    Ok(Some(session.user_id))
}

/// Records that a source was throttled (once per source and minute, see `throttle`).
pub fn record_throttled(tx: &mut DbConnection, origin: &Origin) -> Result<()> {
    audit::record(
        tx,
        origin,
        Event::new(SYSTEM_TENANT_ID, "login.throttled", Outcome::Denied),
    )?;
    Ok(())
}

/// The CSRF token of the sign-out confirmation form: derived from the session cookie,
/// so only the browser holding the session can submit it.
pub fn logout_csrf(cookie: &str) -> String {
    opaque_hash(&format!("logout:{cookie}"))
}

/// Whether a submitted sign-out form carries the token of this browser's session.
pub fn logout_csrf_matches(cookie: &str, presented: &str) -> bool {
    logout_csrf(cookie)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// Where RP-initiated logout may send the browser afterwards: only to a redirect URI
/// registered for the client (`state` added). `None` for anything else.
pub fn post_logout_redirect(
    conn: &mut DbConnection,
    client_id: Option<&str>,
    uri: Option<&str>,
    state: Option<&str>,
) -> Result<Option<String>> {
    let (Some(client_id), Some(uri)) = (client_id, uri) else {
        return Ok(None);
    };
    let client = match clients::find(conn, client_id) {
        Ok(client) => client,
        Err(Error::NotFound) => return Ok(None),
        Err(e) => return Err(e),
    };
    if !client.redirect_uris.split_whitespace().any(|r| r == uri) {
        return Ok(None);
    }
    let Some(state) = state.filter(|s| !s.is_empty()) else {
        return Ok(Some(uri.to_owned()));
    };
    Ok(url::Url::parse(uri).ok().map(|mut url| {
        url.query_pairs_mut().append_pair("state", state);
        url.to_string()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert!(valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
        assert!(!valid_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }
}
