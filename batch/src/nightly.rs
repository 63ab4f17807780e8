//! `aiops nightly`: the namespace audit, the re-run of failed RCAs and (where
//! `AIOPS_ZITADEL_URL` is set) the ZITADEL group sync, once
//! (`--once`) or on a cron schedule (`--schedule "0 0 2 * * *"`); and the Lambda entry
//! point of the `aiops` function, which EventBridge Scheduler invokes with
//! `{"command": "nightly"}` and the state machine with `{"command": "record-failure"}`.
//!
//! Each job builds its own clients from the environment when it starts, so a job whose
//! configuration is wrong fails alone and the other still runs. A failing run on a
//! schedule is logged and the schedule goes on.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use shared::clock::SharedClock;
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind, one_line};
use shared::redact::Redactor;
use shared::run::RunEvent;

use crate::{audit, rerun};

/// The variable holding the schedule when `--schedule` is not given.
pub const SCHEDULE_VAR: &str = "AIOPS_NIGHTLY_SCHEDULE";
const SCHEDULE_EXPECTED: &str = "a cron expression with seconds first: \"sec min hour day-of-month month day-of-week [year]\", e.g. \"0 0 2 * * *\"";

/// Arguments of `aiops nightly`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(group(clap::ArgGroup::new("when").args(["once", "schedule"])))]
pub struct Args {
    /// Run every job once and exit (the default without a schedule).
    #[arg(long)]
    pub once: bool,
    /// Run on this cron schedule (UTC; seconds first, as the `cron` crate reads it)
    /// until stopped. Default: `AIOPS_NIGHTLY_SCHEDULE`.
    #[arg(long, value_name = "CRON")]
    pub schedule: Option<String>,
}

