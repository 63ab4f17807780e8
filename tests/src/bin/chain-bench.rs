//! Request → committed report with every backend answering at once: a catalog, a
//! Kubernetes API, VictoriaLogs and an OpenAI-shaped LLM on wiremock, a local store and
//! a local git repository. Runs the same acceptance and runner `aiops rca --request`
//! uses, `RUNS` times (default 25), and prints wall-time percentiles and the process's
//! peak memory. With `--cold-start PATH` it also measures `rca-api --listen` from
//! process start to the first `/healthz` answer, `RUNS` times.
//!
//! `cargo build --profile bench -p rca-api -p aiops-tests --bin chain-bench &&
//!  target/release/chain-bench --cold-start target/release/rca-api`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiops_tests::kube_api::data;
use serde_json::json;
use shared::chain::accept::{AcceptOptions, Acceptor, Caller};
use shared::chain::{RcaRequest, Runner, RunnerConfig};
use shared::clock::{SharedClock, SystemClock};
use shared::config::{Env, MapEnv};
use shared::run::RunStatus;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn mount(server: &MockServer, route: &str, body: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path(route.to_owned()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

fn empty(kind: &str) -> serde_json::Value {
    json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []})
}

async fn backends() -> (MockServer, MockServer, MockServer, MockServer) {
    let catalog = MockServer::start().await;
    mount(
        &catalog,
        "/api/catalog/entities/by-name/component/default/web",
        data("backstage/entity-by-name.json"),
    )
    .await;
    let kube = MockServer::start().await;
    mount(
        &kube,
        "/api/v1/namespaces/web-dev/pods",
        data("kubernetes/pods-web.json"),
    )
    .await;
    mount(
        &kube,
        "/apis/apps/v1/namespaces/web-dev/replicasets",
        data("kubernetes/replicasets-web.json"),
    )
    .await;
    mount(
        &kube,
        "/apis/apps/v1/namespaces/web-dev/deployments",
        json!({"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": {}, "items": [data("kubernetes/deployment-web.json")]}),
    )
    .await;
    mount(
        &kube,
        "/api/v1/namespaces/web-dev/events",
        data("kubernetes/events-web-pod.json"),
    )
    .await;
    // Everything else the collector may read answers an empty list at once.
    Mock::given(method("GET"))
        .and(path_regex(".*"))
        .respond_with(ResponseTemplate::new(200).set_body_json(empty("List")))
        .with_priority(10)
        .mount(&kube)
        .await;
    let logs = MockServer::start().await;
    aiops_tests::chain_rig::mount_victorialogs(&logs).await;
    let llm = MockServer::start().await;
    aiops_tests::chain_rig::mount_llm_answer(&llm).await;
    (catalog, kube, logs, llm)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{label}: n={} median {:.1} ms, p90 {:.1} ms, min {:.1} ms, max {:.1} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.9).as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
}

fn cold_start(binary: &str, dir: &std::path::Path, runs: usize) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(binary)
            .args(["--listen", "127.0.0.1:0"])
            .env_clear()
            .env(
                "PATH",
                shared::config::ProcessEnv.get("PATH").unwrap_or_default(),
            )
            .env("AIOPS_STORE", dir.join("cold-store"))
            .env("AIOPS_REPORT_DIR", dir.join("cold-reports"))
            .env("AIOPS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("rca-api starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the listening line");
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut stream = TcpStream::connect(&addr).expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        times.push(started.elapsed());
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let _ = child.kill();
        let _ = child.wait();
    }
    times
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = shared::config::ProcessEnv
        .get("RUNS")
        .and_then(|r| r.parse().ok())
        .unwrap_or(25);
    let dir = tempfile::tempdir().expect("tmp");
    let (catalog, kube, logs, llm) = backends().await;
    let env: MapEnv = [
        (
            "AIOPS_STORE",
            dir.path().join("store").to_string_lossy().into_owned(),
        ),
        (
            "AIOPS_REPORT_DIR",
            dir.path().join("reports").to_string_lossy().into_owned(),
        ),
        ("AIOPS_BACKSTAGE_URL", catalog.uri()),
        ("AIOPS_BACKSTAGE_TOKEN", "bench".into()),
        ("AIOPS_VICTORIALOGS_URL", logs.uri()),
        (
            "AIOPS_CLUSTERS",
            json!({"dev": {"url": kube.uri()}}).to_string(),
        ),
        ("AIOPS_LLM_PROVIDER", "openai".into()),
        ("AIOPS_LLM_URL", format!("{}/v1", llm.uri())),
        ("AIOPS_LLM_MODEL", "gpt-4.1-mini".into()),
        ("AIOPS_LLM_RPM", "100000".into()),
        ("AIOPS_LOG", "warn".into()),
    ]
    .into_iter()
    .collect();
    let clock: SharedClock = Arc::new(SystemClock);
    let config = RunnerConfig::from_env(&env).expect("config");
    let ledger = config.ledger(clock.clone()).await.expect("ledger");
    let steps = aiops_chain::InProcessSteps::from_env(&env)
        .await
        .expect("steps");
    let redactor = Arc::new(shared::redact::Redactor::default());
    let runner = Runner::new(
        ledger.clone(),
        Arc::new(steps),
        config.retry,
        redactor.clone(),
        "bench",
    );
    let acceptor = acceptor(&env, redactor, clock, ledger);
    let mut times = Vec::new();
    for i in 0..=runs {
        let request = RcaRequest {
            entity: "component:default/web".into(),
            cluster: Some("dev".into()),
            namespace: Some("web-dev".into()),
            since: "2026-11-26T03:00:00Z".into(),
            until: Some("2026-11-26T06:00:00Z".into()),
            idempotency_key: None,
        };
        let started = Instant::now();
        let accepted = acceptor
            .accept(
                request,
                &Caller::Operator("local:bench".into()),
                AcceptOptions::default(),
            )
            .await
            .expect("accepted");
        let record = runner.run(&accepted.record.id).await.expect("ran");
        let elapsed = started.elapsed();
        assert_eq!(record.status, RunStatus::Succeeded, "{record:#?}");
        // The first run pays for warming caches and creating the repository.
        if i > 0 {
            times.push(elapsed);
        }
    }
    report("request → committed report (in process)", times);
    println!(
        "peak RSS of the whole process (incl. the mock servers): {} KiB",
        peak_rss_kib()
    );
    if let Some(pos) = args.iter().position(|a| a == "--cold-start") {
        let binary = args.get(pos + 1).expect("--cold-start PATH");
        report(
            "rca-api cold start → first /healthz",
            cold_start(binary, dir.path(), runs),
        );
    }
}

/// The acceptor of the bench's requests (no namespace label lookups: the bench measures
/// the chain).
fn acceptor(
    env: &MapEnv,
    redactor: Arc<shared::redact::Redactor>,
    clock: SharedClock,
    ledger: shared::ledger::Ledger,
) -> Acceptor {
    let audit = shared::audit::AuditLogger::new(
        &shared::audit::AuditConfig::from_env(env).expect("audit"),
        redactor,
        clock.clone(),
    )
    .expect("audit logger");
    Acceptor::new(
        &shared::identity::IdentityConfig::from_env(env).expect("identity"),
        shared::policy::Policy::from_env(env).expect("policy"),
        audit,
        clock,
        None,
        ledger,
        Some("dev".into()),
        "bench",
        Arc::new(shared::policy::NoLabels),
    )
    .expect("acceptor")
}
