//! The run record (`runs/<run-id>.json`): what was asked, by whom, how far it got, and
//! who is working on it.
//!
//! Every change is a pure transition ([`RunRecord::apply`]) of the record, an event and
//! the time, persisted with a conditional write by the run ledger (`ledger.rs`). A record that is
//! `queued` or `running` always carries a [`Lease`]; a lease that runs out (its process
//! was killed) turns the run `failed` and retryable, so no accepted request is left
//! without a terminal status.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::identity::Principal;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted, not started.
    Queued,
    /// A step is running.
    Running,
    /// The report is committed.
    Succeeded,
    /// A step failed after its retries; `error` says which and why.
    Failed,
    /// The policy refused the request.
    Denied,
}

impl RunStatus {
    /// `succeeded`, `failed` or `denied`: nothing runs any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Denied)
    }

    /// The name used on the wire and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Denied => "denied",
        }
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::Queued,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Denied,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
        .ok_or_else(|| "one of queued, running, succeeded, failed, denied".to_owned())
    }
}

/// The committed report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRef {
    /// `owner/name` on GitHub, or the local repository's path.
    pub repo: String,
    /// Path of the report in the repository.
    pub path: String,
    /// Commit SHA that holds this version of the report.
    pub commit: String,
    /// A URL to view it (GitHub blob URL, or a `file://` URL locally).
    pub url: String,
}

/// Why a run stopped short.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    /// The step that failed (`collect-evidence`, …), when one did.
    #[serde(default)]
    pub step: Option<String>,
    /// One redacted line.
    pub message: String,
    /// Whether a re-run may succeed (the nightly job resumes only these).
    #[serde(default)]
    pub retryable: bool,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u32) -> bool {
    *n == 0
}

// Records written before errors were structured carry a plain string.
fn error_compat<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RunError>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Full(RunError),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => None,
        Some(Either::Full(e)) => Some(e),
        Some(Either::Text(message)) => Some(RunError {
            step: None,
            message,
            retryable: false,
        }),
    })
}

/// One step's progress inside a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRun {
    /// The step's name.
    pub name: String,
    /// Attempts made so far (each a real call of the step).
    pub attempts: u32,
    /// When the first attempt started.
    pub started_at: DateTime<Utc>,
    /// When the step succeeded, or its last attempt failed.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    /// Wall time of the last attempt, in milliseconds.
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
    /// Whether the step is done (its output is in the record).
    #[serde(default)]
    pub succeeded: bool,
    /// The step was not run because its output already existed (a persisted bundle).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skipped: bool,
    /// The last attempt's error.
    #[serde(default)]
    pub error: Option<String>,
}

/// Who works on the run, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// An id of the process holding it.
    pub owner: String,
    /// When it runs out unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// A run record, as in the contract, plus per-step progress and the lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id.
    pub id: String,
    /// The RCA request (a bundle run also records the bundle it came from).
    pub request: serde_json::Value,
    /// The principal who asked (`user:default/jane`, `local:<os user>`).
    pub requested_by: String,
    /// The verified principal with its groups (absent for a local operator).
    #[serde(default)]
    pub principal: Option<Principal>,
    /// Where a run stands.
    pub status: RunStatus,
    /// The step in progress, or the step that ended the run.
    #[serde(default)]
    pub step: Option<String>,
    /// Real attempts of that step.
    #[serde(default)]
    pub attempts: u32,
    /// The failure, when `status` is `failed` or `denied`.
    #[serde(default, deserialize_with = "error_compat")]
    pub error: Option<RunError>,
    /// The report came from the built-in analyzers and awaits an LLM re-run.
    #[serde(default)]
    pub preliminary: bool,
    /// Store key of the evidence bundle.
    #[serde(default)]
    pub evidence_key: Option<String>,
    /// The committed report.
    #[serde(default)]
    pub report: Option<ReportRef>,
    /// Every step started so far, in chain order.
    #[serde(default)]
    pub steps: Vec<StepRun>,
    /// Held while queued or running.
    #[serde(default)]
    pub lease: Option<Lease>,
    /// The policy decision of the run's policy step (its audit id ties it to the audit
    /// record).
    #[serde(default)]
    pub decision: Option<serde_json::Value>,
    /// Times the nightly job took the run up again (a resume of a failure, or the
    /// re-analysis of a preliminary report); it stops at its maximum.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reruns: u32,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

