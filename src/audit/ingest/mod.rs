//! Audit ingestion from downstream services (DESIGN "Audit ingestion", invariant 6):
//! schema-checked events, bound to the caller's token (a user's token writes its own
//! tenant as itself; a tenant-bound client writes its tenant; a platform client names
//! the tenant of each event and a user actor must be a member of it), appended
//! all-or-nothing in one transaction, acknowledged only after commit.

mod bind;
mod validate;

use crate::access::TenantContext;
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};

pub use bind::{bind, ingest, Refused};
pub use validate::{parse, MAX_BATCH};

pub use tessera_proto::AUDIT_WRITE_SCOPE as WRITE_SCOPE;

/// One event as a downstream service sends it (the wire contract's type).
pub use tessera_proto::{IngestEvent, Reference};

/// A retry-safe ingestion (`Idempotency-Key`): the key, and the SHA-256 of the body it
/// was first sent with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub request_hash: String,
}

impl IdempotencyKey {
    /// 1–255 visible ASCII characters (the IETF `Idempotency-Key` header's usual form).
    pub fn parse(key: &str, body: &[u8]) -> Result<Self> {
        let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
        if !valid {
            return Err(Error::Invalid(
                "Idempotency-Key: 1-255 visible ASCII characters",
            ));
        }
        use sha2::Digest;
        Ok(Self {
            key: key.to_owned(),
            request_hash: hex::encode(sha2::Sha256::digest(body)),
        })
    }
}

/// What an ingestion stored (`id`, `seq` of each event), or, for a retry of a request
/// already committed, what that request had stored.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub events: Vec<(String, i64)>,
    pub replayed: bool,
}

/// What one transaction of an ingestion decided.
#[derive(Debug)]
pub enum Decided {
    Stored(Vec<(String, i64)>),
    Replayed(Vec<(String, i64)>),
    Refused(Refused),
}

impl Decided {
    /// What was stored (or had been, for a retry), or the refusal.
    pub fn stored(self) -> std::result::Result<Ingested, Refused> {
        match self {
            Decided::Stored(events) => Ok(Ingested {
                events,
                replayed: false,
            }),
            Decided::Replayed(events) => Ok(Ingested {
                events,
                replayed: true,
            }),
            Decided::Refused(refused) => Err(refused),
        }
    }
}

/// Ingests a batch: appended and committed, or refused (the refusal is recorded in the
/// caller's chain, as `tenant.cross_access_denied` when an event named a tenant the
/// token may not write, as `audit.ingest_denied` otherwise, and nothing else is
/// written). In a transaction of its own; the server runs [`decide`] in the
/// group-commit writer instead ([`ingest_keyed`]).
pub fn ingest_batch(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    events: Vec<IngestEvent>,
    key: Option<&IdempotencyKey>,
    window: std::time::Duration,
) -> Result<Ingested> {
    let decided = match db::write_tx(conn, |tx| decide(tx, ctx, events, key, window)) {
        Err(Error::Conflict(IDEMPOTENCY_KEY)) => {
            db::write_tx(conn, |tx| replay_raced(tx, ctx, key, window))?
        }
        other => other?,
    };
    match decided.stored() {
        Ok(ingested) => Ok(ingested),
        Err(refused) => Err(refuse(conn, ctx, &refused)?),
    }
}

/// A retry-safe ingestion ([`decide`] with its key) in the group-commit writer's next
/// transaction, in a savepoint of its own; answered once that transaction committed.
/// A copy racing it on another instance stored the same key first: the savepoint is
/// rolled back and that copy's answer read ([`replay_raced`]).
pub async fn ingest_keyed(
    writer: &crate::tokens::Writer,
    ctx: &TenantContext,
    events: Vec<IngestEvent>,
    key: &IdempotencyKey,
    window: std::time::Duration,
) -> Result<Decided> {
    let (job_ctx, job_key) = (ctx.clone(), key.clone());
    let decided = writer
        .run_weighted(events.len(), move |tx| {
            decide(tx, &job_ctx, events, Some(&job_key), window)
        })
        .await;
    match decided {
        Err(Error::Conflict(IDEMPOTENCY_KEY)) => {
            let (ctx, key) = (ctx.clone(), key.clone());
            writer
                .run(move |tx| replay_raced(tx, &ctx, Some(&key), window))
                .await
        }
        other => other,
    }
}

