//! Group commit: one writer thread runs the short audited writes of concurrent requests
//! (issued tokens, ingested events, revocations; on SQLite code exchanges and refreshes)
//! in one transaction: one commit and one fsync for the whole batch instead of one each.
//! Requests that arrive while a commit is in flight form the next batch by themselves:
//! there is no added waiting. Every request is answered only after its batch commits,
//! so durability is unchanged.
//!
//! A job is either *buffered* — it only adds rows to the batch's context `B` (events
//! and ledger rows, linked and written with one bulk insert per tenant when the batch
//! is flushed) — or *direct*: it writes through the connection itself, inside a
//! savepoint of its own, after the buffer is flushed (so that it reads current chain
//! heads). A direct job that fails is rolled back to its savepoint and answered with
//! its own error; the rest of the batch commits. Only a failure of the batch's own
//! statements (its commit, a lost connection) fails every job of it, which are then
//! answered `Unavailable`: nothing of theirs was committed, and a retry is safe.

use std::sync::mpsc::{self, Receiver, SyncSender};

use diesel::connection::{Connection, TransactionManager};

use super::{DbConnection, Pool};
use crate::error::{Error, Result};

/// Most jobs one transaction takes.
const MAX_JOBS: usize = 256;
/// Most rows (events, ledger rows) one batch's jobs add (buffered, and direct ones
/// that say how many they write).
const MAX_WEIGHT: usize = 20_000;
/// Most direct jobs (savepoints) per transaction. A PostgreSQL backend caches the ids
/// of 64 subtransactions per transaction; past that, every other session's snapshots
/// consult `pg_subtrans`, which slows the whole server down.
const MAX_DIRECT: usize = 48;

/// The state a batch's buffered jobs share: written by [`Batch::flush`] before each
/// direct job and before the commit.
pub trait Batch: Send + 'static {
    /// Writes what is buffered.
    fn flush(&mut self, tx: &mut DbConnection) -> Result<()>;
    /// The batch ended (committed or not) and every job was answered: drops what was
    /// buffered, and after a failure whatever was cached from the database.
    fn end(&mut self, committed: bool);
}

/// One request's work in a batch.
pub trait Job<B>: Send {
    /// Rows it buffers (bounds a batch's size).
    fn weight(&self) -> usize {
        1
    }
    /// Whether it writes through the connection (in a savepoint of its own).
    fn direct(&self) -> bool;
    /// Whether its request stopped waiting (its deadline passed and it was answered
    /// 503): such a job is skipped, so that a retry of the request does not find it
    /// done (a refresh token used, a code redeemed, an event stored twice).
    fn abandoned(&self) -> bool {
        false
    }
    /// Runs in the batch's transaction; returns whether it succeeded (a direct job
    /// that failed is rolled back to its savepoint). The outcome is kept for
    /// [`Job::answer`].
    fn run(&mut self, tx: &mut DbConnection, batch: &mut B) -> bool;
    /// Answers the request once the batch committed (`committed`) or failed.
    fn answer(self: Box<Self>, committed: bool, batch: &B);
}

/// The handle to the writer thread.
pub struct Writer<B> {
    jobs: SyncSender<Box<dyn Job<B>>>,
}

impl<B: Batch> Writer<B> {
    /// Starts the writer on its own pooled connection. At most `queue` jobs wait; more
    /// are refused (`Unavailable`) rather than queued without bound.
    pub fn start(pool: Pool, queue: usize, batch: B) -> Result<Self> {
        let (jobs, receiver) = mpsc::sync_channel(queue);
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || writer(&pool, &receiver, batch))
            .map_err(Error::internal)?;
        Ok(Self { jobs })
    }

    /// Queues a job (which answers through its own channel).
    pub fn submit(&self, job: Box<dyn Job<B>>) -> Result<()> {
        self.jobs.try_send(job).map_err(|_| Error::Unavailable)
    }

    /// Runs `f` in the next batch's transaction, in a savepoint of its own, and returns
    /// its result once that batch has committed. `f` must not open a transaction of its
    /// own ([`super::write_tx`]): it is inside one.
    pub async fn run<R, E>(
        &self,
        f: impl FnOnce(&mut DbConnection) -> std::result::Result<R, E> + Send + 'static,
    ) -> std::result::Result<R, E>
    where
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        self.run_weighted(1, f).await
    }

    /// [`Writer::run`] for work that writes about `weight` rows (counted against the
    /// batch's [`MAX_WEIGHT`], so that one transaction stays short).
    pub async fn run_weighted<R, E>(
        &self,
        weight: usize,
        f: impl FnOnce(&mut DbConnection) -> std::result::Result<R, E> + Send + 'static,
    ) -> std::result::Result<R, E>
    where
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.submit(Box::new(Direct {
            weight: weight.max(1),
            f: Some(f),
            outcome: None,
            done,
        }))?;
        match crate::deadline::bound(answer).await? {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Unavailable.into()),
        }
    }
}

