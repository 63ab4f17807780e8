//! Whether and how long to wait before another attempt. The randomness of the jitter
//! and the sleeping itself are injected, so tests are deterministic and never sleep.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::LlmError;
use crate::clock::ManualClock;

/// A source of jitter: a number in `[0, 1)`.
pub trait Jitter: Send + Sync + fmt::Debug {
    /// The next fraction.
    fn fraction(&self) -> f64;
}

/// Random jitter from the operating system's generator.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomJitter;

impl Jitter for RandomJitter {
    fn fraction(&self) -> f64 {
        // 53 random bits make every f64 in [0, 1) reachable with equal spacing.
        let bits = uuid::Uuid::new_v4().as_u64_pair().0 >> 11;
        #[allow(clippy::cast_precision_loss)]
        let f = bits as f64 / (1u64 << 53) as f64;
        f
    }
}

/// The same fraction every time, for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn fraction(&self) -> f64 {
        self.0.clamp(0.0, 1.0)
    }
}

/// Exponential backoff with full jitter: attempt `n` waits a uniform share of
/// `min(max, base · 2ⁿ)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first step.
    pub base: Duration,
    /// The largest step.
    pub max: Duration,
}

impl Backoff {
    /// The wait after failed attempt `attempt` (0 for the first), for a jitter `fraction`.
    pub fn delay(&self, attempt: u32, fraction: f64) -> Duration {
        let step = self
            .base
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        step.mul_f64(fraction.clamp(0.0, 1.0))
    }

    /// How long to wait before retrying after `err`, or `None` when a retry cannot
    /// help. A provider's own `Retry-After` wins over the backoff.
    pub fn wait_after(
        &self,
        err: &LlmError,
        attempt: u32,
        jitter: &dyn Jitter,
    ) -> Option<Duration> {
        if !err.retryable() {
            return None;
        }
        Some(
            err.retry_after()
                .unwrap_or_else(|| self.delay(attempt, jitter.fraction())),
        )
    }
}

/// Waiting, as a port.
#[async_trait]
pub trait Sleeper: Send + Sync + fmt::Debug {
    /// Waits `duration`.
    async fn sleep(&self, duration: Duration);
}

/// Real waiting on the Tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Waiting that moves a manual clock instead and remembers each wait: tests see the
/// exact waits and never sleep.
#[derive(Debug)]
pub struct ClockSleeper {
    clock: ManualClock,
    slept: Mutex<Vec<Duration>>,
}

impl ClockSleeper {
    /// Advances `clock` on every sleep.
    pub fn new(clock: ManualClock) -> Self {
        Self {
            clock,
            slept: Mutex::new(Vec::new()),
        }
    }

    /// The waits so far.
    pub fn slept(&self) -> Vec<Duration> {
        self.slept.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Sleeper for ClockSleeper {
    async fn sleep(&self, duration: Duration) {
        if let Ok(mut slept) = self.slept.lock() {
            slept.push(duration);
        }
        self.clock.advance(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_doubles_up_to_the_cap() {
        let b = Backoff {
            base: Duration::from_millis(500),
            max: Duration::from_secs(4),
        };
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(500));
        assert_eq!(b.delay(2, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay(5, 1.0), Duration::from_secs(4));
        assert_eq!(b.delay(3, 0.25), Duration::from_secs(1));
        assert_eq!(b.delay(3, 0.0), Duration::ZERO);
        assert_eq!(b.delay(u32::MAX, 1.0), Duration::from_secs(4));
    }

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

    #[test]
    fn random_jitter_stays_in_range() {
        for _ in 0..1000 {
            let f = RandomJitter.fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
