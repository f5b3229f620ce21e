//! A short-lived in-process copy of recently used clients and their tenants, so the
//! client-credentials path checks a client without a database round trip. Entries
//! expire after a few seconds (a change made elsewhere is seen that late at most);
//! unknown ids are never cached, so a new client works at once everywhere.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::Client;
use crate::tenants::Tenant;

const MAX_ENTRIES: usize = 10_000;

/// A client with its tenant, as held.
pub type Entry = Arc<(Client, Tenant)>;

pub struct Directory {
    ttl: Duration,
    entries: RwLock<HashMap<String, (Instant, Entry)>>,
}

impl Directory {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// A fresh copy of the client `id` and its tenant, if one is held.
    pub fn get(&self, id: &str) -> Option<Entry> {
        let entries = self.entries.read().ok()?;
        let (at, entry) = entries.get(id)?;
        (at.elapsed() < self.ttl).then(|| entry.clone())
    }

    pub fn put(&self, client: Client, tenant: Tenant) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(
                client.id.clone(),
                (Instant::now(), Arc::new((client, tenant))),
            );
        }
    }
}
