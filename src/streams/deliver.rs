//! The delivery worker: at least once and in order per tenant, from the audit table as
//! the outbox. Each instance runs one supervisor thread; for every active stream whose
//! database lease it takes, a thread of its own delivers, so a slow or dead receiver
//! holds up only its stream and never a request (nothing here runs on the HTTP
//! workers, and no connection is held while a request is in flight).
//!
//! Per stream and tenant the position row keeps the last acknowledged `seq`. A batch's
//! end is written before it is sent, so a retry (after a failure, a restart or a crash)
//! resends exactly that batch with the same `webhook-id`; only a 2xx moves the
//! position, and only while this instance still holds the lease. Nothing acknowledged
//! is sent again in normal operation, and nothing is ever skipped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::client::{backoff, Delivery, Poster};
use super::store::{self, Health, Position, StreamRow};
use super::{sign, Format};
use crate::audit::{self, AuditRow};
use crate::config::StreamSettings;
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::periodic::Stop;
use crate::state::AppState;

/// A lease lasts this much longer than one request may take: a delivery renews it
/// before each request, and after a crash another instance takes over once it expires.
const LEASE_MARGIN: Duration = Duration::from_secs(10);
/// How often idle streams look for new events, and the supervisor for new streams.
const POLL: Duration = Duration::from_millis(500);
/// The first retry's wait; each further failure doubles it, up to `stream_retry_max`.
const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// Runs the supervisor until `stop`'s sender is dropped; then stops every delivery and
/// gives their leases up, so another instance takes over at once.
pub fn run(state: &AppState, stop: &Stop) {
    let owner = uuid::Uuid::new_v4().to_string();
    let settings = &state.config.streams;
    let poster = Arc::new(Poster::new(
        super::destination::Policy {
            allow_private: settings.allow_private,
        },
        settings.timeout,
    ));
    let mut running: HashMap<String, (std::thread::JoinHandle<()>, Arc<AtomicBool>)> =
        HashMap::new();
    crate::periodic::every(POLL, stop, || {
        running.retain(|_, (handle, _)| !handle.is_finished());
        let Ok(mut conn) = state.pool.get() else {
            return;
        };
        let Ok(ids) = store::deliverable(&mut conn, &owner, db::now()) else {
            return;
        };
        for id in ids {
            if running.contains_key(&id) {
                continue;
            }
            let now = db::now();
            match store::take_lease(&mut conn, &id, &owner, now, now + lease(settings)) {
                Ok(true) => {}
                _ => continue,
            }
            let flag = Arc::new(AtomicBool::new(false));
            let worker = Worker {
                state: state.clone(),
                owner: owner.clone(),
                id: id.clone(),
                poster: Arc::clone(&poster),
                stop: Arc::clone(&flag),
            };
            match std::thread::Builder::new()
                .name("stream".into())
                .spawn(move || worker.run())
            {
                Ok(handle) => {
                    running.insert(id, (handle, flag));
                }
                Err(e) => log::warn!("cannot start a stream delivery: {e}"),
            }
        }
        if let Ok(all) = store::list(&mut conn, None) {
            let count = |state: &str| all.iter().filter(|r| r.state == state).count() as i64;
            crate::metrics::stream_states(&[
                ("active", count("active")),
                ("paused", count("paused")),
                ("suspended", count("suspended")),
            ]);
        }
    });
    for (_, flag) in running.values() {
        flag.store(true, Ordering::Relaxed);
    }
    for (id, (handle, _)) in running {
        let _ = handle.join();
        if let Ok(mut conn) = state.pool.get() {
            let _ = store::release_lease(&mut conn, &id, &owner);
        }
    }
}

/// How long a lease lasts without renewal: twice the request timeout and a margin.
fn lease(settings: &StreamSettings) -> chrono::Duration {
    chrono::Duration::from_std(settings.timeout * 2 + LEASE_MARGIN)
        .unwrap_or(chrono::Duration::minutes(10))
}

struct Worker {
    state: AppState,
    owner: String,
    id: String,
    poster: Arc<Poster>,
    stop: Arc<AtomicBool>,
}

/// What one step did.
enum Step {
    /// Delivered (or tried): look again at once.
    Busy,
    /// Nothing to send, or waiting for a retry.
    Idle,
    /// The stream is no longer this instance's to deliver.
    Done,
}

