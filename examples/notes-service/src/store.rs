//! The notes table. Guards: every query takes the caller's tenant id and filters on it,
//! so a note of another tenant is indistinguishable from a missing one.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ConnectionManager, CustomizeConnection};
use diesel::sqlite::SqliteConnection;

diesel::table! {
    notes (tenant_id, id) {
        tenant_id -> Text,
        id -> Text,
        author -> Text,
        text -> Text,
        created_at -> Timestamp,
    }
}

/// Applied at start; `IF NOT EXISTS` makes it idempotent. WAL mode is a property of the
/// file, so it is set once here rather than by every new connection (where switching
/// modes would race for an exclusive lock).
const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS notes (
        tenant_id TEXT NOT NULL,
        id TEXT NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        PRIMARY KEY (tenant_id, id)
    );
    CREATE INDEX IF NOT EXISTS notes_newest ON notes (tenant_id, created_at);
";

pub type Pool = r2d2::Pool<ConnectionManager<SqliteConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("NOTES_DATABASE_URL must be sqlite://PATH")]
    Url,
    #[error("cannot open the database: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("cannot create the schema: {0}")]
    Schema(#[from] diesel::result::Error),
}

/// Opens (creating if needed) the SQLite database at `sqlite://PATH`.
pub fn open(database_url: &str) -> Result<Pool, OpenError> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .filter(|path| !path.is_empty())
        .ok_or(OpenError::Url)?;
    let pool = Pool::builder()
        .max_size(8)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .connection_customizer(Box::new(Pragmas))
        .build(ConnectionManager::new(path))?;
    pool.get()?.batch_execute(SCHEMA)?;
    Ok(pool)
}

/// Per-connection settings SQLite does not persist.
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(r2d2::Error::QueryError)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notes)]
pub struct Note {
    pub tenant_id: String,
    pub id: String,
    pub author: String,
    pub text: String,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut SqliteConnection, note: &Note) -> QueryResult<()> {
    diesel::insert_into(notes::table)
        .values(note)
        .execute(conn)
        .map(|_| ())
}

/// The tenant's newest notes first, at most `limit`.
pub fn list(conn: &mut SqliteConnection, tenant_id: &str, limit: i64) -> QueryResult<Vec<Note>> {
    notes::table
        .filter(notes::tenant_id.eq(tenant_id))
        .order((notes::created_at.desc(), notes::id.desc()))
        .limit(limit)
        .select(Note::as_select())
        .load(conn)
}

pub fn find(conn: &mut SqliteConnection, tenant_id: &str, id: &str) -> QueryResult<Option<Note>> {
    notes::table
        .filter(notes::tenant_id.eq(tenant_id))
        .filter(notes::id.eq(id))
        .select(Note::as_select())
        .first(conn)
        .optional()
}
