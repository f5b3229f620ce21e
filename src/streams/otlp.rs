//! Audit events as an OTLP/HTTP logs export (`ExportLogsServiceRequest` in OTLP's JSON
//! Protobuf encoding: lowerCamelCase names, 64-bit integers as decimal strings, enums
//! as integers), so any OpenTelemetry collector can receive an audit stream. Each
//! record's body is the event's JSON text exactly as the list API gives it, so a
//! receiver can recompute the hash chain from the bodies alone.

use serde_json::{json, Value};

/// The instrumentation scope every record is reported under.
const SCOPE: &str = "tessera.audit";
/// OTLP `SeverityNumber`s.
const SEVERITY_INFO: u8 = 9;
const SEVERITY_WARN: u8 = 13;

/// One export request holding `items` (audit events in the list API's shape) and, if
/// given, the checkpoint (a JWS) that covers them as a last record.
pub fn encode(service_name: &str, items: &[Value], checkpoint: Option<&str>) -> Vec<u8> {
    let mut records: Vec<Value> = items.iter().map(event_record).collect();
    if let Some(jws) = checkpoint {
        records.push(checkpoint_record(jws));
    }
    let request = json!({
        "resourceLogs": [{
            "resource": {
                "attributes": [string_attribute("service.name", service_name)],
            },
            "scopeLogs": [{
                "scope": { "name": SCOPE, "version": env!("CARGO_PKG_VERSION") },
                "logRecords": records,
            }],
        }],
    });
    // A `Value` with string keys always serializes; the fallback is never taken.
    serde_json::to_vec(&request).unwrap_or_default()
}

fn event_record(item: &Value) -> Value {
    let text = |field: &str| item.get(field).and_then(Value::as_str).unwrap_or("");
    let action = text("action");
    let outcome = text("outcome");
    let (severity, severity_text) = if outcome == "success" {
        (SEVERITY_INFO, "INFO")
    } else {
        // Failures and denials are what an operator's alerting looks for.
        (SEVERITY_WARN, "WARN")
    };
    let mut attributes = vec![
        string_attribute("tessera.tenant_id", text("tenant_id")),
        string_attribute("tessera.action", action),
        string_attribute("tessera.outcome", outcome),
        string_attribute("tessera.source", text("source")),
        string_attribute("tessera.hash", text("hash")),
        string_attribute("event.name", action),
    ];
    if let Some(seq) = item.get("seq").and_then(Value::as_i64) {
        attributes.insert(
            1,
            json!({ "key": "tessera.seq", "value": { "intValue": seq.to_string() } }),
        );
    }
    json!({
        "timeUnixNano": unix_nanos(text("occurred_at")),
        "observedTimeUnixNano": unix_nanos(text("received_at")),
        "severityNumber": severity,
        "severityText": severity_text,
        "eventName": action,
        // Serializing a `Value` cannot fail; an empty body would only fail the
        // receiver's chain check, loudly.
        "body": { "stringValue": serde_json::to_string(item).unwrap_or_default() },
        "attributes": attributes,
    })
}

fn checkpoint_record(jws: &str) -> Value {
    let now = chrono::Utc::now()
        .timestamp_nanos_opt()
        .map_or_else(|| "0".to_owned(), |n| n.max(0).to_string());
    json!({
        "timeUnixNano": now,
        "observedTimeUnixNano": now,
        "severityNumber": SEVERITY_INFO,
        "severityText": "INFO",
        "eventName": "tessera.checkpoint",
        "body": { "stringValue": json!({ "checkpoint": jws }).to_string() },
        "attributes": [
            { "key": "tessera.checkpoint", "value": { "boolValue": true } },
            string_attribute("event.name", "tessera.checkpoint"),
        ],
    })
}

