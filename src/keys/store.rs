//! The keys folder: `keys.json` (the manifest: every key's id, algorithm, state and
//! times; public), one `<kid>.jwk` per key (the private JWK, mode 0600), and `.lock`, an
//! advisory file lock that serializes changes between processes sharing the folder.
//! Every write goes to a temporary file first and is renamed into place, so readers
//! see either the old or the new content, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use josekit::jwk::Jwk;

use super::{KeyError, Manifest};

pub const MANIFEST: &str = "keys.json";
const LOCK: &str = ".lock";

fn file_error(path: &Path, reason: impl ToString) -> KeyError {
    KeyError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

pub fn key_path(dir: &Path, kid: &str) -> PathBuf {
    dir.join(format!("{kid}.jwk"))
}

/// Holds the folder's exclusive lock until dropped.
pub struct DirLock(#[allow(dead_code)] File);

/// Opens `.lock` for the advisory lock: for writing (created if missing), or, on a
/// read-only folder (a mounted Secret), read-only: `flock` works on either. A read-only
/// folder without `.lock` cannot be locked, nor changed, so that is an error only for a
/// caller that means to change it.
fn open_lock(path: &Path) -> std::io::Result<File> {
    let writable = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path);
    match writable {
        Err(e) if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem => File::open(path),
        other => other,
    }
}

pub fn lock(dir: &Path) -> Result<DirLock, KeyError> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| file_error(dir, format!("cannot create: {e}")))?;
    }
    let path = dir.join(LOCK);
    let file = open_lock(&path).map_err(|e| file_error(&path, e))?;
    file.lock().map_err(|e| file_error(&path, e))?;
    Ok(DirLock(file))
}

/// The manifest's bytes and content, or `None` when the folder has none yet.
pub fn read_manifest(dir: &Path) -> Result<Option<(Vec<u8>, Manifest)>, KeyError> {
    let path = dir.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(&path, e)),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| file_error(&path, format!("not a valid key manifest: {e}")))?;
    // A key id names a file in this folder (`<kid>.jwk`), to read and to remove: one
    // that could name a path elsewhere (`../x`, `/x`) is refused.
    let safe = |kid: &str| {
        (1..=64).contains(&kid.len())
            && kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if let Some(bad) = manifest.keys.iter().find(|k| !safe(&k.kid)) {
        return Err(file_error(
            &path,
            format!(
                "not a valid key manifest: key id {:?} is not 1-64 letters, digits, - or _",
                bad.kid.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(Some((bytes, manifest)))
}

pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), KeyError> {
    let staged = stage_manifest(dir, manifest)?;
    publish_manifest(dir, &staged)
}

/// Writes a new manifest beside the live one without publishing it.
pub fn stage_manifest(dir: &Path, manifest: &Manifest) -> Result<PathBuf, KeyError> {
    let path = dir.join(format!(
        "{MANIFEST}.staged-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| file_error(&path, e))?;
    write_atomically(&path, &bytes, 0o644)?;
    Ok(path)
}

/// Publishes a staged manifest by atomic rename.
pub fn publish_manifest(dir: &Path, staged: &Path) -> Result<(), KeyError> {
    let path = dir.join(MANIFEST);
    fs::rename(staged, &path).map_err(|e| file_error(&path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| file_error(dir, e))
}

pub fn discard(path: &Path) {
    let _ = fs::remove_file(path);
}

/// Key files that exist in the folder (to refuse starting over an orphaned set).
pub fn has_key_files(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "jwk"))
    })
}

pub fn read_key(dir: &Path, kid: &str) -> Result<Jwk, KeyError> {
    let path = key_path(dir, kid);
    let bytes = fs::read(&path).map_err(|e| file_error(&path, e))?;
    if let Ok(meta) = fs::metadata(&path) {
        if meta.permissions().mode() & 0o077 != 0 {
            log::warn!(
                "{} is readable by other users; it should be mode 0600",
                path.display()
            );
        }
    }
    let jwk =
        Jwk::from_bytes(&bytes).map_err(|e| file_error(&path, format!("not a valid JWK: {e}")))?;
    if jwk.key_id() != Some(kid) {
        return Err(file_error(
            &path,
            "the JWK's kid does not match its file name",
        ));
    }
    Ok(jwk)
}

/// Writes a new private key file; an existing file is never overwritten.
pub fn write_key(dir: &Path, kid: &str, jwk: &Jwk) -> Result<(), KeyError> {
    let path = key_path(dir, kid);
    if path.exists() {
        return Err(file_error(&path, "already exists"));
    }
    write_atomically(&path, jwk.to_string().as_bytes(), 0o600)
}

pub fn remove_key(dir: &Path, kid: &str) -> Result<(), KeyError> {
    let path = key_path(dir, kid);
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(file_error(&path, e)),
    }
}

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
    let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok::<_, std::io::Error>(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| file_error(path, e))
}
