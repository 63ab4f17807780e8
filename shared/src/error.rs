//! Error conventions shared by every crate.
//!
//! Each crate has one `thiserror` enum; each variant says whether a retry can help and
//! which exit code / Lambda error type it maps to. The chain retries only what is
//! retryable; the CLI exits 2 for bad input or configuration and 1 for a dependency that
//! kept failing.

use crate::config::ConfigError;
use crate::sources::SourceError;
use crate::store::StoreError;

/// What kind of failure an error is, as far as callers and exit codes care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The input or configuration is wrong: retrying the same thing cannot help. Exit 2.
    Invalid,
    /// A dependency failed (after the retries that were allowed). Exit 1.
    Dependency,
}

impl ErrorKind {
    /// The process exit code from `../docs/contract.md`.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Invalid => 2,
            Self::Dependency => 1,
        }
    }

    /// The Lambda error type reported to the runtime, which Step Functions `Retry`
    /// rules match: only [`RETRYABLE_ERROR_TYPE`] is worth another attempt.
    pub fn lambda_error_type(self, retryable: bool) -> &'static str {
        match (self, retryable) {
            (Self::Dependency, true) => RETRYABLE_ERROR_TYPE,
            (Self::Dependency, false) => "NonRetryable.DependencyFailed",
            (Self::Invalid, _) => "NonRetryable.InvalidInput",
        }
    }
}

/// The Lambda error type of a failure that a later attempt may get past.
pub const RETRYABLE_ERROR_TYPE: &str = "Retryable.DependencyFailed";

/// Every Lambda error type a handler reports, for state-machine checks.
pub const LAMBDA_ERROR_TYPES: [&str; 3] = [
    RETRYABLE_ERROR_TYPE,
    "NonRetryable.DependencyFailed",
    "NonRetryable.InvalidInput",
];

/// Implemented by every crate's error enum.
pub trait Classify: std::error::Error {
    /// Invalid input/configuration, or a failed dependency.
    fn kind(&self) -> ErrorKind;

    /// Whether the same call may succeed if tried again later. Invalid input never is.
    fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Dependency
    }

    /// The Lambda error type this error reports (see [`ErrorKind::lambda_error_type`]).
    fn lambda_error_type(&self) -> &'static str {
        let kind = self.kind();
        kind.lambda_error_type(kind == ErrorKind::Dependency && self.is_retryable())
    }
}

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

/// An error and its causes on one line: each cause is appended unless the message
/// already says it.
pub fn one_line(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

/// `Result` with the shared error as default.
pub type Result<T, E = Error> = std::result::Result<T, E>;
