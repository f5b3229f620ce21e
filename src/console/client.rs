//! The console's built-in client: public (PKCE, no secret), bound to no tenant (it
//! serves every tenant's readers, through the tenant picker), `authorization_code`
//! only, scope `openid`. It is registered, or its redirect URI brought up to date with
//! the issuer, whenever the server starts.

use crate::audit::{self, Event, Origin};
use crate::clients::Client;
use crate::db::{self, DbConnection};
use crate::error::{is_unique_violation, Error, Result};
use crate::tenants::SYSTEM_TENANT_ID;

/// Registers the console's client, or points its redirect URI at `issuer`. Returns
/// whether anything changed (recorded as `client.created` or `client.updated` in
/// `system`'s chain).
pub fn ensure(conn: &mut DbConnection, issuer: &str) -> Result<bool> {
    let redirect_uri = super::redirect_uri(issuer);
    crate::clients::validate_redirect_uri(&redirect_uri)?;
    if let Some(existing) = crate::clients::store::by_id(conn, super::CLIENT_ID)? {
        if existing.redirect_uris == redirect_uri {
            return Ok(false);
        }
    }
    db::write_tx(conn, |tx| {
        let origin = Origin::system();
        let action = match crate::clients::store::by_id(tx, super::CLIENT_ID)? {
            Some(existing) if existing.redirect_uris == redirect_uri => return Ok(false),
            Some(_) => {
                crate::clients::store::set_redirect_uris(tx, super::CLIENT_ID, &redirect_uri)?;
                "client.updated"
            }
            None => {
                crate::clients::store::insert(tx, &client(&redirect_uri)).map_err(|e| {
                    if is_unique_violation(&e) {
                        Error::Conflict("client")
                    } else {
                        e.into()
                    }
                })?;
                "client.created"
            }
        };
        audit::record(
            tx,
            &origin,
            Event::success(SYSTEM_TENANT_ID, action, "client", super::CLIENT_ID).with_details(
                serde_json::json!({ "kind": "public", "redirect_uris": [redirect_uri] }),
            ),
        )?;
        Ok(true)
    })
    .or_else(|e| match e {
        // Another instance, starting at the same moment, registered it first.
        Error::Conflict(_) => Ok(false),
        e => Err(e),
    })
}

fn client(redirect_uri: &str) -> Client {
    Client {
        id: super::CLIENT_ID.to_owned(),
        tenant_id: None,
        name: "Tessera security console".to_owned(),
        kind: "public".to_owned(),
        secret_hash: None,
        redirect_uris: redirect_uri.to_owned(),
        grant_types: crate::clients::GrantType::AuthorizationCode
            .as_str()
            .to_owned(),
        scopes: "openid".to_owned(),
        created_at: db::now(),
        exchange_audiences: String::new(),
    }
}
