//! The server's key upkeep: every `keys_reload` it runs scheduled rotation
//! ([`super::maintain`]) and picks up changes made by the CLI or another instance
//! ([`Keys::reload_if_changed`]), on a [`crate::periodic`] schedule.

use std::sync::Arc;
use std::time::Duration;

use super::{Keys, Policy};
use crate::audit::Origin;
use crate::db::Pool;
use crate::periodic::{every, Stop};

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
