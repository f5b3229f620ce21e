//! Password hashing: the only place bcrypt is used. bcrypt reads at most 72 bytes, so
//! longer passwords are refused rather than silently truncated.

use crate::error::{Error, Result};

pub const MIN_LEN: usize = 8;
pub const MAX_BYTES: usize = 72;

/// Checks the password policy, then hashes at `cost`.
pub fn hash(password: &str, cost: u32) -> Result<String> {
    if password.chars().count() < MIN_LEN {
        return Err(Error::Invalid("password: at least 8 characters"));
    }
    if password.len() > MAX_BYTES {
        return Err(Error::Invalid("password: at most 72 bytes"));
    }
    bcrypt::hash(password, cost).map_err(Error::internal)
}

/// Constant-work comparison of a password with a stored hash; a malformed hash is a
/// mismatch, never an error the caller could tell apart.
pub fn verify(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

/// Password hashing yields the CPU to everything else: at the lowest priority a login
/// flood gets the smallest share of the cores next to the token, key and API requests
/// (and, on the same machine, the database server), and an idle server still gives
/// logins every core. On Linux the threads run under `SCHED_IDLE`, elsewhere at the
/// lowest priority. Priority bounds the share, not the wait: a thread that wakes while
/// every core is hashing can still wait for a scheduler tick, which is why [`Hasher`]
/// also leaves cores idle while other requests are served. Best effort: where the
/// system refuses, nothing changes.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::unix::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadSchedulePolicy,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if set_thread_priority_and_policy(
            thread_native_id(),
            thread_priority::ThreadPriority::Min,
            idle,
        )
        .is_ok()
        {
            return;
        }
    }
    let _ = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min);
}

/// A bounded pool of threads that verify passwords, so a flood of logins queues here
/// (and is refused when the queue is full) instead of starving the threads that serve
/// tokens and keys.
///
/// Priorities alone do not protect other requests: a thread that has to wait for the
/// database server (another process) or for the network waits for a scheduler tick
/// when every core is busy hashing, even at the lowest priority. So while other
/// requests are being served ([`Hasher::other_work`] within [`SHARE_WINDOW`]), half of
/// the hashing threads (rounded down) pause between verifications and leave those cores
/// idle; with nothing else to do, logins get every core.
pub struct Hasher {
    jobs: std::sync::mpsc::Sender<Job>,
    /// Places for verifications running or waiting: a login takes one before anything
    /// else, so one that is refused for lack of room has reserved no attempt.
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    dummy: std::sync::Arc<str>,
    others: std::sync::Arc<OtherWork>,
}

/// A place in the hashing pool, held from admission until the verification is done
/// (dropping it gives the place back).
pub struct Slot {
    _permit: tokio::sync::OwnedSemaphorePermit,
}

type Job = Box<dyn FnOnce() + Send>;

/// How long after another request the pausing hashing threads keep pausing.
pub const SHARE_WINDOW: std::time::Duration = std::time::Duration::from_millis(20);

/// When a request other than a password check was last seen.
struct OtherWork {
    epoch: std::time::Instant,
    /// Milliseconds since `epoch`, plus one (0: never).
    last: std::sync::atomic::AtomicU64,
}

impl OtherWork {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    fn touch(&self) {
        self.last
            .store(self.now(), std::sync::atomic::Ordering::Relaxed);
    }

    fn recent(&self) -> bool {
        let last = self.last.load(std::sync::atomic::Ordering::Relaxed);
        let window = u64::try_from(SHARE_WINDOW.as_millis()).unwrap_or(u64::MAX);
        last != 0 && self.now().saturating_sub(last) < window
    }
}