/// The answer for a request whose copy stored the same key first (the copy's commit
/// is what made [`decide`] fail): that copy's answer, as for any retry. The batch is
/// not needed again: a stored key answers without it.
fn replay_raced(
    tx: &mut DbConnection,
    ctx: &TenantContext,
    key: Option<&IdempotencyKey>,
    window: std::time::Duration,
) -> Result<Decided> {
    let key = key.ok_or(Error::Conflict(IDEMPOTENCY_KEY))?;
    stored_answer(tx, ctx, &caller(ctx), key, window)?.ok_or(Error::Conflict(IDEMPOTENCY_KEY))
}

fn caller(ctx: &TenantContext) -> String {
    format!("{} {}", ctx.client_id, ctx.subject)
}

/// The stored answer for `key` within `window` (`Unprocessable` for another body); a
/// stale one is deleted and `None` returned, as when there is none.
fn stored_answer(
    tx: &mut DbConnection,
    ctx: &TenantContext,
    caller: &str,
    key: &IdempotencyKey,
    window: std::time::Duration,
) -> Result<Option<Decided>> {
    let Some(stored) = super::store::ingest_key(tx, &ctx.tenant_id, caller, &key.key)? else {
        return Ok(None);
    };
    let fresh = chrono::Duration::from_std(window).is_ok_and(|w| stored.created_at > db::now() - w);
    if !fresh {
        super::store::delete_ingest_key(tx, &stored)?;
        return Ok(None);
    }
    if stored.request_hash != key.request_hash {
        return Err(Error::Unprocessable(
            "the Idempotency-Key was used for another request",
        ));
    }
    let events = serde_json::from_str(&stored.events).map_err(Error::internal)?;
    Ok(Some(Decided::Replayed(events)))
}

/// What [`decide`] answers when another copy of the request stored its key first.
const IDEMPOTENCY_KEY: &str = "idempotency key";

/// One ingestion's work in `tx` (a transaction or a savepoint the caller opened).
///
/// With an idempotency key, the answer is stored in the same transaction as the events,
/// for `window`: a retry of the same request (same caller, key and body) stores nothing
/// and gets the original `id`s and `seq`s, across restarts and instances; the same key
/// with another body is `Unprocessable`. Two copies racing each other: the second
/// finds the first's key when it tries to store its own and fails with
/// `Conflict("idempotency key")`; rolled back, it answers as a retry
/// ([`replay_raced`]).
pub fn decide(
    tx: &mut DbConnection,
    ctx: &TenantContext,
    events: Vec<IngestEvent>,
    key: Option<&IdempotencyKey>,
    window: std::time::Duration,
) -> Result<Decided> {
    let caller = caller(ctx);
    if let Some(key) = key {
        if let Some(replayed) = stored_answer(tx, ctx, &caller, key, window)? {
            return Ok(replayed);
        }
    }
    let appended = match ingest(tx, ctx, events)? {
        Ok(appended) => appended,
        Err(refused) => return Ok(Decided::Refused(refused)),
    };
    let stored: Vec<(String, i64)> = appended.into_iter().map(|a| (a.id, a.seq)).collect();
    if let Some(key) = key {
        let row = super::store::IngestKey {
            tenant_id: ctx.tenant_id.clone(),
            caller,
            idempotency_key: key.key.clone(),
            request_hash: key.request_hash.clone(),
            events: serde_json::to_string(&stored).map_err(Error::internal)?,
            created_at: db::now(),
        };
        super::store::insert_ingest_key(tx, &row).map_err(|e| {
            if crate::error::is_unique_violation(&e) {
                Error::Conflict(IDEMPOTENCY_KEY)
            } else {
                e.into()
            }
        })?;
    }
    Ok(Decided::Stored(stored))
}

/// Records a refused batch in the caller's chain (as `tenant.cross_access_denied` when
/// an event named a tenant the token may not write, as `audit.ingest_denied`
/// otherwise) and returns the answer: `Forbidden`.
pub fn refuse(conn: &mut DbConnection, ctx: &TenantContext, refused: &Refused) -> Result<Error> {
    match &refused.other_tenant {
        Some(requested) => {
            let mut extra = serde_json::Map::new();
            extra.insert("operation".into(), "audit.ingest".into());
            extra.insert("event_index".into(), refused.index.into());
            crate::access::deny_cross_tenant(conn, ctx, requested, extra)?;
        }
        None => {
            let event = super::Event::new(
                &ctx.tenant_id,
                "audit.ingest_denied",
                super::Outcome::Denied,
            )
            .with_details(serde_json::json!({ "event_index": refused.index }));
            db::write_tx(conn, |tx| super::record(tx, &ctx.origin(), event))?;
        }
    }
    Ok(Error::Forbidden)
}
