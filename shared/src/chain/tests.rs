//! The runner against a scripted executor and a local store, on a manual clock.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::run::{Lease, RunError};
use crate::store::{LocalStore, SharedStore};

/// What the scripted executor answers for a step: one entry per attempt, the last one
/// repeating.
#[derive(Debug, Clone)]
enum Answer {
    Ok,
    Deny,
    Retryable,
    Invalid,
}

#[derive(Debug, Default)]
struct Script {
    answers: BTreeMap<&'static str, Vec<Answer>>,
    calls: Mutex<Vec<&'static str>>,
}

impl Script {
    fn with(mut self, step: Step, answers: Vec<Answer>) -> Self {
        self.answers.insert(step.name(), answers);
        self
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }
}

#[async_trait]
impl StepExecutor for Script {
    async fn execute(&self, step: Step, state: &ChainState) -> Result<StepOutput, StepFailure> {
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(step.name());
            calls.iter().filter(|c| **c == step.name()).count()
        };
        let answers = self.answers.get(step.name()).cloned().unwrap_or_default();
        let answer = answers
            .get(n - 1)
            .or(answers.last())
            .cloned()
            .unwrap_or(Answer::Ok);
        let fail = |retryable: bool| StepFailure {
            kind: if retryable {
                ErrorKind::Dependency
            } else {
                ErrorKind::Invalid
            },
            retryable,
            message: format!("{step} failed (attempt {n})"),
        };
        match answer {
            Answer::Retryable => Err(fail(true)),
            Answer::Invalid => Err(fail(false)),
            Answer::Deny => Ok(StepOutput::Denied {
                reason: "not_owner".into(),
                decision: json!({"allowed": false, "reason": "not_owner"}),
            }),
            Answer::Ok => Ok(match step {
                Step::PolicyCheck => StepOutput::Allowed(json!({"allowed": true})),
                Step::CollectEvidence => {
                    StepOutput::Collected(EvidenceBundle::store_key(&state.run_id))
                }
                Step::LlmAnalyze => StepOutput::Analyzed { preliminary: true },
                Step::CommitReport => StepOutput::Committed(crate::run::ReportRef {
                    repo: "local".into(),
                    path: format!("rca/{}.md", state.run_id),
                    commit: "abc".into(),
                    url: "file:///r".into(),
                }),
            }),
        }
    }
}

struct Rig {
    runner: Runner,
    script: Arc<Script>,
    clock: ManualClock,
    store: SharedStore,
    _dir: tempfile::TempDir,
}

fn rig(script: Script) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let store: SharedStore = Arc::new(LocalStore::open(dir.path()).unwrap());
    let clock = ManualClock::at("2026-12-01T10:00:00Z");
    let ledger = Ledger::new(
        store.clone(),
        Arc::new(clock.clone()),
        Duration::from_mins(1),
    );
    let script = Arc::new(script);
    let retry = RetryPolicy {
        max_attempts: 3,
        backoff: Backoff {
            base: Duration::ZERO,
            max: Duration::ZERO,
        },
    };
    let runner = Runner::new(
        ledger,
        script.clone(),
        retry,
        Arc::new(Redactor::default()),
        "test",
    );
    Rig {
        runner,
        script,
        clock,
        store,
        _dir: dir,
    }
}

async fn queue(rig: &Rig, id: &str) {
    let record = RunRecord::queued(
        id.into(),
        json!({"entity": "component:default/web", "cluster": "dev", "namespace": "web-dev", "since": "2h"}),
        "user:default/jane".into(),
        None,
        rig.clock.now(),
        Lease {
            owner: "api".into(),
            expires_at: rig.runner.ledger().lease_until(),
        },
    );
    rig.runner.ledger().create(record).await.unwrap();
}

fn attempts(record: &RunRecord) -> Vec<(String, u32, bool)> {
    record
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.attempts, s.succeeded))
        .collect()
}

