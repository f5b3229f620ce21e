//! Reading the audit log: filtered, newest-first pages with opaque keyset cursors, the
//! item shape of the API, and oldest-first batches for exports.

use super::store::{self, AuditRow};
use tessera_proto::api::Party;

use crate::db::{self, DbConnection};
use crate::error::Result;

pub use super::{AuditFilter, Cursor, ExportPosition};

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

/// The next batch of an export, in (tenant, seq) order.
pub fn export_batch(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    after: Option<&ExportPosition>,
    limit: i64,
) -> Result<Vec<AuditRow>> {
    Ok(store::export_batch(conn, filter, after, limit)?)
}
