//! Queries on `audit_streams` and `audit_stream_positions`. A stream of one tenant is
//! read in that tenant's scope; the delivery worker, which serves every stream, reads
//! in the all-tenants scope.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{audit_stream_positions as positions, audit_streams as streams};
use crate::db::{DbConnection, Scope};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = streams, treat_none_as_default_value = false)]
pub struct StreamRow {
    pub id: String,
    pub tenant_id: Option<String>,
    pub url: String,
    pub format: String,
    pub state: String,
    pub secret_sealed: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub failing_since: Option<NaiveDateTime>,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub suspended_reason: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = positions, treat_none_as_default_value = false)]
pub struct Position {
    pub tenant_id: String,
    pub stream_id: String,
    pub acked_seq: i64,
    pub pending_until: Option<i64>,
    pub checkpoint_seq: i64,
    pub checkpoint_at: NaiveDateTime,
}

fn scope(tenant_id: Option<&str>) -> Scope<'_> {
    tenant_id.map_or(Scope::AllTenants, Scope::Tenant)
}

pub fn insert(conn: &mut DbConnection, row: &StreamRow) -> QueryResult<()> {
    crate::db::scoped(conn, scope(row.tenant_id.as_deref()), |conn| {
        diesel::insert_into(streams::table)
            .values(row)
            .execute(conn)
            .map(|_| ())
    })
}

/// One stream, if `tenant_id` (`None`: any) holds it.
pub fn find(
    conn: &mut DbConnection,
    tenant_id: Option<&str>,
    id: &str,
) -> QueryResult<Option<StreamRow>> {
    crate::db::scoped(conn, scope(tenant_id), |conn| {
        let mut query = streams::table
            .filter(streams::id.eq(id))
            .select(StreamRow::as_select())
            .into_boxed();
        if let Some(tenant_id) = tenant_id {
            query = query.filter(streams::tenant_id.eq(tenant_id));
        }
        query.first(conn).optional()
    })
}

/// A tenant's streams, or (`None`) every stream, oldest first.
pub fn list(conn: &mut DbConnection, tenant_id: Option<&str>) -> QueryResult<Vec<StreamRow>> {
    crate::db::scoped(conn, scope(tenant_id), |conn| {
        let mut query = streams::table
            .order((streams::created_at.asc(), streams::id.asc()))
            .select(StreamRow::as_select())
            .into_boxed();
        if let Some(tenant_id) = tenant_id {
            query = query.filter(streams::tenant_id.eq(tenant_id));
        }
        query.limit(1000).load(conn)
    })
}

/// Sets the state; resuming also forgets the failures and the pending wait.
pub fn set_state(
    conn: &mut DbConnection,
    row: &StreamRow,
    state: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let id = row.id.as_str();
    crate::db::scoped(conn, scope(row.tenant_id.as_deref()), |conn| {
        let target = streams::table.filter(streams::id.eq(id));
        let n = if state == "active" {
            diesel::update(target)
                .set((
                    streams::state.eq(state),
                    streams::updated_at.eq(at),
                    streams::suspended_reason.eq(None::<String>),
                    streams::failing_since.eq(None::<NaiveDateTime>),
                    streams::attempts.eq(0),
                    streams::next_attempt_at.eq(None::<NaiveDateTime>),
                ))
                .execute(conn)?
        } else {
            diesel::update(target)
                .set((streams::state.eq(state), streams::updated_at.eq(at)))
                .execute(conn)?
        };
        Ok(n > 0)
    })
}

pub fn delete(conn: &mut DbConnection, row: &StreamRow) -> QueryResult<bool> {
    let id = row.id.as_str();
    crate::db::scoped(conn, scope(row.tenant_id.as_deref()), |conn| {
        diesel::delete(positions::table.filter(positions::stream_id.eq(id))).execute(conn)?;
        diesel::delete(streams::table.filter(streams::id.eq(id)))
            .execute(conn)
            .map(|n| n > 0)
    })
}

/// Takes (or keeps) an active stream's lease unless another owner's is current.
pub fn take_lease(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<bool> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        diesel::update(
            streams::table
                .filter(streams::id.eq(id))
                .filter(streams::state.eq("active"))
                .filter(
                    streams::lease_owner
                        .is_null()
                        .or(streams::lease_owner.eq(owner))
                        .or(streams::lease_until.lt(now)),
                ),
        )
        .set((
            streams::lease_owner.eq(owner),
            streams::lease_until.eq(until),
        ))
        .execute(conn)
        .map(|n| n > 0)
    })
}

/// Gives the lease up (on shutdown), so another instance takes over at once.
pub fn release_lease(conn: &mut DbConnection, id: &str, owner: &str) -> QueryResult<()> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        diesel::update(
            streams::table
                .filter(streams::id.eq(id))
                .filter(streams::lease_owner.eq(owner)),
        )
        .set((
            streams::lease_owner.eq(None::<String>),
            streams::lease_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)
        .map(|_| ())
    })
}

/// The active streams whose lease is free, expired or `owner`'s.
pub fn deliverable(
    conn: &mut DbConnection,
    owner: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<String>> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        streams::table
            .filter(streams::state.eq("active"))
            .filter(
                streams::lease_owner
                    .is_null()
                    .or(streams::lease_owner.eq(owner))
                    .or(streams::lease_until.lt(now)),
            )
            .select(streams::id)
            .order(streams::id.asc())
            .limit(1000)
            .load(conn)
    })
}

