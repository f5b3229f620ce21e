//! Sealing of the secrets Tessera must read back (TOTP seeds): XChaCha20-Poly1305 from
//! RustCrypto, a random 192-bit nonce per seal, the owner's id as associated data (a
//! sealed seed copied onto another user's row does not open). The 256-bit key lives in
//! the keys folder (`mfa-seal.key`, 0600), created on first use, never in the database:
//! a stolen database holds no usable seed.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Error, Result};

/// The key file's name in the keys folder.
pub const KEY_FILE: &str = "mfa-seal.key";
const NONCE_BYTES: usize = 24;
/// The format's version, first in every sealed text.
const PREFIX: &str = "v1.";

/// Seals and opens with the folder's key.
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// The key of `dir`, created (32 random bytes, 0600) if the folder has none. Several
    /// instances starting at once agree: the file is created exclusively, and a loser
    /// reads the winner's.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(key) => key,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(dir, &path)?,
            Err(e) => return Err(Error::internal(e)),
        };
        let cipher = XChaCha20Poly1305::new_from_slice(&key)
            .map_err(|_| Error::internal(format!("{} is not a 32-byte key", path.display())))?;
        Ok(Self { cipher })
    }

    /// `secret` sealed for `owner`.
    pub fn seal(&self, owner: &str, secret: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::fill(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("sealing failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// The secret sealed for `owner`; an error for anything else (another owner, another
    /// key, a damaged text).
    pub fn open_for(&self, owner: &str, sealed: &str) -> Result<Vec<u8>> {
        let unreadable = || Error::internal("a sealed secret does not open");
        let bytes = sealed
            .strip_prefix(PREFIX)
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .filter(|b| b.len() > NONCE_BYTES)
            .ok_or_else(unreadable)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_bytes(),
                },
            )
            .map_err(|_| unreadable())
    }
}

fn create(dir: &Path, path: &PathBuf) -> Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).map_err(Error::internal)?;
    let mut key = vec![0u8; 32];
    rand::fill(key.as_mut_slice());
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(&key).map_err(Error::internal)?;
            file.sync_all().map_err(Error::internal)?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read(path).map_err(Error::internal)
        }
        Err(e) => Err(Error::internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sealed_secrets_open_only_for_their_owner_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = Sealer::open(dir.path()).unwrap();
        let sealed = sealer.seal("alice", b"seed bytes").unwrap();
        assert!(!sealed.contains("seed"));
        assert_eq!(sealer.open_for("alice", &sealed).unwrap(), b"seed bytes");
        assert!(
            sealer.open_for("bob", &sealed).is_err(),
            "bound to its owner"
        );
        let again = Sealer::open(dir.path()).unwrap();
        assert_eq!(again.open_for("alice", &sealed).unwrap(), b"seed bytes");
        let other = Sealer::open(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(
            other.open_for("alice", &sealed).is_err(),
            "bound to its key"
        );
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_ne!(
            sealer.seal("alice", b"seed bytes").unwrap(),
            sealed,
            "fresh nonce"
        );
    }
}
