//! The second step of a login: a TOTP code or a recovery code, counted on the same
//! lockout row as the password (an account's failures, or its owner's known browser's),
//! and the TOTP enrolment of a user who has no factor yet. A wrong code, a code used
//! before, a user without the factor and a locked account all fail the same way:
//! `None`.

use crate::audit::Origin;
use crate::db::DbConnection;
use crate::error::Result;
use crate::mfa::{self, Sealer};
use crate::users::{self, AttemptRow, Lockout, Settled, User};

use super::store::{self, Session};

/// What the browser gave as the second factor.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A TOTP code or a recovery code, as typed.
    Code(&'a str),
    /// The answer (JSON) to the WebAuthn ceremony `handle`.
    Webauthn {
        rp: &'a crate::mfa::webauthn::RelyingParty,
        handle: &'a str,
        answer: &'a str,
    },
}

/// A second factor given on a page.
#[derive(Debug, Clone, Copy)]
pub struct Given<'a> {
    pub proof: Proof<'a>,
    /// The browser's known-browser cookie: its attempts are counted on its own row, as
    /// for the password.
    pub device_cookie: Option<&'a str>,
    /// Seconds since the epoch.
    pub now: u64,
}

/// A second factor accepted.
#[derive(Debug)]
pub struct Accepted {
    /// The session's `amr`, now with the second factor.
    pub amr: String,
    /// A new known-browser cookie, when the browser was not known: a browser becomes
    /// known only by a complete login, or a password alone would buy fresh attempt
    /// rows for guessing the second factor.
    pub device: Option<String>,
}

/// Checks a second factor for the session's user; on success the session's `amr`
/// gains it. Audited either way (`mfa.verified`, `mfa.recovery_used` or
/// `mfa.failed`).
pub fn give_second_factor(
    tx: &mut DbConnection,
    origin: &Origin,
    sealer: &Sealer,
    session: &Session,
    user: &User,
    given: Given<'_>,
    policy: Lockout,
) -> Result<Option<Accepted>> {
    let row = match users::device(tx, given.device_cookie)? {
        Some((device, owner)) if owner == user.id => AttemptRow::Device(device),
        _ => AttemptRow::User(user.id.clone()),
    };
    if !users::reserve_attempt(tx, &row, policy)? {
        mfa::record_refused(tx, origin, user)?;
        return Ok(None);
    }
    let (accepted, method) = match given.proof {
        Proof::Code(typed) => {
            let code: String = typed.split_whitespace().collect();
            if mfa::totp::is_code_shaped(&code) {
                let ok = mfa::check_totp(tx, origin, sealer, user, &code, given.now)?;
                (ok, Some("otp"))
            } else {
                // A recovery code is a second factor without an RFC 8176 method.
                (mfa::use_recovery(tx, origin, user, &code)?, None)
            }
        }
        Proof::Webauthn { rp, handle, answer } => {
            match mfa::webauthn::finish_authentication(tx, origin, rp, user, handle, answer)? {
                Some(method) => (true, Some(method)),
                None => (false, None),
            }
        }
    };
    let settled = if accepted {
        Settled::Success
    } else {
        Settled::Failure
    };
    if users::settle_attempt(tx, &row, policy, settled)? {
        super::attempt::record_locked(tx, origin, user, matches!(row, AttemptRow::Device(_)))?;
    }
    if !accepted {
        return Ok(None);
    }
    let device = match row {
        AttemptRow::Device(_) => None,
        _ => Some(users::remember_device(tx, &user.id)?),
    };
    Ok(Some(Accepted {
        amr: raise(tx, session, method)?,
        device,
    }))
}

/// What a confirmed enrolment gives: the session's new `amr` and the recovery codes,
/// shown once.
#[derive(Debug)]
pub struct Enrolled {
    pub amr: String,
    pub recovery_codes: Vec<String>,
    /// The enrolling browser's new known-browser cookie: enrolment forgets every
    /// browser known before, and this one has just given both factors.
    pub device: String,
}

/// Confirms the user's pending TOTP enrolment with its first code; that code counts as
/// the session's second factor, and a new set of recovery codes is generated. At login
/// only a user without a factor may enrol (the caller checks): one who has a factor
/// adds another at `/account`, after giving it.
pub fn confirm_enrolment(
    tx: &mut DbConnection,
    origin: &Origin,
    sealer: &Sealer,
    session: &Session,
    user: &User,
    code: &str,
    now: u64,
) -> Result<Option<Enrolled>> {
    let code: String = code.split_whitespace().collect();
    if !mfa::confirm_totp(tx, origin, sealer, user, &code, now)? {
        return Ok(None);
    }
    let recovery_codes = mfa::regenerate_recovery(tx, origin, user)?;
    let amr = raise(tx, session, Some("otp"))?;
    let device = users::remember_device(tx, &user.id)?;
    Ok(Some(Enrolled {
        amr,
        recovery_codes,
        device,
    }))
}

/// A platform admin's reset of a user's factors (`mfa::reset`, audited in every chain
/// of the user), which also ends the user's sessions and revokes the refresh tokens
/// issued under them: whoever signed in with the old factors signs in again.
pub fn reset_factors(
    tx: &mut DbConnection,
    origin: &Origin,
    user: &User,
    reason: &str,
) -> Result<bool> {
    let removed = mfa::reset(tx, origin, user, reason)?;
    super::end_user_sessions(tx, origin, &user.id, "mfa_reset")?;
    Ok(removed)
}

/// The session's `amr` with a second factor added (`method`, then `mfa`), stored.
fn raise(tx: &mut DbConnection, session: &Session, method: Option<&str>) -> Result<String> {
    let mut amr: Vec<&str> = session.amr.split(' ').filter(|m| !m.is_empty()).collect();
    for m in method.into_iter().chain([super::MFA_ACR]) {
        if !amr.contains(&m) {
            amr.push(m);
        }
    }
    let amr = amr.join(" ");
    store::set_session_amr(tx, &session.id_hash, &amr)?;
    Ok(amr)
}
