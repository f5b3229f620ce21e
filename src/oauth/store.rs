//! Queries on `auth_codes` and `refresh_tokens`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{auth_codes, refresh_tokens};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_codes)]
pub struct AuthCode {
    pub tenant_id: String,
    pub code_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub auth_time: NaiveDateTime,
    pub family_id: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    /// The login session the code was issued under (`sessions.id_hash`).
    pub session_hash: Option<String>,
    /// How the session authenticated (RFC 8176, space-separated).
    pub amr: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub tenant_id: String,
    pub token_hash: String,
    pub family_id: String,
    pub jti: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub auth_time: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
    /// The login session the family was issued under (`sessions.id_hash`).
    pub session_hash: Option<String>,
    /// How the session authenticated (RFC 8176, space-separated).
    pub amr: String,
}

pub fn insert_code(conn: &mut DbConnection, row: &AuthCode) -> QueryResult<()> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&row.tenant_id), |conn| {
        diesel::insert_into(auth_codes::table)
            .values(row)
            .execute(conn)
            .map(|_| ())
    })
}

pub fn code(conn: &mut DbConnection, code_hash: &str) -> QueryResult<Option<AuthCode>> {
    crate::db::scoped(conn, crate::db::Scope::Code(code_hash), |conn| {
        auth_codes::table
            .filter(auth_codes::code_hash.eq(code_hash))
            .select(AuthCode::as_select())
            .first(conn)
            .optional()
    })
}

/// Marks a code used; false when it already was (a concurrent exchange won).
pub fn use_code(conn: &mut DbConnection, row: &AuthCode, at: NaiveDateTime) -> QueryResult<bool> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&row.tenant_id), |conn| {
        diesel::update(
            auth_codes::table
                .filter(auth_codes::tenant_id.eq(&row.tenant_id))
                .filter(auth_codes::code_hash.eq(&row.code_hash))
                .filter(auth_codes::used_at.is_null()),
        )
        .set(auth_codes::used_at.eq(at))
        .execute(conn)
        .map(|n| n == 1)
    })
}

pub fn insert_refresh(conn: &mut DbConnection, row: &RefreshToken) -> QueryResult<()> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&row.tenant_id), |conn| {
        diesel::insert_into(refresh_tokens::table)
            .values(row)
            .execute(conn)
            .map(|_| ())
    })
}

pub fn refresh(conn: &mut DbConnection, token_hash: &str) -> QueryResult<Option<RefreshToken>> {
    crate::db::scoped(conn, crate::db::Scope::RefreshToken(token_hash), |conn| {
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select(RefreshToken::as_select())
            .first(conn)
            .optional()
    })
}

/// Marks a refresh token used; false when it already was.
pub fn use_refresh(
    conn: &mut DbConnection,
    row: &RefreshToken,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&row.tenant_id), |conn| {
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::tenant_id.eq(&row.tenant_id))
                .filter(refresh_tokens::token_hash.eq(&row.token_hash))
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(at))
        .execute(conn)
        .map(|n| n == 1)
    })
}

/// Undoes [`use_refresh`] in the same transaction: the token was not redeemed after
/// all (its refresh was refused for a reason that leaves it valid).
pub fn unuse_refresh(conn: &mut DbConnection, row: &RefreshToken) -> QueryResult<()> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&row.tenant_id), |conn| {
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::tenant_id.eq(&row.tenant_id))
                .filter(refresh_tokens::token_hash.eq(&row.token_hash)),
        )
        .set(refresh_tokens::used_at.eq(None::<NaiveDateTime>))
        .execute(conn)
        .map(|_| ())
    })
}

/// The refresh families (and the tenant of each) issued under a login session.
pub fn session_families(
    conn: &mut DbConnection,
    session_hash: &str,
) -> QueryResult<Vec<(String, String)>> {
    crate::db::scoped(conn, crate::db::Scope::Session(session_hash), |conn| {
        refresh_tokens::table
            .filter(refresh_tokens::session_hash.eq(session_hash))
            .select((refresh_tokens::family_id, refresh_tokens::tenant_id))
            .distinct()
            .load(conn)
    })
}
