//! The tamper-evident audit log (DESIGN invariants 4 and 5): every sensitive operation
//! records its event through [`record`] inside the operation's own transaction, so an
//! operation whose audit write fails does not happen. Events form one hash chain per
//! tenant with a gap-free sequence number; [`verify`] finds the first row that was
//! edited, deleted or reordered.
//!
//! The chain itself (canonical encoding, hashing, linking, verification) is in
//! `chain.rs`; the event types in `event.rs`.

mod chain;
pub mod checkpoint;
pub mod checks;
mod event;
pub mod export;
pub mod ingest;
pub mod query;
pub mod store;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::db::{self, DbConnection};
use crate::error::Result;

pub use chain::{
    canonical, canonical_json, chain_hash, link, relink, verify, verify_report,
    verify_with_progress, Mode, Verification, GENESIS_HASH, REPLACED, TRUNCATED,
};
pub use event::{ActorType, Appended, Entry, Event, Origin, Outcome};
pub use store::AuditRow;

/// Appends one event to its tenant's chain. Must run inside a write transaction
/// ([`db::write_tx`]) together with the change it records.
pub fn record(tx: &mut DbConnection, origin: &Origin, event: Event) -> Result<Appended> {
    let mut appended = append(tx, vec![Entry::new(origin, event)])?;
    crate::metrics::service_events_written(1);
    appended
        .pop()
        .ok_or_else(|| crate::error::Error::internal("no event appended"))
}

/// Appends events, in order, to their tenants' chains, one tenant at a time in a fixed
/// order (so concurrent batches cannot deadlock): the chain is locked (which also scopes
/// the transaction to the tenant), its head read once, the links computed in memory, and
/// the rows written with one bulk insert. Returns where each event landed, in input
/// order.
pub fn append(tx: &mut DbConnection, entries: Vec<Entry>) -> Result<Vec<Appended>> {
    let total = entries.len();
    let mut landed: Vec<Option<Appended>> = vec![None; total];
    for (tenant, group) in db::by_tenant(entries, |e| &e.tenant_id) {
        let (positions, entries): (Vec<usize>, Vec<Entry>) = group.into_iter().unzip();
        let rows = link(&mut locked_head(tx, &tenant)?, entries);
        let refs: Vec<&AuditRow> = rows.iter().collect();
        store::insert_in_scope(tx, &refs)?;
        for (position, row) in positions.into_iter().zip(rows) {
            landed[position] = Some(Appended {
                id: row.id,
                seq: row.seq,
                hash: row.hash,
            });
        }
    }
    landed
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| crate::error::Error::internal("audit event not appended"))
}

/// Locks a tenant's chain for the rest of the transaction, scopes the transaction to
/// the tenant, and returns the chain's head (sequence number and hash).
pub fn locked_head(tx: &mut DbConnection, tenant_id: &str) -> Result<(i64, String)> {
    db::lock_audit_chain(tx, tenant_id)?;
    Ok(store::head_in_scope(tx, tenant_id)?.unwrap_or_else(|| (0, GENESIS_HASH.to_owned())))
}

// The inputs of the log's queries, shared by `query` (which pages and encodes) and
// `store` (which runs them), so that neither imports the other's types.

/// Where the next page starts: just after this event, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    #[serde(rename = "r")]
    pub received_at: NaiveDateTime,
    #[serde(rename = "t")]
    pub tenant_id: String,
    #[serde(rename = "s")]
    pub seq: i64,
}

impl crate::cursor::Position for Cursor {
    fn is_valid(&self) -> bool {
        uuid::Uuid::parse_str(&self.tenant_id).is_ok()
    }
}

impl Cursor {
    pub fn encode(&self) -> String {
        crate::cursor::encode(self)
    }

    /// Anything that is not a cursor this service produced is a 400.
    pub fn decode(text: &str) -> Result<Self> {
        crate::cursor::decode(text)
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// `None`: every tenant (platform readers only; the caller checks).
    pub tenant_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// Who wrote it: `tessera`, or the client id of an ingesting service.
    pub source: Option<String>,
    /// Any part of the resource's id.
    pub resource: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

/// Export position: after this (tenant, seq), oldest first per tenant.
#[derive(Debug, Clone, Default)]
pub struct ExportPosition {
    pub tenant_id: String,
    pub seq: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            received_at: db::now(),
            tenant_id: uuid::Uuid::new_v4().to_string(),
            seq: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for garbage in ["", "!!!", "eyJ4IjoxfQ", &"A".repeat(600)] {
            assert!(Cursor::decode(garbage).is_err(), "{garbage}");
        }
    }
}
