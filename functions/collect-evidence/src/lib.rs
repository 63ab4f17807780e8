//! The collect-evidence step: `{"run_id", "entity", "cluster", "namespace", "since",
//! "until"}` in, the stored bundle's key and per-source outcome out.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use shared::clock::SystemClock;
use shared::collect::{self, CollectContext, CollectSettings};
use shared::config::{ConfigError, Env};
use shared::evidence::{EvidenceBundle, SourceStatus};
use shared::redact::{RedactionConfig, Redactor};
use shared::sources::backstage::{BackstageCatalog, CatalogConfig};
use shared::sources::clusters::{ClustersConfig, KubeClusters};
use shared::sources::logsql::LogSchema;
use shared::sources::victorialogs::VictoriaLogs;
use shared::sources::{Catalog, LogSource};
use shared::store::StoreConfig;
use shared::victorialogs::Endpoint;
use shared::{Classify, ErrorKind};

/// The step's event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The run the evidence belongs to.
    pub run_id: String,
    /// Entity ref, `component:default/checkout`.
    pub entity: String,
    /// Cluster name.
    pub cluster: String,
    /// Namespace; from the entity's annotation when absent.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `2h` or RFC 3339.
    pub since: String,
    /// RFC 3339; now when absent.
    #[serde(default)]
    pub until: Option<String>,
}

/// Item counts in the bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Pods.
    pub pods: usize,
    /// Event groups.
    pub events: usize,
    /// Rollouts.
    pub rollouts: usize,
    /// Log lines.
    pub logs: usize,
    /// k8sgpt findings.
    pub findings: usize,
}

/// The step's response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    /// The run.
    pub run_id: String,
    /// Store key of the bundle, `evidence/<run-id>.json`.
    pub evidence_key: String,
    /// Per source: status, error, counts, elapsed time.
    pub sources: BTreeMap<String, SourceStatus>,
    /// What the bundle holds.
    pub counts: Counts,
}

/// The step's failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened.
    #[error("opening the store: {0}")]
    Store(#[source] shared::store::StoreError),
    /// Collection failed: bad input, a missing entity, or the bundle could not be stored.
    #[error(transparent)]
    Collect(#[from] shared::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Collect(e) => e.kind(),
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::Collect(e) => e.is_retryable(),
            Self::Config(_) => false,
        }
    }
}

/// This binary's configuration, read once from the environment in `main` (tests build
/// it literally).
#[derive(Debug, Clone)]
pub struct Config {
    /// `AIOPS_COLLECT_*`: window, caps, timeouts.
    pub settings: CollectSettings,
    /// `AIOPS_BACKSTAGE_URL`, `AIOPS_BACKSTAGE_TOKEN`; `None`: the catalog is reported
    /// unavailable.
    pub catalog: Option<CatalogConfig>,
    /// `AIOPS_VICTORIALOGS_*`; `None`: logs are read from the cluster.
    pub logs: Option<Endpoint>,
    /// `AIOPS_LOGS_*`: the field names of the log records.
    pub log_schema: LogSchema,
    /// `AIOPS_CLUSTERS` (or the kubeconfig / in-cluster account).
    pub clusters: ClustersConfig,
    /// `AIOPS_STORE`.
    pub store: StoreConfig,
    /// `AIOPS_REDACT_*`.
    pub redaction: RedactionConfig,
}

impl Config {
    /// Reads `AIOPS_STORE`, `AIOPS_BACKSTAGE_*`, `AIOPS_CLUSTERS`,
    /// `AIOPS_VICTORIALOGS_*`, `AIOPS_LOGS_*`, `AIOPS_K8SGPT_NAMESPACE`,
    /// `AIOPS_COLLECT_*` and `AIOPS_REDACT_*`; errors name the variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        Ok(Self {
            settings: CollectSettings::from_env(env)?,
            catalog: CatalogConfig::from_env(env)?,
            logs: Endpoint::from_env(env)?,
            log_schema: LogSchema::from_env(env)?,
            clusters: ClustersConfig::from_env(env)?,
            store: StoreConfig::from_env(env)?,
            redaction: RedactionConfig::from_env(env)?,
        })
    }
}

/// Clients, store, redactor and settings, built once per process.
#[derive(Debug, Clone)]
pub struct Context {
    /// The collection context.
    pub collect: CollectContext,
}

impl Context {
    /// Opens the clients and the store `config` names.
    pub async fn connect(config: Config) -> Result<Self, Error> {
        let timeout = config.settings.timeout;
        let catalog = config
            .catalog
            .map(|c| BackstageCatalog::connect(&c, timeout))
            .transpose()?
            .map(|c| Arc::new(c) as Arc<dyn Catalog>);
        let logs = config
            .logs
            .map(|endpoint| VictoriaLogs::new(&endpoint, config.log_schema, timeout))
            .transpose()?
            .map(|l| Arc::new(l) as Arc<dyn LogSource>);
        let clusters = Arc::new(KubeClusters::new(config.clusters));
        let store = config.store.open().await.map_err(Error::Store)?;
        let redactor = Redactor::configured(&config.redaction)?;
        Ok(Self {
            collect: CollectContext {
                catalog,
                clusters,
                logs,
                store,
                redactor: Arc::new(redactor),
                clock: Arc::new(SystemClock),
                settings: config.settings,
            },
        })
    }

    /// [`Config::from_env`], then [`Context::connect`].
    pub async fn from_env(env: &impl Env) -> Result<Self, Error> {
        Self::connect(Config::from_env(env)?).await
    }
}

/// Collects and persists the evidence for one run.
#[tracing::instrument(skip(ctx, input), fields(run_id = %input.run_id, entity = %input.entity, cluster = %input.cluster))]
pub async fn handle(ctx: &Context, input: Input) -> Result<Output, Error> {
    let request = collect::parse_request(
        &input.run_id,
        &input.entity,
        &input.cluster,
        input.namespace.as_deref(),
        &input.since,
        input.until.as_deref(),
        ctx.collect.clock.now(),
    )?;
    let bundle = collect::collect(&ctx.collect, &request).await?;
    Ok(Output {
        evidence_key: EvidenceBundle::store_key(&bundle.run_id),
        counts: Counts {
            pods: bundle.pods.len(),
            events: bundle.events.len(),
            rollouts: bundle.rollouts.len(),
            logs: bundle.logs.len(),
            findings: bundle.findings.len(),
        },
        run_id: bundle.run_id,
        sources: bundle.sources,
    })
}

/// collect-evidence as a chain step: collects and stores the run's bundle.
pub async fn run_step(
    ctx: &Context,
    state: &shared::chain::ChainState,
) -> Result<shared::chain::StepOutput, shared::chain::StepFailure> {
    let input = Input {
        run_id: state.run_id.clone(),
        entity: state.entity.clone(),
        cluster: state.cluster.clone(),
        namespace: Some(state.namespace.clone()),
        since: state.since.clone(),
        until: state.until.clone(),
    };
    handle(ctx, input)
        .await
        .map(|out| shared::chain::StepOutput::Collected(out.evidence_key))
        .map_err(|e| shared::chain::StepFailure::from_error(&e))
}

shared::single_step_executor!(Context, CollectEvidence, run_step);