impl Hasher {
    /// Starts `workers` threads with room for `queue` waiting verifications besides the
    /// running ones. The dummy hash (at the configured cost) lets an unknown account
    /// cost what a known one does.
    pub fn start(workers: usize, queue: usize, cost: u32) -> Result<Self> {
        let dummy: std::sync::Arc<str> = bcrypt::hash("tessera-dummy-password", cost)
            .map_err(Error::internal)?
            .into();
        let others = std::sync::Arc::new(OtherWork {
            epoch: std::time::Instant::now(),
            last: std::sync::atomic::AtomicU64::new(0),
        });
        // Unbounded: the slots bound what is queued.
        let (jobs, receiver) = std::sync::mpsc::channel::<Job>();
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        let workers = workers.max(1);
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(workers + queue));
        for n in 0..workers {
            let receiver = receiver.clone();
            let others = others.clone();
            // The upper half of the pool pauses while other requests are served.
            let pauses = n >= workers - workers / 2;
            std::thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        while pauses && others.recent() {
                            std::thread::sleep(SHARE_WINDOW / 4);
                        }
                        let job = match receiver.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(Error::internal)?;
        }
        Ok(Self {
            jobs,
            slots,
            dummy,
            others,
        })
    }

    /// Notes that a request other than a password check is being served.
    pub fn other_work(&self) {
        self.others.touch();
    }

    /// A place for one verification, or `Unavailable` when the pool is full. Taken
    /// before a login reserves an attempt of the account, so a refusal costs the
    /// account nothing and evaluates no password.
    pub fn admit(&self) -> Result<Slot> {
        self.slots
            .clone()
            .try_acquire_owned()
            .map(|permit| Slot { _permit: permit })
            .map_err(|_| Error::Unavailable)
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is none
    /// (then the answer is always `false`), in the place `slot` holds.
    pub async fn verify(&self, slot: Slot, password: String, hash: Option<String>) -> Result<bool> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let dummy = self.dummy.clone();
        let job: Job = Box::new(move || {
            let matched = match &hash {
                Some(hash) => verify(&password, hash),
                None => {
                    verify(&password, &dummy);
                    false
                }
            };
            drop(slot);
            let _ = tx.send(matched);
        });
        self.jobs.send(job).map_err(|_| Error::Unavailable)?;
        rx.await.map_err(|_| Error::Unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_verifies() {
        let h = hash("correct horse", 4).unwrap();
        assert!(h.starts_with("$2"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("correct horse", "not-a-hash"));
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn verifications_go_on_while_other_requests_are_served() {
        let hasher = Hasher::start(2, 8, 4).unwrap();
        let stored = hash("correct horse", 4).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Other requests all along: the upper half of the pool pauses, the rest works.
            scope.spawn(|| {
                for _ in 0..5000 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    hasher.other_work();
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            });
            hasher.other_work();
            assert!(hasher.others.recent());
            let results = block_on(async {
                let checks = (0..4).map(|n| {
                    let password = if n % 2 == 0 {
                        "correct horse"
                    } else {
                        "wrong horse"
                    };
                    let slot = hasher.admit().unwrap();
                    hasher.verify(slot, password.to_owned(), Some(stored.clone()))
                });
                futures_util::future::join_all(checks).await
            });
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let results: Vec<bool> = results.into_iter().map(Result::unwrap).collect();
            assert_eq!(results, [true, false, true, false]);
        });
        // Unknown accounts are checked against the dummy hash and never match.
        let slot = hasher.admit().unwrap();
        let unknown = block_on(hasher.verify(slot, "correct horse".to_owned(), None)).unwrap();
        assert!(!unknown);
    }

    #[test]
    fn admission_is_bounded_by_workers_and_queue() {
        let hasher = Hasher::start(1, 2, 4).unwrap();
        let held: Vec<Slot> = (0..3).map(|_| hasher.admit().unwrap()).collect();
        assert!(matches!(hasher.admit(), Err(Error::Unavailable)));
        drop(held);
        assert!(hasher.admit().is_ok());
    }

    #[test]
    fn policy() {
        assert!(matches!(hash("short", 4), Err(Error::Invalid(_))));
        assert!(matches!(hash(&"x".repeat(73), 4), Err(Error::Invalid(_))));
    }
}
