//! Why a token or a key set was refused. Each kind is distinct for logs and tests; none
//! carries text from the token or from a foreign error, so logging one is always safe.
//! On the wire every [`VerifyError`] is the same generic 401.

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("the token is not a well-formed JWS in compact form")]
    Malformed,
    #[error("no published key has the token's kid")]
    UnknownKey,
    #[error("the key's algorithm is not allowed, or the token names another algorithm")]
    AlgorithmNotAllowed,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the token's typ is not at+jwt")]
    WrongType,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is not meant for this audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token lacks the required claim {0}")]
    MissingClaim(&'static str),
    #[error("the issuer's keys are unavailable")]
    JwksUnavailable,
}

/// Why a JWKS could not be fetched or used (for operators' logs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    #[error("JWKS request failed: {0}")]
    Http(#[from] ureq::Error),
    #[error("JWKS request answered HTTP {0}")]
    Status(u16),
    #[error("JWKS document is invalid: {0}")]
    Invalid(String),
    #[error("JWKS document holds no usable signing key")]
    NoUsableKeys,
    #[error("the JWKS URL must start with https:// or http://")]
    InvalidUrl,
    #[error("the JWKS client has static keys and cannot fetch")]
    Static,
}
