//! The bounded buffer between `record` and a remote sink, and the task that drains it.
//!
//! Every line ends in exactly one counter: delivered, fallen back, dropped or lost.
//! A batch being sent is held as `in_flight` so that whoever settles it (the worker
//! after the sink answered, or `flush` when its bound passed) takes it out under the
//! lock first; the other side then finds it gone and counts nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::AuditError;
use super::retry::RetryPolicy;
use super::sink::{AuditSink, StdoutSink};
use crate::error::Classify;

/// Where each recorded line ended up.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) recorded: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) fallen_back: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) lost: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Writes `lines` to `fallback` and counts them on `counter`, or as lost if even
    /// that fails: the one place a record can disappear, so it is logged loudly.
    pub(crate) fn fall_back(&self, fallback: &StdoutSink, lines: &[String], counter: &AtomicU64) {
        match fallback.write_lines(lines) {
            Ok(()) => Self::add(counter, lines.len()),
            Err(error) => {
                Self::add(&self.lost, lines.len());
                tracing::error!(%error, records = lines.len(), "audit records lost: fallback write failed");
            }
        }
    }
}

/// What the queue needs to know besides the sink.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) batch_size: usize,
    pub(crate) capacity: usize,
    pub(crate) flush_timeout: Duration,
    pub(crate) retry: RetryPolicy,
}

#[derive(Debug)]
struct InFlight {
    id: u64,
    lines: Arc<[String]>,
}

#[derive(Debug, Default)]
struct State {
    pending: VecDeque<String>,
    in_flight: Option<InFlight>,
    next_id: u64,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// New lines, a flush, or the last logger gone.
    wake: Notify,
    /// A batch was settled; flushers re-check.
    settled: Notify,
    /// The highest batch id `flush` has taken over; the worker stops retrying it.
    abandoned: watch::Sender<u64>,
    sink: Arc<dyn AuditSink>,
    fallback: StdoutSink,
    counters: Arc<Counters>,
    limits: Limits,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The logger's handle on the queue; dropping the last one lets the worker finish.
#[derive(Debug)]
pub(crate) struct Queue {
    shared: Arc<Shared>,
}

impl Queue {
    /// Starts the worker on the current Tokio runtime.
    pub(crate) fn start(
        sink: Arc<dyn AuditSink>,
        fallback: StdoutSink,
        counters: Arc<Counters>,
        limits: Limits,
    ) -> Result<Self, AuditError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AuditError::NoRuntime)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            settled: Notify::new(),
            abandoned: watch::Sender::new(0),
            sink,
            fallback,
            counters,
            limits: Limits {
                batch_size: limits.batch_size.max(1),
                ..limits
            },
        });
        runtime.spawn(work(Arc::clone(&shared)));
        Ok(Self { shared })
    }

    /// Enqueues without waiting. A full buffer sends the line to the fallback at once,
    /// counted as dropped, rather than making the caller wait.
    pub(crate) fn push(&self, line: String) {
        let refused = {
            let mut state = self.shared.lock();
            if state.pending.len() >= self.shared.limits.capacity {
                Some(line)
            } else {
                state.pending.push_back(line);
                None
            }
        };
        match refused {
            None => self.shared.wake.notify_one(),
            Some(line) => {
                tracing::warn!(
                    capacity = self.shared.limits.capacity,
                    "audit buffer full; record written to the fallback"
                );
                let counters = &self.shared.counters;
                counters.fall_back(&self.shared.fallback, &[line], &counters.dropped);
            }
        }
    }

    /// Lines not settled yet.
    pub(crate) fn pending(&self) -> usize {
        let state = self.shared.lock();
        state.pending.len() + state.in_flight.as_ref().map_or(0, |f| f.lines.len())
    }

    /// Waits until everything recorded so far is settled, at most the flush bound;
    /// then writes whatever is left to the fallback.
    pub(crate) async fn flush(&self) {
        let shared = &self.shared;
        let deadline = Instant::now() + shared.limits.flush_timeout;
        loop {
            // Registered before the check, so a batch settling in between still wakes us.
            let settled = shared.settled.notified();
            tokio::pin!(settled);
            settled.as_mut().enable();
            {
                let state = shared.lock();
                if state.pending.is_empty() && state.in_flight.is_none() {
                    return;
                }
            }
            shared.wake.notify_one();
            if tokio::time::timeout_at(deadline, settled).await.is_err() {
                break;
            }
        }
        let lines: Vec<String> = {
            let mut state = shared.lock();
            let mut lines = Vec::with_capacity(state.pending.len() + shared.limits.batch_size);
            if let Some(in_flight) = state.in_flight.take() {
                shared.abandoned.send_replace(in_flight.id);
                lines.extend(in_flight.lines.iter().cloned());
            }
            lines.extend(state.pending.drain(..));
            lines
        };
        if !lines.is_empty() {
            tracing::warn!(
                records = lines.len(),
                "audit flush bound reached; undelivered records written to the fallback"
            );
            let counters = &shared.counters;
            counters.fall_back(&shared.fallback, &lines, &counters.fallen_back);
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

async fn work(shared: Arc<Shared>) {
    let mut abandoned = shared.abandoned.subscribe();
    loop {
        let next = {
            let mut state = shared.lock();
            if state.pending.is_empty() {
                if state.closed {
                    return;
                }
                None
            } else {
                let take = state.pending.len().min(shared.limits.batch_size);
                let lines: Arc<[String]> = state.pending.drain(..take).collect();
                state.next_id += 1;
                let id = state.next_id;
                state.in_flight = Some(InFlight {
                    id,
                    lines: Arc::clone(&lines),
                });
                Some((id, lines))
            }
        };
        let Some((id, lines)) = next else {
            shared.wake.notified().await;
            continue;
        };
        let outcome = tokio::select! {
            result = deliver(shared.sink.as_ref(), &lines, shared.limits.retry) => Some(result),
            _ = abandoned.wait_for(|taken| *taken >= id) => None,
        };
        if let Some(result) = outcome {
            settle(&shared, id, result);
        }
        shared.settled.notify_waiters();
    }
}

/// Counts a batch the worker finished, unless `flush` took it over meanwhile. The
/// fallback write happens under the lock on purpose: a flusher that then sees an
/// empty queue knows the records are already on stdout.
fn settle(shared: &Shared, id: u64, result: Result<(), AuditError>) {
    let mut state = shared.lock();
    let Some(batch) = state.in_flight.take_if(|f| f.id == id) else {
        return;
    };
    let counters = &shared.counters;
    match result {
        Ok(()) => Counters::add(&counters.delivered, batch.lines.len()),
        Err(error) => {
            tracing::warn!(%error, records = batch.lines.len(), "audit sink gave up; records written to the fallback");
            counters.fall_back(&shared.fallback, &batch.lines, &counters.fallen_back);
        }
    }
}

async fn deliver(
    sink: &dyn AuditSink,
    lines: &[String],
    retry: RetryPolicy,
) -> Result<(), AuditError> {
    let mut failed = 0;
    loop {
        let error = match sink.send(lines).await {
            Ok(()) => return Ok(()),
            Err(error) => error,
        };
        failed += 1;
        let wait = if error.is_retryable() {
            retry.delay(failed, error.retry_after())
        } else {
            None
        };
        let Some(wait) = wait else {
            return Err(error);
        };
        tracing::debug!(%error, attempt = failed, ?wait, "audit batch not taken; retrying");
        tokio::time::sleep(wait).await;
    }
}
