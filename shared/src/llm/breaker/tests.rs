//! The pure transition function, then the shared breaker on a local store with a
//! manual clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::*;
use crate::clock::ManualClock;
use crate::store::{LocalStore, Store, Version, Versioned};

fn policy() -> BreakerPolicy {
    BreakerPolicy {
        failure_rate: 0.5,
        min_calls: 4,
        consecutive_failures: 3,
        window: Duration::from_mins(1),
        slow_call: Duration::from_secs(10),
        open_for: Duration::from_secs(30),
        probes: 1,
        cache_for: Duration::from_secs(5),
    }
}

fn fail(successes_before: u32) -> Outcome {
    Outcome::Failure {
        probe: false,
        successes_before,
        reason: "HTTP 500".into(),
    }
}

#[test]
fn consecutive_failures_open_it_for_the_configured_time() {
    let p = policy();
    let mut s = BreakerState::default();
    for now in [1_000, 2_000] {
        s = transition(&s, &fail(0), now, &p);
        assert_eq!(s.name(), "closed");
    }
    s = transition(&s, &fail(0), 3_000, &p);
    assert_eq!(
        s,
        BreakerState::Open {
            opened_at: 3_000,
            until: 33_000,
            reason: "HTTP 500".into()
        }
    );
}

#[test]
fn the_failure_rate_counts_only_after_the_minimum_number_of_calls() {
    let p = BreakerPolicy {
        consecutive_failures: 100,
        ..policy()
    };
    // 1 success then 1 failure: 50 % of 2 calls, below the minimum of 4.
    let s = transition(&BreakerState::default(), &fail(1), 1_000, &p);
    assert_eq!(s.name(), "closed");
    // 1 more success then a failure: 2 of 4 calls failed, 50 %: open.
    let s = transition(&s, &fail(1), 2_000, &p);
    assert_eq!(s.name(), "open");
    // 3 successes and a failure: 25 %: stays closed.
    let s = transition(&BreakerState::default(), &fail(3), 1_000, &p);
    assert_eq!(s.name(), "closed");
}

#[test]
fn an_unwritten_success_resets_the_consecutive_count_and_old_windows_expire() {
    let p = BreakerPolicy {
        failure_rate: 0.9,
        ..policy()
    };
    let s = transition(&BreakerState::default(), &fail(0), 0, &p);
    let s = transition(&s, &fail(0), 1_000, &p);
    let s = transition(&s, &fail(1), 2_000, &p);
    let BreakerState::Closed {
        consecutive_failures,
        calls,
        failures,
        ..
    } = s
    else {
        panic!("{s:?}")
    };
    assert_eq!((consecutive_failures, calls, failures), (1, 4, 3));
    let later = transition(&s, &fail(0), 70_000, &p);
    let BreakerState::Closed {
        calls,
        failures,
        window_start,
        ..
    } = later
    else {
        panic!("{later:?}")
    };
    assert_eq!(
        (calls, failures, window_start),
        (1, 1, 70_000),
        "a new window starts"
    );
}

#[test]
fn open_rejects_until_its_time_then_admits_a_limited_number_of_probes() {
    let p = BreakerPolicy {
        probes: 2,
        ..policy()
    };
    let open = BreakerState::Open {
        opened_at: 0,
        until: 30_000,
        reason: "r".into(),
    };
    assert_eq!(permit(&open, 29_999, &p), Permit::Reject { until: 30_000 });
    assert_eq!(
        transition(&open, &Outcome::ProbeStarted, 29_999, &p),
        open,
        "no probe before its time"
    );
    assert_eq!(permit(&open, 30_000, &p), Permit::TryProbe);
    let half = transition(&open, &Outcome::ProbeStarted, 30_000, &p);
    assert_eq!(
        half,
        BreakerState::HalfOpen {
            since: 30_000,
            probes: 1
        }
    );
    let half = transition(&half, &Outcome::ProbeStarted, 30_001, &p);
    assert_eq!(
        half,
        BreakerState::HalfOpen {
            since: 30_000,
            probes: 2
        }
    );
    assert_eq!(permit(&half, 30_002, &p), Permit::Reject { until: 60_000 });
    assert_eq!(
        transition(&half, &Outcome::ProbeStarted, 30_002, &p),
        half,
        "no third probe"
    );
    // Probes that never report free their slots after an open period.
    assert_eq!(
        transition(&half, &Outcome::ProbeStarted, 60_000, &p),
        BreakerState::HalfOpen {
            since: 60_000,
            probes: 1
        }
    );
}

#[test]
fn probe_success_closes_probe_failure_reopens_late_results_change_nothing() {
    let p = policy();
    let half = BreakerState::HalfOpen {
        since: 30_000,
        probes: 1,
    };
    let closed = transition(
        &half,
        &Outcome::Success {
            probe: true,
            successes: 1,
        },
        31_000,
        &p,
    );
    assert_eq!(
        closed,
        BreakerState::Closed {
            window_start: 31_000,
            calls: 0,
            failures: 0,
            consecutive_failures: 0
        }
    );
    let probe_failed = Outcome::Failure {
        probe: true,
        successes_before: 0,
        reason: "timeout".into(),
    };
    let reopened = transition(&half, &probe_failed, 31_000, &p);
    assert_eq!(
        reopened,
        BreakerState::Open {
            opened_at: 31_000,
            until: 61_000,
            reason: "timeout".into()
        }
    );
    assert_eq!(
        transition(&half, &fail(0), 31_000, &p),
        half,
        "a late non-probe failure"
    );
    let open = BreakerState::Open {
        opened_at: 0,
        until: 30_000,
        reason: "r".into(),
    };
    assert_eq!(
        transition(
            &open,
            &Outcome::Success {
                probe: false,
                successes: 1
            },
            1_000,
            &p
        ),
        open
    );
}

