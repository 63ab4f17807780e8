//! The embedded default store: a local directory.
//!
//! Same semantics as S3 conditional writes, safe across processes: every write to a key
//! happens under an exclusive OS file lock for that key, and lands by atomic rename, so
//! readers never see a half-written value and two processes never lose an update.
//! Bookkeeping lives in dot-directories that are never valid keys (`.locks`, `.tmp`).

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::{Store, StoreError, Version, Versioned, validate_key};

/// A store in a local directory.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Opens (creating if needed) a store rooted at `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root: PathBuf = dir.into();
        for sub in [root.join(".locks"), root.join(".tmp")] {
            fs::create_dir_all(&sub).map_err(|e| io_error(&root.to_string_lossy(), e))?;
        }
        Ok(Self { root })
    }

    /// The directory the store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> PathBuf {
        key.split('/').fold(self.root.clone(), |p, seg| p.join(seg))
    }

    /// Runs blocking file work off the async executor.
    async fn blocking<T, F>(&self, key: &str, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&LocalStore) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || f(&this))
            .await
            .map_err(|e| StoreError::backend(key, "store worker failed", false, e))?
    }

    /// Applies a conditional write under the key's lock.
    fn write_locked(
        &self,
        key: &str,
        value: &[u8],
        expect: Option<&Version>,
    ) -> Result<Version, StoreError> {
        let _lock = self.lock(key)?;
        let path = self.path_of(key);
        let current = read_optional(&path).map_err(|e| io_error(key, e))?;
        let matches = match (expect, &current) {
            (None, None) => true,
            (Some(want), Some(bytes)) => version_of(bytes) == *want,
            _ => false,
        };
        if !matches {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
            });
        }
        self.replace(&path, value).map_err(|e| io_error(key, e))?;
        Ok(version_of(value))
    }

    /// Takes the exclusive lock for `key`; released when the returned file is dropped.
    fn lock(&self, key: &str) -> Result<File, StoreError> {
        let name = hex::encode(Sha256::digest(key.as_bytes()));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(".locks").join(name))
            .map_err(|e| io_error(key, e))?;
        file.lock().map_err(|e| io_error(key, e))?;
        Ok(file)
    }

    /// Writes `value` to a temporary file, syncs it and renames it over `path`.
    fn replace(&self, path: &Path, value: &[u8]) -> std::io::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let tmp = self
            .root
            .join(".tmp")
            .join(uuid::Uuid::new_v4().simple().to_string());
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(value)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

#[async_trait]
impl Store for LocalStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        validate_key(key)?;
        let owned = key.to_owned();
        self.blocking(key, move |s| {
            let bytes = read_optional(&s.path_of(&owned)).map_err(|e| io_error(&owned, e))?;
            Ok(bytes.map(|b| Versioned {
                version: version_of(&b),
                value: Bytes::from(b),
            }))
        })
        .await
    }

    async fn put_if_absent(&self, key: &str, value: Bytes) -> Result<Version, StoreError> {
        validate_key(key)?;
        let owned = key.to_owned();
        self.blocking(key, move |s| s.write_locked(&owned, &value, None))
            .await
    }

    async fn put_if_match(
        &self,
        key: &str,
        value: Bytes,
        version: &Version,
    ) -> Result<Version, StoreError> {
        validate_key(key)?;
        let (owned, version) = (key.to_owned(), version.clone());
        self.blocking(key, move |s| s.write_locked(&owned, &value, Some(&version)))
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        let owned = key.to_owned();
        self.blocking(key, move |s| {
            let _lock = s.lock(&owned)?;
            match fs::remove_file(s.path_of(&owned)) {
                Err(e) if e.kind() != IoKind::NotFound => Err(io_error(&owned, e)),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let owned = prefix.to_owned();
        self.blocking(prefix, move |s| {
            // Walk only the directory the prefix names, not the whole store.
            let dir_part = owned.rsplit_once('/').map_or("", |(dir, _)| dir);
            let start = if dir_part.is_empty() {
                s.root.clone()
            } else {
                s.path_of(dir_part)
            };
            let mut keys = Vec::new();
            walk(&start, dir_part, &mut keys).map_err(|e| io_error(&owned, e))?;
            keys.retain(|k| k.starts_with(&owned));
            keys.sort();
            Ok(keys)
        })
        .await
    }
}

fn walk(dir: &Path, key_prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // not a key this store could have written
        };
        if name.starts_with('.') {
            continue;
        }
        let key = if key_prefix.is_empty() {
            name
        } else {
            format!("{key_prefix}/{name}")
        };
        if entry.file_type()?.is_dir() {
            walk(&entry.path(), &key, out)?;
        } else {
            out.push(key);
        }
    }
    Ok(())
}

fn read_optional(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == IoKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A content digest, as S3 uses an MD5 ETag for single-part objects.
fn version_of(bytes: &[u8]) -> Version {
    Version(hex::encode(&Sha256::digest(bytes)[..16]))
}

fn io_error(key: &str, e: std::io::Error) -> StoreError {
    let retryable = matches!(
        e.kind(),
        IoKind::Interrupted | IoKind::WouldBlock | IoKind::TimedOut
    );
    StoreError::backend(key, format!("local store I/O: {e}"), retryable, e)
}
