//! The chain one RCA request runs through: policy-check → collect-evidence →
//! llm-analyze → commit-report.
//!
//! [`STEPS`] is the one ordered list; the Step Functions state machine in `infra/` is
//! checked against it. A [`StepExecutor`] runs one step on a [`ChainState`] (in-process,
//! it calls the functions' own handlers); the [`Runner`] drives the steps in order and
//! records every attempt in the run record through the [`Ledger`]: status, step,
//! attempts, timing, the error and whether it is retryable. Only retryable failures are
//! retried, a bounded number of times with backoff. A deny ends the run `denied`; an
//! invalid request ends it `failed` at once. While a step runs, the runner renews the
//! run's lease; a resumed run starts at the first step that has not succeeded and never
//! re-collects evidence that is already stored.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backoff::Backoff;
use crate::error::{Classify, ErrorKind};
use crate::evidence::EvidenceBundle;
use crate::identity::Principal;
use crate::ledger::{Ledger, LedgerError};
use crate::redact::Redactor;
use crate::run::{RunEvent, RunRecord, RunStatus};

pub mod accept;
pub mod lambda;

/// A step of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// May this principal look into this namespace?
    PolicyCheck,
    /// Catalog, cluster, logs and k8sgpt → the stored evidence bundle.
    CollectEvidence,
    /// The bundle → an analysis (LLM, or the built-in analyzers).
    LlmAnalyze,
    /// Bundle and analysis → the committed report.
    CommitReport,
}

/// The chain, in order.
pub const STEPS: [Step; 4] = [
    Step::PolicyCheck,
    Step::CollectEvidence,
    Step::LlmAnalyze,
    Step::CommitReport,
];

/// The step names, in order: the Lambda functions and the state machine's task states.
/// (Literal strings, so tools outside Rust read them; a test keeps them equal to
/// [`Step::name`] of [`STEPS`].)
pub const STEP_NAMES: [&str; 4] = [
    "policy-check",
    "collect-evidence",
    "llm-analyze",
    "commit-report",
];

impl Step {
    /// The name of the step and of its Lambda function.
    pub const fn name(self) -> &'static str {
        match self {
            Self::PolicyCheck => "policy-check",
            Self::CollectEvidence => "collect-evidence",
            Self::LlmAnalyze => "llm-analyze",
            Self::CommitReport => "commit-report",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The RCA request: the rca-api POST body and the file of `aiops rca --request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RcaRequest {
    /// Entity ref, `component:default/checkout`.
    pub entity: String,
    /// Cluster; from the entity or the configured default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Namespace; from the entity's `backstage.io/kubernetes-namespace` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Start of the window: a duration back from `until` (`2h`) or RFC 3339.
    #[serde(default = "default_since")]
    pub since: String,
    /// End of the window, RFC 3339; now when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// A repeated request with the same key (from the same requester) returns the
    /// first run instead of starting another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

fn default_since() -> String {
    "2h".into()
}

/// What every step reads: the run, the resolved target and who asked, derived from the
/// run record (the state machine passes only the run id, see [`lambda::ChainEvent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainState {
    /// The run.
    pub run_id: String,
    /// Entity ref.
    pub entity: String,
    /// Cluster.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Window start, as requested.
    pub since: String,
    /// Window end, as requested.
    #[serde(default)]
    pub until: Option<String>,
    /// The verified principal; `None` for a local operator run.
    #[serde(default)]
    pub principal: Option<Principal>,
    /// Who asked, as recorded (`user:default/jane`, `local:<os user>`).
    pub requested_by: String,
}

impl ChainState {
    /// The state of a run, from its record (whose request holds the resolved target).
    pub fn from_record(record: &RunRecord) -> Result<Self, StepFailure> {
        let field = |name: &str| {
            record
                .request
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let required = |name: &str| {
            field(name).ok_or_else(|| {
                StepFailure::invalid(format!(
                    "run {}: request.{name}: expected a string in the run record",
                    record.id
                ))
            })
        };
        Ok(Self {
            run_id: record.id.clone(),
            entity: required("entity")?,
            cluster: required("cluster")?,
            namespace: required("namespace")?,
            since: field("since").unwrap_or_else(default_since),
            until: field("until"),
            principal: record.principal.clone(),
            requested_by: record.requested_by.clone(),
        })
    }
}

/// What a step produced, merged into the run record.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutput {
    /// The policy allowed; the decision JSON.
    Allowed(Value),
    /// The policy refused, with its reason code; the run ends `denied`.
    Denied {
        /// Reason code (`not_owner`, …).
        reason: String,
        /// The decision JSON.
        decision: Value,
    },
    /// The evidence bundle is stored under this key.
    Collected(String),
    /// The analysis is stored; `preliminary` when it came from the built-in analyzers
    /// because no LLM answered.
    Analyzed {
        /// Built-in analyzers stood in for the LLM.
        preliminary: bool,
    },
    /// The report is committed.
    Committed(crate::run::ReportRef),
}

/// A failed attempt of a step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StepFailure {
    /// Invalid input or a dependency failure.
    pub kind: ErrorKind,
    /// Whether another attempt may succeed.
    pub retryable: bool,
    /// One line, naming the field or dependency.
    pub message: String,
}

impl StepFailure {
    /// From a handler's error, keeping its classification.
    pub fn from_error<E: Classify>(err: &E) -> Self {
        let kind = err.kind();
        Self {
            kind,
            retryable: kind == ErrorKind::Dependency && err.is_retryable(),
            message: crate::error::one_line(err),
        }
    }

