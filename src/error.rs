//! The one domain error type. Its variants carry only static text, so no user input,
//! secret or other tenant's identifier can reach an error body through it; the cause of
//! an internal failure is kept for the log only.

use std::fmt;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("invalid credentials")]
    Unauthenticated,
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
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("account locked")]
    Locked,
    #[error("service unavailable")]
    Unavailable,
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

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Self::internal(e)
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::internal(e)
    }
}

/// True when a database error is a unique-key violation (a duplicate).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}
