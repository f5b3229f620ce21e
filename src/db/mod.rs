//! Database access: one connection type over SQLite and PostgreSQL, the pool, embedded
//! migrations, and the few places where the two backends differ (write transactions and
//! per-tenant serialization of the audit chain).
//!
//! Each backend difference sits behind one function:
//!
//! | backend difference | function |
//! |---|---|
//! | backend chosen by the URL's scheme | [`DatabaseUrl::parse`] |
//! | SQLite: busy timeout, `synchronous = FULL`, foreign keys, WAL; PostgreSQL: network deadlines | [`ConnectionManager`], [`network_timeouts`] |
//! | SQLite: the file and its folder created on first use (0600) | [`pool`], [`connect`] |
//! | per-backend migration folders; PostgreSQL migrates under an advisory lock | [`migrate`] |
//! | write transactions: SQLite `BEGIN IMMEDIATE` behind an in-process gate; PostgreSQL plain | [`write_tx`] |
//! | row-level security settings (`set_config(…, true)`), PostgreSQL only | [`scoped`], [`set_scope`], [`per_tenant`] |
//! | audit-chain serialization: a PostgreSQL advisory lock; SQLite's write lock | [`lock_audit_chain`] |
//! | multi-row inserts (diesel's batch insert is per backend); PostgreSQL `UNNEST` arrays | `insert_batch!`, [`unnest_select`] |

mod bulk;
mod connection;
mod engine;
pub mod group_commit;
mod migrations;
mod read_ahead;
pub mod schema;
pub mod suspect;
mod time;
mod tx;
mod url;

use diesel::pg::PgConnection;
use diesel::r2d2;
use diesel::sqlite::SqliteConnection;

pub use self::bulk::{by_tenant, per_tenant, unnest_select, BoxedPgQuery};
pub use self::connection::{connect, network_timeouts, ping, pool, ConnectionManager};
pub use self::migrations::migrate;
pub use self::read_ahead::read_ahead;
pub use self::time::{format_utc, now, serialize_utc, serialize_utc_opt};
pub use self::tx::{
    chain_lock_key, lock_audit_chain, reset_scopes, scoped, set_scope, write_tx, Scope,
};
pub use self::url::DatabaseUrl;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;
