//! The console's server-side sessions. The browser holds only a random cookie; the
//! database holds its hash and, first, the sign-in in progress (the hash of the
//! `state` sent to `/authorize` and the PKCE verifier), then the reader's verified
//! access-token claims. Each request checks the claims' expiry and the token's ledger
//! row again, so a revoked token ends the console session at once.

use base64::Engine;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::schema::console_sessions;
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::tokens::{opaque, opaque_hash, AccessClaims};

/// How long a sign-in may take, from `/console/login` to the callback.
const SIGN_IN_TTL: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = console_sessions)]
pub struct Row {
    pub id_hash: String,
    pub state_hash: Option<String>,
    pub code_verifier: Option<String>,
    pub return_to: Option<String>,
    pub claims: Option<String>,
    pub time_zone: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// A sign-in just begun: the cookie to set, and what goes to `/authorize`.
pub struct SignIn {
    pub cookie: String,
    pub state: String,
    pub code_challenge: String,
}

/// A sign-in coming back: the verifier to redeem the code with, and where to go after.
pub struct Returning {
    pub code_verifier: String,
    pub return_to: String,
}

/// A signed-in reader.
#[derive(Debug, Clone)]
pub struct Reader {
    pub claims: AccessClaims,
    /// An IANA time zone the reader chose, besides UTC.
    pub time_zone: Option<chrono_tz::Tz>,
}

/// The S256 challenge of a PKCE verifier (RFC 7636 4.2).
fn challenge_of(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Starts a sign-in that will come back to `return_to` (a console path).
pub fn begin(conn: &mut DbConnection, return_to: &str) -> Result<SignIn> {
    let cookie = opaque();
    let state = opaque();
    let verifier = opaque();
    let now = db::now();
    let row = Row {
        id_hash: opaque_hash(&cookie),
        state_hash: Some(opaque_hash(&state)),
        code_verifier: Some(verifier.clone()),
        return_to: Some(return_to.to_owned()),
        claims: None,
        time_zone: None,
        created_at: now,
        expires_at: now + SIGN_IN_TTL,
    };
    db::write_tx(conn, |tx| {
        diesel::insert_into(console_sessions::table)
            .values(&row)
            .execute(tx)
    })?;
    Ok(SignIn {
        cookie,
        state,
        code_challenge: challenge_of(&verifier),
    })
}

fn find(conn: &mut DbConnection, cookie: &str) -> Result<Option<Row>> {
    Ok(console_sessions::table
        .find(opaque_hash(cookie))
        .filter(console_sessions::expires_at.gt(db::now()))
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

/// The sign-in of `cookie`, if `state` is the one it sent; consumed, so a callback
/// works once. Anything else is `None`.
pub fn take_sign_in(
    conn: &mut DbConnection,
    cookie: &str,
    state: &str,
) -> Result<Option<Returning>> {
    let Some(row) = find(conn, cookie)? else {
        return Ok(None);
    };
    let (Some(expected), Some(verifier)) = (row.state_hash, row.code_verifier) else {
        return Ok(None);
    };
    if !bool::from(opaque_hash(state).as_bytes().ct_eq(expected.as_bytes())) {
        return Ok(None);
    }
    let taken = db::write_tx(conn, |tx| {
        diesel::update(
            console_sessions::table
                .find(&row.id_hash)
                .filter(console_sessions::state_hash.eq(&expected)),
        )
        .set((
            console_sessions::state_hash.eq(None::<String>),
            console_sessions::code_verifier.eq(None::<String>),
        ))
        .execute(tx)
    })?;
    Ok((taken == 1).then(|| Returning {
        code_verifier: verifier,
        return_to: row
            .return_to
            .unwrap_or_else(|| crate::console::PATH.to_owned()),
    }))
}

/// Makes the session of `cookie` a reader's, until the access token expires.
pub fn complete(conn: &mut DbConnection, cookie: &str, claims: &AccessClaims) -> Result<()> {
    let json = serde_json::to_string(claims).map_err(Error::internal)?;
    let expires_at = crate::tokens::timestamp(claims.exp);
    db::write_tx(conn, |tx| {
        diesel::update(console_sessions::table.find(opaque_hash(cookie)))
            .set((
                console_sessions::claims.eq(json),
                console_sessions::expires_at.eq(expires_at),
            ))
            .execute(tx)
    })?;
    Ok(())
}

/// The reader signed in with `cookie`, while its token is unexpired and unrevoked.
pub fn reader(conn: &mut DbConnection, cookie: &str) -> Result<Option<Reader>> {
    let Some(row) = find(conn, cookie)? else {
        return Ok(None);
    };
    let Some(claims) = row.claims.as_deref() else {
        return Ok(None);
    };
    let claims: AccessClaims = serde_json::from_str(claims).map_err(Error::internal)?;
    if claims.exp <= chrono::Utc::now().timestamp()
        || crate::tokens::is_revoked(conn, &claims.tenant_id, &claims.jti)?
    {
        return Ok(None);
    }
    Ok(Some(Reader {
        claims,
        time_zone: row.time_zone.and_then(|tz| tz.parse().ok()),
    }))
}

/// Sets (or, with `None`, clears) the reader's time zone.
pub fn set_time_zone(
    conn: &mut DbConnection,
    cookie: &str,
    time_zone: Option<chrono_tz::Tz>,
) -> Result<()> {
    db::write_tx(conn, |tx| {
        diesel::update(console_sessions::table.find(opaque_hash(cookie)))
            .set(console_sessions::time_zone.eq(time_zone.map(|tz| tz.name().to_owned())))
            .execute(tx)
    })?;
    Ok(())
}

/// Ends the session of `cookie`; returns the claims it held, if any.
pub fn end(conn: &mut DbConnection, cookie: &str) -> Result<Option<AccessClaims>> {
    let claims = find(conn, cookie)?
        .and_then(|row| row.claims)
        .and_then(|c| serde_json::from_str(&c).ok());
    db::write_tx(conn, |tx| {
        diesel::delete(console_sessions::table.find(opaque_hash(cookie))).execute(tx)
    })?;
    Ok(claims)
}

/// Deletes up to `limit` sessions that expired before `before` (housekeeping).
pub fn purge(conn: &mut DbConnection, before: NaiveDateTime, limit: i64) -> QueryResult<usize> {
    let ids: Vec<String> = console_sessions::table
        .filter(console_sessions::expires_at.lt(before))
        .select(console_sessions::id_hash)
        .limit(limit)
        .load(conn)?;
    diesel::delete(console_sessions::table.filter(console_sessions::id_hash.eq_any(ids)))
        .execute(conn)
}
