//! The chain in one process: the four functions' own handlers behind one
//! [`StepExecutor`], so `aiops rca` and a local `rca-api` run exactly the code each
//! Lambda runs, in the same order ([`shared::chain::STEPS`]).

use std::time::Duration;

use async_trait::async_trait;
use shared::chain::{ChainState, RetryPolicy, Step, StepExecutor, StepFailure, StepOutput};
use shared::clock::SharedClock;
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::ledger::Ledger;
use shared::store::{SharedStore, StoreConfig};

/// Default lease of a run: renewed every third of it while a step runs.
pub const DEFAULT_LEASE: Duration = Duration::from_mins(2);

/// The four step contexts, built once.
#[derive(Debug)]
pub struct InProcessSteps {
    policy: policy_check::Context,
    collect: collect_evidence::Context,
    analyze: llm_analyze::Context,
    report: commit_report::Context,
}

/// Why the steps could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration of one step is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// collect-evidence could not be set up.
    #[error(transparent)]
    Collect(#[from] collect_evidence::Error),
    /// llm-analyze could not be set up.
    #[error(transparent)]
    Analyze(#[from] llm_analyze::Error),
    /// commit-report could not be set up.
    #[error(transparent)]
    Report(#[from] commit_report::Error),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] shared::store::StoreError),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Invalid,
            Self::Collect(e) => e.kind(),
            Self::Analyze(e) => e.kind(),
            Self::Report(e) => e.kind(),
            Self::Store(e) => e.kind(),
        }
    }
}

impl InProcessSteps {
    /// Every step's context from the environment, as each function's `main` builds it.
    pub async fn from_env(env: &impl Env) -> Result<Self, Error> {
        let policy = policy_check::Context::new(policy_check::Config::from_env(env)?)?;
        Ok(Self {
            policy,
            collect: collect_evidence::Context::from_env(env).await?,
            analyze: llm_analyze::Context::from_env(env).await?,
            report: commit_report::Context::from_env(env).await?,
        })
    }

    /// From ready contexts (tests, other wiring).
    pub fn new(
        policy: policy_check::Context,
        collect: collect_evidence::Context,
        analyze: llm_analyze::Context,
        report: commit_report::Context,
    ) -> Self {
        Self {
            policy,
            collect,
            analyze,
            report,
        }
    }

    /// The policy-check context (its authorizer verifies rca-api's tokens too).
    pub fn policy(&self) -> &policy_check::Context {
        &self.policy
    }
}

#[async_trait]
impl StepExecutor for InProcessSteps {
    async fn execute(&self, step: Step, state: &ChainState) -> Result<StepOutput, StepFailure> {
        match step {
            Step::PolicyCheck => policy_check::step::run(&self.policy, state).await,
            Step::CollectEvidence => collect_evidence::run_step(&self.collect, state).await,
            Step::LlmAnalyze => llm_analyze::run_step(&self.analyze, state).await,
            Step::CommitReport => commit_report::run_step(&self.report, state).await,
        }
    }
}

/// The run ledger and retry settings of a process, from `AIOPS_STORE`,
/// `AIOPS_RUN_LEASE`, `AIOPS_STEP_MAX_ATTEMPTS`, `AIOPS_STEP_BACKOFF_BASE` and
/// `AIOPS_STEP_BACKOFF_MAX`.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Where run records live.
    pub store: StoreConfig,
    /// How long a lease lasts.
    pub lease: Duration,
    /// Step retries.
    pub retry: RetryPolicy,
}

impl RunnerConfig {
    /// Reads the variables above; errors name the variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
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
            store: StoreConfig::from_env(env)?,
            lease: env.duration("AIOPS_RUN_LEASE")?.unwrap_or(DEFAULT_LEASE),
            retry,
        })
    }

    /// A ledger over the configured store.
    pub async fn ledger(&self, clock: SharedClock) -> Result<Ledger, Error> {
        let store: SharedStore = self.store.open().await?;
        Ok(Ledger::new(store, clock, self.lease))
    }
}