#[test]
fn the_state_is_plain_json_with_epoch_milliseconds() {
    let s = BreakerState::Open {
        opened_at: 1_795_651_200_000,
        until: 1_795_651_230_000,
        reason: "HTTP 503".into(),
    };
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"state": "open", "opened_at": 1_795_651_200_000_i64, "until": 1_795_651_230_000_i64, "reason": "HTTP 503"})
    );
    assert_eq!(serde_json::from_value::<BreakerState>(json).unwrap(), s);
}

/// A store that counts reads and writes.
#[derive(Debug)]
struct Counting {
    inner: LocalStore,
    gets: AtomicU32,
    puts: AtomicU32,
}

#[async_trait]
impl Store for Counting {
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn put_if_absent(&self, key: &str, value: Bytes) -> Result<Version, StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_if_absent(key, value).await
    }
    async fn put_if_match(
        &self,
        key: &str,
        value: Bytes,
        version: &Version,
    ) -> Result<Version, StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.inner.put_if_match(key, value, version).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix).await
    }
}

fn setup() -> (tempfile::TempDir, Arc<Counting>, ManualClock) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: LocalStore::open(dir.path()).unwrap(),
        gets: AtomicU32::new(0),
        puts: AtomicU32::new(0),
    });
    (dir, store, ManualClock::at("2026-11-26T10:00:00Z"))
}

#[tokio::test]
async fn a_healthy_provider_costs_one_read_per_cache_period_and_no_writes() {
    let (_dir, store, clock) = setup();
    let breaker = SharedBreaker::new("openai", store.clone(), policy(), Arc::new(clock.clone()));
    for _ in 0..50 {
        let ticket = breaker.acquire().await.unwrap();
        breaker.record(ticket, CallResult::Success).await;
        clock.advance(Duration::from_millis(200));
    }
    // 50 calls over 10 s with a 5 s cache: two reads.
    assert_eq!(store.gets.load(Ordering::SeqCst), 2);
    assert_eq!(store.puts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn failures_are_written_with_the_successes_seen_before_them() {
    let (_dir, store, clock) = setup();
    let breaker = SharedBreaker::new("openai", store.clone(), policy(), Arc::new(clock.clone()));
    for _ in 0..3 {
        let t = breaker.acquire().await.unwrap();
        breaker.record(t, CallResult::Success).await;
    }
    let t = breaker.acquire().await.unwrap();
    breaker
        .record(t, CallResult::Failure("HTTP 500".into()))
        .await;
    let BreakerState::Closed {
        calls,
        failures,
        consecutive_failures,
        ..
    } = breaker.state().await.unwrap()
    else {
        panic!()
    };
    assert_eq!((calls, failures, consecutive_failures), (4, 1, 1));
    assert_eq!(breaker.key(), "breakers/openai.json");
}

#[tokio::test]
async fn slow_successes_count_as_failures_and_request_errors_do_not_count() {
    let (_dir, store, clock) = setup();
    let breaker = SharedBreaker::new("openai", store.clone(), policy(), Arc::new(clock.clone()));
    for _ in 0..5 {
        let t = breaker.acquire().await.unwrap();
        breaker.record(t, CallResult::Neutral).await;
    }
    assert_eq!(
        store.puts.load(Ordering::SeqCst),
        0,
        "4xx answers say nothing about the provider"
    );
    for _ in 0..3 {
        let t = breaker.acquire().await.unwrap();
        clock.advance(Duration::from_secs(11));
        breaker.record(t, CallResult::Success).await;
    }
    let state = breaker.state().await.unwrap();
    let BreakerState::Open { reason, .. } = state else {
        panic!("{state:?}")
    };
    assert!(reason.starts_with("slow call: 11000 ms"), "{reason}");
    assert!(matches!(
        breaker.acquire().await,
        Err(LlmError::BreakerOpen { .. })
    ));
}

#[tokio::test]
async fn open_fails_fast_from_the_cache_then_one_probe_closes_it() {
    let (_dir, store, clock) = setup();
    let p = policy();
    let breaker = SharedBreaker::new(
        "anthropic",
        store.clone(),
        p.clone(),
        Arc::new(clock.clone()),
    );
    let other = SharedBreaker::new("anthropic", store.clone(), p, Arc::new(clock.clone()));
    for _ in 0..3 {
        let t = breaker.acquire().await.unwrap();
        breaker
            .record(t, CallResult::Failure("HTTP 529".into()))
            .await;
    }
    let reads = store.gets.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert!(matches!(
            breaker.acquire().await,
            Err(LlmError::BreakerOpen { .. })
        ));
    }
    assert_eq!(
        store.gets.load(Ordering::SeqCst),
        reads,
        "open is answered from the cache"
    );
    assert!(
        matches!(other.acquire().await, Err(LlmError::BreakerOpen { .. })),
        "another instance sees it"
    );

    clock.advance(Duration::from_secs(30));
    let probe = breaker.acquire().await.unwrap();
    assert!(probe.probe);
    assert!(
        matches!(other.acquire().await, Err(LlmError::BreakerOpen { .. })),
        "only one probe at a time"
    );
    breaker.record(probe, CallResult::Success).await;
    assert_eq!(breaker.state().await.unwrap().name(), "closed");
    clock.advance(Duration::from_secs(5));
    assert!(
        !other.acquire().await.unwrap().probe,
        "closed again for the other instance after its cache period"
    );
}
