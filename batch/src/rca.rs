//! `aiops rca --bundle FILE`: analyze a recorded evidence bundle (the LLM if one is
//! configured, the built-in analyzers otherwise), render the report, commit it (GitHub
//! if configured, the local git repository otherwise), and print the run record.
//!
//! Locally the command acts for the operator who runs it: the policy step allows and
//! leaves an audit record with actor `local:<os user>`. The bundle, the analysis and the
//! run record go to the store, so the nightly job and `commit-report` can pick the run
//! up again from there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use shared::analyze::{self, AnalyzeContext};
use shared::audit::{
    AuditConfig, AuditError, AuditEvent, AuditLogger, Console, Decision, Severity,
};
use shared::clock::SharedClock;
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::evidence::{BUNDLE_SCHEMA, EvidenceBundle};
use shared::redact::Redactor;
use shared::report::sink::{SharedSink, SinkConfig};
use shared::report::{self, ReportConfig, ReportError};
use shared::run::{RunRecord, RunStatus};
use shared::store::{self, SharedStore, StoreConfig, StoreError, Update};

/// Arguments of `aiops rca`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A recorded evidence bundle (the JSON persisted as evidence/<run-id>.json).
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
}

/// Why `aiops rca` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle file cannot be read or is not a valid bundle; names file and field.
    #[error("{path}: {detail}")]
    Bundle {
        /// The file given.
        path: String,
        /// The field and what was expected, or the read error.
        detail: String,
    },
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The analysis step failed.
    #[error(transparent)]
    Analyze(#[from] shared::Error),
    /// Rendering or committing the report failed.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The audit logger could not be built.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A run record could not be encoded or printed.
    #[error("writing the run record: {0}")]
    Output(String),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Bundle { .. } | Self::Config(_) => ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Analyze(e) => e.kind(),
            Self::Report(e) => e.kind(),
            Self::Audit(e) => e.kind(),
            Self::Output(_) => ErrorKind::Dependency,
        }
    }
}

/// What the command needs, built once from the environment.
#[derive(Debug)]
pub struct Context {
    store: SharedStore,
    analyze: AnalyzeContext,
    report: ReportConfig,
    redactor: Arc<Redactor>,
    sink: SharedSink,
    audit: AuditLogger,
    clock: SharedClock,
    operator: String,
}

impl Context {
    /// Reads the store, LLM, report, sink, audit and redaction configuration.
    pub async fn from_env(env: &impl Env, clock: SharedClock) -> Result<Self, Error> {
        let store = StoreConfig::from_env(env)?.open().await?;
        let redactor = Arc::new(Redactor::from_env(env)?);
        let analyze = AnalyzeContext::from_env(env, store.clone(), clock.clone())?;
        let report = ReportConfig::from_env(env)?;
        let sink = SinkConfig::from_env(env)?.open().await?;
        let mut audit_config = AuditConfig::from_env(env)?.with_function("aiops");
        // Stdout carries the run record: audit lines that are not sent go to stderr.
        audit_config.console = Console::Stderr;
        let audit = AuditLogger::new(&audit_config, redactor.clone(), clock.clone())?;
        let user = env
            .get("USER")
            .or_else(|| env.get("USERNAME"))
            .unwrap_or_else(|| "unknown".into());
        Ok(Self {
            store,
            analyze,
            report,
            redactor,
            sink,
            audit,
            clock,
            operator: format!("local:{}", user.trim()),
        })
    }
}

/// Reads and checks a bundle file, naming the file and the offending field.
pub fn read_bundle(path: &Path) -> Result<EvidenceBundle, Error> {
    let label = path.display().to_string();
    let bad = |detail: String| Error::Bundle {
        path: label.clone(),
        detail,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read the bundle: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(&text);
    let bundle: EvidenceBundle = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." {
            "bundle".to_owned()
        } else {
            field
        };
        bad(format!("{field}: {}", e.inner()))
    })?;
    if bundle.schema != BUNDLE_SCHEMA {
        return Err(bad(format!("schema: expected {BUNDLE_SCHEMA:?}")));
    }
    if bundle.run_id.trim().is_empty() {
        return Err(bad("run_id: expected a non-empty run id".into()));
    }
    Ok(bundle)
}

