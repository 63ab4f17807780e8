//! Test rigs for the LLM step: the real adapters pointed at wiremock, a manual clock, a
//! sleeper that only moves that clock, and fixed jitter.

use std::sync::Arc;
use std::time::Duration;

use shared::analyze::AnalyzeContext;
use shared::clock::{ManualClock, SharedClock};
use shared::evidence::EvidenceBundle;
use shared::llm::client::Parts;
use shared::llm::retry::{ClockSleeper, FixedJitter};
use shared::llm::{LlmConfig, ProviderKind};
use shared::redact::Redactor;
use shared::store::SharedStore;

/// A file under `tests/data/llm/`.
pub fn data(name: &str) -> String {
    let path = format!("{}/data/llm/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A file under `tests/data/llm/` as JSON.
pub fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&data(name)).expect("test data is JSON")
}

/// The crash-looping `web` bundle.
pub fn bundle() -> EvidenceBundle {
    serde_json::from_str(&data("bundle-web-dev.json")).expect("a valid bundle")
}

/// The API key the rigs send.
pub const API_KEY: &str = "sk-test-0123456789abcdef";

/// A configuration for `provider` at `url` with short, test-friendly breaker settings:
/// three consecutive failures open it for 30 s, one probe, a 1 s cache.
pub fn config(provider: ProviderKind, url: &str) -> LlmConfig {
    let mut c = LlmConfig::new(
        provider,
        url,
        if provider == ProviderKind::Anthropic {
            "claude-sonnet-4-5"
        } else {
            "gpt-4.1-mini"
        },
    );
    c.api_key = Some(API_KEY.into());
    c.max_attempts = 3;
    c.backoff_base = Duration::from_secs(1);
    c.request_timeout = Duration::from_millis(300);
    c.breaker.consecutive_failures = 3;
    c.breaker.min_calls = 10;
    c.breaker.open_for = Duration::from_secs(30);
    c.breaker.cache_for = Duration::from_secs(1);
    c
}

/// One instance of the analysis step.
#[derive(Debug)]
pub struct Rig {
    /// The context under test.
    pub ctx: AnalyzeContext,
    /// Every wait the step made.
    pub sleeper: Arc<ClockSleeper>,
}

/// An instance using `store` and `clock` (shared between instances of one test).
pub fn rig(config: LlmConfig, store: SharedStore, clock: &ManualClock) -> Rig {
    let shared_clock: SharedClock = Arc::new(clock.clone());
    let llm = shared::llm::provider(&config, &shared_clock)
        .expect("provider")
        .expect("not none");
    let sleeper = Arc::new(ClockSleeper::new(clock.clone()));
    let parts = Parts {
        llm,
        store,
        clock: shared_clock.clone(),
        sleeper: sleeper.clone(),
        jitter: Arc::new(FixedJitter(0.5)),
    };
    let ctx = AnalyzeContext::new(
        config,
        Some(parts),
        Arc::new(Redactor::default()),
        shared_clock,
    );
    Rig { ctx, sleeper }
}

/// A temporary local store, removed when the directory handle is dropped.
pub fn local_store() -> (tempfile::TempDir, SharedStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store: SharedStore =
        Arc::new(shared::store::LocalStore::open(dir.path()).expect("local store"));
    (dir, store)
}

/// A provider at `base_url` over a fresh local store, with the test clock: the set-up
/// of a test that runs one instance. Keep the directory alive for the test's length.
pub fn single_rig(kind: ProviderKind, base_url: &str) -> (tempfile::TempDir, Rig) {
    let (dir, store) = local_store();
    (dir, rig(config(kind, base_url), store, &clock()))
}

/// A clock at the bundle's collection time.
pub fn clock() -> ManualClock {
    ManualClock::at("2026-11-26T05:10:00Z")
}
