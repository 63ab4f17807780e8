//! `aiops rca --request` as a process: the whole chain against local servers, a denial
//! through `--token`, and a run killed with SIGKILL mid-chain that its expired lease
//! turns into a retryable failure the runner then resumes.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiops_tests::chain_rig::{Backends, Llm, web_request};
use serde_json::Value;
use shared::chain::{RetryPolicy, Runner};
use shared::clock::{Clock, ManualClock, SystemClock};
use shared::config::Env as _;
use shared::ledger::Ledger;
use shared::redact::Redactor;
use shared::run::RunStatus;
use shared::store::LocalStore;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

fn aiops(backends: &Backends, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiops"));
    cmd.args(args)
        .current_dir(backends.dir.path())
        .env_clear()
        .env(
            "PATH",
            shared::config::ProcessEnv.get("PATH").unwrap_or_default(),
        )
        .envs(backends.vars())
        .stdin(Stdio::null());
    cmd
}

fn write_request(dir: &Path) -> String {
    let file = dir.join("request.json");
    std::fs::write(&file, web_request().to_string()).unwrap();
    file.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_runs_the_whole_chain_and_prints_the_final_record() {
    let backends = Backends::start(Llm::Answers, true).await;
    let request = write_request(backends.dir.path());
    let out = tokio::task::spawn_blocking({
        let mut cmd = aiops(&backends, &["rca", "--request", &request]);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let record: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(record["requested_by"], "local:jane");
    assert_eq!(record["decision"]["reason"], "local_operator");
    assert_eq!(record["request"]["namespace"], "web-dev");
    assert!(
        record["report"]["commit"]
            .as_str()
            .is_some_and(|c| c.len() == 40)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_whose_groups_do_not_own_the_namespace_is_denied_with_exit_0() {
    let backends = Backends::start(Llm::None, false).await;
    let request = write_request(backends.dir.path());
    let token = backends.token("user:default/mallory", &["group:default/payments"]);
    let out = tokio::task::spawn_blocking({
        let mut cmd = aiops(
            &backends,
            &["rca", "--request", &request, "--token", &token],
        );
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["allowed"], false);
    assert_eq!(decision["reason"], "not_owner");
    let audits = backends.audit_records().await;
    assert!(
        audits
            .iter()
            .any(|a| a["actor"]["actorId"] == "user:default/mallory" && a["decision"] == "deny"),
        "{audits:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_mid_chain_is_recovered_through_its_expired_lease() {
    let backends = Backends::start(Llm::None, true).await;
    // The LLM takes a minute: the process will be in llm-analyze when it is killed.
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_mins(1)))
        .mount(&backends.llm)
        .await;
    let request = write_request(backends.dir.path());
    let mut child = aiops(&backends, &["rca", "--request", &request])
        .env("AIOPS_LLM_TIMEOUT", "2m")
        .env("AIOPS_LLM_DEADLINE", "3m")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Wait (bounded) for the child to reach the analysis step; this watches another
    // process, it does not stand in for time passing.
    let runs = backends.store_dir().join("runs");
    let started = Instant::now();
    let run_id = loop {
        let found = std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(Result::ok);
        if let Some(entry) = found {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if text.contains("\"step\": \"llm-analyze\"") {
                break entry
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
            }
        }
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "the child never reached llm-analyze"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Now, the record still says running; once the lease (2m) has run out it reads as a
    // retryable failure at the step the process died in.
    let store = Arc::new(LocalStore::open(backends.store_dir()).unwrap());
    let clock = ManualClock::at_millis(SystemClock.now_millis());
    let ledger = Ledger::new(store, Arc::new(clock.clone()), Duration::from_mins(2));
    assert_eq!(
        ledger.get(&run_id).await.unwrap().unwrap().status,
        RunStatus::Running
    );
    clock.advance(Duration::from_secs(121));
    let failed = ledger.get(&run_id).await.unwrap().unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.clone().unwrap();
    assert_eq!(error.step.as_deref(), Some("llm-analyze"));
    assert!(error.retryable);

    // The nightly re-run resumes from the failed step with the stored evidence: the
    // Kubernetes API is not asked again (its mocks expect exactly one collection).
    backends.llm.reset().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(aiops_tests::llm::json("openai-chat-completion.json")),
        )
        .mount(&backends.llm)
        .await;
    let env = backends.env(&[]);
    let steps = aiops_chain::InProcessSteps::from_env(&env).await.unwrap();
    let runner = Runner::new(
        ledger,
        Arc::new(steps),
        RetryPolicy::default(),
        Arc::new(Redactor::default()),
        "nightly",
    );
    let resumed = runner.run(&run_id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded, "{resumed:#?}");
    assert!(resumed.report.is_some());
}
