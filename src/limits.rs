//! Bounded resources under any input. Long reads (audit exports and chain
//! verification, which walk whole logs for as long as their reader takes) run on
//! threads and a database pool of their own, a few at a time overall and per caller,
//! so logins, tokens and keys never wait behind them; an export whose reader stops
//! reading is abandoned after [`STALL`]. Request bodies of audit ingestion are admitted
//! against a global memory budget as they arrive, and must arrive within
//! [`BODY_WITHIN`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::db::Pool;
use crate::error::{Error, Result};

/// Long reads at once, overall (also the size of their pool) and per caller.
pub const LONG_READS: usize = 2;
pub const LONG_READS_PER_CALLER: usize = 1;
/// How long an export waits for its reader to take the next chunk before giving up.
pub const STALL: Duration = Duration::from_secs(30);
/// How long a client may take to send an ingestion body.
pub const BODY_WITHIN: Duration = Duration::from_secs(15);

/// Admission of long reads.
pub struct LongReads {
    /// Connections of their own: a stalled export holds one of these, never one of the
    /// main pool's.
    pub pool: Pool,
    slots: Arc<Semaphore>,
    callers: Arc<Mutex<HashMap<String, usize>>>,
}

/// One admitted long read; dropping it frees its places.
pub struct LongRead {
    _slot: OwnedSemaphorePermit,
    caller: String,
    callers: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for LongRead {
    fn drop(&mut self) {
        let mut callers = self
            .callers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = callers.get_mut(&self.caller) {
            *n -= 1;
            if *n == 0 {
                callers.remove(&self.caller);
            }
        }
    }
}

impl LongReads {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            slots: Arc::new(Semaphore::new(LONG_READS)),
            callers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A place for one long read of `caller`, at once or not at all: `TooManyRequests`
    /// when the caller already has its share, `Unavailable` when every place is taken.
    pub fn admit(&self, caller: &str) -> Result<LongRead> {
        let mut callers = self
            .callers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mine = callers.get(caller).copied().unwrap_or(0);
        if mine >= LONG_READS_PER_CALLER {
            return Err(Error::TooManyRequests);
        }
        let slot = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Unavailable)?;
        callers.insert(caller.to_owned(), mine + 1);
        Ok(LongRead {
            _slot: slot,
            caller: caller.to_owned(),
            callers: self.callers.clone(),
        })
    }
}

/// The memory budget of request bodies in flight, in KiB.
pub struct BodyBudget {
    kib: Arc<Semaphore>,
}

/// Memory reserved for one body; dropping it gives the memory back to the budget.
pub struct Reserved(Option<OwnedSemaphorePermit>);

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            kib: Arc::new(Semaphore::new((bytes / 1024).max(1))),
        }
    }

    /// Reads a body chunk by chunk, reserving memory for each before keeping it:
    /// `TooLarge` past `max`, `Unavailable` when the budget is spent (the body is not
    /// read further), `RequestTimeout` when it takes longer than [`BODY_WITHIN`].
    pub async fn read<S, E>(&self, mut body: S, max: usize) -> Result<(bytes::BytesMut, Reserved)>
    where
        S: futures_util::Stream<Item = std::result::Result<bytes::Bytes, E>> + Unpin,
    {
        use futures_util::StreamExt;
        let read = async {
            let mut out = bytes::BytesMut::new();
            let mut reserved = Reserved(None);
            let mut reserved_kib = 0usize;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|_| Error::Invalid("request body"))?;
                if out.len() + chunk.len() > max {
                    return Err(Error::TooLarge);
                }
                let needed_kib = (out.len() + chunk.len()).div_ceil(1024);
                if needed_kib > reserved_kib {
                    let more =
                        u32::try_from(needed_kib - reserved_kib).map_err(|_| Error::TooLarge)?;
                    let permit = self
                        .kib
                        .clone()
                        .try_acquire_many_owned(more)
                        .map_err(|_| Error::Unavailable)?;
                    match &mut reserved.0 {
                        Some(held) => held.merge(permit),
                        None => reserved.0 = Some(permit),
                    }
                    reserved_kib = needed_kib;
                }
                out.extend_from_slice(&chunk);
            }
            Ok((out, reserved))
        };
        tokio::time::timeout(BODY_WITHIN, read)
            .await
            .map_err(|_| Error::RequestTimeout)?
    }
}