impl Worker {
    fn run(self) {
        let mut next_tenant = 0usize;
        while !self.stop.load(Ordering::Relaxed) {
            match self.step(&mut next_tenant) {
                Ok(Step::Busy) => {}
                Ok(Step::Idle) => self.pause(POLL),
                Ok(Step::Done) => return,
                Err(e) => {
                    log::warn!("stream {}: delivery step failed: {e}", self.id);
                    self.pause(POLL * 2);
                }
            }
        }
    }

    /// Sleeps, waking early when asked to stop.
    fn pause(&self, total: Duration) {
        let slice = Duration::from_millis(50);
        let mut left = total;
        while !left.is_zero() && !self.stop.load(Ordering::Relaxed) {
            let nap = left.min(slice);
            std::thread::sleep(nap);
            left = left.saturating_sub(nap);
        }
    }

    fn step(&self, next_tenant: &mut usize) -> Result<Step> {
        let settings = &self.state.config.streams;
        let mut conn = self.state.pool.get()?;
        let now = db::now();
        if !store::take_lease(&mut conn, &self.id, &self.owner, now, now + lease(settings))? {
            return Ok(Step::Done);
        }
        let Some(row) = store::find(&mut conn, None, &self.id)? else {
            return Ok(Step::Done);
        };
        if row.state != "active" {
            return Ok(Step::Done);
        }
        if row.next_attempt_at.is_some_and(|at| at > now) {
            return Ok(Step::Idle);
        }
        let tenants: Vec<String> = match &row.tenant_id {
            Some(t) => vec![t.clone()],
            None => crate::tenants::list(&mut conn)?
                .into_iter()
                .map(|t| t.id)
                .collect(),
        };
        let mut lag = 0i64;
        let mut work = None;
        for offset in 0..tenants.len() {
            let tenant = &tenants[(*next_tenant + offset) % tenants.len()];
            let position = store::position(&mut conn, &row.id, tenant, now)?;
            let head = audit::store::head(&mut conn, tenant)?.map_or(0, |(seq, _)| seq);
            lag += (head - position.acked_seq).max(0);
            if work.is_none() {
                if let Some(batch) = plan(&position, head, settings, now) {
                    *next_tenant = (*next_tenant + offset + 1) % tenants.len();
                    work = Some((position, batch));
                }
            }
        }
        crate::metrics::stream_lag(&row.id, lag);
        let Some((position, batch)) = work else {
            return Ok(Step::Idle);
        };
        if batch.end > position.acked_seq && position.pending_until != Some(batch.end) {
            store::set_pending(&mut conn, &row.id, &position.tenant_id, batch.end)?;
        }
        let message = self.message(&mut conn, &row, &position, &batch)?;
        drop(conn);
        let delivery = self.send(&row, &message);
        let mut conn = self.state.pool.get()?;
        match delivery {
            Delivery::Acknowledged => {
                let acked = Position {
                    acked_seq: message.last_seq,
                    pending_until: None,
                    checkpoint_seq: if message.checkpoint {
                        message.last_seq
                    } else {
                        position.checkpoint_seq
                    },
                    checkpoint_at: if message.checkpoint {
                        now
                    } else {
                        position.checkpoint_at
                    },
                    ..position
                };
                let owner = self.owner.as_str();
                if !db::write_tx(&mut conn, |tx| store::acknowledge(tx, &acked, owner))? {
                    return Ok(Step::Done);
                }
                if let Some(since) = row.failing_since {
                    let recorded = store::set_health(
                        &mut conn,
                        &row.id,
                        &self.owner,
                        &Health {
                            failing_since: None,
                            attempts: 0,
                            next_attempt_at: None,
                            last_error: None,
                        },
                    )?;
                    if !recorded {
                        return Ok(Step::Done);
                    }
                    super::record_run(
                        &mut conn,
                        &row,
                        "stream.delivery_recovered",
                        serde_json::json!({
                            "attempts": row.attempts,
                            "failing_since": db::format_utc(&since),
                        }),
                    )?;
                }
                Ok(Step::Busy)
            }
            Delivery::Gone => {
                super::suspend(
                    &mut conn,
                    &row,
                    &self.owner,
                    "the receiver answered 410 Gone",
                )?;
                Ok(Step::Done)
            }
            Delivery::Retry {
                status,
                retry_after,
                reason,
            } => {
                let reason = match status {
                    Some(status) => format!("status {status}: {reason}"),
                    None => reason,
                };
                self.failed(&mut conn, &row, &reason, retry_after, now)
            }
            Delivery::Refused(reason) => self.failed(&mut conn, &row, &reason, None, now),
        }
    }