/// What happened to a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// `owner` starts (or retries) `step`, holding the lease until `until`.
    StepStarted {
        /// The step.
        step: String,
        /// The process.
        owner: String,
        /// Lease expiry.
        until: DateTime<Utc>,
    },
    /// `owner` takes up a run that failed with a retryable error (the nightly re-run,
    /// `aiops runs resume`), holding the lease until `until`.
    Resumed {
        /// The process.
        owner: String,
        /// Lease expiry.
        until: DateTime<Utc>,
    },
    /// `owner` takes up a succeeded run whose report is preliminary, to run `steps`
    /// again (the analysis and the report, once an LLM answers), holding the lease until
    /// `until`.
    Reanalyze {
        /// The process.
        owner: String,
        /// Lease expiry.
        until: DateTime<Utc>,
        /// The steps to run again.
        steps: Vec<String>,
    },
    /// The holder extends its lease.
    LeaseRenewed {
        /// The process.
        owner: String,
        /// New expiry.
        until: DateTime<Utc>,
    },
    /// `step` finished; its output was merged into the record by the caller.
    StepSucceeded {
        /// The step.
        step: String,
        /// Wall time of the attempt.
        elapsed_ms: u64,
        /// It did not run: its output already existed.
        skipped: bool,
    },
    /// An attempt of `step` failed; `last` when no further attempt will follow.
    StepFailed {
        /// The step.
        step: String,
        /// Redacted message.
        message: String,
        /// Whether a later attempt may succeed.
        retryable: bool,
        /// No retry follows: the run ends `failed`.
        last: bool,
        /// Wall time of the attempt.
        elapsed_ms: u64,
    },
    /// The policy refused: the run ends `denied`.
    Denied {
        /// The reason code.
        reason: String,
    },
    /// The last step succeeded.
    Finished,
}

/// A transition that does not apply to the record as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The run is already finished.
    #[error("run {0} is already {1}")]
    Terminal(String, &'static str),
    /// Another process holds a live lease.
    #[error("run {run} is held by {owner} until {until}")]
    Held {
        /// The run.
        run: String,
        /// The holder.
        owner: String,
        /// Its expiry.
        until: DateTime<Utc>,
    },
}

impl RunRecord {
    /// The store key the record is kept under.
    pub fn store_key(run_id: &str) -> String {
        format!("runs/{run_id}.json")
    }

    /// A new `queued` record holding a lease for `owner` until `lease_until`.
    pub fn queued(
        id: String,
        request: serde_json::Value,
        requested_by: String,
        principal: Option<Principal>,
        now: DateTime<Utc>,
        lease: Lease,
    ) -> Self {
        Self {
            id,
            request,
            requested_by,
            principal,
            status: RunStatus::Queued,
            step: None,
            attempts: 0,
            error: None,
            preliminary: false,
            evidence_key: None,
            report: None,
            steps: Vec::new(),
            lease: Some(lease),
            decision: None,
            reruns: 0,
            created_at: now,
            updated_at: now,
        }
    }

    /// Whether the lease of a queued or running record has run out at `now`.
    pub fn lease_expired(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_terminal() && self.lease.as_ref().is_none_or(|l| l.expires_at <= now)
    }

    /// The progress entry of `step`, if it started.
    pub fn step_run(&self, step: &str) -> Option<&StepRun> {
        self.steps.iter().find(|s| s.name == step)
    }

    /// Whether `step` already succeeded (a resumed run skips it).
    pub fn step_done(&self, step: &str) -> bool {
        self.step_run(step).is_some_and(|s| s.succeeded)
    }

    /// Turns a queued or running record whose lease ran out into a retryable failure.
    /// Returns whether it changed anything.
    pub fn expire_lease(&mut self, now: DateTime<Utc>) -> bool {
        if !self.lease_expired(now) {
            return false;
        }
        let step = self.step.clone();
        self.status = RunStatus::Failed;
        self.error = Some(RunError {
            message: format!(
                "the lease ran out while {} (the process working on it stopped)",
                step.as_deref()
                    .map_or_else(|| "queued".to_owned(), |s| format!("in step {s}"))
            ),
            step,
            retryable: true,
        });
        self.lease = None;
        self.updated_at = now;
        true
    }

