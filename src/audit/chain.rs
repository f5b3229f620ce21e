//! The per-tenant hash chain: linking entries after a chain's head, the canonical
//! encoding that is hashed, and verification of a stored chain (DESIGN invariant 5).
//!
//! Canonical encoding of an event (the bytes that are hashed): the compact JSON array
//!
//! ```text
//! [tenant_id, seq, id, occurred_at, received_at, source, actor_type, actor_id, action,
//!  resource_type, resource_id, outcome, ip, request_id, details]
//! ```
//!
//! with timestamps as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds), absent values as
//! `null`, `seq` as a number and `details` as the stored JSON text (a string, object keys
//! sorted). `hash = hex(SHA-256(prev_hash || canonical))`, where `prev_hash` is the
//! previous event's hash as 64 lowercase hex characters, or 64 zeros for `seq` 1.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::event::Entry;
use super::store::{self, AuditRow};
use crate::db::{self, DbConnection};
use crate::error::Result;

/// `prev_hash` of the first event in every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Chains one tenant's entries after `head` (which moves to the last of them).
pub fn link(head: &mut (i64, String), entries: Vec<Entry>) -> Vec<AuditRow> {
    let received_at = db::now();
    entries
        .into_iter()
        .map(|entry| {
            let mut row = AuditRow {
                seq: head.0 + 1,
                id: new_id(),
                occurred_at: entry.occurred_at.unwrap_or(received_at),
                received_at,
                source: entry.source,
                actor_type: entry.actor_type,
                actor_id: entry.actor_id,
                action: entry.action,
                resource_type: entry.resource_type,
                resource_id: entry.resource_id,
                outcome: entry.outcome,
                ip: entry.ip,
                request_id: entry.request_id,
                details: canonical_json(&entry.details),
                prev_hash: std::mem::take(&mut head.1),
                hash: String::new(),
                tenant_id: entry.tenant_id,
            };
            row.hash = chain_hash(&row.prev_hash, &row);
            *head = (row.seq, row.hash.clone());
            row
        })
        .collect()
}

/// Chains rows built by [`link`] again, after another head (the chain moved since
/// they were linked); `head` moves to the last of them.
pub fn relink(head: &mut (i64, String), rows: &mut [AuditRow]) {
    for row in rows {
        row.seq = head.0 + 1;
        row.prev_hash = std::mem::take(&mut head.1);
        row.hash = chain_hash(&row.prev_hash, row);
        *head = (row.seq, row.hash.clone());
    }
}

/// A random (v4) UUID from the thread's generator: one system call per event would
/// show in ingestion throughput.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

pub use tessera_proto::canonical::canonical_json;

/// The canonical bytes of an event (see the module documentation).
pub fn canonical(row: &AuditRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_canonical(row, &mut out);
    out
}

/// Serializes the canonical array straight from borrowed fields (no intermediate
/// JSON value): this runs for every event appended, verified or exported.
fn write_canonical(row: &AuditRow, out: &mut Vec<u8>) {
    let fields = (
        &row.tenant_id,
        row.seq,
        &row.id,
        db::format_utc(&row.occurred_at),
        db::format_utc(&row.received_at),
        &row.source,
        &row.actor_type,
        &row.actor_id,
        &row.action,
        &row.resource_type,
        &row.resource_id,
        &row.outcome,
        &row.ip,
        &row.request_id,
        &row.details,
    );
    // Serializing strings, integers and options into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &fields);
}

/// `hex(SHA-256(prev_hash || canonical(row)))`.
pub fn chain_hash(prev_hash: &str, row: &AuditRow) -> String {
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(prev_hash.as_bytes());
    write_canonical(row, &mut buf);
    hex::encode(Sha256::digest(&buf))
}

/// The problem of a chain that ends before the last verified position.
pub const TRUNCATED: &str = "events missing at the end (the chain was longer when last verified)";

