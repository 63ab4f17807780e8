//! `aiops rerun-failed` and the nightly job against local servers: retryable failures
//! and expired leases resumed from the failed step, non-retryable runs, runs out of
//! re-runs and runs inside their backoff left alone, preliminary reports re-analysed
//! once the LLM's breaker is closed (the same report file updated), a second pass that
//! does nothing new; `aiops nightly` surviving a job that cannot run; the Lambda's
//! `record-failure` command.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use aiops::nightly::{self, LambdaEvent};
use aiops::rerun::{Action, Rerunner, Skip};
use aiops::{rca, runs};
use aiops_tests::chain_rig::{Backends, Llm, mount_llm_answer};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock, SharedClock, SystemClock};
use shared::config::Env as _;

fn bundle(dir: &Path) -> (String, PathBuf) {
    let text = std::fs::read_to_string(format!(
        "{}/../examples/bundles/crashloop-missing-config.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut bundle: Value = serde_json::from_str(&text).unwrap();
    let id = uuid::Uuid::new_v4().to_string();
    bundle["run_id"] = json!(id);
    let file = dir.join(format!("{id}.json"));
    std::fs::write(&file, bundle.to_string()).unwrap();
    (id, file)
}

/// One `aiops rca --bundle` run in this process; returns the final record.
async fn run_bundle(backends: &Backends) -> Value {
    let (_, file) = bundle(backends.dir.path());
    let env = backends.env(&[]);
    let ctx = rca::Context::from_env(&env, runs::system_clock())
        .await
        .unwrap();
    let args = rca::Args {
        bundle: Some(file),
        request: None,
        token: None,
    };
    let mut out = Vec::new();
    rca::run(&ctx, &args, &mut std::io::empty(), &mut out)
        .await
        .unwrap();
    serde_json::from_slice(&out).unwrap()
}

fn record_path(backends: &Backends, id: &str) -> PathBuf {
    backends.store_dir().join("runs").join(format!("{id}.json"))
}

fn read_record(backends: &Backends, id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(record_path(backends, id)).unwrap()).unwrap()
}

/// Rewrites a stored record as `change` says.
fn rewrite(backends: &Backends, id: &str, change: impl FnOnce(&mut Value)) {
    let mut record = read_record(backends, id);
    change(&mut record);
    std::fs::write(record_path(backends, id), record.to_string()).unwrap();
}

/// The commit-report step undone and the run stopped with `error`.
fn failed_at_commit(record: &mut Value, retryable: bool) {
    record["status"] = json!("failed");
    record["step"] = json!("commit-report");
    record["error"] =
        json!({"step": "commit-report", "message": "GitHub answered 502", "retryable": retryable});
    record["lease"] = Value::Null;
    for step in record["steps"].as_array_mut().unwrap() {
        if step["name"] == "commit-report" {
            step["succeeded"] = json!(false);
            step["error"] = json!("GitHub answered 502");
        }
    }
}

fn write_breaker(backends: &Backends, state: &Value) {
    let dir = backends.store_dir().join("breakers");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("openai.json"), state.to_string()).unwrap();
}

/// A clock two hours on: past the first re-run's backoff of runs made just now.
fn later() -> Arc<ManualClock> {
    Arc::new(ManualClock::at_millis(
        SystemClock.now_millis() + 2 * 3600 * 1000,
    ))
}

