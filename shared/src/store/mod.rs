//! The shared store: a key-value port with versions and conditional writes.
//!
//! Everything the chain shares between processes lives here: run records, evidence
//! bundles, circuit-breaker state. Writes that must not lose an update use
//! [`Store::put_if_absent`] / [`Store::put_if_match`] and re-read on
//! [`StoreError::Conflict`]; [`update`] packages that loop.

mod local;
mod s3;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::classify::{Classify, ErrorKind};
use crate::config::{ConfigError, Env};

pub use local::LocalStore;
pub use s3::{S3Location, S3Store};

/// An opaque version of a stored value (an S3 ETag, or a content digest locally).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub String);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored value with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The bytes stored under the key.
    pub value: Bytes,
    /// The version to pass to [`Store::put_if_match`].
    pub version: Version,
}

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write lost: the key exists (put-if-absent) or changed or vanished
    /// since it was read (put-if-match). Re-read and retry.
    #[error("conflicting write to {key}: it changed since it was read")]
    Conflict {
        /// The key written.
        key: String,
    },
    /// The key is not a valid store key.
    #[error("invalid store key {key:?}: {expected}")]
    InvalidKey {
        /// The key given.
        key: String,
        /// What a valid key looks like.
        expected: &'static str,
    },
    /// A read-modify-write loop gave up after repeated conflicts.
    #[error("gave up updating {key} after {attempts} conflicting attempts")]
    Contended {
        /// The key written.
        key: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The backend failed (I/O, network, permissions, server error).
    #[error("store backend failed on {key}: {message}")]
    Backend {
        /// The key (or prefix) involved.
        key: String,
        /// What went wrong, without credentials.
        message: String,
        /// Whether the same call may succeed later.
        retryable: bool,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    pub(crate) fn backend(
        key: &str,
        message: impl Into<String>,
        retryable: bool,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Backend {
            key: key.to_owned(),
            message: message.into(),
            retryable,
            source: Some(source.into()),
        }
    }

    /// Whether this is a lost conditional write.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

impl Classify for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidKey { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Conflict { .. } | Self::Contended { .. } => true,
            Self::InvalidKey { .. } => false,
            Self::Backend { retryable, .. } => *retryable,
        }
    }
}

/// The store port. Keys are `/`-separated relative paths (`runs/<id>.json`).
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The value and its version, or `None` when the key does not exist.
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Writes only if the key does not exist yet; [`StoreError::Conflict`] otherwise.
    async fn put_if_absent(&self, key: &str, value: Bytes) -> Result<Version, StoreError>;

    /// Writes only if the key still holds `version`; [`StoreError::Conflict`] when it
    /// changed or was deleted since.
    async fn put_if_match(
        &self,
        key: &str,
        value: Bytes,
        version: &Version,
    ) -> Result<Version, StoreError>;

    /// Removes the key. Removing a missing key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// The keys that start with `prefix`, sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// A store handle as carried in a context.
pub type SharedStore = Arc<dyn Store>;

/// Checks a key: relative, `/`-separated, no empty, `.` or `..` segments, no segment
/// starting with `.` (reserved for the local adapter's bookkeeping), no control
/// characters or backslashes.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    const EXPECTED: &str = "a relative path of non-empty segments such as runs/<id>.json, \
                            without leading dots, backslashes or control characters";
    let ok = !key.is_empty()
        && key.len() <= 1024
        && !key.contains('\\')
        && !key.chars().any(char::is_control)
        && key
            .split('/')
            .all(|seg| !seg.is_empty() && !seg.starts_with('.'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::InvalidKey {
            key: key.to_owned(),
            expected: EXPECTED,
        })
    }
}

/// The outcome of one step of an [`update`]: what to write, or nothing.
#[derive(Debug)]
pub enum Update<T> {
    /// Write these bytes and return `T`.
    Write(Bytes, T),
    /// Leave the key as it is and return `T`.
    Keep(T),
}

/// Result of [`update`]: the value returned by the closure, the conflicts met on the way.
#[derive(Debug)]
pub struct Updated<T> {
    /// What the closure returned for the attempt that won.
    pub value: T,
    /// How many conditional writes lost and were retried.
    pub conflicts: u32,
}

/// Read-modify-conditional-write with re-reads on conflict, at most `max_attempts`
/// times. `f` sees the current value (or `None`) and decides what to write; it may run
/// more than once and must not have side effects.
///
/// After each lost write it waits a random 0..2^n ms (capped at [`MAX_CONFLICT_BACKOFF`])
/// before re-reading, so writers that keep colliding spread out instead of starving.
pub async fn update<T, F>(
    store: &dyn Store,
    key: &str,
    max_attempts: u32,
    mut f: F,
) -> Result<Updated<T>, StoreError>
where
    F: FnMut(Option<&[u8]>) -> Update<T> + Send,
    T: Send,
{
    let mut conflicts = 0;
    for _ in 0..max_attempts.max(1) {
        let current = store.get(key).await?;
        let decision = f(current.as_ref().map(|v| v.value.as_ref()));
        let (bytes, value) = match decision {
            Update::Keep(value) => return Ok(Updated { value, conflicts }),
            Update::Write(bytes, value) => (bytes, value),
        };
        let written = match &current {
            None => store.put_if_absent(key, bytes).await,
            Some(cur) => store.put_if_match(key, bytes, &cur.version).await,
        };
        match written {
            Ok(_) => return Ok(Updated { value, conflicts }),
            Err(StoreError::Conflict { .. }) => {
                conflicts += 1;
                tokio::time::sleep(conflict_backoff(conflicts)).await;
            }
            Err(other) => return Err(other),
        }
    }
    Err(StoreError::Contended {
        key: key.to_owned(),
        attempts: max_attempts.max(1),
    })
}

