//! Token minting and the issued-token ledger. Every token is recorded (metadata only,
//! never its text) in the same transaction as its `token.issued` audit event; a token
//! is handed out only after that transaction commits. Access tokens follow RFC 9068
//! (`typ: at+jwt`) and always carry the tenant they were issued for.

mod ledger;
pub mod store;
mod verify;

use chrono::{NaiveDateTime, Utc};

use crate::audit::{self, Origin};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::tenants::Tenant;
use ledger::issued_event;

pub use ledger::{
    commit, commit_issued, decode_cursor, find_by_jti, is_revoked, list, page, record_batch,
    record_issued, record_revoke_denied, revoke, revoke_by_admin, revoke_family, FamilyRevocation,
    Pending, Writer,
};
pub use store::{hold_live, IssuedToken, TokenFilter};
pub use verify::{verify_access_token, VerifiedAccess};

pub use tessera_proto::{AccessClaims, Audience, IdClaims, ACCESS_TOKEN_TYP, ID_TOKEN_TYP};

/// A new opaque secret (client secrets, codes, refresh tokens, session and request
/// handles): 256 random bits, base64url without padding (43 characters).
pub fn opaque() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of an opaque secret: lower-case hex SHA-256. A fast hash is right
/// for 256-bit random values; a slow one would add nothing but latency.
pub fn opaque_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// Serializes and signs access-token claims with the active key.
pub fn mint_access_token(keys: &KeySet, claims: &AccessClaims) -> Result<(String, String)> {
    let payload = serde_json::to_vec(claims).map_err(Error::internal)?;
    let (token, kid) = keys.sign(ACCESS_TOKEN_TYP, &payload)?;
    Ok((token, kid.to_owned()))
}

/// Who a token is for and what it allows; the tenant is already resolved (from a
/// membership or a client's binding), never taken from the request.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub tenant: &'a Tenant,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub roles: &'a [&'a str],
    /// The refresh family the token belongs to (browser grants only).
    pub family_id: Option<&'a str>,
    /// How the user authenticated (RFC 8176 values); empty for a client's own token.
    pub amr: &'a [&'a str],
    /// The grant the token is issued by, for the ledger.
    pub grant_type: crate::clients::grant::GrantType,
}

/// The `acr` of an authentication: `mfa` once it used a second factor, `pwd` for a
/// password alone; none for a client's own token.
pub fn acr_of(amr: &[&str]) -> Option<String> {
    if amr.is_empty() {
        None
    } else if amr.iter().any(|m| *m != "pwd") {
        Some("mfa".to_owned())
    } else {
        Some("pwd".to_owned())
    }
}

/// How the ledger keeps an `amr`: space-separated, `None` for a client's own token.
pub fn stored_amr(amr: &[&str]) -> Option<String> {
    (!amr.is_empty()).then(|| amr.join(" "))
}

/// The issuer-side settings a token needs.
#[derive(Debug, Clone, Copy)]
pub struct Issuer<'a> {
    pub iss: &'a str,
    pub audience: &'a str,
    pub access_ttl: std::time::Duration,
    pub id_ttl: std::time::Duration,
    pub refresh_ttl: std::time::Duration,
}

#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub jti: String,
    pub expires_in: i64,
}

/// Mints an access token, records it in the ledger and audits `token.issued` in the
/// token's tenant chain, all in `tx`.
pub fn issue_access_token(
    tx: &mut DbConnection,
    keys: &KeySet,
    issuer: &Issuer<'_>,
    origin: &Origin,
    grant: &Grant<'_>,
) -> Result<Issued> {
    let (issued, row) = mint_for_ledger(keys, issuer, grant, None)?;
    record_issued(tx, origin, row)?;
    Ok(issued)
}

/// What a token issued by token exchange (RFC 8693) carries beyond its grant.
#[derive(Debug, Clone)]
pub struct Delegation<'a> {
    /// The new `act` claim: the exchanging client, the subject token's actors nested.
    pub act: &'a tessera_proto::Actor,
    /// The subject token's `jti`: revoking it revokes the new token.
    pub parent_jti: &'a str,
    /// The audience asked for, one the client's registration allows.
    pub audience: &'a str,
    /// The subject token's `exp`: a delegation never outlives what it delegates.
    pub not_after: i64,
}

/// Mints an exchanged access token, records it in the ledger (with its parent and
/// actor) and audits `token.issued`, all in `tx`.
pub fn issue_exchanged_token(
    tx: &mut DbConnection,
    keys: &KeySet,
    issuer: &Issuer<'_>,
    origin: &Origin,
    grant: &Grant<'_>,
    delegation: &Delegation<'_>,
) -> Result<Issued> {
    let (issued, row) = mint_for_ledger(keys, issuer, grant, Some(delegation))?;
    record_issued(tx, origin, row)?;
    Ok(issued)
}

/// A minted access token not yet recorded: the caller must record `record` (ledger row
/// and audit event, e.g. with [`record_batch`]) and commit before handing out the token.
pub struct Unrecorded {
    pub issued: Issued,
    pub record: (IssuedToken, audit::Entry),
}

