//! Audit logging against wiremock servers shaped like VictoriaLogs v1.26
//! (`tests/data/victorialogs/`), and against scripted sinks under paused time.
//!
//! Wiremock answers from its own thread, which paused Tokio time cannot wait for, so
//! the HTTP tests run in real time with bounds of at most a few hundred milliseconds;
//! the timing tests use a scripted sink with `start_paused`.

use std::collections::{BTreeSet, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use shared::audit::{
    AuditConfig, AuditError, AuditEvent, AuditLogger, AuditRecord, AuditSink, Decision,
    MemoryWriter, RetryPolicy, Severity, Status, StdoutSink, VictoriaLogsConfig, VictoriaLogsSink,
};
use shared::clock::ManualClock;
use shared::redact::Redactor;
use tokio::time::Instant;
use uuid::Uuid;
use wiremock::matchers::{any, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const INGEST_OK: &str = include_str!("../data/victorialogs/insert-jsonline.json");
const INGEST_WRONG_TYPE: &str = include_str!("../data/victorialogs/insert-wrong-content-type.json");
const NOW: &str = "2026-11-26T10:00:00Z";

// ---- fixtures and helpers ---------------------------------------------------------

/// The recorded VictoriaLogs answer, replayed.
fn answer(fixture: &str) -> ResponseTemplate {
    let exchange: Value = serde_json::from_str(fixture).expect("fixture is JSON");
    let status = u16::try_from(exchange["status"].as_u64().expect("status")).expect("u16");
    ResponseTemplate::new(status)
        .insert_header(
            "content-type",
            exchange["content_type"].as_str().expect("content_type"),
        )
        .set_body_string(exchange["body_text"].as_str().unwrap_or_default())
}

/// The `insert/jsonline` route as VictoriaLogs stores it: only with the right
/// content type. Anything else answers 200 like VictoriaLogs does, stores nothing,
/// and fails the test when the server is dropped.
async fn victorialogs() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(answer(INGEST_WRONG_TYPE))
        .with_priority(u8::MAX)
        .expect(0)
        .named("anything VictoriaLogs would not store")
        .mount(&server)
        .await;
    server
}

fn ingest() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/insert/jsonline"))
        .and(header("content-type", "application/stream+json"))
        .and(query_param("_stream_fields", "service,function,env"))
        .and(query_param("_msg_field", "_msg"))
        .and(query_param("_time_field", "_time"))
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| r["audit_id"].as_str().expect("audit_id").to_owned())
        .collect()
}

async fn posted(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
}

fn body_records(request: &Request) -> Vec<Value> {
    json_lines(std::str::from_utf8(&request.body).expect("utf8 body"))
}

fn config(url: &str, batch_size: usize, flush_timeout: Duration) -> AuditConfig {
    let mut config = AuditConfig::default().with_function("policy-check");
    config.stream.env = "prod".into();
    config.victorialogs = Some(VictoriaLogsConfig::new(url.parse().expect("url")));
    config.batch_size = batch_size;
    config.flush_timeout = flush_timeout;
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
    };
    config
}

fn logger(config: &AuditConfig, fallback: &MemoryWriter) -> AuditLogger {
    let vl = config.victorialogs.as_ref().expect("a VictoriaLogs config");
    let sink = Arc::new(VictoriaLogsSink::new(vl).expect("client"));
    with_sink(config, sink, fallback)
}

fn with_sink(
    config: &AuditConfig,
    sink: Arc<dyn AuditSink>,
    fallback: &MemoryWriter,
) -> AuditLogger {
    AuditLogger::with_sink(
        config,
        sink,
        StdoutSink::with_writer(fallback.clone()),
        Arc::new(Redactor::default()),
        Arc::new(ManualClock::at(NOW)),
    )
    .expect("inside a runtime")
}

fn event(n: usize) -> AuditEvent {
    AuditEvent::new("namespace-access")
        .actor("user:default/jane")
        .namespace("checkout-prod")
        .meta("n", n)
}

fn record_many(logger: &AuditLogger, count: usize) -> BTreeSet<String> {
    (0..count)
        .map(|n| logger.record(event(n)).to_string())
        .collect()
}

