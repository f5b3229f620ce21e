//! Background work on a schedule: a loop that runs a job every interval on its own
//! thread and ends as soon as its owner drops the other end of the channel (no polling
//! of a stop flag). Key upkeep and housekeeping run this way.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// The receiving end of a thread's stop channel; dropping the sender ends the loop.
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
