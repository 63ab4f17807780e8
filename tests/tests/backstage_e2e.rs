//! The `rca:analyze` template end to end in a real Backstage (tests/backstage, started by
//! `scripts/test`): real user tokens from its auth backend, the real scaffolder running
//! infra/backstage/template.yaml, the real proxy forwarding the token to rca-api, which
//! these tests serve on the address the proxy route targets. rca-api trusts Backstage's
//! real JWKS and runs the chain in process against the real catalog, a Kubernetes API
//! and VictoriaLogs shaped like the real ones, an OpenAI-shaped LLM and a local git
//! repository.
#![allow(clippy::unwrap_used)]

use aiops_tests::git::git;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use aiops_tests::backstage_app::{Backstage, UserToken, jwt_part};
use aiops_tests::chain_rig::{self, Backends, Llm};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use rca_api::starter::InProcess;
use rca_api::{Context, app};
use serde_json::{Value, json};
use shared::clock::{ManualClock, SharedClock, SystemClock};
use shared::config::MapEnv;
use tower::ServiceExt;

const JANE: &str = "user:default/jane";
const MALLORY: &str = "user:default/mallory";
const WEB: &str = "group:default/web";
const TEMPLATE: &str = "template:default/rca-analyze";
/// The test catalog's copy of the template without the explicit Authorization header.
const PLUGIN_TOKEN_TEMPLATE: &str = "template:default/rca-analyze-plugin-token";
/// Inside the time of the recorded Kubernetes events and VictoriaLogs lines.
const SINCE: &str = "2026-11-26T03:00:00Z";

/// One address for every test of this binary (the proxy route's target): a test holds
/// it while its rca-api listens.
static LISTEN_ADDR: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Api {
    ctx: Arc<Context>,
    starter: Arc<InProcess>,
}

async fn api(env: &MapEnv, clock: SharedClock) -> Api {
    let (ctx, starter) = chain_rig::rca_api(env, clock).await;
    Api { ctx, starter }
}

/// The chain's configuration trusting this Backstage's user tokens, with status links
/// through its proxy route.
fn env(backends: &Backends, backstage: &Backstage) -> MapEnv {
    backends.env(&[
        ("AIOPS_TRUSTED_ISSUERS", backstage.trusted_issuers()),
        (
            "AIOPS_PUBLIC_URL",
            format!("{}/api/proxy/aiops", backstage.url()),
        ),
    ])
}

