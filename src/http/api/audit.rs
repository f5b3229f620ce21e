//! `/api/v1/audit/*`: ingestion, query, export, verification and checkpoints.

use actix_web::http::StatusCode;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use serde::Deserialize;

use tessera_proto::api::{CheckpointBody, IngestAccepted, Ingested, Page, VerifyReport};
use tessera_proto::IngestEvent;

use super::responses::ApiErrors;
use super::{blocking, limit_param, selector, time_param, Ingestor};
use crate::access::{self, Reader, Recorded, Target, TenantContext};
use crate::audit::checkpoint;
use crate::audit::export::{self, Format};
use crate::audit::ingest;
use crate::audit::query::{self, AuditFilter, AuditItem, Cursor};
use crate::error::{Error, Result};
use crate::http::AppState;

/// `POST /api/v1/audit/events`: one event or an array of at most 1000, all or nothing;
/// 202 only after commit.
#[utoipa::path(
    tag = "audit",
    request_body(content = Vec<IngestEvent>, description = "One event, or an array of at most 1000 (all or nothing)"),
    responses(
        (status = 202, description = "Committed (`Idempotent-Replayed: true`: a retry, nothing new stored)", body = IngestAccepted),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[post("/audit/events")]
pub async fn post_events(
    state: web::Data<AppState>,
    Ingestor(ctx): Ingestor,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse> {
    // Admitted against the memory budget chunk by chunk, and read within a deadline.
    let (body, _reserved) = state
        .bodies
        .read(payload, state.config.audit_max_body_bytes)
        .await?;
    let key = match req.headers().get("idempotency-key") {
        Some(value) => Some(ingest::IdempotencyKey::parse(
            value
                .to_str()
                .map_err(|_| Error::Invalid("Idempotency-Key"))?,
            &body,
        )?),
        None => None,
    };
    // Bodies are read first, so a client that sends its body slowly holds no slot.
    // Parsing and binding run off the async workers, a few requests at a time; the
    // events then go to the group-commit writer: bound ones as rows for its next
    // batch, a retry-safe request (with its key) as work in a savepoint of its own.
    let slots = state.ingestion.clone();
    let state = state.into_inner();
    let writer = state.writer.clone();
    let prepared = {
        let _slot = slots.acquire().await.map_err(|_| Error::Unavailable)?;
        let (state, ctx) = (state.clone(), ctx.clone());
        blocking(move || {
            let events = ingest::parse(&body)?;
            if let Some(key) = key {
                return Ok(Prepared::Keyed(events, key));
            }
            let mut conn = state.pool.get()?;
            match ingest::bind(&mut conn, &ctx, events)? {
                Ok(entries) => Ok(Prepared::Bound(entries)),
                Err(refused) => Err(ingest::refuse(&mut conn, &ctx, &refused)?),
            }
        })
        .await?
    };
    let ingested = match prepared {
        Prepared::Keyed(events, key) => {
            let window = state.config.idempotency_window;
            match ingest::ingest_keyed(&writer, &ctx, events, &key, window)
                .await?
                .stored()
            {
                Ok(ingested) => ingested,
                Err(refused) => {
                    return Err(blocking(move || {
                        let mut conn = state.pool.get()?;
                        ingest::refuse(&mut conn, &ctx, &refused)
                    })
                    .await?)
                }
            }
        }
        Prepared::Bound(entries) => ingest::Ingested {
            events: crate::tokens::commit(&writer, entries, Vec::new())
                .await?
                .into_iter()
                .map(|a| (a.id, a.seq))
                .collect(),
            replayed: false,
        },
    };
    let mut response = HttpResponse::build(StatusCode::ACCEPTED);
    if ingested.replayed {
        // A retry: nothing new was stored; these are the original events.
        response.insert_header(("idempotent-replayed", "true"));
    } else {
        crate::metrics::ingested(ingested.events.len());
    }
    let events = ingested
        .events
        .into_iter()
        .map(|(id, seq)| Ingested { id, seq })
        .collect();
    Ok(response.json(IngestAccepted { events }))
}

/// An ingestion request after parsing (and binding, without a key).
enum Prepared {
    /// A retry-safe request's events: looked up, bound and stored in one savepoint of
    /// the group-commit writer's transaction.
    Keyed(Vec<IngestEvent>, ingest::IdempotencyKey),
    /// Bound to the caller's token, for the group-commit writer's next batch.
    Bound(Vec<crate::audit::Entry>),
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterQuery,
    limit: Option<String>,
    cursor: Option<String>,
}

/// What selects events, for a page of them and for an export.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterQuery {
    pub tenant: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    /// `tessera`, or the client id of an ingesting service.
    pub source: Option<String>,
    /// Any part of the resource's id.
    pub resource: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

impl FilterQuery {
    /// The filter (its tenant still unresolved: the reader's access decides it).
    pub fn filter(&self) -> Result<AuditFilter> {
        let given = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        Ok(AuditFilter {
            actor: given(&self.actor),
            action: given(&self.action),
            outcome: given(&self.outcome),
            source: given(&self.source),
            resource: given(&self.resource),
            since: time_param("since", self.since.as_deref())?,
            until: time_param("until", self.until.as_deref())?,
            ..AuditFilter::default()
        })
    }
}

/// `GET /api/v1/audit/events`: newest first, filtered, paginated.
#[utoipa::path(
    tag = "audit",
    params(FilterQuery, EventsQuery),
    responses(
        (status = 200, description = "Events, newest first", body = Page<AuditItem>),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/audit/events")]
pub async fn get_events(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse> {
    let q = q.into_inner();
    let chosen = selector(&req, q.filter.tenant.as_deref())?;
    let mut filter = AuditFilter {
        limit: limit_param(q.limit.as_deref())?,
        cursor: q
            .cursor
            .as_deref()
            .filter(|c| !c.is_empty())
            .map(Cursor::decode)
            .transpose()?,
        ..q.filter.filter()?
    };
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        access::read_logs(
            &mut conn,
            Reader::Caller(&ctx),
            chosen.as_deref(),
            "audit.read",
            |conn, target| {
                filter.tenant_id = target.tenant_id().map(str::to_owned);
                let (rows, next) = query::list(conn, &filter)?;
                let details = serde_json::json!({ "events": rows.len() });
                let items = rows.into_iter().map(AuditItem::from).collect();
                Ok((
                    Page {
                        items,
                        next_cursor: next,
                    },
                    Recorded::Once(details),
                ))
            },
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    format: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    filter: FilterQuery,
}

/// `GET /api/v1/audit/export`: NDJSON or CSV, streamed batch by batch in constant
/// memory (a bounded channel between the reading thread and the response).
#[utoipa::path(
    tag = "audit",
    params(FilterQuery, ExportQuery),
    responses(
        (status = 200, description = "The events, oldest first per tenant, as NDJSON (`format=ndjson`, default) or CSV", content_type = "application/x-ndjson"),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/audit/export")]
pub async fn get_export(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse> {
    let q = q.into_inner();
    let format = Format::parse(q.format.as_deref().unwrap_or("ndjson"))?;
    let chosen = selector(&req, q.filter.tenant.as_deref())?;
    let filter = q.filter.filter()?;
    export_response(state, ctx, chosen, filter, format).await
}

/// The export of what `filter` selects in the tenants `chosen` reaches, for `ctx`
/// (the API's and the console's): authorized and recorded, then streamed.
pub(crate) async fn export_response(
    state: web::Data<AppState>,
    ctx: TenantContext,
    chosen: Option<String>,
    mut filter: AuditFilter,
    format: Format,
) -> Result<HttpResponse> {
    // A place among the long reads first (a few at once, one per caller).
    let slot = state.long_reads.admit(&ctx.subject)?;
    let state = state.into_inner();
    let pool = state.long_reads.pool.clone();
    let target = blocking(move || {
        let mut conn = state.pool.get()?;
        // Recorded before the first byte is read: the export itself streams later.
        access::read_logs(
            &mut conn,
            Reader::Caller(&ctx),
            chosen.as_deref(),
            "audit.exported",
            |_, target| Ok((target.clone(), Recorded::Once(serde_json::json!({})))),
        )
    })
    .await?;

    // The export runs on a thread and a connection of its own; a reader that stops
    // reading holds them at most `STALL`, and never anything the other requests use.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::result::Result<web::Bytes, std::io::Error>>(4);
    std::thread::Builder::new()
        .name("export".into())
        .spawn(move || {
            filter.tenant_id = target.tenant_id().map(str::to_owned);
            // A panic ends the response as an error too, never as a clean, short export.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let waiter = waiter()?;
                let mut conn = pool.get()?;
                export::run(&mut conn, &filter, format, |chunk| {
                    send_within(
                        &waiter,
                        &tx,
                        Ok(web::Bytes::from(chunk)),
                        crate::limits::STALL,
                    )
                })
            }))
            .unwrap_or_else(|_| Err(Error::internal("the export thread panicked")));
            // The place is free before the reader sees the end of the export.
            drop(slot);
            if let Err(e) = result {
                log::error!("audit export failed: {e}");
                let _ = tx.try_send(Err(std::io::Error::other("export failed")));
            }
        })
        .map_err(Error::internal)?;
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header(("cache-control", "no-store"))
        .streaming(stream))
}

/// Runs a long read on a thread of its own, holding its place until done.
pub(crate) async fn long_read<T: Send + 'static>(
    slot: crate::limits::LongRead,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("long-read".into())
        .spawn(move || {
            let result = work();
            // The place is free before the answer goes out, so a caller's next long
            // read never finds it still taken.
            drop(slot);
            let _ = done.send(result);
        })
        .map_err(Error::internal)?;
    result.await.map_err(Error::internal)?
}

/// The export thread's own timer, to wait for room in the response queue: a wake-up
/// when the reader takes a chunk, not a poll.
fn waiter() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(Error::internal)
}

/// Hands `item` to the response, waiting at most `within` for the reader to make room;
/// false when the reader went away or stalled (the export stops).
fn send_within<T>(
    waiter: &tokio::runtime::Runtime,
    tx: &tokio::sync::mpsc::Sender<T>,
    item: T,
    within: std::time::Duration,
) -> bool {
    let item = match tx.try_send(item) {
        Ok(()) => return true,
        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return false,
        Err(tokio::sync::mpsc::error::TrySendError::Full(item)) => item,
    };
    // The timer is made inside the waiter's context: it needs its time driver.
    match waiter.block_on(async { tokio::time::timeout(within, tx.send(item)).await }) {
        Ok(sent) => sent.is_ok(),
        Err(_) => {
            log::warn!("audit export abandoned: the reader stopped reading");
            false
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    tenant: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    tenant: Option<String>,
    /// Verify from genesis instead of from the last verified position: also finds an
    /// event edited before that position
    #[serde(default)]
    full: bool,
}

/// `GET /api/v1/audit/verify`: one tenant's chain, or every tenant's for platform
/// readers, from the last verified position (`full=true`: from genesis).
#[utoipa::path(
    tag = "audit",
    params(VerifyQuery),
    responses(
        (status = 200, description = "Each tenant's chain, checked", body = VerifyReport),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/audit/verify")]
pub async fn get_verify(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    q: web::Query<VerifyQuery>,
) -> Result<HttpResponse> {
    let chosen = selector(&req, q.tenant.as_deref())?;
    let mode = if q.full {
        crate::audit::Mode::Full
    } else {
        crate::audit::Mode::FromLastVerified
    };
    // A long read: its own place, thread and connection (see `limits`).
    let slot = state.long_reads.admit(&ctx.subject)?;
    let state = state.into_inner();
    let body = long_read(slot, move || {
        let mut conn = state.long_reads.pool.get()?;
        access::read_logs(
            &mut conn,
            Reader::Caller(&ctx),
            chosen.as_deref(),
            "audit.verified",
            |conn, target| {
                let tenants = match target {
                    Target::One(t) => vec![t.clone()],
                    Target::All => crate::tenants::list(conn)?,
                };
                let ids = tenants.iter().map(|t| (t.id.as_str(), t.slug.as_str()));
                let report = crate::audit::verify_report(conn, ids, mode)?;
                let details = serde_json::json!({ "intact": report.intact, "full": mode == crate::audit::Mode::Full });
                Ok((report, Recorded::Once(details)))
            },
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/audit/checkpoint`: a JWS over the tenant's chain head, signed with the
/// active key and verifiable from the JWKS.
#[utoipa::path(
    tag = "audit",
    params(TenantQuery),
    responses(
        (status = 200, description = "A signed statement of the chain's head", body = CheckpointBody),
        ApiErrors,
    ),
    security(("bearer" = []))
)]
#[get("/audit/checkpoint")]
pub async fn get_checkpoint(
    state: web::Data<AppState>,
    ctx: TenantContext,
    req: HttpRequest,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse> {
    let chosen = selector(&req, q.tenant.as_deref())?;
    let state = state.into_inner();
    let body = blocking(move || {
        let mut conn = state.pool.get()?;
        access::read_logs(
            &mut conn,
            Reader::Caller(&ctx),
            chosen.as_deref(),
            "audit.checkpoint",
            |conn, target| {
                let Target::One(tenant) = target else {
                    return Err(Error::Invalid("tenant: a checkpoint covers one tenant"));
                };
                let keys = state.keys.current();
                let (jws, cp) = checkpoint::issue(conn, &keys, &state.config.issuer, tenant)?;
                let details = serde_json::json!({ "seq": cp.seq });
                Ok((
                    CheckpointBody {
                        checkpoint: jws,
                        tenant_id: cp.tenant_id,
                        tenant: cp.tenant,
                        seq: cp.seq,
                        hash: cp.hash,
                        iat: cp.iat,
                    },
                    Recorded::Once(details),
                ))
            },
        )
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(body))
}

#[cfg(test)]
mod tests {
    use super::{send_within, waiter};
    use std::time::Duration;

    #[test]
    fn a_full_queue_is_waited_on_until_the_reader_takes_an_item() {
        let waiter = waiter().unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
        assert!(send_within(&waiter, &tx, 1, Duration::from_secs(5)));
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let first = rx.blocking_recv();
            (first, rx.blocking_recv())
        });
        // The queue is full: this send waits for the reader, and then goes through.
        assert!(send_within(&waiter, &tx, 2, Duration::from_secs(5)));
        drop(tx);
        assert_eq!(reader.join().unwrap(), (Some(1), Some(2)));
    }

    #[test]
    fn a_reader_that_stops_reading_or_hangs_up_ends_the_export() {
        let waiter = waiter().unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel::<u32>(1);
        assert!(send_within(&waiter, &tx, 1, Duration::from_secs(5)));
        assert!(
            !send_within(&waiter, &tx, 2, Duration::from_millis(20)),
            "stalled"
        );
        let hang_up = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(rx);
        });
        assert!(
            !send_within(&waiter, &tx, 3, Duration::from_secs(5)),
            "gone"
        );
        hang_up.join().unwrap();
    }
}
