//! Recovery codes: ten single-use codes of 50 random bits each, shown once, stored as
//! SHA-256 (a fast hash is right for random values), compared after normalizing what a
//! person types (case, spaces, dashes).

use sha2::{Digest, Sha256};

/// Codes per set.
pub const COUNT: usize = 10;
/// Crockford's base32 alphabet: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new set, formatted `XXXXX-XXXXX` for reading aloud.
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand::fill(&mut bytes);
            let chars: String = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect();
            format!("{}-{}", &chars[..5], &chars[5..])
        })
        .collect()
}

/// What a typed code is compared as: upper case, no spaces or dashes; `None` if it
/// cannot be one of ours.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == 10 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// The stored form of a code as generated or as typed: the hash of its normalized
/// form; `None` if it cannot be one of ours.
pub fn stored(code: &str) -> Option<String> {
    normalize(code).map(|normalized| hex::encode(Sha256::digest(normalized.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_normalize_back() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        for code in &codes {
            let typed = code.to_lowercase().replace('-', " ");
            assert_eq!(
                normalize(&typed).as_deref(),
                Some(code.replace('-', "").as_str())
            );
        }
        assert_eq!(normalize("short"), None);
        assert_eq!(normalize("UUUUU-UUUUU"), None, "U is not in the alphabet");
    }
}
