//! `aiops rerun-failed`: the nightly re-run of RCAs that can still succeed.
//!
//! - A run that failed with a retryable error, or whose lease ran out (the ledger
//!   settles those into retryable failures when it reads them), is resumed from the
//!   failed step by the chain runner; a stored evidence bundle is never collected again.
//! - A succeeded run whose report is preliminary (the LLM did not answer) is analysed
//!   again once the LLM's shared breaker is closed; the report is rewritten at its own
//!   path.
//! - Denied runs and invalid requests are never taken up. Each run is taken up at most
//!   `max_reruns` times, and only once `backoff · 2^reruns` has passed since its last
//!   attempt, so a second job the same night finds nothing new to do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use serde::Serialize;
use shared::chain::{Runner, StepExecutor};
use shared::clock::SharedClock;
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::ledger::{Filter, Ledger, LedgerError};
use shared::llm::breaker::BreakerState;
use shared::redact::Redactor;
use shared::run::{RunRecord, RunStatus};
use shared::store::StoreError;

/// Default most re-runs of one run.
pub const DEFAULT_MAX_RERUNS: u32 = 3;
/// Default wait after a run's last attempt before its first re-run (doubling after each).
pub const DEFAULT_BACKOFF: Duration = Duration::from_hours(1);
/// Default runs taken up at once.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// The longest wait the doubling reaches.
const MAX_BACKOFF: Duration = Duration::from_hours(7 * 24);

/// Arguments of `aiops rerun-failed`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Print what would be taken up, and why the rest is skipped, without running.
    #[arg(long)]
    pub dry_run: bool,
}

/// Re-run settings: `AIOPS_RERUN_MAX_ATTEMPTS`, `AIOPS_RERUN_BACKOFF`,
/// `AIOPS_RERUN_CONCURRENCY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Most re-runs of one run.
    pub max_reruns: u32,
    /// Wait after the last attempt before the first re-run; doubles after each.
    pub backoff: Duration,
    /// Runs taken up at once.
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            max_reruns: DEFAULT_MAX_RERUNS,
            backoff: DEFAULT_BACKOFF,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

impl Settings {
    /// From the environment; errors name the variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let mut settings = Self::default();
        if let Some(n) = env.parse::<u32>("AIOPS_RERUN_MAX_ATTEMPTS", "a whole number")? {
            settings.max_reruns = n;
        }
        if let Some(d) = env.duration("AIOPS_RERUN_BACKOFF")? {
            settings.backoff = d;
        }
        if let Some(n) = env.parse::<usize>("AIOPS_RERUN_CONCURRENCY", "a whole number ≥ 1")? {
            if n == 0 {
                return Err(ConfigError::invalid(
                    "AIOPS_RERUN_CONCURRENCY",
                    "a whole number ≥ 1",
                    None,
                ));
            }
            settings.concurrency = n;
        }
        Ok(settings)
    }

    /// When a run changed at `last` after `reruns` re-runs may be taken up again.
    pub fn due_at(&self, last: DateTime<Utc>, reruns: u32) -> DateTime<Utc> {
        let factor = 1u32.checked_shl(reruns.min(31)).unwrap_or(u32::MAX);
        let wait = self.backoff.saturating_mul(factor).min(MAX_BACKOFF);
        last + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX)
    }
}

/// Why `aiops rerun-failed` could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The steps could not be set up.
    #[error(transparent)]
    Steps(#[from] aiops_chain::Error),
    /// The run records could not be read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The summary could not be printed.
    #[error("writing the summary")]
    Output(#[source] std::io::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Steps(e) => e.kind(),
            Self::Ledger(e) => e.kind(),
            Self::Output(_) => ErrorKind::Dependency,
        }
    }
}

/// What the job does with one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Resume a retryable failure from its failed step.
    Resume,
    /// Analyse a preliminary report again.
    Reanalyze,
}

