//! Users: one global identity per person (email + bcrypt password hash). Tenant access
//! comes only from memberships (see `memberships`).

pub mod password;
pub mod store;

use crate::audit::{self, Event, Origin};
use crate::db::{self, DbConnection};
use crate::error::{is_unique_violation, Error, Result};
use crate::tenants::SYSTEM_TENANT_ID;

pub use store::{AttemptRow, User};

/// A normalized email address (trimmed, lower-case), checked for a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Self> {
        const INVALID: Error = Error::Invalid("email: not a valid address");
        let text = text.trim().to_lowercase();
        if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(INVALID);
        }
        let (local, domain) = text.split_once('@').ok_or(INVALID)?;
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(INVALID);
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Creates a user from an already computed password hash (hash outside the
/// transaction: bcrypt is slow) and records `user.created` in the system chain.
pub fn create(
    tx: &mut DbConnection,
    origin: &Origin,
    email: &Email,
    password_hash: String,
) -> Result<User> {
    let now = db::now();
    let user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.as_str().to_owned(),
        password_hash,
        status: "active".to_owned(),
        failed_logins: 0,
        locked_until: None,
        created_at: now,
        updated_at: now,
    };
    store::insert(tx, &user).map_err(|e| {
        if is_unique_violation(&e) {
            Error::Conflict("user")
        } else {
            e.into()
        }
    })?;
    audit::record(
        tx,
        origin,
        Event::success(SYSTEM_TENANT_ID, "user.created", "user", &user.id),
    )?;
    Ok(user)
}

/// The user with this email, if any.
pub fn find_by_email(conn: &mut DbConnection, email: &Email) -> Result<Option<User>> {
    Ok(store::by_email(conn, email.as_str())?)
}

/// The user with this email, or a new `invited` account (no usable password: it
/// cannot log in until one is set). Adding a member therefore answers the same whether
/// or not the person already had an account, and reveals nothing about other tenants.
pub fn find_or_invite(tx: &mut DbConnection, origin: &Origin, email: &Email) -> Result<User> {
    if let Some(user) = find_by_email(tx, email)? {
        return Ok(user);
    }
    let mut user = create(tx, origin, email, "!".to_owned())?;
    store::set_status(tx, &user.id, "invited")?;
    user.status = "invited".to_owned();
    Ok(user)
}

/// The user with this id, if any. An id that cannot be one (not a UUID) is simply not
/// found: it never reaches the database.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<User>> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Ok(None);
    }
    Ok(store::by_id(conn, id)?)
}

/// Login throttling: failures in a row lock the account for a while.
#[derive(Debug, Clone, Copy)]
pub struct Lockout {
    pub max_failures: u32,
    pub duration: std::time::Duration,
}

/// How long a browser stays known after its last successful login.
pub const DEVICE_TTL: chrono::Duration = chrono::Duration::days(180);

/// The hash of a known-browser cookie, and whose browser it is (nobody's when the
/// cookie is unknown or expired). Looked up whether or not the email has an account, so
/// a cookie costs the same either way.
pub fn device(conn: &mut DbConnection, cookie: Option<&str>) -> Result<Option<(String, String)>> {
    let Some(cookie) = cookie.filter(|c| !c.is_empty() && c.len() <= 128) else {
        return Ok(None);
    };
    let hash = crate::tokens::opaque_hash(cookie);
    Ok(store::device_user(conn, &hash, db::now())?.map(|user| (hash, user)))
}

/// Remembers the browser a user just signed in from; returns its cookie's value.
pub fn remember_device(tx: &mut DbConnection, user_id: &str) -> Result<String> {
    let cookie = crate::tokens::opaque();
    let now = db::now();
    store::insert_device(
        tx,
        &crate::tokens::opaque_hash(&cookie),
        user_id,
        now,
        now + DEVICE_TTL,
    )?;
    Ok(cookie)
}

/// Forgets every browser the user signed in from: after a change of second factors, a
/// browser known from before (perhaps to someone who had only the password) must not
/// keep an attempt row of its own for guessing the new factor.
pub fn forget_devices(tx: &mut DbConnection, user_id: &str) -> Result<()> {
    store::delete_devices(tx, user_id)?;
    Ok(())
}

