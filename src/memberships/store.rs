//! Queries on `memberships`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::{memberships, tenants, users};
use crate::db::DbConnection;
use crate::tenants::Tenant;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub tenant_id: String,
    pub user_id: String,
    pub roles: String,
    pub status: String,
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub created_at: NaiveDateTime,
}

/// A membership joined with its user's email, for listings.
#[derive(Debug, Clone, Queryable, Serialize)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub roles: String,
    pub status: String,
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, m: &Membership) -> QueryResult<()> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(&m.tenant_id), |conn| {
        diesel::insert_into(memberships::table)
            .values(m)
            .execute(conn)
            .map(|_| ())
    })
}

pub fn delete(conn: &mut DbConnection, tenant_id: &str, user_id: &str) -> QueryResult<usize> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        diesel::delete(
            memberships::table
                .filter(memberships::tenant_id.eq(tenant_id))
                .filter(memberships::user_id.eq(user_id)),
        )
        .execute(conn)
    })
}

pub fn members(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<Vec<Member>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        memberships::table
            .inner_join(users::table)
            .filter(memberships::tenant_id.eq(tenant_id))
            .order(users::email.asc())
            .select((
                memberships::user_id,
                users::email,
                memberships::roles,
                memberships::status,
                memberships::created_at,
            ))
            .load(conn)
    })
}

pub fn active_in_tenant(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<Vec<Membership>> {
    crate::db::scoped(conn, crate::db::Scope::Tenant(tenant_id), |conn| {
        memberships::table
            .filter(memberships::tenant_id.eq(tenant_id))
            .filter(memberships::status.eq("active"))
            .select(Membership::as_select())
            .load(conn)
    })
}

/// A user's active memberships in active tenants, with the tenants.
pub fn user_tenants(
    conn: &mut DbConnection,
    user_id: &str,
) -> QueryResult<Vec<(Tenant, Membership)>> {
    crate::db::scoped(conn, crate::db::Scope::User(user_id), |conn| {
        memberships::table
            .inner_join(tenants::table)
            .filter(memberships::user_id.eq(user_id))
            .filter(memberships::status.eq("active"))
            .filter(tenants::status.eq("active"))
            .order(tenants::slug.asc())
            .select((Tenant::as_select(), Membership::as_select()))
            .load(conn)
    })
}
