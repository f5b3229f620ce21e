//! Queries on `audit_events`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{audit_events, ingest_keys};
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
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        head_in_scope(conn, tenant_id)
    })
}

/// [`head`] in a transaction already scoped to the tenant (by
/// [`crate::db::lock_audit_chain`], which also serializes the chain's appends).
pub fn head_in_scope(
    conn: &mut DbConnection,
    tenant_id: &str,
) -> QueryResult<Option<(i64, String)>> {
    audit_events::table
        .filter(audit_events::tenant_id.eq(tenant_id))
        .order(audit_events::seq.desc())
        .select((audit_events::seq, audit_events::hash))
        .first(conn)
        .optional()
}

/// Writes rows in bulk, one tenant at a time (see [`crate::db::per_tenant`]); the plain
/// insert that `benches/ingest.rs` measures ingestion against.
pub fn insert_many(conn: &mut DbConnection, rows: &[AuditRow]) -> QueryResult<()> {
    crate::db::per_tenant(conn, rows, |r| &r.tenant_id, insert_in_scope)
}

/// Writes rows of one tenant in a transaction already scoped to it: on SQLite as
/// multi-row inserts of [`SQLITE_ROWS_PER_INSERT`] rows; on PostgreSQL as one
/// `INSERT … SELECT FROM UNNEST` of 17 arrays, a short statement whatever the batch size
/// (a 17,000-parameter `VALUES` list costs more to parse and plan than to execute, and
/// `COPY` is not allowed on tables with row-level security).
pub fn insert_in_scope(conn: &mut DbConnection, rows: &[&AuditRow]) -> QueryResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Postgres(pg) => {
            let sql = format!("INSERT INTO audit_events ({COLUMNS}) {}", unnest_select(1));
            bind_unnest(diesel::sql_query(sql).into_boxed(), rows)
                .execute(pg)
                .map(|_| ())
        }
        DbConnection::Sqlite(_) => {
            for chunk in rows.chunks(SQLITE_ROWS_PER_INSERT) {
                let chunk: Vec<&AuditRow> = chunk.to_vec();
                crate::insert_batch!(conn, audit_events::table, chunk)?;
            }
            Ok(())
        }
    }
}

/// Rows per multi-row `INSERT` on SQLite. A statement's compiled program grows with its
/// parameters; at 250 rows (4,250 parameters) it stays small (peak memory under
/// 1000-event ingestion: 46 MB instead of 58 MB), and a 1000-event batch costs no more
/// time than in one statement.
const SQLITE_ROWS_PER_INSERT: usize = 250;

/// The columns [`bind_unnest`] fills, in its order.
pub const COLUMNS: &str = "tenant_id, seq, id, occurred_at, received_at, source, actor_type, \
     actor_id, action, resource_type, resource_id, outcome, ip, request_id, details, \
     prev_hash, hash";

/// `SELECT * FROM UNNEST(…)` over the 17 arrays [`bind_unnest`] binds, numbered from
/// parameter `first` (so that it can be part of a larger statement).
pub fn unnest_select(first: usize) -> String {
    crate::db::unnest_select(
        first,
        &[
            "text",
            "bigint",
            "text",
            "timestamp",
            "timestamp",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
            "text",
        ],
    )
}

/// Binds the columns of `rows` as 17 arrays, in [`COLUMNS`] order.
pub fn bind_unnest<'a>(
    query: crate::db::BoxedPgQuery<'a>,
    rows: &[&'a AuditRow],
) -> crate::db::BoxedPgQuery<'a> {
    use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
    let text = |f: fn(&AuditRow) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<&str>>();
    let opt =
        |f: fn(&AuditRow) -> Option<&str>| rows.iter().map(|r| f(r)).collect::<Vec<Option<&str>>>();
    let time = |f: fn(&AuditRow) -> NaiveDateTime| {
        rows.iter().map(|r| f(r)).collect::<Vec<NaiveDateTime>>()
    };
    query
        .bind::<Array<Text>, _>(text(|r| &r.tenant_id))
        .bind::<Array<BigInt>, _>(rows.iter().map(|r| r.seq).collect::<Vec<i64>>())
        .bind::<Array<Text>, _>(text(|r| &r.id))
        .bind::<Array<Timestamp>, _>(time(|r| r.occurred_at))
        .bind::<Array<Timestamp>, _>(time(|r| r.received_at))
        .bind::<Array<Text>, _>(text(|r| &r.source))
        .bind::<Array<Text>, _>(text(|r| &r.actor_type))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.actor_id.as_deref()))
        .bind::<Array<Text>, _>(text(|r| &r.action))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.resource_type.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.resource_id.as_deref()))
        .bind::<Array<Text>, _>(text(|r| &r.outcome))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.ip.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.request_id.as_deref()))
        .bind::<Array<Text>, _>(text(|r| &r.details))
        .bind::<Array<Text>, _>(text(|r| &r.prev_hash))
        .bind::<Array<Text>, _>(text(|r| &r.hash))
}

