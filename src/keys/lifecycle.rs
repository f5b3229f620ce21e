//! The life cycle: first keys, rotation, scheduled upkeep. Every change is audited in
//! the `system` chain first and published (the manifest renamed into place) only after
//! that commits.

use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{alg, store, Algorithm, KeyError, KeyMeta, KeyState, Manifest, Policy};
use crate::audit::{self, Event, Origin};
use crate::db::{self, DbConnection};
use crate::tenants::SYSTEM_TENANT_ID;

fn new_kid() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(super) fn new_key(
    dir: &Path,
    alg: Algorithm,
    state: KeyState,
    now: DateTime<Utc>,
) -> Result<KeyMeta, KeyError> {
    let kid = new_kid();
    let mut jwk = alg::generate(alg)?;
    jwk.set_key_id(kid.as_str());
    jwk.set_algorithm(alg.name());
    jwk.set_key_use("sig");
    store::write_key(dir, &kid, &jwk)?;
    Ok(KeyMeta {
        kid,
        alg,
        state,
        created_at: now,
        activated_at: (state == KeyState::Active).then_some(now),
        retired_at: None,
    })
}

fn key_event(action: &str, meta: &KeyMeta) -> Event {
    Event::success(SYSTEM_TENANT_ID, action, "key", &meta.kid)
        .with_details(serde_json::json!({ "alg": meta.alg.name() }))
}

/// Records `events` and then publishes `manifest`: the new manifest is staged before the
/// transaction and renamed into place only after it commits, so a change whose audit
/// write fails (or whose commit fails) is never published. On failure the key files
/// named in `created` are removed again.
fn commit(
    conn: &mut DbConnection,
    dir: &Path,
    origin: &Origin,
    manifest: &Manifest,
    events: Vec<Event>,
    created: &[&str],
) -> Result<(), KeyError> {
    let result = store::stage_manifest(dir, manifest).and_then(|staged| {
        let recorded = db::write_tx(conn, |tx| {
            for event in events {
                audit::record(tx, origin, event)?;
            }
            Ok::<_, KeyError>(())
        });
        match recorded {
            Ok(()) => store::publish_manifest(dir, &staged),
            Err(e) => {
                store::discard(&staged);
                Err(e)
            }
        }
    });
    if result.is_err() {
        for kid in created {
            let _ = store::remove_key(dir, kid);
        }
    }
    result
}

/// First start: creates an active and a next key when the folder has no manifest.
/// Returns whether keys were created. Refuses a folder with key files but no manifest
/// rather than starting a new set beside them. A folder that has its manifest is only
/// read (it may be read-only: a mounted Secret).
pub fn init(
    conn: &mut DbConnection,
    dir: &Path,
    alg: Algorithm,
    origin: &Origin,
) -> Result<bool, KeyError> {
    if store::read_manifest(dir)?.is_some() {
        return Ok(false);
    }
    let _lock = store::lock(dir)?;
    if store::read_manifest(dir)?.is_some() {
        return Ok(false);
    }
    if store::has_key_files(dir) {
        return Err(KeyError::File {
            path: dir.join(store::MANIFEST),
            reason: "missing, but the folder holds key files; restore it rather than start over"
                .into(),
        });
    }
    let now = Utc::now();
    let active = new_key(dir, alg, KeyState::Active, now)?;
    let next = new_key(dir, alg, KeyState::Next, now)?;
    let events = vec![
        key_event("key.created", &active),
        key_event("key.activated", &active),
        key_event("key.created", &next),
    ];
    let created = [active.kid.clone(), next.kid.clone()];
    let manifest = Manifest {
        keys: vec![active, next],
    };
    // On failure the key files go again, so the next start can try afresh.
    commit(
        conn,
        dir,
        origin,
        &manifest,
        events,
        &[&created[0], &created[1]],
    )?;
    Ok(true)
}

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct Rotation {
    pub activated: String,
    pub retired: Option<String>,
    pub created: String,
    pub dropped: Vec<String>,
}

/// Rotates now: next → active, active → retired, a new next of `alg`; drops retired keys
/// whose tokens have all expired. Each step is audited.
/// Refuses (unless `force`) to activate a `next` key that has been published for less
/// than the JWKS cache lifetime: verifiers holding a cached JWKS would reject every new
/// token until their copy expires.
pub fn rotate(
    conn: &mut DbConnection,
    dir: &Path,
    policy: &Policy,
    alg: Algorithm,
    origin: &Origin,
    force: bool,
) -> Result<Rotation, KeyError> {
    let _lock = store::lock(dir)?;
    if !force {
        if let Some((_, manifest)) = store::read_manifest(dir)? {
            let young = manifest.next().is_some()
                && !manifest.next_published(policy.jwks_max_age, Utc::now());
            if young {
                return Err(KeyError::Other(format!(
                    "the next key has been published for less than the JWKS cache lifetime ({} s); \
                     verifiers could not know it yet (use --force to rotate anyway)",
                    policy.jwks_max_age.as_secs()
                )));
            }
        }
    }
    rotate_locked(conn, dir, policy, alg, origin)
}