    /// A failed attempt: the run of failures starts (audited) or goes on, the next
    /// attempt waits (backoff with jitter, or the receiver's `Retry-After` if longer),
    /// and a stream failing longer than `stream_suspend_after_secs` is suspended.
    fn failed(
        &self,
        conn: &mut DbConnection,
        row: &StreamRow,
        reason: &str,
        retry_after: Option<Duration>,
        now: NaiveDateTime,
    ) -> Result<Step> {
        let settings = &self.state.config.streams;
        let since = row.failing_since.unwrap_or(now);
        let failing_for = (now - since).to_std().unwrap_or_default();
        if failing_for >= settings.suspend_after {
            let reason = format!(
                "delivery failing since {}: {reason}",
                db::format_utc(&since)
            );
            super::suspend(conn, row, &self.owner, &reason)?;
            return Ok(Step::Done);
        }
        let attempts = row.attempts.saturating_add(1);
        let wait = backoff(
            u32::try_from(attempts).unwrap_or(u32::MAX),
            BACKOFF_BASE,
            settings.retry_max,
        )
        .max(retry_after.unwrap_or_default());
        let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
        let recorded = store::set_health(
            conn,
            &row.id,
            &self.owner,
            &Health {
                failing_since: Some(since),
                attempts,
                next_attempt_at: Some(next),
                last_error: Some(reason),
            },
        )?;
        // Paused, deleted or taken over meanwhile: nothing of this attempt is kept.
        if !recorded {
            return Ok(Step::Done);
        }
        if row.failing_since.is_none() {
            super::record_run(
                conn,
                row,
                "stream.delivery_failing",
                serde_json::json!({ "error": reason }),
            )?;
        }
        log::info!(
            "stream {}: delivery failed ({reason}); next attempt in {wait:?}",
            row.id
        );
        Ok(Step::Idle)
    }

    fn message(
        &self,
        conn: &mut DbConnection,
        row: &StreamRow,
        position: &Position,
        batch: &Batch,
    ) -> Result<Message> {
        let tenant_id = &position.tenant_id;
        let rows: Vec<AuditRow> = if batch.end > position.acked_seq {
            audit::store::page_after(
                conn,
                tenant_id,
                position.acked_seq,
                batch.end - position.acked_seq,
            )?
            .into_iter()
            .filter(|r| r.seq <= batch.end)
            .collect()
        } else {
            Vec::new()
        };
        let (last_seq, last_hash) = match rows.last() {
            Some(last) => (last.seq, last.hash.clone()),
            None => {
                let at = audit::store::at(conn, tenant_id, position.acked_seq)?;
                (
                    position.acked_seq,
                    at.map_or_else(|| audit::GENESIS_HASH.to_owned(), |r| r.hash),
                )
            }
        };
        let checkpoint = if batch.checkpoint && last_seq > 0 {
            let tenant = crate::tenants::find_by_id(conn, tenant_id)?.ok_or(Error::NotFound)?;
            let keys = self.state.keys.current();
            Some(
                audit::checkpoint::sign_at(
                    &keys,
                    &self.state.config.issuer,
                    &tenant,
                    last_seq,
                    last_hash,
                )?
                .0,
            )
        } else {
            None
        };
        let items: Vec<tessera_proto::api::AuditItem> = rows
            .into_iter()
            .map(tessera_proto::api::AuditItem::from)
            .collect();
        let body = match Format::parse(&row.format)? {
            Format::Ndjson => {
                let mut body = Vec::with_capacity(items.len() * 600);
                for item in &items {
                    serde_json::to_writer(&mut body, item).map_err(Error::internal)?;
                    body.push(b'\n');
                }
                if let Some(jws) = &checkpoint {
                    serde_json::to_writer(&mut body, &serde_json::json!({ "checkpoint": jws }))
                        .map_err(Error::internal)?;
                    body.push(b'\n');
                }
                body
            }
            Format::Otlp => {
                let values = items
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(Error::internal)?;
                super::otlp::encode("tessera", &values, checkpoint.as_deref())
            }
        };
        let first = position.acked_seq + 1;
        Ok(Message {
            id: sign::message_id(&[
                &row.id,
                tenant_id,
                &first.to_string(),
                &last_seq.to_string(),
            ]),
            body,
            last_seq,
            checkpoint: checkpoint.is_some(),
        })
    }