fn string_attribute(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// An RFC 3339 time as OTLP's `fixed64` nanoseconds since the epoch, a decimal string;
/// `"0"` (OTLP's "unknown") for a missing, unreadable or pre-1970 time.
fn unix_nanos(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .filter(|n| *n >= 0)
        .map_or_else(|| "0".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, outcome: &str) -> Value {
        json!({
            "id": "0193f0c2-0000-7000-8000-000000000001",
            "tenant_id": "t-acme",
            "seq": seq,
            "occurred_at": "2026-11-26T10:00:00.000000Z",
            "received_at": "2026-11-26T10:00:00.123456Z",
            "source": "tessera",
            "actor": { "type": "user", "id": "u-1" },
            "action": "login",
            "outcome": outcome,
            "resource": null,
            "request_id": "r-1",
            "ip": "203.0.113.5",
            "details": { "method": "password" },
            "prev_hash": "aa",
            "hash": "bb",
        })
    }

    fn attribute<'a>(record: &'a Value, key: &str) -> &'a Value {
        record["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| &a["value"])
            .unwrap_or_else(|| panic!("no attribute {key}"))
    }

    #[test]
    fn events_become_log_records_in_the_otlp_json_shape() {
        let items = [event(9_007_199_254_740_993, "success"), event(2, "denied")];
        let out: Value = serde_json::from_slice(&encode("tessera-eu", &items, None)).unwrap();

        let resource = &out["resourceLogs"][0];
        assert_eq!(
            resource["resource"]["attributes"][0],
            json!({ "key": "service.name", "value": { "stringValue": "tessera-eu" } })
        );
        let scope = &resource["scopeLogs"][0];
        assert_eq!(scope["scope"]["name"], "tessera.audit");
        assert_eq!(scope["scope"]["version"], env!("CARGO_PKG_VERSION"));
        let records = scope["logRecords"].as_array().unwrap();
        assert_eq!(records.len(), 2);

        let first = &records[0];
        // 2026-11-26T10:00:00Z is 1_795_687_200 s after the epoch.
        assert_eq!(first["timeUnixNano"], "1795687200000000000");
        assert_eq!(first["observedTimeUnixNano"], "1795687200123456000");
        assert_eq!(first["severityNumber"], 9);
        assert_eq!(first["severityText"], "INFO");
        assert_eq!(first["eventName"], "login");
        // 64-bit integers travel as strings, beyond what a JSON double holds exactly.
        assert_eq!(
            attribute(first, "tessera.seq"),
            &json!({ "intValue": "9007199254740993" })
        );
        assert_eq!(
            attribute(first, "tessera.tenant_id"),
            &json!({ "stringValue": "t-acme" })
        );
        assert_eq!(attribute(first, "tessera.action")["stringValue"], "login");
        assert_eq!(
            attribute(first, "tessera.outcome")["stringValue"],
            "success"
        );
        assert_eq!(attribute(first, "tessera.source")["stringValue"], "tessera");
        assert_eq!(attribute(first, "tessera.hash")["stringValue"], "bb");
        assert_eq!(attribute(first, "event.name")["stringValue"], "login");

        let body = first["body"]["stringValue"].as_str().unwrap();
        assert_eq!(body, serde_json::to_string(&items[0]).unwrap());
        assert_eq!(serde_json::from_str::<Value>(body).unwrap(), items[0]);

        assert_eq!(records[1]["severityNumber"], 13);
        assert_eq!(records[1]["severityText"], "WARN");
        assert_eq!(
            attribute(&records[1], "tessera.outcome")["stringValue"],
            "denied"
        );
    }

    #[test]
    fn the_checkpoint_becomes_a_last_record() {
        let jws = "eyJhbGciOiJFUzI1NiJ9.eyJzZXEiOjJ9.c2ln";
        let out: Value =
            serde_json::from_slice(&encode("tessera", &[event(1, "failure")], Some(jws))).unwrap();
        let records = out["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
            .as_array()
            .unwrap();
        assert_eq!(records.len(), 2);
        let checkpoint = &records[1];
        let body: Value =
            serde_json::from_str(checkpoint["body"]["stringValue"].as_str().unwrap()).unwrap();
        assert_eq!(body, json!({ "checkpoint": jws }));
        assert_eq!(
            attribute(checkpoint, "tessera.checkpoint"),
            &json!({ "boolValue": true })
        );
        let time: u64 = checkpoint["timeUnixNano"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(time > 1_700_000_000_000_000_000, "the time of encoding");
    }

    #[test]
    fn no_items_is_an_empty_export() {
        let out: Value = serde_json::from_slice(&encode("tessera", &[], None)).unwrap();
        assert_eq!(
            out["resourceLogs"][0]["scopeLogs"][0]["logRecords"],
            json!([])
        );
    }

    #[test]
    fn times_convert_to_epoch_nanoseconds() {
        assert_eq!(unix_nanos("1970-01-01T00:00:00.000001Z"), "1000");
        assert_eq!(
            unix_nanos("2026-11-26T10:00:00.000000Z"),
            "1795687200000000000"
        );
        assert_eq!(
            unix_nanos("2026-11-26T11:00:00.5+01:00"),
            "1795687200500000000"
        );
        assert_eq!(unix_nanos("yesterday"), "0");
        assert_eq!(unix_nanos(""), "0");
        assert_eq!(unix_nanos("1969-12-31T23:59:59Z"), "0");
    }
}
