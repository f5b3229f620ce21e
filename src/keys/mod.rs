//! Signing keys and their life cycle: `next` (published, not signing) → `active` (the one
//! signing key) → `retired` (published until every token it signed has expired, then
//! dropped). Keys are loaded once into a [`KeySet`] with their signers and verifiers built
//! (building one costs ~20 signatures) and the JWKS bytes precomputed; a running server
//! swaps in a new set when the folder changes. Every step is an audit event. The only
//! module that uses `josekit`.
//!
//! | file | holds |
//! |---|---|
//! | `alg.rs` | the josekit constructors per [`Algorithm`] |
//! | `set.rs` | [`KeySet`] (sign, verify, JWKS) and [`Keys`] (the live set, hot reload) |
//! | `lifecycle.rs` | [`init`], [`rotate`], [`maintain`]: each change audited, then published |
//! | `upkeep.rs` | the server's periodic reload and maintenance thread |
//! | `store.rs` | the folder: manifest, key files, lock |

mod alg;
mod lifecycle;
mod set;
pub mod store;
pub mod upkeep;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Error;

pub use alg::Algorithm;
pub use lifecycle::{init, maintain, rotate, Rotation};
pub use set::{KeySet, Keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Next,
    Active,
    Retired,
}

/// What the manifest says about one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyMeta {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    /// Also when it was first published.
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Manifest {
    pub keys: Vec<KeyMeta>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<diesel::result::Error> for KeyError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(e) => e,
            other => Error::internal(other),
        }
    }
}

/// Timing rules of the life cycle (the configuration builds one: `Config::key_policy`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// New keys' algorithm (first start, scheduled rotation).
    pub alg: Algorithm,
    /// A `next` key must be published this long before scheduled activation.
    pub jwks_max_age: Duration,
    /// A retired key is dropped this long after retirement (longest signed-token
    /// lifetime plus leeway).
    pub retire_after: Duration,
    pub rotation_interval: Option<Duration>,
}

impl Manifest {
    /// The `next` key, if the folder has one.
    pub fn next(&self) -> Option<&KeyMeta> {
        self.keys.iter().find(|k| k.state == KeyState::Next)
    }

    /// Whether the `next` key has been published for at least `max_age` (the JWKS
    /// cache lifetime), so that every verifier can know it.
    pub fn next_published(&self, max_age: Duration, now: DateTime<Utc>) -> bool {
        self.next()
            .is_some_and(|k| k.created_at + chrono_duration(max_age) <= now)
    }

    /// Whether a retired key is past `policy.retire_after` (every token it signed has
    /// expired).
    pub fn is_expired(key: &KeyMeta, policy: &Policy, now: DateTime<Utc>) -> bool {
        key.state == KeyState::Retired
            && key
                .retired_at
                .is_some_and(|t| t + chrono_duration(policy.retire_after) <= now)
    }

    /// Whether scheduled rotation is due: the active key is older than the rotation
    /// interval and the next key is published long enough.
    pub fn rotation_due(&self, policy: &Policy, now: DateTime<Utc>) -> bool {
        policy.rotation_interval.is_some_and(|interval| {
            let active_due = self.keys.iter().any(|k| {
                k.state == KeyState::Active
                    && k.activated_at.unwrap_or(k.created_at) + chrono_duration(interval) <= now
            });
            active_due && self.next_published(policy.jwks_max_age, now)
        })
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
