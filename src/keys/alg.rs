//! Every josekit constructor of a key: generation, signer and verifier per algorithm.
//! The algorithm names themselves are the wire contract's ([`Algorithm`]).

use josekit::jwk::Jwk;
use josekit::jws::{self, JwsSigner, JwsVerifier};

pub use tessera_proto::Algorithm;

use super::KeyError;

/// A new private key for `alg`.
pub(super) fn generate(alg: Algorithm) -> Result<Jwk, KeyError> {
    let generated = match alg {
        Algorithm::Es256 => Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256),
        Algorithm::EdDsa => Jwk::generate_ed_key(josekit::jwk::alg::ed::EdCurve::Ed25519),
        Algorithm::Rs256 => Jwk::generate_rsa_key(2048),
    };
    generated.map_err(|e| KeyError::Other(format!("cannot generate a {alg} key: {e}")))
}

pub(super) fn signer(alg: Algorithm, jwk: &Jwk) -> Result<Box<dyn JwsSigner>, josekit::JoseError> {
    Ok(match alg {
        Algorithm::Es256 => Box::new(jws::ES256.signer_from_jwk(jwk)?),
        Algorithm::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(jwk)?),
        Algorithm::Rs256 => Box::new(jws::RS256.signer_from_jwk(jwk)?),
    })
}

pub(super) fn verifier(
    alg: Algorithm,
    jwk: &Jwk,
) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
    Ok(match alg {
        Algorithm::Es256 => Box::new(jws::ES256.verifier_from_jwk(jwk)?),
        Algorithm::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(jwk)?),
        Algorithm::Rs256 => Box::new(jws::RS256.verifier_from_jwk(jwk)?),
    })
}
