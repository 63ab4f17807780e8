//! Audit logging: one redacted JSON line per security-relevant event.
//!
//! Code describes an event with [`AuditEvent`] and hands it to an [`AuditLogger`],
//! which stamps it with the [`Clock`](crate::clock::Clock)'s time, an id and the stream
//! fields, runs the shared redactor over the whole record, and delivers it:
//!
//! - to stdout as JSON lines by default (Lambda ships them to CloudWatch);
//! - to VictoriaLogs (`POST /insert/jsonline`) when `AIOPS_VICTORIALOGS_URL` is set:
//!   `record` only enqueues into a bounded buffer, a background task sends batches and
//!   retries 429/5xx, and [`AuditLogger::flush`] waits at most a configured bound before
//!   writing whatever is still undelivered to stdout. No record disappears without
//!   being counted in [`AuditStats`].
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use shared::audit::*;
//! # async fn demo(audit: AuditLogger) {
//! audit.record(AuditEvent::new("namespace-access").severity(Severity::High)
//!     .actor("user:default/mallory").namespace("checkout-prod")
//!     .decision(Decision::Deny).reason("not_owner"));
//! audit.flush().await;
//! # }
//! ```

mod config;
mod logger;
mod queue;
mod record;
mod retry;
mod sink;
mod victorialogs;

use std::time::Duration;

pub use config::{
    AuditConfig, Console, DEFAULT_BATCH_SIZE, DEFAULT_BUFFER, DEFAULT_ENV, DEFAULT_FLUSH_TIMEOUT,
    DEFAULT_FUNCTION, DEFAULT_REQUEST_TIMEOUT, DEFAULT_SERVICE, VictoriaLogsConfig,
};
pub use logger::{AuditLogger, AuditStats};
pub use record::{
    Actor, AuditEvent, AuditRecord, Decision, PLUGIN, Resource, Severity, Status, StreamFields,
};
pub use retry::RetryPolicy;
pub use sink::{AuditSink, MemoryWriter, StdoutSink};
pub use victorialogs::{CONTENT_TYPE_JSONLINE, STREAM_FIELDS, VictoriaLogsSink};

use crate::error::{Classify, ErrorKind};

/// Why an audit batch or record could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The sink answered 429 or 5xx: a later attempt may succeed.
    #[error("audit sink unavailable: HTTP {status}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// The server's `Retry-After`, in seconds, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The sink refused the batch (another 4xx): sending the same bytes again cannot help.
    #[error("audit sink refused the batch: HTTP {status}: {detail}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        detail: String,
    },
    /// The request did not complete (connection refused, timeout, reset).
    #[error("audit sink unreachable")]
    Transport(#[source] reqwest::Error),
    /// The HTTP client could not be built.
    #[error("cannot build the audit HTTP client")]
    Client(#[source] reqwest::Error),
    /// Writing JSON lines to stdout (or the injected writer) failed.
    #[error("cannot write audit records")]
    Write(#[source] std::io::Error),
    /// A record could not be turned into JSON.
    #[error("cannot serialize an audit record")]
    Serialize(#[source] serde_json::Error),
    /// A queued sink was built outside a Tokio runtime, so it has nowhere to send from.
    #[error("the audit sink needs a Tokio runtime; build the logger inside one")]
    NoRuntime,
}

impl AuditError {
    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Classify for AuditError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Serialize(_) | Self::NoRuntime => ErrorKind::Invalid,
            Self::Unavailable { .. }
            | Self::Rejected { .. }
            | Self::Transport(_)
            | Self::Client(_)
            | Self::Write(_) => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Transport(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_and_unreachable_sinks_are_worth_retrying() {
        let unavailable = AuditError::Unavailable {
            status: 429,
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(unavailable.is_retryable());
        assert_eq!(unavailable.retry_after(), Some(Duration::from_secs(2)));
        let rejected = AuditError::Rejected {
            status: 400,
            detail: "cannot parse".into(),
        };
        assert!(!rejected.is_retryable());
        assert_eq!(rejected.kind(), ErrorKind::Dependency);
        assert_eq!(AuditError::NoRuntime.kind(), ErrorKind::Invalid);
    }
}
