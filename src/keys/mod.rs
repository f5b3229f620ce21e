//! Signing keys and their life cycle: `next` (published, not signing) → `active` (the one
//! signing key) → `retired` (published until every token it signed has expired, then
//! dropped). Keys are loaded once into a [`KeySet`] with their signers and verifiers built
//! (building one costs ~20 signatures) and the JWKS bytes precomputed; a running server
//! swaps in a new set when the folder changes. Every step is an audit event. The only
//! module that uses `josekit`.

pub mod store;
mod strict_json;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::Engine;
use chrono::{DateTime, Utc};
use josekit::jwk::Jwk;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{self, Event, Origin};
use crate::db::{self, DbConnection};
use crate::error::Error;
use crate::tenants::SYSTEM_TENANT_ID;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Alg {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
    #[serde(rename = "RS256")]
    Rs256,
}

impl Alg {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    pub const ALL: [Alg; 3] = [Alg::Es256, Alg::EdDsa, Alg::Rs256];

    fn generate(self) -> Result<Jwk, KeyError> {
        let generated = match self {
            Self::Es256 => Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256),
            Self::EdDsa => Jwk::generate_ed_key(josekit::jwk::alg::ed::EdCurve::Ed25519),
            Self::Rs256 => Jwk::generate_rsa_key(2048),
        };
        generated
            .map_err(|e| KeyError::Other(format!("cannot generate a {} key: {e}", self.as_str())))
    }

    fn signer(self, jwk: &Jwk) -> Result<Box<dyn JwsSigner>, josekit::JoseError> {
        Ok(match self {
            Self::Es256 => Box::new(jws::ES256.signer_from_jwk(jwk)?),
            Self::EdDsa => Box::new(jws::EdDSA.signer_from_jwk(jwk)?),
            Self::Rs256 => Box::new(jws::RS256.signer_from_jwk(jwk)?),
        })
    }

    fn verifier(self, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, josekit::JoseError> {
        Ok(match self {
            Self::Es256 => Box::new(jws::ES256.verifier_from_jwk(jwk)?),
            Self::EdDsa => Box::new(jws::EdDSA.verifier_from_jwk(jwk)?),
            Self::Rs256 => Box::new(jws::RS256.verifier_from_jwk(jwk)?),
        })
    }
}

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
    pub alg: Alg,
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

/// Timing rules of the life cycle, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// New keys' algorithm (first start, scheduled rotation).
    pub alg: Alg,
    /// A `next` key must be published this long before scheduled activation.
    pub jwks_max_age: Duration,
    /// A retired key is dropped this long after retirement (longest signed-token
    /// lifetime plus leeway).
    pub retire_after: Duration,
    pub rotation_interval: Option<Duration>,
}

impl Policy {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            alg: config.signing_alg,
            jwks_max_age: config.jwks_max_age,
            retire_after: config.access_token_ttl.max(config.id_token_ttl)
                + Duration::from_secs(60),
            rotation_interval: config.rotation_interval,
        }
    }
}

struct LoadedKey {
    meta: KeyMeta,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
}

