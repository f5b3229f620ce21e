//! The I/O half of the JWKS client: one bounded HTTP fetch (with `If-None-Match`), the
//! key set's lifetime from `Cache-Control`, and parsing a JWKS into verifiers. The
//! cache state and its decisions are `mod.rs`'s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use josekit::jwk::Jwk;
use serde::Deserialize;

use super::{JwksConfig, Remote, MAX_JWKS_BYTES, MAX_KEYS, MAX_KID_LEN};
use crate::algorithm::{Algorithm, Key};
use crate::error::JwksError;

pub(super) struct Fetched {
    /// `None`: 304, the cached keys are current.
    pub(super) body: Option<Vec<u8>>,
    pub(super) body_was_sent: bool,
    pub(super) cache_control: Option<String>,
    pub(super) etag: Option<String>,
}

pub(super) fn get(remote: &Remote, etag: Option<&str>) -> Result<Fetched, JwksError> {
    let mut request = remote
        .agent
        .get(&remote.url)
        .header("Accept", "application/jwk-set+json, application/json");
    if let Some(etag) = etag {
        request = request.header("If-None-Match", etag);
    }
    let mut response = request.call()?;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let cache_control = header("cache-control");
    let new_etag = header("etag");
    match response.status().as_u16() {
        304 if etag.is_some() => Ok(Fetched {
            body: None,
            body_was_sent: false,
            cache_control,
            etag: new_etag,
        }),
        200 => {
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_JWKS_BYTES)
                .read_to_vec()?;
            Ok(Fetched {
                body: Some(body),
                body_was_sent: true,
                cache_control,
                etag: new_etag,
            })
        }
        status => Err(JwksError::Status(status)),
    }
}

/// The key set's lifetime from `Cache-Control`, within the configured floor and ceiling.
pub(super) fn lifetime(cache_control: Option<&str>, config: &JwksConfig) -> Duration {
    let mut ttl = None;
    for directive in cache_control.unwrap_or_default().split(',') {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
            ttl = Some(Duration::ZERO);
            break;
        }
        if name.eq_ignore_ascii_case("max-age") {
            ttl = value
                .trim()
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    // Not `clamp`: it panics when a misconfigured floor exceeds the ceiling.
    ttl.unwrap_or(config.default_ttl)
        .max(config.min_ttl)
        .min(config.max_ttl)
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Builds a verifier for every usable signing key. Keys of an unsupported algorithm,
/// without `kid` or `alg`, or not for signatures are skipped; a repeated `kid` keeps
/// its first key.
pub(super) fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<Key>>, JwksError> {
    let set: JwkSet = serde_json::from_slice(body)
        .map_err(|e| JwksError::Invalid(format!("not a JWK set: {e}")))?;
    if set.keys.len() > MAX_KEYS {
        return Err(JwksError::Invalid(format!(
            "{} keys, at most {MAX_KEYS} accepted",
            set.keys.len()
        )));
    }
    let mut keys = HashMap::with_capacity(set.keys.len());
    for map in set.keys {
        let text = |name: &str| map.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let (Some(kid), Some(alg)) = (text("kid"), text("alg")) else {
            log::debug!("JWKS key without kid or alg skipped");
            continue;
        };
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            continue;
        }
        let Some(alg) = Algorithm::parse(&alg) else {
            log::debug!("JWKS key {kid}: unsupported algorithm skipped");
            continue;
        };
        if text("use").is_some_and(|u| u != "sig") || keys.contains_key(&kid) {
            log::warn!("JWKS key {kid} skipped (not for signatures, or a repeated kid)");
            continue;
        }
        match Jwk::from_map(map).and_then(|jwk| Key::from_jwk(alg, &jwk)) {
            Ok(key) => {
                keys.insert(kid, Arc::new(key));
            }
            Err(e) => log::warn!("JWKS key {kid} unusable: {e}"),
        }
    }
    Ok(keys)
}
