//! A circuit breaker whose state lives in the store (`breakers/<provider>.json`), so
//! every instance sees the same one.
//!
//! [`transition`] is pure: (state, outcome, now) → state, with times as epoch
//! milliseconds. [`SharedBreaker`] applies it with conditional writes, re-reading on
//! conflict. It writes on failures and transitions only: successes while closed are
//! counted locally and travel with the instance's next failure write, so a healthy
//! provider costs at most one store read per cache period per instance.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::LlmError;
use super::config::BreakerPolicy;
use crate::clock::SharedClock;
use crate::store::{SharedStore, StoreError, Update, update};

/// Conditional-write attempts before a breaker update gives up.
const MAX_UPDATE_ATTEMPTS: u32 = 16;

/// The stored state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum BreakerState {
    /// Calls go through; the window counts them.
    Closed {
        /// Start of the counting window.
        window_start: i64,
        /// Calls counted in the window.
        calls: u32,
        /// Failures counted in the window.
        failures: u32,
        /// Failures since the last success, across windows.
        consecutive_failures: u32,
    },
    /// Calls fail fast until `until`.
    Open {
        /// When it opened.
        opened_at: i64,
        /// When probes may start.
        until: i64,
        /// The failure that opened it.
        reason: String,
    },
    /// Probes are in flight; their outcome closes or reopens it.
    HalfOpen {
        /// When the current probes started.
        since: i64,
        /// How many probes are in flight.
        probes: u32,
    },
}

impl Default for BreakerState {
    fn default() -> Self {
        Self::closed(0)
    }
}

impl BreakerState {
    fn closed(now: i64) -> Self {
        Self::Closed {
            window_start: now,
            calls: 0,
            failures: 0,
            consecutive_failures: 0,
        }
    }

    /// `closed`, `open` or `half_open`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Closed { .. } => "closed",
            Self::Open { .. } => "open",
            Self::HalfOpen { .. } => "half_open",
        }
    }
}

/// What happened, as far as the breaker cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A caller claims a probe slot (open past its time, or half-open with room).
    ProbeStarted,
    /// A call succeeded; `successes` also counts earlier unwritten ones.
    Success {
        /// Whether this call was a probe.
        probe: bool,
        /// Successes counted (at least this one).
        successes: u32,
    },
    /// A call failed (429, 5xx, 529, timeout, unreachable, or slow).
    Failure {
        /// Whether this call was a probe.
        probe: bool,
        /// Unwritten successes this instance saw before this failure.
        successes_before: u32,
        /// What failed, for the record.
        reason: String,
    },
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The transition function. Pure: the same inputs always give the same state.
pub fn transition(
    state: &BreakerState,
    outcome: &Outcome,
    now: i64,
    policy: &BreakerPolicy,
) -> BreakerState {
    match (state, outcome) {
        (
            BreakerState::Closed {
                window_start,
                calls,
                failures,
                consecutive_failures,
            },
            _,
        ) => {
            let (mut calls, mut failures, mut start) = (*calls, *failures, *window_start);
            if now.saturating_sub(start) >= millis(policy.window) {
                (calls, failures, start) = (0, 0, now);
            }
            let mut consecutive = *consecutive_failures;
            match outcome {
                Outcome::ProbeStarted => return state.clone(),
                Outcome::Success { successes, .. } => {
                    calls = calls.saturating_add(*successes);
                    consecutive = 0;
                }
                Outcome::Failure {
                    successes_before,
                    reason,
                    ..
                } => {
                    calls = calls.saturating_add(successes_before.saturating_add(1));
                    failures = failures.saturating_add(1);
                    consecutive = if *successes_before > 0 {
                        1
                    } else {
                        consecutive.saturating_add(1)
                    };
                    let rate_tripped = calls >= policy.min_calls
                        && f64::from(failures) >= policy.failure_rate * f64::from(calls);
                    if consecutive >= policy.consecutive_failures || rate_tripped {
                        return BreakerState::Open {
                            opened_at: now,
                            until: now.saturating_add(millis(policy.open_for)),
                            reason: reason.clone(),
                        };
                    }
                }
            }
            BreakerState::Closed {
                window_start: start,
                calls,
                failures,
                consecutive_failures: consecutive,
            }
        }
        (BreakerState::Open { until, .. }, Outcome::ProbeStarted) if now >= *until => {
            BreakerState::HalfOpen {
                since: now,
                probes: 1,
            }
        }
        (BreakerState::HalfOpen { since, probes }, Outcome::ProbeStarted) => {
            // Probes that never reported (their instance died) free their slots after
            // an open period.
            if now.saturating_sub(*since) >= millis(policy.open_for) {
                BreakerState::HalfOpen {
                    since: now,
                    probes: 1,
                }
            } else if *probes < policy.probes {
                BreakerState::HalfOpen {
                    since: *since,
                    probes: probes + 1,
                }
            } else {
                state.clone()
            }
        }
        (BreakerState::HalfOpen { .. }, Outcome::Success { probe: true, .. }) => {
            BreakerState::closed(now)
        }
        (
            BreakerState::HalfOpen { .. },
            Outcome::Failure {
                probe: true,
                reason,
                ..
            },
        ) => BreakerState::Open {
            opened_at: now,
            until: now.saturating_add(millis(policy.open_for)),
            reason: reason.clone(),
        },
        // Late results of calls admitted before the breaker opened change nothing.
        _ => state.clone(),
    }
}