/// An immutable snapshot of the published keys, ready to sign and verify.
pub struct KeySet {
    keys: Vec<LoadedKey>,
    active: usize,
    jwks: bytes::Bytes,
    etag: String,
    fingerprint: [u8; 32],
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field(
                "keys",
                &self.keys.iter().map(|k| &k.meta).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl KeySet {
    fn load(dir: &Path, bytes: &[u8], manifest: &Manifest) -> Result<Self, KeyError> {
        let manifest_path = dir.join(store::MANIFEST);
        let active_count = manifest
            .keys
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .count();
        if active_count != 1 {
            return Err(KeyError::File {
                path: manifest_path,
                reason: format!("expected exactly one active key, found {active_count}"),
            });
        }
        let mut keys = Vec::with_capacity(manifest.keys.len());
        let mut public = Vec::with_capacity(manifest.keys.len());
        // Active first, so JWKS consumers that take the first key take the right one.
        let mut ordered: Vec<&KeyMeta> = manifest.keys.iter().collect();
        ordered.sort_by_key(|k| match k.state {
            KeyState::Active => 0,
            KeyState::Next => 1,
            KeyState::Retired => 2,
        });
        for meta in ordered {
            let jwk = store::read_key(dir, &meta.kid)?;
            let path = store::key_path(dir, &meta.kid);
            let bad = |e: josekit::JoseError| KeyError::File {
                path: path.clone(),
                reason: format!("unusable {} key: {e}", meta.alg.as_str()),
            };
            let signer = meta.alg.signer(&jwk).map_err(bad)?;
            let verifier = meta.alg.verifier(&jwk).map_err(bad)?;
            let mut public_jwk = jwk.to_public_key().map_err(bad)?;
            public_jwk.set_key_id(meta.kid.clone());
            public_jwk.set_algorithm(meta.alg.as_str());
            public_jwk.set_key_use("sig");
            public.push(serde_json::Value::Object(public_jwk.into()));
            keys.push(LoadedKey {
                meta: meta.clone(),
                signer,
                verifier,
            });
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": public }))
            .map_err(|e| KeyError::Other(e.to_string()))?;
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(&jwks))[..32]);
        Ok(Self {
            keys,
            active: 0,
            jwks: bytes::Bytes::from(jwks),
            etag,
            fingerprint: Sha256::digest(bytes).into(),
        })
    }

    pub fn active(&self) -> &KeyMeta {
        &self.keys[self.active].meta
    }

    pub fn metas(&self) -> impl Iterator<Item = &KeyMeta> {
        self.keys.iter().map(|k| &k.meta)
    }

    /// The JWKS document (public members only), precomputed.
    pub fn jwks(&self) -> &[u8] {
        &self.jwks
    }

    /// The same document as shared bytes: serving it copies nothing.
    pub fn jwks_bytes(&self) -> bytes::Bytes {
        self.jwks.clone()
    }

    /// A strong validator of [`Self::jwks`], quoted.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Algorithms of the published keys, for discovery.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = self.keys.iter().map(|k| k.meta.alg.as_str()).collect();
        algs.sort_unstable();
        algs.dedup();
        algs
    }

    /// Signs `payload` (already-serialized JSON claims) as a compact JWS with the active
    /// key, header `{alg, kid, typ}`. Returns the token and the signing key's id.
    pub fn sign(&self, typ: &str, payload: &[u8]) -> Result<(String, &str), Error> {
        let key = &self.keys[self.active];
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(key.meta.kid.as_str());
        let token = jws::serialize_compact(payload, &header, key.signer.as_ref())
            .map_err(Error::internal)?;
        Ok((token, key.meta.kid.as_str()))
    }

    /// Verifies a compact JWS against the published keys: the key is chosen by `kid`,
    /// the algorithm is the key's own (never the header's), and the header's `typ` must
    /// equal `typ`. Returns the payload's claims; time and audience checks are the
    /// caller's.
    pub fn verify(
        &self,
        token: &str,
        typ: &str,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        // A header or claims set that names a member twice is refused outright.
        let mut parts = token.split('.');
        for part in [parts.next()?, parts.next()?] {
            let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .ok()?;
            if !strict_json::no_duplicate_members(&json) {
                return None;
            }
        }
        let (payload, header) = jws::deserialize_compact_with_selector(token, |header| {
            Ok(header
                .key_id()
                .and_then(|kid| self.keys.iter().find(|k| k.meta.kid == kid))
                .map(|k| k.verifier.as_ref()))
        })
        .ok()?;
        if header.token_type() != Some(typ) {
            return None;
        }
        match serde_json::from_slice(&payload).ok()? {
            serde_json::Value::Object(claims) => Some(claims),
            _ => None,
        }
    }
}

/// The live key set of a running process, reloaded when the folder changes.
pub struct Keys {
    dir: PathBuf,
    current: ArcSwap<KeySet>,
}