/// The stream's position in one tenant's chain, created at the chain's start.
pub fn position(
    conn: &mut DbConnection,
    stream_id: &str,
    tenant_id: &str,
    now: NaiveDateTime,
) -> QueryResult<Position> {
    crate::db::scoped(conn, Scope::Tenant(tenant_id), |conn| {
        let found = positions::table
            .filter(positions::tenant_id.eq(tenant_id))
            .filter(positions::stream_id.eq(stream_id))
            .select(Position::as_select())
            .first(conn)
            .optional()?;
        if let Some(found) = found {
            return Ok(found);
        }
        let fresh = Position {
            tenant_id: tenant_id.to_owned(),
            stream_id: stream_id.to_owned(),
            acked_seq: 0,
            pending_until: None,
            checkpoint_seq: 0,
            checkpoint_at: now,
        };
        diesel::insert_into(positions::table)
            .values(&fresh)
            .execute(conn)?;
        Ok(fresh)
    })
}

/// Every position of a stream (for its lag).
pub fn positions_of(conn: &mut DbConnection, stream_id: &str) -> QueryResult<Vec<Position>> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        positions::table
            .filter(positions::stream_id.eq(stream_id))
            .select(Position::as_select())
            .load(conn)
    })
}

/// Fixes the batch in flight (its last seq), so a retry resends exactly it.
pub fn set_pending(
    conn: &mut DbConnection,
    stream_id: &str,
    tenant_id: &str,
    until: i64,
) -> QueryResult<()> {
    crate::db::scoped(conn, Scope::Tenant(tenant_id), |conn| {
        diesel::update(
            positions::table
                .filter(positions::tenant_id.eq(tenant_id))
                .filter(positions::stream_id.eq(stream_id)),
        )
        .set(positions::pending_until.eq(until))
        .execute(conn)
        .map(|_| ())
    })
}

/// Records an acknowledged batch, only while `owner` holds the (active) stream's lease
/// and only forwards, so a stale instance changes nothing. Run it in a write
/// transaction: the first statement holds the stream's row, which a takeover of the
/// lease must update, until the position is written.
pub fn acknowledge(conn: &mut DbConnection, position: &Position, owner: &str) -> QueryResult<bool> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        let held = diesel::update(leased(&position.stream_id, owner))
            .set(streams::lease_owner.eq(owner))
            .execute(conn)?;
        if held == 0 {
            return Ok(false);
        }
        diesel::update(
            positions::table
                .filter(positions::tenant_id.eq(&position.tenant_id))
                .filter(positions::stream_id.eq(&position.stream_id))
                .filter(positions::acked_seq.le(position.acked_seq)),
        )
        .set((
            positions::acked_seq.eq(position.acked_seq),
            positions::pending_until.eq(None::<i64>),
            positions::checkpoint_seq.eq(position.checkpoint_seq),
            positions::checkpoint_at.eq(position.checkpoint_at),
        ))
        .execute(conn)
        .map(|n| n > 0)
    })
}

/// A stream row, if it is active and its lease is `owner`'s.
type Leased<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<ById<'a>, diesel::dsl::Eq<streams::lease_owner, &'a str>>,
    diesel::dsl::Eq<streams::state, &'static str>,
>;
type ById<'a> = diesel::dsl::Filter<streams::table, diesel::dsl::Eq<streams::id, &'a str>>;

/// The stream, if it is active and `owner` holds its lease.
fn leased<'a>(id: &'a str, owner: &'a str) -> Leased<'a> {
    streams::table
        .filter(streams::id.eq(id))
        .filter(streams::lease_owner.eq(owner))
        .filter(streams::state.eq("active"))
}

/// The delivery outcome kept on the stream: its failures (none once it delivered).
pub struct Health<'a> {
    pub failing_since: Option<NaiveDateTime>,
    pub attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_error: Option<&'a str>,
}

/// Records the delivery outcome, if `owner` still delivers the (active) stream.
pub fn set_health(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    health: &Health<'_>,
) -> QueryResult<bool> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        diesel::update(leased(id, owner))
            .set((
                streams::failing_since.eq(health.failing_since),
                streams::attempts.eq(health.attempts),
                streams::next_attempt_at.eq(health.next_attempt_at),
                streams::last_error.eq(health.last_error),
            ))
            .execute(conn)
            .map(|n| n > 0)
    })
}

/// Suspends the stream, if `owner` still delivers it (an operator's pause or a
/// deletion meanwhile wins).
pub fn suspend(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    crate::db::scoped(conn, Scope::AllTenants, |conn| {
        diesel::update(leased(id, owner))
            .set((
                streams::state.eq("suspended"),
                streams::updated_at.eq(at),
                streams::suspended_reason.eq(reason),
            ))
            .execute(conn)
            .map(|n| n > 0)
    })
}

/// How many streams a tenant has (`None`: streams of every tenant).
pub fn count(conn: &mut DbConnection, tenant_id: Option<&str>) -> QueryResult<i64> {
    crate::db::scoped(conn, scope(tenant_id), |conn| {
        let mut query = streams::table.count().into_boxed();
        query = match tenant_id {
            Some(t) => query.filter(streams::tenant_id.eq(t)),
            None => query.filter(streams::tenant_id.is_null()),
        };
        query.get_result(conn)
    })
}
