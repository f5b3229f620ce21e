//! Embedded migrations, one folder per backend (paths relative to the crate root), run
//! at most once at a time across instances sharing one PostgreSQL.

use diesel::sql_types::BigInt;
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::DbConnection;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Session-level advisory lock key held while migrations run, so that several instances
/// starting together against one PostgreSQL migrate exactly once.
const MIGRATION_LOCK_KEY: i64 = 0x7465_7373_6572_6100; // "tessera\0"

/// Applies every pending migration of the connection's backend; returns how many ran.
/// On a `postgres://` URL, first refuses an engine that lacks a guarantee Tessera
/// relies on (see `engine`).
pub fn migrate(conn: &mut DbConnection) -> Result<usize, String> {
    let result = match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| e.to_string()),
        DbConnection::Postgres(c) => {
            super::engine::check(c)?;
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
                .execute(c)
                .map_err(|e| e.to_string())?;
            let ran = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| e.to_string());
            let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
                .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
                .execute(c)
                .map_err(|e| e.to_string());
            ran.and_then(|n| unlocked.map(|_| n))
        }
    };
    result.map_err(|e| format!("migration failed: {e}"))
}
