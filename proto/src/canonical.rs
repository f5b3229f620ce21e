//! The canonical JSON text of an audit event's `details`: every object's keys sorted
//! (recursively), no insignificant white space. It is what the server stores and hashes
//! and what a receiver of an audit stream recomputes, so both sides share this one
//! definition. Sorting is explicit because serde_json may be built to keep insertion
//! order.

/// `value` as canonical JSON text.
pub fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serde_json::Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sorted(v)))
                        .collect(),
                )
            }
            serde_json::Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(sorted).collect())
            }
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sorted_at_every_depth() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{"z":1,"a":{"y":[{"b":2,"a":1}],"x":null}}"#)
                .unwrap_or_default();
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"x":null,"y":[{"a":1,"b":2}]},"z":1}"#
        );
    }
}
