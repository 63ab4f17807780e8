//! `commit-report`, the last chain step: render the RCA report from a run's evidence
//! bundle and analysis, and commit it with the updated index, to GitHub when
//! `AIOPS_GITHUB_REPO` is set or to the local git repository at `AIOPS_REPORT_DIR`.
//!
//! The event names the run; the bundle and analysis come inline or from the store
//! (`evidence/<run-id>.json`, `analyses/<run-id>.json`). The output is the report
//! reference of the run record. Committing is idempotent, so a retried step never adds
//! a second commit.

use std::sync::Arc;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use shared::analysis::Analysis;
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::evidence::EvidenceBundle;
use shared::redact::{RedactionConfig, Redactor};
use shared::report::sink::{SharedSink, SinkConfig};
use shared::report::{ReportConfig, ReportError, render};
use shared::run::ReportRef;
use shared::store::{SharedStore, StoreConfig, StoreError};

/// The event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The run whose report to commit.
    pub run_id: String,
    /// The evidence bundle; read from `evidence/<run-id>.json` when absent.
    #[serde(default)]
    pub bundle: Option<EvidenceBundle>,
    /// The analysis; read from `analyses/<run-id>.json` when absent.
    #[serde(default)]
    pub analysis: Option<Analysis>,
}

/// The response: where the report is.
pub type Output = ReportRef;

/// Why the step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The event is inconsistent (a bundle of another run, an empty run id).
    #[error("event.{field}: expected {expected}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What was expected.
        expected: String,
    },
    /// A stored document is missing or malformed.
    #[error("{key}: {detail}")]
    Stored {
        /// The store key.
        key: String,
        /// What is wrong with it.
        detail: String,
        /// Whether it is missing (the previous step may not have run yet).
        missing: bool,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Rendering or committing failed.
    #[error(transparent)]
    Report(#[from] ReportError),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) | Self::Invalid { .. } | Self::Stored { .. } => ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Report(e) => e.kind(),
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Report(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// This binary's configuration, read once from the environment in `main` (tests build
/// it literally).
#[derive(Debug, Clone)]
pub struct Config {
    /// `AIOPS_STORE`: where the bundle and the analysis are read.
    pub store: StoreConfig,
    /// `AIOPS_REPORT_PATH`, `AIOPS_BACKSTAGE_UI_URL`, `AIOPS_VICTORIALOGS_URL`.
    pub report: ReportConfig,
    /// `AIOPS_REPORT_SINK` and the GitHub or local-git variables.
    pub sink: SinkConfig,
    /// `AIOPS_REDACT_*`: the report's last redaction pass.
    pub redaction: RedactionConfig,
}

impl Config {
    /// Reads `AIOPS_STORE`, the report, sink and redaction variables; errors name the
    /// variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_env(env)?,
            report: ReportConfig::from_env(env)?,
            sink: SinkConfig::from_env(env)?,
            redaction: RedactionConfig::from_env(env)?,
        })
    }
}

/// Clients and configuration, built once per process.
#[derive(Debug)]
pub struct Context {
    store: SharedStore,
    report: ReportConfig,
    redactor: Arc<Redactor>,
    sink: SharedSink,
}

impl Context {
    /// Opens the store and the sink `config` names.
    pub async fn connect(config: Config) -> Result<Self, Error> {
        let store = config.store.open().await?;
        let redactor = Redactor::configured(&config.redaction)?;
        Ok(Self::new(
            store,
            config.report,
            Arc::new(redactor),
            config.sink.open().await?,
        ))
    }

    /// [`Config::from_env`], then [`Context::connect`].
    pub async fn from_env(env: &impl Env) -> Result<Self, Error> {
        Self::connect(Config::from_env(env)?).await
    }

    /// From parts, for tests and for the in-process chain.
    pub fn new(
        store: SharedStore,
        report: ReportConfig,
        redactor: Arc<Redactor>,
        sink: SharedSink,
    ) -> Self {
        Self {
            store,
            report,
            redactor,
            sink,
        }
    }
}

/// Renders and commits the run's report.
#[tracing::instrument(skip(ctx, input), fields(run_id = %input.run_id))]
pub async fn handle(ctx: &Context, input: Input) -> Result<Output, Error> {
    if input.run_id.trim().is_empty() {
        return Err(Error::Invalid {
            field: "run_id",
            expected: "a run id".into(),
        });
    }
    let bundle = match input.bundle {
        Some(b) => b,
        None => load(ctx, &EvidenceBundle::store_key(&input.run_id)).await?,
    };
    if bundle.run_id != input.run_id {
        return Err(Error::Invalid {
            field: "bundle.run_id",
            expected: format!("the event's run id {:?}", input.run_id),
        });
    }
    let mut analysis: Analysis = match input.analysis {
        Some(a) => a,
        None => load(ctx, &Analysis::store_key(&input.run_id)).await?,
    };
    if analysis.run_id != input.run_id {
        return Err(Error::Invalid {
            field: "analysis.run_id",
            expected: format!("the event's run id {:?}", input.run_id),
        });
    }
    analysis.flag_unknown_citations(&bundle);
    let report = render(&bundle, &analysis, &ctx.report, &ctx.redactor)?;
    let published = ctx.sink.publish(&report).await?;
    tracing::info!(path = %published.report.path, commit = %published.report.commit, committed = published.committed, "report step done");
    Ok(published.report)
}

async fn load<T: DeserializeOwned>(ctx: &Context, key: &str) -> Result<T, Error> {
    let Some(found) = ctx.store.get(key).await? else {
        return Err(Error::Stored {
            key: key.to_owned(),
            detail: "not in the store (has the previous step run?)".into(),
            missing: true,
        });
    };
    serde_json::from_slice(&found.value).map_err(|e| Error::Stored {
        key: key.to_owned(),
        detail: format!("not a valid document ({e})"),
        missing: false,
    })
}

/// commit-report as a chain step: renders and commits the run's report from the stored
/// bundle and analysis.
pub async fn run_step(
    ctx: &Context,
    state: &shared::chain::ChainState,
) -> Result<shared::chain::StepOutput, shared::chain::StepFailure> {
    let input = Input {
        run_id: state.run_id.clone(),
        bundle: None,
        analysis: None,
    };
    handle(ctx, input)
        .await
        .map(shared::chain::StepOutput::Committed)
        .map_err(|e| shared::chain::StepFailure::from_error(&e))
}

shared::single_step_executor!(Context, CommitReport, run_step);
