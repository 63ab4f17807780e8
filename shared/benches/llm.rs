//! The LLM step's own costs, without any network:
//! - building the prompt from a bundle of 100k log lines and 5k events within the
//!   default 12k-token budget: time (criterion) and peak memory (the process's peak RSS,
//!   VmHWM, reset through /proc/self/clear_refs before the build), and a check that the
//!   prompt never exceeds the budget;
//! - the resilient wrapper's overhead per call with a warm breaker cache: limiter,
//!   breaker and schema validation around an in-process provider that answers at once,
//!   against calling that provider and validating directly.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, criterion_group};
use shared::clock::SystemClock;
use shared::evidence::{
    BUNDLE_SCHEMA, ContainerEvidence, ContainerState, EventGroup, EvidenceBundle, LogLine,
    ObjectRef, PodEvidence, Target, Termination,
};
use shared::llm::client::Parts;
use shared::llm::prompt::{self, Prompt};
use shared::llm::retry::{RandomJitter, TokioSleeper};
use shared::llm::{
    ChatReply, ChatRequest, Llm, LlmConfig, LlmError, ProviderKind, RateHint, ResilientLlm, Usage,
    schema, tokens,
};
use shared::redact::Redactor;
use shared::store::LocalStore;

const BUDGET: usize = 12_000;

fn at(secs: usize) -> DateTime<Utc> {
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    Utc.timestamp_opt(1_795_640_000 + secs, 0)
        .single()
        .expect("a valid time")
}

fn word(mut n: usize) -> String {
    let mut w = String::new();
    loop {
        w.push(char::from(b'a' + u8::try_from(n % 26).unwrap_or(0)));
        n /= 26;
        if n == 0 {
            return w;
        }
    }
}

fn make_pods() -> Vec<PodEvidence> {
    (0..20)
        .map(|i| {
            let crashing = i < 5;
            PodEvidence {
                id: format!("pod/web-{i}"),
                name: format!("web-{i}"),
                phase: "Running".into(),
                node: Some(format!("node-{}", i % 3)),
                owner: Some(ObjectRef {
                    kind: "ReplicaSet".into(),
                    name: "web-6f9c7b8d4".into(),
                }),
                conditions: Vec::new(),
                containers: vec![ContainerEvidence {
                    name: "web".into(),
                    image: Some("ghcr.io/example/web:2.3.0".into()),
                    ready: !crashing,
                    restart_count: if crashing { 7 } else { 0 },
                    state: if crashing {
                        ContainerState::Waiting {
                            reason: Some("CrashLoopBackOff".into()),
                            message: Some("back-off 5m0s".into()),
                        }
                    } else {
                        ContainerState::Running {
                            started_at: Some(at(0)),
                        }
                    },
                    last_termination: crashing.then(|| Termination {
                        reason: Some("Error".into()),
                        exit_code: Some(1),
                        signal: None,
                        message: None,
                        started_at: Some(at(3_000)),
                        finished_at: Some(at(3_600)),
                    }),
                    requests: BTreeMap::from([("memory".into(), "256Mi".into())]),
                    limits: BTreeMap::from([("memory".into(), "512Mi".into())]),
                    previous_logs: Vec::new(),
                }],
                reason: None,
                message: None,
            }
        })
        .collect()
}

fn make_events(events: usize) -> Vec<EventGroup> {
    (0..events)
        .map(|i| {
            let reason = ["BackOff", "Unhealthy", "Pulled", "Created", "Started"][i % 5];
            EventGroup {
                id: format!("event/{i}"),
                type_: if i % 5 < 2 { "Warning" } else { "Normal" }.into(),
                reason: reason.into(),
                object: ObjectRef {
                    kind: "Pod".into(),
                    name: format!("web-{}", i % 40),
                },
                message: format!("{reason} for container web ({})", word(i % 7)),
                count: 1 + (i % 3) as u64,
                first_seen: Some(at(i)),
                last_seen: Some(at(i + 60)),
            }
        })
        .collect()
}

fn make_logs(log_lines: usize) -> Vec<LogLine> {
    (0..log_lines)
        .map(|i| {
            let (level, message) = match i % 10 {
                0 => (
                    "error",
                    format!(
                        "payment {} failed: upstream {} refused the connection",
                        i,
                        word(i % 2_000)
                    ),
                ),
                1..=3 => (
                    "warn",
                    format!("slow query on {} took {}ms", word(i % 5_000), i % 997),
                ),
                _ => (
                    "info",
                    format!(
                        "GET /api/items/{} 200 in {}ms trace {}",
                        word(i),
                        i % 89,
                        word(i * 7)
                    ),
                ),
            };
            LogLine {
                id: format!("log/{i}"),
                time: Some(at(i / 30)),
                pod: Some(format!("web-{}", i % 20)),
                container: Some("web".into()),
                level: Some(level.into()),
                message,
            }
        })
        .collect()
}

