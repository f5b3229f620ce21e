//! Password attempts with lockout: reserve an attempt, verify, settle it; a successful
//! login opens a session.

use chrono::NaiveDateTime;

use crate::audit::{self, Event, Origin, Outcome};
use crate::db::{self, DbConnection};
use crate::error::Result;
use crate::tenants::SYSTEM_TENANT_ID;
use crate::users::{self, AttemptRow, Email, Lockout, Settled, User};

use super::session::create_session;

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
    /// The password was settled as a first factor only (the user has a second one):
    /// the login completes with it, or with [`complete_without_factor`].
    pub first_factor_only: bool,
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
    let user = users::find_by_email(tx, &email)?;
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
/// records the outcome. A locked account reports as a failure. Returns the origin the
/// outcome was recorded under (the browser's request, as the attempt's user), for the
/// events of the steps that follow.
pub fn finish_login(
    tx: &mut DbConnection,
    attempt: &Attempt,
    matched: bool,
    policy: Lockout,
    session_ttl: std::time::Duration,
    ip: Option<String>,
    request_id: Option<String>,
) -> Result<(Origin, Option<SignedIn>)> {
    let origin =
        super::browser_origin(attempt.user.as_ref().map(|u| u.id.as_str()), ip, request_id);
    let signed_in = settle(tx, &origin, attempt, matched, policy, session_ttl)?;
    Ok((origin, signed_in))
}

fn settle(
    tx: &mut DbConnection,
    origin: &Origin,
    attempt: &Attempt,
    matched: bool,
    policy: Lockout,
    session_ttl: std::time::Duration,
) -> Result<Option<SignedIn>> {
    // A user with a second factor completes the login only with it (`factor.rs`).
    let settled = match attempt.user.as_ref() {
        _ if !matched => Settled::Failure,
        Some(user) if crate::mfa::factors(tx, user)?.any() => Settled::FirstFactor,
        _ => Settled::Success,
    };
    let locked_now = match &attempt.counted_on {
        Some(row) => users::settle_attempt(tx, row, policy, settled)?,
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
            record_locked(tx, origin, user, attempt.from_known_browser())?;
        }
        return Ok(None);
    }
    let auth_time = db::now();
    let session = create_session(tx, &user.id, auth_time, session_ttl, super::PASSWORD_AMR)?;
    // A browser becomes known by a complete login (see `factor.rs`).
    let device = if attempt.from_known_browser() || settled == Settled::FirstFactor {
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
        first_factor_only: settled == Settled::FirstFactor,
    }))
}

/// Completes a login that needed no second factor after all (the tenant's policy did
/// not ask for one), for a user who has one: the attempt row's count starts over, as
/// after any complete login, and a browser not known yet becomes known (its cookie is
/// returned). Without this, such a user's failures would add up across successful
/// logins and their browsers would never become known.
pub fn complete_without_factor(
    tx: &mut DbConnection,
    attempt: &Attempt,
    policy: Lockout,
) -> Result<Option<String>> {
    let (Some(row), Some(user)) = (&attempt.counted_on, &attempt.user) else {
        return Ok(None);
    };
    users::settle_attempt(tx, row, policy, Settled::Success)?;
    if attempt.from_known_browser() {
        return Ok(None);
    }
    Ok(Some(users::remember_device(tx, &user.id)?))
}

/// Records that failures locked the account (or, for a known browser, that browser).
pub(super) fn record_locked(
    tx: &mut DbConnection,
    origin: &Origin,
    user: &User,
    known_browser: bool,
) -> Result<()> {
    let mut locked = Event::success(SYSTEM_TENANT_ID, "user.locked", "user", &user.id);
    if known_browser {
        locked = locked.with_details(serde_json::json!({ "scope": "known_browser" }));
    }
    audit::record(tx, origin, locked)?;
    Ok(())
}
