//! The bcrypt ceiling of this machine: password verifications per second at a cost, on
//! every core at once. The benchmark suite puts login throughput next to it.
//!
//! `cargo run --release --example bcrypt_ceiling -- COST SECONDS`
#![allow(clippy::expect_used)]

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let cost: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(12);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let hash = bcrypt::hash("correct horse battery", cost).expect("hash");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let _ = bcrypt::verify("wrong password", &hash);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("RESULT cost={cost} threads={threads} verifications={total} rps={rate:.1}");
}
