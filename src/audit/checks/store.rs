//! The last verification of each tenant's chain, whoever ran it (`/api/v1/audit/verify`,
//! `tessera audit verify`, the console's "Verify now"), so the console can say when a
//! chain was last found intact, or where it broke.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::audit::Verification;
use crate::db::schema::audit_chain_checks;
use crate::db::{self, DbConnection};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = audit_chain_checks)]
#[diesel(treat_none_as_null = true)]
pub struct ChainCheck {
    pub tenant_id: String,
    pub checked_at: NaiveDateTime,
    pub events: i64,
    pub head_seq: i64,
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
}

impl ChainCheck {
    pub fn is_intact(&self) -> bool {
        self.first_bad_seq.is_none()
    }
}

/// Keeps `verification` as its tenant's last check.
pub fn record(conn: &mut DbConnection, verification: &Verification) -> Result<()> {
    let row = ChainCheck {
        tenant_id: verification.tenant_id.clone(),
        checked_at: db::now(),
        events: verification.events,
        head_seq: verification.head_seq,
        first_bad_seq: verification.first_bad_seq,
        problem: verification.problem.map(str::to_owned),
    };
    db::write_tx(conn, |tx| {
        db::scoped(tx, db::Scope::Tenant(&row.tenant_id), |tx| {
            // An upsert, spelled per backend (the multi-backend connection has none).
            match tx {
                db::DbConnection::Sqlite(c) => diesel::insert_into(audit_chain_checks::table)
                    .values(&row)
                    .on_conflict(audit_chain_checks::tenant_id)
                    .do_update()
                    .set(&row)
                    .execute(c),
                db::DbConnection::Postgres(c) => diesel::insert_into(audit_chain_checks::table)
                    .values(&row)
                    .on_conflict(audit_chain_checks::tenant_id)
                    .do_update()
                    .set(&row)
                    .execute(c),
            }
        })
    })?;
    Ok(())
}

/// The last check of each of `tenant_ids` that has one.
pub fn latest(conn: &mut DbConnection, tenant_ids: &[&str]) -> Result<Vec<ChainCheck>> {
    Ok(db::scoped(conn, db::Scope::AllTenants, |conn| {
        audit_chain_checks::table
            .filter(audit_chain_checks::tenant_id.eq_any(tenant_ids))
            .select(ChainCheck::as_select())
            .load(conn)
    })?)
}
