//! Audit ingestion from downstream services (DESIGN "Audit ingestion", invariant 6):
//! schema-checked events, bound to the caller's token (a user's token writes its own
//! tenant as itself; a tenant-bound client writes its tenant; a platform client names
//! the tenant of each event and a user actor must be a member of it), appended
//! all-or-nothing in one transaction, acknowledged only after commit.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Appended, Entry};
use crate::access::TenantContext;
use crate::db::{self, DbConnection};
use crate::error::{Error, Result};
use crate::memberships;
use crate::tenants::{self, SYSTEM_TENANT_ID};

pub const MAX_BATCH: usize = 1000;
pub use tessera_proto::AUDIT_WRITE_SCOPE as WRITE_SCOPE;

/// One event as a downstream service sends it (the wire contract's type).
pub use tessera_proto::{IngestEvent, Reference};

/// Parses a body, naming the position and field of the first problem.
pub fn parse(body: &[u8]) -> Result<Vec<IngestEvent>> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Error::BadRequest(format!(
            "malformed JSON at line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let events = match value {
        serde_json::Value::Array(items) => {
            if items.is_empty() {
                return Err(Error::BadRequest("the batch is empty".into()));
            }
            if items.len() > MAX_BATCH {
                return Err(Error::BadRequest(format!(
                    "a batch holds at most {MAX_BATCH} events"
                )));
            }
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    event_from(item).map_err(|m| Error::BadRequest(format!("event {i}: {m}")))
                })
                .collect::<Result<Vec<_>>>()?
        }
        item @ serde_json::Value::Object(_) => {
            vec![event_from(item).map_err(Error::BadRequest)?]
        }
        _ => {
            return Err(Error::BadRequest(
                "expected an event object or an array of events".into(),
            ))
        }
    };
    Ok(events)
}

fn event_from(value: serde_json::Value) -> std::result::Result<IngestEvent, String> {
    let event: IngestEvent = serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        text.chars().take(200).collect::<String>()
    })?;
    validate(&event)?;
    Ok(event)
}

fn short_text(name: &str, value: &str, max: usize) -> std::result::Result<(), String> {
    if value.is_empty() || value.len() > max || value.chars().any(char::is_control) {
        return Err(format!("{name} must be 1-{max} printable characters"));
    }
    Ok(())
}

