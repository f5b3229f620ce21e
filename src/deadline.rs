//! The deadline of the request being served. Every wait on the database — a handler's
//! blocking work, the group-commit writer — ends by it, so a database that hangs (a
//! frozen server, a stalled disk, a half-dead host) makes a request answer 503 after
//! `db_timeout_secs` plus a small margin, instead of holding it for as long as the
//! database hangs.

use std::future::Future;

use tokio::time::Instant;

use crate::error::{Error, Result};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `future` (a request being served) with `deadline` as its deadline.
pub async fn scope<F: Future>(deadline: Instant, future: F) -> F::Output {
    DEADLINE.scope(deadline, future).await
}

/// Awaits `future` until the current request's deadline; outside a request (start-up,
/// background work, the command line) without one.
pub async fn bound<F: Future>(future: F) -> Result<F::Output> {
    match DEADLINE.try_with(|deadline| *deadline) {
        Ok(deadline) => tokio::time::timeout_at(deadline, future)
            .await
            .map_err(|_| Error::outage("the request's deadline passed waiting for the database")),
        Err(_) => Ok(future.await),
    }
}