/// What [`permit`] decided for a new call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Permit {
    /// Closed: go ahead.
    Allow,
    /// A probe slot may be free: claim one with a conditional write.
    TryProbe,
    /// Fail fast.
    Reject {
        /// When probes may start.
        until: i64,
    },
}

/// Whether a new call may go ahead in `state` at `now`. Pure.
pub fn permit(state: &BreakerState, now: i64, policy: &BreakerPolicy) -> Permit {
    match state {
        BreakerState::Closed { .. } => Permit::Allow,
        BreakerState::Open { until, .. } if now < *until => Permit::Reject { until: *until },
        BreakerState::Open { .. } => Permit::TryProbe,
        BreakerState::HalfOpen { since, probes } => {
            let expired = now.saturating_sub(*since) >= millis(policy.open_for);
            if expired || *probes < policy.probes {
                Permit::TryProbe
            } else {
                Permit::Reject {
                    until: since.saturating_add(millis(policy.open_for)),
                }
            }
        }
    }
}

/// A permission to call, returned to [`SharedBreaker::record`] with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    /// Whether the call is a probe.
    pub probe: bool,
    /// When it started (for the slow-call rule).
    pub started_at: i64,
}

/// How a call ended, as far as the breaker cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// The provider answered.
    Success,
    /// 429, 5xx, 529, timeout or unreachable.
    Failure(String),
    /// Our own fault (a 4xx) or an unreadable body: says nothing about the provider's
    /// health, except that a probe got an answer.
    Neutral,
}

impl CallResult {
    /// Classifies a provider call's result.
    pub fn of<T>(result: &Result<T, LlmError>) -> Self {
        match result {
            Ok(_) => Self::Success,
            Err(e) if e.counts_against_provider() => Self::Failure(e.to_string()),
            Err(_) => Self::Neutral,
        }
    }
}

/// The breaker as every instance sees it through the store.
#[derive(Debug)]
pub struct SharedBreaker {
    provider: String,
    key: String,
    store: SharedStore,
    policy: BreakerPolicy,
    clock: SharedClock,
    cache: Mutex<Option<(BreakerState, i64)>>,
    pending_successes: AtomicU32,
}

impl SharedBreaker {
    /// The breaker for `provider`, at `breakers/<provider>.json`.
    pub fn new(
        provider: &str,
        store: SharedStore,
        policy: BreakerPolicy,
        clock: SharedClock,
    ) -> Self {
        Self {
            provider: provider.to_owned(),
            key: format!("breakers/{provider}.json"),
            store,
            policy,
            clock,
            cache: Mutex::new(None),
            pending_successes: AtomicU32::new(0),
        }
    }

