//! Verification of Tessera access tokens in downstream services.
//!
//! A [`Verifier`] turns a bearer token into a [`TenantContext`] only after the whole of
//! RFC 9068 / RFC 8725 says yes: the key is chosen by `kid` from the issuer's JWKS (fetched
//! and cached by a [`JwksClient`]), the algorithm is the key's own and must be on the
//! allowlist, and `typ`, `iss`, `aud`, `exp`/`nbf` and the required claims are checked.
//! The tenant of a request therefore always comes from a verified token; a tenant named
//! by the request (path, header) is only compared with it (feature `actix`).
//!
//! An [`Exchanger`] trades a caller's token for one meant for the next service (RFC 8693
//! token exchange), so that service sees the same tenant and subject, with this service
//! named as the actor.
//!
//! A [`StreamChecker`] checks the receiving end of Tessera's audit stream: every
//! tenant's hash chain complete and unedited, and its signed checkpoints matching.
//!
//! ```ignore
//! let verifier = Verifier::for_issuer("https://id.example.com", "notes")?;
//! let context = verifier.verify(token)?; // blocking on the rare JWKS fetch
//! ```

mod algorithm;
mod context;
mod error;
mod exchange;
mod jwks;
pub mod report;
pub mod stream;
mod verifier;

#[cfg(feature = "actix")]
mod actix;
#[cfg(test)]
mod test_support;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use algorithm::Algorithm;
pub use context::TenantContext;
pub use error::{JwksError, VerifyError};
pub use exchange::{ExchangeError, Exchanged, Exchanger, ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT};
pub use jwks::{JwksClient, JwksConfig};
pub use stream::{
    CheckpointRefusal, ProblemKind, StreamChecker, StreamError, StreamProblem, StreamSummary,
    TenantSummary,
};
pub use verifier::Verifier;

#[cfg(feature = "actix")]
pub use actix::{bearer_token, AuthError, TesseraAuth, TesseraAuthMiddleware, TENANT_HEADER};
