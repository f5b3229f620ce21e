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
/// flood uses only what the token, key and API requests (and, on the same machine, the
/// database server) leave idle, and an idle server still gives logins every core. On
/// Linux the threads run under `SCHED_IDLE`, which any other runnable thread preempts
/// at once (a niced thread keeps its time slice); elsewhere at the lowest priority.
/// Best effort: where the system refuses, nothing changes.
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
pub struct Hasher {
    jobs: std::sync::mpsc::SyncSender<Job>,
    dummy: std::sync::Arc<str>,
}

type Job = Box<dyn FnOnce() + Send>;

impl Hasher {
    /// Starts `workers` threads with room for `queue` waiting verifications. The dummy
    /// hash (at the configured cost) lets an unknown account cost what a known one does.
    pub fn start(workers: usize, queue: usize, cost: u32) -> Result<Self> {
        let dummy: std::sync::Arc<str> = bcrypt::hash("tessera-dummy-password", cost)
            .map_err(Error::internal)?
            .into();
        let (jobs, receiver) = std::sync::mpsc::sync_channel::<Job>(queue);
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for n in 0..workers.max(1) {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || {
                    lower_priority();
                    loop {
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
        Ok(Self { jobs, dummy })
    }

    /// Verifies `password` against `hash`, or against the dummy hash when there is none
    /// (then the answer is always `false`). `Unavailable` when the queue is full.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool> {
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
            let _ = tx.send(matched);
        });
        self.jobs.try_send(job).map_err(|_| Error::Unavailable)?;
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

    #[test]
    fn policy() {
        assert!(matches!(hash("short", 4), Err(Error::Invalid(_))));
        assert!(matches!(hash(&"x".repeat(73), 4), Err(Error::Invalid(_))));
    }
}
