//! The leaf of the crate: a published key with its algorithm and verifier. The
//! algorithm names come from the wire contract (`tessera-proto`); the cryptography is
//! josekit's.

use josekit::jwk::Jwk;
use josekit::jws::{self, JwsVerifier};

pub use tessera_proto::Algorithm;

/// One published key with its verifier, built when the key set was fetched.
#[derive(Debug)]
pub(crate) struct Key {
    pub(crate) alg: Algorithm,
    pub(crate) verifier: Box<dyn JwsVerifier>,
}

impl Key {
    /// The verifier of `jwk` for `alg`; an error if the key does not suit the algorithm.
    pub(crate) fn from_jwk(alg: Algorithm, jwk: &Jwk) -> Result<Self, josekit::JoseError> {
        let verifier: Box<dyn JwsVerifier> = match alg {
            Algorithm::Es256 => Box::new(jws::ES256.verifier_from_jwk(jwk)?),
            Algorithm::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(jwk)?),
            Algorithm::Rs256 => Box::new(jws::RS256.verifier_from_jwk(jwk)?),
        };
        Ok(Self { alg, verifier })
    }
}