/// Up to `limit` events of a tenant with `seq > after`, in sequence order.
pub fn page_after(
    conn: &mut DbConnection,
    tenant_id: &str,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id))
            .filter(audit_events::seq.gt(after))
            .order(audit_events::seq.asc())
            .limit(limit)
            .select(AuditRow::as_select())
            .load(conn)
    })
}

/// The events `filter` selects (its tenant, actor, action, outcome, source, resource
/// and time range; not its page), as a query to order and limit.
fn filtered(filter: &super::AuditFilter) -> audit_events::BoxedQuery<'static, Backend> {
    use audit_events::dsl as a;
    let mut query = a::audit_events.into_boxed();
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
    if let Some(source) = &filter.source {
        query = query.filter(a::source.eq(source.clone()));
    }
    if let Some(resource) = &filter.resource {
        // Any part of the resource id; the typed text's own `%`, `_` and `\` match only
        // themselves.
        let escaped = resource
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query = query.filter(a::resource_id.like(format!("%{escaped}%")).escape('\\'));
    }
    if let Some(since) = filter.since {
        query = query.filter(a::occurred_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(a::occurred_at.lt(until));
    }
    query
}

type Backend = <DbConnection as diesel::Connection>::Backend;

fn scope_of(tenant_id: Option<&str>) -> crate::db::Scope<'_> {
    tenant_id.map_or(crate::db::Scope::AllTenants, crate::db::Scope::Tenant)
}

/// Newest first, keyset-paginated on (received_at, tenant_id, seq). Within one
/// tenant that is the chain's own order, so a tenant's page walks its primary key
/// backwards from the head (or the cursor) instead of sorting the tenant's events.
pub fn list(
    conn: &mut DbConnection,
    filter: &super::AuditFilter,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    crate::db::scoped(conn, scope_of(filter.tenant_id.as_deref()), |conn| {
        use audit_events::dsl as a;
        if let Some(tenant_id) = &filter.tenant_id {
            // A cursor of another tenant's page positions nothing here: the tenant's
            // events from the start, as without one.
            let before = filter
                .cursor
                .as_ref()
                .filter(|c| &c.tenant_id == tenant_id)
                .map(|c| c.seq);
            if filter.since.is_some() || filter.until.is_some() {
                // A time range: the page's sequence numbers first, from the time index
                // alone (it holds `seq`), then those rows by primary key. Sorting the range's whole
                // rows by `seq` would read every one of them, and spill to disk on
                // SQLite once they outgrow its cache.
                let mut seqs = filtered(filter)
                    .select(a::seq)
                    .order(a::seq.desc())
                    .limit(limit);
                if let Some(before) = before {
                    seqs = seqs.filter(a::seq.lt(before));
                }
                let seqs: Vec<i64> = seqs.load(conn)?;
                return a::audit_events
                    .filter(a::tenant_id.eq(tenant_id))
                    .filter(a::seq.eq_any(seqs))
                    .select(AuditRow::as_select())
                    .order(a::seq.desc())
                    .load(conn);
            }
            let mut query = filtered(filter)
                .select(AuditRow::as_select())
                .order(a::seq.desc())
                .limit(limit);
            if let Some(before) = before {
                query = query.filter(a::seq.lt(before));
            }
            return query.load(conn);
        }
        let mut query = filtered(filter)
            .select(AuditRow::as_select())
            .order((a::received_at.desc(), a::tenant_id.desc(), a::seq.desc()))
            .limit(limit);
        if let Some(c) = &filter.cursor {
            // The first term alone bounds a range of the `received_at` index.
            query = query.filter(a::received_at.le(c.received_at)).filter(
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
    })
}

/// Oldest first per tenant, after `after`, for exports.
pub fn export_batch(
    conn: &mut DbConnection,
    filter: &super::AuditFilter,
    after: Option<&super::ExportPosition>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    crate::db::scoped(conn, scope_of(filter.tenant_id.as_deref()), |conn| {
        use audit_events::dsl as a;
        let ordered = || {
            filtered(filter)
                .select(AuditRow::as_select())
                .order((a::tenant_id.asc(), a::seq.asc()))
        };
        let Some(p) = after else {
            return ordered().limit(limit).load(conn);
        };
        // The rest of the current tenant's chain, then the tenants after it: two ranges
        // of the primary key. One disjunction (`tenant > p OR (tenant = p AND seq > s)`)
        // bounds no index range, and every batch would read the log from its start.
        let mut rows = ordered()
            .filter(a::tenant_id.eq(p.tenant_id.clone()))
            .filter(a::seq.gt(p.seq))
            .limit(limit)
            .load(conn)?;
        // A one-tenant export has no tenants after it.
        let more = limit - rows.len() as i64;
        if more > 0 && filter.tenant_id.is_none() {
            rows.extend(
                ordered()
                    .filter(a::tenant_id.gt(p.tenant_id.clone()))
                    .limit(more)
                    .load(conn)?,
            );
        }
        Ok(rows)
    })
}

/// The events of a tenant that share `request_id` within `window` sequence numbers of
/// `seq`, oldest first (at most `limit`). A request's events are written together, so
/// they lie close in the chain: a range of the primary key, however long the chain
/// (`audit_events` has no index on `request_id`: it would cost ingestion).
pub fn of_request(
    conn: &mut DbConnection,
    tenant_id: &str,
    request_id: &str,
    seq: i64,
    window: i64,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id))
            .filter(audit_events::seq.between(seq - window, seq + window))
            .filter(audit_events::request_id.eq(request_id))
            .order(audit_events::seq.asc())
            .limit(limit)
            .select(AuditRow::as_select())
            .load(conn)
    })
}

