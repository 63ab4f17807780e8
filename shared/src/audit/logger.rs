//! `AuditLogger`: the one-line API the rest of the code records events with.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::Serialize;
use uuid::Uuid;

use super::AuditError;
use super::config::{AuditConfig, Console};
use super::queue::{Counters, Limits, Queue};
use super::record::{AuditEvent, AuditRecord, StreamFields};
use super::sink::{AuditSink, StdoutSink};
use super::victorialogs::VictoriaLogsSink;
use crate::clock::Clock;
use crate::redact::Redactor;

/// Where each record ended up, since the logger was built. Once [`AuditLogger::flush`]
/// has returned (and nothing is recording concurrently),
/// `recorded == delivered + fallen_back + dropped + lost + pending`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AuditStats {
    /// Records passed to [`AuditLogger::record`].
    pub recorded: u64,
    /// Taken by the sink (for stdout: written).
    pub delivered: u64,
    /// Written to the stdout fallback because the sink failed or the flush bound passed.
    pub fallen_back: u64,
    /// Refused by the full buffer and written straight to the fallback instead: on
    /// stdout, but never in VictoriaLogs.
    pub dropped: u64,
    /// Written nowhere: even the fallback failed (logged as an error each time).
    pub lost: u64,
    /// Waiting in the buffer or being sent.
    pub pending: u64,
}

/// Records audit events. Clones are cheap and share the buffer and counts.
#[derive(Clone)]
pub struct AuditLogger {
    inner: Arc<Inner>,
}

struct Inner {
    redactor: Arc<Redactor>,
    clock: Arc<dyn Clock>,
    stream: StreamFields,
    counters: Arc<Counters>,
    delivery: Delivery,
}

enum Delivery {
    /// Stdout is written on the spot: no task to wait for, nothing lost at exit.
    Direct(StdoutSink),
    /// A remote sink is fed by a background task through a bounded buffer.
    Queued(Queue),
}

impl AuditLogger {
    /// The logger `config` asks for: VictoriaLogs (with the console stream as
    /// fallback) when a URL is set, the console stream (`config.console`) otherwise. A VictoriaLogs logger must be built inside a Tokio
    /// runtime, where its sending task runs.
    pub fn new(
        config: &AuditConfig,
        redactor: Arc<Redactor>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuditError> {
        let console = match config.console {
            Console::Stdout => StdoutSink::stdout(),
            Console::Stderr => StdoutSink::stderr(),
        };
        match &config.victorialogs {
            None => Ok(Self::direct(
                config.stream.clone(),
                console,
                redactor,
                clock,
            )),
            Some(vl) => {
                let sink = Arc::new(VictoriaLogsSink::new(vl)?);
                Self::with_sink(config, sink, console, redactor, clock)
            }
        }
    }

    /// JSON lines on stdout, written as they are recorded: the default.
    pub fn stdout(stream: StreamFields, redactor: Arc<Redactor>, clock: Arc<dyn Clock>) -> Self {
        Self::direct(stream, StdoutSink::stdout(), redactor, clock)
    }

    /// JSON lines to `out` (stderr for the CLI, whose stdout carries results; a buffer
    /// in tests), written as they are recorded.
    pub fn direct(
        stream: StreamFields,
        out: StdoutSink,
        redactor: Arc<Redactor>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::from_parts(
            stream,
            Delivery::Direct(out),
            Arc::default(),
            redactor,
            clock,
        )
    }

    /// Any sink behind the bounded buffer, with `fallback` for what it cannot take.
    /// Needs a Tokio runtime.
    pub fn with_sink(
        config: &AuditConfig,
        sink: Arc<dyn AuditSink>,
        fallback: StdoutSink,
        redactor: Arc<Redactor>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AuditError> {
        let counters = Arc::new(Counters::default());
        let limits = Limits {
            batch_size: config.batch_size,
            capacity: config.buffer,
            flush_timeout: config.flush_timeout,
            retry: config.retry,
        };
        let queue = Queue::start(sink, fallback, Arc::clone(&counters), limits)?;
        Ok(Self::from_parts(
            config.stream.clone(),
            Delivery::Queued(queue),
            counters,
            redactor,
            clock,
        ))
    }

    fn from_parts(
        stream: StreamFields,
        delivery: Delivery,
        counters: Arc<Counters>,
        redactor: Arc<Redactor>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                redactor,
                clock,
                stream,
                counters,
                delivery,
            }),
        }
    }

    /// Stamps, redacts and hands over one event; never waits on the network. Returns
    /// the record's `audit_id`, for responses that point at it.
    pub fn record(&self, event: AuditEvent) -> Uuid {
        let inner = &self.inner;
        let now = inner.clock.now();
        let id = audit_id(now.timestamp_millis());
        Counters::add(&inner.counters.recorded, 1);
        let line = match self.render(AuditRecord::new(event, &inner.stream, now, id)) {
            Ok(line) => line,
            Err(error) => {
                Counters::add(&inner.counters.lost, 1);
                tracing::error!(%error, "audit record lost: cannot serialize");
                return id;
            }
        };
        match &inner.delivery {
            Delivery::Direct(out) => {
                inner
                    .counters
                    .fall_back(out, &[line], &inner.counters.delivered);
            }
            Delivery::Queued(queue) => queue.push(line),
        }
        id
    }

    /// Serializes through a JSON value so the redactor sees every field, `meta` included.
    fn render(&self, record: AuditRecord) -> Result<String, AuditError> {
        let mut value = serde_json::to_value(record).map_err(AuditError::Serialize)?;
        self.inner.redactor.redact_json(&mut value);
        serde_json::to_string(&value).map_err(AuditError::Serialize)
    }

    /// Waits for recorded events to be delivered, at most the configured flush bound;
    /// whatever is still undelivered then goes to the fallback. Call before a Lambda
    /// invocation returns, since a frozen process sends nothing.
    pub async fn flush(&self) {
        if let Delivery::Queued(queue) = &self.inner.delivery {
            queue.flush().await;
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> AuditStats {
        let c = &self.inner.counters;
        let pending = match &self.inner.delivery {
            Delivery::Direct(_) => 0,
            Delivery::Queued(queue) => queue.pending(),
        };
        AuditStats {
            recorded: c.recorded.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            fallen_back: c.fallen_back.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            lost: c.lost.load(Ordering::Relaxed),
            pending: u64::try_from(pending).unwrap_or(u64::MAX),
        }
    }

    /// The stream fields every record carries.
    pub fn stream(&self) -> &StreamFields {
        &self.inner.stream
    }
}

/// A UUIDv7 from the injected clock, so ids sort by record time like `_time` does.
fn audit_id(millis: i64) -> Uuid {
    let millis = u64::try_from(millis).unwrap_or(0);
    let ts = uuid::Timestamp::from_unix(
        uuid::NoContext,
        millis / 1000,
        u32::try_from(millis % 1000).unwrap_or(0) * 1_000_000,
    );
    Uuid::new_v7(ts)
}

impl std::fmt::Debug for AuditLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let delivery = match &self.inner.delivery {
            Delivery::Direct(_) => "direct",
            Delivery::Queued(_) => "queued",
        };
        f.debug_struct("AuditLogger")
            .field("stream", &self.inner.stream)
            .field("delivery", &delivery)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
