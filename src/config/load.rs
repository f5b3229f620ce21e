//! The layering: flags > `TESSERA_*` environment > TOML file > defaults, each option
//! read and range-checked by name. The environment variable of option `x` is
//! `TESSERA_X`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tessera_proto::Algorithm;

use super::file::{read_file, FileConfig};
use super::{
    invalid, Config, ConfigError, Overrides, DEFAULT_DATABASE_URL, DEFAULT_ISSUER, DEFAULT_LISTEN,
};
use crate::db::DatabaseUrl;

/// Where an option's value comes from: the environment first, then the file.
struct Layers<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Layers<'_> {
    /// The option's environment variable: `TESSERA_` and its name in capitals.
    fn var(option: &str) -> String {
        format!("TESSERA_{}", option.to_ascii_uppercase())
    }

    /// A text option (empty in the environment counts as given).
    fn text(&self, option: &str, from_file: Option<String>) -> Option<String> {
        (self.env)(&Self::var(option)).or(from_file)
    }

    /// A number; an environment value must parse.
    fn number<T: std::str::FromStr>(
        &self,
        option: &'static str,
        from_file: Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        let var = Self::var(option);
        match (self.env)(&var) {
            Some(text) => text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| invalid(option, format!("{var} is not a number"))),
            None => Ok(from_file),
        }
    }

    /// A yes/no option: `true`/`false` (or `1`/`0`) in the environment.
    fn flag(
        &self,
        option: &'static str,
        from_file: Option<bool>,
        default: bool,
    ) -> Result<bool, ConfigError> {
        let var = Self::var(option);
        match (self.env)(&var).map(|t| t.trim().to_ascii_lowercase()) {
            Some(text) => match text.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(invalid(option, format!("{var}: expected true or false"))),
            },
            None => Ok(from_file.unwrap_or(default)),
        }
    }

    /// A number within `range` ("must be between a and b"), `default` when unset.
    fn ranged<T>(
        &self,
        option: &'static str,
        from_file: Option<T>,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let value = self.number(option, from_file)?.unwrap_or(default);
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(invalid(
                option,
                format!("must be between {} and {}", range.start(), range.end()),
            ))
        }
    }

    /// A duration in whole seconds within `range` ("… seconds").
    fn seconds(
        &self,
        option: &'static str,
        from_file: Option<u64>,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        let value = self.number(option, from_file)?.unwrap_or(default);
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
    }
}