    /// Applies one event at `now`, or says why it does not apply.
    // One arm per event reads better than helpers spread over the file.
    #[allow(clippy::too_many_lines)]
    pub fn apply(&mut self, event: RunEvent, now: DateTime<Utc>) -> Result<(), Refused> {
        match event {
            RunEvent::StepStarted { step, owner, until } => {
                self.check_holder(&owner, now)?;
                match self.steps.iter_mut().find(|s| s.name == step) {
                    Some(entry) => {
                        entry.attempts += 1;
                        entry.error = None;
                        entry.finished_at = None;
                    }
                    None => self.steps.push(StepRun {
                        name: step.clone(),
                        attempts: 1,
                        started_at: now,
                        finished_at: None,
                        elapsed_ms: None,
                        succeeded: false,
                        skipped: false,
                        error: None,
                    }),
                }
                self.attempts = self.step_run(&step).map_or(1, |s| s.attempts);
                self.step = Some(step);
                self.status = RunStatus::Running;
                self.error = None;
                self.lease = Some(Lease {
                    owner,
                    expires_at: until,
                });
            }
            RunEvent::Resumed { owner, until } => {
                let resumable = self.status == RunStatus::Failed
                    && self.error.as_ref().is_some_and(|e| e.retryable);
                if !resumable {
                    return Err(Refused::Terminal(self.id.clone(), self.status.as_str()));
                }
                self.reruns += 1;
                self.status = RunStatus::Running;
                self.error = None;
                self.lease = Some(Lease {
                    owner,
                    expires_at: until,
                });
            }
            RunEvent::Reanalyze {
                owner,
                until,
                steps,
            } => {
                if self.status != RunStatus::Succeeded || !self.preliminary {
                    return Err(Refused::Terminal(self.id.clone(), self.status.as_str()));
                }
                self.reruns += 1;
                for entry in self.steps.iter_mut().filter(|s| steps.contains(&s.name)) {
                    entry.succeeded = false;
                    entry.skipped = false;
                }
                self.status = RunStatus::Running;
                self.error = None;
                self.lease = Some(Lease {
                    owner,
                    expires_at: until,
                });
            }
            RunEvent::LeaseRenewed { owner, until } => {
                self.check_holder(&owner, now)?;
                self.lease = Some(Lease {
                    owner,
                    expires_at: until,
                });
            }
            RunEvent::StepSucceeded {
                step,
                elapsed_ms,
                skipped,
            } => {
                self.check_live()?;
                let entry = self.entry(&step, now);
                entry.succeeded = true;
                entry.skipped = skipped;
                entry.error = None;
                entry.finished_at = Some(now);
                entry.elapsed_ms = Some(elapsed_ms);
                if skipped && entry.attempts == 0 {
                    self.step = Some(step);
                }
            }
            RunEvent::StepFailed {
                step,
                message,
                retryable,
                last,
                elapsed_ms,
            } => {
                self.check_live()?;
                let entry = self.entry(&step, now);
                entry.finished_at = Some(now);
                entry.elapsed_ms = Some(elapsed_ms);
                entry.error = Some(message.clone());
                if last {
                    self.status = RunStatus::Failed;
                    self.step = Some(step.clone());
                    self.error = Some(RunError {
                        step: Some(step),
                        message,
                        retryable,
                    });
                    self.lease = None;
                }
            }
            RunEvent::Denied { reason } => {
                self.check_live()?;
                self.status = RunStatus::Denied;
                self.error = Some(RunError {
                    step: self.step.clone(),
                    message: format!("the policy refused the request: {reason}"),
                    retryable: false,
                });
                self.lease = None;
            }
            RunEvent::Finished => {
                self.check_live()?;
                self.status = RunStatus::Succeeded;
                self.error = None;
                self.lease = None;
            }
        }
        self.updated_at = now;
        Ok(())
    }

