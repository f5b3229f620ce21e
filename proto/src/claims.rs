//! The claims of Tessera's tokens. An access token follows RFC 9068 and always names the
//! tenant it was issued for (`tenant_id`, `tenant`), which Tessera takes from the
//! subject's membership or the client's binding, never from the request. The issuer
//! serializes these types and every reader (the server itself, `tessera-verify`) parses
//! them with [`AccessClaims::from_json`], so a claim cannot be added on one side only.

use std::fmt;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// The claims of an access token. Times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PartialAccess")]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    /// Tessera always writes it; other issuers may leave it out (RFC 7519 4.1.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    pub client_id: String,
    /// Space-separated; may be empty.
    pub scope: String,
    pub tenant_id: String,
    /// The tenant's slug.
    pub tenant: String,
    /// The subject's roles in the tenant; empty for a client's own token.
    pub roles: Vec<String>,
    /// How the user authenticated (RFC 8176: `pwd`, `otp`, `hwk`, `swk`, `mfa`); absent
    /// from a client's own token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// `pwd` for one factor, `mfa` for two; absent from a client's own token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Who acts for the subject (RFC 8693 section 4.1): present only on a token issued
    /// by token exchange; the current actor first, earlier ones nested inside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// The `act` claim (RFC 8693 section 4.1): the party that exchanged the token, and,
/// nested, the actor of the token it was exchanged from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// The chain of actors, the current one first.
    pub fn chain(&self) -> Vec<&str> {
        let mut chain = vec![self.sub.as_str()];
        let mut next = self.act.as_deref();
        while let Some(actor) = next {
            chain.push(&actor.sub);
            next = actor.act.as_deref();
        }
        chain
    }

    /// How many exchanges the token is away from the one first issued (1 for one).
    pub fn depth(&self) -> usize {
        self.chain().len()
    }
}

/// Why a claims set is not an access token's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsError {
    /// Not a JSON object, or a claim of the wrong type.
    Malformed,
    /// A required claim is absent (or, for the identifiers, empty).
    Missing(&'static str),
}

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed => f.write_str("the claims are malformed"),
            Self::Missing(name) => write!(f, "the claim {name} is missing"),
        }
    }
}

impl std::error::Error for ClaimsError {}

impl AccessClaims {
    /// Parses a (signature-checked) JWT payload. Claims this type does not name are
    /// ignored; a fractional time is truncated.
    pub fn from_json(payload: &[u8]) -> Result<Self, ClaimsError> {
        let partial: PartialAccess =
            serde_json::from_slice(payload).map_err(|_| ClaimsError::Malformed)?;
        Self::try_from(partial)
    }

    /// The scope as a list of its tokens.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}

/// Every claim optional, so that a missing one is reported by name.
#[derive(Deserialize)]
struct PartialAccess {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    iat: Option<NumericDate>,
    jti: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    tenant_id: Option<String>,
    tenant: Option<String>,
    roles: Option<Vec<String>>,
    amr: Option<Vec<String>>,
    acr: Option<String>,
    act: Option<Actor>,
}

impl TryFrom<PartialAccess> for AccessClaims {
    type Error = ClaimsError;

    fn try_from(c: PartialAccess) -> Result<Self, ClaimsError> {
        use ClaimsError::Missing;
        let iss = c.iss.ok_or(Missing("iss"))?;
        let aud = c.aud.ok_or(Missing("aud"))?;
        let exp = c.exp.ok_or(Missing("exp"))?.0;
        let iat = c.iat.ok_or(Missing("iat"))?.0;
        let required =
            |value: Option<String>, name| value.filter(|v| !v.is_empty()).ok_or(Missing(name));
        let jti = required(c.jti, "jti")?;
        Ok(Self {
            iss,
            aud,
            exp,
            iat,
            nbf: c.nbf.map(|n| n.0),
            jti,
            tenant_id: required(c.tenant_id, "tenant_id")?,
            tenant: required(c.tenant, "tenant")?,
            sub: required(c.sub, "sub")?,
            client_id: required(c.client_id, "client_id")?,
            scope: c.scope.unwrap_or_default(),
            roles: c.roles.unwrap_or_default(),
            amr: c.amr.unwrap_or_default(),
            acr: c.acr,
            act: c.act.filter(|a| !a.sub.is_empty()),
        })
    }
}

/// The claims of an ID token (OpenID Connect Core section 2) plus the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub jti: String,
    pub email: String,
    pub tenant_id: String,
    pub tenant: String,
    pub roles: Vec<String>,
    /// How the user authenticated (RFC 8176).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// `aud`: one string or an array of strings (RFC 7519 4.1.3). Written as a string when
/// it holds one audience, as Tessera always issues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(pub Vec<String>);

impl Audience {
    pub fn one(audience: impl Into<String>) -> Self {
        Self(vec![audience.into()])
    }

