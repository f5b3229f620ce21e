//! Configuration, loaded once at start: flags > `TESSERA_*` environment > TOML file >
//! defaults. Every value is validated here, so the rest of the program trusts it; an
//! invalid value names its option and stops the program (exit code 2).

mod file;
mod load;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::db::DatabaseUrl;
use tessera_proto::Algorithm;

/// Values given on the command line (clap also fills them from the environment).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub database_url: Option<String>,
    pub migration_database_url: Option<String>,
    pub keys_dir: Option<PathBuf>,
    pub listen: Option<String>,
    pub issuer: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {option}: {message}")]
pub struct ConfigError {
    pub option: &'static str,
    pub message: String,
}

pub(crate) fn invalid(option: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        option,
        message: message.into(),
    }
}

/// The validated configuration. `Debug` shows everything but secrets (redacted by
/// their type).
#[derive(Clone, Debug)]
pub struct Config {
    pub database_url: DatabaseUrl,
    /// Where migrations run (the schema owner), when it differs from the service's
    /// own, restricted connection.
    pub migration_database_url: Option<DatabaseUrl>,
    pub keys_dir: PathBuf,
    pub listen: SocketAddr,
    pub issuer: String,
    pub bcrypt_cost: u32,
    pub db_pool_size: u32,
    pub db_timeout: Duration,
    pub workers: usize,
    /// Algorithm of keys created at first start and by scheduled rotation.
    pub signing_alg: Algorithm,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    /// `aud` of access tokens.
    pub audience: String,
    /// `Cache-Control: max-age` of the JWKS; a `next` key is published at least this
    /// long before scheduled rotation activates it.
    pub jwks_max_age: Duration,
    /// Scheduled rotation period; `None` rotates only on `tessera keys rotate`.
    pub rotation_interval: Option<Duration>,
    /// How often a running server looks for key changes made elsewhere.
    pub keys_reload: Duration,
    /// Lifetime of a single-sign-on session.
    pub session_ttl: Duration,
    /// Failed logins in a row that lock an account, and for how long.
    pub login_max_failures: u32,
    pub lockout: Duration,
    /// Lifetime of an authorization code (at most 60 s).
    pub auth_code_ttl: Duration,
    /// Time a user has to complete a login started by `/authorize`.
    pub login_request_ttl: Duration,
    /// Threads that hash passwords, and how many logins may wait for them.
    pub bcrypt_workers: usize,
    pub bcrypt_queue: usize,
    /// Largest audit ingestion body accepted (larger ones get 413).
    pub audit_max_body_bytes: usize,
    /// Where `/metrics` is served instead of the main listener (an internal port).
    pub metrics_listen: Option<SocketAddr>,
    /// How long an ingestion's `Idempotency-Key` is remembered.
    pub idempotency_window: Duration,
    /// How often expired sessions, codes, refresh tokens, pending requests and
    /// idempotency keys are deleted.
    pub purge_interval: Duration,
    /// Password attempts one client address may make a minute (0: no throttle).
    pub login_rate_per_minute: u32,
    /// The header a trusted reverse proxy puts the client's address in; unset: the TCP
    /// peer is the client.
    pub trusted_proxy_header: Option<String>,
    /// Memory for ingestion bodies being received at once, all requests together.
    pub body_budget_bytes: usize,
    /// The longest a request (but an export or a verification) may take, body included.
    pub request_timeout: Duration,
    /// The first platform admin, created at start when none exists: email, password.
    pub bootstrap_admin: Option<(String, SecretString)>,
    /// Whether `/console` is served (its client registered at start).
    pub console: bool,
    /// The console asks for a second factor (`acr_values=mfa`) and refuses sign-ins
    /// without one.
    pub console_require_mfa: bool,
    /// How many exchanges deep an `act` chain may grow (RFC 8693 section 4.1).
    pub token_exchange_max_depth: usize,
    /// How audit streams deliver (see [`StreamSettings`]).
    pub streams: StreamSettings,
}