    fn send(&self, row: &StreamRow, message: &Message) -> Delivery {
        let secret = match self.secret(row) {
            Ok(secret) => secret,
            Err(e) => return Delivery::Refused(format!("signing secret unavailable: {e}")),
        };
        let Ok(url) = url::Url::parse(&row.url) else {
            return Delivery::Refused("destination url not allowed".into());
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign::sign(&secret, &message.id, timestamp, &message.body);
        let content_type = match row.format.as_str() {
            "otlp" => "application/json",
            _ => "application/x-ndjson",
        };
        self.poster.post(
            &url,
            &[
                ("webhook-id", message.id.clone()),
                ("webhook-timestamp", timestamp.to_string()),
                ("webhook-signature", signature),
            ],
            content_type,
            &message.body,
        )
    }

    fn secret(&self, row: &StreamRow) -> Result<sign::Secret> {
        let text = self.state.sealer()?.open_for(&row.id, &row.secret_sealed)?;
        sign::Secret::parse(std::str::from_utf8(&text).map_err(Error::internal)?)
    }
}

/// What to send to one tenant's receiver next.
struct Batch {
    /// The last seq it carries (the acknowledged one for a checkpoint alone).
    end: i64,
    checkpoint: bool,
}

struct Message {
    id: String,
    body: Vec<u8>,
    last_seq: i64,
    checkpoint: bool,
}

/// The next batch of a tenant: the one in flight if any (resent as it was), else the
/// events after the acknowledged seq, with a checkpoint every `checkpoint_events` events
/// or `checkpoint_interval`; a checkpoint alone when events were delivered since the
/// last one and the interval passed. `None`: nothing to send.
fn plan(
    position: &Position,
    head: i64,
    settings: &StreamSettings,
    now: NaiveDateTime,
) -> Option<Batch> {
    let acked = position.acked_seq;
    let end = match position.pending_until {
        Some(end) if end > acked => end,
        _ if head > acked => head.min(acked + settings.batch_size),
        _ => acked,
    };
    let interval = chrono::Duration::from_std(settings.checkpoint_interval)
        .unwrap_or(chrono::Duration::minutes(1));
    let time_passed = now - position.checkpoint_at >= interval;
    // A batch of events carries a checkpoint by count alone, so a retry of it decides
    // the same way (same webhook-id, same lines); the interval sends a checkpoint of
    // its own.
    let checkpoint = if end > acked {
        end - position.checkpoint_seq >= settings.checkpoint_events
    } else {
        acked > position.checkpoint_seq && time_passed
    };
    (end > acked || checkpoint).then_some(Batch { end, checkpoint })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> StreamSettings {
        StreamSettings {
            allow_private: false,
            timeout: Duration::from_secs(1),
            batch_size: 100,
            checkpoint_events: 250,
            checkpoint_interval: Duration::from_secs(60),
            retry_max: Duration::from_secs(60),
            suspend_after: Duration::from_secs(3600),
        }
    }

    fn at(acked: i64, pending: Option<i64>, checkpoint_seq: i64) -> Position {
        Position {
            tenant_id: "t".into(),
            stream_id: "s".into(),
            acked_seq: acked,
            pending_until: pending,
            checkpoint_seq,
            checkpoint_at: db::now(),
        }
    }

    #[test]
    fn batches_resume_from_the_acknowledged_seq_and_retry_as_they_were() {
        let now = db::now();
        let s = settings();
        assert!(plan(&at(10, None, 10), 10, &s, now).is_none());
        let b = plan(&at(10, None, 10), 500, &s, now).unwrap();
        assert_eq!((b.end, b.checkpoint), (110, false));
        // A batch in flight is resent exactly, even though more events arrived.
        let b = plan(&at(10, Some(60), 10), 500, &s, now).unwrap();
        assert_eq!(b.end, 60);
        // Every checkpoint_events events, a checkpoint.
        let b = plan(&at(200, None, 0), 500, &s, now).unwrap();
        assert_eq!((b.end, b.checkpoint), (300, true));
        // After the interval, a checkpoint alone for what was delivered since.
        let later = now + chrono::Duration::seconds(61);
        let b = plan(&at(20, None, 10), 20, &s, later).unwrap();
        assert_eq!((b.end, b.checkpoint), (20, true));
        // A batch of events decides by count alone, whenever it is (re)tried.
        let b = plan(&at(20, Some(30), 10), 40, &s, later).unwrap();
        assert_eq!((b.end, b.checkpoint), (30, false));
        assert!(plan(&at(20, None, 20), 20, &s, later).is_none());
    }
}