/// A port nothing listens on: connections are refused at once.
fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

// ---- wire format ------------------------------------------------------------------

#[tokio::test]
async fn n_records_go_out_in_ceil_n_over_batch_posts_of_newline_separated_json_lines() {
    let server = victorialogs().await;
    ingest()
        .respond_with(answer(INGEST_OK))
        .expect(3)
        .mount(&server)
        .await;
    let fallback = MemoryWriter::default();
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(2)),
        &fallback,
    );

    let recorded = record_many(&audit, 25);
    audit.flush().await;

    let requests = posted(&server).await;
    let sizes: Vec<usize> = requests.iter().map(|r| body_records(r).len()).collect();
    assert_eq!(sizes, [10, 10, 5]);
    for request in &requests {
        let body = std::str::from_utf8(&request.body).expect("utf8");
        assert!(
            body.ends_with('\n') && !body.ends_with("\n\n"),
            "one line per record"
        );
    }
    let sent: Vec<Value> = requests.iter().flat_map(body_records).collect();
    assert_eq!(ids(&sent), recorded);
    let stats = audit.stats();
    assert_eq!(
        (
            stats.recorded,
            stats.delivered,
            stats.fallen_back,
            stats.pending
        ),
        (25, 25, 0, 0)
    );
    assert_eq!(fallback.text(), "");
}

#[tokio::test]
async fn posts_carry_the_stream_json_content_type_query_parameters_and_tenant_headers() {
    let server = victorialogs().await;
    ingest()
        .and(header("AccountID", "12"))
        .and(header("ProjectID", "3"))
        .respond_with(answer(INGEST_OK))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = config(&server.uri(), 10, Duration::from_secs(2));
    if let Some(vl) = config.victorialogs.as_mut() {
        vl.endpoint = vl.endpoint.clone().with_tenant(Some(12), Some(3));
    }
    let audit = logger(&config, &MemoryWriter::default());

    audit.record(event(1));
    audit.flush().await;

    assert_eq!(audit.stats().delivered, 1);
}

#[tokio::test]
async fn without_a_tenant_no_tenant_headers_are_sent() {
    let server = victorialogs().await;
    ingest()
        .respond_with(answer(INGEST_OK))
        .expect(1)
        .mount(&server)
        .await;
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(2)),
        &MemoryWriter::default(),
    );

    audit.record(event(1));
    audit.flush().await;

    let requests = posted(&server).await;
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("AccountID").is_none());
    assert!(requests[0].headers.get("ProjectID").is_none());
}

#[tokio::test]
async fn the_record_on_the_wire_has_the_contract_shape() {
    let server = victorialogs().await;
    ingest()
        .respond_with(answer(INGEST_OK))
        .expect(1)
        .mount(&server)
        .await;
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(2)),
        &MemoryWriter::default(),
    );

    let id = audit.record(
        AuditEvent::new("namespace-access")
            .severity(Severity::High)
            .status(Status::Succeeded)
            .actor("user:default/mallory")
            .cluster("prod-eu1")
            .namespace("checkout-prod")
            .entity("component:default/checkout")
            .decision(Decision::Deny)
            .reason("not_owner")
            .request_id("req-7")
            .meta("action", "read"),
    );
    audit.flush().await;

    let sent = body_records(&posted(&server).await[0]);
    let line = &sent[0];
    assert_eq!(
        line["_time"], "2026-11-26T10:00:00.000Z",
        "RFC 3339, UTC, Z suffix"
    );
    assert_eq!(line["_msg"], "aiops.namespace-access");
    assert_eq!(
        (&line["service"], &line["function"], &line["env"]),
        (
            &Value::from("aiops"),
            &Value::from("policy-check"),
            &Value::from("prod")
        )
    );
    assert_eq!(line["eventId"], "namespace-access");
    assert_eq!(line["severityLevel"], "high");
    assert_eq!(line["status"], "succeeded");
    assert_eq!(line["actor"]["actorId"], "user:default/mallory");
    assert_eq!(line["resource"]["cluster"], "prod-eu1");
    assert_eq!(line["resource"]["namespace"], "checkout-prod");
    assert_eq!(line["resource"]["entity"], "component:default/checkout");
    assert_eq!(line["decision"], "deny");
    assert_eq!(line["reason"], "not_owner");
    assert_eq!(line["request_id"], "req-7");
    assert_eq!(line["meta"]["action"], "read");
    assert_eq!(line["audit_id"], id.to_string());
    assert_eq!(id.get_version_num(), 7, "time-ordered id");
    let typed: AuditRecord = serde_json::from_value(line.clone()).expect("reads back");
    assert_eq!(typed.time.to_rfc3339(), "2026-11-26T10:00:00+00:00");
}

