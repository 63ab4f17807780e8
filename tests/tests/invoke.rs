//! The shared invocation layer: `--event FILE|-` locally with the contract's exit codes,
//! and the Lambda runtime API when `AWS_LAMBDA_RUNTIME_API` is set.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use aiops_tests::probe::handle;
use serde_json::{Value, json};
use shared::invoke::run_local;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Run {
    code: u8,
    stdout: String,
    stderr: String,
}

async fn run(args: &[&str], stdin: &str) -> Run {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_local(
        "probe",
        &args,
        &mut stdin.as_bytes(),
        &mut out,
        &mut err,
        handle,
    )
    .await;
    Run {
        code,
        stdout: String::from_utf8(out).expect("utf-8"),
        stderr: String::from_utf8(err).expect("utf-8"),
    }
}

#[tokio::test]
async fn a_handled_event_prints_the_response_json_and_exits_0() {
    let r = run(&["--event", "-"], r#"{"name": "jane"}"#).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: Value = serde_json::from_str(&r.stdout).expect("stdout is JSON");
    assert_eq!(out, json!({"greeting": "hello, jane"}));
    assert!(r.stderr.is_empty());
}

#[tokio::test]
async fn an_event_file_is_read_from_disk() {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(br#"{"name": "file"}"#).expect("write");
    let path = file.path().to_str().expect("utf-8 path");
    let r = run(&["--event", path], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("hello, file"));
}

#[tokio::test]
async fn a_missing_field_exits_2_naming_the_field() {
    let r = run(&["--event", "-"], r#"{"nmae": "typo"}"#).await;
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1, "one line: {}", r.stderr);
    assert!(r.stderr.contains("event"), "{}", r.stderr);
    assert!(r.stderr.contains("nmae"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[tokio::test]
async fn a_wrongly_typed_field_exits_2_with_its_path() {
    let r = run(&["--event", "-"], r#"{"name": 42}"#).await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("event.name:"), "{}", r.stderr);
    assert!(r.stderr.contains("expected a string"), "{}", r.stderr);
}

#[tokio::test]
async fn invalid_json_exits_2_saying_where_it_came_from() {
    let r = run(&["--event", "-"], "{not json").await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--event stdin"), "{}", r.stderr);
    assert!(r.stderr.contains("invalid JSON"), "{}", r.stderr);
}

#[tokio::test]
async fn a_missing_event_file_exits_2_naming_the_path() {
    let r = run(&["--event", "/nonexistent/event.json"], "").await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent/event.json"), "{}", r.stderr);
}

#[tokio::test]
async fn handler_errors_map_to_the_contract_exit_codes() {
    let invalid = run(&["--event", "-"], r#"{"name": "x", "fail": "invalid"}"#).await;
    assert_eq!(invalid.code, 2);
    assert!(
        invalid.stderr.contains("name: expected"),
        "{}",
        invalid.stderr
    );
    let down = run(&["--event", "-"], r#"{"name": "x", "fail": "dependency"}"#).await;
    assert_eq!(down.code, 1);
    assert!(down.stderr.contains("greeting service is down"));
}

#[tokio::test]
async fn usage_errors_exit_2_and_help_exits_0() {
    let r = run(&[], "").await;
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--event is required"));
    let r = run(&["--help"], "").await;
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("usage: probe --event FILE|-"));
}

#[test]
fn the_binary_reads_stdin_and_prints_json() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_invoke-probe"))
        .args(["--event", "-"])
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(br#"{"name": "binary"}"#)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["greeting"], "hello, binary");
}

const RUNTIME: &str = "/2018-06-01/runtime/invocation";

/// Serves one invocation through a runtime API shaped like Lambda's; returns the request
/// the function posted back (to `/response` or `/error`).
async fn invoke_via_runtime_api(event: Value, reply: &str) -> wiremock::Request {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{RUNTIME}/next")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("lambda-runtime-aws-request-id", "req-1")
                .insert_header("lambda-runtime-deadline-ms", "4102444800000")
                .insert_header(
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:eu-west-1:123456789012:function:probe",
                )
                .insert_header(
                    "lambda-runtime-trace-id",
                    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700",
                )
                .set_body_json(event),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // Later polls wait, as the real API does between invocations.
    Mock::given(method("GET"))
        .and(path(format!("{RUNTIME}/next")))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{RUNTIME}/req-1/{reply}")))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "OK"})))
        .expect(1)
        .mount(&server)
        .await;

    let address = server.address().to_string();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_invoke-probe"))
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "probe")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "stream")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "group")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the probe in Lambda mode");

    let posted = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let requests = server.received_requests().await.unwrap_or_default();
            if let Some(r) = requests.into_iter().find(|r| r.method.as_str() == "POST") {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the function posted its result to the runtime API");
    child.kill().await.expect("stop the probe");
    posted
}

#[tokio::test]
async fn lambda_mode_posts_the_response_to_the_runtime_api() {
    let posted = invoke_via_runtime_api(json!({"name": "lambda"}), "response").await;
    assert_eq!(posted.url.path(), format!("{RUNTIME}/req-1/response"));
    let body: Value = serde_json::from_slice(&posted.body).expect("JSON body");
    assert_eq!(body, json!({"greeting": "hello, lambda"}));
}

#[tokio::test]
async fn lambda_mode_reports_invalid_input_as_a_typed_error() {
    let posted = invoke_via_runtime_api(json!({"name": 7}), "error").await;
    assert_eq!(posted.url.path(), format!("{RUNTIME}/req-1/error"));
    let body: Value = serde_json::from_slice(&posted.body).expect("JSON body");
    assert_eq!(body["errorType"], "NonRetryable.InvalidInput");
    assert!(
        body["errorMessage"]
            .as_str()
            .is_some_and(|m| m.starts_with("event.name:")),
        "{body}"
    );
}

#[tokio::test]
async fn lambda_mode_reports_dependency_failures_as_retryable() {
    let posted = invoke_via_runtime_api(json!({"name": "x", "fail": "dependency"}), "error").await;
    let body: Value = serde_json::from_slice(&posted.body).expect("JSON body");
    assert_eq!(body["errorType"], "Retryable.DependencyFailed");
    assert_eq!(body["errorMessage"], "the greeting service is down");
}

#[tokio::test]
async fn lambda_mode_reports_a_permanent_dependency_failure_as_non_retryable() {
    let posted = invoke_via_runtime_api(json!({"name": "x", "fail": "refused"}), "error").await;
    let body: Value = serde_json::from_slice(&posted.body).expect("JSON body");
    assert_eq!(body["errorType"], "NonRetryable.DependencyFailed");
    assert_eq!(
        body["errorMessage"],
        "the greeting service refused the name"
    );
}
