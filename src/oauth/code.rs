//! The authorization code grant (RFC 6749 section 4.1 with RFC 7636 PKCE, S256 only)
//! and rotating refresh tokens. A code is single-use: presenting it again revokes every
//! token issued from it. A refresh token is single-use too: presenting a used one
//! revokes its whole family. Every exchange re-checks the membership (invariant 1).

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::store::{self, AuthCode, RefreshToken};
use super::{issuer, OAuthError, TokenResponse};
use crate::audit::{self, Event, Origin, Outcome};
use crate::clients::{Client, GrantType};
use crate::config::Config;
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::keys::KeySet;
use crate::memberships::{self, Resolution, TenantAccess};
use crate::tenants;
use crate::tokens::{self, opaque, opaque_hash, Grant, Identity, IssuedToken};
use crate::users::{self, User};

/// What a code remembers of its authorization request.
#[derive(Debug, Clone, Copy)]
pub struct CodeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub nonce: Option<&'a str>,
    pub code_challenge: &'a str,
    /// The login session the code is issued under (`sessions.id_hash`): signing out
    /// ends every refresh token issued from it.
    pub session_hash: Option<&'a str>,
}

/// Issues a code for `user` in the tenant `access` names; audited in that tenant's chain.
pub fn issue_code(
    tx: &mut DbConnection,
    origin: &Origin,
    request: &CodeRequest<'_>,
    user_id: &str,
    auth_time: chrono::NaiveDateTime,
    access: &TenantAccess,
    ttl: std::time::Duration,
) -> Result<String, Error> {
    let code = opaque();
    let now = db::now();
    store::insert_code(
        tx,
        &AuthCode {
            tenant_id: access.tenant.id.clone(),
            code_hash: opaque_hash(&code),
            client_id: request.client_id.to_owned(),
            user_id: user_id.to_owned(),
            redirect_uri: request.redirect_uri.to_owned(),
            scope: request.scope.to_owned(),
            nonce: request.nonce.map(str::to_owned),
            code_challenge: request.code_challenge.to_owned(),
            auth_time,
            family_id: uuid::Uuid::new_v4().to_string(),
            created_at: now,
            expires_at: now
                + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(60)),
            used_at: None,
            session_hash: request.session_hash.map(str::to_owned),
        },
    )?;
    audit::record(
        tx,
        origin,
        Event::success(
            &access.tenant.id,
            "authorization.code_issued",
            "user",
            user_id,
        )
        .with_details(serde_json::json!({ "client_id": request.client_id })),
    )?;
    Ok(code)
}

/// RFC 7636 section 4.6: `BASE64URL(SHA256(verifier)) == challenge`, with the verifier
/// 43–128 unreserved characters.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
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

/// What an exchange inside its transaction decided.
enum Exchange {
    Issued(Box<TokenResponse>),
    /// A replay or reuse: the family was revoked and that must be committed.
    Revoked,
}

/// The fresh membership check of every exchange: the user is active and still a member
/// of the tenant (which `hint` names), within the client's binding.
fn fresh_access(
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
struct Lineage<'a> {
    auth_time: chrono::NaiveDateTime,
    family_id: &'a str,
    session_hash: Option<&'a str>,
    /// The authorization request's nonce (the code exchange's ID token only).
    nonce: Option<&'a str>,
}

/// Issues the access token, the ID token (with `openid`) and a refresh token (for
/// clients with that grant) of one family, all recorded and audited in `tx`.
#[allow(clippy::too_many_arguments)]
fn issue_user_tokens(
    tx: &mut DbConnection,
    keys: &KeySet,
    config: &Config,
    origin: &Origin,
    client: &Client,
    user: &User,
    access: &TenantAccess,
    scope: &str,
    lineage: &Lineage<'_>,
) -> Result<TokenResponse, OAuthError> {
    let Lineage {
        auth_time,
        family_id,
        session_hash,
        nonce,
    } = *lineage;
    let issuer = issuer(config);
    let roles = access.role_names();
    let grant = Grant {
        tenant: &access.tenant,
        subject: &user.id,
        client_id: &client.id,
        scope,
        roles: &roles,
        family_id: Some(family_id),
    };
    let issued = tokens::issue_access_token(tx, keys, &issuer, origin, &grant)?;
    let id_token = if scope.split(' ').any(|s| s == "openid") {
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

/// Parameters of an authorization-code token request.
#[derive(Debug, Clone, Copy)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
}

/// `grant_type=authorization_code`.
pub fn exchange_code(
    conn: &mut DbConnection,
    keys: &KeySet,
    config: &Config,
    origin: &Origin,
    client: &Client,
    request: &CodeExchange<'_>,
) -> Result<TokenResponse, OAuthError> {
    if !client.has_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let outcome = db::write_tx(conn, |tx| {
        let Some(code) = store::code(tx, &opaque_hash(request.code))? else {
            return Err(OAuthError::InvalidGrant);
        };
        if code.client_id != client.id {
            return Err(OAuthError::InvalidGrant);
        }
        if code.used_at.is_some() || !store::use_code(tx, &code, db::now())? {
            revoke_family(
                tx,
                origin,
                &code.tenant_id,
                &code.family_id,
                "token.code_replay",
            )?;
            return Ok(Exchange::Revoked);
        }
        let verifier_ok = request
            .code_verifier
            .is_some_and(|v| pkce_matches(v, &code.code_challenge));
        if code.expires_at <= db::now()
            || request.redirect_uri != Some(code.redirect_uri.as_str())
            || !verifier_ok
        {
            return Err(OAuthError::InvalidGrant);
        }
        let user = users::find(tx, &code.user_id)?.ok_or(Error::NotFound)?;
        let tenant = tenants::find_by_id(tx, &code.tenant_id)?.ok_or(Error::NotFound)?;
        let access = fresh_access(tx, &user, client, &tenant.slug)?;
        let response = issue_user_tokens(
            tx,
            keys,
            config,
            origin,
            client,
            &user,
            &access,
            &code.scope,
            &Lineage {
                auth_time: code.auth_time,
                family_id: &code.family_id,
                session_hash: code.session_hash.as_deref(),
                nonce: code.nonce.as_deref(),
            },
        )?;
        audit::record(
            tx,
            origin,
            Event::success(
                &access.tenant.id,
                "authorization.code_exchanged",
                "user",
                &user.id,
            )
            .with_details(serde_json::json!({ "client_id": client.id })),
        )?;
        Ok(Exchange::Issued(Box::new(response)))
    })?;
    match outcome {
        Exchange::Issued(response) => Ok(*response),
        Exchange::Revoked => Err(OAuthError::InvalidGrant),
    }
}

/// Parameters of a refresh-token request.
#[derive(Debug, Clone, Copy)]
pub struct Refresh<'a> {
    pub refresh_token: &'a str,
    pub scope: Option<&'a str>,
    /// A tenant slug to switch to (after a fresh membership check).
    pub tenant: Option<&'a str>,
}

