//! The request path end to end: a signed user token → rca-api (the router, no socket) →
//! the chain in process against the real Backstage catalog, a Kubernetes API and
//! VictoriaLogs shaped like the real ones, an OpenAI-shaped LLM and a local git
//! repository (or a GitHub API that is down).
#![allow(clippy::unwrap_used)]

use aiops_tests::git::git;
use std::sync::Arc;

use aiops_tests::chain_rig::{Backends, Llm, web_request};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use rca_api::starter::InProcess;
use rca_api::{Config, Context, app};
use serde_json::{Value, json};
use shared::chain::Runner;
use shared::clock::{SharedClock, SystemClock};
use shared::config::MapEnv;
use shared::redact::Redactor;
use tower::ServiceExt;

const JANE: &str = "user:default/jane";
const WEB: &str = "group:default/web";

struct Api {
    ctx: Arc<Context>,
    starter: Arc<InProcess>,
}

async fn api(env: &MapEnv) -> Api {
    let config = Config::from_env(env).unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    let redactor = Arc::new(Redactor::from_env(env).unwrap());
    let ledger = config.runner.ledger(clock.clone()).await.unwrap();
    let steps = aiops_chain::InProcessSteps::from_env(env).await.unwrap();
    let runner = Runner::new(
        ledger.clone(),
        Arc::new(steps),
        config.runner.retry,
        redactor.clone(),
        "test",
    );
    let starter = Arc::new(InProcess::new(runner));
    let ctx = Context::new(config, clock, ledger, starter.clone(), redactor).unwrap();
    Api {
        ctx: Arc::new(ctx),
        starter,
    }
}

