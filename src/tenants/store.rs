//! Queries on `tenants`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::schema::tenants;
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = tenants)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub status: String,
    #[serde(serialize_with = "crate::db::serialize_utc")]
    pub created_at: NaiveDateTime,
    /// The second-factor policy: `off`, `optional` or `required` (`mfa::Policy`).
    pub mfa_policy: String,
}

pub fn insert(conn: &mut DbConnection, tenant: &Tenant) -> QueryResult<()> {
    diesel::insert_into(tenants::table)
        .values(tenant)
        .execute(conn)
        .map(|_| ())
}

pub fn by_slug(conn: &mut DbConnection, slug: &str) -> QueryResult<Option<Tenant>> {
    tenants::table
        .filter(tenants::slug.eq(slug))
        .select(Tenant::as_select())
        .first(conn)
        .optional()
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Tenant>> {
    tenants::table
        .find(id)
        .select(Tenant::as_select())
        .first(conn)
        .optional()
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<Tenant>> {
    tenants::table
        .order(tenants::slug.asc())
        .select(Tenant::as_select())
        .load(conn)
}
