//! Database access: one connection type over SQLite and PostgreSQL, the pool, embedded
//! migrations, and the few places where the two backends differ (write transactions and
//! per-tenant serialization of the audit chain).

pub mod group;
pub mod schema;

use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sql_types::BigInt;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use sha2::{Digest, Sha256};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Session-level advisory lock key held while migrations run, so that several instances
/// starting together against one PostgreSQL migrate exactly once.
const MIGRATION_LOCK_KEY: i64 = 0x7465_7373_6572_6100; // "tessera\0"

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

/// Where the data lives, parsed from the database URL's scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    /// Accepts `sqlite://PATH`, `sqlite:PATH`, `postgres://…` and `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, &'static str> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or("expected a sqlite:// or postgres:// URL")?;
        if path.is_empty() {
            return Err("the sqlite URL names no file");
        }
        if path == ":memory:" || path.starts_with("file::memory:") {
            return Err("an in-memory SQLite database cannot be shared by a pool");
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    /// The URL with any password replaced, for logs and `Debug`.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            // Scheme, user, host, port and database only: a password can also hide in
            // the query (`?password=`, `sslpassword=`).
            Self::Postgres(url) => match url::Url::parse(url) {
                Ok(mut parsed) => {
                    if parsed.password().is_some() {
                        // set_password only fails for URLs that cannot carry one.
                        let _ = parsed.set_password(Some("redacted"));
                    }
                    parsed.set_query(None);
                    parsed.set_fragment(None);
                    parsed.to_string()
                }
                Err(_) => "postgres://(unparsable)".to_owned(),
            },
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// An r2d2 manager that picks the backend from the URL, so the real connection error
/// reaches the operator (the derive's own `establish` hides it).
#[derive(Debug, Clone)]
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// For a pool serving requests: how long connecting, a statement, or a silent
    /// network may take before the connection errors out (see [`network_timeouts`]).
    timeout: Option<Duration>,
}

impl ConnectionManager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url, timeout: None }
    }

    /// A manager whose PostgreSQL connections give up after `timeout`.
    pub fn with_timeout(url: DatabaseUrl, timeout: Duration) -> Self {
        Self {
            url,
            timeout: Some(timeout),
        }
    }
}

/// The connection string with libpq's network deadlines added where the URL does not
/// set them: `connect_timeout` (the whole connection attempt), TCP keepalives and
/// `tcp_user_timeout` (a partition or a dead host errors out instead of hanging), and a
/// server-side `statement_timeout` (a statement stuck on a lock). A frozen server is
/// bounded by the request deadline (`crate::deadline`), not here: its kernel still
/// acknowledges. The URL may have several hosts (`h1:p1,h2:p2`), so it is not parsed.
pub fn network_timeouts(url: &str, timeout: Duration) -> String {
    let secs = timeout.as_secs().max(2);
    let millis = secs * 1000;
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let present = |name: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    };
    let mut added: Vec<String> = Vec::new();
    for (name, value) in [
        ("connect_timeout", secs.to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", "5".to_owned()),
        ("keepalives_interval", "2".to_owned()),
        ("keepalives_count", "3".to_owned()),
        ("tcp_user_timeout", millis.to_string()),
    ] {
        if !present(name) {
            added.push(format!("{name}={value}"));
        }
    }
    if !present("options") {
        added.push(format!("options=-c%20statement_timeout%3D{millis}"));
    }
    if added.is_empty() {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", added.join("&"))
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let url = match self.timeout {
                    Some(timeout) => network_timeouts(url, timeout),
                    None => url.clone(),
                };
                PgConnection::establish(&url)
                    .map(DbConnection::Postgres)
                    .map_err(r2d2::Error::ConnectionError)
            }
            DatabaseUrl::Sqlite(path) => {
                let url = path.to_string_lossy();
                let mut conn =
                    SqliteConnection::establish(&url).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                enable_wal(&mut conn).map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        let status =
            <DbConnection as Connection>::TransactionManager::transaction_manager_status_mut(conn);
        match status.transaction_depth() {
            Ok(Some(_)) | Err(_) => true,
            Ok(None) => false,
        }
    }
}

