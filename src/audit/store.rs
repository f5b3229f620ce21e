//! Queries on `audit_events`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::DbConnection;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub tenant_id: String,
    pub seq: i64,
    pub id: String,
    pub occurred_at: NaiveDateTime,
    pub received_at: NaiveDateTime,
    pub source: String,
    pub actor_type: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    pub outcome: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The sequence number and hash of a tenant's newest event.
pub fn head(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<Option<(i64, String)>> {
    audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id))
        .order(audit_events::seq.desc())
        .select((audit_events::seq, audit_events::hash))
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut DbConnection, row: &AuditRow) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

/// Up to `limit` events of a tenant with `seq > after`, in sequence order.
pub fn page_after(
    conn: &mut DbConnection,
    tenant_id: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id))
        .filter(audit_events::seq.gt(after))
        .order(audit_events::seq.asc())
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)
}
