//! Full verification of an access token presented to this service: signature, type,
//! issuer, lifetime, and a ledger row that is not revoked.

use chrono::Utc;
use tessera_proto::{AccessClaims, ACCESS_TOKEN_TYP};

use super::store;
use crate::db::DbConnection;
use crate::error::Result;
use crate::keys::KeySet;

/// What an access token says once its signature, type, issuer, lifetime and ledger row
/// have all been checked.
#[derive(Debug, Clone)]
pub struct VerifiedAccess {
    pub claims: AccessClaims,
}

/// Verifies an access token completely: signature by a published key, `typ`, `iss`,
/// `exp`/`nbf`, and a ledger row that is not revoked. `None` for anything else.
pub fn verify_access_token(
    conn: &mut DbConnection,
    keys: &KeySet,
    iss: &str,
    token: &str,
) -> Result<Option<VerifiedAccess>> {
    let Some(claims) = keys
        .verify_payload(token, ACCESS_TOKEN_TYP)
        .and_then(|payload| AccessClaims::from_json(&payload).ok())
    else {
        return Ok(None);
    };
    let now = Utc::now().timestamp();
    let valid_time = claims.exp > now && claims.nbf.is_none_or(|nbf| nbf <= now);
    if claims.iss != iss || !valid_time {
        return Ok(None);
    }
    match store::find(conn, &claims.tenant_id, &claims.jti)? {
        Some(row) if row.revoked_at.is_none() && row.token_type == "access_token" => {
            Ok(Some(VerifiedAccess { claims }))
        }
        _ => Ok(None),
    }
}