/// A closure run in the batch's transaction.
struct Direct<F, R, E> {
    weight: usize,
    f: Option<F>,
    outcome: Option<std::result::Result<R, E>>,
    done: tokio::sync::oneshot::Sender<std::result::Result<R, E>>,
}

impl<B, F, R, E> Job<B> for Direct<F, R, E>
where
    F: FnOnce(&mut DbConnection) -> std::result::Result<R, E> + Send,
    R: Send,
    E: From<Error> + Send,
{
    fn weight(&self) -> usize {
        self.weight
    }

    fn direct(&self) -> bool {
        true
    }

    fn abandoned(&self) -> bool {
        self.done.is_closed()
    }

    fn run(&mut self, tx: &mut DbConnection, _: &mut B) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let outcome = f(tx);
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, committed: bool, _: &B) {
        let answer = match self.outcome {
            Some(Ok(value)) if committed => Ok(value),
            Some(Err(e)) => Err(e),
            _ => Err(Error::Unavailable.into()),
        };
        let _ = self.done.send(answer);
    }
}

fn writer<B: Batch>(pool: &Pool, receiver: &Receiver<Box<dyn Job<B>>>, mut batch: B) {
    // The writer keeps one connection while it works, and takes a new one after an
    // error (a broken connection is not returned to the pool).
    let mut held: Option<super::PooledConnection> = None;
    let mut carried: Option<Box<dyn Job<B>>> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut weight = first.weight();
        let mut direct = usize::from(first.direct());
        let mut jobs = vec![first];
        while jobs.len() < MAX_JOBS && weight < MAX_WEIGHT {
            let Ok(job) = receiver.try_recv() else { break };
            if direct + usize::from(job.direct()) > MAX_DIRECT || weight + job.weight() > MAX_WEIGHT
            {
                carried = Some(job);
                break;
            }
            weight += job.weight();
            direct += usize::from(job.direct());
            jobs.push(job);
        }
        log::trace!("group commit: {} jobs", jobs.len());
        crate::metrics::group_commit(jobs.len());
        let committed = match held.take().map_or_else(|| pool.get(), Ok) {
            Ok(mut conn) => {
                let result = run_batch(&mut conn, &mut jobs, &mut batch);
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
        for job in jobs {
            job.answer(committed.is_ok(), &batch);
        }
        batch.end(committed.is_ok());
    }
}

/// One transaction over `jobs`.
fn run_batch<B: Batch>(
    conn: &mut DbConnection,
    jobs: &mut [Box<dyn Job<B>>],
    batch: &mut B,
) -> Result<()> {
    super::write_tx(conn, |tx| {
        for job in jobs.iter_mut() {
            if job.abandoned() {
                continue;
            }
            if !job.direct() {
                run_job(job, tx, batch);
                continue;
            }
            batch.flush(tx)?;
            // Each direct job starts with no row-level security scope: neither the
            // flush's (the last tenant it wrote) nor an earlier job's.
            super::reset_scopes(tx)?;
            <DbConnection as Connection>::TransactionManager::begin_transaction(tx)?;
            if run_job(job, tx, batch) {
                <DbConnection as Connection>::TransactionManager::commit_transaction(tx)?;
            } else {
                <DbConnection as Connection>::TransactionManager::rollback_transaction(tx)?;
            }
        }
        batch.flush(tx)
    })
}

/// Runs one job; a job that panics has failed (the writer thread lives on).
fn run_job<B: Batch>(job: &mut Box<dyn Job<B>>, tx: &mut DbConnection, batch: &mut B) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(tx, batch))).unwrap_or_else(
        |_| {
            log::error!("group commit: a job panicked");
            false
        },
    )
}
