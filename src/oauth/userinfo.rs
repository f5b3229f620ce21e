//! OpenID Connect userinfo: who an access token describes. Only a token issued to a
//! user describes one (a client-credentials token's subject is its client), and the
//! user must still be active and a member of the token's tenant.

use tessera_proto::api::UserInfo;

use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::{memberships, tokens, users};

/// The user behind `token`: `Unauthenticated` for a token that does not verify (for
/// `issuer` and `audience`) or does not describe a current member, `InsufficientScope`
/// without `openid`.
pub fn userinfo(
    conn: &mut DbConnection,
    keys: &KeySet,
    issuer: &str,
    audience: &str,
    token: &str,
) -> Result<UserInfo> {
    let claims = match tokens::verify_access_token(conn, keys, issuer, token)? {
        Some(verified) if verified.claims.aud.contains(audience) => verified.claims,
        _ => return Err(Error::Unauthenticated),
    };
    if !claims.scopes().any(|s| s == "openid") {
        return Err(Error::InsufficientScope("openid"));
    }
    if claims.sub == claims.client_id || uuid::Uuid::parse_str(&claims.sub).is_err() {
        return Err(Error::Unauthenticated);
    }
    let user = match users::find(conn, &claims.sub)? {
        Some(user) if user.status == "active" => user,
        _ => return Err(Error::Unauthenticated),
    };
    if !memberships::is_member(conn, &claims.tenant_id, &user.id)? {
        return Err(Error::Unauthenticated);
    }
    Ok(UserInfo {
        sub: user.id,
        email: user.email,
        tenant_id: claims.tenant_id,
        tenant: claims.tenant,
        roles: claims.roles,
    })
}