/// `grant_type=refresh_token`: rotates the token; a used one revokes the family.
pub fn refresh(
    conn: &mut DbConnection,
    keys: &KeySet,
    config: &Config,
    origin: &Origin,
    client: &Client,
    request: &Refresh<'_>,
) -> Result<TokenResponse, OAuthError> {
    if !client.has_grant(GrantType::RefreshToken) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let outcome = db::write_tx(conn, |tx| {
        let Some(row) = store::refresh(tx, &opaque_hash(request.refresh_token))? else {
            return Err(OAuthError::InvalidGrant);
        };
        if row.client_id != client.id {
            return Err(OAuthError::InvalidGrant);
        }
        // A used token presented again is an attack, revoked or not: the family goes.
        if row.used_at.is_some() || !store::use_refresh(tx, &row, db::now())? {
            revoke_family(
                tx,
                origin,
                &row.tenant_id,
                &row.family_id,
                "token.refresh_reuse",
            )?;
            return Ok(Exchange::Revoked);
        }
        // The ledger is the one record of revocation (by jti, by family, at sign-out);
        // refusing rolls back the use just marked.
        if row.expires_at <= db::now() || tokens::is_revoked(tx, &row.tenant_id, &row.jti)? {
            return Err(OAuthError::InvalidGrant);
        }
        let scope = match request.scope {
            None => row.scope.clone(),
            Some(requested) => {
                let original: Vec<&str> = row.scope.split(' ').collect();
                let mut narrowed: Vec<&str> =
                    requested.split(' ').filter(|s| !s.is_empty()).collect();
                if narrowed.iter().any(|s| !original.contains(s)) {
                    return Err(OAuthError::InvalidScope);
                }
                narrowed.sort_unstable();
                narrowed.dedup();
                narrowed.join(" ")
            }
        };
        let user = users::find(tx, &row.user_id)?.ok_or(Error::NotFound)?;
        let current = tenants::find_by_id(tx, &row.tenant_id)?.ok_or(Error::NotFound)?;
        let access = fresh_access(tx, &user, client, request.tenant.unwrap_or(&current.slug))?;
        let response = issue_user_tokens(
            tx,
            keys,
            config,
            origin,
            client,
            &user,
            &access,
            &scope,
            &Lineage {
                auth_time: row.auth_time,
                family_id: &row.family_id,
                session_hash: row.session_hash.as_deref(),
                nonce: None,
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
                Event::success(&access.tenant.id, "tenant.switched", "user", &user.id)
                    .with_details(
                        serde_json::json!({ "client_id": client.id, "from_tenant": current.slug }),
                    ),
            )?;
        }
        Ok(Exchange::Issued(Box::new(response)))
    })?;
    match outcome {
        Exchange::Issued(response) => Ok(*response),
        Exchange::Revoked => Err(OAuthError::InvalidGrant),
    }
}

/// Revokes the family of a refresh token presented to `/revoke` by its own client.
/// Returns false when the token belongs to another client (the refusal is audited in
/// the asking client's chain); an unknown token changes nothing and returns true.
pub fn revoke_refresh(
    tx: &mut DbConnection,
    origin: &Origin,
    client: &Client,
    token: &str,
) -> Result<bool, Error> {
    let Some(row) = store::refresh(tx, &opaque_hash(token))? else {
        return Ok(true);
    };
    if row.client_id != client.id {
        tokens::record_revoke_denied(tx, origin, client.home_tenant_id(), &row.jti)?;
        return Ok(false);
    }
    tokens::revoke_family(
        tx,
        origin,
        &row.family_id,
        None,
        &tokens::FamilyRevocation {
            home: Some(&row.tenant_id),
            action: "token.revoked",
            reason: "client",
            outcome: Outcome::Success,
        },
    )?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rfc7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(challenge, challenge), "plain is not accepted");
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(&format!("{verifier}x"), challenge));
    }
}
