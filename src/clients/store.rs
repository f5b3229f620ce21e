//! Queries on `clients`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::clients;
use crate::db::DbConnection;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
pub struct Client {
    pub id: String,
    pub tenant_id: Option<String>,
    pub name: String,
    pub kind: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    /// The audiences it may exchange tokens for (RFC 8693), space-separated.
    pub exchange_audiences: String,
}

pub fn insert(conn: &mut DbConnection, client: &Client) -> QueryResult<()> {
    crate::db::scoped(
        conn,
        client
            .tenant_id
            .as_deref()
            .map_or(crate::db::Scope::AllTenants, crate::db::Scope::Tenant),
        |conn| {
            diesel::insert_into(clients::table)
                .values(client)
                .execute(conn)
                .map(|_| ())
        },
    )
}

pub fn by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Client>> {
    crate::db::scoped(conn, crate::db::Scope::Client(id), |conn| {
        clients::table
            .find(id)
            .select(Client::as_select())
            .first(conn)
            .optional()
    })
}

/// Every client, or only those bound to `tenant_id`.
pub fn list(conn: &mut DbConnection, tenant_id: Option<&str>) -> QueryResult<Vec<Client>> {
    crate::db::scoped(
        conn,
        tenant_id.map_or(crate::db::Scope::AllTenants, crate::db::Scope::Tenant),
        |conn| {
            let mut query = clients::table
                .order(clients::id.asc())
                .select(Client::as_select())
                .into_boxed();
            if let Some(tenant_id) = tenant_id {
                query = query.filter(clients::tenant_id.eq(tenant_id));
            }
            query.load(conn)
        },
    )
}

/// Replaces a client's redirect URIs (space-separated).
pub fn set_redirect_uris(conn: &mut DbConnection, id: &str, uris: &str) -> QueryResult<()> {
    crate::db::scoped(conn, crate::db::Scope::AllTenants, |conn| {
        diesel::update(clients::table.find(id))
            .set(clients::redirect_uris.eq(uris))
            .execute(conn)
            .map(|_| ())
    })
}
