//! Transactions where the backends differ: write transactions (SQLite's `IMMEDIATE`
//! start behind an in-process gate), row-level security scopes on PostgreSQL (DESIGN
//! invariant 7), and the per-tenant lock that serializes appends to an audit chain.

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use sha2::{Digest, Sha256};

use super::DbConnection;

/// Runs `f` in a write transaction. On SQLite the transaction starts `IMMEDIATE`, taking
/// the write lock up front, so concurrent writers queue instead of failing when a read
/// transaction tries to upgrade; writers of the same process queue on an in-process
/// gate ([`sqlite_gate`]) first, and wake as soon as the previous one commits (SQLite's
/// busy timeout, left for other processes, retries by sleeping, up to 100 ms at a
/// time). On PostgreSQL it is a plain transaction (row and advisory locks do the
/// serializing).
pub fn write_tx<T, E>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let gate = match conn {
        DbConnection::Sqlite(c) => Some(sqlite_gate(c)?),
        DbConnection::Postgres(_) => None,
    };
    let _turn = gate.as_ref().map(|gate| {
        gate.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    });
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(_) => {
            <DbConnection as Connection>::TransactionManager::begin_transaction(conn)?
        }
    }
    match f(conn) {
        Ok(value) => {
            let committed =
                <DbConnection as Connection>::TransactionManager::commit_transaction(conn);
            crate::metrics::transaction_ended(committed.is_ok());
            committed?;
            Ok(value)
        }
        Err(err) => {
            crate::metrics::transaction_ended(false);
            // The first error is the one that matters: SQLite ends the transaction
            // itself on some failures (a full disk), after which the rollback fails too.
            // A connection whose rollback failed is discarded by the pool (`has_broken`).
            if let Err(rollback) =
                <DbConnection as Connection>::TransactionManager::rollback_transaction(conn)
            {
                log::warn!("rollback after a failed transaction: {rollback}");
            }
            Err(err)
        }
    }
}

/// The in-process queue of the writers of one SQLite file (named by the connection
/// itself, so each database of a process has its own).
fn sqlite_gate(
    conn: &mut SqliteConnection,
) -> diesel::QueryResult<std::sync::Arc<std::sync::Mutex<()>>> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};
    #[derive(diesel::QueryableByName)]
    struct Main {
        #[diesel(sql_type = diesel::sql_types::Text)]
        file: String,
    }
    static GATES: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let main: Main = diesel::sql_query("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .get_result(conn)?;
    let mut gates = GATES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Ok(gates.entry(main.file).or_default().clone())
}

/// What a transaction may see of the tenant-scoped tables on PostgreSQL, where
/// row-level security policies read these transaction-local settings (DESIGN invariant
/// 7). The application's own filters stay primary; this is the backstop. Each variant
/// is as narrow as the operation that needs it.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Rows of one tenant (`app.tenant_id`).
    Tenant(&'a str),
    /// Rows of every tenant (`app.all_tenants`): platform-wide reads by the CLI and
    /// by platform auditors and admins, after the application has authorized them.
    AllTenants,
    /// One user's memberships in any tenant, to resolve the tenant at login.
    User(&'a str),
    /// One client, whatever its tenant, to authenticate it.
    Client(&'a str),
    /// One authorization code, by the hash of the code presented.
    Code(&'a str),
    /// One refresh token, by the hash of the token presented.
    RefreshToken(&'a str),
    /// Every token of one refresh family (a family may span tenants after a switch).
    Family(&'a str),
    /// One ledger entry by `jti`, for an operator revoking it.
    Jti(&'a str),
    /// The refresh tokens issued under one login session, to end them at sign-out.
    Session(&'a str),
}

impl Scope<'_> {
    fn setting(&self) -> (&'static str, &str) {
        match *self {
            Scope::Tenant(v) => ("app.tenant_id", v),
            Scope::AllTenants => ("app.all_tenants", "on"),
            Scope::User(v) => ("app.user_id", v),
            Scope::Client(v) => ("app.client_id", v),
            Scope::Code(v) => ("app.code_hash", v),
            Scope::RefreshToken(v) => ("app.token_hash", v),
            Scope::Family(v) => ("app.family_id", v),
            Scope::Jti(v) => ("app.jti", v),
            Scope::Session(v) => ("app.session_hash", v),
        }
    }
}

/// Runs `f` with `scope` set for the rest of the current transaction (PostgreSQL,
/// `set_config(…, true)`), opening a short transaction around it when there is none.
/// SQLite has no row-level security: `f` simply runs.
pub fn scoped<T, E>(
    conn: &mut DbConnection,
    scope: Scope<'_>,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    if matches!(conn, DbConnection::Sqlite(_)) {
        return f(conn);
    }
    let in_transaction = matches!(
        <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn)
            .transaction_depth(),
        Ok(Some(_))
    );
    if in_transaction {
        set_scope(conn, scope)?;
        return f(conn);
    }
    conn.transaction(|tx| {
        set_scope(tx, scope)?;
        f(tx)
    })
}

/// Clears every scope set in the current transaction (PostgreSQL only; an empty
/// setting grants nothing): the group-commit writer runs each job without the scopes
/// of the jobs before it.
pub fn reset_scopes(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    if let DbConnection::Postgres(c) = conn {
        let names = [
            Scope::Tenant(""),
            Scope::AllTenants,
            Scope::User(""),
            Scope::Client(""),
            Scope::Code(""),
            Scope::RefreshToken(""),
            Scope::Family(""),
            Scope::Jti(""),
            Scope::Session(""),
        ]
        .map(|scope| format!("set_config('{}', '', true)", scope.setting().0));
        diesel::sql_query(format!("SELECT {}", names.join(", "))).execute(c)?;
    }
    Ok(())
}

/// Sets `scope` for the rest of the current transaction (PostgreSQL only).
pub fn set_scope(conn: &mut DbConnection, scope: Scope<'_>) -> diesel::QueryResult<()> {
    if let DbConnection::Postgres(c) = conn {
        let (name, value) = scope.setting();
        diesel::sql_query("SELECT set_config($1, $2, true)")
            .bind::<diesel::sql_types::Text, _>(name)
            .bind::<diesel::sql_types::Text, _>(value)
            .execute(c)?;
    }
    Ok(())
}

/// Serializes appends to one tenant's audit chain until the transaction ends, and
/// scopes the transaction to that tenant ([`Scope::Tenant`]), as every next step on the
/// chain reads and writes that tenant's rows. SQLite already serializes every write
/// transaction (see [`write_tx`]); PostgreSQL takes a transaction-scoped advisory lock
/// keyed by the tenant, in the same statement as the scope (one round trip).
pub fn lock_audit_chain(tx: &mut DbConnection, tenant_id: &str) -> diesel::QueryResult<()> {
    match tx {
        DbConnection::Sqlite(_) => Ok(()),
        DbConnection::Postgres(c) => diesel::sql_query(
            "SELECT set_config('app.tenant_id', $1, true), pg_advisory_xact_lock($2)",
        )
        .bind::<diesel::sql_types::Text, _>(tenant_id)
        .bind::<BigInt, _>(chain_lock_key(tenant_id))
        .execute(c)
        .map(|_| ()),
    }
}

/// The key of a tenant's audit-chain advisory lock on PostgreSQL.
pub fn chain_lock_key(tenant_id: &str) -> i64 {
    let digest = Sha256::digest(format!("tessera-audit:{tenant_id}").as_bytes());
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}
