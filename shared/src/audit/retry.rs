//! How long to wait before sending a batch again.
//!
//! Whether to retry at all comes from the error ([`Classify::is_retryable`] on
//! [`AuditError`]); this policy only says how, as tower's `retry::Policy` separates the
//! two.
//!
//! [`Classify::is_retryable`]: crate::error::Classify::is_retryable
//! [`AuditError`]: super::AuditError

use std::time::Duration;

/// Exponential backoff with a cap, honouring a server's `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. Default 4.
    pub max_attempts: u32,
    /// The wait after the first failure; doubled after each further one. Default 100 ms.
    pub base_delay: Duration,
    /// The longest wait between attempts. A `Retry-After` longer than this gives up
    /// (the batch goes to the fallback) instead of retrying before the server asked.
    /// Default 10 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before the next attempt after `failed` attempts failed, or `None` to
    /// give up. `retry_after` is the server's own hint and wins over the backoff.
    pub fn delay(&self, failed: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if failed == 0 || failed >= self.max_attempts {
            return None;
        }
        match retry_after {
            Some(hint) if hint > self.max_delay => None,
            Some(hint) => Some(hint),
            None => {
                let factor = 2u32.saturating_pow(failed - 1);
                Some(self.base_delay.saturating_mul(factor).min(self.max_delay))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_after_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 6,
            base_delay: 100 * MS,
            max_delay: 500 * MS,
        };
        let waits: Vec<_> = (1..=6).map(|n| policy.delay(n, None)).collect();
        assert_eq!(
            waits,
            [
                Some(100 * MS),
                Some(200 * MS),
                Some(400 * MS),
                Some(500 * MS),
                Some(500 * MS),
                None
            ]
        );
    }

    #[test]
    fn retry_after_wins_over_backoff_and_an_excessive_one_gives_up() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1, Some(3000 * MS)), Some(3000 * MS));
        assert_eq!(policy.delay(1, Some(Duration::from_hours(1))), None);
        assert_eq!(policy.delay(4, Some(MS)), None);
    }
}