    /// Bad input: never retried.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Invalid,
            retryable: false,
            message: message.into(),
        }
    }
}

impl Classify for StepFailure {
    fn kind(&self) -> ErrorKind {
        self.kind
    }

    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Runs one step on a state.
#[async_trait]
pub trait StepExecutor: Send + Sync + fmt::Debug {
    /// One attempt of `step`.
    async fn execute(&self, step: Step, state: &ChainState) -> Result<StepOutput, StepFailure>;
}

/// Implements [`StepExecutor`] for a function's context that runs exactly one step,
/// through its `run_step(&Context, &ChainState)` adapter:
/// `shared::single_step_executor!(Context, CollectEvidence, run_step);`
#[macro_export]
macro_rules! single_step_executor {
    ($context:ty, $step:ident, $run:path) => {
        #[async_trait::async_trait]
        impl $crate::chain::StepExecutor for $context {
            async fn execute(
                &self,
                step: $crate::chain::Step,
                state: &$crate::chain::ChainState,
            ) -> Result<$crate::chain::StepOutput, $crate::chain::StepFailure> {
                if step != $crate::chain::Step::$step {
                    return Err($crate::chain::StepFailure::invalid(format!(
                        "the {} function cannot run the {step} step",
                        $crate::chain::Step::$step
                    )));
                }
                $run(self, state).await
            }
        }
    };
}

/// How often and how patiently a failing step is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per step, the first included.
    pub max_attempts: u32,
    /// Backoff between attempts.
    pub backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff {
                base: Duration::from_millis(500),
                max: Duration::from_secs(10),
            },
        }
    }
}

/// Default lease of a run: renewed every third of it while a step runs.
pub const DEFAULT_LEASE: Duration = Duration::from_mins(2);

/// The run ledger and retry settings of a process, from `AIOPS_STORE`,
/// `AIOPS_RUN_LEASE`, `AIOPS_STEP_MAX_ATTEMPTS`, `AIOPS_STEP_BACKOFF_BASE` and
/// `AIOPS_STEP_BACKOFF_MAX`.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Where run records live.
    pub store: crate::store::StoreConfig,
    /// How long a lease lasts.
    pub lease: Duration,
    /// Step retries.
    pub retry: RetryPolicy,
}

impl RunnerConfig {
    /// Reads the variables above; errors name the variable.
    pub fn from_env(env: &impl crate::config::Env) -> Result<Self, crate::config::ConfigError> {
        use crate::config::ConfigError;
        let mut retry = RetryPolicy::default();
        if let Some(n) = env.parse::<u32>("AIOPS_STEP_MAX_ATTEMPTS", "a whole number ≥ 1")? {
            if n == 0 {
                return Err(ConfigError::invalid(
                    "AIOPS_STEP_MAX_ATTEMPTS",
                    "a whole number ≥ 1",
                    None,
                ));
            }
            retry.max_attempts = n;
        }
        if let Some(d) = env.duration("AIOPS_STEP_BACKOFF_BASE")? {
            retry.backoff.base = d;
        }
        if let Some(d) = env.duration("AIOPS_STEP_BACKOFF_MAX")? {
            retry.backoff.max = d;
        }
        Ok(Self {
            store: crate::store::StoreConfig::from_env(env)?,
            lease: env.duration("AIOPS_RUN_LEASE")?.unwrap_or(DEFAULT_LEASE),
            retry,
        })
    }

    /// A ledger over the configured store.
    pub async fn ledger(
        &self,
        clock: crate::clock::SharedClock,
    ) -> Result<Ledger, crate::store::StoreError> {
        Ok(Ledger::new(self.store.open().await?, clock, self.lease))
    }
}

/// Why the runner stopped without a terminal record.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// The ledger failed or refused (another process holds the run).
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl Classify for RunnerError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Ledger(e) => e.kind(),
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Ledger(e) => e.is_retryable(),
        }
    }
}

