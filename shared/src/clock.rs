//! Time as a port, so logic that depends on it (breakers, caches, windows) is tested
//! with a manual clock and never with real sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, TimeZone, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Milliseconds since the Unix epoch. Stored state uses this, since an `Instant`
    /// cannot be persisted or shared between processes.
    fn now_millis(&self) -> i64;

    /// The current time as a UTC timestamp.
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.now_millis())
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        Utc::now().timestamp_millis()
    }
}

/// A clock that moves only when told to. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `start_millis` since the epoch.
    pub fn at_millis(start_millis: i64) -> Self {
        Self(Arc::new(AtomicI64::new(start_millis)))
    }

    /// A clock standing at an RFC 3339 time. Panics on a malformed literal (test input).
    pub fn at(rfc3339: &str) -> Self {
        let t = DateTime::parse_from_rfc3339(rfc3339).expect("a valid RFC 3339 time");
        Self::at_millis(t.timestamp_millis())
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: std::time::Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(millis, Ordering::SeqCst);
    }

    /// Sets the clock to an absolute time.
    pub fn set_millis(&self, millis: i64) {
        self.0.store(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A shared clock handle, as carried in a context.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let clock = ManualClock::at("2026-11-26T10:00:00Z");
        let other = clock.clone();
        assert_eq!(clock.now().to_rfc3339(), "2026-11-26T10:00:00+00:00");
        clock.advance(Duration::from_secs(90));
        assert_eq!(other.now().to_rfc3339(), "2026-11-26T10:01:30+00:00");
        assert_eq!(other.now_millis() - 1_795_651_200_000 - 36_000_000, 90_000);
    }

    #[test]
    fn system_clock_is_close_to_now() {
        let diff = (SystemClock.now_millis() - Utc::now().timestamp_millis()).abs();
        assert!(diff < 5_000);
    }
}