/// Runs the command and prints the run record on `stdout`.
#[tracing::instrument(skip_all, fields(bundle = %args.bundle.display()))]
pub async fn run(ctx: &Context, args: &Args, mut stdout: impl Write) -> Result<RunRecord, Error> {
    let bundle = read_bundle(&args.bundle)?;
    let run_id = bundle.run_id.clone();
    let target = &bundle.target;
    ctx.audit.record(
        AuditEvent::new("namespace-access")
            .severity(Severity::Low)
            .actor(ctx.operator.clone())
            .cluster(target.cluster.clone())
            .namespace(target.namespace.clone())
            .entity(target.entity.clone())
            .decision(Decision::Allow)
            .reason("local_operator")
            .request_id(run_id.clone())
            .meta("command", "rca --bundle"),
    );
    let request = serde_json::json!({
        "bundle": args.bundle.display().to_string(),
        "entity": target.entity,
        "cluster": target.cluster,
        "namespace": target.namespace,
        "since": target.since,
        "until": target.until,
    });
    let evidence_key = EvidenceBundle::store_key(&run_id);
    put_json(&*ctx.store, &evidence_key, &bundle, false).await?;

    let outcome = analyze_and_commit(ctx, &bundle).await;
    let now = ctx.clock.now();
    let (status, error, preliminary, report) = match &outcome {
        Ok((preliminary, report)) => (
            RunStatus::Succeeded,
            None,
            *preliminary,
            Some(report.clone()),
        ),
        Err(e) => (
            RunStatus::Failed,
            Some(ctx.redactor.redact_text(&e.to_string()).into_owned()),
            false,
            None,
        ),
    };
    let record = RunRecord {
        id: run_id.clone(),
        request,
        requested_by: ctx.operator.clone(),
        status,
        step: Some("commit-report".into()),
        attempts: 1,
        error,
        preliminary,
        evidence_key: Some(evidence_key),
        report,
        created_at: now,
        updated_at: now,
    };
    let record = save_record(&*ctx.store, record).await?;
    ctx.audit.flush().await;
    outcome?;
    let text = serde_json::to_string_pretty(&record).map_err(|e| Error::Output(e.to_string()))?;
    writeln!(stdout, "{text}").map_err(|e| Error::Output(e.to_string()))?;
    Ok(record)
}

async fn analyze_and_commit(
    ctx: &Context,
    bundle: &EvidenceBundle,
) -> Result<(bool, shared::run::ReportRef), Error> {
    let analysis = analyze::analyze(&ctx.analyze, bundle).await?;
    put_json(
        &*ctx.store,
        &analyze::store_key(&bundle.run_id),
        &analysis,
        true,
    )
    .await?;
    let rendered = report::render(bundle, &analysis, &ctx.report, &ctx.redactor)?;
    let published = ctx.sink.publish(&rendered).await?;
    eprintln!(
        "aiops: report {} at {} ({})",
        if published.committed {
            "committed"
        } else {
            "unchanged"
        },
        published.report.path,
        published.report.commit
    );
    if let Some(pr) = &published.pull_request {
        eprintln!("aiops: pull request {pr}");
    }
    Ok((analysis.preliminary, published.report))
}

/// Writes `value` as JSON; with `replace` false an existing value is kept (a recorded
/// bundle never changes under the same run id).
async fn put_json<T: serde::Serialize + Sync>(
    store: &dyn store::Store,
    key: &str,
    value: &T,
    replace: bool,
) -> Result<(), Error> {
    let bytes =
        Bytes::from(serde_json::to_vec_pretty(value).map_err(|e| Error::Output(e.to_string()))?);
    store::update(store, key, 5, |current| match current {
        Some(existing) if !replace || existing == bytes.as_ref() => Update::Keep(()),
        _ => Update::Write(bytes.clone(), ()),
    })
    .await?;
    Ok(())
}

/// Writes the run record, keeping `created_at` of an earlier run of the same id.
async fn save_record(store: &dyn store::Store, record: RunRecord) -> Result<RunRecord, Error> {
    let key = RunRecord::store_key(&record.id);
    let updated = store::update(store, &key, 5, |current| {
        let mut next = record.clone();
        if let Some(old) = current.and_then(|b| serde_json::from_slice::<RunRecord>(b).ok()) {
            next.created_at = old.created_at;
        }
        match serde_json::to_vec_pretty(&next) {
            Ok(bytes) => Update::Write(Bytes::from(bytes), next),
            Err(_) => Update::Keep(next),
        }
    })
    .await?;
    Ok(updated.value)
}