/// How many decoy rows there are (`login_decoys`, migration 0007).
const DECOYS: u32 = 64;

/// The row a login attempt for this email is counted on: the account's own, or, when
/// no account has the email, a decoy row chosen by a hash of the email. A decoy takes
/// exactly the statements an account's row takes, so an unknown email costs the same
/// committed work as a wrong password (invariant 3: the same answer in the same time).
pub fn attempt_row(user: Option<&User>, email: &Email) -> AttemptRow {
    match user {
        Some(user) => AttemptRow::User(user.id.clone()),
        None => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(email.as_str().as_bytes());
            let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % DECOYS;
            AttemptRow::Decoy(i32::try_from(n).unwrap_or(0))
        }
    }
}

/// Reserves one login attempt before the password is checked, atomically in `tx`:
/// refused while the account is locked or while `max_failures` attempts are already
/// counted, so parallel guesses can never evaluate more than `max_failures` passwords
/// per lockout window, whatever the load. An expired lock starts a fresh count.
pub fn reserve_attempt(tx: &mut DbConnection, row: &AttemptRow, policy: Lockout) -> Result<bool> {
    let now = db::now();
    store::lock_row(tx, row)?;
    let (current, locked, updated_at) = store::attempt_state(tx, row)?.ok_or(Error::NotFound)?;
    let max = i32::try_from(policy.max_failures).unwrap_or(i32::MAX);
    let (mut failed, mut locked_until) = (current, locked);
    match locked_until {
        Some(until) if until > now => return Ok(false),
        Some(_) => (failed, locked_until) = (0, None),
        None => {}
    }
    if failed >= max {
        // The limit is reached by attempts still being checked: they settle (and lock)
        // within a bcrypt's time. An attempt never settled (the process died while
        // checking it) counts as a failure: the count starts over only once a whole
        // lockout period has passed since the last attempt, exactly as if it had locked.
        if now - updated_at < lockout_delta(policy) {
            return Ok(false);
        }
        failed = 0;
    }
    store::set_failures(tx, row, failed + 1, locked_until, now)?;
    Ok(true)
}

/// How a reserved attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The login is complete: the count starts over.
    Success,
    /// A password matched but a second factor may follow: only this attempt's
    /// reservation is released, so earlier failures (second-factor ones included)
    /// still count. Otherwise someone who knows the password could reset the count
    /// between guesses at the second factor.
    FirstFactor,
    Failure,
}

/// Settles a reserved attempt: success clears the count; a failure keeps it and, once
/// it reaches the limit, locks the account. Returns whether this failure locked it.
pub fn settle_attempt(
    tx: &mut DbConnection,
    row: &AttemptRow,
    policy: Lockout,
    settled: Settled,
) -> Result<bool> {
    let now = db::now();
    store::lock_row(tx, row)?;
    let (failed, locked_until, _) = store::attempt_state(tx, row)?.ok_or(Error::NotFound)?;
    match settled {
        Settled::Success => {
            store::set_failures(tx, row, 0, None, now)?;
            return Ok(false);
        }
        Settled::FirstFactor => {
            store::set_failures(tx, row, (failed - 1).max(0), locked_until, now)?;
            return Ok(false);
        }
        Settled::Failure => {}
    }
    let max = i32::try_from(policy.max_failures).unwrap_or(i32::MAX);
    let already_locked = locked_until.is_some_and(|until| until > now);
    if failed >= max && !already_locked {
        store::set_failures(tx, row, failed, Some(now + lockout_delta(policy)), now)?;
        return Ok(true);
    }
    Ok(false)
}

fn lockout_delta(policy: Lockout) -> chrono::Duration {
    chrono::Duration::from_std(policy.duration).unwrap_or(chrono::Duration::hours(1))
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<User>> {
    Ok(store::all(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a b@example.com",
            "a@b@c",
            "a@.x",
            "a@x..y",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
