//! Audit streams: delivering each tenant's hash-chained audit log to an HTTP receiver
//! (a SIEM), with the audit table as the outbox, so the receiver's copy is provably
//! complete (every seq, in order, checkpoints signed). A stream belongs to one tenant,
//! or (platform administrators only) to every tenant; creating, changing, suspending
//! and deleting one, and each run of failed deliveries, are audit events in the
//! stream's tenant chain (`system`'s for a platform stream). Its signing secret is
//! shown once and kept sealed.

pub mod client;
pub mod deliver;
pub mod destination;
pub mod otlp;
pub mod sign;
pub mod store;

use crate::audit::{self, Event, Origin, Outcome};
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::mfa::Sealer;
use crate::tenants::SYSTEM_TENANT_ID;
pub use store::StreamRow;

/// Streams a tenant may have (and streams of every tenant): each has a delivery thread
/// and polls the database, so their number is bounded.
pub const MAX_STREAMS: i64 = 10;

/// How a stream's batches are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One audit item per line, as the list API returns it, and checkpoint lines.
    Ndjson,
    /// OTLP/HTTP logs, JSON encoding (an OpenTelemetry Collector's `/v1/logs`).
    Otlp,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "ndjson" => Ok(Self::Ndjson),
            "otlp" => Ok(Self::Otlp),
            _ => Err(Error::Invalid("format: expected ndjson or otlp")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ndjson => "ndjson",
            Self::Otlp => "otlp",
        }
    }
}

pub use tessera_proto::api::{StreamCreated, StreamView};

impl From<&StreamRow> for StreamView {
    fn from(r: &StreamRow) -> Self {
        Self {
            id: r.id.clone(),
            tenant_id: r.tenant_id.clone(),
            url: r.url.clone(),
            format: r.format.clone(),
            state: r.state.clone(),
            suspended_reason: r.suspended_reason.clone(),
            failing_since: r.failing_since.as_ref().map(db::format_utc),
            last_error: r.last_error.clone(),
            created_at: db::format_utc(&r.created_at),
            updated_at: db::format_utc(&r.updated_at),
        }
    }
}

/// The chain that records a stream's events.
fn chain(row: &StreamRow) -> &str {
    row.tenant_id.as_deref().unwrap_or(SYSTEM_TENANT_ID)
}

/// Creates an active stream of `tenant_id` (`None`: every tenant; the caller checked
/// who may). The URL is checked now (scheme, no credentials) and every address it
/// resolves to is checked again at each delivery.
pub fn create(
    tx: &mut DbConnection,
    sealer: &Sealer,
    origin: &Origin,
    tenant_id: Option<&str>,
    url: &str,
    format: Format,
) -> Result<StreamCreated> {
    let url = destination::parse_url(url.trim())?;
    if store::count(tx, tenant_id)? >= MAX_STREAMS {
        return Err(Error::Conflict("stream: at most 10 streams per tenant"));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let secret = sign::Secret::generate();
    let now = db::now();
    let row = StreamRow {
        secret_sealed: sealer.seal(&id, secret.to_text().as_bytes())?,
        id,
        tenant_id: tenant_id.map(str::to_owned),
        url: url.to_string(),
        format: format.as_str().to_owned(),
        state: "active".to_owned(),
        created_at: now,
        updated_at: now,
        failing_since: None,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        suspended_reason: None,
        lease_owner: None,
        lease_until: None,
    };
    store::insert(tx, &row)?;
    audit::record(
        tx,
        origin,
        Event::success(chain(&row), "stream.created", "stream", &row.id).with_details(
            serde_json::json!({
                "url": row.url,
                "format": row.format,
                "scope": if row.tenant_id.is_some() { "tenant" } else { "all_tenants" },
            }),
        ),
    )?;
    Ok(StreamCreated::new(StreamView::from(&row), secret.to_text()))
}

/// The stream `id` if `tenant_id` holds it (`None`: a platform caller, any stream).
/// Another tenant's stream is `NotFound`, exactly like a missing one.
pub fn find(conn: &mut DbConnection, tenant_id: Option<&str>, id: &str) -> Result<StreamRow> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(Error::NotFound);
    }
    store::find(conn, tenant_id, id)?.ok_or(Error::NotFound)
}

pub fn list(conn: &mut DbConnection, tenant_id: Option<&str>) -> Result<Vec<StreamRow>> {
    Ok(store::list(conn, tenant_id)?)
}

/// Pauses (`paused`) or resumes (`active`, which also lifts a suspension) a stream.
pub fn set_state(
    tx: &mut DbConnection,
    origin: &Origin,
    row: &StreamRow,
    state: &str,
) -> Result<StreamRow> {
    let action = match state {
        "active" => "stream.resumed",
        "paused" => "stream.paused",
        _ => return Err(Error::Invalid("state: expected active or paused")),
    };
    store::set_state(tx, row, state, db::now())?;
    audit::record(
        tx,
        origin,
        Event::success(chain(row), action, "stream", &row.id)
            .with_details(serde_json::json!({ "from": row.state })),
    )?;
    store::find(tx, None, &row.id)?.ok_or(Error::NotFound)
}

pub fn delete(tx: &mut DbConnection, origin: &Origin, row: &StreamRow) -> Result<()> {
    store::delete(tx, row)?;
    audit::record(
        tx,
        origin,
        Event::success(chain(row), "stream.deleted", "stream", &row.id),
    )?;
    Ok(())
}

/// Suspends a stream the delivery gave up on (the receiver answered 410, or it failed
/// for longer than allowed), if `owner` still delivers it; an operator resumes it.
pub(crate) fn suspend(
    conn: &mut DbConnection,
    row: &StreamRow,
    owner: &str,
    reason: &str,
) -> Result<()> {
    db::write_tx(conn, |tx| {
        if !store::suspend(tx, &row.id, owner, reason, db::now())? {
            return Ok(());
        }
        audit::record(
            tx,
            &Origin::system(),
            Event::success(chain(row), "stream.suspended", "stream", &row.id)
                .with_outcome(Outcome::Failure)
                .with_details(serde_json::json!({ "reason": reason })),
        )?;
        Ok(())
    })
}

/// Records the start (`stream.delivery_failing`) or the end
/// (`stream.delivery_recovered`) of a run of failed deliveries.
pub(crate) fn record_run(
    conn: &mut DbConnection,
    row: &StreamRow,
    action: &str,
    details: serde_json::Value,
) -> Result<()> {
    let outcome = if action == "stream.delivery_recovered" {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    db::write_tx(conn, |tx| {
        audit::record(
            tx,
            &Origin::system(),
            Event::success(chain(row), action, "stream", &row.id)
                .with_outcome(outcome)
                .with_details(details),
        )?;
        Ok(())
    })
}
