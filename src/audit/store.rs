//! Queries on `audit_events`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::audit_events;
use crate::db::DbConnection;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
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

/// Multi-row inserts, in chunks that stay under both backends' bind-parameter limits.
pub fn insert_many(conn: &mut DbConnection, rows: &[AuditRow]) -> QueryResult<()> {
    for chunk in rows.chunks(1000) {
        crate::insert_batch!(conn, audit_events::table, chunk)?;
    }
    Ok(())
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

/// Newest first, keyset-paginated on (received_at, tenant_id, seq).
pub fn list(
    conn: &mut DbConnection,
    filter: &super::query::AuditFilter,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    use audit_events::dsl as a;
    let mut query = a::audit_events
        .select(AuditRow::as_select())
        .order((a::received_at.desc(), a::tenant_id.desc(), a::seq.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(tenant_id) = &filter.tenant_id {
        query = query.filter(a::tenant_id.eq(tenant_id.clone()));
    }
    if let Some(actor) = &filter.actor {
        query = query.filter(a::actor_id.eq(actor.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(a::action.eq(action.clone()));
    }
    if let Some(outcome) = &filter.outcome {
        query = query.filter(a::outcome.eq(outcome.clone()));
    }
    if let Some(since) = filter.since {
        query = query.filter(a::occurred_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(a::occurred_at.lt(until));
    }
    if let Some(c) = &filter.cursor {
        query = query.filter(
            a::received_at
                .lt(c.received_at)
                .or(a::received_at.eq(c.received_at).and(
                    a::tenant_id
                        .lt(c.tenant_id.clone())
                        .or(a::tenant_id.eq(c.tenant_id.clone()).and(a::seq.lt(c.seq))),
                )),
        );
    }
    query.load(conn)
}

/// Oldest first per tenant, after `after`, for exports.
pub fn export_batch(
    conn: &mut DbConnection,
    tenant_id: Option<&str>,
    since: Option<NaiveDateTime>,
    until: Option<NaiveDateTime>,
    after: Option<&super::query::ExportPosition>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    use audit_events::dsl as a;
    let mut query = a::audit_events
        .select(AuditRow::as_select())
        .order((a::tenant_id.asc(), a::seq.asc()))
        .limit(limit)
        .into_boxed();
    if let Some(tenant_id) = tenant_id {
        query = query.filter(a::tenant_id.eq(tenant_id.to_owned()));
    }
    if let Some(since) = since {
        query = query.filter(a::occurred_at.ge(since));
    }
    if let Some(until) = until {
        query = query.filter(a::occurred_at.lt(until));
    }
    if let Some(p) = after {
        query = query.filter(
            a::tenant_id
                .gt(p.tenant_id.clone())
                .or(a::tenant_id.eq(p.tenant_id.clone()).and(a::seq.gt(p.seq))),
        );
    }
    query.load(conn)
}

/// The event at `seq` in a tenant's chain.
pub fn at(conn: &mut DbConnection, tenant_id: &str, seq: i64) -> QueryResult<Option<AuditRow>> {
    audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id))
        .filter(audit_events::seq.eq(seq))
        .select(AuditRow::as_select())
        .first(conn)
        .optional()
}