/// Mints an access token and prepares its ledger row and `token.issued` event, without
/// touching the database (the group-commit path records many at once).
pub fn mint_unrecorded(
    keys: &KeySet,
    issuer: &Issuer<'_>,
    origin: &Origin,
    grant: &Grant<'_>,
) -> Result<Unrecorded> {
    let (issued, row) = mint_for_ledger(keys, issuer, grant, None)?;
    let entry = audit::Entry::new(origin, issued_event(&row));
    Ok(Unrecorded {
        issued,
        record: (row, entry),
    })
}

fn mint_for_ledger(
    keys: &KeySet,
    issuer: &Issuer<'_>,
    grant: &Grant<'_>,
    delegation: Option<&Delegation<'_>>,
) -> Result<(Issued, IssuedToken)> {
    let now = Utc::now().timestamp();
    let mut ttl = i64::try_from(issuer.access_ttl.as_secs()).unwrap_or(300);
    if let Some(d) = delegation {
        ttl = ttl.min(d.not_after - now).max(1);
    }
    let jti = uuid::Uuid::new_v4().to_string();
    let claims = AccessClaims {
        iss: issuer.iss.to_owned(),
        sub: grant.subject.to_owned(),
        aud: Audience::one(delegation.map_or(issuer.audience, |d| d.audience)),
        exp: now + ttl,
        iat: now,
        nbf: Some(now),
        jti: jti.clone(),
        client_id: grant.client_id.to_owned(),
        scope: grant.scope.to_owned(),
        tenant_id: grant.tenant.id.clone(),
        tenant: grant.tenant.slug.clone(),
        roles: grant.roles.iter().map(|r| (*r).to_owned()).collect(),
        amr: grant.amr.iter().map(|m| (*m).to_owned()).collect(),
        acr: acr_of(grant.amr),
        act: delegation.map(|d| d.act.clone()),
    };
    let (token, kid) = mint_access_token(keys, &claims)?;
    let row = IssuedToken {
        tenant_id: grant.tenant.id.clone(),
        jti: jti.clone(),
        subject: grant.subject.to_owned(),
        client_id: grant.client_id.to_owned(),
        token_type: "access_token".to_owned(),
        scope: grant.scope.to_owned(),
        kid: Some(kid),
        issued_at: timestamp(now),
        expires_at: timestamp(now + ttl),
        revoked_at: None,
        revoked_reason: None,
        family_id: grant.family_id.map(str::to_owned),
        amr: stored_amr(grant.amr),
        grant_type: Some(grant.grant_type.as_str().to_owned()),
        parent_jti: delegation.map(|d| d.parent_jti.to_owned()),
        actor: delegation.map(|d| d.act.sub.clone()),
    };
    Ok((
        Issued {
            token,
            jti,
            expires_in: ttl,
        },
        row,
    ))
}

/// Who logged in, for the ID token.
#[derive(Debug, Clone, Copy)]
pub struct Identity<'a> {
    pub email: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: NaiveDateTime,
}

/// Mints an ID token for `grant` (whose subject is the user), records it in the ledger
/// and audits it, in `tx`.
pub fn issue_id_token(
    tx: &mut DbConnection,
    keys: &KeySet,
    issuer: &Issuer<'_>,
    origin: &Origin,
    grant: &Grant<'_>,
    identity: &Identity<'_>,
) -> Result<String> {
    let Identity {
        email,
        nonce,
        auth_time,
    } = *identity;
    let now = Utc::now().timestamp();
    let ttl = i64::try_from(issuer.id_ttl.as_secs()).unwrap_or(300);
    let jti = uuid::Uuid::new_v4().to_string();
    let claims = IdClaims {
        iss: issuer.iss.to_owned(),
        sub: grant.subject.to_owned(),
        aud: Audience::one(grant.client_id),
        azp: grant.client_id.to_owned(),
        exp: now + ttl,
        iat: now,
        auth_time: auth_time.and_utc().timestamp(),
        nonce: nonce.map(str::to_owned),
        jti: jti.clone(),
        email: email.to_owned(),
        tenant_id: grant.tenant.id.clone(),
        tenant: grant.tenant.slug.clone(),
        roles: grant.roles.iter().map(|r| (*r).to_owned()).collect(),
        amr: grant.amr.iter().map(|m| (*m).to_owned()).collect(),
        acr: acr_of(grant.amr),
    };
    let payload = serde_json::to_vec(&claims).map_err(Error::internal)?;
    let (token, kid) = keys.sign(ID_TOKEN_TYP, &payload)?;
    let kid = kid.to_owned();
    record_issued(
        tx,
        origin,
        IssuedToken {
            tenant_id: grant.tenant.id.clone(),
            jti,
            subject: grant.subject.to_owned(),
            client_id: grant.client_id.to_owned(),
            token_type: "id_token".to_owned(),
            scope: grant.scope.to_owned(),
            kid: Some(kid),
            issued_at: timestamp(now),
            expires_at: timestamp(now + ttl),
            revoked_at: None,
            revoked_reason: None,
            family_id: grant.family_id.map(str::to_owned),
            amr: stored_amr(grant.amr),
            grant_type: Some(grant.grant_type.as_str().to_owned()),
            parent_jti: None,
            actor: None,
        },
    )?;
    Ok(token)
}

pub fn timestamp(secs: i64) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.naive_utc())
        .unwrap_or_default()
}
