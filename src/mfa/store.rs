//! Queries on `mfa_totp`, `mfa_recovery_codes` and the tenants' `mfa_policy`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{
    mfa_recovery_codes, mfa_totp, tenants, webauthn_ceremonies, webauthn_credentials,
};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_totp)]
pub struct TotpRow {
    pub user_id: String,
    pub sealed_seed: String,
    pub last_step: i64,
    pub created_at: NaiveDateTime,
    /// `None` while enrolment waits for its first code.
    pub confirmed_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = mfa_recovery_codes)]
pub struct RecoveryRow {
    pub code_hash: String,
    pub user_id: String,
    pub created_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn totp(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<TotpRow>> {
    mfa_totp::table
        .find(user_id)
        .select(TotpRow::as_select())
        .first(conn)
        .optional()
}

/// Replaces the user's TOTP row (a new, unconfirmed enrolment).
pub fn put_totp(conn: &mut DbConnection, row: &TotpRow) -> QueryResult<()> {
    diesel::delete(mfa_totp::table.find(&row.user_id)).execute(conn)?;
    diesel::insert_into(mfa_totp::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn confirm_totp(
    conn: &mut DbConnection,
    user_id: &str,
    step: i64,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        mfa_totp::table
            .find(user_id)
            .filter(mfa_totp::confirmed_at.is_null()),
    )
    .set((mfa_totp::confirmed_at.eq(at), mfa_totp::last_step.eq(step)))
    .execute(conn)
    .map(|n| n == 1)
}

/// Records `step` as used, unless it (or a later one) already was: the one statement
/// that makes a code single-use, also under concurrent logins.
pub fn use_step(conn: &mut DbConnection, user_id: &str, step: i64) -> QueryResult<bool> {
    diesel::update(
        mfa_totp::table
            .find(user_id)
            .filter(mfa_totp::confirmed_at.is_not_null())
            .filter(mfa_totp::last_step.lt(step)),
    )
    .set(mfa_totp::last_step.eq(step))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn delete_totp(conn: &mut DbConnection, user_id: &str) -> QueryResult<bool> {
    diesel::delete(mfa_totp::table.find(user_id))
        .execute(conn)
        .map(|n| n == 1)
}

pub fn replace_recovery(
    conn: &mut DbConnection,
    user_id: &str,
    rows: &[RecoveryRow],
) -> QueryResult<()> {
    diesel::delete(mfa_recovery_codes::table.filter(mfa_recovery_codes::user_id.eq(user_id)))
        .execute(conn)?;
    for row in rows {
        diesel::insert_into(mfa_recovery_codes::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Marks an unused code of the user used; false if there is none.
pub fn use_recovery(
    conn: &mut DbConnection,
    user_id: &str,
    code_hash: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        mfa_recovery_codes::table
            .find(code_hash)
            .filter(mfa_recovery_codes::user_id.eq(user_id))
            .filter(mfa_recovery_codes::used_at.is_null()),
    )
    .set(mfa_recovery_codes::used_at.eq(at))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn recovery_left(conn: &mut DbConnection, user_id: &str) -> QueryResult<i64> {
    mfa_recovery_codes::table
        .filter(mfa_recovery_codes::user_id.eq(user_id))
        .filter(mfa_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)
}

pub fn set_policy(conn: &mut DbConnection, tenant_id: &str, policy: &str) -> QueryResult<bool> {
    diesel::update(tenants::table.find(tenant_id))
        .set(tenants::mfa_policy.eq(policy))
        .execute(conn)
        .map(|n| n == 1)
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webauthn_credentials)]
pub struct WebauthnRow {
    pub credential_id: String,
    pub user_id: String,
    pub name: String,
    pub passkey: String,
    pub aaguid: String,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = webauthn_ceremonies)]
pub struct CeremonyRow {
    pub id_hash: String,
    pub user_id: Option<String>,
    pub kind: String,
    pub state: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn webauthn_credentials(
    conn: &mut DbConnection,
    user_id: &str,
) -> QueryResult<Vec<WebauthnRow>> {
    webauthn_credentials::table
        .filter(webauthn_credentials::user_id.eq(user_id))
        .order(webauthn_credentials::created_at)
        .select(WebauthnRow::as_select())
        .load(conn)
}

pub fn webauthn_credential(
    conn: &mut DbConnection,
    credential_id: &str,
) -> QueryResult<Option<WebauthnRow>> {
    webauthn_credentials::table
        .find(credential_id)
        .select(WebauthnRow::as_select())
        .first(conn)
        .optional()
}

/// Inserts a new credential; false if its id is registered already (to anyone).
pub fn insert_webauthn(conn: &mut DbConnection, row: &WebauthnRow) -> QueryResult<bool> {
    if webauthn_credential(conn, &row.credential_id)?.is_some() {
        return Ok(false);
    }
    diesel::insert_into(webauthn_credentials::table)
        .values(row)
        .execute(conn)
        .map(|n| n == 1)
}

/// Records a use: the updated relying-party record (counter, flags) and the time.
pub fn used_webauthn(
    conn: &mut DbConnection,
    credential_id: &str,
    passkey: &str,
    backed_up: bool,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(webauthn_credentials::table.find(credential_id))
        .set((
            webauthn_credentials::passkey.eq(passkey),
            webauthn_credentials::backed_up.eq(backed_up),
            webauthn_credentials::last_used_at.eq(at),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn delete_webauthn(
    conn: &mut DbConnection,
    user_id: &str,
    credential_id: &str,
) -> QueryResult<bool> {
    diesel::delete(
        webauthn_credentials::table
            .find(credential_id)
            .filter(webauthn_credentials::user_id.eq(user_id)),
    )
    .execute(conn)
    .map(|n| n == 1)
}

pub fn delete_all_webauthn(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(webauthn_credentials::table.filter(webauthn_credentials::user_id.eq(user_id)))
        .execute(conn)
}

pub fn insert_ceremony(conn: &mut DbConnection, row: &CeremonyRow) -> QueryResult<()> {
    diesel::insert_into(webauthn_ceremonies::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Takes a ceremony: read and deleted in the caller's transaction, so a challenge is
/// answered at most once.
pub fn take_ceremony(conn: &mut DbConnection, id_hash: &str) -> QueryResult<Option<CeremonyRow>> {
    let row = webauthn_ceremonies::table
        .find(id_hash)
        .select(CeremonyRow::as_select())
        .first(conn)
        .optional()?;
    if row.is_some() && diesel::delete(webauthn_ceremonies::table.find(id_hash)).execute(conn)? != 1
    {
        return Ok(None);
    }
    Ok(row)
}
