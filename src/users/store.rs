//! Queries on `users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{login_decoys, login_devices, users};
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub status: String,
    pub failed_logins: i32,
    #[serde(serialize_with = "crate::db::serialize_utc_opt")]
    pub locked_until: Option<NaiveDateTime>,
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub created_at: NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub updated_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, user: &User) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(user)
        .execute(conn)
        .map(|_| ())
}

pub fn by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .select(User::as_select())
        .first(conn)
        .optional()
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<User>> {
    users::table
        .order(users::email.asc())
        .select(User::as_select())
        .load(conn)
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// The row a login attempt is counted on: the account's, or, for an unknown email, a
/// decoy row that takes the same statements (see `users::Attempts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptRow {
    /// The account's own row (`users.id`).
    User(String),
    Decoy(i32),
    /// A browser the user signed in from before (`login_devices.token_hash`).
    Device(String),
}

/// The failure counter of an attempt row: failures, lock, last change.
pub type AttemptState = (i32, Option<NaiveDateTime>, NaiveDateTime);

/// Takes the row lock (PostgreSQL) so the read-modify-write of the failure counter that
/// follows is atomic; SQLite write transactions are already exclusive.
pub fn lock_row(conn: &mut DbConnection, row: &AttemptRow) -> QueryResult<usize> {
    match row {
        AttemptRow::User(id) => diesel::update(users::table.find(id))
            .set(users::failed_logins.eq(users::failed_logins))
            .execute(conn),
        AttemptRow::Decoy(slot) => diesel::update(login_decoys::table.find(*slot))
            .set(login_decoys::failed_logins.eq(login_decoys::failed_logins))
            .execute(conn),
        AttemptRow::Device(hash) => diesel::update(login_devices::table.find(hash))
            .set(login_devices::failed_logins.eq(login_devices::failed_logins))
            .execute(conn),
    }
}

pub fn attempt_state(
    conn: &mut DbConnection,
    row: &AttemptRow,
) -> QueryResult<Option<AttemptState>> {
    match row {
        AttemptRow::User(id) => users::table
            .find(id)
            .select((users::failed_logins, users::locked_until, users::updated_at))
            .first(conn)
            .optional(),
        AttemptRow::Decoy(slot) => login_decoys::table
            .find(*slot)
            .select((
                login_decoys::failed_logins,
                login_decoys::locked_until,
                login_decoys::updated_at,
            ))
            .first(conn)
            .optional(),
        AttemptRow::Device(hash) => login_devices::table
            .find(hash)
            .select((
                login_devices::failed_logins,
                login_devices::locked_until,
                login_devices::updated_at,
            ))
            .first(conn)
            .optional(),
    }
}

pub fn set_failures(
    conn: &mut DbConnection,
    row: &AttemptRow,
    failed_logins: i32,
    locked_until: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    match row {
        AttemptRow::User(id) => diesel::update(users::table.find(id))
            .set((
                users::failed_logins.eq(failed_logins),
                users::locked_until.eq(locked_until),
                users::updated_at.eq(now),
            ))
            .execute(conn),
        AttemptRow::Decoy(slot) => diesel::update(login_decoys::table.find(*slot))
            .set((
                login_decoys::failed_logins.eq(failed_logins),
                login_decoys::locked_until.eq(locked_until),
                login_decoys::updated_at.eq(now),
            ))
            .execute(conn),
        AttemptRow::Device(hash) => diesel::update(login_devices::table.find(hash))
            .set((
                login_devices::failed_logins.eq(failed_logins),
                login_devices::locked_until.eq(locked_until),
                login_devices::updated_at.eq(now),
            ))
            .execute(conn),
    }
    .map(|_| ())
}

pub fn set_status(conn: &mut DbConnection, id: &str, status: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::status.eq(status))
        .execute(conn)
        .map(|_| ())
}

/// The user a known browser's cookie (its hash) belongs to, while it has not expired.
pub fn device_user(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<String>> {
    login_devices::table
        .find(token_hash)
        .filter(login_devices::expires_at.gt(now))
        .select(login_devices::user_id)
        .first(conn)
        .optional()
}

pub fn insert_device(
    conn: &mut DbConnection,
    token_hash: &str,
    user_id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(login_devices::table)
        .values((
            login_devices::token_hash.eq(token_hash),
            login_devices::user_id.eq(user_id),
            login_devices::failed_logins.eq(0),
            login_devices::created_at.eq(now),
            login_devices::updated_at.eq(now),
            login_devices::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn delete_devices(conn: &mut DbConnection, user_id: &str) -> QueryResult<usize> {
    diesel::delete(login_devices::table.filter(login_devices::user_id.eq(user_id))).execute(conn)
}
