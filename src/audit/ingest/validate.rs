//! The schema check of ingested events: the body's shape, each field's length and
//! characters, and times, with the position and field of the first problem named.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use tessera_proto::IngestEvent;

pub const MAX_BATCH: usize = 1000;

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

/// An RFC 3339 time, without a leap second: chrono keeps `:60` as a nanosecond count
/// past one second, which the chain's time format (`db::format_utc`) would write as a
/// different instant than the database stores, so the event would fail verification.
pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .filter(|t| t.timestamp_subsec_nanos() < 1_000_000_000)
        .map(|t| t.with_timezone(&Utc))
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
