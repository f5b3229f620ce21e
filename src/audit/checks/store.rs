//! The last verification of each tenant's chain, whoever ran it (`/api/v1/audit/verify`,
//! `tessera audit verify`, the console's "Verify now"), so the console can say when a
//! chain was last found intact, or where it broke.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::audit::Verification;
use crate::db::schema::audit_chain_checks;
use crate::db::{self, DbConnection};
use crate::error::Result;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_chain_checks)]
pub struct ChainCheck {
    pub tenant_id: String,
    pub checked_at: NaiveDateTime,
    /// Where the check started (1: from genesis).
    pub from_seq: i64,
    pub events: i64,
    pub head_seq: i64,
    pub first_bad_seq: Option<i64>,
    pub problem: Option<String>,
    /// The newest event a check found intact: where the next routine check starts.
    pub verified_seq: i64,
    pub verified_hash: String,
}

/// The outcome of one check, as written (the verified position apart: it moves only
/// when the check says where to).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = audit_chain_checks)]
#[diesel(treat_none_as_null = true)]
struct Outcome {
    tenant_id: String,
    checked_at: NaiveDateTime,
    from_seq: i64,
    events: i64,
    head_seq: i64,
    first_bad_seq: Option<i64>,
    problem: Option<String>,
}

impl ChainCheck {
    pub fn is_intact(&self) -> bool {
        self.first_bad_seq.is_none()
    }
}

/// Keeps `verification` as its tenant's last check, and the position it found intact.
pub fn record(conn: &mut DbConnection, verification: &Verification) -> Result<()> {
    let row = Outcome {
        tenant_id: verification.tenant_id.clone(),
        checked_at: db::now(),
        from_seq: verification.from_seq,
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
            }?;
            if let Some((seq, hash)) = &verification.verified {
                diesel::update(audit_chain_checks::table.find(&row.tenant_id))
                    .set((
                        audit_chain_checks::verified_seq.eq(seq),
                        audit_chain_checks::verified_hash.eq(hash),
                    ))
                    .execute(tx)?;
            }
            diesel::QueryResult::Ok(())
        })
    })?;
    Ok(())
}

/// The newest event a check found intact, and whether the last check found the chain
/// broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub seq: i64,
    pub hash: String,
    pub broken: bool,
}

/// The tenant's last verified position, if a check ever found its chain intact and
/// not empty.
pub fn verified_position(conn: &mut DbConnection, tenant_id: &str) -> Result<Option<Position>> {
    let row = db::scoped(conn, db::Scope::Tenant(tenant_id), |conn| {
        audit_chain_checks::table
            .find(tenant_id)
            .select((
                audit_chain_checks::verified_seq,
                audit_chain_checks::verified_hash,
                audit_chain_checks::first_bad_seq,
            ))
            .first::<(i64, String, Option<i64>)>(conn)
            .optional()
    })?;
    Ok(row
        .filter(|(seq, _, _)| *seq > 0)
        .map(|(seq, hash, bad)| Position {
            seq,
            hash,
            broken: bad.is_some(),
        }))
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