fn rotate_locked(
    conn: &mut DbConnection,
    dir: &Path,
    policy: &Policy,
    alg: Algorithm,
    origin: &Origin,
) -> Result<Rotation, KeyError> {
    let (_, mut manifest) = store::read_manifest(dir)?.ok_or_else(|| KeyError::File {
        path: dir.join(store::MANIFEST),
        reason: "missing; start the server once to create the keys".into(),
    })?;
    let now = Utc::now();
    let mut events = Vec::new();
    let dropped = drop_expired(&mut manifest, policy, now, &mut events);

    let mut created = Vec::new();
    // A folder without a next key (edited by hand) gets one made and activated at once.
    if !manifest.keys.iter().any(|k| k.state == KeyState::Next) {
        let next = new_key(dir, alg, KeyState::Next, now)?;
        events.push(key_event("key.created", &next));
        created.push(next.kid.clone());
        manifest.keys.push(next);
    }
    let mut retired = None;
    for key in manifest
        .keys
        .iter_mut()
        .filter(|k| k.state == KeyState::Active)
    {
        key.state = KeyState::Retired;
        key.retired_at = Some(now);
        events.push(key_event("key.retired", key));
        retired = Some(key.kid.clone());
    }
    let mut activated = String::new();
    if let Some(key) = manifest.keys.iter_mut().find(|k| k.state == KeyState::Next) {
        key.state = KeyState::Active;
        key.activated_at = Some(now);
        events.push(key_event("key.activated", key));
        activated = key.kid.clone();
    }
    let next = match new_key(dir, alg, KeyState::Next, now) {
        Ok(next) => next,
        Err(e) => {
            for kid in &created {
                let _ = store::remove_key(dir, kid);
            }
            return Err(e);
        }
    };
    events.push(key_event("key.created", &next));
    let new_next = next.kid.clone();
    created.push(next.kid.clone());
    manifest.keys.push(next);

    let created_refs: Vec<&str> = created.iter().map(String::as_str).collect();
    commit(conn, dir, origin, &manifest, events, &created_refs)?;
    for kid in &dropped {
        store::remove_key(dir, kid)?;
    }
    Ok(Rotation {
        activated,
        retired,
        created: new_next,
        dropped,
    })
}

/// Removes retired keys past `retire_after` from the manifest; returns their ids.
fn drop_expired(
    manifest: &mut Manifest,
    policy: &Policy,
    now: DateTime<Utc>,
    events: &mut Vec<Event>,
) -> Vec<String> {
    let (expired, kept): (Vec<KeyMeta>, Vec<KeyMeta>) = manifest
        .keys
        .drain(..)
        .partition(|k| Manifest::is_expired(k, policy, now));
    manifest.keys = kept;
    for key in &expired {
        events.push(key_event("key.dropped", key));
    }
    expired.into_iter().map(|k| k.kid).collect()
}

/// Scheduled upkeep, run periodically by the server: rotates when `rotation_interval`
/// has passed since activation and the next key has been published for at least the
/// JWKS cache lifetime, and drops expired retired keys. Safe to run from several
/// instances at once (the folder lock serializes them and the conditions are re-read
/// under it). Returns whether the folder changed.
pub fn maintain(
    conn: &mut DbConnection,
    dir: &Path,
    policy: &Policy,
    origin: &Origin,
) -> Result<bool, KeyError> {
    let now = Utc::now();
    let due = |manifest: &Manifest| -> (bool, bool) {
        let drop = manifest
            .keys
            .iter()
            .any(|k| Manifest::is_expired(k, policy, now));
        (manifest.rotation_due(policy, now), drop)
    };
    let Some((_, manifest)) = store::read_manifest(dir)? else {
        return Ok(false);
    };
    if due(&manifest) == (false, false) {
        return Ok(false);
    }
    let _lock = store::lock(dir)?;
    let Some((_, mut manifest)) = store::read_manifest(dir)? else {
        return Ok(false);
    };
    match due(&manifest) {
        (true, _) => {
            rotate_locked(conn, dir, policy, policy.alg, origin)?;
        }
        (false, true) => {
            let mut events = Vec::new();
            let dropped = drop_expired(&mut manifest, policy, now, &mut events);
            commit(conn, dir, origin, &manifest, events, &[])?;
            for kid in &dropped {
                store::remove_key(dir, kid)?;
            }
        }
        (false, false) => return Ok(false),
    }
    Ok(true)
}
