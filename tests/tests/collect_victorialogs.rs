//! The VictoriaLogs source against a server answering with real JSON lines.
#![allow(clippy::unwrap_used)]

use aiops_tests::kube_api::text;
use chrono::{DateTime, Utc};
use shared::sources::logsql::{self, LogSchema, Part};
use shared::sources::victorialogs::VictoriaLogs;
use shared::sources::{Caps, LogSource, Window, Workload};
use shared::victorialogs::Endpoint;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn window() -> Window {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    Window {
        since: t("2026-11-26T03:00:00Z"),
        until: t("2026-11-26T06:00:00Z"),
    }
}

fn web() -> Workload {
    Workload::locate("web", None, "web-dev")
}

fn jsonl(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "application/stream+json")
}

async fn mount(server: &MockServer, part: Part, limit: &str, body: ResponseTemplate, calls: u64) {
    Mock::given(method("POST"))
        .and(path("/select/logsql/query"))
        .and(query_param(
            "query",
            logsql::query(&LogSchema::vector(), &web(), part).unwrap(),
        ))
        .and(query_param("limit", limit))
        .and(query_param("start", "2026-11-26T03:00:00.000Z"))
        .and(query_param("end", "2026-11-26T06:00:00.000Z"))
        .respond_with(body)
        .expect(calls)
        .mount(server)
        .await;
}

fn source(server: &MockServer) -> VictoriaLogs {
    VictoriaLogs::new(
        &Endpoint::parse(&server.uri()).unwrap(),
        LogSchema::vector(),
        std::time::Duration::from_secs(5),
    )
    .unwrap()
}

#[tokio::test]
async fn errors_and_warnings_come_first_then_the_rest() {
    let server = MockServer::start().await;
    let info: String = text("victorialogs/query-web.jsonl")
        .lines()
        .take(2)
        .flat_map(|l| [l, "\n"])
        .collect();
    mount(
        &server,
        Part::Problems,
        "501",
        jsonl(text("victorialogs/query-web-errors.jsonl")),
        1,
    )
    .await;
    mount(&server, Part::Rest, "499", jsonl(info), 1).await;
    let got = source(&server)
        .logs(&web(), &window(), &Caps::default())
        .await
        .unwrap();
    let lines: Vec<_> = got
        .items
        .iter()
        .map(|l| {
            (
                l.id.as_str(),
                l.level.as_deref().unwrap(),
                l.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                "log/0",
                "error",
                "config: unknown key \"featureFlags.beta\" in /etc/web/config.yaml"
            ),
            ("log/1", "error", "exit status 2"),
            ("log/2", "info", "listening on :8080"),
            ("log/3", "info", "GET /livez 200"),
        ]
    );
    assert_eq!(got.items[0].pod.as_deref(), Some("web-6f9c7b8d4-q7w4z"));
    assert_eq!(got.items[0].container.as_deref(), Some("web"));
    assert_eq!(got.dropped_items, 0);
}

#[tokio::test]
async fn a_100k_line_answer_is_read_only_up_to_the_cap() {
    let server = MockServer::start().await;
    let line = text("victorialogs/query-web-errors.jsonl")
        .lines()
        .next()
        .unwrap()
        .to_owned();
    let body: String = format!("{line}\n").repeat(100_000);
    mount(&server, Part::Problems, "101", jsonl(body), 1).await;
    mount(&server, Part::Rest, "1", jsonl(String::new()), 0).await;
    let caps = Caps {
        log_lines: 100,
        ..Caps::default()
    };
    let got = source(&server)
        .logs(&web(), &window(), &caps)
        .await
        .unwrap();
    assert_eq!(got.items.len(), 100);
    assert!(
        got.dropped_items >= 1,
        "the lines beyond the cap are counted"
    );
    assert!(
        got.dropped_items < 100_000,
        "reading stopped early: {}",
        got.dropped_items
    );
}

#[tokio::test]
async fn a_query_error_fails_with_the_server_message() {
    let server = MockServer::start().await;
    let bad = ResponseTemplate::new(400).set_body_raw(
        text("victorialogs/query-bad.txt"),
        "text/plain; charset=utf-8",
    );
    mount(&server, Part::Problems, "501", bad, 1).await;
    let err = source(&server)
        .logs(&web(), &window(), &Caps::default())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("VictoriaLogs answered 400 Bad Request: cannot parse query"),
        "{message}"
    );
    assert!(!shared::Classify::is_retryable(&err));
}

#[tokio::test]
async fn queries_carry_the_configured_tenant_headers() {
    let server = MockServer::start().await;
    // Tenant ids generated per run, so no fixed value can match by accident.
    let id = uuid::Uuid::new_v4();
    let b = id.as_bytes();
    let account = u32::from_le_bytes([b[0], b[1], b[2], 1]);
    let project = u32::from_le_bytes([b[3], b[4], b[5], 1]);
    Mock::given(method("POST"))
        .and(path("/select/logsql/query"))
        .and(header("AccountID", account.to_string()))
        .and(header("ProjectID", project.to_string()))
        .respond_with(jsonl(text("victorialogs/query-web-errors.jsonl")))
        .expect(2)
        .mount(&server)
        .await;
    let endpoint = Endpoint::parse(&server.uri())
        .unwrap()
        .with_tenant(Some(account), Some(project));
    let source = VictoriaLogs::new(
        &endpoint,
        LogSchema::vector(),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let got = source
        .logs(&web(), &window(), &Caps::default())
        .await
        .unwrap();
    assert!(!got.items.is_empty(), "the tenant's lines were read");
}