/// 20 pods (5 crash-looping), 5k event records over 200 (reason, object) pairs, and
/// 100k log lines: 10 % errors over 2k shapes, 30 % warnings, the rest varied info.
fn bundle(log_lines: usize, events: usize) -> EvidenceBundle {
    let (pods, events, logs) = (make_pods(), make_events(events), make_logs(log_lines));
    EvidenceBundle {
        schema: BUNDLE_SCHEMA.into(),
        run_id: "bench".into(),
        collected_at: at(7_200),
        target: Target {
            entity: "component:default/web".into(),
            cluster: "prod-eu1".into(),
            namespace: "web-prod".into(),
            since: at(0),
            until: at(7_200),
        },
        entity: None,
        pods,
        events,
        rollouts: Vec::new(),
        logs,
        findings: Vec::new(),
        sources: BTreeMap::new(),
        objects: shared::evidence::RelatedObjects::default(),
    }
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Builds one prompt and reports the peak RSS above the resident set before the build.
fn memory_report() {
    let bundle = bundle(100_000, 5_000);
    let redactor = Redactor::default();
    tokens::warm_up();
    let _ = prompt::build(&bundle, &redactor, BUDGET);
    // Writing 5 resets VmHWM to the current RSS (Linux ≥ 4.0).
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let before = status_kib("VmRSS:").unwrap_or(0);
    let started = Instant::now();
    let p = prompt::build(&bundle, &redactor, BUDGET);
    let elapsed = started.elapsed();
    let peak = status_kib("VmHWM:").unwrap_or(0);
    let counted = tokens::count(&p.system)
        + tokens::count(&p.user)
        + tokens::count(&schema::rca_schema().to_string());
    assert!(
        p.tokens <= BUDGET && counted <= BUDGET,
        "the prompt exceeds the budget: {} / {counted}",
        p.tokens
    );
    println!(
        "prompt_build: 100000 log lines + 5000 events -> {} tokens (budget {BUDGET}) in {elapsed:?}; \
         peak RSS {} KiB above {} KiB before the build{}; omitted: {:?}",
        p.tokens,
        peak.saturating_sub(before),
        before,
        if reset {
            ""
        } else {
            " (VmHWM could not be reset: figure includes set-up)"
        },
        p.omitted
    );
}

fn prompt_build(c: &mut Criterion) {
    let bundle = bundle(100_000, 5_000);
    let redactor = Redactor::default();
    tokens::warm_up();
    let mut group = c.benchmark_group("prompt_build");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.bench_function("100k_logs_5k_events_12k_budget", |b| {
        b.iter(|| black_box(prompt::build(black_box(&bundle), &redactor, BUDGET)));
    });
    group.finish();
}

/// A provider that answers at once with a valid RCA.
#[derive(Debug)]
struct Instant_;

const ANSWER: &str = r#"{"summary": "s", "root_cause": "r", "confidence": "high", "impact": "i", "evidence_ids": ["pod/web-0"], "remediation": ["x"], "follow_ups": []}"#;

#[async_trait]
impl Llm for Instant_ {
    fn provider(&self) -> &'static str {
        "openai"
    }
    fn model(&self) -> &'static str {
        "bench"
    }
    async fn chat(&self, _: &ChatRequest, _: Duration) -> Result<ChatReply, LlmError> {
        Ok(ChatReply {
            text: ANSWER.into(),
            json: None,
            usage: Usage::default(),
            rate: RateHint::default(),
        })
    }
}

fn wrapper_overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = LlmConfig::new(ProviderKind::OpenAi, "http://unused", "bench");
    config.requests_per_minute = u32::MAX;
    config.tokens_per_minute = u32::MAX;
    config.breaker.cache_for = Duration::from_hours(1);
    let llm = ResilientLlm::new(
        config,
        Parts {
            llm: Arc::new(Instant_),
            store: Arc::new(LocalStore::open(dir.path()).expect("store")),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            jitter: Arc::new(RandomJitter),
        },
    );
    let prompt = Prompt {
        system: prompt::SYSTEM.into(),
        user: "evidence".into(),
        tokens: 2_000,
        omitted: Vec::new(),
    };
    rt.block_on(llm.analyze(&prompt))
        .expect("warm-up call fills the breaker cache");
    let request = ChatRequest {
        system: prompt.system.clone(),
        messages: vec![shared::llm::Message {
            role: shared::llm::Role::User,
            content: prompt.user.clone(),
        }],
        schema_name: schema::SCHEMA_NAME,
        schema: schema::rca_schema(),
        max_output_tokens: 2_000,
    };
    let mut group = c.benchmark_group("resilient_call");
    group.bench_function("direct_provider_and_validation", |b| {
        b.iter(|| {
            let reply = rt
                .block_on(Instant_.chat(black_box(&request), Duration::from_secs(1)))
                .expect("reply");
            black_box(schema::validate(&reply).expect("valid"))
        });
    });
    group.bench_function("through_limiter_breaker_retry_warm_cache", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(llm.analyze(black_box(&prompt)))
                    .expect("answer"),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, prompt_build, wrapper_overhead);

fn main() {
    memory_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
