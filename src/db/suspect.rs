//! Whether the database failed recently. A failover or a restarted server leaves the
//! pool holding connections that are cut or that point at a node which became read-only;
//! r2d2 would hand each out once more before noticing. Checking every connection before
//! use costs a round trip per request, so the check runs only while the database is
//! suspect: for [`WINDOW`] after any error that means "unavailable" (see
//! `crate::error::is_outage`), each connection is tested at check-out (still reachable,
//! not in recovery, writable) and replaced when it fails. Otherwise a check-out costs
//! one atomic load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long after the last outage error connections are tested before use.
pub const WINDOW: Duration = Duration::from_secs(30);

/// Milliseconds since [`base`] of the last outage error, plus one (0: never).
static LAST: AtomicU64 = AtomicU64::new(0);

fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(base().elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
}

/// Records that the database just failed in a way a fresh connection may cure.
pub fn note() {
    LAST.store(now_ms(), Ordering::Relaxed);
}

/// Whether an outage error was seen within [`WINDOW`].
pub fn recent() -> bool {
    let last = LAST.load(Ordering::Relaxed);
    last != 0 && now_ms().saturating_sub(last) <= WINDOW.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_makes_the_database_suspect() {
        note();
        assert!(recent());
    }
}