/// The problem of a chain whose event at the last verified position changed.
pub const REPLACED: &str = "the last verified event was replaced (its hash changed)";

/// Where a verification starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From the tenant's last verified position: a routine verification costs the
    /// events appended since the last one. From genesis when there is none, or when
    /// the last verification found the chain broken (until it verifies again).
    FromLastVerified,
    /// From genesis: also finds a row edited before the last verified position.
    Full,
}

/// The result of checking one tenant's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub tenant_id: String,
    /// The first sequence number this verification checked: 1 from genesis, or the
    /// event after the last verified position.
    pub from_seq: i64,
    /// Whether it started from genesis.
    pub full: bool,
    /// Events checked before the first problem (all of them from `from_seq` when intact).
    pub events: i64,
    pub head_seq: i64,
    pub head_hash: String,
    /// The first sequence number that does not verify, and why.
    pub first_bad_seq: Option<i64>,
    pub problem: Option<&'static str>,
    /// The position to keep as the last verified one: the head of an intact chain, or
    /// `None` to keep the stored one. It only moves forward, so an event at a position
    /// once verified can never be replaced unnoticed, by either kind of verification.
    #[serde(skip)]
    pub verified: Option<(i64, String)>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.first_bad_seq.is_none()
    }
}

/// Walks a tenant's chain in sequence order from where `mode` says, a page at a time
/// (constant memory), and stops at the first event whose sequence, link or hash is
/// wrong.
pub fn verify(conn: &mut DbConnection, tenant_id: &str, mode: Mode) -> Result<Verification> {
    verify_with_progress(conn, tenant_id, mode, &mut |_| {})
}

/// Verifies the chains of `tenants` (id, slug): the API's report.
pub fn verify_report<'a>(
    conn: &mut DbConnection,
    tenants: impl IntoIterator<Item = (&'a str, &'a str)>,
    mode: Mode,
) -> Result<tessera_proto::api::VerifyReport> {
    let mut reports = Vec::new();
    for (id, slug) in tenants {
        let r = verify(conn, id, mode)?;
        reports.push(tessera_proto::api::ChainReport {
            tenant_id: id.to_owned(),
            tenant: slug.to_owned(),
            intact: r.is_intact(),
            from_seq: r.from_seq,
            full: r.full,
            events: r.events,
            head_seq: r.head_seq,
            head_hash: r.head_hash,
            first_bad_seq: r.first_bad_seq,
            problem: r.problem.map(str::to_owned),
        });
    }
    Ok(tessera_proto::api::VerifyReport {
        intact: reports.iter().all(|r| r.intact),
        tenants: reports,
    })
}

/// [`verify`], reporting the number of events checked after each page. The outcome,
/// and the newest event found intact, are kept as the tenant's last check (see
/// `checks`).
pub fn verify_with_progress(
    conn: &mut DbConnection,
    tenant_id: &str,
    mode: Mode,
    progress: &mut dyn FnMut(i64),
) -> Result<Verification> {
    let stored = super::checks::verified_position(conn, tenant_id)?;
    let last = stored
        .as_ref()
        .filter(|p| p.seq > 0)
        .map(|p| (p.seq, p.hash.clone()));
    let start = match (mode, &stored) {
        (Mode::FromLastVerified, Some(p)) if !p.broken => last.clone(),
        _ => None,
    };
    let report = walk(conn, tenant_id, start, last, progress)?;
    super::checks::record(conn, &report, stored.as_ref())?;
    Ok(report)
}

