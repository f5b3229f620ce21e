//! Batched deletes of expired rows. Each call deletes at most `limit` rows in one short
//! statement, so no table is locked for long however much has piled up.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    auth_codes, authorization_requests, ingest_keys, login_devices, refresh_tokens, sessions,
    webauthn_ceremonies,
};
use crate::db::{DbConnection, Scope};

pub fn pending_requests(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let batch = authorization_requests::table
        .filter(authorization_requests::expires_at.lt(before))
        .select(authorization_requests::id_hash)
        .limit(limit);
    let ids: Vec<String> = batch.load(conn)?;
    diesel::delete(
        authorization_requests::table.filter(authorization_requests::id_hash.eq_any(ids)),
    )
    .execute(conn)
}

/// Sessions that expired or were ended before `before`.
pub fn sessions(conn: &mut DbConnection, before: NaiveDateTime, limit: i64) -> QueryResult<usize> {
    let ids: Vec<String> = sessions::table
        .filter(
            sessions::expires_at
                .lt(before)
                .or(sessions::ended_at.lt(before)),
        )
        .select(sessions::id_hash)
        .limit(limit)
        .load(conn)?;
    diesel::delete(sessions::table.filter(sessions::id_hash.eq_any(ids))).execute(conn)
}

pub fn codes(conn: &mut DbConnection, before: NaiveDateTime, limit: i64) -> QueryResult<usize> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        let hashes: Vec<String> = auth_codes::table
            .filter(auth_codes::expires_at.lt(before))
            .select(auth_codes::code_hash)
            .limit(limit)
            .load(conn)?;
        diesel::delete(
            auth_codes::table
                .filter(auth_codes::expires_at.lt(before))
                .filter(auth_codes::code_hash.eq_any(hashes)),
        )
        .execute(conn)
    })
}

pub fn refresh_tokens(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        let hashes: Vec<String> = refresh_tokens::table
            .filter(refresh_tokens::expires_at.lt(before))
            .select(refresh_tokens::token_hash)
            .limit(limit)
            .load(conn)?;
        diesel::delete(
            refresh_tokens::table
                .filter(refresh_tokens::expires_at.lt(before))
                .filter(refresh_tokens::token_hash.eq_any(hashes)),
        )
        .execute(conn)
    })
}

/// Known browsers whose time ran out.
pub fn devices(conn: &mut DbConnection, before: NaiveDateTime, limit: i64) -> QueryResult<usize> {
    let hashes: Vec<String> = login_devices::table
        .filter(login_devices::expires_at.lt(before))
        .select(login_devices::token_hash)
        .limit(limit)
        .load(conn)?;
    diesel::delete(login_devices::table.filter(login_devices::token_hash.eq_any(hashes)))
        .execute(conn)
}

/// WebAuthn ceremonies that expired before `before` (never answered).
pub fn ceremonies(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let hashes: Vec<String> = webauthn_ceremonies::table
        .filter(webauthn_ceremonies::expires_at.lt(before))
        .select(webauthn_ceremonies::id_hash)
        .limit(limit)
        .load(conn)?;
    diesel::delete(webauthn_ceremonies::table.filter(webauthn_ceremonies::id_hash.eq_any(hashes)))
        .execute(conn)
}

/// Idempotency keys created before `before`.
pub fn ingest_keys(
    conn: &mut DbConnection,
    before: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        let keys: Vec<String> = ingest_keys::table
            .filter(ingest_keys::created_at.lt(before))
            .select(ingest_keys::idempotency_key)
            .limit(limit)
            .load(conn)?;
        diesel::delete(
            ingest_keys::table
                .filter(ingest_keys::created_at.lt(before))
                .filter(ingest_keys::idempotency_key.eq_any(keys)),
        )
        .execute(conn)
    })
}
