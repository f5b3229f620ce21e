//! Housekeeping: expired pending authorization requests, sessions, codes, refresh
//! tokens, known browsers, WebAuthn ceremonies and idempotency keys are deleted on a schedule, in batches of
//! short transactions. What an anonymous caller can store (a pending request) is small
//! and lives at most `login_request_ttl_secs`. The issued-token ledger and the audit log
//! are never purged here.

mod store;

use std::time::Duration;

use crate::db::{self, DbConnection};
use crate::error::Result;

/// Rows per delete.
pub const BATCH: i64 = 500;
/// Most batches per table and run, so one run always ends (the next run goes on).
const MAX_BATCHES: usize = 200;
/// Used codes are kept an hour past their expiry, so a replay within that hour still
/// revokes what was issued from the code.
const CODE_GRACE: chrono::Duration = chrono::Duration::hours(1);

/// How many rows one run deleted, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub pending_requests: usize,
    pub sessions: usize,
    pub codes: usize,
    pub refresh_tokens: usize,
    pub idempotency_keys: usize,
    pub devices: usize,
    pub ceremonies: usize,
    pub console_sessions: usize,
    pub rollups: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.pending_requests
            + self.sessions
            + self.codes
            + self.refresh_tokens
            + self.idempotency_keys
            + self.devices
            + self.ceremonies
            + self.console_sessions
            + self.rollups
    }
}

type Batch = fn(&mut DbConnection, chrono::NaiveDateTime, i64) -> diesel::QueryResult<usize>;

/// Deletes, batch by batch, one kind of row older than `before`.
fn drain(conn: &mut DbConnection, before: chrono::NaiveDateTime, batch: Batch) -> Result<usize> {
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = db::write_tx(conn, |tx| batch(tx, before, BATCH))?;
        total += n;
        if (n as i64) < BATCH {
            break;
        }
    }
    Ok(total)
}

/// One run: everything that expired before now (idempotency keys: older than
/// `idempotency_window`).
pub fn purge(conn: &mut DbConnection, idempotency_window: Duration) -> Result<Purged> {
    let now = db::now();
    let window =
        chrono::Duration::from_std(idempotency_window).unwrap_or(chrono::Duration::days(1));
    Ok(Purged {
        pending_requests: drain(conn, now, store::pending_requests)?,
        sessions: drain(conn, now, store::sessions)?,
        codes: drain(conn, now - CODE_GRACE, store::codes)?,
        refresh_tokens: drain(conn, now, store::refresh_tokens)?,
        idempotency_keys: drain(conn, now - window, store::ingest_keys)?,
        devices: drain(conn, now, store::devices)?,
        ceremonies: drain(conn, now, store::ceremonies)?,
        console_sessions: drain(conn, now, crate::console::session::purge)?,
        rollups: drain(conn, now, crate::console::stats::purge)?,
    })
}

/// One scheduled run on a pooled connection, its outcome logged (the server's
/// housekeeping thread calls it every `purge_interval_secs`).
pub fn run_once(pool: &db::Pool, idempotency_window: Duration) {
    let purged = pool
        .get()
        .map_err(crate::error::Error::from)
        .and_then(|mut conn| purge(&mut conn, idempotency_window));
    match purged {
        Ok(p) if p.total() > 0 => log::info!("housekeeping purged {p:?}"),
        Ok(_) => {}
        Err(e) => log::warn!("housekeeping skipped: {e}"),
    }
    // The console's hourly counts, ahead of the first overview that needs them.
    let settled = pool
        .get()
        .map_err(crate::error::Error::from)
        .and_then(|mut conn| crate::console::stats::settle_all(&mut conn));
    if let Err(e) = settled {
        log::warn!("counting the console's hours skipped: {e}");
    }
}
