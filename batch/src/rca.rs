//! `aiops rca`: one RCA run in this process, through the same chain runner the
//! functions use, printing the final run record.
//!
//! - `--request FILE`: an RCA request (as rca-api takes it) runs the whole chain against
//!   the configured sources: policy → collect → analyze → commit.
//! - `--bundle FILE`: a recorded evidence bundle is stored as the run's evidence, so the
//!   chain skips collection (no cluster needed) and analyzes and commits it. The run
//!   keeps the bundle's run id, so running the same bundle again changes nothing.
//!
//! Locally the command acts for the operator who runs it (`local:<os user>`; the policy
//! step allows with `local_operator` and writes the audit record), or, with `--token
//! JWT`, for that token's principal, checked exactly as rca-api checks it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;
use shared::audit::{AuditConfig, AuditError, AuditLogger, Console};
use shared::chain::accept::{AcceptOptions, Acceptor, Caller, Refusal};
use shared::chain::{RcaRequest, Runner, RunnerError};
use shared::clock::SharedClock;
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::evidence::{BUNDLE_SCHEMA, EvidenceBundle};
use shared::identity::IdentityConfig;
use shared::policy::Policy;
use shared::redact::Redactor;
use shared::run::{RunRecord, RunStatus};
use shared::sources::Catalog;
use shared::sources::backstage::BackstageCatalog;
use shared::store::{self, StoreError, Update};

/// Arguments of `aiops rca`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["bundle", "request"])))]
pub struct Args {
    /// A recorded evidence bundle (the JSON persisted as evidence/<run-id>.json).
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// An RCA request: {"entity", "cluster", "namespace", "since", "until"}.
    #[arg(long, value_name = "FILE")]
    pub request: Option<PathBuf>,
    /// Act for this token's principal instead of the local operator (`-` reads it from
    /// stdin, which keeps it out of the process list).
    #[arg(long, value_name = "JWT")]
    pub token: Option<String>,
}

impl std::fmt::Debug for Args {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field("bundle", &self.bundle)
            .field("request", &self.request)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why `aiops rca` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input file cannot be read or is not valid; names file and field.
    #[error("{path}: {detail}")]
    Input {
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
    /// The steps could not be set up.
    #[error(transparent)]
    Steps(#[from] aiops_chain::Error),
    /// The request was refused before a run started.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The runner could not record the run.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// The audit logger could not be built.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The run ended `failed`; the record is on stdout.
    #[error("run {id} failed at {step}: {message}")]
    Failed {
        /// The run.
        id: String,
        /// The step.
        step: String,
        /// Its error.
        message: String,
        /// Whether a re-run may succeed.
        retryable: bool,
    },
    /// The run record could not be printed.
    #[error("writing the run record")]
    Output(#[source] std::io::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Input { .. }
            | Self::Config(_)
            | Self::Failed {
                retryable: false, ..
            } => ErrorKind::Invalid,
            Self::Store(e) => e.kind(),
            Self::Steps(e) => e.kind(),
            Self::Refused(e) => e.kind(),
            Self::Runner(e) => e.kind(),
            Self::Audit(e) => e.kind(),
            // A run that failed for a reason a re-run may fix is a dependency failure.
            Self::Failed {
                retryable: true, ..
            }
            | Self::Output(_) => ErrorKind::Dependency,
        }
    }
}

/// What the command needs, built once from the environment.
#[derive(Debug)]
pub struct Context {
    acceptor: Acceptor,
    runner: Runner,
    operator: String,
}

impl Context {
    /// Every step's configuration, the run ledger and the token checks.
    pub async fn from_env(env: &impl Env, clock: SharedClock) -> Result<Self, Error> {
        let runner_config = aiops_chain::RunnerConfig::from_env(env)?;
        let ledger = runner_config.ledger(clock.clone()).await?;
        let redactor = Arc::new(Redactor::from_env(env)?);
        let steps = aiops_chain::InProcessSteps::from_env(env).await?;
        let mut audit_config = AuditConfig::from_env(env)?.with_function("aiops");
        // Stdout carries the run record: audit lines that are not sent go to stderr.
        audit_config.console = Console::Stderr;
        let audit = AuditLogger::new(&audit_config, redactor.clone(), clock.clone())?;
        let catalog = BackstageCatalog::from_env(env, std::time::Duration::from_secs(10))?
            .map(|c| Arc::new(c) as Arc<dyn Catalog>);
        let policy = Policy::from_env(env)?;
        let labels = shared::cluster_labels::from_env(env, &policy)?;
        let acceptor = Acceptor::new(
            &IdentityConfig::from_env(env)?,
            policy,
            audit,
            clock,
            catalog,
            ledger.clone(),
            env.get("AIOPS_CLUSTER_NAME"),
            "aiops",
            labels,
        )?;
        let user = env
            .get("USER")
            .or_else(|| env.get("USERNAME"))
            .unwrap_or_else(|| "unknown".into());
        let runner = Runner::new(
            ledger,
            Arc::new(steps),
            runner_config.retry,
            redactor,
            format!("aiops:{}", std::process::id()),
        );
        Ok(Self {
            acceptor,
            runner,
            operator: format!("local:{}", user.trim()),
        })
    }
}

/// Reads and checks a bundle file, naming the file and the offending field.
pub fn read_bundle(path: &Path) -> Result<EvidenceBundle, Error> {
    let bundle: EvidenceBundle = read_json(path, "bundle")?;
    let bad = |detail: String| Error::Input {
        path: path.display().to_string(),
        detail,
    };
    if bundle.schema != BUNDLE_SCHEMA {
        return Err(bad(format!("schema: expected {BUNDLE_SCHEMA:?}")));
    }
    if bundle.run_id.trim().is_empty() {
        return Err(bad("run_id: expected a non-empty run id".into()));
    }
    Ok(bundle)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, Error> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Input {
        path: label.clone(),
        detail: format!("cannot read the {what}: {e}"),
    })?;
    let mut de = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { what.to_owned() } else { field };
        Error::Input {
            path: label,
            detail: format!("{field}: {}", e.inner()),
        }
    })
}