/// Why the nightly job could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The Lambda event is not one this function takes.
    #[error("{field}: {expected}")]
    Event {
        /// The field.
        field: &'static str,
        /// What was expected.
        expected: String,
    },
    /// At least one job could not run (each one's error is in the summary).
    #[error("{failed} of {total} nightly jobs could not run: {first}")]
    Jobs {
        /// Jobs that failed.
        failed: usize,
        /// Jobs run.
        total: usize,
        /// The first failure.
        first: String,
        /// Whether a failure may pass on its own.
        retryable: bool,
    },
    /// The run ledger failed while recording a chain failure.
    #[error(transparent)]
    Ledger(#[from] shared::ledger::LedgerError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] shared::store::StoreError),
    /// The summary could not be printed.
    #[error("writing the summary")]
    Output(#[source] std::io::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) | Self::Event { .. } => ErrorKind::Invalid,
            Self::Ledger(e) => e.kind(),
            Self::Store(e) => e.kind(),
            Self::Jobs { .. } | Self::Output(_) => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Jobs { retryable, .. } => *retryable,
            Self::Ledger(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// How one job went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobOutcome {
    /// `audit-namespaces` or `rerun-failed`.
    pub job: &'static str,
    /// Whether it ran to the end.
    pub ok: bool,
    /// Its summary, or its error.
    pub result: Value,
    /// Wall time.
    pub elapsed_ms: u64,
    #[serde(skip)]
    retryable: bool,
}

/// One nightly run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Every job.
    pub jobs: Vec<JobOutcome>,
}

impl Summary {
    /// `Ok` when every job ran (whatever it found), the jobs error otherwise.
    pub fn into_result(self) -> Result<Self, Error> {
        let failed: Vec<&JobOutcome> = self.jobs.iter().filter(|j| !j.ok).collect();
        if let Some(first) = failed.first() {
            return Err(Error::Jobs {
                failed: failed.len(),
                total: self.jobs.len(),
                first: format!(
                    "{}: {}",
                    first.job,
                    first.result.as_str().unwrap_or_default()
                ),
                retryable: failed.iter().all(|j| j.retryable),
            });
        }
        Ok(self)
    }
}

fn elapsed_ms(since: std::time::Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn failed<E: Classify>(job: &'static str, e: &E, started: std::time::Instant) -> JobOutcome {
    eprintln!("aiops nightly: {job} could not run: {}", one_line(e));
    JobOutcome {
        job,
        ok: false,
        result: Value::String(one_line(e)),
        elapsed_ms: elapsed_ms(started),
        retryable: e.kind() == ErrorKind::Dependency && e.is_retryable(),
    }
}

/// A job that ran to the end, with its result.
fn succeeded(job: &'static str, result: Value, started: std::time::Instant) -> JobOutcome {
    JobOutcome {
        job,
        ok: true,
        result,
        elapsed_ms: elapsed_ms(started),
        retryable: false,
    }
}

/// The ownership audit, with clients built now from `env`.
async fn audit_job(env: &impl Env, clock: &SharedClock) -> JobOutcome {
    const JOB: &str = "audit-namespaces";
    let started = std::time::Instant::now();
    eprintln!("aiops nightly: {JOB}");
    let auditor = match Box::pin(audit::Auditor::from_env(env, clock.clone())).await {
        Err(e) => return failed(JOB, &e, started),
        Ok(auditor) => auditor,
    };
    let result = Box::pin(auditor.run(&[])).await;
    auditor.audit_logger().flush().await;
    match result {
        Err(e) => failed(JOB, &e, started),
        Ok(report) => {
            eprintln!("{}", audit::summary_line(&report));
            let result = json!({
                "store_key": report.store_key,
                "findings": report.findings.len(),
                "by_kind": report.by_kind,
                "by_cluster": report.by_cluster,
                "clusters": report.clusters,
            });
            succeeded(JOB, result, started)
        }
    }
}

/// The re-run of failed and preliminary RCAs.
async fn rerun_job(env: &impl Env, clock: &SharedClock) -> JobOutcome {
    const JOB: &str = "rerun-failed";
    let started = std::time::Instant::now();
    eprintln!("aiops nightly: {JOB}");
    let rerunner = match Box::pin(rerun::Rerunner::from_env(env, clock.clone())).await {
        Err(e) => return failed(JOB, &e, started),
        Ok(rerunner) => rerunner,
    };
    match Box::pin(rerunner.run(false)).await {
        Err(e) => failed(JOB, &e, started),
        Ok(summary) => succeeded(
            JOB,
            serde_json::to_value(&summary).unwrap_or(Value::Null),
            started,
        ),
    }
}

/// The ZITADEL group sync.
async fn sync_job(env: &impl Env) -> JobOutcome {
    const JOB: &str = "sync-groups";
    let started = std::time::Instant::now();
    eprintln!("aiops nightly: {JOB}");
    let ctx = match Box::pin(crate::sync_groups::Context::from_env(env)).await {
        Err(e) => return failed(JOB, &e, started),
        Ok(ctx) => ctx,
    };
    let args = crate::sync_groups::Args::default();
    match Box::pin(crate::sync_groups::sync(
        &ctx,
        &args,
        &mut std::io::stderr(),
    ))
    .await
    {
        Err(e) => failed(JOB, &e, started),
        Ok(outcome) => {
            eprintln!("{}", crate::sync_groups::summary(&outcome));
            succeeded(
                JOB,
                serde_json::to_value(&outcome).unwrap_or(Value::Null),
                started,
            )
        }
    }
}

/// Runs every job once, each with clients built now from `env`.
pub async fn run_once(env: &impl Env, clock: &SharedClock) -> Summary {
    let started_at = clock.now();
    let mut jobs = vec![
        Box::pin(audit_job(env, clock)).await,
        Box::pin(rerun_job(env, clock)).await,
    ];
    // The group sync runs where ZITADEL is configured; elsewhere it is not a job.
    if env.get(crate::sync_groups::URL_VAR).is_some() {
        jobs.push(Box::pin(sync_job(env)).await);
    }
    Summary { started_at, jobs }
}

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule(cron::Schedule);

impl Schedule {
    /// Parses `expression`; the error names `field` (`--schedule` or the variable).
    pub fn parse(expression: &str, field: &str) -> Result<Self, ConfigError> {
        cron::Schedule::from_str(expression.trim())
            .map(Self)
            .map_err(|e| ConfigError::invalid(field, SCHEDULE_EXPECTED, Some(e.to_string())))
    }

    /// The next `n` run times after `after`.
    pub fn next(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        self.0.after(&after).take(n).collect()
    }
}

/// The command: once (summary JSON on stdout), or on the schedule until `stop`
/// resolves (one summary JSON line per run).
pub async fn run(
    args: &Args,
    env: &impl Env,
    clock: SharedClock,
    stop: impl std::future::Future<Output = ()>,
    mut stdout: impl std::io::Write,
) -> Result<(), Error> {
    let schedule = match (&args.schedule, args.once) {
        (Some(expr), _) => Some(Schedule::parse(expr, "--schedule")?),
        (None, true) => None,
        (None, false) => env
            .get(SCHEDULE_VAR)
            .map(|expr| Schedule::parse(&expr, SCHEDULE_VAR))
            .transpose()?,
    };
    let Some(schedule) = schedule else {
        let summary = Box::pin(run_once(env, &clock)).await;
        print(&mut stdout, &summary, true)?;
        return summary.into_result().map(drop);
    };
    let upcoming: Vec<String> = schedule
        .next(clock.now(), 3)
        .iter()
        .map(DateTime::to_rfc3339)
        .collect();
    eprintln!(
        "aiops nightly: scheduled; next runs {}",
        upcoming.join(", ")
    );
    tokio::pin!(stop);
    loop {
        let Some(next) = schedule.next(clock.now(), 1).into_iter().next() else {
            eprintln!("aiops nightly: the schedule has no further run time");
            return Ok(());
        };
        let wait = (next - clock.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            () = &mut stop => {
                eprintln!("aiops nightly: stopped");
                return Ok(());
            }
            () = tokio::time::sleep(wait) => {}
        }
        let summary = Box::pin(run_once(env, &clock)).await;
        print(&mut stdout, &summary, false)?;
        let ok = summary.jobs.iter().filter(|j| j.ok).count();
        eprintln!(
            "aiops nightly: run of {} done: {ok}/{} jobs ran; next {}",
            summary.started_at.to_rfc3339(),
            summary.jobs.len(),
            schedule
                .next(clock.now(), 1)
                .first()
                .map_or_else(|| "none".into(), DateTime::to_rfc3339)
        );
    }
}

fn print(stdout: &mut impl std::io::Write, summary: &Summary, pretty: bool) -> Result<(), Error> {
    let written = if pretty {
        serde_json::to_writer_pretty(&mut *stdout, summary)
    } else {
        serde_json::to_writer(&mut *stdout, summary)
    };
    written.map_err(|e| Error::Output(e.into()))?;
    writeln!(stdout).map_err(Error::Output)?;
    stdout.flush().map_err(Error::Output)
}

/// An event of the `aiops` Lambda function.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LambdaEvent {
    /// `nightly`, `audit-namespaces`, `rerun-failed` or `record-failure`.
    #[serde(default)]
    pub command: Option<String>,
    /// EventBridge's own scheduled events carry `"detail-type": "Scheduled Event"`.
    #[serde(default, rename = "detail-type")]
    pub detail_type: Option<String>,
    /// `record-failure`: the run.
    #[serde(default)]
    pub run_id: Option<String>,
    /// `record-failure`: the Step Functions error (`{"Error", "Cause"}`).
    #[serde(default)]
    pub error: Option<Value>,
}

/// Handles one Lambda event.
pub async fn handle_event(
    env: &impl Env,
    clock: &SharedClock,
    event: LambdaEvent,
) -> Result<Value, Error> {
    let command = match (&event.command, &event.detail_type) {
        (Some(c), _) => c.as_str(),
        (None, Some(d)) if d == "Scheduled Event" => "nightly",
        (None, _) => {
            return Err(Error::Event {
                field: "event.command",
                expected: "one of nightly, audit-namespaces, rerun-failed, record-failure (or an EventBridge scheduled event)".into(),
            });
        }
    };
    match command {
        "nightly" => {
            let summary = Box::pin(run_once(env, clock)).await.into_result()?;
            Ok(serde_json::to_value(&summary).unwrap_or(Value::Null))
        }
        "audit-namespaces" | "rerun-failed" => {
            let started_at = clock.now();
            let job = if command == "audit-namespaces" {
                Box::pin(audit_job(env, clock)).await
            } else {
                Box::pin(rerun_job(env, clock)).await
            };
            let summary = Summary {
                started_at,
                jobs: vec![job],
            }
            .into_result()?;
            Ok(serde_json::to_value(&summary).unwrap_or(Value::Null))
        }
        "record-failure" => record_failure(env, clock, event).await,
        other => Err(Error::Event {
            field: "event.command",
            expected: format!(
                "one of nightly, audit-namespaces, rerun-failed, record-failure; got {:?}",
                other.chars().take(40).collect::<String>()
            ),
        }),
    }
}

/// Error types of the chain's Lambdas and of Step Functions that a later re-run may
/// get past.
fn retryable_error_type(error_type: &str) -> bool {
    error_type == shared::classify::RETRYABLE_ERROR_TYPE
        || error_type == "States.Timeout"
        || error_type == "States.TaskFailed"
        || error_type.starts_with("Lambda.")
}

/// The state machine's `record-failure` state: the run ends `failed` with the step and
/// the error that stopped the execution, unless a step already recorded its end (a
/// step Lambda records its own failures; this covers timeouts and crashes, where it
/// could not).
async fn record_failure(
    env: &impl Env,
    clock: &SharedClock,
    event: LambdaEvent,
) -> Result<Value, Error> {
    let run_id = event
        .run_id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| Error::Event {
            field: "event.run_id",
            expected: "the id of the run whose execution failed".into(),
        })?;
    let error = event.error.unwrap_or(Value::Null);
    let error_type = error
        .get("Error")
        .and_then(Value::as_str)
        .unwrap_or("States.Unknown")
        .to_owned();
    let cause = error
        .get("Cause")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A Lambda's Cause is its own error JSON; keep its message.
    let cause = serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| cause.to_owned());
    let redactor = Redactor::from_env(env)?;
    let message = redactor
        .redact_text(&format!(
            "{error_type}: {}",
            cause.lines().next().unwrap_or_default()
        ))
        .chars()
        .take(500)
        .collect::<String>();
    let retryable = retryable_error_type(&error_type);
    let ledger = aiops_chain::RunnerConfig::from_env(env)?
        .ledger(clock.clone())
        .await?;
    let now = clock.now();
    let record = ledger
        .modify(&run_id, |record| {
            if record.status.is_terminal() {
                return Ok(());
            }
            let step = record.step.clone().unwrap_or_else(|| "unknown".into());
            record.apply(
                RunEvent::StepFailed {
                    step,
                    message: message.clone(),
                    retryable,
                    last: true,
                    elapsed_ms: 0,
                },
                now,
            )
        })
        .await?;
    Ok(json!({"run_id": record.id, "status": record.status.as_str(), "error": record.error}))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_checked_at_start_and_names_its_source() {
        let err = Schedule::parse("0 2 * * *", "--schedule").unwrap_err();
        assert_eq!(err.var(), "--schedule");
        assert!(err.to_string().contains("seconds first"), "{err}");
        let s = Schedule::parse("0 0 2 * * *", SCHEDULE_VAR).unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-12-02T01:30:00Z")
            .unwrap()
            .to_utc();
        let next = s.next(t0, 2);
        assert_eq!(next[0].to_rfc3339(), "2026-12-02T02:00:00+00:00");
        assert_eq!(next[1].to_rfc3339(), "2026-12-03T02:00:00+00:00");
    }

    #[test]
    fn step_functions_error_types_decide_whether_a_rerun_may_help() {
        assert!(retryable_error_type("Retryable.DependencyFailed"));
        assert!(retryable_error_type("States.Timeout"));
        assert!(retryable_error_type("Lambda.ServiceException"));
        assert!(!retryable_error_type("NonRetryable.InvalidInput"));
        assert!(!retryable_error_type("NonRetryable.DependencyFailed"));
    }
}
