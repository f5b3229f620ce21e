//! The loaded key set: an immutable snapshot that signs and verifies, and the live set
//! of a running process, swapped when the folder changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use base64::Engine;
use josekit::jws::{self, JwsHeader, JwsSigner, JwsVerifier};
use sha2::{Digest, Sha256};

use super::{alg, store, KeyError, KeyMeta, KeyState, Manifest};
use crate::error::Error;
use tessera_proto::strict_json;

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
    pub(super) fn load(dir: &Path, bytes: &[u8], manifest: &Manifest) -> Result<Self, KeyError> {
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
                reason: format!("unusable {} key: {e}", meta.alg.name()),
            };
            let signer = alg::signer(meta.alg, &jwk).map_err(bad)?;
            let verifier = alg::verifier(meta.alg, &jwk).map_err(bad)?;
            let mut public_jwk = jwk.to_public_key().map_err(bad)?;
            public_jwk.set_key_id(meta.kid.clone());
            public_jwk.set_algorithm(meta.alg.name());
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
        let mut algs: Vec<&'static str> = self.keys.iter().map(|k| k.meta.alg.name()).collect();
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
    /// equal `typ`. Returns the payload; time and audience checks are the caller's.
    pub fn verify_payload(&self, token: &str, typ: &str) -> Option<Vec<u8>> {
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
        (header.token_type() == Some(typ)).then_some(payload)
    }

    /// [`Self::verify_payload`], the payload read as a `T` (a JSON object).
    pub fn verify<T: serde::de::DeserializeOwned>(&self, token: &str, typ: &str) -> Option<T> {
        serde_json::from_slice(&self.verify_payload(token, typ)?).ok()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;
    use chrono::Utc;
    use std::os::unix::fs::PermissionsExt;

    fn set_with(alg: Algorithm) -> (tempfile::TempDir, KeySet) {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let active =
            super::super::lifecycle::new_key(dir.path(), alg, KeyState::Active, now).unwrap();
        let manifest = Manifest { keys: vec![active] };
        store::write_manifest(dir.path(), &manifest).unwrap();
        let (bytes, manifest) = store::read_manifest(dir.path()).unwrap().unwrap();
        let set = KeySet::load(dir.path(), &bytes, &manifest).unwrap();
        (dir, set)
    }

    #[test]
    fn signs_and_verifies_with_every_algorithm() {
        for alg in Algorithm::ALL {
            let (_dir, set) = set_with(alg);
            let (token, kid) = set.sign("at+jwt", br#"{"sub":"u1","exp":1}"#).unwrap();
            assert_eq!(kid, set.active().kid);
            let claims: serde_json::Value = set.verify(&token, "at+jwt").unwrap();
            assert_eq!(claims["sub"], "u1");
            assert!(
                set.verify_payload(&token, "JWT").is_none(),
                "typ is checked"
            );
            let jwks: serde_json::Value = serde_json::from_slice(set.jwks()).unwrap();
            let key = &jwks["keys"][0];
            assert_eq!(key["alg"], alg.name());
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "{alg:?} leaks {private}");
            }
        }
    }

    #[test]
    fn private_key_files_are_0600() {
        let (dir, set) = set_with(Algorithm::Es256);
        let mode = std::fs::metadata(store::key_path(dir.path(), &set.active().kid))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn corrupt_key_file_is_named() {
        let (dir, set) = set_with(Algorithm::Es256);
        let path = store::key_path(dir.path(), &set.active().kid);
        std::fs::write(&path, b"{not json").unwrap();
        let err = Keys::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        // Never overwritten.
        assert_eq!(std::fs::read(&path).unwrap(), b"{not json");
    }
}