async fn rerunner(backends: &Backends, clock: &Arc<ManualClock>) -> Rerunner {
    let shared: SharedClock = clock.clone();
    Rerunner::from_env(&backends.env(&[]), shared)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn retryable_and_lease_expired_runs_resume_and_the_rest_are_left_alone_twice() {
    let backends = Backends::start(Llm::Answers, false).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let record = run_bundle(&backends).await;
        assert_eq!(record["status"], "succeeded", "{record:#}");
        ids.push(record["id"].as_str().unwrap().to_owned());
    }
    let clock = later();
    let now = clock.now();
    let [retryable, not_retryable, used_up, too_soon, expired, denied] = ids.as_slice() else {
        unreachable!()
    };
    rewrite(&backends, retryable, |r| failed_at_commit(r, true));
    rewrite(&backends, not_retryable, |r| failed_at_commit(r, false));
    rewrite(&backends, used_up, |r| {
        failed_at_commit(r, true);
        r["reruns"] = json!(3);
    });
    rewrite(&backends, too_soon, |r| {
        failed_at_commit(r, true);
        let ten_minutes_ago = json!((now - chrono::TimeDelta::minutes(10)).to_rfc3339());
        for step in r["steps"].as_array_mut().unwrap() {
            if step["name"] == "commit-report" {
                step["finished_at"] = ten_minutes_ago.clone();
            }
        }
    });
    // A process that died holding the run: running, its lease ran out a minute ago.
    rewrite(&backends, expired, |r| {
        failed_at_commit(r, true);
        r["status"] = json!("running");
        r["error"] = Value::Null;
        r["lease"] = json!({"owner": "commit-report:dead", "expires_at": (now - chrono::TimeDelta::minutes(1)).to_rfc3339()});
    });
    rewrite(&backends, denied, |r| {
        r["status"] = json!("denied");
        r["error"] = json!({"step": "policy-check", "message": "the policy refused the request: not_owner", "retryable": false});
    });

    let job = rerunner(&backends, &clock).await;
    let summary = job.run(false).await.unwrap();
    let mut taken: Vec<(&str, Action, &str)> = summary
        .taken
        .iter()
        .map(|t| (t.id.as_str(), t.action, t.status.as_str()))
        .collect();
    taken.sort_unstable();
    let mut expected = vec![
        (retryable.as_str(), Action::Resume, "succeeded"),
        (expired.as_str(), Action::Resume, "succeeded"),
    ];
    expected.sort_unstable();
    assert_eq!(taken, expected, "{summary:#?}");
    assert_eq!(summary.skipped.get(&Skip::NotRetryable), Some(&1));
    assert_eq!(summary.skipped.get(&Skip::MaxAttempts), Some(&1));
    assert_eq!(summary.skipped.get(&Skip::Backoff), Some(&1));
    assert_eq!(
        summary.considered, 5,
        "the denied run is not even considered"
    );

    // Resumed from the failed step: evidence and analysis were not redone.
    let record = read_record(&backends, retryable);
    assert_eq!(record["reruns"], 1);
    let steps: Vec<(&str, u64, bool)> = record["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["attempts"].as_u64().unwrap(),
                s["succeeded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(steps.contains(&("commit-report", 2, true)), "{steps:?}");
    assert!(steps.contains(&("llm-analyze", 1, true)), "{steps:?}");
    assert_eq!(read_record(&backends, expired)["status"], "succeeded");
    assert_eq!(read_record(&backends, not_retryable)["status"], "failed");

    // The same night again: nothing new.
    let again = job.run(false).await.unwrap();
    assert!(again.taken.is_empty(), "{again:#?}");
    assert_eq!(again.skipped, summary.skipped);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_preliminary_report_is_reanalysed_in_place_once_the_breaker_is_closed() {
    let backends = Backends::start(Llm::Down, false).await;
    let record = run_bundle(&backends).await;
    assert_eq!(record["preliminary"], true, "{record:#}");
    let id = record["id"].as_str().unwrap().to_owned();
    let report_path = record["report"]["path"].as_str().unwrap().to_owned();
    let first_commit = record["report"]["commit"].as_str().unwrap().to_owned();
    let clock = later();

    // The breaker is open: the LLM is still thought down, so nothing is tried.
    let until = clock.now_millis() + 24 * 3600 * 1000;
    write_breaker(
        &backends,
        &json!({"state": "open", "opened_at": 0, "until": until, "reason": "500"}),
    );
    let job = rerunner(&backends, &clock).await;
    let summary = job.run(false).await.unwrap();
    assert!(summary.taken.is_empty(), "{summary:#?}");
    assert_eq!(summary.skipped.get(&Skip::BreakerNotClosed), Some(&1));

    // The LLM answers again and the breaker closed.
    backends.llm.reset().await;
    mount_llm_answer(&backends.llm).await;
    write_breaker(
        &backends,
        &json!({"state": "closed", "window_start": 0, "calls": 0, "failures": 0, "consecutive_failures": 0}),
    );
    let summary = job.run(false).await.unwrap();
    assert_eq!(summary.taken.len(), 1, "{summary:#?}");
    let taken = &summary.taken[0];
    assert_eq!(
        (taken.action, taken.status.as_str(), taken.preliminary),
        (Action::Reanalyze, "succeeded", false)
    );
    let after = read_record(&backends, &id);
    assert_eq!(after["preliminary"], false);
    assert_eq!(after["report"]["path"], report_path.as_str(), "same file");
    assert_ne!(after["report"]["commit"], first_commit.as_str());
    let markdown = std::fs::read_to_string(backends.reports_dir().join(&report_path)).unwrap();
    assert!(!markdown.contains("preliminary: true"), "{markdown}");
    assert!(
        !backends.llm.received_requests().await.unwrap().is_empty(),
        "the LLM was asked"
    );

    // Nothing left to upgrade.
    let again = job.run(false).await.unwrap();
    assert!(
        again.taken.is_empty() && again.considered == 0,
        "{again:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn record_failure_ends_a_running_run_and_leaves_a_recorded_end_alone() {
    let backends = Backends::start(Llm::Answers, false).await;
    let record = run_bundle(&backends).await;
    let id = record["id"].as_str().unwrap().to_owned();
    // The step's Lambda timed out holding the run: its lease has not run out yet.
    let until = (chrono::Utc::now() + chrono::TimeDelta::minutes(10)).to_rfc3339();
    rewrite(&backends, &id, |r| {
        failed_at_commit(r, true);
        r["status"] = json!("running");
        r["error"] = Value::Null;
        r["lease"] = json!({"owner": "commit-report:lambda", "expires_at": until});
    });
    // A GitHub token's shape: ghp_ and 36 letters and digits, fresh every run.
    let secret = format!(
        "ghp_{}{}",
        uuid::Uuid::new_v4().simple(),
        &uuid::Uuid::new_v4().simple().to_string()[..4]
    );
    let clock: SharedClock = Arc::new(SystemClock);
    let event: LambdaEvent = serde_json::from_value(json!({
        "command": "record-failure",
        "run_id": id,
        "error": {"Error": "States.Timeout", "Cause": format!("Task timed out (token {secret})")},
    }))
    .unwrap();
    let env = backends.env(&[]);
    let answer = nightly::handle_event(&env, &clock, event.clone())
        .await
        .unwrap();
    assert_eq!(answer["status"], "failed");
    let stored = read_record(&backends, &id);
    assert_eq!(stored["error"]["step"], "commit-report");
    assert_eq!(stored["error"]["retryable"], true, "a timeout may pass");
    let message = stored["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("States.Timeout"), "{message}");
    assert!(!message.contains(&secret), "redacted: {message}");

    // Recorded already: a second call changes nothing.
    let again = nightly::handle_event(&env, &clock, event).await.unwrap();
    assert_eq!(again["error"], stored["error"]);

    let bad: LambdaEvent = serde_json::from_value(json!({"command": "record-failure"})).unwrap();
    let err = nightly::handle_event(&env, &clock, bad).await.unwrap_err();
    assert!(err.to_string().contains("event.run_id"), "{err}");
}

fn aiops(dir: &Path, vars: &[(&str, String)], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aiops"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env(
            "PATH",
            shared::config::ProcessEnv.get("PATH").unwrap_or_default(),
        )
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn nightly_checks_its_schedule_at_start_and_survives_a_job_that_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = (
        "AIOPS_STORE",
        dir.path().join("store").to_string_lossy().into_owned(),
    );

    let out = aiops(
        dir.path(),
        std::slice::from_ref(&store),
        &["nightly", "--schedule", "0 2 * * *"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--schedule") && stderr.contains("seconds first"),
        "{stderr}"
    );

    // No catalog configured: the audit cannot run, the re-run still does; exit 1.
    let out = aiops(dir.path(), &[store], &["nightly", "--once"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = summary["jobs"].as_array().unwrap();
    assert_eq!(jobs[0]["job"], "audit-namespaces");
    assert_eq!(jobs[0]["ok"], false);
    assert!(
        jobs[0]["result"]
            .as_str()
            .unwrap()
            .contains("AIOPS_BACKSTAGE_URL"),
        "{summary:#}"
    );
    assert_eq!(jobs[1]["job"], "rerun-failed");
    assert_eq!(jobs[1]["ok"], true, "{summary:#}");
    assert_eq!(jobs[1]["result"]["considered"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_runs_the_jobs_at_its_times_and_stops_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let env = shared::config::MapEnv::new()
        .with("AIOPS_STORE", dir.path().join("store").to_string_lossy());
    let args = nightly::Args {
        once: false,
        schedule: Some("* * * * * *".into()),
    };
    let clock: SharedClock = Arc::new(SystemClock);
    let mut out = Vec::new();
    // Every second, stopped after about 2.5 s: two or three runs, each one line.
    nightly::run(
        &args,
        &env,
        clock,
        tokio::time::sleep(Duration::from_millis(2500)),
        &mut out,
    )
    .await
    .unwrap();
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!((2..=3).contains(&lines.len()), "{lines:#?}");
    for summary in &lines {
        // The audit fails every time (no catalog) and the schedule goes on.
        assert_eq!(summary["jobs"][0]["ok"], false);
        assert_eq!(summary["jobs"][1]["ok"], true);
    }
}
