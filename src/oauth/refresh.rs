//! Rotating refresh tokens: a refresh token is single-use, and presenting a used one
//! revokes its whole family. The ledger is the one record of revocation. A refresh may
//! narrow the scope and switch tenant, after a fresh membership check.

use super::grant::{self, Issuing, Lineage, Presented, UserGrant};
use super::store;
use super::{scope, OAuthError, TokenResponse};
use crate::audit::{self, Event, Origin, Outcome};
use crate::clients::{Client, GrantType};
use crate::config::Config;
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::keys::KeySet;
use crate::mfa;
use crate::tenants;
use crate::tokens::{self, opaque_hash};
use crate::users;

/// Parameters of a refresh-token request.
#[derive(Debug, Clone, Copy)]
pub struct Refresh<'a> {
    pub refresh_token: &'a str,
    pub scope: Option<&'a str>,
    /// A tenant slug to switch to (after a fresh membership check).
    pub tenant: Option<&'a str>,
}

/// `grant_type=refresh_token`: rotates the token; a used one revokes the family. Runs
/// inside a write transaction that is already open (its own, or the group-commit
/// writer's): `Err` rolls back; `Ok(Err(_))` is a refusal whose revocation and audit
/// event commit.
pub fn refresh_in(
    tx: &mut DbConnection,
    keys: &KeySet,
    config: &Config,
    origin: &Origin,
    client: &Client,
    request: &Refresh<'_>,
) -> Result<Result<TokenResponse, OAuthError>, OAuthError> {
    if !client.has_grant(GrantType::RefreshToken) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let Some(row) = store::refresh(tx, &opaque_hash(request.refresh_token))? else {
        return Err(OAuthError::InvalidGrant);
    };
    if row.client_id != client.id {
        return Err(OAuthError::InvalidGrant);
    }
    // A used token presented again is an attack, revoked or not: the family goes.
    let presented = Presented {
        tenant_id: &row.tenant_id,
        family_id: &row.family_id,
        used: row.used_at.is_some(),
        replay: "token.refresh_reuse",
    };
    if let Err(refused) = grant::redeem_once(tx, origin, &presented, |tx| {
        store::use_refresh(tx, &row, db::now())
    })? {
        return Ok(Err(refused));
    }
    // The ledger is the one record of revocation (by jti, by family, at sign-out);
    // refusing rolls back the use just marked.
    if row.expires_at <= db::now() || tokens::is_revoked(tx, &row.tenant_id, &row.jti)? {
        return Err(OAuthError::InvalidGrant);
    }
    let scope = match request.scope {
        None => row.scope.clone(),
        Some(requested) => {
            scope::narrow(row.scope.split(' '), requested).ok_or(OAuthError::InvalidScope)?
        }
    };
    let user = users::find(tx, &row.user_id)?.ok_or(Error::NotFound)?;
    let current = tenants::find_by_id(tx, &row.tenant_id)?.ok_or(Error::NotFound)?;
    let hint = request.tenant.unwrap_or(&current.slug);
    let access = grant::fresh_access(tx, &user, client, hint)?;
    // A tenant that asks this user for a second factor (required, or optional and
    // the user has one) gets no token from a login without one, whether the
    // refresh switches into it or its policy changed since. The token stays usable
    // where it is allowed.
    let amr: Vec<&str> = row.amr.split(' ').collect();
    if !amr.contains(&"mfa") && mfa::asks(tx, &access.tenant, &user)? {
        store::unuse_refresh(tx, &row)?;
        audit::record(
            tx,
            origin,
            Event::new(&access.tenant.id, "token.refresh_denied", Outcome::Denied)
                .on("user", &user.id)
                .with_details(serde_json::json!({
                    "client_id": client.id,
                    "reason": "mfa_required",
                    "from_tenant": current.slug,
                })),
        )?;
        return Ok(Err(OAuthError::InteractionRequired));
    }
    let issuing = Issuing {
        keys,
        config,
        origin,
        client,
    };
    let response = grant::issue_user_tokens(
        tx,
        &issuing,
        &UserGrant {
            user: &user,
            access: &access,
            scope: &scope,
            lineage: Lineage {
                auth_time: row.auth_time,
                family_id: &row.family_id,
                session_hash: row.session_hash.as_deref(),
                nonce: None,
                amr: &amr,
            },
            grant_type: crate::clients::GrantType::RefreshToken,
        },
    )?;
    audit::record(
        tx,
        origin,
        Event::success(&access.tenant.id, "token.refreshed", "user", &user.id)
            .with_details(serde_json::json!({ "client_id": client.id })),
    )?;
    if access.tenant.id != row.tenant_id {
        audit::record(
            tx,
            origin,
            Event::success(&access.tenant.id, "tenant.switched", "user", &user.id).with_details(
                serde_json::json!({ "client_id": client.id, "from_tenant": current.slug }),
            ),
        )?;
    }
    Ok(Ok(response))
}