#[tokio::test]
async fn every_step_runs_once_in_order_and_the_run_succeeds() {
    let rig = rig(Script::default());
    queue(&rig, "r1").await;
    let record = rig.runner.run("r1").await.unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(rig.script.calls(), STEP_NAMES.to_vec());
    assert_eq!(
        attempts(&record),
        STEP_NAMES
            .iter()
            .map(|n| ((*n).to_owned(), 1, true))
            .collect::<Vec<_>>()
    );
    assert!(record.preliminary);
    assert_eq!(record.evidence_key.as_deref(), Some("evidence/r1.json"));
    assert_eq!(record.report.unwrap().path, "rca/r1.md");
    assert!(record.lease.is_none(), "a finished run holds no lease");
    assert_eq!(record.step.as_deref(), Some("commit-report"));
}

#[tokio::test]
async fn a_retryable_failure_is_retried_and_counted() {
    let rig = rig(Script::default().with(Step::CommitReport, vec![Answer::Retryable, Answer::Ok]));
    queue(&rig, "r2").await;
    let record = rig.runner.run("r2").await.unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.step_run("commit-report").unwrap().attempts, 2);
    assert_eq!(record.attempts, 2);
}

#[tokio::test]
async fn retries_are_bounded_and_the_failure_is_recorded_retryable() {
    let rig = rig(Script::default().with(Step::CommitReport, vec![Answer::Retryable]));
    queue(&rig, "r3").await;
    let record = rig.runner.run("r3").await.unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.attempts, 3);
    let error = record.error.unwrap();
    assert_eq!(error.step.as_deref(), Some("commit-report"));
    assert!(error.retryable);
    assert!(error.message.contains("attempt 3"), "{}", error.message);
    assert_eq!(
        record.evidence_key.as_deref(),
        Some("evidence/r3.json"),
        "the evidence of the earlier step is kept"
    );
}

#[tokio::test]
async fn an_invalid_request_fails_at_once_without_retries() {
    let rig = rig(Script::default().with(Step::CollectEvidence, vec![Answer::Invalid]));
    queue(&rig, "r4").await;
    let record = rig.runner.run("r4").await.unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.attempts, 1);
    assert!(!record.error.unwrap().retryable);
    assert_eq!(rig.script.calls(), vec!["policy-check", "collect-evidence"]);
}

#[tokio::test]
async fn a_denial_ends_the_run_denied_before_any_evidence_is_read() {
    let rig = rig(Script::default().with(Step::PolicyCheck, vec![Answer::Deny]));
    queue(&rig, "r5").await;
    let record = rig.runner.run("r5").await.unwrap();
    assert_eq!(record.status, RunStatus::Denied);
    assert_eq!(rig.script.calls(), vec!["policy-check"]);
    assert_eq!(record.decision.unwrap()["reason"], "not_owner");
}

#[tokio::test]
async fn a_resumed_run_starts_at_the_failed_step_and_never_recollects() {
    let rig = rig(Script::default().with(
        Step::LlmAnalyze,
        vec![
            Answer::Retryable,
            Answer::Retryable,
            Answer::Retryable,
            Answer::Ok,
        ],
    ));
    queue(&rig, "r6").await;
    let failed = rig.runner.run("r6").await.unwrap();
    assert_eq!(failed.status, RunStatus::Failed);
    // The collector stored the bundle (the executor is scripted, so store it here).
    rig.store
        .put_if_absent("evidence/r6.json", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let resumed = rig.runner.run("r6").await.unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded);
    let calls = rig.script.calls();
    assert_eq!(
        calls.iter().filter(|c| **c == "collect-evidence").count(),
        1,
        "{calls:?}"
    );
    assert_eq!(calls.iter().filter(|c| **c == "llm-analyze").count(), 4);
    assert_eq!(resumed.step_run("llm-analyze").unwrap().attempts, 4);
}

