//! Several independent instances of the analysis step (separate tasks, separate
//! breaker caches) against one S3 store on the local endpoint (moto) and one failing
//! provider: they see one breaker, and no transition is lost to a race.

use std::sync::Arc;
use std::time::Duration;

use aiops_tests::llm::{Rig, bundle, clock, config, json, rig};
use aiops_tests::services::fresh_s3_store;
use shared::analyze::analyze;
use shared::llm::ProviderKind;
use shared::llm::breaker::BreakerState;
use shared::store::SharedStore;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INSTANCES: usize = 4;

/// Runs one analysis on every instance at once; returns how many fell back.
async fn round(rigs: &[Arc<Rig>]) -> usize {
    let tasks: Vec<_> = rigs
        .iter()
        .map(|r| {
            let r = Arc::clone(r);
            tokio::spawn(async move {
                analyze(&r.ctx, &bundle())
                    .await
                    .expect("analysis")
                    .needs_rerun
            })
        })
        .collect();
    let mut fell_back = 0;
    for t in tasks {
        fell_back += usize::from(t.await.expect("instance task"));
    }
    fell_back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_share_one_breaker_through_s3_without_losing_a_transition() {
    let server = MockServer::start().await;
    let store: SharedStore = Arc::new(fresh_s3_store().await);
    let clock = clock();
    let mut cfg = config(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    cfg.max_attempts = 1;
    cfg.breaker.consecutive_failures = 6;
    cfg.breaker.min_calls = 100;
    let rigs: Vec<Arc<Rig>> = (0..INSTANCES)
        .map(|_| Arc::new(rig(cfg.clone(), store.clone(), &clock)))
        .collect();
    let breaker = || rigs[0].ctx.llm().unwrap().breaker();

    // Round 1: four concurrent failures, each a conditional write racing the others.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(500).set_body_json(json("openai-server-error.json")))
        .expect(8)
        .mount(&server)
        .await;
    assert_eq!(round(&rigs).await, INSTANCES);
    let state = breaker().state().await.unwrap();
    let BreakerState::Closed {
        failures,
        calls,
        consecutive_failures,
        ..
    } = state
    else {
        panic!("{state:?}")
    };
    assert_eq!(
        (failures, calls, consecutive_failures),
        (4, 4, 4),
        "every racing failure counted"
    );

    // Round 2: four more; the sixth opens it, the last two find it open.
    assert_eq!(round(&rigs).await, INSTANCES);
    let state = breaker().state().await.unwrap();
    assert_eq!(state.name(), "open", "{state:?}");

    // Every instance, once its cache period passes, fails fast: no request at all.
    clock.advance(Duration::from_secs(1));
    assert_eq!(round(&rigs).await, INSTANCES);
    server.verify().await;

    // After the open period, all four race for the single probe slot: one request. The
    // probe's answer takes a moment, so every instance asks the breaker while the probe
    // is still out (an instance that asked after it closed would rightly call the LLM).
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json("openai-chat-completion.json"))
                .set_delay(Duration::from_millis(150)),
        )
        .expect(1)
        .mount(&server)
        .await;
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        round(&rigs).await,
        INSTANCES - 1,
        "exactly one probe answered by the LLM"
    );
    assert_eq!(breaker().state().await.unwrap().name(), "closed");
    server.verify().await;

    // Closed for everyone after the cache period.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json("openai-chat-completion.json")))
        .expect(4)
        .mount(&server)
        .await;
    clock.advance(Duration::from_secs(1));
    assert_eq!(round(&rigs).await, 0);
}
