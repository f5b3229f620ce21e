//! OAuth 2.0 endpoints' logic: client authentication (RFC 6749 section 2.3), the
//! client-credentials grant, introspection (RFC 7662) and revocation (RFC 7009). Errors
//! carry only RFC 6749 codes: nothing tells a caller which part of its credentials was
//! wrong, or whether a token of another tenant exists.

pub mod client_credentials;
pub mod code;
pub mod exchange;
mod grant;
mod refresh;
pub mod scope;
pub mod store;
pub mod userinfo;

use serde::Serialize;

use crate::audit::{ActorType, Origin};
use crate::clients::{self, Client};
use crate::config::Config;
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::keys::KeySet;
use crate::tokens::{self, Issuer};

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("invalid_request")]
    InvalidRequest(&'static str),
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant")]
    InvalidGrant,
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("invalid_scope")]
    InvalidScope,
    /// RFC 8693 section 2.2.2: an audience the client may not exchange tokens for.
    #[error("invalid_target")]
    InvalidTarget,
    /// The tenant needs a second factor the grant's login did not give (OIDC Core
    /// 3.1.2.6's code, also on `/token`: the user must sign in again).
    #[error("interaction_required")]
    InteractionRequired,
    #[error("server_error: {0}")]
    Server(#[source] Error),
}

impl From<Error> for OAuthError {
    fn from(e: Error) -> Self {
        Self::Server(e)
    }
}

impl From<diesel::result::Error> for OAuthError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Server(e.into())
    }
}

/// How a client presented its credentials.
#[derive(Debug, Clone, Default)]
pub struct ClientCredentials {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
}

/// Authenticates a confidential client by its secret. Unknown client, public client,
/// missing or wrong secret all give the same `invalid_client`.
pub fn authenticate_client(
    conn: &mut DbConnection,
    credentials: &ClientCredentials,
) -> Result<Client, OAuthError> {
    let (Some(id), Some(secret)) = (&credentials.client_id, &credentials.client_secret) else {
        return Err(OAuthError::InvalidClient);
    };
    let client = clients::find(conn, id)?;
    check_secret(client, secret)
}

/// The secret check itself, for a client already at hand (or none): hashed and compared
/// whether or not the client exists, so both cost the same.
pub fn check_secret(client: Option<Client>, secret: &str) -> Result<Client, OAuthError> {
    const ABSENT: &str = "0000000000000000000000000000000000000000000000000000000000000000";
    let stored = client
        .as_ref()
        .and_then(|c| c.secret_hash.as_deref())
        .unwrap_or(ABSENT);
    let matches = clients::secret_matches(secret, stored);
    match client {
        Some(client) if matches && client.is_confidential() => Ok(client),
        _ => Err(OAuthError::InvalidClient),
    }
}

/// Authenticates the client of an authorization-code or refresh request: a confidential
/// client by its secret, a public client by its id alone (PKCE and the single-use
/// grant protect it). Anything else is `invalid_client`.
pub fn authenticate_any_client(
    conn: &mut DbConnection,
    credentials: &ClientCredentials,
) -> Result<Client, OAuthError> {
    if credentials.client_secret.is_some() {
        return authenticate_client(conn, credentials);
    }
    let Some(id) = &credentials.client_id else {
        return Err(OAuthError::InvalidClient);
    };
    match clients::find(conn, id)? {
        Some(client) if !client.is_confidential() => Ok(client),
        _ => Err(OAuthError::InvalidClient),
    }
}

/// The audit origin of a request made by `client`.
pub fn client_origin(client: &Client, ip: Option<String>, request_id: Option<String>) -> Origin {
    Origin::request(ActorType::Client, Some(&client.id), ip, request_id)
}

/// A successful token response (RFC 6749 section 5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Checks a requested scope against what the client may have; no request means all of
/// it. Returns the granted scope, space-separated in a fixed order.
pub fn grant_scope(client: &Client, requested: Option<&str>) -> Result<String, OAuthError> {
    match requested {
        None => Ok(client.scopes().collect::<Vec<_>>().join(" ")),
        Some(requested) => {
            scope::narrow(client.scopes(), requested).ok_or(OAuthError::InvalidScope)
        }
    }
}

pub fn issuer(config: &Config) -> Issuer<'_> {
    Issuer {
        iss: &config.issuer,
        audience: &config.audience,
        access_ttl: config.access_token_ttl,
        id_ttl: config.id_token_ttl,
        refresh_ttl: config.refresh_token_ttl,
    }
}