    fn entry(&mut self, step: &str, now: DateTime<Utc>) -> &mut StepRun {
        if let Some(i) = self.steps.iter().position(|s| s.name == step) {
            return &mut self.steps[i];
        }
        self.steps.push(StepRun {
            name: step.to_owned(),
            attempts: 0,
            started_at: now,
            finished_at: None,
            elapsed_ms: None,
            succeeded: false,
            skipped: false,
            error: None,
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn check_live(&self) -> Result<(), Refused> {
        if self.status.is_terminal() {
            return Err(Refused::Terminal(self.id.clone(), self.status.as_str()));
        }
        Ok(())
    }

    /// `owner` may act on a live run when it holds the lease or the lease ran out. A
    /// queued run's lease only guards against a start that never happened: whoever
    /// starts the run takes it over.
    fn check_holder(&self, owner: &str, now: DateTime<Utc>) -> Result<(), Refused> {
        self.check_live()?;
        if self.status == RunStatus::Queued {
            return Ok(());
        }
        match &self.lease {
            Some(lease) if lease.owner != owner && lease.expires_at > now => Err(Refused::Held {
                run: self.id.clone(),
                owner: lease.owner.clone(),
                until: lease.expires_at,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn record() -> RunRecord {
        RunRecord::queued(
            "r1".into(),
            serde_json::json!({"entity": "component:default/web"}),
            "user:default/jane".into(),
            None,
            t(0),
            Lease {
                owner: "api".into(),
                expires_at: t(60),
            },
        )
    }

    fn start(step: &str, owner: &str, at: i64) -> RunEvent {
        RunEvent::StepStarted {
            step: step.into(),
            owner: owner.into(),
            until: t(at) + TimeDelta::seconds(60),
        }
    }

    #[test]
    fn a_started_step_counts_attempts_and_takes_the_lease() {
        let mut r = record();
        r.apply(start("collect-evidence", "w1", 1), t(1)).unwrap();
        r.apply(start("collect-evidence", "w1", 2), t(2)).unwrap();
        assert_eq!(r.status, RunStatus::Running);
        assert_eq!(r.attempts, 2);
        assert_eq!(r.step.as_deref(), Some("collect-evidence"));
        assert_eq!(r.lease.as_ref().unwrap().owner, "w1");
    }

    #[test]
    fn a_live_lease_of_another_process_refuses_a_start() {
        let mut r = record();
        r.apply(start("policy-check", "w1", 1), t(1)).unwrap();
        let err = r.apply(start("policy-check", "w2", 2), t(2)).unwrap_err();
        assert!(matches!(err, Refused::Held { .. }), "{err}");
        // Once it ran out, another process may take over.
        r.apply(start("policy-check", "w2", 100), t(100)).unwrap();
        assert_eq!(r.lease.unwrap().owner, "w2");
    }

    #[test]
    fn the_last_failure_ends_the_run_with_step_and_retryability() {
        let mut r = record();
        r.apply(start("commit-report", "w1", 1), t(1)).unwrap();
        let failed = |last| RunEvent::StepFailed {
            step: "commit-report".into(),
            message: "GitHub answered 503".into(),
            retryable: true,
            last,
            elapsed_ms: 5,
        };
        r.apply(failed(false), t(2)).unwrap();
        assert_eq!(r.status, RunStatus::Running, "a failure with a retry ahead");
        r.apply(failed(true), t(3)).unwrap();
        assert_eq!(r.status, RunStatus::Failed);
        let error = r.error.clone().unwrap();
        assert_eq!(error.step.as_deref(), Some("commit-report"));
        assert!(error.retryable);
        assert!(r.lease.is_none());
        // A retryable failure may be resumed; a finished run may not be changed.
        assert!(matches!(
            r.apply(start("commit-report", "nightly", 4), t(4)),
            Err(Refused::Terminal(..))
        ));
        r.apply(
            RunEvent::Resumed {
                owner: "nightly".into(),
                until: t(100),
            },
            t(4),
        )
        .unwrap();
        r.apply(start("commit-report", "nightly", 4), t(4)).unwrap();
        assert_eq!(r.status, RunStatus::Running);
        assert_eq!(r.attempts, 2, "attempts keep counting across a resume");
        r.apply(RunEvent::Finished, t(5)).unwrap();
        assert!(matches!(
            r.apply(start("commit-report", "x", 6), t(6)),
            Err(Refused::Terminal(..))
        ));
    }

    #[test]
    fn an_expired_lease_turns_the_run_into_a_retryable_failure_at_its_step() {
        let mut r = record();
        r.apply(start("llm-analyze", "w1", 1), t(1)).unwrap();
        assert!(!r.expire_lease(t(30)), "the lease is still live");
        assert!(r.expire_lease(t(61)));
        assert_eq!(r.status, RunStatus::Failed);
        let error = r.error.unwrap();
        assert_eq!(error.step.as_deref(), Some("llm-analyze"));
        assert!(error.retryable);
        assert!(error.message.contains("lease ran out"));
    }

    #[test]
    fn a_denial_is_terminal_and_not_retryable() {
        let mut r = record();
        r.apply(start("policy-check", "w1", 1), t(1)).unwrap();
        r.apply(
            RunEvent::Denied {
                reason: "not_owner".into(),
            },
            t(2),
        )
        .unwrap();
        assert_eq!(r.status, RunStatus::Denied);
        assert!(!r.error.as_ref().unwrap().retryable);
        assert!(matches!(
            r.apply(start("policy-check", "w1", 3), t(3)),
            Err(Refused::Terminal(..))
        ));
        let resume = RunEvent::Resumed {
            owner: "nightly".into(),
            until: t(100),
        };
        assert!(matches!(r.apply(resume, t(3)), Err(Refused::Terminal(..))));
    }

    #[test]
    fn records_with_a_plain_string_error_still_load() {
        let mut value = serde_json::to_value(record()).unwrap();
        value["error"] = serde_json::json!("it broke");
        value.as_object_mut().unwrap().remove("steps");
        let r: RunRecord = serde_json::from_value(value).unwrap();
        assert_eq!(r.error.unwrap().message, "it broke");
    }
}
