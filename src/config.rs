//! Configuration, loaded once at start: flags > `TESSERA_*` environment > TOML file >
//! defaults. Every value is validated here, so the rest of the program trusts it; an
//! invalid value names its option and stops the program (exit code 2).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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

fn invalid(option: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        option,
        message: message.into(),
    }
}

/// The TOML file: every field optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    migration_database_url: Option<String>,
    keys_dir: Option<PathBuf>,
    listen: Option<String>,
    issuer: Option<String>,
    bcrypt_cost: Option<u32>,
    db_pool_size: Option<u32>,
    db_timeout_secs: Option<u64>,
    workers: Option<usize>,
    signing_alg: Option<String>,
    access_token_ttl_secs: Option<u64>,
    id_token_ttl_secs: Option<u64>,
    refresh_token_ttl_secs: Option<u64>,
    audience: Option<String>,
    jwks_max_age_secs: Option<u64>,
    rotation_interval: Option<u64>,
    keys_reload_secs: Option<u64>,
    session_ttl_secs: Option<u64>,
    login_max_failures: Option<u32>,
    lockout_secs: Option<u64>,
    auth_code_ttl_secs: Option<u64>,
    login_request_ttl_secs: Option<u64>,
    bcrypt_workers: Option<usize>,
    bcrypt_queue: Option<usize>,
    audit_max_body_bytes: Option<usize>,
    metrics_listen: Option<String>,
    idempotency_window_secs: Option<u64>,
    purge_interval_secs: Option<u64>,
    login_rate_per_minute: Option<u32>,
    trusted_proxy_header: Option<String>,
    body_budget_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    bootstrap_admin_email: Option<String>,
    bootstrap_admin_password: Option<String>,
}

