//! Queries on `issued_tokens`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::audit::AuditRow;
use crate::db::schema::issued_tokens;
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = issued_tokens, treat_none_as_default_value = false)]
pub struct IssuedToken {
    pub tenant_id: String,
    pub jti: String,
    pub subject: String,
    pub client_id: String,
    pub token_type: String,
    pub scope: String,
    pub kid: Option<String>,
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub issued_at: NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub expires_at: NaiveDateTime,
    #[serde(serialize_with = "crate::db::serialize_utc_opt")]
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_reason: Option<String>,
    /// The refresh family (grant) it came from, for cascading revocation.
    pub family_id: Option<String>,
    /// How the user authenticated (RFC 8176 values, space-separated); `None` for a
    /// client's own token.
    pub amr: Option<String>,
    /// The grant it was issued by (`authorization_code`, `refresh_token`,
    /// `client_credentials`); `None` for tokens issued before the ledger kept it.
    pub grant_type: Option<String>,
    /// The subject token an exchanged token came from (RFC 8693); revoking it revokes
    /// this one.
    pub parent_jti: Option<String>,
    /// The client that exchanged it (the `act` claim's `sub`).
    pub actor: Option<String>,
}

/// Filters of a ledger listing, newest first.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub tenant_id: Option<String>,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// `Some(true)`: neither revoked nor expired; `Some(false)`: revoked or expired.
    pub active: Option<bool>,
    pub since: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
    /// `Some(true)`: users' tokens from a login with a second factor; `Some(false)`:
    /// users' tokens without one (a client's own token is neither).
    pub mfa: Option<bool>,
    /// Issued by this grant type.
    pub grant: Option<String>,
    pub limit: i64,
    /// Keyset position (issued_at, tenant_id, jti) of the last row of the previous page.
    pub after: Option<(NaiveDateTime, String, String)>,
}

pub fn insert(conn: &mut DbConnection, row: &IssuedToken) -> QueryResult<()> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&row.tenant_id), |conn| {
        diesel::insert_into(issued_tokens::table)
            .values(row)
            .execute(conn)
            .map(|_| ())
    })
}

pub fn find(
    conn: &mut DbConnection,
    tenant_id: &str,
    jti: &str,
) -> QueryResult<Option<IssuedToken>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        issued_tokens::table
            .filter(issued_tokens::tenant_id.eq(tenant_id))
            .filter(issued_tokens::jti.eq(jti))
            .select(IssuedToken::as_select())
            .first(conn)
            .optional()
    })
}

pub fn by_jti(conn: &mut DbConnection, jti: &str) -> QueryResult<Option<IssuedToken>> {
    crate::db::scoped(conn, crate::db::Scope::Jti(jti), |conn| {
        issued_tokens::table
            .filter(issued_tokens::jti.eq(jti))
            .select(IssuedToken::as_select())
            .first(conn)
            .optional()
    })
}

/// Writes ledger rows of any tenants, each tenant's under its own scope (bulk loads).
pub fn insert_many(conn: &mut DbConnection, rows: &[IssuedToken]) -> QueryResult<()> {
    crate::db::per_tenant(conn, rows, |r| &r.tenant_id, insert_in_scope)
}

/// Writes ledger rows of one tenant in a transaction already scoped to it.
fn insert_in_scope(conn: &mut DbConnection, rows: &[&IssuedToken]) -> QueryResult<()> {
    for chunk in rows.chunks(500) {
        let chunk: Vec<&IssuedToken> = chunk.to_vec();
        crate::insert_batch!(conn, issued_tokens::table, chunk)?;
    }
    Ok(())
}

/// Writes one tenant's ledger rows and the events that record them, chained after
/// `head` (the chain's sequence number and hash the events were linked to). Returns
/// false, having written nothing, if the chain's head has moved since.
///
/// On SQLite the caller holds the write lock and has read the head inside it. On
/// PostgreSQL it is one statement, `record_issued_tokens` (see its migration): it
/// scopes the transaction to the tenant, takes the chain's lock, checks the head and
/// writes both bulk inserts; outside a transaction it is its own transaction.
pub fn insert_chained(
    conn: &mut DbConnection,
    tenant_id: &str,
    head: &(i64, String),
    rows: &[IssuedToken],
    events: &[AuditRow],
) -> QueryResult<bool> {
    let rows: Vec<&IssuedToken> = rows.iter().collect();
    let events: Vec<&AuditRow> = events.iter().collect();
    let DbConnection::Postgres(pg) = conn else {
        insert_in_scope(conn, &rows)?;
        crate::audit::store::insert_in_scope(conn, &events)?;
        return Ok(true);
    };
    #[derive(QueryableByName)]
    struct Recorded {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        recorded: bool,
    }
    use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamp};
    let params: Vec<String> = (1..=35).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT record_issued_tokens({}) AS recorded",
        params.join(", ")
    );
    let text = |f: fn(&IssuedToken) -> &str| rows.iter().map(|r| f(r)).collect::<Vec<&str>>();
    let opt = |f: fn(&IssuedToken) -> Option<&str>| {
        rows.iter().map(|r| f(r)).collect::<Vec<Option<&str>>>()
    };
    let query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(tenant_id)
        .bind::<BigInt, _>(crate::db::chain_lock_key(tenant_id))
        .bind::<BigInt, _>(head.0)
        .bind::<Text, _>(head.1.as_str())
        .bind::<Array<Text>, _>(text(|r| &r.tenant_id))
        .bind::<Array<Text>, _>(text(|r| &r.jti))
        .bind::<Array<Text>, _>(text(|r| &r.subject))
        .bind::<Array<Text>, _>(text(|r| &r.client_id))
        .bind::<Array<Text>, _>(text(|r| &r.token_type))
        .bind::<Array<Text>, _>(text(|r| &r.scope))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.kid.as_deref()))
        .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.issued_at).collect::<Vec<_>>())
        .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.expires_at).collect::<Vec<_>>())
        .bind::<Array<Nullable<Timestamp>>, _>(
            rows.iter().map(|r| r.revoked_at).collect::<Vec<_>>(),
        )
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.revoked_reason.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.family_id.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.amr.as_deref()))
        .bind::<Array<Nullable<Text>>, _>(opt(|r| r.grant_type.as_deref()));
    let recorded: Recorded = crate::audit::store::bind_unnest(query, &events).get_result(pg)?;
    Ok(recorded.recorded)
}