    pub fn contains(&self, audience: &str) -> bool {
        self.0.iter().any(|a| a == audience)
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Audience, E> {
                Ok(Audience::one(value))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(Audience(items))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Seconds since the epoch (RFC 7519 NumericDate); Tessera writes integers, a fraction
/// is accepted and truncated.
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> de::Visitor<'de> for Visitor {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("seconds since the epoch")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<NumericDate, E> {
                Ok(NumericDate(i64::try_from(value).unwrap_or(i64::MAX)))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<NumericDate, E> {
                if !value.is_finite() || value.abs() > 1e15 {
                    return Err(E::custom("out of range"));
                }
                #[allow(clippy::cast_possible_truncation)]
                Ok(NumericDate(value.trunc() as i64))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> AccessClaims {
        AccessClaims {
            iss: "https://id.example".into(),
            sub: "u1".into(),
            aud: Audience::one("api"),
            exp: 200,
            iat: 100,
            nbf: Some(100),
            jti: "j1".into(),
            client_id: "web".into(),
            scope: "openid tessera:api".into(),
            tenant_id: "t1".into(),
            tenant: "acme".into(),
            roles: vec!["admin".into()],
            amr: vec!["pwd".into()],
            acr: Some("pwd".into()),
            act: None,
        }
    }

    #[test]
    fn act_nests_and_round_trips() {
        let mut claims = sample();
        claims.act = Some(Actor {
            sub: "reports".into(),
            act: Some(Box::new(Actor {
                sub: "notes".into(),
                act: None,
            })),
        });
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json["act"],
            json!({ "sub": "reports", "act": { "sub": "notes" } })
        );
        let back = AccessClaims::from_json(&serde_json::to_vec(&claims).unwrap()).unwrap();
        let act = back.act.unwrap();
        assert_eq!((act.chain(), act.depth()), (vec!["reports", "notes"], 2));
        let mut raw = json.clone();
        raw["act"] = json!({ "sub": 7 });
        assert_eq!(
            AccessClaims::from_json(raw.to_string().as_bytes()),
            Err(ClaimsError::Malformed)
        );
    }

    #[test]
    fn the_issued_json_is_pinned() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            json,
            json!({
                "iss": "https://id.example", "sub": "u1", "aud": "api", "exp": 200,
                "iat": 100, "nbf": 100, "jti": "j1", "client_id": "web",
                "scope": "openid tessera:api", "tenant_id": "t1", "tenant": "acme",
                "roles": ["admin"], "amr": ["pwd"], "acr": "pwd"
            })
        );
        let bytes = serde_json::to_vec(&sample()).unwrap();
        assert_eq!(AccessClaims::from_json(&bytes).unwrap(), sample());
        assert_eq!(
            serde_json::from_slice::<AccessClaims>(&bytes).unwrap(),
            sample()
        );
    }

    #[test]
    fn a_missing_or_empty_claim_is_named() {
        for name in [
            "iss",
            "aud",
            "exp",
            "iat",
            "jti",
            "tenant_id",
            "tenant",
            "sub",
            "client_id",
        ] {
            let mut json = serde_json::to_value(sample()).unwrap();
            json.as_object_mut().unwrap().remove(name);
            let bytes = serde_json::to_vec(&json).unwrap();
            assert_eq!(
                AccessClaims::from_json(&bytes),
                Err(ClaimsError::Missing(name))
            );
        }
        let mut json = serde_json::to_value(sample()).unwrap();
        json["tenant_id"] = json!("");
        let bytes = serde_json::to_vec(&json).unwrap();
        assert_eq!(
            AccessClaims::from_json(&bytes),
            Err(ClaimsError::Missing("tenant_id"))
        );
    }

    #[test]
    fn optional_claims_default_and_times_may_be_fractions() {
        let bytes = serde_json::to_vec(&json!({
            "iss": "i", "sub": "s", "aud": ["a", "b"], "exp": 10.9, "iat": 1,
            "jti": "j", "client_id": "c", "tenant_id": "t", "tenant": "x", "extra": true
        }))
        .unwrap();
        let claims = AccessClaims::from_json(&bytes).unwrap();
        assert_eq!(claims.exp, 10);
        assert_eq!(claims.nbf, None);
        assert!(claims.roles.is_empty() && claims.scope.is_empty());
        assert!(claims.aud.contains("b") && !claims.aud.contains("c"));
        assert_eq!(
            serde_json::to_value(&claims.aud).unwrap(),
            json!(["a", "b"])
        );
    }

    #[test]
    fn wrong_types_are_malformed() {
        for body in [
            json!([]),
            json!({"iss": 1}),
            json!({"aud": {"x": 1}}),
            json!({"exp": "soon"}),
        ] {
            let bytes = serde_json::to_vec(&body).unwrap();
            assert_eq!(AccessClaims::from_json(&bytes), Err(ClaimsError::Malformed));
        }
    }
}
