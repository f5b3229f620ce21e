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

/// Keeps `verification` as its tenant's last check, and the position it found intact,
/// unless another check was recorded since this one read `start` (the stored state when
/// it began): then a broken finding is still recorded (its outcome only), and an
/// intact one is dropped. A slow check can thus neither move the position back, nor
/// over one it did not see, nor clear a newer finding that the chain is broken.
pub fn record(
    conn: &mut DbConnection,
    verification: &Verification,
    start: Option<&Position>,
) -> Result<()> {
    let row = Outcome {
        tenant_id: verification.tenant_id.clone(),
        checked_at: db::now(),
        from_seq: verification.from_seq,
        events: verification.events,
        head_seq: verification.head_seq,
        first_bad_seq: verification.first_bad_seq,
        problem: verification.problem.map(str::to_owned),
    };
    let broken = !verification.is_intact();
    db::write_tx(conn, |tx| {
        db::scoped(tx, db::Scope::Tenant(&row.tenant_id), |tx| {
            use audit_chain_checks::dsl as c;
            // Claim the row as it was when the check began (compare and swap).
            let claimed = match start {
                None => match tx {
                    db::DbConnection::Sqlite(t) => diesel::insert_into(c::audit_chain_checks)
                        .values(&row)
                        .on_conflict_do_nothing()
                        .execute(t),
                    db::DbConnection::Postgres(t) => diesel::insert_into(c::audit_chain_checks)
                        .values(&row)
                        .on_conflict_do_nothing()
                        .execute(t),
                }?,
                Some(p) => {
                    let unchanged = diesel::update(c::audit_chain_checks)
                        .filter(c::tenant_id.eq(&row.tenant_id))
                        .filter(c::verified_seq.eq(p.seq))
                        .filter(c::verified_hash.eq(&p.hash));
                    if p.broken {
                        unchanged
                            .filter(c::first_bad_seq.is_not_null())
                            .set(&row)
                            .execute(tx)?
                    } else {
                        unchanged
                            .filter(c::first_bad_seq.is_null())
                            .set(&row)
                            .execute(tx)?
                    }
                }
            };
            if claimed == 0 {
                // Another check was recorded meanwhile.
                if broken {
                    diesel::update(c::audit_chain_checks.find(&row.tenant_id))
                        .set(&row)
                        .execute(tx)?;
                }
                return diesel::QueryResult::Ok(());
            }
            if let Some((seq, hash)) = &verification.verified {
                diesel::update(c::audit_chain_checks.find(&row.tenant_id))
                    .set((c::verified_seq.eq(seq), c::verified_hash.eq(hash)))
                    .execute(tx)?;
            }
            Ok(())
        })
    })?;
    Ok(())
}

/// The stored state of a tenant's checks: the newest event a check found intact (seq 0
/// and the genesis hash when none), and whether the last check found the chain broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub seq: i64,
    pub hash: String,
    pub broken: bool,
}

/// The tenant's stored check state, if it was ever checked.
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
    Ok(row.map(|(seq, hash, bad)| Position {
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
