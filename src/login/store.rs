//! Queries on `authorization_requests` and `sessions`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{authorization_requests, sessions};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_requests)]
pub struct PendingRequest {
    pub id_hash: String,
    pub csrf_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub tenant_hint: Option<String>,
    pub user_id: Option<String>,
    pub auth_time: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    /// `mfa` when the request asked for a second factor (`acr_values=mfa`).
    pub acr_values: Option<String>,
}

impl PendingRequest {
    pub fn wants_mfa(&self) -> bool {
        self.acr_values.as_deref() == Some(super::MFA_ACR)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct Session {
    pub id_hash: String,
    pub user_id: String,
    pub auth_time: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
    /// How the session authenticated (RFC 8176, space-separated): `pwd`, then e.g.
    /// `pwd otp mfa` once a second factor was given.
    pub amr: String,
}

impl Session {
    /// Whether the session used a second factor.
    pub fn has_second_factor(&self) -> bool {
        self.amr.split(' ').any(|m| m == "mfa")
    }
}

/// Records what a session authenticated with, after a second factor.
pub fn set_session_amr(conn: &mut DbConnection, id_hash: &str, amr: &str) -> QueryResult<bool> {
    diesel::update(sessions::table.find(id_hash))
        .set(sessions::amr.eq(amr))
        .execute(conn)
        .map(|n| n == 1)
}

/// Narrows a pending request to the tenant it resolved to, while a second factor is
/// asked for (the tenant is resolved again from the memberships afterwards).
pub fn set_pending_tenant(conn: &mut DbConnection, id_hash: &str, slug: &str) -> QueryResult<()> {
    diesel::update(authorization_requests::table.find(id_hash))
        .set(authorization_requests::tenant_hint.eq(slug))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_pending(conn: &mut DbConnection, row: &PendingRequest) -> QueryResult<()> {
    diesel::insert_into(authorization_requests::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn pending(conn: &mut DbConnection, id_hash: &str) -> QueryResult<Option<PendingRequest>> {
    authorization_requests::table
        .find(id_hash)
        .select(PendingRequest::as_select())
        .first(conn)
        .optional()
}

pub fn set_pending_user(
    conn: &mut DbConnection,
    id_hash: &str,
    user_id: &str,
    auth_time: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(authorization_requests::table.find(id_hash))
        .set((
            authorization_requests::user_id.eq(user_id),
            authorization_requests::auth_time.eq(auth_time),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn delete_pending(conn: &mut DbConnection, id_hash: &str) -> QueryResult<()> {
    diesel::delete(authorization_requests::table.find(id_hash))
        .execute(conn)
        .map(|_| ())
}

pub fn insert_session(conn: &mut DbConnection, row: &Session) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn session(conn: &mut DbConnection, id_hash: &str) -> QueryResult<Option<Session>> {
    sessions::table
        .find(id_hash)
        .select(Session::as_select())
        .first(conn)
        .optional()
}

pub fn end_session(conn: &mut DbConnection, id_hash: &str, at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(sessions::table.find(id_hash))
        .set(sessions::ended_at.eq(at))
        .execute(conn)
        .map(|_| ())
}

/// The sessions of a user that have not ended.
pub fn live_sessions(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<String>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .select(sessions::id_hash)
        .load(conn)
}
