//! Signed checkpoints of a tenant's chain head (DESIGN invariant 5). Whoever can write
//! the database could recompute a whole chain; a checkpoint kept elsewhere, signed with
//! the service's key and verifiable from the JWKS, pins the hash at a sequence number,
//! so a rewritten history no longer matches it.

use serde::{Deserialize, Serialize};

use super::{store, verify, GENESIS_HASH};
use crate::db::DbConnection;
use crate::error::{Error, Result};
use crate::keys::KeySet;
use crate::tenants::{self, Tenant};

pub const TYP: &str = "checkpoint+jwt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub iss: String,
    pub tenant_id: String,
    pub tenant: String,
    pub seq: i64,
    pub hash: String,
    pub iat: i64,
}

/// Signs the current head of `tenant`'s chain.
pub fn issue(
    conn: &mut DbConnection,
    keys: &KeySet,
    iss: &str,
    tenant: &Tenant,
) -> Result<(String, Checkpoint)> {
    let (seq, hash) =
        store::head(conn, &tenant.id)?.unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
    sign_at(keys, iss, tenant, seq, hash)
}

/// Signs a checkpoint of `tenant`'s chain at `seq`, whose event has `hash` (an audit
/// stream pins what it has just delivered).
pub fn sign_at(
    keys: &KeySet,
    iss: &str,
    tenant: &Tenant,
    seq: i64,
    hash: String,
) -> Result<(String, Checkpoint)> {
    let checkpoint = Checkpoint {
        iss: iss.to_owned(),
        tenant_id: tenant.id.clone(),
        tenant: tenant.slug.clone(),
        seq,
        hash,
        iat: chrono::Utc::now().timestamp(),
    };
    let payload = serde_json::to_vec(&checkpoint).map_err(Error::internal)?;
    let (jws, _) = keys.sign(TYP, &payload)?;
    Ok((jws, checkpoint))
}

/// The outcome of checking the database against a checkpoint.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    pub checkpoint: Checkpoint,
    pub matches: bool,
    pub problem: Option<&'static str>,
    pub head_seq: i64,
}

/// Reads a checkpoint as saved: the JWS itself, or the JSON the API returned.
pub fn read(text: &str) -> Result<String> {
    let text = text.trim();
    if text.starts_with('{') {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|_| Error::Invalid("checkpoint file"))?;
        return value
            .get("checkpoint")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or(Error::Invalid("checkpoint file"));
    }
    Ok(text.to_owned())
}

/// Verifies the checkpoint's signature with the published keys, then the chain, then
/// that the event at the checkpoint's sequence number still has the checkpoint's hash.
pub fn check(conn: &mut DbConnection, keys: &KeySet, jws: &str) -> Result<CheckpointReport> {
    let payload = keys.verify_payload(jws, TYP).ok_or(Error::Invalid(
        "checkpoint: signature does not verify with the published keys",
    ))?;
    let checkpoint: Checkpoint = serde_json::from_slice(&payload)
        .map_err(|_| Error::Invalid("checkpoint: unexpected content"))?;
    tenants::find_by_id(conn, &checkpoint.tenant_id)?.ok_or(Error::NotFound)?;
    // From genesis: the history before the last verified position is what a checkpoint
    // vouches for.
    let chain = verify(conn, &checkpoint.tenant_id, super::Mode::Full)?;
    // What the checkpoint itself shows first; then whether the chain verifies.
    let at_checkpoint = match checkpoint.seq {
        0 => (checkpoint.hash != GENESIS_HASH)
            .then_some("the checkpoint's empty-chain hash is wrong"),
        seq => match store::at(conn, &checkpoint.tenant_id, seq)? {
            None => Some("the chain is shorter than at the checkpoint (events were removed)"),
            Some(row) if row.hash != checkpoint.hash => {
                Some("the history up to the checkpoint was rewritten")
            }
            Some(_) => None,
        },
    };
    let problem = at_checkpoint
        .or_else(|| (!chain.is_intact()).then_some("the chain itself does not verify"));
    Ok(CheckpointReport {
        matches: problem.is_none(),
        problem,
        head_seq: chain.head_seq,
        checkpoint,
    })
}
