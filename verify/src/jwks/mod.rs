//! The issuer's public keys, fetched from its JWKS and cached. Guards three properties:
//! a verifier is built once per key and fetch (never per token); a stream of tokens with
//! made-up `kid`s causes at most one refetch per [`JwksConfig::unknown_kid_interval`]
//! (no request amplification); and a briefly unreachable issuer does not stop cached
//! keys from verifying (for up to [`JwksConfig::stale_if_error`]).
//!
//! Fetching is blocking (`ureq`). [`crate::Verifier::verify`] fetches inline; the actix
//! path runs fetches on the blocking pool and never on an async worker.

use std::collections::HashMap;
#[cfg(feature = "actix")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

mod fetch;

use crate::algorithm::Key;
use crate::error::JwksError;
use fetch::{get, lifetime, parse_jwks};

/// A JWKS larger than this is refused.
const MAX_JWKS_BYTES: u64 = 256 * 1024;
/// A JWKS with more keys than this is refused (Tessera publishes a handful).
const MAX_KEYS: usize = 64;
const MAX_KID_LEN: usize = 256;

/// How a [`JwksClient`] caches and refetches.
#[derive(Debug, Clone)]
pub struct JwksConfig {
    /// Floor on the response's `Cache-Control: max-age` (also used for `no-cache`).
    pub min_ttl: Duration,
    /// Ceiling on `max-age`, so a removed key stops verifying within this time.
    pub max_ttl: Duration,
    /// Lifetime when the response names no `max-age`.
    pub default_ttl: Duration,
    /// At most one refetch per this interval is caused by tokens with an unknown `kid`.
    pub unknown_kid_interval: Duration,
    /// After a failed fetch, no further attempt for this long.
    pub retry_interval: Duration,
    /// How long past its lifetime a cached key set keeps verifying while every refetch
    /// fails. Afterwards verification fails with `JwksUnavailable`.
    pub stale_if_error: Duration,
    /// Whole-request timeout of one fetch.
    pub timeout: Duration,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(3600),
            default_ttl: Duration::from_secs(300),
            unknown_kid_interval: Duration::from_secs(30),
            retry_interval: Duration::from_secs(5),
            stale_if_error: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
        }
    }
}

/// An immutable key set and how long it may be used.
#[derive(Debug)]
struct Snapshot {
    keys: HashMap<String, Arc<Key>>,
    /// Static keys never go stale.
    fixed: bool,
    fresh_until: Instant,
    usable_until: Instant,
}

impl Snapshot {
    fn is_stale(&self, now: Instant) -> bool {
        !self.fixed && now >= self.fresh_until
    }

    fn is_usable(&self, now: Instant) -> bool {
        self.fixed || now < self.usable_until
    }
}