    /// The store key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Asks to make a call. Fails fast with [`LlmError::BreakerOpen`] while open. A
    /// store that cannot be read does not stop the call: the breaker protects the
    /// provider and must not become an outage of its own.
    pub async fn acquire(&self) -> Result<Ticket, LlmError> {
        let now = self.clock.now_millis();
        let state = match self.cached_state(now).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(key = %self.key, "breaker state unreadable, calling anyway: {e}");
                return Ok(Ticket {
                    probe: false,
                    started_at: now,
                });
            }
        };
        match permit(&state, now, &self.policy) {
            Permit::Allow => Ok(Ticket {
                probe: false,
                started_at: now,
            }),
            Permit::Reject { until } => Err(self.open_error(until)),
            Permit::TryProbe => self.claim_probe(now).await,
        }
    }

    async fn claim_probe(&self, now: i64) -> Result<Ticket, LlmError> {
        let policy = &self.policy;
        let result = update(&*self.store, &self.key, MAX_UPDATE_ATTEMPTS, |current| {
            let state = parse(current);
            match permit(&state, now, policy) {
                Permit::Allow => Update::Keep((state, Some(false))),
                Permit::Reject { .. } => Update::Keep((state, None)),
                Permit::TryProbe => {
                    let next = transition(&state, &Outcome::ProbeStarted, now, policy);
                    Update::Write(encode(&next), (next, Some(true)))
                }
            }
        })
        .await;
        match result {
            Ok(done) => {
                let (state, granted) = done.value;
                let until = match &state {
                    BreakerState::Open { until, .. } => *until,
                    _ => now.saturating_add(millis(policy.open_for)),
                };
                self.remember(state, now);
                match granted {
                    Some(probe) => {
                        if probe {
                            tracing::info!(provider = %self.provider, "circuit breaker half-open: probing");
                        }
                        Ok(Ticket {
                            probe,
                            started_at: now,
                        })
                    }
                    None => Err(self.open_error(until)),
                }
            }
            Err(e) => Err(self.store_failed(&e, now)),
        }
    }

    /// Reports how a call ended. Slow successes count as failures.
    pub async fn record(&self, ticket: Ticket, result: CallResult) {
        let now = self.clock.now_millis();
        let slow = now.saturating_sub(ticket.started_at) > millis(self.policy.slow_call);
        if result == CallResult::Neutral && !ticket.probe {
            return;
        }
        let outcome = match result {
            CallResult::Success if slow => Some(format!(
                "slow call: {} ms, above the {} ms threshold",
                now.saturating_sub(ticket.started_at),
                millis(self.policy.slow_call)
            )),
            CallResult::Failure(reason) => Some(reason),
            CallResult::Success | CallResult::Neutral => None,
        };
        let outcome = match (outcome, ticket.probe) {
            (None, false) => {
                self.pending_successes.fetch_add(1, Ordering::SeqCst);
                return;
            }
            (None, true) => Outcome::Success {
                probe: true,
                successes: 1,
            },
            (Some(reason), probe) => Outcome::Failure {
                probe,
                successes_before: self.pending_successes.swap(0, Ordering::SeqCst),
                reason,
            },
        };
        let policy = &self.policy;
        let result = update(&*self.store, &self.key, MAX_UPDATE_ATTEMPTS, |current| {
            let state = parse(current);
            let next = transition(&state, &outcome, now, policy);
            let opened = !matches!(state, BreakerState::Open { .. })
                && matches!(next, BreakerState::Open { .. });
            if next == state {
                Update::Keep((next, false))
            } else {
                Update::Write(encode(&next), (next, opened))
            }
        })
        .await;
        match result {
            Ok(done) => {
                let (state, opened) = done.value;
                if let (true, BreakerState::Open { reason, .. }) = (opened, &state) {
                    tracing::warn!(provider = %self.provider, "circuit breaker opened: {reason}");
                }
                self.remember(state, now);
            }
            Err(e) => {
                if let Outcome::Failure {
                    successes_before, ..
                } = outcome
                {
                    self.pending_successes
                        .fetch_add(successes_before, Ordering::SeqCst);
                }
                tracing::warn!(key = %self.key, "breaker state could not be written: {e}");
            }
        }
    }

    /// The current state, read from the store (not the cache).
    pub async fn state(&self) -> Result<BreakerState, StoreError> {
        Ok(parse(
            self.store
                .get(&self.key)
                .await?
                .as_ref()
                .map(|v| v.value.as_ref()),
        ))
    }

    async fn cached_state(&self, now: i64) -> Result<BreakerState, StoreError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((state, read_at)) = cache.as_ref()
            && now.saturating_sub(*read_at) < millis(self.policy.cache_for)
        {
            return Ok(state.clone());
        }
        let state = self.state().await?;
        self.remember(state.clone(), now);
        Ok(state)
    }

    fn remember(&self, state: BreakerState, now: i64) {
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((state, now));
        }
    }

    fn open_error(&self, until: i64) -> LlmError {
        LlmError::BreakerOpen {
            provider: self.provider.clone(),
            until_millis: until,
        }
    }

    fn store_failed(&self, err: &StoreError, now: i64) -> LlmError {
        tracing::warn!(key = %self.key, "breaker probe claim failed: {err}");
        // Without a claim no probe may go: stay closed to the provider for now.
        self.open_error(now.saturating_add(millis(self.policy.cache_for)))
    }
}

fn parse(bytes: Option<&[u8]>) -> BreakerState {
    match bytes {
        None => BreakerState::default(),
        Some(b) => serde_json::from_slice(b).unwrap_or_else(|e| {
            tracing::warn!("unreadable breaker state replaced by a closed breaker: {e}");
            BreakerState::default()
        }),
    }
}

fn encode(state: &BreakerState) -> Bytes {
    // A plain enum of numbers and one string always serialises.
    Bytes::from(serde_json::to_vec(state).unwrap_or_default())
}

#[cfg(test)]
mod tests;
