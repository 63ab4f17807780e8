//! The chain in one process: the four functions' own handlers behind one
//! [`StepExecutor`], so `aiops rca` and a local `rca-api` run exactly the code each
//! Lambda runs, in the same order ([`shared::chain::STEPS`]).

use async_trait::async_trait;
use shared::chain::{ChainState, Step, StepExecutor, StepFailure, StepOutput};
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};

pub use shared::chain::{DEFAULT_LEASE, RunnerConfig};

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

    /// The LLM's shared circuit breaker; `None` when no LLM is configured (the
    /// built-in analyzers answer alone).
    pub fn llm_breaker(&self) -> Option<&shared::llm::breaker::SharedBreaker> {
        self.analyze
            .analyze()
            .llm()
            .map(shared::llm::ResilientLlm::breaker)
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