/// Sets `revoked_at` on a live token; returns whether one changed.
pub fn revoke(
    conn: &mut DbConnection,
    tenant_id: &str,
    jti: &str,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        diesel::update(
            issued_tokens::table
                .filter(issued_tokens::tenant_id.eq(tenant_id))
                .filter(issued_tokens::jti.eq(jti))
                .filter(issued_tokens::revoked_at.is_null()),
        )
        .set((
            issued_tokens::revoked_at.eq(at),
            issued_tokens::revoked_reason.eq(reason),
        ))
        .execute(conn)
        .map(|n| n > 0)
    })
}

/// The tenants holding live ledger entries of a refresh family (a family spans
/// tenants after a tenant switch).
pub fn family_tenants(conn: &mut DbConnection, family_id: &str) -> QueryResult<Vec<String>> {
    crate::db::scoped(conn, crate::db::Scope::Family(family_id), |conn| {
        issued_tokens::table
            .filter(issued_tokens::family_id.eq(family_id))
            .filter(issued_tokens::revoked_at.is_null())
            .select(issued_tokens::tenant_id)
            .distinct()
            .order(issued_tokens::tenant_id)
            .load(conn)
    })
}

/// Revokes one tenant's live ledger entries of a refresh family; returns how many.
pub fn revoke_family(
    conn: &mut DbConnection,
    family_id: &str,
    tenant_id: &str,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    crate::db::scoped(conn, crate::db::Scope::Family(family_id), |conn| {
        diesel::update(
            issued_tokens::table
                .filter(issued_tokens::family_id.eq(family_id))
                .filter(issued_tokens::tenant_id.eq(tenant_id))
                .filter(issued_tokens::revoked_at.is_null()),
        )
        .set((
            issued_tokens::revoked_at.eq(at),
            issued_tokens::revoked_reason.eq(reason),
        ))
        .execute(conn)
    })
}

pub fn list(conn: &mut DbConnection, filter: &TokenFilter) -> QueryResult<Vec<IssuedToken>> {
    crate::db::scoped(
        conn,
        filter
            .tenant_id
            .as_deref()
            .map_or(crate::db::Scope::AllTenants, crate::db::Scope::Tenant),
        |conn| {
            let mut query = issued_tokens::table
                .select(IssuedToken::as_select())
                .order((
                    issued_tokens::issued_at.desc(),
                    issued_tokens::tenant_id.desc(),
                    issued_tokens::jti.desc(),
                ))
                .limit(filter.limit)
                .into_boxed();
            if let Some(tenant_id) = &filter.tenant_id {
                query = query.filter(issued_tokens::tenant_id.eq(tenant_id.clone()));
            }
            if let Some(subject) = &filter.subject {
                query = query.filter(issued_tokens::subject.eq(subject.clone()));
            }
            if let Some(client_id) = &filter.client_id {
                query = query.filter(issued_tokens::client_id.eq(client_id.clone()));
            }
            let now = crate::db::now();
            match filter.active {
                Some(true) => {
                    query = query
                        .filter(issued_tokens::revoked_at.is_null())
                        .filter(issued_tokens::expires_at.gt(now));
                }
                Some(false) => {
                    query = query.filter(
                        issued_tokens::revoked_at
                            .is_not_null()
                            .or(issued_tokens::expires_at.le(now)),
                    );
                }
                None => {}
            }
            match filter.mfa {
                Some(true) => query = query.filter(issued_tokens::amr.like("%mfa%")),
                Some(false) => {
                    query = query
                        .filter(issued_tokens::amr.is_not_null())
                        .filter(issued_tokens::amr.not_like("%mfa%"));
                }
                None => {}
            }
            if let Some(grant) = &filter.grant {
                query = query.filter(issued_tokens::grant_type.eq(grant.clone()));
            }
            if let Some(since) = filter.since {
                query = query.filter(issued_tokens::issued_at.ge(since));
            }
            if let Some(until) = filter.until {
                query = query.filter(issued_tokens::issued_at.lt(until));
            }
            if let Some((at, tenant_id, jti)) = &filter.after {
                // The first term alone bounds a range of the (tenant, issued_at) index;
                // the disjunction after it does not.
                query = query.filter(issued_tokens::issued_at.le(*at)).filter(
                    issued_tokens::issued_at
                        .lt(*at)
                        .or(issued_tokens::issued_at.eq(*at).and(
                            issued_tokens::tenant_id.lt(tenant_id.clone()).or(
                                issued_tokens::tenant_id
                                    .eq(tenant_id.clone())
                                    .and(issued_tokens::jti.lt(jti.clone())),
                            ),
                        )),
                );
            }
            query.load(conn)
        },
    )
}