#[derive(Clone)]
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
    pub bootstrap_admin: Option<(String, String)>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &self.database_url)
            .field("migration_database_url", &self.migration_database_url)
            .field("keys_dir", &self.keys_dir)
            .field("listen", &self.listen)
            .field("issuer", &self.issuer)
            .field("bcrypt_cost", &self.bcrypt_cost)
            .field("db_pool_size", &self.db_pool_size)
            .field("db_timeout", &self.db_timeout)
            .field("workers", &self.workers)
            .field("signing_alg", &self.signing_alg)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("id_token_ttl", &self.id_token_ttl)
            .field("refresh_token_ttl", &self.refresh_token_ttl)
            .field("audience", &self.audience)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("rotation_interval", &self.rotation_interval)
            .field("keys_reload", &self.keys_reload)
            .field("session_ttl", &self.session_ttl)
            .field("login_max_failures", &self.login_max_failures)
            .field("lockout", &self.lockout)
            .field("auth_code_ttl", &self.auth_code_ttl)
            .field("login_request_ttl", &self.login_request_ttl)
            .field("bcrypt_workers", &self.bcrypt_workers)
            .field("bcrypt_queue", &self.bcrypt_queue)
            .field("audit_max_body_bytes", &self.audit_max_body_bytes)
            .field("metrics_listen", &self.metrics_listen)
            .field("idempotency_window", &self.idempotency_window)
            .field("purge_interval", &self.purge_interval)
            .field("login_rate_per_minute", &self.login_rate_per_minute)
            .field("trusted_proxy_header", &self.trusted_proxy_header)
            .field("body_budget_bytes", &self.body_budget_bytes)
            .field("request_timeout", &self.request_timeout)
            .field(
                "bootstrap_admin",
                &self
                    .bootstrap_admin
                    .as_ref()
                    .map(|(email, _)| (email, "[redacted]")),
            )
            .finish()
    }
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
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };

        let database_url = overrides
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let database_url =
            DatabaseUrl::parse(&database_url).map_err(|m| invalid("database_url", m))?;
        let migration_database_url = overrides
            .migration_database_url
            .clone()
            .or(file.migration_database_url)
            .map(|url| DatabaseUrl::parse(&url).map_err(|m| invalid("migration_database_url", m)))
            .transpose()?;
        if migration_database_url
            .as_ref()
            .is_some_and(|m| m.is_postgres() != database_url.is_postgres())
        {
            return Err(invalid(
                "migration_database_url",
                "must use the same backend as database_url",
            ));
        }

        let keys_dir = overrides
            .keys_dir
            .clone()
            .or(file.keys_dir)
            .unwrap_or_else(|| PathBuf::from("keys"));

        let listen = overrides
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen
            .parse()
            .map_err(|_| invalid("listen", "expected an address such as 127.0.0.1:8080"))?;

        let issuer = overrides
            .issuer
            .clone()
            .or(file.issuer)
            .unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        let issuer = parse_issuer(&issuer)?;

        let bcrypt_cost =
            number(&env, "TESSERA_BCRYPT_COST", "bcrypt_cost", file.bcrypt_cost)?.unwrap_or(12);
        if !(4..=31).contains(&bcrypt_cost) {
            return Err(invalid("bcrypt_cost", "must be between 4 and 31"));
        }

        let db_pool_size = number(
            &env,
            "TESSERA_DB_POOL_SIZE",
            "db_pool_size",
            file.db_pool_size,
        )?
        .unwrap_or(10);
        if !(1..=1000).contains(&db_pool_size) {
            return Err(invalid("db_pool_size", "must be between 1 and 1000"));
        }

        let db_timeout_secs = number(
            &env,
            "TESSERA_DB_TIMEOUT_SECS",
            "db_timeout_secs",
            file.db_timeout_secs,
        )?
        .unwrap_or(5);
        if !(1..=300).contains(&db_timeout_secs) {
            return Err(invalid("db_timeout_secs", "must be between 1 and 300"));
        }

        let workers = number(&env, "TESSERA_WORKERS", "workers", file.workers)?.unwrap_or(0);
        let workers = match workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n if n <= 1024 => n,
            _ => {
                return Err(invalid(
                    "workers",
                    "must be between 0 (one per core) and 1024",
                ))
            }
        };

        let signing_alg = match env("TESSERA_SIGNING_ALG").or(file.signing_alg) {
            Some(text) => Algorithm::parse(&text)
                .ok_or_else(|| invalid("signing_alg", "expected ES256, EdDSA or RS256"))?,
            None => Algorithm::Es256,
        };
        let seconds = |var, option, from_file, default, range: std::ops::RangeInclusive<u64>| {
            let value = number(&env, var, option, from_file)?.unwrap_or(default);
            if range.contains(&value) {
                Ok(Duration::from_secs(value))
            } else {
                Err(invalid(
                    option,
                    format!(
                        "must be between {} and {} seconds",
                        range.start(),
                        range.end()
                    ),
                ))
            }
        };
        let access_token_ttl = seconds(
            "TESSERA_ACCESS_TOKEN_TTL_SECS",
            "access_token_ttl_secs",
            file.access_token_ttl_secs,
            300,
            10..=86_400,
        )?;
        let id_token_ttl = seconds(
            "TESSERA_ID_TOKEN_TTL_SECS",
            "id_token_ttl_secs",
            file.id_token_ttl_secs,
            300,
            10..=86_400,
        )?;
        let refresh_token_ttl = seconds(
            "TESSERA_REFRESH_TOKEN_TTL_SECS",
            "refresh_token_ttl_secs",
            file.refresh_token_ttl_secs,
            8 * 3600,
            60..=90 * 86_400,
        )?;
        let jwks_max_age = seconds(
            "TESSERA_JWKS_MAX_AGE_SECS",
            "jwks_max_age_secs",
            file.jwks_max_age_secs,
            300,
            0..=86_400,
        )?;
        let rotation = seconds(
            "TESSERA_ROTATION_INTERVAL",
            "rotation_interval",
            file.rotation_interval,
            0,
            0..=5 * 365 * 86_400,
        )?;
        let rotation_interval = (!rotation.is_zero()).then_some(rotation);
        if rotation_interval.is_some_and(|r| r <= jwks_max_age) {
            return Err(invalid(
                "rotation_interval",
                "must be longer than jwks_max_age_secs",
            ));
        }
        let keys_reload = seconds(
            "TESSERA_KEYS_RELOAD_SECS",
            "keys_reload_secs",
            file.keys_reload_secs,
            2,
            1..=3600,
        )?;
        let session_ttl = seconds(
            "TESSERA_SESSION_TTL_SECS",
            "session_ttl_secs",
            file.session_ttl_secs,
            8 * 3600,
            60..=30 * 86_400,
        )?;
        let lockout = seconds(
            "TESSERA_LOCKOUT_SECS",
            "lockout_secs",
            file.lockout_secs,
            900,
            1..=7 * 86_400,
        )?;
        let auth_code_ttl = seconds(
            "TESSERA_AUTH_CODE_TTL_SECS",
            "auth_code_ttl_secs",
            file.auth_code_ttl_secs,
            60,
            1..=60,
        )?;
        let login_request_ttl = seconds(
            "TESSERA_LOGIN_REQUEST_TTL_SECS",
            "login_request_ttl_secs",
            file.login_request_ttl_secs,
            600,
            30..=3600,
        )?;
        let login_max_failures = number(
            &env,
            "TESSERA_LOGIN_MAX_FAILURES",
            "login_max_failures",
            file.login_max_failures,
        )?
        .unwrap_or(5);
        if !(1..=100).contains(&login_max_failures) {
            return Err(invalid("login_max_failures", "must be between 1 and 100"));
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let bcrypt_workers = match number(
            &env,
            "TESSERA_BCRYPT_WORKERS",
            "bcrypt_workers",
            file.bcrypt_workers,
        )?
        .unwrap_or(0)
        {
            0 => cores,
            n if n <= 256 => n,
            _ => {
                return Err(invalid(
                    "bcrypt_workers",
                    "must be between 0 (one per core) and 256",
                ))
            }
        };
        let bcrypt_queue = number(
            &env,
            "TESSERA_BCRYPT_QUEUE",
            "bcrypt_queue",
            file.bcrypt_queue,
        )?
        .unwrap_or(64);
        if !(1..=100_000).contains(&bcrypt_queue) {
            return Err(invalid("bcrypt_queue", "must be between 1 and 100000"));
        }
        let audit_max_body_bytes = number(
            &env,
            "TESSERA_AUDIT_MAX_BODY_BYTES",
            "audit_max_body_bytes",
            file.audit_max_body_bytes,
        )?
        .unwrap_or(4 * 1024 * 1024);
        if !(1024..=64 * 1024 * 1024).contains(&audit_max_body_bytes) {
            return Err(invalid(
                "audit_max_body_bytes",
                "must be between 1024 and 67108864",
            ));
        }
        let metrics_listen = env("TESSERA_METRICS_LISTEN")
            .or(file.metrics_listen)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<SocketAddr>().map_err(|_| {
                    invalid(
                        "metrics_listen",
                        "expected an address such as 127.0.0.1:9090",
                    )
                })
            })
            .transpose()?;
        let idempotency_window_secs = number(
            &env,
            "TESSERA_IDEMPOTENCY_WINDOW_SECS",
            "idempotency_window_secs",
            file.idempotency_window_secs,
        )?
        .unwrap_or(86_400);
        if !(60..=30 * 86_400).contains(&idempotency_window_secs) {
            return Err(invalid(
                "idempotency_window_secs",
                "must be between 60 and 2592000",
            ));
        }
        let purge_interval_secs = number(
            &env,
            "TESSERA_PURGE_INTERVAL_SECS",
            "purge_interval_secs",
            file.purge_interval_secs,
        )?
        .unwrap_or(300);
        if !(1..=86_400).contains(&purge_interval_secs) {
            return Err(invalid(
                "purge_interval_secs",
                "must be between 1 and 86400",
            ));
        }
        let login_rate_per_minute = number(
            &env,
            "TESSERA_LOGIN_RATE_PER_MINUTE",
            "login_rate_per_minute",
            file.login_rate_per_minute,
        )?
        .unwrap_or(10);
        if login_rate_per_minute > 100_000 {
            return Err(invalid("login_rate_per_minute", "must be at most 100000"));
        }
        let trusted_proxy_header = env("TESSERA_TRUSTED_PROXY_HEADER")
            .or(file.trusted_proxy_header)
            .filter(|h| !h.is_empty())
            .map(|h| {
                let valid =
                    h.len() <= 64 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
                if valid {
                    Ok(h.to_ascii_lowercase())
                } else {
                    Err(invalid(
                        "trusted_proxy_header",
                        "expected a header name such as X-Forwarded-For",
                    ))
                }
            })
            .transpose()?;
        let body_budget_bytes = number(
            &env,
            "TESSERA_BODY_BUDGET_BYTES",
            "body_budget_bytes",
            file.body_budget_bytes,
        )?
        .unwrap_or(64 * 1024 * 1024);
        if body_budget_bytes < audit_max_body_bytes || body_budget_bytes > 16 * 1024 * 1024 * 1024 {
            return Err(invalid(
                "body_budget_bytes",
                "must be at least audit_max_body_bytes (and at most 16 GiB)",
            ));
        }
        let request_timeout_secs = number(
            &env,
            "TESSERA_REQUEST_TIMEOUT_SECS",
            "request_timeout_secs",
            file.request_timeout_secs,
        )?
        .unwrap_or(30);
        if !(1..=3600).contains(&request_timeout_secs) {
            return Err(invalid(
                "request_timeout_secs",
                "must be between 1 and 3600",
            ));
        }
        let audience = env("TESSERA_AUDIENCE")
            .or(file.audience)
            .unwrap_or_else(|| issuer.clone());
        if audience.trim().is_empty() || audience.chars().any(char::is_whitespace) {
            return Err(invalid(
                "audience",
                "must be a non-empty string without spaces",
            ));
        }

        let admin_email = env("TESSERA_BOOTSTRAP_ADMIN_EMAIL").or(file.bootstrap_admin_email);
        let admin_password =
            env("TESSERA_BOOTSTRAP_ADMIN_PASSWORD").or(file.bootstrap_admin_password);
        let bootstrap_admin = match (admin_email, admin_password) {
            (Some(email), Some(password)) => Some((email, password)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "bootstrap_admin_password",
                    "must be set together with bootstrap_admin_email",
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "bootstrap_admin_email",
                    "must be set together with bootstrap_admin_password",
                ))
            }
        };

        Ok(Self {
            database_url,
            migration_database_url,
            keys_dir,
            listen,
            issuer,
            bcrypt_cost,
            db_pool_size,
            db_timeout: Duration::from_secs(db_timeout_secs),
            workers,
            signing_alg,
            access_token_ttl,
            id_token_ttl,
            refresh_token_ttl,
            audience,
            jwks_max_age,
            rotation_interval,
            keys_reload,
            session_ttl,
            login_max_failures,
            lockout,
            auth_code_ttl,
            login_request_ttl,
            bcrypt_workers,
            bcrypt_queue,
            audit_max_body_bytes,
            metrics_listen,
            idempotency_window: Duration::from_secs(idempotency_window_secs),
            purge_interval: Duration::from_secs(purge_interval_secs),
            login_rate_per_minute,
            trusted_proxy_header,
            body_budget_bytes,
            request_timeout: Duration::from_secs(request_timeout_secs),
            bootstrap_admin,
        })
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid("config", format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text)
        .map_err(|e| invalid("config", format!("{}: {}", path.display(), e.message())))
}

/// An environment value beats the file's; both must parse as a number.
fn number<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    option: &'static str,
    from_file: Option<T>,
) -> Result<Option<T>, ConfigError> {
    match env(var) {
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(option, format!("{var} is not a number"))),
        None => Ok(from_file),
    }
}

/// The issuer is an absolute http(s) URL without query or fragment; stored without a
/// trailing slash so endpoint URLs can be appended.
fn parse_issuer(text: &str) -> Result<String, ConfigError> {
    let url = url::Url::parse(text).map_err(|_| invalid("issuer", "not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("issuer", "must use http or https"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("issuer", "must not have a query or fragment"));
    }
    if url.host_str().is_none() {
        return Err(invalid("issuer", "must name a host"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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
