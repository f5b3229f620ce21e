//! The TOML configuration file (see `tessera.example.toml`): every option optional,
//! an unknown one refused, so a typo is an error rather than a silent default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{invalid, ConfigError};

/// The TOML file: every field optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) database_url: Option<String>,
    pub(super) migration_database_url: Option<String>,
    pub(super) keys_dir: Option<PathBuf>,
    pub(super) listen: Option<String>,
    pub(super) issuer: Option<String>,
    pub(super) bcrypt_cost: Option<u32>,
    pub(super) db_pool_size: Option<u32>,
    pub(super) db_timeout_secs: Option<u64>,
    pub(super) workers: Option<usize>,
    pub(super) signing_alg: Option<String>,
    pub(super) access_token_ttl_secs: Option<u64>,
    pub(super) id_token_ttl_secs: Option<u64>,
    pub(super) refresh_token_ttl_secs: Option<u64>,
    pub(super) audience: Option<String>,
    pub(super) jwks_max_age_secs: Option<u64>,
    pub(super) rotation_interval: Option<u64>,
    pub(super) keys_reload_secs: Option<u64>,
    pub(super) session_ttl_secs: Option<u64>,
    pub(super) login_max_failures: Option<u32>,
    pub(super) lockout_secs: Option<u64>,
    pub(super) auth_code_ttl_secs: Option<u64>,
    pub(super) login_request_ttl_secs: Option<u64>,
    pub(super) bcrypt_workers: Option<usize>,
    pub(super) bcrypt_queue: Option<usize>,
    pub(super) audit_max_body_bytes: Option<usize>,
    pub(super) metrics_listen: Option<String>,
    pub(super) idempotency_window_secs: Option<u64>,
    pub(super) purge_interval_secs: Option<u64>,
    pub(super) login_rate_per_minute: Option<u32>,
    pub(super) trusted_proxy_header: Option<String>,
    pub(super) body_budget_bytes: Option<usize>,
    pub(super) request_timeout_secs: Option<u64>,
    pub(super) bootstrap_admin_email: Option<String>,
    pub(super) bootstrap_admin_password: Option<String>,
    pub(super) console: Option<bool>,
    pub(super) console_require_mfa: Option<bool>,
    pub(super) token_exchange_max_depth: Option<usize>,
    pub(super) stream_allow_private: Option<bool>,
    pub(super) stream_timeout_secs: Option<u64>,
    pub(super) stream_batch_size: Option<i64>,
    pub(super) stream_checkpoint_events: Option<i64>,
    pub(super) stream_checkpoint_secs: Option<u64>,
    pub(super) stream_retry_max_secs: Option<u64>,
    pub(super) stream_suspend_after_secs: Option<u64>,
}

pub(super) fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid("config", format!("cannot read {}: {e}", path.display())))?;
    toml::from_str(&text)
        .map_err(|e| invalid("config", format!("{}: {}", path.display(), e.message())))
}
