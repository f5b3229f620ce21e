//! Single-sign-on sessions and RP-initiated logout.

use chrono::NaiveDateTime;
use subtle::ConstantTimeEq;

use crate::audit::{self, Event, Origin, Outcome};
use crate::clients::{self};
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::tenants::SYSTEM_TENANT_ID;
use crate::tokens::{opaque, opaque_hash};
use crate::users::{self, User};

use super::store::{self, Session};

pub(super) fn create_session(
    tx: &mut DbConnection,
    user_id: &str,
    auth_time: NaiveDateTime,
    ttl: std::time::Duration,
    amr: &str,
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
            amr: amr.to_owned(),
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
    let user = users::find(conn, &session.user_id)?.ok_or(Error::NotFound)?;
    Ok((user.status == "active").then_some((session, user)))
}

/// Ends the session a cookie refers to, and every refresh token issued under it (each
/// revocation recorded in its tenant's chain); returns its user when there was one.
pub fn end_session(tx: &mut DbConnection, origin: &Origin, cookie: &str) -> Result<Option<String>> {
    end_session_by_hash(tx, origin, &opaque_hash(cookie), "logout")
}

/// Ends every live session of a user and the refresh tokens issued under them, each
/// recorded like a logout (`reason`: why). Returns how many sessions ended.
pub fn end_user_sessions(
    tx: &mut DbConnection,
    origin: &Origin,
    user_id: &str,
    reason: &str,
) -> Result<usize> {
    let hashes = store::live_sessions(tx, user_id)?;
    for hash in &hashes {
        end_session_by_hash(tx, origin, hash, reason)?;
    }
    Ok(hashes.len())
}

fn end_session_by_hash(
    tx: &mut DbConnection,
    origin: &Origin,
    hash: &str,
    reason: &str,
) -> Result<Option<String>> {
    let hash = hash.to_owned();
    let Some(session) = store::session(tx, &hash)? else {
        return Ok(None);
    };
    if session.ended_at.is_some() {
        return Ok(None);
    }
    store::end_session(tx, &hash, db::now())?;
    let mut origin = origin.clone();
    if origin.actor_id.is_none() {
        origin.actor_id = Some(session.user_id.clone());
    }
    for (family_id, _) in crate::oauth::store::session_families(tx, &hash)? {
        crate::tokens::revoke_family(
            tx,
            &origin,
            &family_id,
            None,
            &crate::tokens::FamilyRevocation {
                home: None,
                action: "token.revoked",
                reason,
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

/// The CSRF token of a signed-in browser's form for `purpose` (`logout`, `account`):
/// derived from the session cookie, so only the browser holding the session can submit
/// it, and a token of one form is no token for another.
pub fn session_csrf(purpose: &str, cookie: &str) -> String {
    opaque_hash(&format!("{purpose}:{cookie}"))
}

/// Whether a submitted form carries the token of this browser's session.
pub fn session_csrf_matches(purpose: &str, cookie: &str, presented: &str) -> bool {
    session_csrf(purpose, cookie)
        .as_bytes()
        .ct_eq(presented.as_bytes())
        .into()
}

/// Whether the session's authentication is recent enough to change its user's factors:
/// at most `within` old and, for a user who has a second factor, made with it.
pub fn is_fresh(session: &Session, has_factor: bool, within: std::time::Duration) -> bool {
    let within = chrono::Duration::from_std(within).unwrap_or(chrono::Duration::zero());
    db::now() - session.auth_time <= within && (!has_factor || session.has_second_factor())
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
    let Some(client) = clients::find(conn, client_id)? else {
        return Ok(None);
    };
    if !client.allows_redirect(uri) {
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
