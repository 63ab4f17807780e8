//! Error conventions shared by every crate.
//!
//! Each crate has one `thiserror` enum; each variant says whether a retry can help and
//! which exit code / Lambda error type it maps to. The chain retries only what is
//! retryable; the CLI exits 2 for bad input or configuration and 1 for a dependency that
//! kept failing.

pub use crate::classify::{
    Classify, ErrorKind, LAMBDA_ERROR_TYPES, RETRYABLE_ERROR_TYPE, one_line,
};
use crate::config::ConfigError;
use crate::sources::SourceError;
use crate::store::StoreError;

/// The `shared` crate's error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The shared store failed or refused a conditional write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An input document is malformed; names the field and what was expected.
    #[error("invalid input: {field}: expected {expected}")]
    InvalidInput {
        /// Dotted path of the offending field (`event.namespace`), or `event` for the whole.
        field: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// An evidence source failed in a way that stops the run (a missing entity).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) | Self::InvalidInput { .. } => ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Source(e) => e.kind(),
            Self::Io { .. } => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Source(e) => e.is_retryable(),
            other => other.kind() == ErrorKind::Dependency,
        }
    }
}

impl Classify for ConfigError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Invalid
    }
}

/// `Result` with the shared error as default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
