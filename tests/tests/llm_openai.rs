//! The LLM step against an OpenAI-compatible server (wiremock shaped like the chat
//! completions API): the request sent, structured answers, and every fault the step
//! must absorb: 500s, timeouts, 429 with Retry-After, exhausted quota, malformed bodies
//! and answers outside the schema. The breaker's open, probe and close are proven with
//! `.expect(n)` on every mock and a manual clock.

use std::time::Duration;

use aiops_tests::llm::{API_KEY, bundle, clock, config, json, local_store, rig, single_rig};
use serde_json::json as j;
use shared::analysis::{Analyzer, Confidence};
use shared::analyze::analyze;
use shared::llm::ProviderKind;
use shared::llm::breaker::BreakerState;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATH: &str = "/v1/chat/completions";

fn completion() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json("openai-chat-completion.json"))
}

fn server_error() -> ResponseTemplate {
    ResponseTemplate::new(500).set_body_json(json("openai-server-error.json"))
}

/// Fails the test loudly on any request no other mock expected.
async fn catch_all(server: &MockServer) {
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(418))
        .with_priority(u8::MAX)
        .expect(0)
        .named("unexpected request")
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_structured_answer_becomes_the_analysis_and_the_request_has_the_real_shape() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(header("authorization", format!("Bearer {API_KEY}").as_str()))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(j!({
            "model": "gpt-4.1-mini",
            "max_completion_tokens": 2000,
            "response_format": {"type": "json_schema", "json_schema": {"name": "record_rca", "strict": true,
                "schema": {"type": "object", "additionalProperties": false}}},
        })))
        .respond_with(completion())
        .expect(1)
        .mount(&server)
        .await;
    catch_all(&server).await;
    let (_dir, r) = single_rig(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));

    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert_eq!(
        a.analyzer,
        Analyzer::Llm {
            provider: "openai".into(),
            model: "gpt-4.1-mini".into()
        }
    );
    assert!(!a.preliminary && a.structured && !a.needs_rerun);
    assert_eq!(a.fallback_reason, None);
    assert_eq!(a.confidence, Confidence::High);
    assert!(a.summary.contains("--listen-port"));
    assert_eq!(
        a.unknown_evidence_ids,
        ["log/999"],
        "an invented citation is flagged"
    );

    let requests = server.received_requests().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["messages"][0]["role"], "system");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains("[log/1]") && user.contains("[pod/web-6f9c7b8d4-q7w4z]"),
        "{user}"
    );
    assert!(
        !user.contains("s3cr3t-pa55"),
        "the password in the log line never reaches the prompt"
    );
}

#[tokio::test]
async fn server_errors_open_the_breaker_then_no_request_reaches_the_provider_until_a_probe_closes_it()
 {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(server_error())
        .expect(3)
        .mount(&server)
        .await;
    let (_dir, store) = local_store();
    let clock = clock();
    let r = rig(
        config(ProviderKind::OpenAi, &format!("{}/v1", server.uri())),
        store,
        &clock,
    );

    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert_eq!(a.analyzer, Analyzer::Builtin, "the built-ins stand in");
    assert!(a.preliminary && a.needs_rerun);
    assert!(
        a.fallback_reason.as_deref().unwrap().contains("HTTP 500"),
        "{:?}",
        a.fallback_reason
    );
    assert!(
        a.summary
            .contains("does not accept the argument --listen-port"),
        "the built-in lead names the decisive log line: {}",
        a.summary
    );
    assert_eq!(
        r.sleeper.slept(),
        [Duration::from_millis(500), Duration::from_secs(1)],
        "full jitter at 0.5"
    );
    assert_eq!(
        r.ctx.llm().unwrap().breaker().state().await.unwrap().name(),
        "open"
    );

    // Open: the next analyses fail fast, without a request.
    for _ in 0..3 {
        let a = analyze(&r.ctx, &bundle()).await.unwrap();
        assert!(
            a.fallback_reason
                .as_deref()
                .unwrap()
                .contains("circuit breaker for openai is open")
        );
    }
    server.verify().await;

    // After the open period one probe goes through; its success closes the breaker.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(completion())
        .expect(2)
        .mount(&server)
        .await;
    clock.advance(Duration::from_secs(30));
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(!a.preliminary && a.fallback_reason.is_none());
    let state = r.ctx.llm().unwrap().breaker().state().await.unwrap();
    assert_eq!(state.name(), "closed", "{state:?}");
    analyze(&r.ctx, &bundle()).await.unwrap();
}

