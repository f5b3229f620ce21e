//! What the code and refresh grants share: a grant row is redeemed once (presenting it
//! again revokes its whole family), the membership is checked afresh at every exchange
//! (invariant 1), and one family's tokens are issued and recorded together.

use super::store::{self, RefreshToken};
use super::{issuer, OAuthError, TokenResponse};
use crate::audit::{Origin, Outcome};
use crate::clients::{Client, GrantType};
use crate::config::Config;
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::keys::KeySet;
use crate::memberships::{self, Resolution, TenantAccess};
use crate::tokens::{self, opaque, opaque_hash, Grant, Identity, IssuedToken};
use crate::users::User;

/// Who issues, for whom: the same for every token of one exchange.
#[derive(Clone, Copy)]
pub(super) struct Issuing<'a> {
    pub(super) keys: &'a KeySet,
    pub(super) config: &'a Config,
    pub(super) origin: &'a Origin,
    pub(super) client: &'a Client,
}

/// What the user is granted.
#[derive(Clone, Copy)]
pub(super) struct UserGrant<'a> {
    pub(super) user: &'a User,
    pub(super) access: &'a TenantAccess,
    pub(super) scope: &'a str,
    pub(super) lineage: Lineage<'a>,
    pub(super) grant_type: crate::clients::GrantType,
}

/// A grant row presented for redemption.
pub(super) struct Presented<'a> {
    pub(super) tenant_id: &'a str,
    pub(super) family_id: &'a str,
    /// Already used (by its row).
    pub(super) used: bool,
    /// `token.code_replay` or `token.refresh_reuse`: what a second presentation is.
    pub(super) replay: &'static str,
}

/// Redeems a grant once: `claim` marks it used (false if another request did first).
/// A second presentation revokes the family; that revocation must be committed, so it
/// is the inner `Err` (the caller's transaction commits, then the request is refused).
pub(super) fn redeem_once(
    tx: &mut DbConnection,
    origin: &Origin,
    presented: &Presented<'_>,
    claim: impl FnOnce(&mut DbConnection) -> diesel::QueryResult<bool>,
) -> Result<Result<(), OAuthError>, OAuthError> {
    if presented.used || !claim(tx)? {
        revoke_family(
            tx,
            origin,
            presented.tenant_id,
            presented.family_id,
            presented.replay,
        )?;
        return Ok(Err(OAuthError::InvalidGrant));
    }
    Ok(Ok(()))
}

/// Revokes a whole family after an attack was detected (a replayed code, a reused
/// refresh token), recorded in every tenant whose tokens it held.
fn revoke_family(
    tx: &mut DbConnection,
    origin: &Origin,
    tenant_id: &str,
    family_id: &str,
    action: &str,
) -> Result<(), Error> {
    tokens::revoke_family(
        tx,
        origin,
        family_id,
        None,
        &tokens::FamilyRevocation {
            home: Some(tenant_id),
            action,
            reason: action,
            outcome: Outcome::Denied,
        },
    )?;
    Ok(())
}

/// The fresh membership check of every exchange: the user is active and still a member
/// of the tenant (which `hint` names), within the client's binding.
pub(super) fn fresh_access(
    tx: &mut DbConnection,
    user: &User,
    client: &Client,
    hint: &str,
) -> Result<TenantAccess, OAuthError> {
    if user.status != "active" {
        return Err(OAuthError::InvalidGrant);
    }
    match memberships::resolve_tenant(tx, &user.id, client.tenant_id.as_deref(), Some(hint)) {
        Ok(Resolution::Tenant(access)) => Ok(access),
        Ok(Resolution::Pick(_)) | Err(Error::Forbidden) => Err(OAuthError::InvalidGrant),
        Err(e) => Err(e.into()),
    }
}

/// What a grant carries from its login into every token issued from it.
#[derive(Clone, Copy)]
pub(super) struct Lineage<'a> {
    pub(super) auth_time: chrono::NaiveDateTime,
    pub(super) family_id: &'a str,
    pub(super) session_hash: Option<&'a str>,
    /// The authorization request's nonce (the code exchange's ID token only).
    pub(super) nonce: Option<&'a str>,
    /// How the session authenticated (RFC 8176), carried into every token.
    pub(super) amr: &'a [&'a str],
}

/// Issues the access token, the ID token (with `openid`) and a refresh token (for
/// clients with that grant) of one family, all recorded and audited in `tx`.
pub(super) fn issue_user_tokens(
    tx: &mut DbConnection,
    issuing: &Issuing<'_>,
    grant: &UserGrant<'_>,
) -> Result<TokenResponse, OAuthError> {
    let Issuing {
        keys,
        config,
        origin,
        client,
    } = *issuing;
    let UserGrant {
        user,
        access,
        scope,
        lineage,
        grant_type,
    } = *grant;
    let Lineage {
        auth_time,
        family_id,
        session_hash,
        nonce,
        amr,
    } = lineage;
    let issuer = issuer(config);
    let roles = access.role_names();
    let grant = Grant {
        tenant: &access.tenant,
        subject: &user.id,
        client_id: &client.id,
        scope,
        roles: &roles,
        family_id: Some(family_id),
        amr,
        grant_type,
    };
    let issued = tokens::issue_access_token(tx, keys, &issuer, origin, &grant)?;
    let id_token = if super::scope::contains(scope, "openid") {
        Some(tokens::issue_id_token(
            tx,
            keys,
            &issuer,
            origin,
            &grant,
            &Identity {
                email: &user.email,
                nonce,
                auth_time,
            },
        )?)
    } else {
        None
    };
    let refresh_token = if client.has_grant(GrantType::RefreshToken) {
        let token = opaque();
        let now = db::now();
        let expires_at = now
            + chrono::Duration::from_std(config.refresh_token_ttl)
                .unwrap_or(chrono::Duration::hours(8));
        let jti = uuid::Uuid::new_v4().to_string();
        store::insert_refresh(
            tx,
            &RefreshToken {
                tenant_id: access.tenant.id.clone(),
                token_hash: opaque_hash(&token),
                family_id: family_id.to_owned(),
                jti: jti.clone(),
                user_id: user.id.clone(),
                client_id: client.id.clone(),
                scope: scope.to_owned(),
                auth_time,
                created_at: now,
                expires_at,
                used_at: None,
                session_hash: session_hash.map(str::to_owned),
                amr: amr.join(" "),
            },
        )?;
        tokens::record_issued(
            tx,
            origin,
            IssuedToken {
                tenant_id: access.tenant.id.clone(),
                jti,
                subject: user.id.clone(),
                client_id: client.id.clone(),
                token_type: "refresh_token".to_owned(),
                scope: scope.to_owned(),
                kid: None,
                issued_at: now,
                expires_at,
                revoked_at: None,
                revoked_reason: None,
                family_id: Some(family_id.to_owned()),
                amr: tokens::stored_amr(amr),
                grant_type: Some(grant_type.as_str().to_owned()),
                parent_jti: None,
                actor: None,
            },
        )?;
        Some(token)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        scope: scope.to_owned(),
        id_token,
        refresh_token,
    })
}