/// Why a run is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Skip {
    /// Failed for a reason a re-run cannot fix (invalid request, …).
    NotRetryable,
    /// Its re-runs are used up.
    MaxAttempts,
    /// Too soon after its last attempt.
    Backoff,
    /// A preliminary report, but no LLM is configured.
    NoLlm,
    /// A preliminary report, but the LLM's breaker is not closed.
    BreakerNotClosed,
    /// Another process holds it.
    Running,
}

/// One run the job took up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Taken {
    /// The run.
    pub id: String,
    /// What was done.
    pub action: Action,
    /// Its status afterwards (`succeeded`, `failed`, `denied`), or the error that kept
    /// the runner from recording one.
    pub status: String,
    /// Whether the report is still preliminary.
    pub preliminary: bool,
}

/// What one job did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Failed or preliminary runs looked at.
    pub considered: usize,
    /// Runs taken up, with their outcome.
    pub taken: Vec<Taken>,
    /// Runs left alone, counted by reason.
    pub skipped: BTreeMap<Skip, usize>,
    /// In a dry run: the runs that would be taken up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_take: Vec<(String, Action)>,
}

impl Summary {
    /// Runs taken up that ended `succeeded` and not preliminary (a full report).
    pub fn recovered(&self) -> usize {
        self.taken
            .iter()
            .filter(|t| t.status == "succeeded" && !t.preliminary)
            .count()
    }
}

/// The runner and what it needs to judge runs.
#[derive(Debug, Clone)]
pub struct Rerunner {
    runner: Runner,
    ledger: Ledger,
    steps: Arc<aiops_chain::InProcessSteps>,
    clock: SharedClock,
    settings: Settings,
}

impl Rerunner {
    /// Every step's configuration, the run ledger and the re-run settings.
    pub async fn from_env(env: &impl Env, clock: SharedClock) -> Result<Self, Error> {
        let runner_config = aiops_chain::RunnerConfig::from_env(env)?;
        let ledger = runner_config.ledger(clock.clone()).await?;
        let steps = Arc::new(aiops_chain::InProcessSteps::from_env(env).await?);
        let runner = Runner::new(
            ledger.clone(),
            steps.clone() as Arc<dyn StepExecutor>,
            runner_config.retry,
            Arc::new(Redactor::from_env(env)?),
            format!("aiops-nightly:{}", std::process::id()),
        );
        Ok(Self {
            runner,
            ledger,
            steps,
            clock,
            settings: Settings::from_env(env)?,
        })
    }

    /// What to do with `record` now, given the breaker's state (`None`: no LLM).
    fn judge(
        &self,
        record: &RunRecord,
        breaker: Option<&BreakerState>,
    ) -> Option<Result<Action, Skip>> {
        let now = self.clock.now();
        let action = match record.status {
            RunStatus::Failed if record.error.as_ref().is_some_and(|e| e.retryable) => {
                Action::Resume
            }
            RunStatus::Failed => return Some(Err(Skip::NotRetryable)),
            RunStatus::Succeeded if record.preliminary => Action::Reanalyze,
            RunStatus::Queued | RunStatus::Running => return Some(Err(Skip::Running)),
            RunStatus::Succeeded | RunStatus::Denied => return None,
        };
        if record.reruns >= self.settings.max_reruns {
            return Some(Err(Skip::MaxAttempts));
        }
        if now < self.settings.due_at(last_attempt(record), record.reruns) {
            return Some(Err(Skip::Backoff));
        }
        if action == Action::Reanalyze {
            match breaker {
                None => return Some(Err(Skip::NoLlm)),
                Some(BreakerState::Closed { .. }) => {}
                Some(_) => return Some(Err(Skip::BreakerNotClosed)),
            }
        }
        Some(Ok(action))
    }

