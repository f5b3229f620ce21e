//! A throwaway issuer for tests of services that use this crate (feature `testing`, for
//! dev-dependencies only): it generates a key, publishes it as a JWKS and signs access
//! tokens shaped like Tessera's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsSigner};
use serde_json::{json, Map, Value};

use crate::algorithm::Algorithm;
use crate::error::JwksError;
use crate::verifier::Verifier;

pub type TestResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Signs tokens with one freshly generated key.
#[derive(Debug)]
pub struct TestIssuer {
    issuer: String,
    audience: String,
    kid: String,
    alg: Algorithm,
    signer: Box<dyn JwsSigner>,
    public: Map<String, Value>,
    jti: AtomicU64,
}

impl TestIssuer {
    /// An ES256 issuer with key id `test-es256`.
    pub fn new(issuer: &str, audience: &str) -> TestResult<Self> {
        Self::with_key(issuer, audience, Algorithm::Es256, "test-es256")
    }

    pub fn with_key(issuer: &str, audience: &str, alg: Algorithm, kid: &str) -> TestResult<Self> {
        let mut jwk = match alg {
            Algorithm::Es256 => Jwk::generate_ec_key(EcCurve::P256)?,
            Algorithm::EdDsa => Jwk::generate_ed_key(EdCurve::Ed25519)?,
            Algorithm::Rs256 => Jwk::generate_rsa_key(2048)?,
        };
        jwk.set_key_id(kid);
        jwk.set_algorithm(alg.name());
        jwk.set_key_use("sig");
        let signer: Box<dyn JwsSigner> = match alg {
            Algorithm::Es256 => Box::new(jws::ES256.signer_from_jwk(&jwk)?),
            Algorithm::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(&jwk)?),
            Algorithm::Rs256 => Box::new(jws::RS256.signer_from_jwk(&jwk)?),
        };
        let mut public = jwk.to_public_key()?;
        public.set_key_id(kid);
        public.set_algorithm(alg.name());
        public.set_key_use("sig");
        let public: Map<String, Value> = public.into();
        Ok(Self {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            kid: kid.to_owned(),
            alg,
            signer,
            public,
            jti: AtomicU64::new(0),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK object (`kid`, `alg`, `use: sig`).
    pub fn public_jwk(&self) -> Map<String, Value> {
        self.public.clone()
    }

    /// `{"keys": [this key]}`.
    pub fn jwks(&self) -> String {
        json!({ "keys": [self.public] }).to_string()
    }

    /// A verifier of this issuer's tokens with its key preloaded.
    pub fn verifier(&self) -> Result<Verifier, JwksError> {
        Verifier::with_static_keys(
            self.jwks().as_bytes(),
            self.issuer.as_str(),
            self.audience.as_str(),
        )
        .map(|v| v.with_algorithms(&[self.alg]))
    }

    /// Valid claims of a user token: issued now, expiring in 5 minutes, client `web`,
    /// scope `openid`, roles `["member"]`. Edit the map for other cases.
    pub fn claims(&self, tenant_id: &str, tenant: &str, subject: &str) -> Map<String, Value> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let jti = self.jti.fetch_add(1, Ordering::Relaxed);
        let claims = json!({
            "iss": self.issuer, "sub": subject, "aud": self.audience,
            "exp": now + 300, "iat": now, "nbf": now,
            "jti": format!("test-{jti}"), "client_id": "web", "scope": "openid",
            "tenant_id": tenant_id, "tenant": tenant, "roles": ["member"],
        });
        match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// A valid user token for `subject` in the tenant (`tenant_id`, slug `tenant`).
    pub fn token(&self, tenant_id: &str, tenant: &str, subject: &str) -> TestResult<String> {
        self.sign(&self.claims(tenant_id, tenant, subject))
    }

    /// Signs `claims` with header `{"alg", "kid", "typ": "at+jwt"}`.
    pub fn sign(&self, claims: &Map<String, Value>) -> TestResult<String> {
        let header = json!({ "alg": self.alg.name(), "kid": self.kid, "typ": "at+jwt" });
        self.sign_raw(&header, claims)
    }

    /// Signs with this key whatever `header` says (for forgery tests).
    pub fn sign_raw(&self, header: &Value, claims: &Map<String, Value>) -> TestResult<String> {
        self.sign_bytes(header, &serde_json::to_vec(claims)?)
    }

    /// Signs any payload bytes with this key under `header`.
    pub fn sign_bytes(&self, header: &Value, payload: &[u8]) -> TestResult<String> {
        self.sign_parts(&serde_json::to_vec(header)?, payload)
    }

    /// Signs a header and a payload given as bytes, exactly as written (for tokens no
    /// serializer would produce, such as a repeated member).
    pub fn sign_parts(&self, header: &[u8], payload: &[u8]) -> TestResult<String> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self.signer.sign(input.as_bytes())?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}
