//! Access-token verification (RFC 9068, RFC 8725). Guards: the algorithm comes from the
//! key (chosen by `kid`) and the configured allowlist, never from the token; the header
//! is checked before any key lookup, so junk tokens cannot trigger JWKS fetches; the
//! payload is parsed only after its signature verified; a [`TenantContext`] exists only
//! when every check passed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::Deserialize;
use tessera_proto::strict_json::no_duplicate_members;
use tessera_proto::{AccessClaims, ClaimsError};

use crate::algorithm::{Algorithm, Key};
use crate::context::TenantContext;
use crate::error::{JwksError, VerifyError};
use crate::jwks::{JwksClient, Lookup};

/// Longer tokens are refused before any decoding.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Verifies Tessera access tokens for one issuer and one audience. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Verifier {
    jwks: JwksClient,
    issuer: Arc<str>,
    audience: Arc<str>,
    algorithms: Vec<Algorithm>,
    leeway: i64,
}

impl Verifier {
    /// Verifies tokens of `issuer` (exactly the `iss` claim) meant for `audience`, with
    /// the keys of `jwks`. Defaults: algorithms `[ES256]`, leeway 30 s.
    pub fn new(jwks: JwksClient, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            jwks,
            issuer: issuer.into().into(),
            audience: audience.into().into(),
            algorithms: vec![Algorithm::Es256],
            leeway: 30,
        }
    }

    /// The usual setup: the JWKS at `{issuer}/.well-known/jwks.json`, default caching.
    pub fn for_issuer(
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError> {
        let issuer = issuer.into();
        let url = format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'));
        Ok(Self::new(JwksClient::new(url)?, issuer, audience))
    }

    /// A verifier with fixed keys from a JWKS document; it never fetches.
    pub fn with_static_keys(
        jwks: &[u8],
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, JwksError> {
        Ok(Self::new(JwksClient::from_jwks(jwks)?, issuer, audience))
    }

    /// The algorithms keys may use; a key of any other algorithm verifies nothing.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (whole seconds).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        self
    }

    pub fn jwks(&self) -> &JwksClient {
        &self.jwks
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Verifies `token` (the compact JWS, without `Bearer `). Blocks while the JWKS is
    /// fetched (first use, expiry, unknown `kid`); in async code use the actix
    /// middleware or `verify_async` (feature `actix`).
    pub fn verify(&self, token: &str) -> Result<TenantContext, VerifyError> {
        let parsed = self.parse(token)?;
        let key = match self.jwks.lookup(&parsed.kid, true) {
            Lookup::Found { key, stale } => {
                if stale {
                    self.jwks.refresh_stale();
                }
                key
            }
            Lookup::Fetch(reason) => {
                self.jwks.fetch_for(reason);
                self.key_after_fetch(&parsed.kid)?
            }
            Lookup::Unknown => return Err(VerifyError::UnknownKey),
            Lookup::Unavailable => return Err(VerifyError::JwksUnavailable),
        };
        self.check(&parsed, &key)
    }

    /// Splits the token and checks its header: everything that needs no key.
    pub(crate) fn parse<'t>(&self, token: &'t str) -> Result<Parsed<'t>, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::Malformed);
        }
        let (header_b64, rest) = token.split_once('.').ok_or(VerifyError::Malformed)?;
        let (payload_b64, signature_b64) = rest.split_once('.').ok_or(VerifyError::Malformed)?;
        if signature_b64.contains('.') {
            return Err(VerifyError::Malformed);
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| VerifyError::Malformed)?;
        // A repeated member could mean one thing here and another to the issuer.
        if !no_duplicate_members(&header_bytes) {
            return Err(VerifyError::Malformed);
        }
        let header: Header =
            serde_json::from_slice(&header_bytes).map_err(|_| VerifyError::Malformed)?;
        // No JWS extension is understood, so none may be critical (RFC 7515 4.1.11).
        if header.crit.is_some() {
            return Err(VerifyError::Malformed);
        }
        let typ = header.typ.as_deref().ok_or(VerifyError::WrongType)?;
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        if !typ.eq_ignore_ascii_case("at+jwt") {
            return Err(VerifyError::WrongType);
        }
        let alg = header
            .alg
            .as_deref()
            .and_then(Algorithm::parse)
            .filter(|alg| self.algorithms.contains(alg))
            .ok_or(VerifyError::AlgorithmNotAllowed)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        Ok(Parsed {
            signing_input: &token[..header_b64.len() + 1 + payload_b64.len()],
            payload_b64,
            signature_b64,
            alg,
            kid,
        })
    }

    pub(crate) fn key_after_fetch(&self, kid: &str) -> Result<Arc<Key>, VerifyError> {
        match self.jwks.lookup(kid, false) {
            Lookup::Found { key, .. } => Ok(key),
            Lookup::Fetch(_) | Lookup::Unknown => Err(VerifyError::UnknownKey),
            Lookup::Unavailable => Err(VerifyError::JwksUnavailable),
        }
    }

    /// Signature, then claims.
    pub(crate) fn check(
        &self,
        parsed: &Parsed<'_>,
        key: &Key,
    ) -> Result<TenantContext, VerifyError> {
        // The key's own algorithm decides; the header may only agree with it.
        if !self.algorithms.contains(&key.alg) || parsed.alg != key.alg {
            return Err(VerifyError::AlgorithmNotAllowed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(parsed.signature_b64)
            .map_err(|_| VerifyError::Malformed)?;
        key.verifier
            .verify(parsed.signing_input.as_bytes(), &signature)
            .map_err(|_| VerifyError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(parsed.payload_b64)
            .map_err(|_| VerifyError::Malformed)?;
        if !no_duplicate_members(&payload) {
            return Err(VerifyError::Malformed);
        }
        let claims = AccessClaims::from_json(&payload).map_err(|e| match e {
            ClaimsError::Missing(name) => VerifyError::MissingClaim(name),
            ClaimsError::Malformed => VerifyError::Malformed,
        })?;
        self.check_claims(claims, now())
    }

    fn check_claims(&self, claims: AccessClaims, now: i64) -> Result<TenantContext, VerifyError> {
        use VerifyError::{Expired, NotYetValid, WrongAudience, WrongIssuer};
        if claims.iss != *self.issuer {
            return Err(WrongIssuer);
        }
        if !claims.aud.contains(&self.audience) {
            return Err(WrongAudience);
        }
        if now >= claims.exp.saturating_add(self.leeway) {
            return Err(Expired);
        }
        let latest = now.saturating_add(self.leeway);
        if claims.iat > latest || claims.nbf.is_some_and(|nbf| nbf > latest) {
            return Err(NotYetValid);
        }
        Ok(TenantContext {
            scope: claims.scopes().map(str::to_owned).collect(),
            tenant_id: claims.tenant_id,
            tenant: claims.tenant,
            subject: claims.sub,
            client_id: claims.client_id,
            roles: claims.roles,
            actors: claims
                .act
                .as_ref()
                .map(|act| act.chain().into_iter().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }
}

/// A token split into its parts, header already checked.
pub(crate) struct Parsed<'t> {
    signing_input: &'t str,
    payload_b64: &'t str,
    signature_b64: &'t str,
    /// What the header claims; it must equal the key's algorithm.
    alg: Algorithm,
    pub(crate) kid: String,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
    crit: Option<IgnoredAny>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::testing::TestIssuer;
    use serde_json::{json, Map, Value};

    const ISS: &str = "https://id.example";
    const AUD: &str = "notes";
    const TENANT: &str = "0b6f3c4e-1111-4222-8333-444455556666";

    fn setup() -> (TestIssuer, Verifier) {
        let issuer = TestIssuer::new(ISS, AUD).unwrap();
        let verifier = issuer.verifier().unwrap();
        (issuer, verifier)
    }

    fn claims(issuer: &TestIssuer) -> Map<String, Value> {
        issuer.claims(TENANT, "acme", "user-1")
    }

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn unix_now() -> i64 {
        now()
    }

    #[test]
    fn a_repeated_member_in_header_or_claims_is_malformed() {
        let (issuer, verifier) = setup();
        let claims = serde_json::to_string(&claims(&issuer)).unwrap();
        let header = format!(
            r#"{{"alg":"ES256","kid":"{}","typ":"at+jwt"}}"#,
            issuer.kid()
        );
        let good = issuer
            .sign_parts(header.as_bytes(), claims.as_bytes())
            .unwrap();
        assert!(verifier.verify(&good).is_ok());
        // The same token with one member repeated, properly signed: which value wins
        // differs between parsers, so neither is taken.
        let twice = format!(r#"{},"tenant_id":"other"}}"#, claims.trim_end_matches('}'));
        let forged = issuer
            .sign_parts(header.as_bytes(), twice.as_bytes())
            .unwrap();
        assert_eq!(
            verifier.verify(&forged).unwrap_err(),
            VerifyError::Malformed
        );
        let header_twice = format!(r#"{},"typ":"JWT"}}"#, header.trim_end_matches('}'));
        let forged = issuer
            .sign_parts(header_twice.as_bytes(), claims.as_bytes())
            .unwrap();
        assert_eq!(
            verifier.verify(&forged).unwrap_err(),
            VerifyError::Malformed
        );
    }

    #[test]
    fn valid_token_yields_the_tenant_context() {
        let (issuer, verifier) = setup();
        let mut claims = claims(&issuer);
        claims.insert("scope".into(), "openid  notes:write".into());
        claims.insert("roles".into(), json!(["member", "admin"]));
        let ctx = verifier.verify(&issuer.sign(&claims).unwrap()).unwrap();
        assert_eq!(ctx.tenant_id, TENANT);
        assert_eq!(ctx.tenant, "acme");
        assert_eq!(ctx.subject, "user-1");
        assert_eq!(ctx.client_id, "web");
        assert_eq!(ctx.roles, ["member", "admin"]);
        assert_eq!(ctx.scope, ["openid", "notes:write"]);
        assert!(ctx.has_role("admin") && ctx.has_scope("notes:write"));
    }

    #[test]
    fn audience_may_be_an_array_and_typ_a_media_type() {
        let (issuer, verifier) = setup();
        let mut claims = claims(&issuer);
        claims.insert("aud".into(), json!(["billing", AUD]));
        assert!(verifier.verify(&issuer.sign(&claims).unwrap()).is_ok());
        let header = json!({"alg": "ES256", "kid": issuer.kid(), "typ": "application/at+JWT"});
        assert!(verifier
            .verify(&issuer.sign_raw(&header, &claims).unwrap())
            .is_ok());
    }

    #[test]
    fn alg_none_is_refused() {
        let (issuer, verifier) = setup();
        let all = verifier.clone().with_algorithms(&[
            Algorithm::Es256,
            Algorithm::EdDsa,
            Algorithm::Rs256,
        ]);
        let payload = b64(&serde_json::to_vec(&claims(&issuer)).unwrap());
        for alg in ["none", "None", "NONE"] {
            let header = json!({"alg": alg, "kid": issuer.kid(), "typ": "at+jwt"});
            let head = b64(&serde_json::to_vec(&header).unwrap());
            for token in [
                format!("{head}.{payload}."),
                format!("{head}.{payload}.AAAA"),
            ] {
                assert_eq!(
                    verifier.verify(&token),
                    Err(VerifyError::AlgorithmNotAllowed)
                );
                assert_eq!(all.verify(&token), Err(VerifyError::AlgorithmNotAllowed));
            }
        }
    }

    #[test]
    fn hs256_keyed_with_the_public_key_is_refused() {
        let (issuer, verifier) = setup();
        let all = verifier.clone().with_algorithms(&[
            Algorithm::Es256,
            Algorithm::EdDsa,
            Algorithm::Rs256,
        ]);
        let public = serde_json::to_vec(&issuer.public_jwk()).unwrap();
        let jwks = issuer.jwks();
        for secret in [public.as_slice(), jwks.as_bytes()] {
            let header = json!({"alg": "HS256", "kid": issuer.kid(), "typ": "at+jwt"});
            let input = format!(
                "{}.{}",
                b64(&serde_json::to_vec(&header).unwrap()),
                b64(&serde_json::to_vec(&claims(&issuer)).unwrap())
            );
            let signer = josekit::jws::HS256.signer_from_bytes(secret).unwrap();
            let token = format!("{input}.{}", b64(&signer.sign(input.as_bytes()).unwrap()));
            assert_eq!(
                verifier.verify(&token),
                Err(VerifyError::AlgorithmNotAllowed)
            );
            assert_eq!(all.verify(&token), Err(VerifyError::AlgorithmNotAllowed));
        }
    }

    #[test]
    fn the_key_decides_the_algorithm() {
        // An ES256 key's kid with another algorithm in the header, even an allowed one.
        let (issuer, verifier) = setup();
        let all = verifier.clone().with_algorithms(&[
            Algorithm::Es256,
            Algorithm::EdDsa,
            Algorithm::Rs256,
        ]);
        for alg in ["RS256", "EdDSA", "ES384", "PS256"] {
            let header = json!({"alg": alg, "kid": issuer.kid(), "typ": "at+jwt"});
            let token = issuer.sign_raw(&header, &claims(&issuer)).unwrap();
            assert_eq!(
                all.verify(&token),
                Err(VerifyError::AlgorithmNotAllowed),
                "{alg}"
            );
        }
        // A correctly signed EdDSA token, but EdDSA is not on the allowlist.
        let ed = TestIssuer::with_key(ISS, AUD, Algorithm::EdDsa, "ed-1").unwrap();
        let es_only = Verifier::with_static_keys(ed.jwks().as_bytes(), ISS, AUD).unwrap();
        let token = ed.sign(&ed.claims(TENANT, "acme", "user-1")).unwrap();
        assert_eq!(
            es_only.verify(&token),
            Err(VerifyError::AlgorithmNotAllowed)
        );
        let ed_ok = es_only.with_algorithms(&[Algorithm::EdDsa]);
        assert!(ed_ok.verify(&token).is_ok());
    }

    #[test]
    fn edited_payload_or_signature_fails() {
        let (issuer, verifier) = setup();
        let token = issuer.sign(&claims(&issuer)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut edited = claims(&issuer);
        edited.insert(
            "tenant_id".into(),
            "99999999-1111-4222-8333-444455556666".into(),
        );
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64(&serde_json::to_vec(&edited).unwrap()),
            parts[2]
        );
        assert_eq!(verifier.verify(&forged), Err(VerifyError::BadSignature));
        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        signature[10] ^= 1;
        let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
        assert_eq!(verifier.verify(&flipped), Err(VerifyError::BadSignature));
        let short = format!("{}.{}.{}", parts[0], parts[1], b64(&signature[..32]));
        assert_eq!(verifier.verify(&short), Err(VerifyError::BadSignature));
        // Another key with the same kid: signature fails.
        let other = TestIssuer::new(ISS, AUD).unwrap();
        let token = other.sign(&claims(&other)).unwrap();
        assert_eq!(verifier.verify(&token), Err(VerifyError::BadSignature));
    }

    #[test]
    fn unknown_or_missing_kid() {
        let (issuer, verifier) = setup();
        let header = json!({"alg": "ES256", "kid": "someone-else", "typ": "at+jwt"});
        let token = issuer.sign_raw(&header, &claims(&issuer)).unwrap();
        assert_eq!(verifier.verify(&token), Err(VerifyError::UnknownKey));
        let header = json!({"alg": "ES256", "typ": "at+jwt"});
        let token = issuer.sign_raw(&header, &claims(&issuer)).unwrap();
        assert_eq!(verifier.verify(&token), Err(VerifyError::UnknownKey));
    }

    #[test]
    fn wrong_type_is_refused() {
        let (issuer, verifier) = setup();
        for typ in [json!("JWT"), json!("id_token+jwt"), json!(null), json!(7)] {
            let mut header = json!({"alg": "ES256", "kid": issuer.kid()});
            if !typ.is_null() {
                header["typ"] = typ.clone();
            }
            let token = issuer.sign_raw(&header, &claims(&issuer)).unwrap();
            let expected = if typ.is_number() {
                VerifyError::Malformed
            } else {
                VerifyError::WrongType
            };
            assert_eq!(verifier.verify(&token), Err(expected), "{typ}");
        }
    }

    #[test]
    fn wrong_issuer_or_audience_is_refused() {
        let (issuer, verifier) = setup();
        let mut claims = claims(&issuer);
        claims.insert("iss".into(), "https://id.example/".into());
        assert_eq!(
            verifier.verify(&issuer.sign(&claims).unwrap()),
            Err(VerifyError::WrongIssuer)
        );
        claims.insert("iss".into(), ISS.into());
        for aud in [json!("billing"), json!(["billing", "notes2"]), json!([])] {
            claims.insert("aud".into(), aud);
            assert_eq!(
                verifier.verify(&issuer.sign(&claims).unwrap()),
                Err(VerifyError::WrongAudience)
            );
        }
    }

    #[test]
    fn time_claims_with_leeway() {
        let (issuer, verifier) = setup();
        let now = unix_now();
        let at = |name: &str, value: i64| {
            let mut c = claims(&issuer);
            c.insert(name.into(), value.into());
            verifier.verify(&issuer.sign(&c).unwrap()).map(|_| ())
        };
        assert_eq!(at("exp", now - 10), Ok(()), "inside the leeway");
        assert_eq!(at("exp", now - 31), Err(VerifyError::Expired));
        assert_eq!(at("exp", now - 3600), Err(VerifyError::Expired));
        assert_eq!(at("nbf", now + 10), Ok(()));
        assert_eq!(at("nbf", now + 120), Err(VerifyError::NotYetValid));
        assert_eq!(at("iat", now + 120), Err(VerifyError::NotYetValid));
        let strict = verifier.clone().with_leeway(Duration::ZERO);
        let mut c = claims(&issuer);
        c.insert("exp".into(), (now - 1).into());
        assert_eq!(
            strict.verify(&issuer.sign(&c).unwrap()),
            Err(VerifyError::Expired)
        );
        c.insert("exp".into(), json!(now as f64 + 100.5));
        assert!(
            strict.verify(&issuer.sign(&c).unwrap()).is_ok(),
            "fractional NumericDate"
        );
    }

    #[test]
    fn required_claims() {
        let (issuer, verifier) = setup();
        for name in [
            "iss",
            "aud",
            "exp",
            "iat",
            "jti",
            "sub",
            "client_id",
            "tenant_id",
            "tenant",
        ] {
            let mut c = claims(&issuer);
            c.remove(name);
            assert_eq!(
                verifier.verify(&issuer.sign(&c).unwrap()),
                Err(VerifyError::MissingClaim(name))
            );
        }
        let mut c = claims(&issuer);
        c.insert("tenant_id".into(), "".into());
        assert_eq!(
            verifier.verify(&issuer.sign(&c).unwrap()),
            Err(VerifyError::MissingClaim("tenant_id"))
        );
        // Optional: nbf, scope, roles.
        for name in ["nbf", "scope", "roles"] {
            let mut c = claims(&issuer);
            c.remove(name);
            assert!(verifier.verify(&issuer.sign(&c).unwrap()).is_ok(), "{name}");
        }
    }

    #[test]
    fn malformed_tokens() {
        let (issuer, verifier) = setup();
        let token = issuer.sign(&claims(&issuer)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let crit = json!({"alg": "ES256", "kid": issuer.kid(), "typ": "at+jwt", "crit": ["exp"], "exp": 1});
        let mut bad_types = claims(&issuer);
        bad_types.insert("roles".into(), "admin".into());
        let duplicate = format!(
            "{{\"sub\":\"a\",{}",
            &serde_json::to_string(&claims(&issuer)).unwrap()[1..]
        );
        let header = json!({"alg": "ES256", "kid": issuer.kid(), "typ": "at+jwt"});
        let duplicate = issuer.sign_bytes(&header, duplicate.as_bytes()).unwrap();
        let cases = [
            String::new(),
            "garbage".into(),
            format!("{}.{}", parts[0], parts[1]),
            format!("{token}.x"),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}!", parts[0], parts[1], parts[2]),
            format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
            issuer.sign_raw(&crit, &claims(&issuer)).unwrap(),
            issuer.sign(&bad_types).unwrap(),
            duplicate,
            format!("{}.{}.{}", parts[0], "A".repeat(MAX_TOKEN_LEN), parts[2]),
        ];
        for (i, case) in cases.iter().enumerate() {
            assert_eq!(
                verifier.verify(case),
                Err(VerifyError::Malformed),
                "case {i}"
            );
        }
    }
}