impl Api {
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let response = app(self.ctx.clone())
            .oneshot(
                request
                    .header("content-type", "application/json")
                    .body(body)
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn post(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", "/v1/rca", Some(token), Some(body)).await
    }

    /// Posts `web_request()` as `token`, waits for the run to end and returns its record
    /// as that user reads it.
    async fn run_web(&self, token: &str) -> Value {
        let (status, accepted) = self.post(token, web_request()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        let run_id = accepted["run_id"].as_str().unwrap();
        self.starter.drain().await;
        let (status, record) = self.get(token, run_id).await;
        assert_eq!(status, StatusCode::OK, "{record}");
        record
    }

    async fn get(&self, token: &str, id: &str) -> (StatusCode, Value) {
        self.call("GET", &format!("/v1/rca/{id}"), Some(token), None)
            .await
    }
}

/// The chain's configuration with reports going to `acme/rca` on `github`, with a token
/// generated for this run.
fn github_env(backends: &Backends, github: &wiremock::MockServer) -> MapEnv {
    backends.env(&[
        ("AIOPS_GITHUB_REPO", "acme/rca".into()),
        ("AIOPS_GITHUB_BRANCH", "main".into()),
        (
            "AIOPS_GITHUB_TOKEN",
            format!("ghp_{}", uuid::Uuid::new_v4().simple()),
        ),
        ("AIOPS_GITHUB_API_URL", github.uri()),
    ])
}

#[tokio::test]
async fn a_request_becomes_a_committed_report_and_a_succeeded_run() {
    let backends = Backends::start(Llm::Answers, true).await;
    let api = api(&backends.env(&[])).await;
    let jane = backends.token(JANE, &[WEB]);

    let (status, accepted) = api.post(&jane, web_request()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    assert_eq!(accepted["status_url"], format!("/v1/rca/{run_id}"));
    api.starter.drain().await;

    let (status, record) = api.get(&jane, &run_id).await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(record["requested_by"], JANE);
    assert_eq!(record["preliminary"], false, "the LLM answered");
    assert_eq!(
        record["request"]["namespace"], "web-dev",
        "from the entity's annotation"
    );
    assert_eq!(
        record["request"]["cluster"], "dev",
        "the configured default"
    );
    assert_eq!(record["decision"]["reason"], "owner");
    let steps: Vec<&str> = record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, shared::chain::STEP_NAMES.to_vec());
    assert!(
        record["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["attempts"] == 1)
    );

    let path = record["report"]["path"].as_str().unwrap();
    let reports = backends.reports_dir();
    assert_eq!(
        record["report"]["commit"].as_str().unwrap(),
        git(&reports, &["rev-parse", "HEAD"]).trim()
    );
    let report = git(&reports, &["show", &format!("HEAD:{path}")]);
    assert!(
        report.contains("--listen-port"),
        "the LLM's root cause is in the report:\n{report}"
    );
    assert!(
        backends
            .store_dir()
            .join(format!("evidence/{run_id}.json"))
            .exists()
    );

    // The chain's policy step decided again, for the principal, and audited it.
    let audits = backends.audit_records().await;
    assert!(
        audits
            .iter()
            .filter(|a| a["actor"]["actorId"] == JANE && a["decision"] == "allow")
            .count()
            >= 2,
        "{audits:#?}"
    );
}

#[tokio::test]
async fn a_user_whose_group_does_not_own_the_namespace_gets_403_and_an_audit_record() {
    let backends = Backends::start(Llm::None, false).await;
    let api = api(&backends.env(&[])).await;
    let mallory = backends.token("user:default/mallory", &["group:default/payments"]);

    let (status, decision) = api.post(&mallory, web_request()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{decision}");
    assert_eq!(decision["allowed"], false);
    assert_eq!(decision["reason"], "not_owner");
    assert_eq!(decision["owner"], WEB);
    let audits = backends.audit_records().await;
    let denial = audits
        .iter()
        .find(|a| a["actor"]["actorId"] == "user:default/mallory")
        .unwrap_or_else(|| panic!("no audit record for the denial: {audits:#?}"));
    assert_eq!(denial["decision"], "deny");
    assert_eq!(denial["audit_id"], decision["audit_id"]);
    assert!(
        std::fs::read_dir(backends.store_dir().join("runs"))
            .map_or(true, |mut d| d.next().is_none()),
        "a refused request starts no run"
    );
}

#[tokio::test]
async fn a_bad_body_is_a_400_problem_naming_the_field() {
    let backends = Backends::start(Llm::None, false).await;
    let api = api(&backends.env(&[])).await;
    let jane = backends.token(JANE, &[WEB]);

    let (status, problem) = api
        .post(
            &jane,
            json!({"entity": "component:default/web", "since": 7}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["field"], "since");
    assert_eq!(problem["status"], 400);
    assert!(
        problem["detail"].as_str().unwrap().starts_with("since: "),
        "{problem}"
    );
    assert!(problem["type"].as_str().is_some() && problem["title"].as_str().is_some());

    let (status, problem) = api
        .post(
            &jane,
            json!({"entity": "component:default/web", "since": "a while"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["field"], "since", "{problem}");

    let (status, problem) = api.post(&jane, json!({"entity": "not a ref!"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(problem["field"], "entity", "{problem}");
}

#[tokio::test]
async fn token_problems_are_401_with_the_reason() {
    let backends = Backends::start(Llm::None, false).await;
    let api = api(&backends.env(&[])).await;
    let (status, body) = api.call("POST", "/v1/rca", None, Some(web_request())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["reason"], "invalid_token");
    // One character in the middle of the signature changed (the last character of a
    // base64url signature carries padding bits a decoder may ignore).
    let token = backends.token(JANE, &[WEB]);
    let at = token.rfind('.').unwrap() + 10;
    let mut forged = token.clone().into_bytes();
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let (status, body) = api.post(&forged, web_request()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["reason"], "invalid_token");
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_run() {
    let backends = Backends::start(Llm::Answers, true).await;
    let api = api(&backends.env(&[])).await;
    let jane = backends.token(JANE, &[WEB]);
    let mut body = web_request();
    body["idempotency_key"] = json!("deploy-4711");

    let (first, accepted) = api.post(&jane, body.clone()).await;
    assert_eq!(first, StatusCode::ACCEPTED);
    let (again, record) = api.post(&jane, body).await;
    assert_eq!(again, StatusCode::OK, "{record}");
    assert_eq!(record["id"], accepted["run_id"]);
    api.starter.drain().await;
    let runs = std::fs::read_dir(backends.store_dir().join("runs"))
        .unwrap()
        .count();
    assert_eq!(runs, 1, "one run for one key");
}

#[tokio::test]
async fn a_stranger_gets_404_and_a_member_of_the_owning_group_reads_the_run() {
    let backends = Backends::start(Llm::Answers, true).await;
    let api = api(&backends.env(&[])).await;
    let jane = backends.token(JANE, &[WEB]);
    let (_, accepted) = api.post(&jane, web_request()).await;
    let run_id = accepted["run_id"].as_str().unwrap();
    api.starter.drain().await;

    let stranger = backends.token("user:default/mallory", &["group:default/payments"]);
    let (status, body) = api.get(&stranger, run_id).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = api
        .get(&stranger, "0193aaaa-0000-7000-8000-000000000000")
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a missing run looks the same"
    );
    let teammate = backends.token("user:default/sam", &[WEB]);
    let (status, record) = api.get(&teammate, run_id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(record["id"], run_id);
}

#[tokio::test]
async fn with_the_llm_down_the_run_succeeds_with_a_preliminary_report() {
    let backends = Backends::start(Llm::Down, true).await;
    let api = api(&backends.env(&[])).await;
    let jane = backends.token(JANE, &[WEB]);
    let record = api.run_web(&jane).await;
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(record["preliminary"], true, "marked for an LLM re-run");
    let report = git(
        &backends.reports_dir(),
        &[
            "show",
            &format!("HEAD:{}", record["report"]["path"].as_str().unwrap()),
        ],
    );
    assert!(report.contains("preliminary: true"), "{report}");
}

#[tokio::test]
async fn a_request_is_committed_to_github_and_the_run_holds_the_commit() {
    let backends = Backends::start(Llm::Answers, true).await;
    let github = wiremock::MockServer::start().await;
    aiops_tests::github_fake::mount(&github, "acme/rca").await;
    let env = github_env(&backends, &github);
    let api = api(&env).await;
    let jane = backends.token(JANE, &[WEB]);
    let record = api.run_web(&jane).await;
    let run_id = record["id"].as_str().unwrap();
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(record["report"]["repo"], "acme/rca");
    assert_eq!(
        record["report"]["commit"],
        aiops_tests::github_fake::NEW_COMMIT
    );
    let blobs = aiops_tests::github_fake::blobs(&github).await;
    let report = blobs
        .iter()
        .find(|b| b.contains(run_id) && b.contains("--listen-port"))
        .unwrap_or_else(|| panic!("no committed report with the LLM's root cause: {blobs:#?}"));
    assert!(report.contains("component:default/web"), "{report}");
}

#[tokio::test]
async fn with_github_down_the_run_fails_at_commit_report_retryable_and_keeps_its_evidence() {
    let backends = Backends::start(Llm::Answers, true).await;
    let github = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(
            wiremock::ResponseTemplate::new(503)
                .set_body_json(json!({"message": "Service Unavailable"})),
        )
        .mount(&github)
        .await;
    let env = github_env(&backends, &github);
    let api = api(&env).await;
    let jane = backends.token(JANE, &[WEB]);
    let record = api.run_web(&jane).await;
    let run_id = record["id"].as_str().unwrap();
    assert_eq!(record["status"], "failed", "{record:#}");
    assert_eq!(record["step"], "commit-report");
    assert_eq!(record["error"]["step"], "commit-report");
    assert_eq!(record["error"]["retryable"], true, "{record:#}");
    assert_eq!(record["attempts"], 2, "AIOPS_STEP_MAX_ATTEMPTS");
    assert!(
        backends
            .store_dir()
            .join(format!("evidence/{run_id}.json"))
            .exists()
    );
    assert!(
        !record.to_string().contains("ghp_"),
        "no token in the record"
    );
}