/// Reads every layer and validates every value.
pub(super) fn load(
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let layers = Layers { env };
    let file = match &overrides.config {
        Some(path) => read_file(path)?,
        None => FileConfig::default(),
    };

    let database_url = overrides
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let database_url = DatabaseUrl::parse(&database_url).map_err(|m| invalid("database_url", m))?;
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

    let bcrypt_cost = layers.ranged("bcrypt_cost", file.bcrypt_cost, 12, 4..=31)?;

    let db_pool_size = layers.ranged("db_pool_size", file.db_pool_size, 10, 1..=1000)?;

    let db_timeout_secs = layers.ranged("db_timeout_secs", file.db_timeout_secs, 5, 1..=300)?;

    let workers = layers.number("workers", file.workers)?.unwrap_or(0);
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

    let signing_alg = match layers.text("signing_alg", file.signing_alg) {
        Some(text) => Algorithm::parse(&text)
            .ok_or_else(|| invalid("signing_alg", "expected ES256, EdDSA or RS256"))?,
        None => Algorithm::Es256,
    };
    let access_token_ttl = layers.seconds(
        "access_token_ttl_secs",
        file.access_token_ttl_secs,
        300,
        10..=86_400,
    )?;
    let id_token_ttl = layers.seconds(
        "id_token_ttl_secs",
        file.id_token_ttl_secs,
        300,
        10..=86_400,
    )?;
    let refresh_token_ttl = layers.seconds(
        "refresh_token_ttl_secs",
        file.refresh_token_ttl_secs,
        8 * 3600,
        60..=90 * 86_400,
    )?;
    let jwks_max_age =
        layers.seconds("jwks_max_age_secs", file.jwks_max_age_secs, 300, 0..=86_400)?;
    let rotation = layers.seconds(
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
    let keys_reload = layers.seconds("keys_reload_secs", file.keys_reload_secs, 2, 1..=3600)?;
    let session_ttl = layers.seconds(
        "session_ttl_secs",
        file.session_ttl_secs,
        8 * 3600,
        60..=30 * 86_400,
    )?;
    let lockout = layers.seconds("lockout_secs", file.lockout_secs, 900, 1..=7 * 86_400)?;
    let auth_code_ttl =
        layers.seconds("auth_code_ttl_secs", file.auth_code_ttl_secs, 60, 1..=60)?;
    let login_request_ttl = layers.seconds(
        "login_request_ttl_secs",
        file.login_request_ttl_secs,
        600,
        30..=3600,
    )?;
    let login_max_failures =
        layers.ranged("login_max_failures", file.login_max_failures, 5, 1..=100)?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bcrypt_workers = match layers
        .number("bcrypt_workers", file.bcrypt_workers)?
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
    let bcrypt_queue = layers.ranged("bcrypt_queue", file.bcrypt_queue, 64, 1..=100_000)?;
    let audit_max_body_bytes = layers.ranged(
        "audit_max_body_bytes",
        file.audit_max_body_bytes,
        4 * 1024 * 1024,
        1024..=64 * 1024 * 1024,
    )?;
    let metrics_listen = layers
        .text("metrics_listen", file.metrics_listen)
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
    let idempotency_window_secs = layers.ranged(
        "idempotency_window_secs",
        file.idempotency_window_secs,
        86_400,
        60..=30 * 86_400,
    )?;
    let purge_interval_secs = layers.ranged(
        "purge_interval_secs",
        file.purge_interval_secs,
        300,
        1..=86_400,
    )?;
    let login_rate_per_minute = layers
        .number("login_rate_per_minute", file.login_rate_per_minute)?
        .unwrap_or(10);
    if login_rate_per_minute > 100_000 {
        return Err(invalid("login_rate_per_minute", "must be at most 100000"));
    }
    let trusted_proxy_header = layers
        .text("trusted_proxy_header", file.trusted_proxy_header)
        .filter(|h| !h.is_empty())
        .map(|h| {
            let valid = h.len() <= 64 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
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
    let body_budget_bytes = layers
        .number("body_budget_bytes", file.body_budget_bytes)?
        .unwrap_or(64 * 1024 * 1024);
    if body_budget_bytes < audit_max_body_bytes || body_budget_bytes > 16 * 1024 * 1024 * 1024 {
        return Err(invalid(
            "body_budget_bytes",
            "must be at least audit_max_body_bytes (and at most 16 GiB)",
        ));
    }
    let request_timeout_secs = layers.ranged(
        "request_timeout_secs",
        file.request_timeout_secs,
        30,
        1..=3600,
    )?;
    let audience = layers
        .text("audience", file.audience)
        .unwrap_or_else(|| issuer.clone());
    if audience.trim().is_empty() || audience.chars().any(char::is_whitespace) {
        return Err(invalid(
            "audience",
            "must be a non-empty string without spaces",
        ));
    }

    let admin_email = layers.text("bootstrap_admin_email", file.bootstrap_admin_email);
    let admin_password = layers.text("bootstrap_admin_password", file.bootstrap_admin_password);
    let bootstrap_admin = match (admin_email, admin_password) {
        (Some(email), Some(password)) => Some((email, password.into())),
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

    let console = layers.flag("console", file.console, true)?;
    let console_require_mfa =
        layers.flag("console_require_mfa", file.console_require_mfa, false)?;
    let token_exchange_max_depth = layers.ranged(
        "token_exchange_max_depth",
        file.token_exchange_max_depth,
        3,
        1..=10,
    )?;
    let streams = super::StreamSettings {
        allow_private: layers.flag("stream_allow_private", file.stream_allow_private, false)?,
        timeout: Duration::from_secs(layers.ranged(
            "stream_timeout_secs",
            file.stream_timeout_secs,
            10,
            1..=300,
        )?),
        batch_size: layers.ranged("stream_batch_size", file.stream_batch_size, 500, 1..=1000)?,
        checkpoint_events: layers.ranged(
            "stream_checkpoint_events",
            file.stream_checkpoint_events,
            1000,
            1..=1_000_000,
        )?,
        checkpoint_interval: Duration::from_secs(layers.ranged(
            "stream_checkpoint_secs",
            file.stream_checkpoint_secs,
            60,
            1..=86_400,
        )?),
        retry_max: Duration::from_secs(layers.ranged(
            "stream_retry_max_secs",
            file.stream_retry_max_secs,
            300,
            1..=3600,
        )?),
        suspend_after: Duration::from_secs(layers.ranged(
            "stream_suspend_after_secs",
            file.stream_suspend_after_secs,
            86_400,
            1..=30 * 86_400,
        )?),
    };

    Ok(Config {
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
        console,
        console_require_mfa,
        token_exchange_max_depth,
        streams,
    })
}

/// The issuer is an absolute http(s) URL without query or fragment; stored without a
/// trailing slash so endpoint URLs can be appended.
fn parse_issuer(text: &str) -> Result<String, ConfigError> {
    // The URL parser drops surrounding spaces and inner tabs and newlines, but the text
    // itself becomes every token's `iss`: refuse rather than keep them.
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(
            "issuer",
            "must not contain spaces or control characters",
        ));
    }
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