/// Drives runs through the chain and records every attempt.
#[derive(Debug, Clone)]
pub struct Runner {
    ledger: Ledger,
    steps: Arc<dyn StepExecutor>,
    retry: RetryPolicy,
    redactor: Arc<Redactor>,
    owner: String,
}

impl Runner {
    /// A runner that acts as `owner` (an id of this process, kept in the lease).
    pub fn new(
        ledger: Ledger,
        steps: Arc<dyn StepExecutor>,
        retry: RetryPolicy,
        redactor: Arc<Redactor>,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            ledger,
            steps,
            retry,
            redactor,
            owner: owner.into(),
        }
    }

    /// The ledger the runner records in.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Runs (or resumes) the run to a terminal status and returns the final record.
    pub async fn run(&self, run_id: &str) -> Result<RunRecord, RunnerError> {
        let record = self.load(run_id).await?;
        if stopped(&record) {
            return Ok(record);
        }
        if record.status == RunStatus::Failed {
            self.ledger
                .apply(
                    run_id,
                    RunEvent::Resumed {
                        owner: self.owner.clone(),
                        until: self.ledger.lease_until(),
                    },
                )
                .await?;
        }
        self.drive(run_id).await
    }

    /// Runs the analysis and the report of a succeeded, preliminary run again (the
    /// nightly upgrade once an LLM answers); the report is rewritten at its own path.
    /// The stored evidence is reused. Returns the final record.
    pub async fn reanalyze(&self, run_id: &str) -> Result<RunRecord, RunnerError> {
        self.ledger
            .apply(
                run_id,
                RunEvent::Reanalyze {
                    owner: self.owner.clone(),
                    until: self.ledger.lease_until(),
                    steps: vec![
                        Step::LlmAnalyze.name().to_owned(),
                        Step::CommitReport.name().to_owned(),
                    ],
                },
            )
            .await?;
        self.drive(run_id).await
    }

    /// Every step not yet done, in order, to a terminal status.
    async fn drive(&self, run_id: &str) -> Result<RunRecord, RunnerError> {
        for step in STEPS {
            let record = self.load(run_id).await?;
            if record.step_done(step.name()) {
                continue;
            }
            if stopped(&record) {
                return Ok(record);
            }
            let record = self.run_step(step, record).await?;
            if record.status.is_terminal() {
                return Ok(record);
            }
        }
        Ok(self.ledger.apply(run_id, RunEvent::Finished).await?)
    }

    /// One recorded attempt of `step`, as a Lambda invoked by the state machine makes
    /// it: nothing happens for a run that is finished or whose step already succeeded
    /// (a retried invocation), stored evidence is reused, and the last step's success
    /// finishes the run. Returns the record afterwards.
    pub async fn run_one(&self, run_id: &str, step: Step) -> Result<RunRecord, RunnerError> {
        let record = self.load(run_id).await?;
        if matches!(record.status, RunStatus::Succeeded | RunStatus::Denied)
            || record.step_done(step.name())
        {
            return Ok(record);
        }
        if step == Step::CollectEvidence
            && let Some(record) = self.reuse_evidence(&record).await?
        {
            return Ok(record);
        }
        let record = self.attempt(run_id, step).await?;
        if step == STEPS[STEPS.len() - 1] && record.step_done(step.name()) {
            return Ok(self.ledger.apply(run_id, RunEvent::Finished).await?);
        }
        Ok(record)
    }

    /// Runs `step` with its retries; the record returned is terminal when the step
    /// ended the run.
    async fn run_step(&self, step: Step, record: RunRecord) -> Result<RunRecord, RunnerError> {
        if step == Step::CollectEvidence
            && let Some(record) = self.reuse_evidence(&record).await?
        {
            return Ok(record);
        }
        // Each run (or resume) gets the whole budget of attempts.
        let before = record.step_run(step.name()).map_or(0, |s| s.attempts);
        let mut attempt = 0;
        loop {
            let record = self
                .attempt_within(&record.id, step, before + self.retry.max_attempts)
                .await?;
            if record.status.is_terminal() || record.step_done(step.name()) {
                return Ok(record);
            }
            // A failed attempt with a retry ahead.
            let wait = self.retry.backoff.random_delay(attempt);
            attempt += 1;
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt of `step`, recorded: the building block of both the in-process run
    /// and a Lambda step invoked by the state machine. The attempt is the last when it
    /// fails for good or the attempts are used up.
    pub async fn attempt(&self, run_id: &str, step: Step) -> Result<RunRecord, RunnerError> {
        self.attempt_within(run_id, step, self.retry.max_attempts)
            .await
    }

    async fn attempt_within(
        &self,
        run_id: &str,
        step: Step,
        max_attempts: u32,
    ) -> Result<RunRecord, RunnerError> {
        let record = self
            .ledger
            .apply(
                run_id,
                RunEvent::StepStarted {
                    step: step.name().to_owned(),
                    owner: self.owner.clone(),
                    until: self.ledger.lease_until(),
                },
            )
            .await?;
        let attempts = record.attempts;
        let started = Instant::now();
        let outcome = match ChainState::from_record(&record) {
            Ok(state) => self.execute_with_lease(run_id, step, &state).await,
            Err(failure) => Err(failure),
        };
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Ok(output) => Ok(self.succeeded(run_id, step, output, elapsed_ms).await?),
            Err(failure) => {
                let last = !failure.retryable || attempts >= max_attempts;
                let message = self.redactor.redact_text(&failure.message).into_owned();
                tracing::warn!(run_id, %step, attempts, retryable = failure.retryable, last, "step failed: {message}");
                Ok(self
                    .ledger
                    .apply(
                        run_id,
                        RunEvent::StepFailed {
                            step: step.name().to_owned(),
                            message,
                            retryable: failure.retryable,
                            last,
                            elapsed_ms,
                        },
                    )
                    .await?)
            }
        }
    }

    /// Runs the step while renewing the lease at a third of its length.
    async fn execute_with_lease(
        &self,
        run_id: &str,
        step: Step,
        state: &ChainState,
    ) -> Result<StepOutput, StepFailure> {
        let execute = self.steps.execute(step, state);
        tokio::pin!(execute);
        let period = (self.ledger.lease_duration() / 3).max(Duration::from_millis(10));
        loop {
            tokio::select! {
                result = &mut execute => return result,
                () = tokio::time::sleep(period) => {
                    let renewed = self.ledger.apply(run_id, RunEvent::LeaseRenewed {
                        owner: self.owner.clone(),
                        until: self.ledger.lease_until(),
                    }).await;
                    if let Err(error) = renewed {
                        tracing::warn!(run_id, %step, %error, "could not renew the run's lease");
                    }
                }
            }
        }
    }

    async fn succeeded(
        &self,
        run_id: &str,
        step: Step,
        output: StepOutput,
        elapsed_ms: u64,
    ) -> Result<RunRecord, LedgerError> {
        let now = self.ledger.clock().now();
        let name = step.name().to_owned();
        self.ledger
            .modify(run_id, |record| {
                let mut denied = None;
                match &output {
                    StepOutput::Allowed(decision) => record.decision = Some(decision.clone()),
                    StepOutput::Denied { reason, decision } => {
                        record.decision = Some(decision.clone());
                        denied = Some(reason.clone());
                    }
                    StepOutput::Collected(key) => record.evidence_key = Some(key.clone()),
                    StepOutput::Analyzed { preliminary } => record.preliminary = *preliminary,
                    StepOutput::Committed(report) => record.report = Some(report.clone()),
                }
                record.apply(
                    RunEvent::StepSucceeded {
                        step: name.clone(),
                        elapsed_ms,
                        skipped: false,
                    },
                    now,
                )?;
                if let Some(reason) = denied {
                    record.apply(RunEvent::Denied { reason }, now)?;
                }
                Ok(())
            })
            .await
    }

    /// A stored bundle is never collected again: the step is marked done, skipped.
    async fn reuse_evidence(&self, record: &RunRecord) -> Result<Option<RunRecord>, LedgerError> {
        let key = EvidenceBundle::store_key(&record.id);
        if self.ledger.store().get(&key).await?.is_none() {
            return Ok(None);
        }
        let now = self.ledger.clock().now();
        let updated = self
            .ledger
            .modify(&record.id, |r| {
                r.evidence_key = Some(key.clone());
                r.apply(
                    RunEvent::StepSucceeded {
                        step: Step::CollectEvidence.name().to_owned(),
                        elapsed_ms: 0,
                        skipped: true,
                    },
                    now,
                )
            })
            .await?;
        Ok(Some(updated))
    }

    async fn load(&self, run_id: &str) -> Result<RunRecord, LedgerError> {
        self.ledger
            .get(run_id)
            .await?
            .ok_or_else(|| LedgerError::Missing(run_id.to_owned()))
    }
}

/// Finished for good: succeeded, denied, or failed in a way a resume cannot fix.
fn stopped(record: &RunRecord) -> bool {
    match record.status {
        RunStatus::Succeeded | RunStatus::Denied => true,
        RunStatus::Failed => !record.error.as_ref().is_some_and(|e| e.retryable),
        RunStatus::Queued | RunStatus::Running => false,
    }
}

#[cfg(test)]
mod tests;