/// Checks the chain after `start` (the last verified position, trusted once its own
/// event is still there unchanged), or from genesis; `last` is the stored position:
/// the event there must still have the hash it had, and the chain must reach it.
fn walk(
    conn: &mut DbConnection,
    tenant_id: &str,
    start: Option<(i64, String)>,
    last: Option<(i64, String)>,
    progress: &mut dyn FnMut(i64),
) -> Result<Verification> {
    const PAGE: i64 = 1000;
    let mut report = Verification {
        tenant_id: tenant_id.to_owned(),
        from_seq: 1,
        full: true,
        events: 0,
        head_seq: 0,
        head_hash: GENESIS_HASH.to_owned(),
        first_bad_seq: None,
        problem: None,
        verified: None,
    };
    // Start below 1, so a row slipped in with seq 0 or less is read and refused.
    let mut after = i64::MIN;
    if let Some((seq, hash)) = start.filter(|(seq, _)| *seq > 0) {
        report.full = false;
        report.from_seq = seq + 1;
        let problem = match store::at(conn, tenant_id, seq)? {
            None => Some("the last verified event is missing (deleted)"),
            Some(row) if row.hash != hash => Some(REPLACED),
            Some(row) if chain_hash(&row.prev_hash, &row) != row.hash => {
                Some("hash mismatch (edited event)")
            }
            Some(_) => None,
        };
        if let Some(problem) = problem {
            report.first_bad_seq = Some(seq);
            report.problem = Some(problem);
            return Ok(report);
        }
        report.head_seq = seq;
        report.head_hash = hash;
        after = seq;
    }
    // Pages are read ahead on another thread while this one hashes.
    let mut done = false;
    crate::db::read_ahead(
        conn,
        |conn| {
            if done {
                return Ok(None);
            }
            let page = store::page_after(conn, tenant_id, after, PAGE)?;
            done = (page.len() as i64) < PAGE;
            if let Some(row) = page.last() {
                after = row.seq;
            }
            Ok::<_, crate::error::Error>(Some(page))
        },
        |page| {
            let intact = check_page(&mut report, last.as_ref(), page);
            progress(report.events);
            Ok(intact)
        },
    )?;
    if !report.is_intact() {
        return Ok(report);
    }
    match &last {
        Some((seq, _)) if *seq > report.head_seq => {
            report.first_bad_seq = Some(report.head_seq + 1);
            report.problem = Some(TRUNCATED);
        }
        _ => report.verified = Some((report.head_seq, report.head_hash.clone())),
    }
    Ok(report)
}