impl Keys {
    /// Loads the folder; it must have been initialized ([`init`]).
    pub fn open(dir: &Path) -> Result<Self, KeyError> {
        let (bytes, manifest) = store::read_manifest(dir)?.ok_or_else(|| KeyError::File {
            path: dir.join(store::MANIFEST),
            reason: "missing".into(),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            current: ArcSwap::from_pointee(KeySet::load(dir, &bytes, &manifest)?),
        })
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Swaps in the folder's key set if the manifest changed; returns whether it did.
    /// On error the previous set stays in service.
    pub fn reload_if_changed(&self) -> Result<bool, KeyError> {
        let Some((bytes, manifest)) = store::read_manifest(&self.dir)? else {
            return Ok(false);
        };
        let fingerprint: [u8; 32] = Sha256::digest(&bytes).into();
        if fingerprint == self.current.load().fingerprint {
            return Ok(false);
        }
        self.current
            .store(Arc::new(KeySet::load(&self.dir, &bytes, &manifest)?));
        Ok(true)
    }
}

fn new_kid() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn new_key(dir: &Path, alg: Alg, state: KeyState, now: DateTime<Utc>) -> Result<KeyMeta, KeyError> {
    let kid = new_kid();
    let mut jwk = alg.generate()?;
    jwk.set_key_id(kid.as_str());
    jwk.set_algorithm(alg.as_str());
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
        .with_details(serde_json::json!({ "alg": meta.alg.as_str() }))
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
/// rather than starting a new set beside them.
pub fn init(
    conn: &mut DbConnection,
    dir: &Path,
    alg: Alg,
    origin: &Origin,
) -> Result<bool, KeyError> {
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
    alg: Alg,
    origin: &Origin,
    force: bool,
) -> Result<Rotation, KeyError> {
    let _lock = store::lock(dir)?;
    if !force {
        if let Some((_, manifest)) = store::read_manifest(dir)? {
            let max_age =
                chrono::Duration::from_std(policy.jwks_max_age).unwrap_or(chrono::Duration::MAX);
            let young = manifest
                .keys
                .iter()
                .find(|k| k.state == KeyState::Next)
                .is_some_and(|k| k.created_at + max_age > Utc::now());
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
    alg: Alg,
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
    let retire_after =
        chrono::Duration::from_std(policy.retire_after).unwrap_or(chrono::Duration::MAX);
    let (expired, kept): (Vec<KeyMeta>, Vec<KeyMeta>) = manifest.keys.drain(..).partition(|k| {
        k.state == KeyState::Retired && k.retired_at.is_some_and(|t| t + retire_after <= now)
    });
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
        let rotate = policy.rotation_interval.is_some_and(|interval| {
            let interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
            let max_age =
                chrono::Duration::from_std(policy.jwks_max_age).unwrap_or(chrono::Duration::MAX);
            let active_due = manifest.keys.iter().any(|k| {
                k.state == KeyState::Active
                    && k.activated_at.unwrap_or(k.created_at) + interval <= now
            });
            let next_published = manifest
                .keys
                .iter()
                .any(|k| k.state == KeyState::Next && k.created_at + max_age <= now);
            active_due && next_published
        });
        let retire_after =
            chrono::Duration::from_std(policy.retire_after).unwrap_or(chrono::Duration::MAX);
        let drop = manifest.keys.iter().any(|k| {
            k.state == KeyState::Retired && k.retired_at.is_some_and(|t| t + retire_after <= now)
        });
        (rotate, drop)
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn set_with(alg: Alg) -> (tempfile::TempDir, KeySet) {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let active = new_key(dir.path(), alg, KeyState::Active, now).unwrap();
        let manifest = Manifest { keys: vec![active] };
        store::write_manifest(dir.path(), &manifest).unwrap();
        let (bytes, manifest) = store::read_manifest(dir.path()).unwrap().unwrap();
        let set = KeySet::load(dir.path(), &bytes, &manifest).unwrap();
        (dir, set)
    }

    #[test]
    fn signs_and_verifies_with_every_algorithm() {
        for alg in Alg::ALL {
            let (_dir, set) = set_with(alg);
            let (token, kid) = set.sign("at+jwt", br#"{"sub":"u1","exp":1}"#).unwrap();
            assert_eq!(kid, set.active().kid);
            let claims = set.verify(&token, "at+jwt").unwrap();
            assert_eq!(claims["sub"], "u1");
            assert!(set.verify(&token, "JWT").is_none(), "typ is checked");
            let jwks: serde_json::Value = serde_json::from_slice(set.jwks()).unwrap();
            let key = &jwks["keys"][0];
            assert_eq!(key["alg"], alg.as_str());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "{alg:?} leaks {private}");
            }
        }
    }

    #[test]
    fn private_key_files_are_0600() {
        let (dir, set) = set_with(Alg::Es256);
        let mode = std::fs::metadata(store::key_path(dir.path(), &set.active().kid))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn corrupt_key_file_is_named() {
        let (dir, set) = set_with(Alg::Es256);
        let path = store::key_path(dir.path(), &set.active().kid);
        std::fs::write(&path, b"{not json").unwrap();
        let err = Keys::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        // Never overwritten.
        assert_eq!(std::fs::read(&path).unwrap(), b"{not json");
    }
}
