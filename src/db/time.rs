//! Timestamps as both backends store them (UTC, microseconds) and as every output shows
//! them (RFC 3339 with `Z`): the form the audit chain hashes.

/// The current UTC time at the precision both backends store (microseconds), so a value
/// reads back equal to what was written and hashes over it re-verify.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}

/// A stored UTC timestamp as RFC 3339 with microseconds and `Z`.
pub fn format_utc(t: &chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    // Written out rather than through a strftime pattern: this runs for every event
    // hashed or exported, and pattern parsing costs more than the formatting.
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 1000
    )
}

/// `serialize_with` for stored timestamps, so JSON output always says UTC.
pub fn serialize_utc<S: serde::Serializer>(
    t: &chrono::NaiveDateTime,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_utc(t))
}

/// `serialize_with` for optional stored timestamps.
pub fn serialize_utc_opt<S: serde::Serializer>(
    t: &Option<chrono::NaiveDateTime>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_utc(t)),
        None => s.serialize_none(),
    }
}
