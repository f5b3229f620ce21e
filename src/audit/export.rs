//! Exports of the audit log as NDJSON or CSV, produced batch by batch so memory stays
//! constant however large the log is. Rows come oldest first per tenant, with
//! `prev_hash` and `hash`, so an NDJSON export can be re-verified offline; CSV fields are
//! neutralized against spreadsheet formula injection, so CSV is for reading only.

use super::query::{self, AuditFilter, AuditItem, ExportPosition};
use super::store::AuditRow;
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};

pub const BATCH: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "ndjson" => Ok(Self::Ndjson),
            "csv" => Ok(Self::Csv),
            _ => Err(Error::Invalid("format: expected ndjson or csv")),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
        }
    }
}

const CSV_HEADER: [&str; 17] = [
    "id",
    "tenant_id",
    "seq",
    "occurred_at",
    "received_at",
    "source",
    "actor_type",
    "actor_id",
    "action",
    "outcome",
    "resource_type",
    "resource_id",
    "request_id",
    "ip",
    "details",
    "prev_hash",
    "hash",
];

/// What goes before the first row.
pub fn header(format: Format) -> Result<Vec<u8>> {
    match format {
        Format::Ndjson => Ok(Vec::new()),
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(CSV_HEADER).map_err(Error::internal)?;
            writer.into_inner().map_err(Error::internal)
        }
    }
}

/// Encodes one batch of rows.
pub fn encode(format: Format, rows: Vec<AuditRow>) -> Result<Vec<u8>> {
    match format {
        Format::Ndjson => {
            let mut out = Vec::with_capacity(rows.len() * 512);
            for row in rows {
                serde_json::to_writer(&mut out, &AuditItem::from(row)).map_err(Error::internal)?;
                out.push(b'\n');
            }
            Ok(out)
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 512));
            for r in rows {
                let seq = r.seq.to_string();
                let occurred_at = db::format_utc(&r.occurred_at);
                let received_at = db::format_utc(&r.received_at);
                fn opt(v: &Option<String>) -> &str {
                    v.as_deref().unwrap_or_default()
                }
                let fields = [
                    r.id.as_str(),
                    &r.tenant_id,
                    &seq,
                    &occurred_at,
                    &received_at,
                    &r.source,
                    &r.actor_type,
                    opt(&r.actor_id),
                    &r.action,
                    &r.outcome,
                    opt(&r.resource_type),
                    opt(&r.resource_id),
                    opt(&r.request_id),
                    opt(&r.ip),
                    &r.details,
                    &r.prev_hash,
                    &r.hash,
                ]
                .map(spreadsheet_safe);
                writer
                    .write_record(fields.iter().map(|f| f.as_bytes()))
                    .map_err(Error::internal)?;
            }
            writer.into_inner().map_err(Error::internal)
        }
    }
}

/// A CSV field that a spreadsheet will not run as a formula (OWASP "CSV Injection"):
/// a field starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading
/// `'`. Ingested events reach the auditor's spreadsheet from any member, so every field
/// is treated alike. CSV is for reading; NDJSON keeps the fields exactly as hashed and
/// is the format to re-verify the chain from.
pub fn spreadsheet_safe(field: &str) -> std::borrow::Cow<'_, str> {
    match field.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{field}").into(),
        _ => field.into(),
    }
}

/// Walks the log batch by batch (one tenant, or all), handing each encoded batch to
/// `sink`, which returns false to stop early (the reader went away). Returns the
/// number of events exported.
pub fn run(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    format: Format,
    mut sink: impl FnMut(Vec<u8>) -> bool,
) -> Result<u64> {
    if !sink(header(format)?) {
        return Ok(0);
    }
    // Batches are read ahead on another thread while this one encodes and hands out.
    let mut after: Option<ExportPosition> = None;
    let mut done = false;
    let mut count = 0u64;
    db::read_ahead::<_, Error>(
        conn,
        |conn| {
            if done {
                return Ok(None);
            }
            let rows = query::export_batch(conn, filter, after.as_ref(), BATCH)?;
            done = (rows.len() as i64) < BATCH;
            if let Some(last) = rows.last() {
                after = Some(ExportPosition {
                    tenant_id: last.tenant_id.clone(),
                    seq: last.seq,
                });
            }
            Ok(Some(rows))
        },
        |rows| {
            if rows.is_empty() {
                return Ok(true);
            }
            let n = rows.len() as u64;
            let more = sink(encode(format, rows)?);
            count += n;
            Ok(more)
        },
    )?;
    Ok(count)
}
