//! The llm-analyze step: an evidence bundle in (by run id, by store key, or inline),
//! the analysis out, also kept in the store as `analyses/<run-id>.json`.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use shared::analysis::Analysis;
use shared::analyze::{self, AnalyzeContext};
use shared::clock::{SharedClock, SystemClock};
use shared::config::{ConfigError, Env};
use shared::evidence::EvidenceBundle;
use shared::llm::LlmConfig;
use shared::redact::{RedactionConfig, Redactor};
use shared::store::{SharedStore, StoreConfig, StoreError, Update, update, validate_key};
use shared::{Classify, ErrorKind};
use tracing::instrument;

/// The step's event: exactly one of the three fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Analyse `evidence/<run_id>.json`.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Analyse the bundle at this key, `evidence/<id>.json`.
    #[serde(default)]
    pub evidence_key: Option<String>,
    /// Analyse this bundle.
    #[serde(default)]
    pub bundle: Option<Box<EvidenceBundle>>,
}

/// The step's response: the analysis.
pub type Output = Analysis;

/// The step's failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event is malformed; names the field.
    #[error("{field}: expected {expected}")]
    Invalid {
        /// The offending field, `event.run_id`, or `event` for the whole.
        field: &'static str,
        /// What was expected.
        expected: String,
    },
    /// The referenced bundle is not in the store.
    #[error("no evidence bundle at {key}")]
    NotFound {
        /// The key read.
        key: String,
    },
    /// The stored bundle does not parse.
    #[error("the evidence bundle at {key} is malformed: {source}")]
    Malformed {
        /// The key read or written.
        key: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Reading the bundle or writing the analysis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The analysis itself (or its configuration) failed.
    #[error(transparent)]
    Shared(#[from] shared::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } | Self::NotFound { .. } | Self::Malformed { .. } => {
                ErrorKind::Invalid
            }
            Self::Store(e) => e.kind(),
            Self::Shared(e) => e.kind(),
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Shared(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// This binary's configuration, read once from the environment in `main` (tests build
/// it literally).
#[derive(Debug, Clone)]
pub struct Config {
    /// `AIOPS_STORE`: where bundles are read, analyses written and the breaker lives.
    pub store: StoreConfig,
    /// `AIOPS_LLM_*` and `AIOPS_BREAKER_*`.
    pub llm: LlmConfig,
    /// `AIOPS_REDACT_*`: what the prompt is redacted with.
    pub redaction: RedactionConfig,
}

impl Config {
    /// Reads `AIOPS_STORE`, `AIOPS_LLM_*`, `AIOPS_BREAKER_*` and `AIOPS_REDACT_*`;
    /// errors name the variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            store: StoreConfig::from_env(env)?,
            llm: LlmConfig::from_env(env)?,
            redaction: RedactionConfig::from_env(env)?,
        })
    }
}

/// Clients and configuration, built once per process.
#[derive(Debug)]
pub struct Context {
    store: SharedStore,
    analyze: AnalyzeContext,
}

impl Context {
    /// Opens the store and the provider `config` names.
    pub async fn connect(config: Config) -> Result<Self, Error> {
        let store = config.store.open().await?;
        let redactor = Redactor::configured(&config.redaction).map_err(shared::Error::from)?;
        let clock: SharedClock = Arc::new(SystemClock);
        let analyze =
            AnalyzeContext::connect(config.llm, Arc::new(redactor), store.clone(), clock)?;
        Ok(Self { store, analyze })
    }

    /// [`Config::from_env`], then [`Context::connect`].
    pub async fn from_env(env: &impl Env) -> Result<Self, Error> {
        Self::connect(Config::from_env(env).map_err(shared::Error::from)?).await
    }

    /// From parts, for tests.
    pub fn new(store: SharedStore, analyze: AnalyzeContext) -> Self {
        Self { store, analyze }
    }

    /// The analysis context (its LLM client carries the shared breaker).
    pub fn analyze(&self) -> &AnalyzeContext {
        &self.analyze
    }
}

/// Loads the bundle, analyses it, stores and returns the analysis.
#[instrument(skip(ctx, input), fields(run_id))]
pub async fn handle(ctx: &Context, input: Input) -> Result<Output, Error> {
    let bundle = load(ctx, input).await?;
    tracing::Span::current().record("run_id", bundle.run_id.as_str());
    let analysis = analyze::analyze(&ctx.analyze, &bundle).await?;
    let key = analyze::store_key(&bundle.run_id);
    validate_key(&key)?;
    let bytes =
        Bytes::from(
            serde_json::to_vec_pretty(&analysis).map_err(|source| Error::Malformed {
                key: key.clone(),
                source,
            })?,
        );
    // A re-run replaces the earlier analysis: write whatever version is there.
    update(&*ctx.store, &key, 8, |_| Update::Write(bytes.clone(), ())).await?;
    tracing::info!(key, analyzer = ?analysis.analyzer, preliminary = analysis.preliminary, "analysis stored");
    Ok(analysis)
}

const ONE_OF: &str = "exactly one of run_id, evidence_key or bundle";

async fn load(ctx: &Context, input: Input) -> Result<EvidenceBundle, Error> {
    let key = match (input.run_id, input.evidence_key, input.bundle) {
        (None, None, Some(bundle)) => return Ok(*bundle),
        (Some(id), None, None) => {
            if id.is_empty() || id.contains('/') || validate_key(&id).is_err() {
                return Err(Error::Invalid {
                    field: "event.run_id",
                    expected: "a run id without slashes or leading dots".into(),
                });
            }
            EvidenceBundle::store_key(&id)
        }
        (None, Some(key), None) => {
            if !(key.starts_with("evidence/")
                && std::path::Path::new(&key)
                    .extension()
                    .is_some_and(|e| e == "json"))
                || validate_key(&key).is_err()
            {
                return Err(Error::Invalid {
                    field: "event.evidence_key",
                    expected: "a store key of the form evidence/<id>.json".into(),
                });
            }
            key
        }
        _ => {
            return Err(Error::Invalid {
                field: "event",
                expected: ONE_OF.into(),
            });
        }
    };
    let stored = ctx
        .store
        .get(&key)
        .await?
        .ok_or_else(|| Error::NotFound { key: key.clone() })?;
    serde_json::from_slice(&stored.value).map_err(|source| Error::Malformed { key, source })
}

/// llm-analyze as a chain step: analyses the run's stored bundle.
pub async fn run_step(
    ctx: &Context,
    state: &shared::chain::ChainState,
) -> Result<shared::chain::StepOutput, shared::chain::StepFailure> {
    let input = Input {
        run_id: Some(state.run_id.clone()),
        ..Input::default()
    };
    handle(ctx, input)
        .await
        .map(|analysis| shared::chain::StepOutput::Analyzed {
            preliminary: analysis.preliminary,
        })
        .map_err(|e| shared::chain::StepFailure::from_error(&e))
}

#[cfg(test)]
mod tests;

shared::single_step_executor!(Context, LlmAnalyze, run_step);