/// Switches a SQLite database to WAL (a lasting property of the file). Changing the
/// journal mode does not wait on the busy handler, so two connections opening a new
/// file at once could see `database is locked`: the switch is retried, a bounded number
/// of times, and skipped once the file is in WAL mode.
fn enable_wal(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    #[derive(diesel::QueryableByName)]
    struct Mode {
        #[diesel(sql_type = diesel::sql_types::Text)]
        journal_mode: String,
    }
    let mut attempt = 0;
    loop {
        let result = diesel::sql_query("PRAGMA journal_mode = WAL").get_result::<Mode>(conn);
        match result {
            Ok(mode) if mode.journal_mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(_) | Err(_) if attempt < 50 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(_) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Builds the pool. SQLite files get their parent folder created on first use.
pub fn pool(url: &DatabaseUrl, size: u32, timeout: Duration) -> Result<Pool, String> {
    if let DatabaseUrl::Sqlite(path) = url {
        create_parent(path)?;
    }
    Ok(r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        // No `SELECT 1` before every use: a round trip per request on PostgreSQL. A
        // broken connection fails its query and is discarded (`has_broken`).
        .test_on_check_out(false)
        .connection_timeout(timeout)
        .build_unchecked(ConnectionManager::with_timeout(url.clone(), timeout)))
}

/// Creates a SQLite file's folder if missing, and the file itself readable by its owner
/// only (0600 on Unix): it holds password hashes. SQLite gives its `-wal` and `-shm`
/// files the database file's permissions.
fn create_parent(path: &Path) -> Result<(), String> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?
        }
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// One connection outside any pool (the command line): the real error comes back at
/// once instead of after the pool's timeout.
pub fn connect(url: &DatabaseUrl) -> Result<DbConnection, String> {
    if let DatabaseUrl::Sqlite(path) = url {
        create_parent(path)?;
    }
    ConnectionManager::new(url.clone())
        .connect()
        .map_err(|e| format!("cannot connect to the database: {e}"))
}

/// Applies every pending migration of the connection's backend; returns how many ran.
pub fn migrate(conn: &mut DbConnection) -> Result<usize, String> {
    let result = match conn {
        DbConnection::Sqlite(c) => c
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|v| v.len())
            .map_err(|e| e.to_string()),
        DbConnection::Postgres(c) => {
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

/// Writes `rows` one tenant at a time, each group under [`Scope::Tenant`]: row-level
/// security checks every row against the transaction's tenant, so a batch spanning
/// tenants cannot be written under one setting.
pub fn per_tenant<R>(
    conn: &mut DbConnection,
    rows: &[R],
    tenant_of: impl Fn(&R) -> &str,
    mut write: impl FnMut(&mut DbConnection, &[&R]) -> diesel::QueryResult<()>,
) -> diesel::QueryResult<()> {
    for (tenant, group) in by_tenant(rows.iter().collect(), |r| tenant_of(r)) {
        let group: Vec<&R> = group.into_iter().map(|(_, r)| r).collect();
        scoped(conn, Scope::Tenant(&tenant), |conn| write(conn, &group))?;
    }
    Ok(())
}

/// `items` grouped by tenant, in tenant order (the order in which their chains are
/// locked), each with its position in the input.
pub fn by_tenant<T>(
    items: Vec<T>,
    tenant_of: impl Fn(&T) -> &str,
) -> std::collections::BTreeMap<String, Vec<(usize, T)>> {
    let mut groups: std::collections::BTreeMap<String, Vec<(usize, T)>> = Default::default();
    for (position, item) in items.into_iter().enumerate() {
        match groups.get_mut(tenant_of(&item)) {
            Some(group) => group.push((position, item)),
            None => {
                groups.insert(tenant_of(&item).to_owned(), vec![(position, item)]);
            }
        }
    }
    groups
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

/// A raw PostgreSQL statement whose parameters are bound one by one.
pub type BoxedPgQuery<'a> =
    diesel::query_builder::BoxedSqlQuery<'a, diesel::pg::Pg, diesel::query_builder::SqlQuery>;

/// `SELECT * FROM UNNEST($first::t1[], $first+1::t2[], …)`: the rows of a bulk insert as
/// one array per column, a short statement to parse and plan whatever the row count.
pub fn unnest_select(first: usize, types: &[&str]) -> String {
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i))
        .collect();
    format!("SELECT * FROM UNNEST({})", arrays.join(", "))
}

/// A multi-row `INSERT` of `rows` into `table` on either backend (diesel's batch insert
/// is backend-specific, so the connection's variant is matched here, once).
#[macro_export]
macro_rules! insert_batch {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite(c) => {
                diesel::insert_into($table).values($rows).execute(c)
            }
            $crate::db::DbConnection::Postgres(c) => {
                diesel::insert_into($table).values($rows).execute(c)
            }
        }
    };
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

/// Answers whether the database is reachable, for `/readyz`.
pub fn ping(pool: &Pool) -> bool {
    pool.get_timeout(Duration::from_secs(2))
        .map(|mut conn| conn.batch_execute("SELECT 1").is_ok())
        .unwrap_or(false)
}

/// The current UTC time at the precision both backends store (microseconds), so a value
/// reads back equal to what was written and hashes over it re-verify.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// A stored UTC timestamp as RFC 3339 with microseconds and `Z`.
pub fn format_utc(t: &chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    // Written out rather than through a strftime pattern: this runs for every event
    // hashed or exported, and pattern parsing costs more than the formatting.
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 1000
    )
}

/// `serialize_with` for stored timestamps, so JSON output always says UTC.
pub fn serialize_utc<S: serde::Serializer>(
    t: &chrono::NaiveDateTime,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_utc(t))
}

/// `serialize_with` for optional stored timestamps.
pub fn serialize_utc_opt<S: serde::Serializer>(
    t: &Option<chrono::NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_utc(t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_timeouts_are_added_unless_set() {
        let t = Duration::from_secs(5);
        assert_eq!(
            network_timeouts("postgres://u@h/db", t),
            "postgres://u@h/db?connect_timeout=5&keepalives=1&keepalives_idle=5&keepalives_interval=2&keepalives_count=3&tcp_user_timeout=5000&options=-c%20statement_timeout%3D5000"
        );
        let multi = network_timeouts(
            "postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write&connect_timeout=9&options=x",
            t,
        );
        assert!(multi.starts_with("postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write&connect_timeout=9&options=x&keepalives=1"), "{multi}");
        assert_eq!(multi.matches("connect_timeout").count(), 1);
        assert_eq!(multi.matches("options").count(), 1);
    }

    #[test]
    fn parses_urls_by_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/t.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("data/t.db")))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:/tmp/t.db"),
            Ok(DatabaseUrl::Sqlite(PathBuf::from("/tmp/t.db")))
        );
        assert!(DatabaseUrl::parse("postgres://u@h/db").is_ok_and(|u| u.is_postgres()));
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
        assert!(DatabaseUrl::parse("data/t.db").is_err());
    }

    #[test]
    fn redacts_passwords() {
        let url = DatabaseUrl::parse("postgres://svc:hunter2@db:5432/tessera").ok();
        let shown = format!("{url:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
        let url =
            DatabaseUrl::parse("postgres://svc@db/tessera?password=hunter2&sslpassword=x").ok();
        let shown = format!("{url:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("sslpassword"),
            "{shown}"
        );
    }
}
