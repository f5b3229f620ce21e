//! The authorization code grant (RFC 6749 section 4.1 with RFC 7636 PKCE, S256 only)
//! A code is single-use: presenting it again revokes every token issued from it. The
//! exchange re-checks the membership (invariant 1); see `grant.rs` for what it shares
//! with the refresh grant (`refresh.rs`).

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::grant::{self, Issuing, Lineage, Presented, UserGrant};
use super::store::{self, AuthCode};
use super::{OAuthError, TokenResponse};
use crate::audit::{self, Event, Origin, Outcome};
use crate::clients::{Client, GrantType};
use crate::config::Config;
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::keys::KeySet;
use crate::memberships::TenantAccess;
use crate::tenants;
use crate::tokens::{self, opaque, opaque_hash};
use crate::users;

pub use super::refresh::{refresh_in, Refresh};

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
    /// How that session authenticated (RFC 8176, space-separated).
    pub amr: &'a str,
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
            amr: request.amr.to_owned(),
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
    db::write_tx(conn, |tx| {
        exchange_code_in(tx, keys, config, origin, client, request)
    })?
}

/// [`exchange_code`] inside a write transaction that is already open (the group-commit
/// writer's): `Err` rolls back; `Ok(Err(_))` is a refusal whose revocation and audit
/// event commit.
pub fn exchange_code_in(
    tx: &mut DbConnection,
    keys: &KeySet,
    config: &Config,
    origin: &Origin,
    client: &Client,
    request: &CodeExchange<'_>,
) -> Result<Result<TokenResponse, OAuthError>, OAuthError> {
    if !client.has_grant(GrantType::AuthorizationCode) {
        return Err(OAuthError::UnauthorizedClient);
    }
    let Some(code) = store::code(tx, &opaque_hash(request.code))? else {
        return Err(OAuthError::InvalidGrant);
    };
    if code.client_id != client.id {
        return Err(OAuthError::InvalidGrant);
    }
    let presented = Presented {
        tenant_id: &code.tenant_id,
        family_id: &code.family_id,
        used: code.used_at.is_some(),
        replay: "token.code_replay",
    };
    if let Err(refused) = grant::redeem_once(tx, origin, &presented, |tx| {
        store::use_code(tx, &code, db::now())
    })? {
        return Ok(Err(refused));
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
    let access = grant::fresh_access(tx, &user, client, &tenant.slug)?;
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
            scope: &code.scope,
            lineage: Lineage {
                auth_time: code.auth_time,
                family_id: &code.family_id,
                session_hash: code.session_hash.as_deref(),
                nonce: code.nonce.as_deref(),
                amr: &code.amr.split(' ').collect::<Vec<_>>(),
            },
            grant_type: crate::clients::GrantType::AuthorizationCode,
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
    Ok(Ok(response))
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