#[tokio::test]
async fn a_secret_in_meta_never_reaches_the_sink_body_nor_the_fallback() {
    const PASSWORD: &str = "hunter2-correct-horse";
    const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    let server = victorialogs().await;
    ingest()
        .respond_with(answer(INGEST_OK))
        .expect(1)
        .mount(&server)
        .await;
    let fallback = MemoryWriter::default();
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(2)),
        &fallback,
    );
    let secret_event = |n| {
        event(n)
            .meta("db_password", PASSWORD)
            .meta("note", format!("env had AWS_ACCESS_KEY_ID={AWS_KEY}"))
    };

    audit.record(secret_event(1));
    audit.flush().await;
    // The same record through the fallback path: VictoriaLogs is gone now.
    let offline = logger(
        &config(&refused_url(), 10, Duration::from_secs(2)),
        &fallback,
    );
    offline.record(secret_event(2));
    offline.flush().await;

    let body = String::from_utf8(posted(&server).await[0].body.clone()).expect("utf8");
    for output in [&body, &fallback.text()] {
        assert!(!output.contains(PASSWORD), "{output}");
        assert!(!output.contains(AWS_KEY), "{output}");
        assert!(output.contains("[REDACTED:"), "{output}");
        assert!(
            output.contains("checkout-prod"),
            "the rest survives: {output}"
        );
    }
    assert_eq!(offline.stats().fallen_back, 1);
}

// ---- retries ----------------------------------------------------------------------

#[tokio::test]
async fn a_5xx_is_retried_until_victorialogs_takes_the_batch() {
    let server = victorialogs().await;
    ingest()
        .respond_with(ResponseTemplate::new(503).set_body_string("service unavailable"))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    ingest()
        .respond_with(answer(INGEST_OK))
        .expect(1)
        .mount(&server)
        .await;
    let fallback = MemoryWriter::default();
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(2)),
        &fallback,
    );

    let recorded = record_many(&audit, 4);
    audit.flush().await;

    let requests = posted(&server).await;
    assert_eq!(requests.len(), 3);
    assert_eq!(
        body_records(&requests[0]),
        body_records(&requests[2]),
        "same batch resent"
    );
    assert_eq!(ids(&body_records(&requests[2])), recorded);
    assert_eq!((audit.stats().delivered, audit.stats().fallen_back), (4, 0));
    assert_eq!(fallback.text(), "");
}

#[tokio::test]
async fn a_429_is_retried_after_the_seconds_in_retry_after() {
    let server = victorialogs().await;
    ingest()
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    ingest()
        .respond_with(answer(INGEST_OK))
        .expect(1)
        .mount(&server)
        .await;
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(3)),
        &MemoryWriter::default(),
    );

    let started = std::time::Instant::now();
    audit.record(event(1));
    audit.flush().await;

    // The backoff alone would have retried after 10 ms.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(audit.stats().delivered, 1);
}

#[tokio::test]
async fn a_429_answer_reports_its_retry_after_to_the_caller() {
    let server = victorialogs().await;
    ingest()
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "7"))
        .expect(1)
        .mount(&server)
        .await;
    let sink = VictoriaLogsSink::new(&VictoriaLogsConfig::new(server.uri().parse().expect("url")))
        .expect("client");

    let error = sink.send(&["{}".to_owned()]).await.expect_err("429");

    assert!(
        matches!(error, AuditError::Unavailable { status: 429, .. }),
        "{error:?}"
    );
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn a_rejected_batch_is_not_retried_and_goes_to_the_fallback() {
    let server = victorialogs().await;
    ingest()
        .respond_with(ResponseTemplate::new(400).set_body_string("cannot parse JSON line"))
        .expect(1)
        .mount(&server)
        .await;
    let fallback = MemoryWriter::default();
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(2)),
        &fallback,
    );

    let recorded = record_many(&audit, 2);
    audit.flush().await;

    assert_eq!(ids(&fallback.records()), recorded);
    assert_eq!((audit.stats().delivered, audit.stats().fallen_back), (0, 2));
}