impl Api {
    /// Calls the router directly (no proxy), as the holder of `token`.
    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = app(self.ctx.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Serves the router where the Backstage proxy route points, recording the bearer
    /// token of every request it receives.
    async fn listen(&self) -> Listening {
        let turn = LISTEN_ADDR.lock().await;
        let addr = aiops_tests::services::rca_api_listen_addr();
        // A test that panicked may leave its listener open for a moment longer.
        let deadline = Instant::now() + Duration::from_secs(30);
        let listener = loop {
            match tokio::net::TcpListener::bind(&addr).await {
                Ok(listener) => break listener,
                Err(e) => {
                    assert!(Instant::now() < deadline, "cannot listen on {addr}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let record = seen.clone();
        let router: Router = app(self.ctx.clone()).layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let record = record.clone();
                async move {
                    if let Some(token) = request
                        .headers()
                        .get(header::AUTHORIZATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("Bearer "))
                    {
                        record.lock().unwrap().push(token.to_owned());
                    }
                    next.run(request).await
                }
            },
        ));
        let server = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Listening {
            server,
            seen,
            _turn: turn,
        }
    }
}

struct Listening {
    server: tokio::task::JoinHandle<()>,
    seen: Arc<StdMutex<Vec<String>>>,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Listening {
    /// The bearer tokens rca-api received, in order.
    fn tokens(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Closes the listener before the next test may bind the address.
    async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
    }
}

fn ent(token: &UserToken) -> Vec<String> {
    token.claims["ent"]
        .as_array()
        .unwrap_or_else(|| panic!("no ent claim: {:?}", token.claims))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

fn no_runs(backends: &Backends) -> bool {
    std::fs::read_dir(backends.store_dir().join("runs")).map_or(true, |mut d| d.next().is_none())
}

/// The JSON body rca-api answered, as Roadie's action logs it: parsed when it came as
/// `application/json`, else as text in `{"message": ...}` (problem details come as
/// `application/problem+json`).
fn logged_body(task: &aiops_tests::backstage_app::Task, status: u16) -> Value {
    let marker = format!("Status code: {status} Response body: ");
    let log = task.log();
    let at = log
        .find(&marker)
        .unwrap_or_else(|| panic!("no {status} in the task log:\n{log}"));
    let rest = &log[at + marker.len()..];
    let line = rest.lines().next().unwrap_or_default();
    let body: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("the logged body is no JSON ({e}): {line}"));
    match body["message"].as_str().map(serde_json::from_str::<Value>) {
        Some(Ok(inner)) => inner,
        _ => body,
    }
}

#[tokio::test]
async fn the_template_run_by_an_owner_goes_through_the_proxy_to_a_succeeded_run_and_a_committed_report()
 {
    let backstage = Backstage::from_env();
    let jane = backstage.sign_in("guest").await;
    assert_eq!(jane.header["typ"], "vnd.backstage.user");
    assert_eq!(jane.claims["sub"], JANE);
    let groups = ent(&jane);
    assert!(
        groups.contains(&JANE.to_owned()) && groups.contains(&WEB.to_owned()),
        "ent holds jane's catalog group: {groups:?}"
    );
    let backends = Backends::start(Llm::Answers, true).await;
    let api = api(&env(&backends, &backstage), Arc::new(SystemClock)).await;
    let server = api.listen().await;

    let id = backstage
        .create_task(
            &jane.token,
            TEMPLATE,
            json!({"entity": "component:default/web", "since": SINCE}),
        )
        .await;
    let task = backstage.wait_for_task(&jane.token, &id).await;
    assert_eq!(task.status, "completed", "{}", task.log());
    let output = task.output();
    let run_id = output["run_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no run id in the template output: {output:#}"))
        .to_owned();
    assert!(uuid::Uuid::parse_str(&run_id).is_ok(), "{run_id}");
    let status_url = format!("{}/api/proxy/aiops/v1/rca/{run_id}", backstage.url());
    assert_eq!(output["status_url"], status_url.as_str(), "{output:#}");
    assert!(
        output["links"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["url"] == status_url.as_str()),
        "the status link: {output:#}"
    );
    assert!(
        ["queued", "running", "succeeded"].contains(&output["status"].as_str().unwrap_or("")),
        "the template read the run: {output:#}"
    );
    let received = server.tokens();
    assert!(
        received.len() == 2 && received.iter().all(|t| *t == jane.token),
        "the proxy forwarded jane's own token, unchanged, on both steps; got {} call(s), \
         headers {:?}",
        received.len(),
        received.iter().map(|t| jwt_part(t, 0)).collect::<Vec<_>>()
    );

    api.starter.drain().await;
    // The link the template shows, followed as jane through the proxy.
    let (status, record) = backstage
        .via_proxy(&jane.token, &format!("/v1/rca/{run_id}"))
        .await;
    server.stop().await;
    assert_eq!(status, 200, "{record}");
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(record["requested_by"], JANE);
    assert_eq!(record["decision"]["reason"], "owner");
    assert_eq!(
        record["request"]["namespace"], "web-dev",
        "from the entity's annotation in the real catalog"
    );
    assert_eq!(
        record["request"]["idempotency_key"],
        id.as_str(),
        "the task id"
    );

    let reports = backends.reports_dir();
    let commit = record["report"]["commit"].as_str().unwrap();
    let path = record["report"]["path"].as_str().unwrap();
    assert_eq!(git(&reports, &["cat-file", "-t", commit]).trim(), "commit");
    let files = git(&reports, &["show", "--name-only", "--format=", commit]);
    assert!(
        files.lines().any(|f| f == path),
        "commit {commit} adds {path}: {files}"
    );
    let report = git(&reports, &["show", &format!("{commit}:{path}")]);
    assert!(report.contains(&run_id), "{report}");
    assert!(
        report.contains("--listen-port"),
        "the LLM's root cause is in the report:\n{report}"
    );
}

#[tokio::test]
async fn the_template_run_by_a_non_owner_fails_with_the_403_reason_in_the_task_log_and_an_audit_record()
 {
    let backstage = Backstage::from_env();
    let mallory = backstage.sign_in("other-guest").await;
    assert_eq!(mallory.claims["sub"], MALLORY);
    assert!(
        ent(&mallory).contains(&"group:default/payments".to_owned()),
        "{:?}",
        mallory.claims
    );
    let backends = Backends::start(Llm::None, false).await;
    let api = api(&env(&backends, &backstage), Arc::new(SystemClock)).await;
    let server = api.listen().await;

    let id = backstage
        .create_task(
            &mallory.token,
            TEMPLATE,
            json!({"entity": "component:default/web", "since": SINCE}),
        )
        .await;
    let task = backstage.wait_for_task(&mallory.token, &id).await;
    let received = server.tokens();
    assert!(
        received.len() == 1 && received[0] == mallory.token,
        "one call, with mallory's own token; got {} call(s), headers {:?}",
        received.len(),
        received.iter().map(|t| jwt_part(t, 0)).collect::<Vec<_>>()
    );
    server.stop().await;

    assert_eq!(task.status, "failed", "{}", task.log());
    let decision = logged_body(&task, 403);
    assert_eq!(decision["allowed"], false, "{decision}");
    assert_eq!(decision["reason"], "not_owner");
    assert_eq!(decision["owner"], WEB);
    assert_eq!(decision["principal"], MALLORY);
    assert!(
        task.log().contains("Skipping step run-status"),
        "{}",
        task.log()
    );

    let audits = backends.audit_records().await;
    let denial = audits
        .iter()
        .find(|a| a["actor"]["actorId"] == MALLORY)
        .unwrap_or_else(|| panic!("no audit record for the denial: {audits:#?}"));
    assert_eq!(denial["decision"], "deny");
    assert_eq!(denial["reason"], "not_owner");
    assert_eq!(denial["resource"]["namespace"], "web-dev");
    assert_eq!(denial["audit_id"], decision["audit_id"]);
    assert!(no_runs(&backends), "a refused request starts no run");
}

#[tokio::test]
async fn rca_api_accepts_a_real_user_token_and_refuses_it_with_a_changed_signature_or_once_expired()
{
    let backstage = Backstage::from_env();
    let jane = backstage.sign_in("guest").await;
    let backends = Backends::start(Llm::Answers, true).await;
    let clock = ManualClock::at_millis(chrono::Utc::now().timestamp_millis());
    let api = api(&env(&backends, &backstage), Arc::new(clock.clone())).await;
    let body = json!({"entity": "component:default/web", "since": SINCE,
                      "idempotency_key": uuid::Uuid::new_v4().to_string()});

    let (status, accepted) = api
        .call("POST", "/v1/rca", &jane.token, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run_id = accepted["run_id"].as_str().unwrap().to_owned();
    api.starter.drain().await;
    let (status, record) = api
        .call("GET", &format!("/v1/rca/{run_id}"), &jane.token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["requested_by"], JANE);

    // One character inside the signature changed (not the last one, whose low bits
    // are padding a decoder may ignore).
    let at = jane.token.rfind('.').unwrap() + 10;
    let mut forged = jane.token.clone().into_bytes();
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_ne!(jwt_part(&forged, 1), Value::Null, "the claims still decode");
    let (status, refused) = api
        .call("POST", "/v1/rca", &forged, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["reason"], "invalid_token");

    // Backstage's shortest token lifetime is 10 minutes, so the clock moves instead:
    // still valid just inside the leeway, refused just past it.
    let exp_ms = jane.claims["exp"].as_i64().unwrap() * 1000;
    let leeway_ms = i64::try_from(shared::identity::DEFAULT_LEEWAY.as_millis()).unwrap();
    clock.set_millis(exp_ms + leeway_ms - 1000);
    let (status, record) = api
        .call("GET", &format!("/v1/rca/{run_id}"), &jane.token, None)
        .await;
    assert_eq!(status, StatusCode::OK, "not yet expired: {record}");
    clock.set_millis(exp_ms + leeway_ms + 1000);
    let (status, refused) = api.call("POST", "/v1/rca", &jane.token, Some(body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["reason"], "expired_token");
    let (status, refused) = api
        .call("GET", &format!("/v1/rca/{run_id}"), &jane.token, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_eq!(refused["reason"], "expired_token");
}

#[tokio::test]
async fn rca_api_refuses_the_plugin_token_roadies_action_sends_without_the_users_own_token() {
    let backstage = Backstage::from_env();
    let jane = backstage.sign_in("guest").await;
    let backends = Backends::start(Llm::None, false).await;
    let api = api(&env(&backends, &backstage), Arc::new(SystemClock)).await;
    let server = api.listen().await;

    let id = backstage
        .create_task(
            &jane.token,
            PLUGIN_TOKEN_TEMPLATE,
            json!({"entity": "component:default/web", "since": SINCE}),
        )
        .await;
    let task = backstage.wait_for_task(&jane.token, &id).await;
    let received = server.tokens();
    server.stop().await;

    assert_eq!(received.len(), 1, "one call reached rca-api");
    let plugin_token = &received[0];
    let header = jwt_part(plugin_token, 0);
    let claims = jwt_part(plugin_token, 1);
    assert_eq!(
        header["typ"], "vnd.backstage.plugin",
        "Backstage sent a plugin token, not jane's: {header} {claims}"
    );
    assert_ne!(plugin_token, &jane.token);

    assert_eq!(
        claims["sub"], "scaffolder",
        "signed by the scaffolder plugin: {claims}"
    );
    assert_eq!(
        claims.get("iss"),
        None,
        "plugin tokens name no issuer: {claims}"
    );

    assert_eq!(task.status, "failed", "{}", task.log());
    let problem = logged_body(&task, 401);
    assert_eq!(problem["status"], 401, "{problem}");
    assert_eq!(problem["reason"], "untrusted_issuer", "{problem}");
    // The same token straight to rca-api, and the limited user token it carries on
    // jane's behalf (`obo`: signed by the auth backend's key, but without `iss`, `aud`
    // or `ent`): both refused without Backstage in between.
    let limited = claims["obo"].as_str().unwrap().to_owned();
    assert_eq!(
        jwt_part(&limited, 0)["typ"],
        "vnd.backstage.limited-user",
        "{limited}"
    );
    assert_eq!(jwt_part(&limited, 1)["sub"], JANE);
    for token in [plugin_token.as_str(), limited.as_str()] {
        let (status, refused) = api
            .call(
                "POST",
                "/v1/rca",
                token,
                Some(json!({"entity": "component:default/web", "since": SINCE})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
        assert_eq!(refused["reason"], "untrusted_issuer", "{refused}");
    }
    assert!(no_runs(&backends), "a refused token starts no run");
}
