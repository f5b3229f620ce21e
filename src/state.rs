//! What every handler can reach: the pool, the configuration, the keys and the shared
//! services that the composition root ([`crate::server`]) starts once per process.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::db::Pool;
use crate::error::Error;
use crate::keys::Keys;
use crate::limits;

/// Starts the group-commit writer of short audited writes.
pub fn writer(pool: &Pool) -> crate::error::Result<crate::tokens::Writer> {
    crate::tokens::Writer::start(pool.clone(), 4096, crate::tokens::Pending::default())
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub config: Arc<Config>,
    pub keys: Arc<Keys>,
    pub hasher: Arc<crate::users::password::Hasher>,
    /// The group-commit writer: issued tokens, ingested events, code exchanges,
    /// refreshes and revocations, in shared commits.
    pub writer: Arc<crate::tokens::Writer>,
    /// Recently authenticated clients and their tenants (a few seconds).
    pub directory: Arc<crate::clients::directory::Directory>,
    /// Audit ingestion requests being parsed and bound at once (one per worker on
    /// PostgreSQL, one on SQLite). More
    /// wait, with their bodies read (at most `audit_max_body_bytes` each, within the
    /// body budget), so that memory and CPU under an ingestion flood stay bounded.
    pub ingestion: Arc<tokio::sync::Semaphore>,
    /// Password attempts per client address.
    pub throttle: Arc<crate::login::throttle::Throttle>,
    /// Exports and verifications: their own threads and pool, a few at a time.
    pub long_reads: Arc<limits::LongReads>,
    /// Memory for ingestion bodies in flight.
    pub bodies: Arc<limits::BodyBudget>,
    /// The key that seals TOTP seeds, opened (or created) on first use.
    sealer: Arc<std::sync::OnceLock<crate::mfa::Sealer>>,
    /// The issuer's name in authenticator apps: its host.
    pub mfa_label: Arc<str>,
    /// The WebAuthn relying party (`None` when the issuer's host is an IP address).
    pub webauthn: Option<Arc<crate::mfa::webauthn::RelyingParty>>,
}

impl AppState {
    pub fn new(
        pool: Pool,
        config: Config,
        keys: Keys,
        hasher: crate::users::password::Hasher,
    ) -> Result<Self, Error> {
        let writer = writer(&pool)?;
        if config.console {
            crate::console::client::ensure(&mut *pool.get()?, &config.issuer)?;
        }
        let config_rate = config.login_rate_per_minute;
        let config_issuer = config.issuer.clone();
        let long_pool = crate::db::pool(
            &config.database_url,
            u32::try_from(limits::LONG_READS).unwrap_or(2),
            config.db_timeout,
        )
        .map_err(Error::internal)?;
        let bodies = limits::BodyBudget::new(config.body_budget_bytes);
        // On SQLite one at a time: the single writer bounds the rate anyway, and each
        // blocking thread that parses a large batch keeps an allocator arena of its own
        // (measured: peak memory under 1000-event ingestion, BENCHMARKS.md).
        let parsers = if config.database_url.is_postgres() {
            config.workers.max(1)
        } else {
            1
        };
        let ingestion = tokio::sync::Semaphore::new(parsers);
        Ok(Self {
            pool,
            config: Arc::new(config),
            keys: Arc::new(keys),
            hasher: Arc::new(hasher),
            writer: Arc::new(writer),
            directory: Arc::new(crate::clients::directory::Directory::new(
                Duration::from_secs(5),
            )),
            ingestion: Arc::new(ingestion),
            throttle: Arc::new(crate::login::throttle::Throttle::new(config_rate)),
            long_reads: Arc::new(limits::LongReads::new(long_pool)),
            bodies: Arc::new(bodies),
            sealer: Arc::default(),
            webauthn: crate::mfa::webauthn::RelyingParty::for_issuer(&config_issuer).map(Arc::new),
            // An otpauth label may not hold ':' (an IPv6 literal): then the product name.
            mfa_label: url::Url::parse(&config_issuer)
                .ok()
                .and_then(|u| u.host_str().filter(|h| !h.contains(':')).map(Arc::from))
                .unwrap_or_else(|| Arc::from("Tessera")),
        })
    }

    /// The sealer of TOTP seeds: the keys folder's `mfa-seal.key`, created the first
    /// time a seed is sealed or opened.
    pub fn sealer(&self) -> Result<&crate::mfa::Sealer, Error> {
        if let Some(sealer) = self.sealer.get() {
            return Ok(sealer);
        }
        let opened = crate::mfa::Sealer::open(&self.config.keys_dir)?;
        Ok(self.sealer.get_or_init(|| opened))
    }
}