/// Runs the command and prints the final run record on `stdout` (a refused request
/// prints the policy decision instead).
#[tracing::instrument(skip_all)]
pub async fn run(
    ctx: &Context,
    args: &Args,
    stdin: &mut dyn Read,
    mut stdout: impl Write,
) -> Result<Option<RunRecord>, Error> {
    let caller = match args.token.as_deref() {
        None => Caller::Operator(ctx.operator.clone()),
        Some("-") => {
            let mut token = String::new();
            stdin.read_to_string(&mut token).map_err(|e| Error::Input {
                path: "--token -".into(),
                detail: format!("cannot read the token from stdin: {e}"),
            })?;
            Caller::Token(token.trim().to_owned())
        }
        Some(token) => Caller::Token(token.to_owned()),
    };
    let (request, options) = match (&args.bundle, &args.request) {
        (Some(path), _) => {
            let bundle = read_bundle(path)?;
            let options = AcceptOptions {
                run_id: Some(bundle.run_id.clone()),
                origin: Some(("bundle", json!(path.display().to_string()))),
            };
            let target = &bundle.target;
            let request = RcaRequest {
                entity: target.entity.clone(),
                cluster: Some(target.cluster.clone()),
                namespace: Some(target.namespace.clone()),
                since: target.since.to_rfc3339(),
                until: Some(target.until.to_rfc3339()),
                idempotency_key: None,
            };
            store_bundle(ctx, &bundle).await?;
            (request, options)
        }
        (None, Some(path)) => (read_json(path, "request")?, AcceptOptions::default()),
        (None, None) => {
            return Err(Error::Input {
                path: "aiops rca".into(),
                detail: "expected --bundle FILE or --request FILE".into(),
            });
        }
    };
    let accepted = ctx.acceptor.accept(request, &caller, options).await;
    ctx.acceptor.authorizer.audit().flush().await;
    let accepted = match accepted {
        Ok(accepted) => accepted,
        Err(Refusal::Denied(decision) | Refusal::Unauthenticated(decision)) => {
            // A denial is a handled outcome: the decision is the answer.
            eprintln!(
                "aiops: the policy refused the request: {}",
                decision.reason.as_str()
            );
            print(&mut stdout, &decision)?;
            return Ok(None);
        }
        Err(other) => return Err(other.into()),
    };
    let record = ctx.runner.run(&accepted.record.id).await?;
    ctx.acceptor.authorizer.audit().flush().await;
    if let Some(report) = &record.report {
        eprintln!("aiops: report at {} ({})", report.path, report.commit);
    }
    print(&mut stdout, &record)?;
    if record.status == RunStatus::Failed {
        let error = record
            .error
            .clone()
            .unwrap_or_else(|| shared::run::RunError {
                step: None,
                message: "no error recorded".into(),
                retryable: false,
            });
        return Err(Error::Failed {
            id: record.id,
            step: error.step.unwrap_or_else(|| "?".into()),
            message: error.message,
            retryable: error.retryable,
        });
    }
    Ok(Some(record))
}

fn print<T: serde::Serialize>(stdout: &mut impl Write, value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other);
    text.and_then(|t| writeln!(stdout, "{t}"))
        .map_err(Error::Output)
}

/// Stores the bundle as the run's evidence; a bundle already stored under the same run
/// id is kept (a recorded bundle never changes).
async fn store_bundle(ctx: &Context, bundle: &EvidenceBundle) -> Result<(), Error> {
    let bytes = Bytes::from(serde_json::to_vec_pretty(bundle).map_err(|e| Error::Input {
        path: "bundle".into(),
        detail: e.to_string(),
    })?);
    let store = ctx.runner.ledger().store();
    store::update(
        &**store,
        &EvidenceBundle::store_key(&bundle.run_id),
        5,
        |current| match current {
            Some(_) => Update::Keep(()),
            None => Update::Write(bytes.clone(), ()),
        },
    )
    .await?;
    Ok(())
}
