//! Sustained load on a real `tessera serve`, for the fault tests: threads that ingest one
//! event per request, threads that ingest batches, threads that ask for client-credentials
//! tokens. Every event carries a unique `details.n`; every answer is recorded, so a test
//! can check afterwards that each acknowledged event and each returned token is stored,
//! and that every failure was a prompt 503 with the generic body (or no answer at all,
//! while the server is down). Bounded: the threads stop when the test stops them, or
//! after five minutes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How many threads of each kind.
#[derive(Clone, Copy)]
pub struct Mix {
    pub single: usize,
    /// Threads posting arrays of [`BATCH`] events.
    pub batches: usize,
    pub tokens: usize,
}

pub const BATCH: usize = 50;

/// What the load saw.
#[derive(Default)]
pub struct Record {
    /// `details.n` of every event acknowledged with 202.
    pub acked: Vec<String>,
    /// `jti` of every token returned with 200.
    pub tokens: Vec<String>,
    /// Answers by status; 0 is no answer (connection refused or cut).
    pub statuses: BTreeMap<u16, usize>,
    /// Every answer that was neither a success nor a 503 with the generic body.
    pub unexpected: Vec<String>,
    /// The slowest answer that was not a success.
    pub slowest_failure: Duration,
    /// When each success arrived.
    pub successes: Vec<Instant>,
}

impl Record {
    /// The longest time without a success in `[from, until)`, counting from `from`:
    /// the time to recover from a fault at `from`.
    pub fn longest_gap(&self, from: Instant, until: Instant) -> Duration {
        let mut times: Vec<Instant> = self
            .successes
            .iter()
            .copied()
            .filter(|t| *t >= from && *t < until)
            .collect();
        times.sort();
        let mut gap = times.first().map_or(Duration::ZERO, |t| *t - from);
        for pair in times.windows(2) {
            gap = gap.max(pair[1] - pair[0]);
        }
        gap
    }

    /// Successes after `from`.
    pub fn successes_since(&self, from: Instant) -> usize {
        self.successes.iter().filter(|t| **t >= from).count()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} events acknowledged, {} tokens, answers {:?}, slowest failure {:?}",
            self.acked.len(),
            self.tokens.len(),
            self.statuses,
            self.slowest_failure
        )
    }
}

pub struct Load {
    stop: Arc<AtomicBool>,
    target: Arc<Mutex<String>>,
    record: Arc<Mutex<Record>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts the load against `base` (`http://host:port`) with an `audit:write` access
    /// token and the `client:secret` pair of a client-credentials client.
    pub fn start(base: &str, access: &str, client: (&str, &str), mix: Mix) -> Self {
        use base64::Engine;
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.0, client.1));
        let load = Self {
            stop: Arc::default(),
            target: Arc::new(Mutex::new(base.to_owned())),
            record: Arc::default(),
            threads: Vec::new(),
        };
        let mut threads = Vec::new();
        let kinds = std::iter::repeat_n(Kind::Single, mix.single)
            .chain(std::iter::repeat_n(Kind::Batch, mix.batches))
            .chain(std::iter::repeat_n(Kind::Token, mix.tokens));
        for (index, kind) in kinds.enumerate() {
            let worker = Worker {
                index,
                kind,
                access: access.to_owned(),
                basic: basic.clone(),
                stop: load.stop.clone(),
                target: load.target.clone(),
                record: load.record.clone(),
            };
            threads.push(std::thread::spawn(move || worker.run()));
        }
        Self { threads, ..load }
    }

    /// Points the load at another server (a restarted one).
    pub fn retarget(&self, base: &str) {
        *self.target.lock().unwrap() = base.to_owned();
    }

    /// A snapshot of what the load saw so far (successes only, for progress checks).
    pub fn successes(&self) -> usize {
        self.record.lock().unwrap().successes.len()
    }

    /// Stops every thread (each finishes its request in flight) and returns the record.
    pub fn stop(self) -> Record {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.record.lock().unwrap())
    }

    /// Waits (bounded) until `more` further successes were seen.
    pub fn wait_for_successes(&self, more: usize, limit: Duration) {
        let target = self.successes() + more;
        let deadline = Instant::now() + limit;
        while self.successes() < target {
            assert!(
                Instant::now() < deadline,
                "the load made no progress in {limit:?}: {}",
                self.record.lock().unwrap().summary()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Single,
    Batch,
    Token,
}

struct Worker {
    index: usize,
    kind: Kind,
    access: String,
    basic: String,
    stop: Arc<AtomicBool>,
    target: Arc<Mutex<String>>,
    record: Arc<Mutex<Record>>,
}

impl Worker {
    fn run(self) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut i = 0usize;
        while !self.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            i += 1;
            let base = self.target.lock().unwrap().clone();
            let started = Instant::now();
            let (names, result) = match self.kind {
                Kind::Single | Kind::Batch => {
                    let count = if matches!(self.kind, Kind::Single) {
                        1
                    } else {
                        BATCH
                    };
                    let names: Vec<String> = (0..count)
                        .map(|k| format!("{}-{i}-{k}", self.index))
                        .collect();
                    let events: Vec<Value> = names
                        .iter()
                        .map(|n| json!({ "action": "load.event", "outcome": "success", "details": { "n": n } }))
                        .collect();
                    let body = if count == 1 {
                        events[0].clone()
                    } else {
                        Value::from(events)
                    };
                    let result = agent
                        .post(format!("{base}/api/v1/audit/events"))
                        .header("authorization", format!("Bearer {}", self.access))
                        .header("content-type", "application/json")
                        .send(body.to_string());
                    (names, result)
                }
                Kind::Token => (
                    Vec::new(),
                    agent
                        .post(format!("{base}/token"))
                        .header("authorization", format!("Basic {}", self.basic))
                        .send_form([("grant_type", "client_credentials")]),
                ),
            };
            let took = started.elapsed();
            let (status, body) = match result {
                Ok(mut res) => (
                    res.status().as_u16(),
                    res.body_mut().read_to_string().unwrap_or_default(),
                ),
                Err(_) => (0, String::new()),
            };
            let mut record = self.record.lock().unwrap();
            *record.statuses.entry(status).or_default() += 1;
            match (self.kind, status) {
                (Kind::Single | Kind::Batch, 202) => {
                    record.acked.extend(names);
                    record.successes.push(Instant::now());
                }
                (Kind::Token, 200) => {
                    let jti = jti(&body).unwrap_or_else(|| panic!("a 200 without a token: {body}"));
                    record.tokens.push(jti);
                    record.successes.push(Instant::now());
                }
                (_, 0) => record.slowest_failure = record.slowest_failure.max(took),
                (_, 503) if generic_503(&body) => {
                    record.slowest_failure = record.slowest_failure.max(took);
                }
                _ => record.unexpected.push(format!("{status} {body}")),
            }
            drop(record);
            if status != 202 && status != 200 {
                // Give a server that is down a moment rather than spinning.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The generic 503 body: an error code, a fixed description, a request id; nothing else.
fn generic_503(body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let Some(fields) = v.as_object() else {
        return false;
    };
    let known = fields
        .keys()
        .all(|k| ["error", "error_description", "request_id"].contains(&k.as_str()));
    known
        && matches!(
            v["error"].as_str(),
            Some("unavailable" | "temporarily_unavailable")
        )
        && v["request_id"].is_string()
}

/// The `jti` of the access token in a token response.
fn jti(body: &str) -> Option<String> {
    use base64::Engine;
    let v: Value = serde_json::from_str(body).ok()?;
    let token = v["access_token"].as_str()?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["jti"].as_str().map(str::to_owned)
}
