//! The whole request path against local servers: a Backstage-style issuer (JWKS from
//! wiremock, tokens signed with a key generated per run), the real Backstage catalog
//! that `scripts/test` starts, a Kubernetes API and VictoriaLogs served from real
//! answers, an OpenAI-shaped LLM, and a local git repository for reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Value, json};
use shared::clock::{SharedClock, SystemClock};
use shared::config::MapEnv;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::kube_api::{self, Seed};
use crate::testkit::EcKey;

/// The issuer the test tokens name.
pub const ISSUER: &str = "http://127.0.0.1/api/auth";

/// The local servers of one test.
#[derive(Debug)]
pub struct Backends {
    /// JWKS of the test issuer.
    pub jwks: MockServer,
    /// The Kubernetes API.
    pub kube: MockServer,
    /// VictoriaLogs: log queries and audit inserts.
    pub logs: MockServer,
    /// The LLM.
    pub llm: MockServer,
    /// Where store and reports go.
    pub dir: tempfile::TempDir,
    key: KeyHolder,
    api_key: String,
}

struct KeyHolder(EcKey);

impl std::fmt::Debug for KeyHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EcKey(<private>)")
    }
}

/// How the LLM answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Llm {
    /// A valid structured answer.
    Answers,
    /// 500 on every call.
    Down,
    /// No mock at all (the test mounts its own).
    None,
}