// ---- outages: nothing lost ----------------------------------------------------------

#[tokio::test]
async fn when_victorialogs_stays_down_every_record_goes_to_the_fallback_and_is_counted() {
    let server = victorialogs().await;
    ingest()
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let fallback = MemoryWriter::default();
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(2)),
        &fallback,
    );

    let recorded = record_many(&audit, 5);
    audit.flush().await;

    assert_eq!(ids(&fallback.records()), recorded);
    assert_eq!(fallback.records().len(), 5, "each record exactly once");
    let stats = audit.stats();
    assert_eq!(
        (
            stats.recorded,
            stats.delivered,
            stats.fallen_back,
            stats.lost
        ),
        (5, 0, 5, 0)
    );
}

#[tokio::test]
async fn a_partial_outage_loses_nothing_and_the_fallback_holds_exactly_the_missing_records() {
    let server = victorialogs().await;
    ingest()
        .respond_with(answer(INGEST_OK))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&server)
        .await;
    ingest()
        .respond_with(ResponseTemplate::new(502))
        .expect(3)
        .mount(&server)
        .await;
    let fallback = MemoryWriter::default();
    let audit = logger(
        &config(&server.uri(), 10, Duration::from_secs(2)),
        &fallback,
    );

    let recorded = record_many(&audit, 25);
    audit.flush().await;

    let requests = posted(&server).await;
    let delivered: BTreeSet<String> = requests[..2]
        .iter()
        .flat_map(|r| ids(&body_records(r)))
        .collect();
    let fallen = ids(&fallback.records());
    assert_eq!(delivered.len(), 20);
    assert_eq!(fallen.len(), 5);
    assert!(delivered.is_disjoint(&fallen));
    assert_eq!(&delivered | &fallen, recorded);
    let stats = audit.stats();
    assert_eq!(stats.recorded, stats.delivered + stats.fallen_back);
    assert_eq!(
        (stats.delivered, stats.fallen_back, stats.pending),
        (20, 5, 0)
    );
}

#[tokio::test]
async fn an_unreachable_victorialogs_falls_back_within_the_flush_bound() {
    let fallback = MemoryWriter::default();
    let audit = logger(
        &config(&refused_url(), 10, Duration::from_millis(200)),
        &fallback,
    );

    let started = std::time::Instant::now();
    let recorded = record_many(&audit, 3);
    audit.flush().await;

    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(ids(&fallback.records()), recorded);
    assert_eq!(audit.stats().fallen_back, 3);
}

#[tokio::test]
async fn a_hanging_victorialogs_holds_flush_only_for_the_bound() {
    // Accepts connections (the kernel does) but never answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let fallback = MemoryWriter::default();
    let audit = logger(&config(&url, 10, Duration::from_millis(150)), &fallback);

    let started = std::time::Instant::now();
    let recorded = record_many(&audit, 12);
    audit.flush().await;

    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(1),
        "{waited:?}"
    );
    assert_eq!(
        ids(&fallback.records()),
        recorded,
        "in-flight and queued records alike"
    );
    let stats = audit.stats();
    assert_eq!(
        (stats.delivered, stats.fallen_back, stats.pending),
        (0, 12, 0)
    );
}

// ---- timing and buffer, with a scripted sink under paused time ----------------------

#[derive(Debug)]
enum Answer {
    Ok,
    Busy(Option<Duration>),
    Hang,
}

/// Answers from a script and notes when each attempt came.
#[derive(Debug, Default)]
struct Scripted {
    script: Mutex<VecDeque<Answer>>,
    attempts: Mutex<Vec<Instant>>,
}