/// RFC 7662: an active token's claims, or `{"active": false}` for anything revoked,
/// expired, forged, unknown, or belonging to another tenant than a tenant-bound
/// client's.
pub fn introspect(
    conn: &mut DbConnection,
    keys: &KeySet,
    config: &Config,
    client: &Client,
    token: &str,
) -> Result<serde_json::Value, OAuthError> {
    let inactive = serde_json::json!({ "active": false });
    let Some(verified) = tokens::verify_access_token(conn, keys, &config.issuer, token)? else {
        return Ok(inactive);
    };
    if client
        .tenant_id
        .as_deref()
        .is_some_and(|own| own != verified.claims.tenant_id)
    {
        return Ok(inactive);
    }
    let mut body = match serde_json::to_value(&verified.claims) {
        Ok(serde_json::Value::Object(claims)) => claims,
        _ => return Ok(inactive),
    };
    body.insert("active".into(), true.into());
    body.insert("token_type".into(), "Bearer".into());
    Ok(serde_json::Value::Object(body))
}

/// RFC 7009: revokes an access token issued to `client`, or a refresh token's whole
/// family. Unknown or unverifiable tokens change nothing and still answer success, so
/// the endpoint reveals nothing about them. A token issued to another client is refused
/// (`unauthorized_client`, RFC 7009 section 2.1); the attempt is audited in the asking
/// client's own tenant chain.
pub fn revoke(
    conn: &mut DbConnection,
    keys: &KeySet,
    origin: &Origin,
    client: &Client,
    token: &str,
) -> Result<(), OAuthError> {
    let presented = RevokedToken::read(keys, token);
    let allowed = db::write_tx(conn, |tx| revoke_in(tx, origin, client, &presented))?;
    if allowed {
        Ok(())
    } else {
        Err(OAuthError::UnauthorizedClient)
    }
}

/// A token presented to `/revoke`, its signature checked (outside the transaction).
#[derive(Debug, Clone)]
pub enum RevokedToken {
    /// One of this service's access tokens.
    Access(Box<tokens::AccessClaims>),
    /// Signed by this service but not an access token it can read: nothing to revoke.
    Unreadable,
    /// Not one of this service's access tokens: perhaps a refresh token.
    Opaque(String),
}

impl RevokedToken {
    pub fn read(keys: &KeySet, token: &str) -> Self {
        match keys.verify_payload(token, tokens::ACCESS_TOKEN_TYP) {
            None => Self::Opaque(token.to_owned()),
            Some(payload) => match tokens::AccessClaims::from_json(&payload) {
                Ok(claims) => Self::Access(Box::new(claims)),
                Err(_) => Self::Unreadable,
            },
        }
    }
}

/// The revocation in an open write transaction; false: the token is another
/// client's (the refusal is audited).
pub fn revoke_in(
    tx: &mut DbConnection,
    origin: &Origin,
    client: &Client,
    presented: &RevokedToken,
) -> Result<bool, Error> {
    match presented {
        RevokedToken::Opaque(token) => code::revoke_refresh(tx, origin, client, token),
        RevokedToken::Unreadable => Ok(true),
        RevokedToken::Access(claims) => {
            if claims.client_id != client.id {
                tokens::record_revoke_denied(tx, origin, client.home_tenant_id(), &claims.jti)?;
                return Ok(false);
            }
            tokens::revoke(tx, origin, &claims.tenant_id, &claims.jti, "client")?;
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &str) -> Client {
        Client {
            id: "svc".into(),
            tenant_id: None,
            name: "svc".into(),
            kind: "confidential".into(),
            secret_hash: None,
            redirect_uris: String::new(),
            grant_types: "client_credentials".into(),
            scopes: scopes.into(),
            created_at: chrono::NaiveDateTime::default(),
            exchange_audiences: String::new(),
        }
    }

    #[test]
    fn scopes_are_subsets() {
        let c = client("audit:write read write");
        assert_eq!(grant_scope(&c, None).unwrap(), "audit:write read write");
        assert_eq!(grant_scope(&c, Some("write read")).unwrap(), "read write");
        assert_eq!(grant_scope(&c, Some("read read")).unwrap(), "read");
        assert!(matches!(
            grant_scope(&c, Some("read admin")),
            Err(OAuthError::InvalidScope)
        ));
    }
}