impl Backends {
    /// Starts the servers: with `collects`, the `web` workload in `web-dev` (every
    /// Kubernetes call expected exactly once: one collection; without, no call is
    /// expected), VictoriaLogs with the `web` errors, the LLM as asked.
    pub async fn start(llm: Llm, collects: bool) -> Self {
        let key = EcKey::generate(&format!("k-{}", fastrand_id()));
        let jwks = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/auth/.well-known/jwks.json"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(crate::testkit::jwks(&[key.jwk()])),
            )
            .mount(&jwks)
            .await;
        let kube = MockServer::start().await;
        if collects {
            kube_api::mount_web(&kube, &Seed::default()).await;
            kube_api::mount_k8sgpt(&kube, true, 1).await;
        }
        let logs = MockServer::start().await;
        mount_victorialogs(&logs).await;
        let llm_server = MockServer::start().await;
        match llm {
            Llm::Answers => mount_llm_answer(&llm_server).await,
            Llm::Down => {
                Mock::given(method("POST"))
                    .and(path("/v1/chat/completions"))
                    .respond_with(
                        ResponseTemplate::new(500)
                            .set_body_json(crate::llm::json("openai-server-error.json")),
                    )
                    .mount(&llm_server)
                    .await;
            }
            Llm::None => {}
        }
        Self {
            jwks,
            kube,
            logs,
            llm: llm_server,
            dir: tempfile::tempdir().expect("a temporary directory"),
            key: KeyHolder(key),
            api_key: format!("sk-test-{}", fastrand_id()),
        }
    }

    /// The store directory.
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The local report repository.
    pub fn reports_dir(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    /// The configuration every binary of the chain reads, as variables.
    pub fn vars(&self) -> Vec<(String, String)> {
        let (backstage_url, backstage_token) = crate::services::backstage();
        let issuers = json!([{
            "issuer": ISSUER,
            "jwks_url": format!("{}/api/auth/.well-known/jwks.json", self.jwks.uri()),
            "audience": "backstage",
            "kind": "backstage",
        }]);
        [
            ("AIOPS_STORE", path_text(&self.store_dir())),
            ("AIOPS_REPORT_DIR", path_text(&self.reports_dir())),
            ("AIOPS_TRUSTED_ISSUERS", issuers.to_string()),
            ("AIOPS_BACKSTAGE_URL", backstage_url),
            ("AIOPS_BACKSTAGE_TOKEN", backstage_token),
            ("AIOPS_VICTORIALOGS_URL", self.logs.uri()),
            (
                "AIOPS_CLUSTERS",
                json!({"dev": {"url": self.kube.uri()}}).to_string(),
            ),
            ("AIOPS_CLUSTER_NAME", "dev".into()),
            ("AIOPS_LLM_PROVIDER", "openai".into()),
            ("AIOPS_LLM_URL", format!("{}/v1", self.llm.uri())),
            ("AIOPS_LLM_MODEL", "gpt-4.1-mini".into()),
            ("AIOPS_LLM_API_KEY", self.api_key.clone()),
            ("AIOPS_LLM_MAX_ATTEMPTS", "1".into()),
            ("AIOPS_LLM_TIMEOUT", "5s".into()),
            ("AIOPS_AUDIT_FLUSH_TIMEOUT", "2s".into()),
            ("AIOPS_STEP_MAX_ATTEMPTS", "2".into()),
            ("AIOPS_STEP_BACKOFF_BASE", "0ms".into()),
            ("AIOPS_STEP_BACKOFF_MAX", "0ms".into()),
            ("USER", "jane".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// [`Backends::vars`] as an environment, with `extra` on top.
    pub fn env(&self, extra: &[(&str, String)]) -> MapEnv {
        let mut env: MapEnv = self.vars().into_iter().collect();
        for (k, v) in extra {
            env = env.with(k, v.clone());
        }
        env
    }

    /// A Backstage user token for `user` in `groups`, valid for an hour from now.
    pub fn token(&self, user: &str, groups: &[&str]) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut ent: Vec<Value> = vec![json!(user)];
        ent.extend(groups.iter().map(|g| json!(g)));
        self.key.0.sign(
            &json!({"alg": "ES256", "typ": "vnd.backstage.user", "kid": self.key.0.kid}),
            &json!({"iss": ISSUER, "aud": "backstage", "sub": user, "ent": ent,
                    "iat": now, "exp": now + 3600}),
        )
    }

    /// The audit records VictoriaLogs received, one JSON value each.
    pub async fn audit_records(&self) -> Vec<Value> {
        let requests = self.logs.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.url.path() == "/insert/jsonline")
            .flat_map(|r| {
                String::from_utf8_lossy(&r.body)
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

fn path_text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn fastrand_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// VictoriaLogs answering every query with the `web` errors and accepting audit inserts.
pub async fn mount_victorialogs(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/select/logsql/query"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            kube_api::text("victorialogs/query-web-errors.jsonl"),
            "application/stream+json",
        ))
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/insert/jsonline"))
        .respond_with(ResponseTemplate::new(200))
        .mount(server)
        .await;
}

/// An OpenAI-compatible LLM answering every chat completion with a valid RCA.
pub async fn mount_llm_answer(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(crate::llm::json("openai-chat-completion.json")),
        )
        .mount(server)
        .await;
}

/// The request body for the `web` component.
pub fn web_request() -> Value {
    json!({"entity": "component:default/web", "since": "2026-11-26T03:00:00Z",
           "until": "2026-11-26T06:00:00Z"})
}

/// rca-api as its `main` builds it without a state machine (the chain runs in process),
/// with its token checks and audit records on `clock`; the run ledger and the chain keep
/// the system clock. Returns the context and the starter, whose `drain` waits for the
/// runs started so far.
pub async fn rca_api(
    env: &MapEnv,
    clock: SharedClock,
) -> (Arc<rca_api::Context>, Arc<rca_api::starter::InProcess>) {
    let config = rca_api::Config::from_env(env).expect("rca-api's configuration");
    let system: SharedClock = Arc::new(SystemClock);
    let redactor = Arc::new(shared::redact::Redactor::from_env(env).expect("the redactor"));
    let ledger = config.runner.ledger(system).await.expect("the run ledger");
    let steps = aiops_chain::InProcessSteps::from_env(env)
        .await
        .expect("the chain's steps");
    let runner = shared::chain::Runner::new(
        ledger.clone(),
        Arc::new(steps),
        config.runner.retry,
        redactor.clone(),
        "aiops-tests",
    );
    let starter = Arc::new(rca_api::starter::InProcess::new(runner));
    let ctx = rca_api::Context::new(config, clock, ledger, starter.clone(), redactor)
        .expect("rca-api's context");
    (Arc::new(ctx), starter)
}