/// The longest wait between two attempts of an [`update`].
pub const MAX_CONFLICT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(64);

/// Full jitter: uniform in 0..min(2^conflicts ms, the cap).
fn conflict_backoff(conflicts: u32) -> std::time::Duration {
    crate::backoff::Backoff {
        base: std::time::Duration::from_millis(2),
        max: MAX_CONFLICT_BACKOFF,
    }
    .random_delay(conflicts.saturating_sub(1))
}

/// Where the store lives, parsed from `AIOPS_STORE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// A local directory (the embedded default `./.aiops`).
    Local(std::path::PathBuf),
    /// An S3 bucket and key prefix, with an optional S3-compatible endpoint.
    S3(S3Location),
}

impl StoreConfig {
    /// Reads `AIOPS_STORE` (`s3://bucket/prefix` or a directory), `AIOPS_S3_ENDPOINT`
    /// and `AIOPS_S3_PATH_STYLE`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let raw = env.get("AIOPS_STORE").unwrap_or_else(|| "./.aiops".into());
        if let Some(rest) = raw.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ConfigError::invalid(
                    "AIOPS_STORE",
                    "s3://<bucket>/<prefix> or a directory path",
                    Some("the bucket name is empty".into()),
                ));
            }
            let endpoint = env.get("AIOPS_S3_ENDPOINT");
            if let Some(url) = &endpoint
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(ConfigError::invalid(
                    "AIOPS_S3_ENDPOINT",
                    "an http:// or https:// URL",
                    None,
                ));
            }
            let path_style = env
                .flag("AIOPS_S3_PATH_STYLE")?
                .unwrap_or(endpoint.is_some());
            Ok(Self::S3(S3Location {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
                endpoint,
                path_style,
            }))
        } else if raw.contains("://") {
            Err(ConfigError::invalid(
                "AIOPS_STORE",
                "s3://<bucket>/<prefix> or a directory path",
                Some("unsupported URL scheme".into()),
            ))
        } else {
            Ok(Self::Local(raw.into()))
        }
    }

    /// Opens the configured store. S3 credentials and region come from the standard AWS
    /// chain (environment, profile, Lambda role).
    pub async fn open(&self) -> Result<SharedStore, StoreError> {
        match self {
            Self::Local(dir) => Ok(Arc::new(LocalStore::open(dir)?)),
            Self::S3(loc) => Ok(Arc::new(S3Store::from_env(loc.clone()).await)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn keys_must_be_plain_relative_paths() {
        for good in ["runs/a.json", "breakers/openai.json", "x", "a/b/c-d_e.f"] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/abs",
            "a//b",
            "a/../b",
            "..",
            ".hidden",
            "a/.locks/x",
            "a\\b",
            "a\nb",
            "a/",
        ] {
            assert!(
                matches!(validate_key(bad), Err(StoreError::InvalidKey { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn store_config_defaults_to_a_local_directory() {
        let cfg = StoreConfig::from_env(&MapEnv::new()).unwrap();
        assert_eq!(cfg, StoreConfig::Local("./.aiops".into()));
    }

    #[test]
    fn store_config_parses_s3_urls_and_endpoint() {
        let env = MapEnv::new()
            .with("AIOPS_STORE", "s3://bucket/some/prefix/")
            .with("AIOPS_S3_ENDPOINT", "http://127.0.0.1:5000");
        let StoreConfig::S3(loc) = StoreConfig::from_env(&env).unwrap() else {
            panic!("expected S3");
        };
        assert_eq!(loc.bucket, "bucket");
        assert_eq!(loc.prefix, "some/prefix");
        assert!(
            loc.path_style,
            "a custom endpoint implies path-style by default"
        );

        let env = MapEnv::new().with("AIOPS_STORE", "s3:///nobucket");
        let err = StoreConfig::from_env(&env).unwrap_err();
        assert_eq!(err.var(), "AIOPS_STORE");
        let env = MapEnv::new().with("AIOPS_STORE", "gs://bucket");
        assert_eq!(
            StoreConfig::from_env(&env).unwrap_err().var(),
            "AIOPS_STORE"
        );
        let env = MapEnv::new()
            .with("AIOPS_STORE", "s3://b")
            .with("AIOPS_S3_ENDPOINT", "localhost:9000");
        assert_eq!(
            StoreConfig::from_env(&env).unwrap_err().var(),
            "AIOPS_S3_ENDPOINT"
        );
    }
}