/// Checks the next page of a chain after `report`'s head, which moves to its last
/// intact event; false at the first problem (recorded in `report`).
fn check_page(
    report: &mut Verification,
    last: Option<&(i64, String)>,
    page: Vec<AuditRow>,
) -> bool {
    for row in page {
        let expected_seq = report.head_seq + 1;
        if row.seq < 1 {
            report.first_bad_seq = Some(row.seq);
            report.problem = Some("invalid sequence number");
            return false;
        }
        let problem = if row.seq != expected_seq {
            Some("missing event (sequence gap)")
        } else if row.prev_hash != report.head_hash {
            Some("previous-hash link broken (reordered or replaced event)")
        } else if chain_hash(&row.prev_hash, &row) != row.hash {
            Some("hash mismatch (edited event)")
        } else if last.is_some_and(|(s, h)| *s == row.seq && *h != row.hash) {
            // Rewritten from an earlier event on, hashes recomputed.
            Some(REPLACED)
        } else {
            None
        };
        if let Some(problem) = problem {
            report.first_bad_seq = Some(expected_seq);
            report.problem = Some(problem);
            return false;
        }
        report.events += 1;
        report.head_seq = row.seq;
        report.head_hash = row.hash;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64) -> AuditRow {
        let t = chrono::DateTime::from_timestamp(1_795_000_000, 123_456_000)
            .map(|d| d.naive_utc())
            .unwrap_or_default();
        AuditRow {
            tenant_id: "t1".into(),
            seq,
            id: format!("e{seq}"),
            occurred_at: t,
            received_at: t,
            source: "cli".into(),
            actor_type: "operator".into(),
            actor_id: None,
            action: "tenant.created".into(),
            resource_type: Some("tenant".into()),
            resource_id: Some("x".into()),
            outcome: "success".into(),
            ip: None,
            request_id: None,
            details: "{}".into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn canonical_encoding_is_fixed() {
        let text = String::from_utf8(canonical(&row(1))).unwrap();
        assert_eq!(
            text,
            r#"["t1",1,"e1","2026-11-18T11:06:40.123456Z","2026-11-18T11:06:40.123456Z","cli","operator",null,"tenant.created","tenant","x","success",null,null,"{}"]"#
        );
    }

    #[test]
    fn details_are_stored_with_sorted_keys() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{"z":1,"a":{"y":[{"b":2,"a":1}],"x":null}}"#).unwrap();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"x":null,"y":[{"a":1,"b":2}]},"z":1}"#
        );
    }

    #[test]
    fn hash_covers_every_field_and_the_link() {
        let base = row(1);
        let h = chain_hash(GENESIS_HASH, &base);
        assert_eq!(h.len(), 64);
        let mut edited = base.clone();
        edited.outcome = "failure".into();
        assert_ne!(chain_hash(GENESIS_HASH, &edited), h);
        let mut edited = base.clone();
        edited.details = r#"{"a":1}"#.into();
        assert_ne!(chain_hash(GENESIS_HASH, &edited), h);
        assert_ne!(chain_hash(&"1".repeat(64), &base), h);
    }

    #[test]
    fn receivers_recompute_the_hash_from_the_api_item() {
        // Receivers of the audit stream (tessera-verify) hash the API's item shape, not
        // the row: any drift between the two encodings would flag every event as edited.
        let details: serde_json::Value = serde_json::from_str(
            r#"{"z":1.5,"a":{"y":[{"b":2,"a":1}],"x":null},"text":"é \"q\" \u2028 <&>\n",
                "big":18446744073709551615,"neg":-7,"f":0.1,"e":1e300,"list":[]}"#,
        )
        .unwrap();
        let t = chrono::DateTime::from_timestamp(1_795_000_000, 987_654_321)
            .map(|d| d.naive_utc())
            .unwrap_or_default();
        type Edit<'a> = Box<dyn Fn(&mut AuditRow) + 'a>;
        let variants: Vec<Edit> = vec![
            Box::new(|_| {}),
            Box::new(|r| {
                r.resource_type = None;
                r.resource_id = None;
            }),
            Box::new(|r| r.resource_id = None),
            Box::new(|r| {
                r.resource_type = None;
                r.actor_id = Some("user-1".into());
                r.ip = Some("2001:db8::1".into());
                r.request_id = Some("req-1".into());
                r.details = canonical_json(&details);
                r.occurred_at = t;
            }),
            Box::new(|r| r.details = "null".into()),
        ];
        let mut prev = GENESIS_HASH.to_owned();
        for (seq, variant) in (1..).zip(variants) {
            let mut row = row(seq);
            variant(&mut row);
            row.prev_hash = prev;
            row.hash = chain_hash(&row.prev_hash, &row);
            prev = row.hash.clone();
            let item = crate::audit::query::AuditItem::from(row.clone());
            assert_eq!(
                tessera_verify::stream::item_hash(&item),
                row.hash,
                "seq {seq}"
            );
        }
        // And the stream checker accepts them as a chain, from their JSON.
        let mut checker = tessera_verify::StreamChecker::new(None, None).unwrap();
        let mut prev = GENESIS_HASH.to_owned();
        for seq in 1..=3 {
            let mut row = row(seq);
            row.details = canonical_json(&details);
            row.prev_hash = prev;
            row.hash = chain_hash(&row.prev_hash, &row);
            prev = row.hash.clone();
            let line = serde_json::to_string(&crate::audit::query::AuditItem::from(row)).unwrap();
            checker.push_line(&line).unwrap();
        }
        assert_eq!(checker.summary().tenants[0].head_hash, prev);
    }
}
