//! The one domain error type. Its variants carry static text, except `BadRequest`,
//! which describes the caller's own input back to it (a field name, a position); so no
//! secret or other tenant's identifier can reach an error body through it. The cause
//! of an internal failure is kept for the log only.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("invalid credentials")]
    Unauthenticated,
    /// A bearer-protected resource was asked for without any credentials (RFC 6750
    /// section 3.1: the challenge then names no error).
    #[error("no access token")]
    NoToken,
    #[error("forbidden")]
    Forbidden,
    /// The token is valid but lacks the scope the route needs (RFC 6750 section 3.1).
    #[error("insufficient scope: {0} required")]
    InsufficientScope(&'static str),
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The caller's own input described back to it (a field name, a position): never
    /// stored data, never another tenant's.
    #[error("invalid request: {0}")]
    BadRequest(String),
    #[error("request body too large")]
    TooLarge,
    /// The request body did not arrive in time.
    #[error("request timeout")]
    RequestTimeout,
    /// The caller already has its share of a bounded resource (long reads).
    #[error("too many requests")]
    TooManyRequests,
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// Well-formed but not acceptable in this state (an idempotency key reused for a
    /// different request).
    #[error("unprocessable: {0}")]
    Unprocessable(&'static str),
    /// Full (the hashing pool, the group-commit queue): try again shortly.
    #[error("service unavailable")]
    Unavailable,
    /// The database is unreachable, cut off, out of space or past the request's
    /// deadline: a temporary condition, answered 503 with `Retry-After`; the cause is
    /// logged.
    #[error("database unavailable")]
    Outage(#[source] Cause),
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// The hidden cause of an internal error: logged with the request id, never shown.
pub struct Cause(Box<dyn std::error::Error + Send + Sync>);

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Error {
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(Cause(cause.into()))
    }
}

impl Error {
    pub fn outage(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Outage(Cause(cause.into()))
    }

    /// Whether this is a temporary condition a client should retry (503).
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::Unavailable | Self::Outage(_))
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        if is_outage(&e) {
            crate::db::suspect::note();
            Self::outage(e)
        } else if is_chain_collision(&e) {
            // Two appends took the same seq: the chain lock did not serialize them (an
            // engine whose advisory locks are not cluster-wide). The primary key kept
            // the chain intact; nothing was committed, and a retry is safe.
            Self::outage(e)
        } else {
            Self::internal(e)
        }
    }
}

/// No connection within `db_timeout_secs`: the database is down or saturated.
impl From<diesel::r2d2::PoolError> for Error {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        crate::db::suspect::note();
        Self::outage(e)
    }
}

/// Whether a database error means the database is unavailable rather than a bug: a
/// lost, cut or refused connection, a read-only (failed-over) or shutting-down server,
/// a full disk, a busy file past its timeout, a statement cancelled at its deadline.
pub fn is_outage(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind as Kind, Error as E};
    const MESSAGES: [&str; 17] = [
        "database or disk is full",
        "disk i/o error",
        "database is locked",
        "unable to open database file",
        "server closed the connection",
        "terminating connection",
        "could not receive data",
        "could not send data",
        "no connection to the server",
        "connection refused",
        "connection reset",
        "connection timed out",
        "statement timeout",
        "read-only transaction",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
    ];
    match e {
        E::DatabaseError(
            Kind::ClosedConnection
            | Kind::UnableToSendCommand
            | Kind::ReadOnlyTransaction
            | Kind::SerializationFailure,
            _,
        ) => true,
        E::DatabaseError(_, info) => {
            let message = info.message().to_ascii_lowercase();
            MESSAGES.iter().any(|m| message.contains(m))
        }
        _ => false,
    }
}

/// Whether a database error is a second event for an audit chain position already
/// taken: the `(tenant_id, seq)` primary key is the chain's last guarantee.
pub fn is_chain_collision(e: &diesel::result::Error) -> bool {
    match e {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            info,
        ) => {
            // PostgreSQL names the constraint; SQLite only says which columns.
            info.constraint_name() == Some("audit_events_pkey")
                || info
                    .message()
                    .contains("audit_events.tenant_id, audit_events.seq")
        }
        _ => false,
    }
}

/// True when a database error is a unique-key violation (a duplicate).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// An error and its sources as one line (`outer: inner: …`), for the operator's
/// terminal and the server's log; never for a response body.
pub fn cause_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind};

    struct Info(&'static str, Option<&'static str>);

    impl DatabaseErrorInformation for Info {
        fn message(&self) -> &str {
            self.0
        }
        fn details(&self) -> Option<&str> {
            None
        }
        fn hint(&self) -> Option<&str> {
            None
        }
        fn table_name(&self) -> Option<&str> {
            None
        }
        fn column_name(&self) -> Option<&str> {
            None
        }
        fn constraint_name(&self) -> Option<&str> {
            self.1
        }
        fn statement_position(&self) -> Option<i32> {
            None
        }
    }

    fn unique(message: &'static str, constraint: Option<&'static str>) -> diesel::result::Error {
        diesel::result::Error::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new(Info(message, constraint)),
        )
    }

    #[test]
    fn a_chain_position_taken_twice_is_temporary_other_duplicates_are_not() {
        let pg = unique(
            "duplicate key value violates unique constraint \"audit_events_pkey\"",
            Some("audit_events_pkey"),
        );
        assert!(Error::from(pg).is_temporary());
        let sqlite = unique(
            "UNIQUE constraint failed: audit_events.tenant_id, audit_events.seq",
            None,
        );
        assert!(Error::from(sqlite).is_temporary());
        let tenant = unique(
            "duplicate key value violates unique constraint \"tenants_slug_key\"",
            Some("tenants_slug_key"),
        );
        assert!(!Error::from(tenant).is_temporary());
    }
}