#[tokio::test]
async fn a_failed_probe_reopens_the_breaker() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(server_error())
        .expect(4)
        .mount(&server)
        .await;
    let (_dir, store) = local_store();
    let clock = clock();
    let r = rig(
        config(ProviderKind::OpenAi, &format!("{}/v1", server.uri())),
        store,
        &clock,
    );
    analyze(&r.ctx, &bundle()).await.unwrap();
    let BreakerState::Open {
        opened_at: first_opened,
        ..
    } = r.ctx.llm().unwrap().breaker().state().await.unwrap()
    else {
        panic!("open after three failures")
    };
    clock.advance(Duration::from_secs(30));

    // The probe fails: open again, and the retry inside the same step fails fast.
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(a.needs_rerun);
    let state = r.ctx.llm().unwrap().breaker().state().await.unwrap();
    let BreakerState::Open {
        opened_at, reason, ..
    } = state
    else {
        panic!("{state:?}")
    };
    assert!(
        opened_at >= first_opened + 30_000,
        "reopened by the probe, not left from before"
    );
    assert!(reason.contains("HTTP 500"), "{reason}");
    analyze(&r.ctx, &bundle()).await.unwrap();
}

#[tokio::test]
async fn timeouts_count_as_failures_and_open_the_breaker() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(completion().set_delay(Duration::from_secs(5)))
        .expect(3)
        .mount(&server)
        .await;
    let (_dir, r) = single_rig(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(
        a.fallback_reason
            .as_deref()
            .unwrap()
            .contains("did not answer within 300ms"),
        "{:?}",
        a.fallback_reason
    );
    assert_eq!(
        r.ctx.llm().unwrap().breaker().state().await.unwrap().name(),
        "open"
    );
    analyze(&r.ctx, &bundle()).await.unwrap();
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_exactly_then_answered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "7")
                .insert_header("x-ratelimit-remaining-requests", "0")
                .insert_header("x-ratelimit-reset-requests", "6s")
                .set_body_json(j!({"error": {"message": "Rate limit reached for gpt-4.1-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.", "type": "requests", "param": null, "code": "rate_limit_exceeded"}})),
        )
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(completion())
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let (_dir, r) = single_rig(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(!a.preliminary);
    assert_eq!(r.sleeper.slept(), [Duration::from_secs(7)]);
}

#[tokio::test]
async fn insufficient_quota_is_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(
            ResponseTemplate::new(429).set_body_json(json("openai-insufficient-quota.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, r) = single_rig(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(
        a.fallback_reason
            .as_deref()
            .unwrap()
            .contains("no quota left"),
        "{:?}",
        a.fallback_reason
    );
    assert!(r.sleeper.slept().is_empty());
}

#[tokio::test]
async fn a_malformed_body_is_retried_but_does_not_count_against_the_provider() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("<html>upstream proxy error</html>", "text/html"),
        )
        .expect(3)
        .mount(&server)
        .await;
    let (_dir, r) = single_rig(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(
        a.fallback_reason
            .as_deref()
            .unwrap()
            .contains("could not be read"),
        "{:?}",
        a.fallback_reason
    );
    assert_eq!(
        r.ctx.llm().unwrap().breaker().state().await.unwrap().name(),
        "closed"
    );
}

#[tokio::test]
async fn an_answer_outside_the_schema_gets_one_repair_then_is_kept_unstructured() {
    let server = MockServer::start().await;
    let mut body = json("openai-chat-completion.json");
    body["choices"][0]["message"]["content"] =
        j!("The web pod crashes because of a bad flag, I think.");
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(2)
        .mount(&server)
        .await;
    let (_dir, r) = single_rig(ProviderKind::OpenAi, &format!("{}/v1", server.uri()));
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(!a.structured);
    assert_eq!(
        a.raw_text.as_deref(),
        Some("The web pod crashes because of a bad flag, I think.")
    );
    assert!(a.needs_rerun && a.preliminary);
    let requests = server.received_requests().await.unwrap();
    let repair: serde_json::Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(repair["messages"][2]["role"], "assistant");
    assert!(
        repair["messages"][3]["content"]
            .as_str()
            .unwrap()
            .contains("did not match the required schema")
    );
}
