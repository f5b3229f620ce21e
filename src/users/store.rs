//! Queries on `users`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::users;
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

/// Takes the row lock (PostgreSQL) so the read-modify-write of the failure counter that
/// follows is atomic; SQLite write transactions are already exclusive.
pub fn lock_row(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set(users::failed_logins.eq(users::failed_logins))
        .execute(conn)
}

pub fn set_failures(
    conn: &mut DbConnection,
    id: &str,
    failed_logins: i32,
    locked_until: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::failed_logins.eq(failed_logins),
            users::locked_until.eq(locked_until),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn set_status(conn: &mut DbConnection, id: &str, status: &str) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set(users::status.eq(status))
        .execute(conn)
        .map(|_| ())
}
