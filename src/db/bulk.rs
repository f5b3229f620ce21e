//! Bulk writes: rows grouped by tenant (each group under its own row-level security
//! scope), PostgreSQL's `UNNEST` form of a multi-row insert, and the `insert_batch!` macro
//! that matches the backend once for diesel's batch insert.

use super::{scoped, DbConnection, Scope};

/// Writes `rows` one tenant at a time, each group under [`Scope::Tenant`]: row-level
/// security checks every row against the transaction's tenant, so a batch spanning
/// tenants cannot be written under one setting.
pub fn per_tenant<R>(
    conn: &mut DbConnection,
    rows: &[R],
    tenant_of: impl Fn(&R) -> &str,
    mut write: impl FnMut(&mut DbConnection, &[&R]) -> diesel::QueryResult<()>,
) -> diesel::QueryResult<()> {
    for (tenant, group) in by_tenant(rows.iter().collect(), |r| tenant_of(r)) {
        let group: Vec<&R> = group.into_iter().map(|(_, r)| r).collect();
        scoped(conn, Scope::Tenant(&tenant), |conn| write(conn, &group))?;
    }
    Ok(())
}

/// `items` grouped by tenant, in tenant order (the order in which their chains are
/// locked), each with its position in the input.
pub fn by_tenant<T>(
    items: Vec<T>,
    tenant_of: impl Fn(&T) -> &str,
) -> std::collections::BTreeMap<String, Vec<(usize, T)>> {
    let mut groups: std::collections::BTreeMap<String, Vec<(usize, T)>> = Default::default();
    for (position, item) in items.into_iter().enumerate() {
        match groups.get_mut(tenant_of(&item)) {
            Some(group) => group.push((position, item)),
            None => {
                groups.insert(tenant_of(&item).to_owned(), vec![(position, item)]);
            }
        }
    }
    groups
}

/// A raw PostgreSQL statement whose parameters are bound one by one.
pub type BoxedPgQuery<'a> =
    diesel::query_builder::BoxedSqlQuery<'a, diesel::pg::Pg, diesel::query_builder::SqlQuery>;

/// `SELECT * FROM UNNEST($first::t1[], $first+1::t2[], …)`: the rows of a bulk insert as
/// one array per column, a short statement to parse and plan whatever the row count.
pub fn unnest_select(first: usize, types: &[&str]) -> String {
    let arrays: Vec<String> = types
        .iter()
        .enumerate()
        .map(|(i, t)| format!("${}::{t}[]", first + i))
        .collect();
    format!("SELECT * FROM UNNEST({})", arrays.join(", "))
}

/// A multi-row `INSERT` of `rows` into `table` on either backend (diesel's batch insert
/// is backend-specific, so the connection's variant is matched here, once).
#[macro_export]
macro_rules! insert_batch {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite(c) => {
                diesel::insert_into($table).values($rows).execute(c)
            }
            $crate::db::DbConnection::Postgres(c) => {
                diesel::insert_into($table).values($rows).execute(c)
            }
        }
    };
}
