//! A JOSE header or JWT claims set with a member name twice is refused (RFC 7515 section
//! 5.2, RFC 8725 section 3.1): parsers disagree on which value wins, so a duplicated
//! `typ`, `alg`, `kid` or `tenant_id` could mean one thing to Tessera and another to a
//! downstream verifier. Both the server and `tessera-verify` refuse them.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Whether `json` is well-formed JSON in which no object repeats a member name.
pub fn no_duplicate_members(json: &[u8]) -> bool {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    Unique.deserialize(&mut deserializer).is_ok() && deserializer.end().is_ok()
}

/// Walks any JSON value, failing at the first object with a repeated member.
struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON without repeated member names")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(de::Error::custom("repeated member name"));
            }
            map.next_value_seed(Unique)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_members_are_found_at_any_depth() {
        assert!(no_duplicate_members(
            br#"{"alg":"ES256","typ":"at+jwt","kid":"k"}"#
        ));
        assert!(no_duplicate_members(
            br#"{"a":[{"b":1},{"b":2}],"c":{"d":null}}"#
        ));
        assert!(!no_duplicate_members(br#"{"typ":"JWT","typ":"at+jwt"}"#));
        assert!(!no_duplicate_members(br#"{"a":{"b":1,"b":2}}"#));
        assert!(!no_duplicate_members(br#"{"a":[{"b":1,"b":1}]}"#));
        assert!(!no_duplicate_members(br#"{"a":1} trailing"#));
        assert!(!no_duplicate_members(b"not json"));
    }
}
