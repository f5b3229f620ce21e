//! Password hashing: the only place bcrypt is used. bcrypt reads at most 72 bytes, so
//! longer passwords are refused rather than silently truncated.

use crate::error::{Error, Result};

pub const MIN_LEN: usize = 8;
pub const MAX_BYTES: usize = 72;

/// Checks the password policy, then hashes at `cost`.
pub fn hash(password: &str, cost: u32) -> Result<String> {
    if password.chars().count() < MIN_LEN {
        return Err(Error::Invalid("password: at least 8 characters"));
    }
    if password.len() > MAX_BYTES {
        return Err(Error::Invalid("password: at most 72 bytes"));
    }
    bcrypt::hash(password, cost).map_err(Error::internal)
}

/// Constant-work comparison of a password with a stored hash; a malformed hash is a
/// mismatch, never an error the caller could tell apart.
pub fn verify(password: &str, hash: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_verifies() {
        let h = hash("correct horse", 4).unwrap();
        assert!(h.starts_with("$2"));
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("correct horse", "not-a-hash"));
    }

    #[test]
    fn policy() {
        assert!(matches!(hash("short", 4), Err(Error::Invalid(_))));
        assert!(matches!(hash(&"x".repeat(73), 4), Err(Error::Invalid(_))));
    }
}
