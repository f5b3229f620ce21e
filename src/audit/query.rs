//! Reading the audit log: filtered, newest-first pages with opaque keyset cursors, the
//! item shape of the API, and oldest-first batches for exports.

use base64::Engine;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::store::{self, AuditRow};
use tessera_proto::api::Party;

use crate::db::{self, DbConnection};
use crate::error::{Error, Result};

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

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Anything that is not a cursor this service produced is a 400.
    pub fn decode(text: &str) -> Result<Self> {
        const INVALID: Error = Error::Invalid("cursor");
        if text.len() > 512 {
            return Err(INVALID);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| INVALID)?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| INVALID)?;
        if uuid::Uuid::parse_str(&cursor.tenant_id).is_err() {
            return Err(INVALID);
        }
        Ok(cursor)
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// `None`: every tenant (platform readers only; the caller checks).
    pub tenant_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    pub limit: i64,
    pub cursor: Option<Cursor>,
}

/// One page, newest first, and the cursor of the next one.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
) -> Result<(Vec<AuditRow>, Option<String>)> {
    let limit = filter.limit.clamp(1, 1000);
    let mut rows = store::list(conn, filter, limit + 1)?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| {
            Cursor {
                received_at: r.received_at,
                tenant_id: r.tenant_id.clone(),
                seq: r.seq,
            }
            .encode()
        })
    } else {
        None
    };
    Ok((rows, next))
}

/// The API and export shape of an event: the ingestion fields plus `id`, `seq`,
/// `tenant_id`, `received_at`, `source` and `hash` (and `prev_hash`, for offline
/// verification of an export). The wire contract's type.
pub use tessera_proto::api::AuditItem;

impl From<AuditRow> for AuditItem {
    fn from(r: AuditRow) -> Self {
        let resource = match (&r.resource_type, &r.resource_id) {
            (None, None) => None,
            (kind, id) => Some(Party {
                kind: kind.clone(),
                id: id.clone(),
            }),
        };
        Self {
            actor: Party {
                kind: Some(r.actor_type),
                id: r.actor_id,
            },
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            occurred_at: db::format_utc(&r.occurred_at),
            received_at: db::format_utc(&r.received_at),
            id: r.id,
            tenant_id: r.tenant_id,
            seq: r.seq,
            source: r.source,
            action: r.action,
            outcome: r.outcome,
            resource,
            request_id: r.request_id,
            ip: r.ip,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// Export position: after this (tenant, seq), oldest first per tenant.
#[derive(Debug, Clone, Default)]
pub struct ExportPosition {
    pub tenant_id: String,
    pub seq: i64,
}

/// The next batch of an export, in (tenant, seq) order.
pub fn export_batch(
    conn: &mut DbConnection,
    tenant_id: Option<&str>,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    after: Option<&ExportPosition>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    Ok(store::export_batch(
        conn, tenant_id, since, until, after, limit,
    )?)
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
