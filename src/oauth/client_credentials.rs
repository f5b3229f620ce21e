//! The client-credentials grant (RFC 6749 section 4.4): the client authenticates with
//! its secret, may use the grant, asks for a subset of its scopes, and its tenant (its
//! binding, or `system`) is active. The token's tenant is the client's, never the
//! request's. A client seen in the last few seconds is checked from the in-process
//! [`Directory`] without a database round trip; the token is recorded through the
//! group-commit writer before it is handed out.

use crate::audit::{Entry, Origin};
use crate::clients::directory::Directory;
use crate::clients::{Client, GrantType};
use crate::db::DbConnection;
use crate::error::Error;
use crate::keys::KeySet;
use crate::tenants::{self, Tenant};
use crate::tokens::{self, Grant, IssuedToken, Issuer};

use super::TokenResponse;
use super::{authenticate_client, check_secret, grant_scope, ClientCredentials, OAuthError};

/// A request that passed every check: who gets a token, in which tenant, with what scope.
#[derive(Debug, Clone)]
pub struct Granted {
    pub client: Client,
    pub tenant: Tenant,
    pub scope: String,
}

/// The checks from the directory's copy of the client, when it holds one; `None` when
/// it does not, and [`check`] must ask the database.
pub fn check_cached(
    directory: &Directory,
    credentials: &ClientCredentials,
    scope: Option<&str>,
) -> Option<Result<Granted, OAuthError>> {
    let entry = directory.get(credentials.client_id.as_deref()?)?;
    let (client, tenant) = (&entry.0, &entry.1);
    Some((|| {
        let secret = credentials
            .client_secret
            .as_deref()
            .ok_or(OAuthError::InvalidClient)?;
        let client = check_secret(Some(client.clone()), secret)?;
        let scope = check_grant(&client, tenant, scope)?;
        Ok(Granted {
            client,
            tenant: tenant.clone(),
            scope,
        })
    })())
}

/// The checks on a connection; a client that passes them is remembered in `directory`.
pub fn check(
    conn: &mut DbConnection,
    directory: &Directory,
    credentials: &ClientCredentials,
    scope: Option<&str>,
) -> Result<Granted, OAuthError> {
    let client = authenticate_client(conn, credentials)?;
    let tenant = tenants::find_by_id(conn, client.home_tenant_id())?.ok_or(Error::NotFound)?;
    let scope = check_grant(&client, &tenant, scope)?;
    directory.put(client.clone(), tenant.clone());
    Ok(Granted {
        client,
        tenant,
        scope,
    })
}

/// The client may use the grant, the scope is a subset of its own, the tenant is
/// active. Returns the granted scope.
fn check_grant(
    client: &Client,
    tenant: &Tenant,
    requested: Option<&str>,
) -> Result<String, OAuthError> {
    if !client.has_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let scope = grant_scope(client, requested)?;
    if tenant.status != "active" {
        return Err(OAuthError::InvalidClient);
    }
    Ok(scope)
}

/// Mints the token (subject: the client; tenant: the client's) without recording it:
/// the caller submits the returned ledger row and event to the group-commit writer and
/// answers only once that committed.
pub fn mint(
    keys: &KeySet,
    issuer: &Issuer<'_>,
    origin: &Origin,
    granted: &Granted,
) -> Result<(TokenResponse, (IssuedToken, Entry)), crate::error::Error> {
    let Granted {
        client,
        tenant,
        scope,
    } = granted;
    let minted = tokens::mint_unrecorded(
        keys,
        issuer,
        origin,
        &Grant {
            tenant,
            subject: &client.id,
            client_id: &client.id,
            scope,
            roles: &[],
            family_id: None,
            amr: &[],
            grant_type: crate::clients::GrantType::ClientCredentials,
        },
    )?;
    let response = TokenResponse {
        access_token: minted.issued.token,
        token_type: "Bearer",
        expires_in: minted.issued.expires_in,
        scope: scope.clone(),
        id_token: None,
        refresh_token: None,
    };
    Ok((response, minted.record))
}
