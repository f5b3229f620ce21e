//! OAuth scopes (RFC 6749 section 3.3): space-separated tokens. A request may only
//! narrow what is allowed; the granted scope is sorted and deduplicated, so equal grants
//! compare equal.

/// `requested` narrowed to `allowed`: sorted and deduplicated; `None` when it asks for a
/// scope `allowed` does not hold. An empty request grants the empty scope.
pub fn narrow<'a>(allowed: impl IntoIterator<Item = &'a str>, requested: &str) -> Option<String> {
    let allowed: Vec<&str> = allowed.into_iter().collect();
    let mut granted: Vec<&str> = requested.split(' ').filter(|s| !s.is_empty()).collect();
    if granted.iter().any(|s| !allowed.contains(s)) {
        return None;
    }
    granted.sort_unstable();
    granted.dedup();
    Some(granted.join(" "))
}

/// Whether `scope` holds `name`.
pub fn contains(scope: &str, name: &str) -> bool {
    scope.split(' ').any(|s| s == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing() {
        let allowed = ["audit:write", "read", "write"];
        assert_eq!(narrow(allowed, "write read").as_deref(), Some("read write"));
        assert_eq!(narrow(allowed, "read read").as_deref(), Some("read"));
        assert_eq!(narrow(allowed, "  ").as_deref(), Some(""));
        assert_eq!(narrow(allowed, "read admin"), None);
        assert!(contains("openid tessera:api", "openid"));
        assert!(!contains("openid2", "openid"));
    }
}
