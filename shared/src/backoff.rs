//! Exponential backoff with full jitter, one implementation for every retry in the
//! project (store conflicts, the chain's step retries, LLM calls). The randomness and
//! the sleeping are injected, so tests are deterministic and never sleep.

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

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
        fastrand::f64()
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

    /// The wait after failed attempt `attempt` with fresh random jitter.
    pub fn random_delay(&self, attempt: u32) -> Duration {
        self.delay(attempt, fastrand::f64())
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
        for attempt in 0..8 {
            assert!(b.random_delay(attempt) <= Duration::from_secs(4));
        }
    }

    #[test]
    fn random_jitter_stays_in_range() {
        for _ in 0..1000 {
            let f = RandomJitter.fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
