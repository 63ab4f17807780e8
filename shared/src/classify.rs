//! What every error of the project says about itself: invalid input or a failed
//! dependency, whether a retry can help, and the Lambda error type that follows. A leaf
//! module: it depends on nothing else in the crate, so every module can use it.

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

/// The typed cause of an error that must stay `Clone` and comparable (the source errors
/// travel in collection results and tests compare them): the original error, shared.
/// Two causes are equal when they say the same thing.
#[derive(Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl Cause {
    /// Wraps an error.
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(err))
    }

    /// The original error, to downcast (`cause.get().downcast_ref::<reqwest::Error>()`).
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Cause {}

#[cfg(test)]
mod cause_tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_cause_keeps_the_typed_error_and_its_chain() {
        let cause = Cause::new(Outer(std::io::Error::other("disk on fire")));
        assert!(cause.get().downcast_ref::<Outer>().is_some());
        assert_eq!(one_line(&cause), "outer: disk on fire");
        assert_eq!(cause.clone(), cause);
        assert_ne!(cause, Cause::new(std::io::Error::other("other")));
    }
}