/// The delivery settings of audit streams.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// Destinations on loopback, private and shared address ranges are allowed
    /// (link-local and cloud metadata addresses never are).
    pub allow_private: bool,
    /// The longest one delivery request may take.
    pub timeout: Duration,
    /// Events per delivery request, at most.
    pub batch_size: i64,
    /// A signed checkpoint after this many events delivered ...
    pub checkpoint_events: i64,
    /// ... or after this long, whichever comes first.
    pub checkpoint_interval: Duration,
    /// The longest wait between two attempts (the backoff's cap).
    pub retry_max: Duration,
    /// Failing this long, a stream is suspended until an operator resumes it.
    pub suspend_after: Duration,
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/tessera.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";

impl Config {
    /// The key life cycle's timing rules: a retired key stays published for the
    /// longest token lifetime plus a minute of leeway.
    pub fn key_policy(&self) -> crate::keys::Policy {
        crate::keys::Policy {
            alg: self.signing_alg,
            jwks_max_age: self.jwks_max_age,
            retire_after: self.access_token_ttl.max(self.id_token_ttl) + Duration::from_secs(60),
            rotation_interval: self.rotation_interval,
        }
    }

    /// Loads from the process environment.
    pub fn load(overrides: &Overrides) -> Result<Self, ConfigError> {
        Self::load_with(overrides, |name| std::env::var(name).ok())
    }

    /// Loads with an explicit environment lookup (tests pass their own).
    pub fn load_with(
        overrides: &Overrides,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        load::load(overrides, &env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_apply() {
        let c = Config::load_with(&Overrides::default(), no_env).ok();
        let c = c.as_ref();
        assert_eq!(
            c.map(|c| c.listen.to_string()).as_deref(),
            Some(DEFAULT_LISTEN)
        );
        assert_eq!(c.map(|c| c.issuer.as_str()), Some(DEFAULT_ISSUER));
        assert_eq!(c.map(|c| c.bcrypt_cost), Some(12));
    }

    #[test]
    fn flag_beats_file_and_env_beats_file() {
        let dir = tempfile::tempdir().ok();
        let path = dir.as_ref().map(|d| d.path().join("t.toml"));
        let path = path.as_deref();
        let written = path
            .map(|p| std::fs::write(p, "listen = \"127.0.0.1:9000\"\nbcrypt_cost = 6\n").is_ok());
        assert_eq!(written, Some(true));
        let overrides = Overrides {
            config: path.map(Path::to_path_buf),
            listen: Some("127.0.0.1:9001".into()),
            ..Overrides::default()
        };
        let env = |name: &str| (name == "TESSERA_BCRYPT_COST").then(|| "5".to_owned());
        let c = Config::load_with(&overrides, env).ok();
        assert_eq!(c.as_ref().map(|c| c.listen.port()), Some(9001));
        assert_eq!(c.as_ref().map(|c| c.bcrypt_cost), Some(5));
    }

    #[test]
    fn invalid_values_name_their_option() {
        let bad_listen = Overrides {
            listen: Some("nowhere".into()),
            ..Overrides::default()
        };
        let err = Config::load_with(&bad_listen, no_env).err();
        assert_eq!(err.map(|e| e.option), Some("listen"));

        let err = Config::load_with(&Overrides::default(), |n: &str| {
            (n == "TESSERA_BCRYPT_COST").then(|| "99".to_owned())
        })
        .err();
        assert_eq!(err.map(|e| e.option), Some("bcrypt_cost"));

        let bad_issuer = Overrides {
            issuer: Some("ftp://x".into()),
            ..Overrides::default()
        };
        let err = Config::load_with(&bad_issuer, no_env).err();
        assert_eq!(err.map(|e| e.option), Some("issuer"));
    }

    #[test]
    fn debug_hides_the_bootstrap_password() {
        let env = |n: &str| match n {
            "TESSERA_BOOTSTRAP_ADMIN_EMAIL" => Some("ops@example.com".to_owned()),
            "TESSERA_BOOTSTRAP_ADMIN_PASSWORD" => Some("s3cret-pass".to_owned()),
            _ => None,
        };
        let shown = format!("{:?}", Config::load_with(&Overrides::default(), env).ok());
        assert!(shown.contains("ops@example.com"));
        assert!(!shown.contains("s3cret-pass"));
    }
}
