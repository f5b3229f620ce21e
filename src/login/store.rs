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
    /// How the session authenticated (RFC 8176, space-separated): `pwd` today.
    pub amr: String,
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
