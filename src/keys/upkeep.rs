//! The server's key upkeep: every `keys_reload` it runs scheduled rotation
//! ([`super::maintain`]) and picks up changes made by the CLI or another instance
//! ([`Keys::reload_if_changed`]). It stops as soon as its [`Stop`] is dropped.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use super::{Keys, Policy};
use crate::audit::Origin;
use crate::db::Pool;

/// Held by the thread's owner; dropping it (or sending on it) ends the thread.
pub type Stop = Receiver<()>;

/// Waits `every`, then runs `f`, until the sender of `stop` is dropped.
pub fn every(every: Duration, stop: &Stop, mut f: impl FnMut()) {
    loop {
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => f(),
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The upkeep loop; runs until `stop` ends.
pub fn run(pool: &Pool, keys: &Arc<Keys>, policy: &Policy, interval: Duration, stop: &Stop) {
    let origin = Origin::system();
    every(interval, stop, || {
        match pool.get() {
            Ok(mut conn) => {
                if let Err(e) = super::maintain(&mut conn, keys.dir(), policy, &origin) {
                    log::error!("scheduled key upkeep failed: {e}");
                }
            }
            Err(e) => log::warn!("scheduled key upkeep skipped: {e}"),
        }
        match keys.reload_if_changed() {
            Ok(true) => log::info!(
                "signing keys reloaded; active kid {}",
                keys.current().active().kid
            ),
            Ok(false) => {}
            Err(e) => log::error!("keeping the current signing keys: {e}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runs_until_the_sender_is_dropped() {
        let (tx, rx) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            let mut runs = 0;
            every(Duration::from_millis(1), &rx, || runs += 1);
            runs
        });
        std::thread::sleep(Duration::from_millis(30));
        drop(tx);
        assert!(worker.join().unwrap() > 0);
    }
}