/// What [`JwksClient::lookup`] found, without doing any I/O.
pub(crate) enum Lookup {
    /// `stale`: the set has outlived its `max-age`; a refresh is due.
    Found {
        key: Arc<Key>,
        stale: bool,
    },
    /// A fetch may find it: call [`JwksClient::fetch_for`], then look up again.
    Fetch(Reason),
    Unknown,
    Unavailable,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Reason {
    /// No usable key set (never fetched, or past `stale_if_error`).
    NoKeys,
    UnknownKid,
}

struct Remote {
    url: String,
    agent: ureq::Agent,
}

struct Inner {
    remote: Option<Remote>,
    config: JwksConfig,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Held during a fetch, so fetches never run in parallel; holds the current ETag.
    fetching: Mutex<Option<String>>,
    epoch: Instant,
    /// Milliseconds since `epoch` of the last unknown-kid refetch, plus one (0: never).
    last_kid_fetch: AtomicU64,
    /// No fetch attempt before this many milliseconds since `epoch` (after a failure).
    retry_at: AtomicU64,
    /// A background refresh has been handed to the blocking pool.
    #[cfg(feature = "actix")]
    refreshing: AtomicBool,
}

/// Fetches and caches an issuer's JWKS; cheap to clone (shared state).
#[derive(Clone)]
pub struct JwksClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("JwksClient")
            .field("url", &self.inner.remote.as_ref().map(|r| r.url.as_str()))
            .field("kids", &snapshot.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JwksClient {
    /// A client for the JWKS at `url` (`http://` or `https://`), with default caching.
    /// Nothing is fetched until the first token (or [`JwksClient::refresh`]).
    ///
    /// For an `https://` URL the service must enable a TLS feature of `ureq` 3 in its
    /// own dependencies (`features = ["rustls"]` or `["native-tls"]`).
    pub fn new(url: impl Into<String>) -> Result<Self, JwksError> {
        Self::with_config(url, JwksConfig::default())
    }

    pub fn with_config(url: impl Into<String>, config: JwksConfig) -> Result<Self, JwksError> {
        let url = url.into();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(JwksError::InvalidUrl);
        }
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(config.timeout))
                .http_status_as_error(false)
                .build(),
        );
        let now = Instant::now();
        Ok(Self::build(
            Some(Remote { url, agent }),
            config,
            empty(now),
            now,
        ))
    }

    /// A client that never fetches, holding the keys of a JWKS document (tests,
    /// benchmarks, air-gapped services).
    pub fn from_jwks(jwks: &[u8]) -> Result<Self, JwksError> {
        let keys = parse_jwks(jwks)?;
        let now = Instant::now();
        let snapshot = Snapshot {
            keys,
            fixed: true,
            fresh_until: now,
            usable_until: now,
        };
        Ok(Self::build(None, JwksConfig::default(), snapshot, now))
    }

    fn build(remote: Option<Remote>, config: JwksConfig, snapshot: Snapshot, now: Instant) -> Self {
        Self {
            inner: Arc::new(Inner {
                remote,
                config,
                snapshot: RwLock::new(Arc::new(snapshot)),
                fetching: Mutex::new(None),
                epoch: now,
                last_kid_fetch: AtomicU64::new(0),
                retry_at: AtomicU64::new(0),
                #[cfg(feature = "actix")]
                refreshing: AtomicBool::new(false),
            }),
        }
    }

    /// Fetches now (blocking), whatever the cache says; for warming the cache at start.
    /// On failure the cached keys, if any, stay in use.
    pub fn refresh(&self) -> Result<(), JwksError> {
        let remote = self.inner.remote.as_ref().ok_or(JwksError::Static)?;
        let mut etag = self.lock_fetching();
        self.fetch_locked(remote, &mut etag)
    }

    /// The key with this `kid`, or what to do about its absence. No I/O.
    pub(crate) fn lookup(&self, kid: &str, may_fetch: bool) -> Lookup {
        let snapshot = self.snapshot();
        let now = Instant::now();
        let fetchable = may_fetch && self.inner.remote.is_some() && !self.backing_off(now);
        if !snapshot.is_usable(now) {
            return if fetchable {
                Lookup::Fetch(Reason::NoKeys)
            } else {
                Lookup::Unavailable
            };
        }
        match snapshot.keys.get(kid) {
            Some(key) => Lookup::Found {
                key: Arc::clone(key),
                stale: snapshot.is_stale(now) && !self.backing_off(now),
            },
            None if fetchable && self.claim_kid_fetch(now) => Lookup::Fetch(Reason::UnknownKid),
            None => Lookup::Unknown,
        }
    }

    /// Fetches (blocking) for `reason` unless, once it holds the fetch lock, the rules say
    /// no: another thread fetched meanwhile, or the last failure is too recent.
    pub(crate) fn fetch_for(&self, reason: Reason) {
        let Some(remote) = self.inner.remote.as_ref() else {
            return;
        };
        let mut etag = self.lock_fetching();
        let now = Instant::now();
        if self.backing_off(now) {
            return;
        }
        match reason {
            Reason::NoKeys if self.snapshot().is_usable(now) => return,
            Reason::NoKeys => {}
            // The caller claimed this interval's one unknown-kid fetch in `lookup`.
            Reason::UnknownKid => {}
        }
        // The outcome is logged; callers look up again either way.
        let _ = self.fetch_locked(remote, &mut etag);
    }

    /// Refreshes a stale key set (blocking) unless a fetch is already running.
    pub(crate) fn refresh_stale(&self) {
        let Some(remote) = self.inner.remote.as_ref() else {
            return;
        };
        let mut etag = match self.inner.fetching.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        let now = Instant::now();
        if self.backing_off(now) || !self.snapshot().is_stale(now) {
            return;
        }
        let _ = self.fetch_locked(remote, &mut etag);
    }

    /// Claims the right to schedule one background refresh; release with
    /// [`JwksClient::background_refresh`].
    #[cfg(feature = "actix")]
    pub(crate) fn claim_background_refresh(&self) -> bool {
        self.inner
            .refreshing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Runs a claimed background refresh (blocking) and releases the claim.
    #[cfg(feature = "actix")]
    pub(crate) fn background_refresh(&self) {
        self.refresh_stale();
        self.inner.refreshing.store(false, Ordering::Release);
    }

    fn fetch_locked(&self, remote: &Remote, etag: &mut Option<String>) -> Result<(), JwksError> {
        let started = Instant::now();
        let result = get(remote, etag.as_deref()).and_then(|fetched| {
            let ttl = lifetime(fetched.cache_control.as_deref(), &self.inner.config);
            let keys = match fetched.body {
                None => self.snapshot().keys.clone(),
                Some(body) => parse_jwks(&body)?,
            };
            if keys.is_empty() {
                return Err(JwksError::NoUsableKeys);
            }
            Ok((keys, ttl, fetched.etag, fetched.body_was_sent))
        });
        match result {
            Ok((keys, ttl, new_etag, body_was_sent)) => {
                log::debug!(
                    "JWKS from {}: {} keys, valid {ttl:?}",
                    remote.url,
                    keys.len()
                );
                let fresh_until = started + ttl;
                self.install(Snapshot {
                    keys,
                    fixed: false,
                    fresh_until,
                    usable_until: fresh_until + self.inner.config.stale_if_error,
                });
                if body_was_sent {
                    *etag = new_etag;
                }
                self.inner.retry_at.store(0, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                log::warn!(
                    "JWKS from {} unavailable, keeping cached keys: {e}",
                    remote.url
                );
                let retry = self.millis(started + self.inner.config.retry_interval);
                self.inner.retry_at.store(retry, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        let guard = self
            .inner
            .snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&guard)
    }

    fn install(&self, snapshot: Snapshot) {
        let mut guard = self
            .inner
            .snapshot
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        *guard = Arc::new(snapshot);
    }

    fn lock_fetching(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.inner
            .fetching
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.inner.epoch).as_millis())
            .unwrap_or(u64::MAX)
    }

    fn backing_off(&self, now: Instant) -> bool {
        self.millis(now) < self.inner.retry_at.load(Ordering::Relaxed)
    }

    /// Takes the one unknown-kid refetch of the current interval, if it is still free;
    /// atomic, so concurrent requests cannot both take it.
    fn claim_kid_fetch(&self, now: Instant) -> bool {
        let last = self.inner.last_kid_fetch.load(Ordering::Acquire);
        let stamp = self.millis(now).saturating_add(1);
        let interval =
            u64::try_from(self.inner.config.unknown_kid_interval.as_millis()).unwrap_or(u64::MAX);
        (last == 0 || stamp >= last.saturating_add(interval))
            && self
                .inner
                .last_kid_fetch
                .compare_exchange(last, stamp, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }
}

fn empty(now: Instant) -> Snapshot {
    Snapshot {
        keys: HashMap::new(),
        fixed: false,
        fresh_until: now,
        usable_until: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_honours_max_age_within_floor_and_ceiling() {
        let config = JwksConfig::default();
        let secs = |h: Option<&str>| lifetime(h, &config).as_secs();
        assert_eq!(secs(Some("public, max-age=600")), 600);
        assert_eq!(secs(Some("max-age=\"120\", public")), 120);
        assert_eq!(secs(Some("public, max-age=1")), 30, "floor");
        assert_eq!(secs(Some("max-age=999999")), 3600, "ceiling");
        assert_eq!(secs(Some("no-cache")), 30);
        assert_eq!(secs(Some("public")), 300, "default");
        assert_eq!(secs(None), 300);
        assert_eq!(secs(Some("max-age=abc")), 300);
        let odd = JwksConfig {
            min_ttl: Duration::from_secs(100),
            max_ttl: Duration::from_secs(10),
            ..JwksConfig::default()
        };
        assert_eq!(lifetime(Some("max-age=50"), &odd).as_secs(), 10, "no panic");
    }

    #[test]
    fn parse_skips_unusable_keys() {
        let issuer = crate::testing::TestIssuer::new("https://id.example", "notes").unwrap();
        let good = issuer.public_jwk();
        let mut no_kid = good.clone();
        no_kid.remove("kid");
        let mut enc = good.clone();
        enc.insert("use".into(), "enc".into());
        enc.insert("kid".into(), "enc".into());
        let mut hs = good.clone();
        hs.insert("alg".into(), "HS256".into());
        hs.insert("kid".into(), "hs".into());
        let mut wrong_curve = good.clone();
        wrong_curve.insert("alg".into(), "RS256".into());
        wrong_curve.insert("kid".into(), "rsa".into());
        let doc = serde_json::json!({ "keys": [good, no_kid, enc, hs, wrong_curve, good] });
        let keys = parse_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys.contains_key(issuer.kid()));
        assert!(parse_jwks(b"{}").is_err());
        assert!(parse_jwks(b"[1]").is_err());
    }

    mod remote {
        #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

        use std::sync::{Arc, Mutex};
        use std::time::Duration;

        use serde_json::json;

        use crate::test_support::{jwks_server, StubServer};
        use crate::testing::TestIssuer;
        use crate::{JwksClient, JwksConfig, Verifier, VerifyError};

        const ISS: &str = "https://id.example";
        const AUD: &str = "notes";
        const TENANT: &str = "0b6f3c4e-1111-4222-8333-444455556666";
        const PATH: &str = "/.well-known/jwks.json";

        fn verifier(server: &StubServer, config: JwksConfig) -> Verifier {
            let jwks = JwksClient::with_config(format!("{}{PATH}", server.url()), config).unwrap();
            Verifier::new(jwks, ISS, AUD)
        }

        fn token(issuer: &TestIssuer) -> String {
            issuer.token(TENANT, "acme", "user-1").unwrap()
        }

        /// Stale on every use: `max-age=0` and no floor.
        fn always_stale() -> JwksConfig {
            JwksConfig {
                min_ttl: Duration::ZERO,
                retry_interval: Duration::ZERO,
                ..JwksConfig::default()
            }
        }

        #[test]
        fn fetched_once_then_cached() {
            let issuer = TestIssuer::new(ISS, AUD).unwrap();
            let server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 300);
            let verifier = verifier(&server, JwksConfig::default());
            for _ in 0..5 {
                assert_eq!(verifier.verify(&token(&issuer)).unwrap().tenant_id, TENANT);
            }
            assert_eq!(server.count(PATH), 1);
        }

        #[test]
        fn unknown_kid_flood_refetches_at_most_once_per_interval() {
            let issuer = TestIssuer::new(ISS, AUD).unwrap();
            let server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 300);
            let verifier = verifier(&server, JwksConfig::default());
            verifier.verify(&token(&issuer)).unwrap();
            assert_eq!(server.count(PATH), 1);
            let claims = issuer.claims(TENANT, "acme", "user-1");
            for i in 0..100 {
                let header = json!({"alg": "ES256", "kid": format!("forged-{i}"), "typ": "at+jwt"});
                let forged = issuer.sign_raw(&header, &claims).unwrap();
                assert_eq!(verifier.verify(&forged), Err(VerifyError::UnknownKey));
            }
            assert_eq!(server.count(PATH), 2, "one refetch for 100 unknown kids");
            verifier.verify(&token(&issuer)).unwrap();
        }

        #[test]
        fn concurrent_unknown_kids_share_one_refetch() {
            let issuer = TestIssuer::new(ISS, AUD).unwrap();
            let server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 300);
            let verifier = verifier(&server, JwksConfig::default());
            verifier.verify(&token(&issuer)).unwrap();
            let claims = issuer.claims(TENANT, "acme", "user-1");
            std::thread::scope(|scope| {
                for t in 0..8 {
                    let (verifier, issuer, claims) = (&verifier, &issuer, &claims);
                    scope.spawn(move || {
                        for i in 0..25 {
                            let kid = format!("forged-{t}-{i}");
                            let header = json!({"alg": "ES256", "kid": kid, "typ": "at+jwt"});
                            let forged = issuer.sign_raw(&header, claims).unwrap();
                            assert_eq!(verifier.verify(&forged), Err(VerifyError::UnknownKey));
                        }
                    });
                }
            });
            assert_eq!(
                server.count(PATH),
                2,
                "one refetch for 200 concurrent unknown kids"
            );
        }

        #[test]
        fn a_rotated_key_is_picked_up_on_its_first_token() {
            let old = TestIssuer::with_key(ISS, AUD, crate::Algorithm::Es256, "k1").unwrap();
            let new = TestIssuer::with_key(ISS, AUD, crate::Algorithm::Es256, "k2").unwrap();
            let published = Arc::new(Mutex::new(old.jwks()));
            let server = jwks_server(Arc::clone(&published), 300);
            let verifier = verifier(&server, JwksConfig::default());
            verifier.verify(&token(&old)).unwrap();
            *published.lock().unwrap() =
                json!({"keys": [new.public_jwk(), old.public_jwk()]}).to_string();
            assert_eq!(verifier.verify(&token(&new)).unwrap().subject, "user-1");
            verifier.verify(&token(&old)).unwrap();
            assert_eq!(server.count(PATH), 2);
        }

        #[test]
        fn cached_keys_keep_verifying_while_the_issuer_is_away() {
            let issuer = TestIssuer::new(ISS, AUD).unwrap();
            let mut server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 0);
            let verifier = verifier(&server, always_stale());
            verifier.verify(&token(&issuer)).unwrap();
            server.stop();
            for _ in 0..3 {
                assert!(verifier.verify(&token(&issuer)).is_ok());
            }
            assert!(verifier.jwks().refresh().is_err());
            assert!(verifier.verify(&token(&issuer)).is_ok());
            // A verifier that never saw the keys cannot verify.
            let cold = self::verifier(&server, JwksConfig::default());
            assert_eq!(
                cold.verify(&token(&issuer)),
                Err(VerifyError::JwksUnavailable)
            );
        }

        #[test]
        fn keys_expire_after_stale_if_error() {
            let issuer = TestIssuer::new(ISS, AUD).unwrap();
            let mut server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 0);
            let config = JwksConfig {
                stale_if_error: Duration::from_secs(1),
                ..always_stale()
            };
            let verifier = verifier(&server, config);
            verifier.verify(&token(&issuer)).unwrap();
            server.stop();
            assert!(verifier.verify(&token(&issuer)).is_ok());
            std::thread::sleep(Duration::from_millis(1100));
            assert_eq!(
                verifier.verify(&token(&issuer)),
                Err(VerifyError::JwksUnavailable)
            );
        }

        #[test]
        fn a_stale_set_is_revalidated_with_its_etag() {
            let issuer = TestIssuer::new(ISS, AUD).unwrap();
            let server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 0);
            let verifier = verifier(&server, always_stale());
            verifier.verify(&token(&issuer)).unwrap();
            verifier.verify(&token(&issuer)).unwrap();
            verifier.verify(&token(&issuer)).unwrap();
            let requests = server.requests();
            assert_eq!(requests.len(), 3);
            assert_eq!(requests[0].header("if-none-match"), None);
            let etag = requests[1].header("if-none-match").unwrap();
            assert!(etag.starts_with('"'));
            assert_eq!(requests[2].header("if-none-match"), Some(etag));
        }

        #[test]
        fn a_failing_issuer_is_not_hammered() {
            let server = StubServer::start(|_| crate::test_support::Reply::new(503, "{}"));
            let issuer = TestIssuer::new(ISS, AUD).unwrap();
            let verifier = verifier(&server, JwksConfig::default());
            for _ in 0..20 {
                assert_eq!(
                    verifier.verify(&token(&issuer)),
                    Err(VerifyError::JwksUnavailable)
                );
            }
            assert_eq!(server.count(PATH), 1, "one attempt per retry interval");
        }

        #[test]
        fn junk_tokens_trigger_no_fetch() {
            let issuer = TestIssuer::new(ISS, AUD).unwrap();
            let server = jwks_server(Arc::new(Mutex::new(issuer.jwks())), 300);
            let verifier = verifier(&server, JwksConfig::default());
            let claims = issuer.claims(TENANT, "acme", "user-1");
            let none = json!({"alg": "none", "kid": "x", "typ": "at+jwt"});
            let jwt = json!({"alg": "ES256", "kid": "x", "typ": "JWT"});
            for header in [none, jwt] {
                assert!(verifier
                    .verify(&issuer.sign_raw(&header, &claims).unwrap())
                    .is_err());
            }
            assert!(verifier.verify("a.b").is_err());
            assert_eq!(server.count(PATH), 0);
        }
    }
}