#[tokio::test]
async fn stored_evidence_skips_collection() {
    let rig = rig(Script::default());
    queue(&rig, "r7").await;
    rig.store
        .put_if_absent("evidence/r7.json", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let record = rig.runner.run("r7").await.unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert!(!rig.script.calls().contains(&"collect-evidence"));
    assert!(record.step_run("collect-evidence").unwrap().skipped);
}

#[tokio::test]
async fn a_run_whose_lease_ran_out_reads_as_a_retryable_failure() {
    let rig = rig(Script::default());
    queue(&rig, "r8").await;
    // A process took the run and died: the record says running at collect-evidence.
    let until = rig.runner.ledger().lease_until();
    rig.runner
        .ledger()
        .apply(
            "r8",
            RunEvent::StepStarted {
                step: "collect-evidence".into(),
                owner: "dead".into(),
                until,
            },
        )
        .await
        .unwrap();
    rig.clock.advance(Duration::from_secs(61));
    let record = rig.runner.ledger().get("r8").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(
        record.error,
        Some(RunError {
            step: Some("collect-evidence".into()),
            message: record.error.clone().unwrap().message,
            retryable: true,
        })
    );
    // Persisted: a second reader sees the same.
    let raw = rig.store.get("runs/r8.json").await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&raw.value).contains("\"failed\""));
    // And the nightly re-run resumes it.
    let resumed = rig.runner.run("r8").await.unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_live_lease_of_another_process_keeps_a_second_runner_out() {
    let rig = rig(Script::default());
    queue(&rig, "r9").await;
    let until = rig.runner.ledger().lease_until();
    rig.runner
        .ledger()
        .apply(
            "r9",
            RunEvent::StepStarted {
                step: "policy-check".into(),
                owner: "other".into(),
                until,
            },
        )
        .await
        .unwrap();
    let err = rig.runner.run("r9").await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(rig.script.calls().is_empty());
}

#[tokio::test]
async fn state_machine_invocations_record_one_attempt_each_and_finish_the_run() {
    use super::lambda::{ChainEvent, StepEvent, attempt};
    let rig = rig(Script::default().with(Step::LlmAnalyze, vec![Answer::Retryable, Answer::Ok]));
    queue(&rig, "s1").await;
    let event = ChainEvent::new("s1");
    for step in [Step::PolicyCheck, Step::CollectEvidence] {
        assert_eq!(
            attempt(&rig.runner, step, event.clone()).await,
            Ok(event.clone())
        );
    }
    // A retryable failure is the invocation's error, typed for the state machine's Retry.
    let failure = attempt(&rig.runner, Step::LlmAnalyze, event.clone())
        .await
        .unwrap_err();
    assert_eq!(
        failure.lambda_error_type(),
        crate::error::RETRYABLE_ERROR_TYPE
    );
    let record = rig.runner.ledger().get("s1").await.unwrap().unwrap();
    assert_eq!(
        record.status,
        RunStatus::Running,
        "the state machine retries it"
    );
    assert_eq!(
        attempt(&rig.runner, Step::LlmAnalyze, event.clone()).await,
        Ok(event.clone())
    );
    // A repeated invocation of a step that already succeeded does nothing.
    assert_eq!(
        attempt(&rig.runner, Step::LlmAnalyze, event.clone()).await,
        Ok(event.clone())
    );
    assert_eq!(
        attempt(&rig.runner, Step::CommitReport, event.clone()).await,
        Ok(event.clone())
    );
    let record = rig.runner.ledger().get("s1").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Succeeded);
    assert_eq!(record.step_run("llm-analyze").unwrap().attempts, 2);
    assert_eq!(
        rig.script
            .calls()
            .iter()
            .filter(|c| **c == "llm-analyze")
            .count(),
        2
    );

    // The chain state and a function's own event are told apart by `chain`.
    let chain: StepEvent<serde_json::Value> =
        serde_json::from_value(json!({"run_id": "s1", "chain": "rca"})).unwrap();
    assert!(matches!(chain, StepEvent::Chain(e) if e.run_id == "s1"));
    let direct: StepEvent<serde_json::Value> =
        serde_json::from_value(json!({"run_id": "s1"})).unwrap();
    assert!(matches!(direct, StepEvent::Direct(_)));
}

#[tokio::test]
async fn a_permanent_failure_under_the_state_machine_is_non_retryable() {
    use super::lambda::{ChainEvent, attempt};
    let rig = rig(Script::default().with(Step::PolicyCheck, vec![Answer::Invalid]));
    queue(&rig, "s2").await;
    let failure = attempt(&rig.runner, Step::PolicyCheck, ChainEvent::new("s2"))
        .await
        .unwrap_err();
    assert_eq!(failure.lambda_error_type(), "NonRetryable.InvalidInput");
    let record = rig.runner.ledger().get("s2").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
}

#[test]
fn the_step_names_are_the_steps_in_order() {
    assert_eq!(STEP_NAMES, STEPS.map(Step::name));
}
