//! Opening connections: the r2d2 manager that picks the backend from the URL, SQLite's
//! pragmas and WAL, PostgreSQL's network deadlines, the pool, one-off connections and the
//! readiness ping.

use std::path::Path;
use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};

use super::{DatabaseUrl, DbConnection, Pool};

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
    let millis = secs.saturating_mul(1000);
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

    /// Runs at every check-out, but tests the connection only while the database is
    /// [`suspect`](super::suspect) (a recent outage error): then a cut connection, or
    /// one to a node that is now a read-only standby, is replaced before use.
    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        if !super::suspect::recent() {
            return Ok(());
        }
        match writable(conn) {
            Ok(true) => Ok(()),
            Ok(false) => Err(r2d2::Error::QueryError(read_only())),
            Err(e) => Err(r2d2::Error::QueryError(e)),
        }
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
        // `is_valid` tests a connection only while the database is suspect (a recent
        // outage error), so a healthy database pays no round trip per check-out.
        .test_on_check_out(true)
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

/// Answers whether the database takes writes, for `/readyz`: on PostgreSQL the node
/// must not be a standby and the session not read-only (a multi-host URL without
/// `target_session_attrs=read-write` can land on a standby); SQLite must answer.
pub fn ping(pool: &Pool) -> bool {
    pool.get_timeout(Duration::from_secs(2))
        .map(|mut conn| matches!(writable(&mut conn), Ok(true)))
        .unwrap_or(false)
}

/// Whether the connection's server takes writes (one round trip).
fn writable(conn: &mut DbConnection) -> diesel::QueryResult<bool> {
    match conn {
        DbConnection::Postgres(pg) => diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
            "NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
        ))
        .get_result(pg),
        DbConnection::Sqlite(lite) => lite.batch_execute("SELECT 1").map(|()| true),
    }
}

/// The error of a connection found on a read-only node.
fn read_only() -> diesel::result::Error {
    diesel::result::Error::DatabaseError(
        diesel::result::DatabaseErrorKind::ReadOnlyTransaction,
        Box::new(
            "the server is read-only (a standby, or default_transaction_read_only)".to_owned(),
        ),
    )
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
}
