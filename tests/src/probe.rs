//! The handler behind the `invoke-probe` test binary.

use serde::{Deserialize, Serialize};
use shared::{Classify, ErrorKind};

/// The probe's event.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Who to greet.
    pub name: String,
    /// `invalid`, `dependency` or `refused` (a dependency failure that a retry cannot
    /// fix) makes the handler fail that way.
    #[serde(default)]
    pub fail: Option<String>,
}

/// The probe's response.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Output {
    /// `hello, <name>`.
    pub greeting: String,
}

/// The probe's failures, one of each kind.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Bad input.
    #[error("name: expected a name that is not {0:?}")]
    Invalid(String),
    /// A dependency failed.
    #[error("the greeting service is down")]
    Down,
    /// A dependency refused for good.
    #[error("the greeting service refused the name")]
    Refused,
}

impl Classify for ProbeError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid(_) => ErrorKind::Invalid,
            Self::Down | Self::Refused => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        matches!(self, Self::Down)
    }
}

/// Greets, or fails as the event asks. Async because `shared::invoke` takes the async
/// handlers real functions have.
#[allow(clippy::unused_async)]
pub async fn handle(input: Input) -> Result<Output, ProbeError> {
    match input.fail.as_deref() {
        Some("invalid") => Err(ProbeError::Invalid(input.name)),
        Some("dependency") => Err(ProbeError::Down),
        Some("refused") => Err(ProbeError::Refused),
        _ => Ok(Output {
            greeting: format!("hello, {}", input.name),
        }),
    }
}