impl Scripted {
    fn new(answers: impl IntoIterator<Item = Answer>) -> Arc<Self> {
        Arc::new(Self {
            script: Mutex::new(answers.into_iter().collect()),
            attempts: Mutex::default(),
        })
    }
    fn attempts(&self) -> Vec<Instant> {
        self.attempts.lock().expect("attempts").clone()
    }
}

#[async_trait]
impl AuditSink for Scripted {
    async fn send(&self, _lines: &[String]) -> Result<(), AuditError> {
        self.attempts.lock().expect("attempts").push(Instant::now());
        let answer = self
            .script
            .lock()
            .expect("script")
            .pop_front()
            .unwrap_or(Answer::Ok);
        match answer {
            Answer::Ok => Ok(()),
            Answer::Busy(retry_after) => Err(AuditError::Unavailable {
                status: 429,
                retry_after,
            }),
            Answer::Hang => std::future::pending().await,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_next_attempt_waits_exactly_retry_after_not_the_backoff() {
    let sink = Scripted::new([Answer::Busy(Some(Duration::from_secs(3))), Answer::Ok]);
    let mut config = config("http://unused", 10, Duration::from_secs(10));
    config.retry.max_delay = Duration::from_secs(5);
    let audit = with_sink(&config, sink.clone(), &MemoryWriter::default());

    audit.record(event(1));
    audit.flush().await;

    let attempts = sink.attempts();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1] - attempts[0], Duration::from_secs(3));
    assert_eq!(audit.stats().delivered, 1);
}

#[tokio::test(start_paused = true)]
async fn flush_returns_at_its_bound_when_the_sink_never_answers() {
    let sink = Scripted::new([Answer::Hang]);
    let fallback = MemoryWriter::default();
    let audit = with_sink(
        &config("http://unused", 10, Duration::from_millis(750)),
        sink.clone(),
        &fallback,
    );

    let recorded = record_many(&audit, 3);
    let started = Instant::now();
    audit.flush().await;

    assert_eq!(started.elapsed(), Duration::from_millis(750));
    assert_eq!(ids(&fallback.records()), recorded);
    // The abandoned batch is not sent again behind the fallback's back.
    tokio::time::sleep(Duration::from_mins(1)).await;
    assert_eq!(sink.attempts().len(), 1);
    let stats = audit.stats();
    assert_eq!(
        (stats.delivered, stats.fallen_back, stats.pending),
        (0, 3, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn record_never_waits_and_a_full_buffer_sends_the_overflow_to_the_fallback() {
    let sink = Scripted::new([]);
    let fallback = MemoryWriter::default();
    let mut config = config("http://unused", 10, Duration::from_secs(1));
    config.buffer = 3;
    let audit = with_sink(&config, sink, &fallback);

    let started = Instant::now();
    let ids_in_order: Vec<Uuid> = (0..5).map(|n| audit.record(event(n))).collect();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(audit.stats().pending, 3);
    audit.flush().await;

    let overflow: BTreeSet<String> = ids_in_order[3..].iter().map(Uuid::to_string).collect();
    assert_eq!(ids(&fallback.records()), overflow);
    let stats = audit.stats();
    assert_eq!(
        (
            stats.recorded,
            stats.delivered,
            stats.dropped,
            stats.fallen_back
        ),
        (5, 3, 2, 0)
    );
}

#[tokio::test]
async fn the_stdout_logger_writes_each_record_as_it_is_recorded() {
    let out = MemoryWriter::default();
    let audit = AuditLogger::direct(
        AuditConfig::default().stream,
        StdoutSink::with_writer(out.clone()),
        Arc::new(Redactor::default()),
        Arc::new(ManualClock::at(NOW)),
    );

    let id = audit.record(event(1).meta("token", "s3cr3t-value"));

    let lines = out.records();
    assert_eq!(lines.len(), 1, "written before any flush");
    assert_eq!(lines[0]["audit_id"], id.to_string());
    assert_eq!(lines[0]["env"], "local");
    assert!(!out.text().contains("s3cr3t-value"));
    audit.flush().await;
    assert_eq!((audit.stats().recorded, audit.stats().delivered), (1, 1));
}
