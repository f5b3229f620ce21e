//! Group commit: one writer thread gathers the records of concurrent requests (the
//! ledger row and `token.issued` event of each token issued) and writes a whole batch
//! with bulk inserts in one atomic write: one commit, one fsync, one statement (on
//! PostgreSQL, see `tokens::record_batch`) or a few per batch instead of several per
//! request. Every request's answer is released only
//! after its batch commits, so durability is unchanged. Requests that arrive while a
//! commit is in flight form the next batch by themselves: there is no added waiting.

use std::sync::mpsc::{self, Receiver, SyncSender};

use super::{DbConnection, Pool};
use crate::error::{Error, Result};

/// Most records one transaction takes.
const MAX_BATCH: usize = 256;

type Item<T> = (T, tokio::sync::oneshot::Sender<bool>);

/// The handle to the writer thread.
pub struct BatchWriter<T> {
    items: SyncSender<Item<T>>,
}

impl<T: Send + 'static> BatchWriter<T> {
    /// Starts the writer on its own pooled connections. `flush` writes one batch
    /// atomically (it runs the batch's transaction, or a single statement). At most
    /// `queue` records wait; more are refused (`Unavailable`) rather than queued without
    /// bound.
    pub fn start(
        pool: Pool,
        queue: usize,
        flush: impl FnMut(&mut DbConnection, Vec<T>) -> Result<()> + Send + 'static,
    ) -> Result<Self> {
        let (items, receiver) = mpsc::sync_channel(queue);
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || writer(&pool, &receiver, flush))
            .map_err(Error::internal)?;
        Ok(Self { items })
    }

    /// Hands one record to the next batch; returns once that batch has committed.
    pub async fn submit(&self, item: T) -> Result<()> {
        let (done, committed) = tokio::sync::oneshot::channel();
        self.items
            .try_send((item, done))
            .map_err(|_| Error::Unavailable)?;
        match crate::deadline::bound(committed).await? {
            Ok(true) => Ok(()),
            _ => Err(Error::Unavailable),
        }
    }
}

fn writer<T>(
    pool: &Pool,
    receiver: &Receiver<Item<T>>,
    mut flush: impl FnMut(&mut DbConnection, Vec<T>) -> Result<()>,
) {
    // The writer keeps one connection while it works, and takes a new one after an
    // error (a broken connection is not returned to the pool).
    let mut held: Option<super::PooledConnection> = None;
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        log::trace!("group commit: {} records", batch.len());
        crate::metrics::group_commit(batch.len());
        let (records, answers): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
        let conn = match held.take() {
            Some(conn) => Ok(conn),
            None => pool.get(),
        };
        let committed = match conn {
            Ok(mut conn) => {
                let result = flush(&mut conn, records);
                if result.is_ok() {
                    held = Some(conn);
                }
                result
            }
            Err(e) => Err(e.into()),
        };
        if let Err(e) = &committed {
            log::error!("group commit failed: {e}");
        }
        for answer in answers {
            let _ = answer.send(committed.is_ok());
        }
    }
}