fn validate(event: &IngestEvent) -> std::result::Result<(), String> {
    short_text("action", &event.action, 128)?;
    if !event
        .action
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
    {
        return Err("action may use only letters, digits, '.', '_', '-' and ':'".into());
    }
    if !matches!(event.outcome.as_str(), "success" | "failure" | "denied") {
        return Err("outcome must be success, failure or denied".into());
    }
    if let Some(tenant_id) = &event.tenant_id {
        short_text("tenant_id", tenant_id, 64)?;
    }
    if let Some(actor) = &event.actor {
        if !matches!(
            actor.kind.as_str(),
            "user" | "client" | "service" | "system"
        ) {
            return Err("actor.type must be user, client, service or system".into());
        }
        if let Some(id) = &actor.id {
            short_text("actor.id", id, 256)?;
        }
    }
    if let Some(resource) = &event.resource {
        short_text("resource.type", &resource.kind, 128)?;
        if let Some(id) = &resource.id {
            short_text("resource.id", id, 256)?;
        }
    }
    if let Some(request_id) = &event.request_id {
        short_text("request_id", request_id, 128)?;
    }
    if let Some(ip) = &event.ip {
        ip.parse::<std::net::IpAddr>()
            .map_err(|_| "ip must be an IPv4 or IPv6 address".to_owned())?;
    }
    if let Some(details) = &event.details {
        let size = serde_json::to_string(details)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > 16 * 1024 {
            return Err("details must be at most 16 KiB of JSON".into());
        }
    }
    if let Some(at) = &event.occurred_at {
        let at = parse_time(at).ok_or_else(|| "occurred_at must be an RFC 3339 time".to_owned())?;
        if at > Utc::now() + chrono::Duration::minutes(5) {
            return Err("occurred_at is in the future".into());
        }
    }
    Ok(())
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Why a batch was refused by the tenant rules (a 403; the caller audits it).
#[derive(Debug)]
pub struct Refused {
    pub index: usize,
    /// The event named a tenant this token may not write, as the caller typed it: a
    /// cross-tenant attempt (invariant 2), recorded as `tenant.cross_access_denied`.
    pub other_tenant: Option<String>,
}

/// Appends a validated batch under the caller's token rules, in `tx`. `Ok(Err(_))` is a
/// refusal: nothing was written, and the caller records the denial separately.
pub fn ingest(
    tx: &mut DbConnection,
    ctx: &TenantContext,
    events: Vec<IngestEvent>,
) -> Result<std::result::Result<Vec<Appended>, Refused>> {
    let platform_client = ctx.is_client() && ctx.tenant_id == SYSTEM_TENANT_ID;
    if ctx.is_client() && !ctx.has_scope(WRITE_SCOPE) {
        return Ok(Err(Refused {
            index: 0,
            other_tenant: None,
        }));
    }
    let mut known_tenants: HashMap<String, bool> = HashMap::new();
    let mut members: HashMap<(String, String), bool> = HashMap::new();
    let mut entries = Vec::with_capacity(events.len());
    for (index, event) in events.into_iter().enumerate() {
        let refuse = Ok(Err(Refused {
            index,
            other_tenant: None,
        }));
        let cross_tenant = |requested: &str| {
            Ok(Err(Refused {
                index,
                other_tenant: Some(requested.to_owned()),
            }))
        };
        let tenant_id = if platform_client {
            // A platform client names the tenant of each event; it must exist, and it
            // is never the service's own `system` chain.
            let Some(tenant_id) = event.tenant_id.clone() else {
                return Err(Error::BadRequest(format!(
                    "event {index}: tenant_id is required"
                )));
            };
            if tenant_id == SYSTEM_TENANT_ID {
                return cross_tenant(&tenant_id);
            }
            let exists = match known_tenants.get(&tenant_id) {
                Some(known) => *known,
                None => {
                    let exists = uuid::Uuid::parse_str(&tenant_id).is_ok()
                        && tenants::find_by_id(tx, &tenant_id)?.is_some();
                    known_tenants.insert(tenant_id.clone(), exists);
                    exists
                }
            };
            if !exists {
                return refuse;
            }
            tenant_id
        } else {
            if let Some(requested) = event.tenant_id.as_ref().filter(|t| **t != ctx.tenant_id) {
                return cross_tenant(requested);
            }
            ctx.tenant_id.clone()
        };

        let (actor_type, actor_id) = if ctx.is_client() {
            match &event.actor {
                Some(actor) => (actor.kind.clone(), actor.id.clone()),
                None => ("client".to_owned(), Some(ctx.client_id.clone())),
            }
        } else {
            // A user's token writes as that user, and as nobody else.
            let other = event.actor.as_ref().is_some_and(|a| {
                a.kind != "user" || a.id.as_ref().is_some_and(|id| *id != ctx.subject)
            });
            if other {
                return refuse;
            }
            ("user".to_owned(), Some(ctx.subject.clone()))
        };
        // Whichever client writes, a user it names must be a member of the event's
        // tenant: no client speaks for another tenant's users.
        if ctx.is_client() && actor_type == "user" {
            let Some(user_id) = actor_id.clone() else {
                return Err(Error::BadRequest(format!(
                    "event {index}: actor.id is required for a user"
                )));
            };
            let key = (tenant_id.clone(), user_id.clone());
            let member = match members.get(&key) {
                Some(member) => *member,
                None => {
                    let member = uuid::Uuid::parse_str(&user_id).is_ok()
                        && memberships::is_member(tx, &tenant_id, &user_id)?;
                    members.insert(key, member);
                    member
                }
            };
            if !member {
                return refuse;
            }
        }
        let (resource_type, resource_id) = match event.resource {
            Some(r) => (Some(r.kind), r.id),
            None => (None, None),
        };
        entries.push(Entry {
            tenant_id,
            occurred_at: event.occurred_at.as_deref().and_then(parse_time).map(|t| {
                use chrono::SubsecRound;
                t.naive_utc().trunc_subsecs(6)
            }),
            source: ctx.client_id.clone(),
            actor_type,
            actor_id,
            action: event.action,
            resource_type,
            resource_id,
            outcome: event.outcome,
            ip: event.ip.or_else(|| ctx.ip.clone()),
            request_id: event.request_id.or_else(|| ctx.request_id.clone()),
            details: serde_json::Value::Object(event.details.unwrap_or_default()),
        });
    }
    Ok(Ok(super::append(tx, entries)?))
}

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

/// What one transaction of [`ingest_batch`] decided.
enum Decided {
    Stored(Vec<(String, i64)>),
    Replayed(Vec<(String, i64)>),
    Refused(Refused),
}

/// Ingests a batch: appended and committed, or refused (the refusal is recorded in the
/// caller's chain, as `tenant.cross_access_denied` when an event named a tenant the
/// token may not write, as `audit.ingest_denied` otherwise, and nothing else is
/// written).
///
/// With an idempotency key, the answer is stored in the same transaction as the events,
/// for `window`: a retry of the same request (same caller, key and body) stores nothing
/// and gets the original `id`s and `seq`s, across restarts and instances; the same key
/// with another body is `Unprocessable`. Two copies racing each other: the second
/// finds the first's key when it tries to store its own, rolls back and answers as a
/// retry.
pub fn ingest_batch(
    conn: &mut DbConnection,
    ctx: &TenantContext,
    events: Vec<IngestEvent>,
    key: Option<&IdempotencyKey>,
    window: std::time::Duration,
) -> Result<Ingested> {
    let caller = format!("{} {}", ctx.client_id, ctx.subject);
    let mut attempt = 0;
    // Kept for a retry only when there is a key (a retry needs the batch again).
    let mut pending = Some(events);
    let decided = loop {
        attempt += 1;
        let events = if key.is_some() {
            pending.clone()
        } else {
            pending.take()
        }
        .unwrap_or_default();
        let result = db::write_tx(conn, |tx| {
            if let Some(key) = key {
                if let Some(stored) =
                    super::store::ingest_key(tx, &ctx.tenant_id, &caller, &key.key)?
                {
                    let fresh = chrono::Duration::from_std(window)
                        .is_ok_and(|w| stored.created_at > db::now() - w);
                    if fresh {
                        if stored.request_hash != key.request_hash {
                            return Err(Error::Unprocessable(
                                "the Idempotency-Key was used for another request",
                            ));
                        }
                        let events =
                            serde_json::from_str(&stored.events).map_err(Error::internal)?;
                        return Ok(Decided::Replayed(events));
                    }
                    super::store::delete_ingest_key(tx, &stored)?;
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
                    caller: caller.clone(),
                    idempotency_key: key.key.clone(),
                    request_hash: key.request_hash.clone(),
                    events: serde_json::to_string(&stored).map_err(Error::internal)?,
                    created_at: db::now(),
                };
                super::store::insert_ingest_key(tx, &row).map_err(|e| {
                    if crate::error::is_unique_violation(&e) {
                        Error::Conflict("idempotency key")
                    } else {
                        e.into()
                    }
                })?;
            }
            Ok(Decided::Stored(stored))
        });
        match result {
            Err(Error::Conflict("idempotency key")) if attempt == 1 => continue,
            other => break other?,
        }
    };
    let refused = match decided {
        Decided::Stored(events) => {
            return Ok(Ingested {
                events,
                replayed: false,
            })
        }
        Decided::Replayed(events) => {
            return Ok(Ingested {
                events,
                replayed: true,
            })
        }
        Decided::Refused(refused) => refused,
    };
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
    Err(Error::Forbidden)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_problem() {
        let ok = parse(br#"{"action":"invoice.read","outcome":"success"}"#).unwrap();
        assert_eq!(ok.len(), 1);
        let many =
            parse(br#"[{"action":"a","outcome":"success"},{"action":"b","outcome":"denied"}]"#)
                .unwrap();
        assert_eq!(many.len(), 2);
        let cases: [(&[u8], &str); 8] = [
            (b"{", "malformed JSON"),
            (b"[]", "empty"),
            (b"42", "expected an event"),
            (br#"{"action":"a","outcome":"maybe"}"#, "outcome must be"),
            (
                br#"{"action":"a","outcome":"success","bogus":1}"#,
                "unknown field `bogus`",
            ),
            (br#"{"action":5,"outcome":"success"}"#, "invalid type"),
            (
                br#"[{"action":"a","outcome":"success"},{"outcome":"success"}]"#,
                "event 1: missing field `action`",
            ),
            (
                br#"{"action":"a","outcome":"success","ip":"not-an-ip"}"#,
                "ip must be",
            ),
        ];
        for (body, expected) in cases {
            let message = parse(body).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                message.contains(expected),
                "{}: {message}",
                String::from_utf8_lossy(body)
            );
        }
        let too_many = format!(
            "[{}]",
            vec![r#"{"action":"a","outcome":"success"}"#; 1001].join(",")
        );
        assert!(parse(too_many.as_bytes()).is_err());
    }
}