impl From<IssuedToken> for tessera_proto::api::TokenItem {
    fn from(t: IssuedToken) -> Self {
        Self {
            issued_at: crate::db::format_utc(&t.issued_at),
            expires_at: crate::db::format_utc(&t.expires_at),
            revoked_at: t.revoked_at.as_ref().map(crate::db::format_utc),
            tenant_id: t.tenant_id,
            jti: t.jti,
            subject: t.subject,
            client_id: t.client_id,
            token_type: t.token_type,
            scope: t.scope,
            kid: t.kid,
            revoked_reason: t.revoked_reason,
            family_id: t.family_id,
            amr: t.amr.map(|amr| amr.split(' ').map(str::to_owned).collect()),
            grant_type: t.grant_type,
            parent_jti: t.parent_jti,
            actor: t.actor,
        }
    }
}

/// The tokens of a refresh family in `tenant_id`, oldest first (at most `limit`).
pub fn of_family(
    conn: &mut DbConnection,
    tenant_id: &str,
    family_id: &str,
    limit: i64,
) -> QueryResult<Vec<IssuedToken>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        issued_tokens::table
            .filter(issued_tokens::tenant_id.eq(tenant_id))
            .filter(issued_tokens::family_id.eq(family_id))
            .order(issued_tokens::issued_at.asc())
            .limit(limit)
            .select(IssuedToken::as_select())
            .load(conn)
    })
}

/// Locks a live token's row until the transaction ends (an update that changes
/// nothing); false, locking nothing, if it is revoked or missing. Token exchange holds
/// the subject token this way, so a concurrent revocation cannot miss the new token.
pub fn hold_live(conn: &mut DbConnection, tenant_id: &str, jti: &str) -> QueryResult<bool> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        diesel::update(
            issued_tokens::table
                .filter(issued_tokens::tenant_id.eq(tenant_id))
                .filter(issued_tokens::jti.eq(jti))
                .filter(issued_tokens::revoked_at.is_null()),
        )
        .set(issued_tokens::revoked_at.eq(None::<NaiveDateTime>))
        .execute(conn)
        .map(|n| n > 0)
    })
}

/// The live tokens of `tenant_id` exchanged from any of `parents`.
pub fn live_children(
    conn: &mut DbConnection,
    tenant_id: &str,
    parents: &[String],
) -> QueryResult<Vec<String>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        let mut children = Vec::new();
        for chunk in parents.chunks(500) {
            children.extend(
                issued_tokens::table
                    .filter(issued_tokens::tenant_id.eq(tenant_id))
                    .filter(issued_tokens::parent_jti.eq_any(chunk))
                    .filter(issued_tokens::revoked_at.is_null())
                    .select(issued_tokens::jti)
                    .load::<String>(conn)?,
            );
        }
        Ok(children)
    })
}

/// Revokes the live tokens among `jtis` of `tenant_id`; returns how many.
pub fn revoke_many(
    conn: &mut DbConnection,
    tenant_id: &str,
    jtis: &[String],
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        let mut revoked = 0;
        for chunk in jtis.chunks(500) {
            revoked += diesel::update(
                issued_tokens::table
                    .filter(issued_tokens::tenant_id.eq(tenant_id))
                    .filter(issued_tokens::jti.eq_any(chunk))
                    .filter(issued_tokens::revoked_at.is_null()),
            )
            .set((
                issued_tokens::revoked_at.eq(at),
                issued_tokens::revoked_reason.eq(reason),
            ))
            .execute(conn)?;
        }
        Ok(revoked)
    })
}

/// The jtis of a refresh family's tokens in `tenant_id`.
pub fn family_jtis(
    conn: &mut DbConnection,
    tenant_id: &str,
    family_id: &str,
) -> QueryResult<Vec<String>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        issued_tokens::table
            .filter(issued_tokens::tenant_id.eq(tenant_id))
            .filter(issued_tokens::family_id.eq(family_id))
            .select(issued_tokens::jti)
            .load(conn)
    })
}