/// The events of a tenant about any of `resources` (ids) that occurred in
/// `[from, to]`, newest first (at most `limit`): a range of the tenant's time index
/// (there is no index on `resource_id`, which would cost ingestion).
pub fn about(
    conn: &mut DbConnection,
    tenant_id: &str,
    resources: &[&str],
    from: NaiveDateTime,
    to: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id))
            .filter(audit_events::occurred_at.between(from, to))
            .filter(audit_events::resource_id.eq_any(resources))
            .order(audit_events::seq.desc())
            .limit(limit)
            .select(AuditRow::as_select())
            .load(conn)
    })
}

/// The event at `seq` in a tenant's chain.
pub fn at(conn: &mut DbConnection, tenant_id: &str, seq: i64) -> QueryResult<Option<AuditRow>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        audit_events::table
            .filter(audit_events::tenant_id.eq(tenant_id))
            .filter(audit_events::seq.eq(seq))
            .select(AuditRow::as_select())
            .first(conn)
            .optional()
    })
}

/// The stored answer of an ingestion request sent with an `Idempotency-Key`.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ingest_keys)]
pub struct IngestKey {
    pub tenant_id: String,
    pub caller: String,
    pub idempotency_key: String,
    pub request_hash: String,
    /// JSON `[{"id", "seq"}, …]`, the original answer.
    pub events: String,
    pub created_at: NaiveDateTime,
}

pub fn ingest_key(
    conn: &mut DbConnection,
    tenant_id: &str,
    caller: &str,
    key: &str,
) -> QueryResult<Option<IngestKey>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        ingest_keys::table
            .find((tenant_id, caller, key))
            .select(IngestKey::as_select())
            .first(conn)
            .optional()
    })
}

pub fn insert_ingest_key(conn: &mut DbConnection, row: &IngestKey) -> QueryResult<()> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&row.tenant_id), |conn| {
        diesel::insert_into(ingest_keys::table)
            .values(row)
            .execute(conn)
            .map(|_| ())
    })
}

pub fn delete_ingest_key(conn: &mut DbConnection, row: &IngestKey) -> QueryResult<()> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&row.tenant_id), |conn| {
        diesel::delete(ingest_keys::table.find((&row.tenant_id, &row.caller, &row.idempotency_key)))
            .execute(conn)
            .map(|_| ())
    })
}
