//! The LLM step against the Anthropic Messages API (wiremock shaped like it): the
//! headers and the forced tool, the tool_use answer, 529 overloaded opening the
//! breaker, and a 429 whose rate-limit headers are honoured.

use std::time::Duration;

use aiops_tests::llm::{API_KEY, bundle, json, single_rig};
use serde_json::json as j;
use shared::analysis::Analyzer;
use shared::analyze::analyze;
use shared::llm::{ANTHROPIC_VERSION, ProviderKind};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATH: &str = "/v1/messages";

#[tokio::test]
async fn a_forced_tool_call_becomes_the_analysis_and_the_headers_are_anthropics() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(header("x-api-key", API_KEY))
        .and(header("anthropic-version", ANTHROPIC_VERSION))
        .and(body_partial_json(j!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 2000,
            "tools": [{"name": "record_rca", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "tool", "name": "record_rca"},
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json("anthropic-message.json")))
        .expect(1)
        .mount(&server)
        .await;
    let (_dir, r) = single_rig(ProviderKind::Anthropic, &server.uri());
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert_eq!(
        a.analyzer,
        Analyzer::Llm {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into()
        }
    );
    assert!(a.structured && !a.preliminary);
    assert_eq!(a.evidence_ids, ["pod/web-6f9c7b8d4-q7w4z", "log/1"]);
    assert!(a.unknown_evidence_ids.is_empty());

    let requests = server.received_requests().await.unwrap();
    assert!(
        requests[0].headers.get("authorization").is_none(),
        "no bearer token to Anthropic"
    );
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert!(
        body["system"]
            .as_str()
            .unwrap()
            .contains("root-cause analysis")
    );
    assert_eq!(body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn overloaded_529s_open_the_breaker_and_the_builtins_answer() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(ResponseTemplate::new(529).set_body_json(json("anthropic-overloaded.json")))
        .expect(3)
        .mount(&server)
        .await;
    let (_dir, r) = single_rig(ProviderKind::Anthropic, &server.uri());
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert_eq!(a.analyzer, Analyzer::Builtin);
    assert!(
        a.fallback_reason
            .as_deref()
            .unwrap()
            .contains("HTTP 529: Overloaded"),
        "{:?}",
        a.fallback_reason
    );
    let again = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(
        again
            .fallback_reason
            .as_deref()
            .unwrap()
            .contains("circuit breaker for anthropic is open")
    );
}

#[tokio::test]
async fn a_429_waits_for_the_reset_its_rate_limit_headers_announce() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "4")
                .insert_header("anthropic-ratelimit-requests-limit", "50")
                .insert_header("anthropic-ratelimit-requests-remaining", "0")
                // 12 s after the rig's clock (2026-11-26T05:10:00Z).
                .insert_header("anthropic-ratelimit-requests-reset", "2026-11-26T05:10:12Z")
                .set_body_json(json("anthropic-rate-limited.json")),
        )
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(json("anthropic-message.json")))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let (_dir, r) = single_rig(ProviderKind::Anthropic, &server.uri());
    let a = analyze(&r.ctx, &bundle()).await.unwrap();
    assert!(a.structured && !a.preliminary);
    assert_eq!(
        r.sleeper.slept().iter().sum::<Duration>(),
        Duration::from_secs(12)
    );
}
