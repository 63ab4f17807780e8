//! Whether and how long to wait before another LLM attempt: the shared
//! [`Backoff`](crate::backoff::Backoff), with the provider's own `Retry-After` first.

use std::time::Duration;

use super::LlmError;
pub use crate::backoff::{
    Backoff, ClockSleeper, FixedJitter, Jitter, RandomJitter, Sleeper, TokioSleeper,
};

/// LLM-specific use of the shared backoff.
pub trait LlmBackoff {
    /// How long to wait before retrying after `err`, or `None` when a retry cannot
    /// help. A provider's own `Retry-After` wins over the backoff.
    fn wait_after(&self, err: &LlmError, attempt: u32, jitter: &dyn Jitter) -> Option<Duration>;
}

impl LlmBackoff for Backoff {
    fn wait_after(&self, err: &LlmError, attempt: u32, jitter: &dyn Jitter) -> Option<Duration> {
        if !err.retryable() {
            return None;
        }
        Some(
            err.retry_after()
                .unwrap_or_else(|| self.delay(attempt, jitter.fraction())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_wins_and_quota_or_request_errors_are_never_retried() {
        let b = Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(8),
        };
        let j = FixedJitter(0.5);
        let limited = LlmError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(b.wait_after(&limited, 0, &j), Some(Duration::from_secs(7)));
        let server = LlmError::Server {
            status: 503,
            message: String::new(),
            retry_after: None,
        };
        assert_eq!(b.wait_after(&server, 1, &j), Some(Duration::from_secs(1)));
        assert_eq!(
            b.wait_after(
                &LlmError::QuotaExhausted {
                    message: String::new()
                },
                0,
                &j
            ),
            None
        );
        assert_eq!(
            b.wait_after(
                &LlmError::Request {
                    status: 400,
                    message: String::new()
                },
                0,
                &j
            ),
            None
        );
    }
}