    /// One pass over the ledger.
    pub async fn run(&self, dry_run: bool) -> Result<Summary, Error> {
        let breaker = match self.steps.llm_breaker() {
            None => None,
            Some(b) => Some(b.state().await?),
        };
        let records = self.ledger.list(&Filter::default()).await?;
        let mut summary = Summary::default();
        let mut work = Vec::new();
        for record in &records {
            match self.judge(record, breaker.as_ref()) {
                None => {}
                Some(Err(skip)) => {
                    summary.considered += 1;
                    *summary.skipped.entry(skip).or_default() += 1;
                }
                Some(Ok(action)) => {
                    summary.considered += 1;
                    work.push((record.id.clone(), action));
                }
            }
        }
        if dry_run {
            summary.would_take = work;
            return Ok(summary);
        }
        let total = work.len();
        let mut done = 0usize;
        let mut results = futures::stream::iter(work)
            .map(|(id, action)| async move {
                let outcome = match action {
                    Action::Resume => self.runner.run(&id).await,
                    Action::Reanalyze => self.runner.reanalyze(&id).await,
                };
                (id, action, outcome)
            })
            .buffer_unordered(self.settings.concurrency);
        while let Some((id, action, outcome)) = results.next().await {
            done += 1;
            let taken = match outcome {
                Ok(record) => Taken {
                    id,
                    action,
                    status: record.status.as_str().to_owned(),
                    preliminary: record.preliminary,
                },
                // Another process took it first, or the store failed: the run stays
                // as it is and a later job looks again.
                Err(e) => Taken {
                    id,
                    action,
                    status: format!("not run: {}", shared::error::one_line(&e)),
                    preliminary: action == Action::Reanalyze,
                },
            };
            eprintln!(
                "aiops rerun-failed: {done}/{total} {} ({:?}) → {}",
                taken.id, taken.action, taken.status
            );
            summary.taken.push(taken);
        }
        summary.taken.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(summary)
    }
}

/// When the run's last attempt ended (or started, for one whose process died), which
/// the backoff counts from; the record's last change when no step ran.
fn last_attempt(record: &RunRecord) -> DateTime<Utc> {
    record
        .steps
        .iter()
        .map(|s| s.finished_at.unwrap_or(s.started_at))
        .max()
        .unwrap_or(record.updated_at)
}

/// Runs the command: the summary JSON on `stdout`, progress and counts on stderr.
pub async fn run(
    rerunner: &Rerunner,
    args: &Args,
    mut stdout: impl std::io::Write,
) -> Result<Summary, Error> {
    let summary = rerunner.run(args.dry_run).await?;
    eprintln!(
        "aiops rerun-failed: {} considered, {} taken up, {} recovered, skipped {:?}",
        summary.considered,
        summary.taken.len(),
        summary.recovered(),
        summary.skipped
    );
    serde_json::to_writer_pretty(&mut stdout, &summary).map_err(|e| Error::Output(e.into()))?;
    writeln!(stdout).map_err(Error::Output)?;
    Ok(summary)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_with_each_rerun_and_is_capped() {
        let s = Settings::default();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(s.due_at(t0, 0) - t0, TimeDelta::hours(1));
        assert_eq!(s.due_at(t0, 2) - t0, TimeDelta::hours(4));
        assert_eq!(s.due_at(t0, 40) - t0, TimeDelta::days(7));
    }

    #[test]
    fn settings_name_the_variable_they_refuse() {
        let env = shared::config::MapEnv::new().with("AIOPS_RERUN_CONCURRENCY", "0");
        assert_eq!(
            Settings::from_env(&env).unwrap_err().var(),
            "AIOPS_RERUN_CONCURRENCY"
        );
        let env = shared::config::MapEnv::new()
            .with("AIOPS_RERUN_MAX_ATTEMPTS", "5")
            .with("AIOPS_RERUN_BACKOFF", "30m");
        let s = Settings::from_env(&env).unwrap();
        assert_eq!((s.max_reruns, s.backoff), (5, Duration::from_mins(30)));
    }
}
