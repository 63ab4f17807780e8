//! Requests and tokens per minute for this instance (GCRA via `governor`, on the
//! injected clock), plus the provider's own "wait until" from its rate-limit headers.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use super::RateHint;
use crate::clock::SharedClock;

/// `governor`'s clock, reading ours, so tests drive the limiter with a manual clock.
#[derive(Debug, Clone)]
struct GovClock(SharedClock);

impl governor::clock::Clock for GovClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.0.now_millis()).unwrap_or(0))
    }
}

type Direct = RateLimiter<NotKeyed, InMemoryState, GovClock, NoOpMiddleware<Duration>>;

/// The per-instance limiter.
#[derive(Debug)]
pub struct Limiter {
    requests: Direct,
    tokens: Direct,
    token_capacity: NonZeroU32,
    blocked_until: AtomicI64,
    clock: GovClock,
}

impl Limiter {
    /// At most `requests_per_minute` requests and `tokens_per_minute` tokens.
    pub fn new(requests_per_minute: u32, tokens_per_minute: u32, clock: SharedClock) -> Self {
        let rpm = NonZeroU32::new(requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let tpm = NonZeroU32::new(tokens_per_minute).unwrap_or(NonZeroU32::MIN);
        let clock = GovClock(clock);
        Self {
            requests: RateLimiter::direct_with_clock(Quota::per_minute(rpm), clock.clone()),
            tokens: RateLimiter::direct_with_clock(Quota::per_minute(tpm), clock.clone()),
            token_capacity: tpm,
            blocked_until: AtomicI64::new(i64::MIN),
            clock,
        }
    }

    /// Takes one request and `tokens` tokens, or says how long to wait first.
    pub fn try_acquire(&self, tokens: u32) -> Result<(), Duration> {
        let now = self.clock.0.now_millis();
        let blocked = self.blocked_until.load(Ordering::SeqCst);
        if blocked > now {
            return Err(Duration::from_millis(
                u64::try_from(blocked - now).unwrap_or(0),
            ));
        }
        let now = self.clock.now();
        // A request larger than a whole minute's allowance waits for a full bucket.
        let n = NonZeroU32::new(tokens.min(self.token_capacity.get())).unwrap_or(NonZeroU32::MIN);
        // Tokens first: a refused request must not use up a request slot.
        match self.tokens.check_n(n) {
            Ok(Ok(())) => {}
            Ok(Err(not_until)) => return Err(not_until.wait_time_from(now)),
            Err(_) => return Err(Duration::from_mins(1)),
        }
        self.requests
            .check()
            .map_err(|not_until| not_until.wait_time_from(now))
    }

    /// Remembers a provider's request to wait.
    pub fn note(&self, hint: RateHint) {
        if let Some(wait) = hint.wait {
            let until = self
                .clock
                .0
                .now_millis()
                .saturating_add(i64::try_from(wait.as_millis()).unwrap_or(i64::MAX));
            self.blocked_until.fetch_max(until, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::sync::Arc;

    #[test]
    fn requests_per_minute_are_enforced_and_say_when_to_come_back() {
        let clock = ManualClock::at("2026-11-26T10:00:00Z");
        let limiter = Limiter::new(2, 1_000_000, Arc::new(clock.clone()));
        assert!(limiter.try_acquire(10).is_ok());
        assert!(limiter.try_acquire(10).is_ok());
        let wait = limiter.try_acquire(10).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        clock.advance(wait);
        assert!(limiter.try_acquire(10).is_ok());
    }

    #[test]
    fn tokens_per_minute_are_enforced() {
        let clock = ManualClock::at("2026-11-26T10:00:00Z");
        let limiter = Limiter::new(100, 12_000, Arc::new(clock.clone()));
        assert!(limiter.try_acquire(10_000).is_ok());
        let wait = limiter.try_acquire(6_000).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20), "4000 tokens refill in 20 s");
        clock.advance(wait);
        assert!(limiter.try_acquire(6_000).is_ok());
    }

    #[test]
    fn a_provider_wait_blocks_until_it_passes() {
        let clock = ManualClock::at("2026-11-26T10:00:00Z");
        let limiter = Limiter::new(100, 100_000, Arc::new(clock.clone()));
        limiter.note(RateHint {
            wait: Some(Duration::from_secs(7)),
        });
        assert_eq!(limiter.try_acquire(1).unwrap_err(), Duration::from_secs(7));
        clock.advance(Duration::from_secs(7));
        assert!(limiter.try_acquire(1).is_ok());
    }
}
