//! Group commit: one writer thread runs short write jobs (issuing a token: its ledger
//! row and its `token.issued` event) in batches, each job in its own savepoint, one
//! commit per batch. Every job's answer is released only after its batch commits, so
//! durability is unchanged; what is saved is one commit (and its fsync) per request.
//! Requests that arrive while a commit is in flight form the next batch by themselves:
//! there is no added waiting.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};

use diesel::Connection;

use super::{write_tx, DbConnection, Pool};
use crate::error::{Error, Result};

/// Called after the batch's commit with whether it committed.
type Completion = Box<dyn FnOnce(bool) + Send>;
type Job = Box<dyn FnOnce(&mut DbConnection) -> Completion + Send>;

/// The handle to the writer thread.
pub struct GroupWriter {
    jobs: SyncSender<Job>,
}

/// Most jobs one transaction takes.
const MAX_BATCH: usize = 128;

impl GroupWriter {
    /// Starts the writer on its own pooled connection; `queue` jobs may wait, more are
    /// refused (`Unavailable`) rather than queued without bound.
    pub fn start(pool: Pool, queue: usize) -> Result<Self> {
        let (jobs, receiver) = mpsc::sync_channel(queue);
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || writer(&pool, &receiver))
            .map_err(Error::internal)?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the next batch's transaction (inside a savepoint of its own: its
    /// failure rolls back only its own work) and answers after the commit.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T>>();
        let job: Job = Box::new(move |conn| {
            let result = conn.transaction(f);
            Box::new(move |committed| {
                let answer = match result {
                    Ok(value) if committed => Ok(value),
                    Ok(_) => Err(Error::Unavailable),
                    Err(e) => Err(e),
                };
                let _ = tx.send(answer);
            })
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                return Err(Error::Unavailable)
            }
        }
        rx.await.map_err(|_| Error::Unavailable)?
    }
}

fn writer(pool: &Pool, receiver: &Receiver<Job>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut conn = match pool.get() {
            Ok(conn) => conn,
            Err(e) => {
                // Dropping the jobs drops their answer channels: each caller gets
                // `Unavailable`.
                log::error!("group commit: no database connection: {e}");
                drop(batch);
                continue;
            }
        };
        let mut completions = Vec::with_capacity(batch.len());
        let committed = write_tx(&mut conn, |tx| {
            for job in batch {
                completions.push(job(tx));
            }
            Ok::<_, diesel::result::Error>(())
        });
        if let Err(e) = &committed {
            log::error!("group commit failed: {e}");
        }
        for completion in completions {
            completion(committed.is_ok());
        }
    }
}
