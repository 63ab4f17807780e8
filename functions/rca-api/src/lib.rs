//! `rca-api`: the HTTP trigger a Backstage Software Template calls.
//!
//! - `POST /v1/rca` with `Authorization: Bearer <user token>` and an RCA request body:
//!   400 problem details naming the field, 401 with the reason code, 403 with the policy
//!   decision (its audit record written), 202 `{run_id, status_url}` once the run record
//!   is `queued` and the chain started, 200 with the earlier run for a repeated
//!   `idempotency_key`.
//! - `GET /v1/rca/{id}`: the run record, for its requester or a member of the group that
//!   owns the run's namespace; 404 for anyone else, so run ids cannot be probed.
//! - `GET /healthz`.
//!
//! The router is built by [`app`], so tests call it without a socket; the same router
//! serves Lambda (`lambda_http`) and a plain local server (`rca-api --listen ADDR`).

mod problem;
pub mod starter;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use shared::audit::{AuditConfig, AuditLogger};
use shared::chain::RcaRequest;
use shared::chain::accept::{AcceptOptions, Acceptor, Caller, Refusal};
use shared::clock::{SharedClock, SystemClock};
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::identity::IdentityConfig;
use shared::policy::Policy;
use shared::redact::{RedactionConfig, Redactor};
use shared::sources::Catalog;
use shared::sources::backstage::BackstageCatalog;

pub use problem::problem;
use starter::{SharedStarter, StartError};

/// This binary's configuration, read once.
#[derive(Debug, Clone)]
pub struct Config {
    /// Trusted issuers.
    pub identity: IdentityConfig,
    /// The namespace policy.
    pub policy: Policy,
    /// Where audit records go.
    pub audit: AuditConfig,
    /// Extra redaction rules.
    pub redaction: RedactionConfig,
    /// Run ledger store, lease and step retries.
    pub runner: aiops_chain::RunnerConfig,
    /// `AIOPS_CLUSTER_NAME`: the cluster of requests that name none.
    pub cluster: Option<String>,
    /// `AIOPS_PUBLIC_URL`: the base of `status_url` (a relative URL when unset).
    pub public_url: Option<String>,
    /// `AIOPS_STATE_MACHINE_ARN`: start a Step Functions execution per run; the chain
    /// runs in this process when unset.
    pub state_machine_arn: Option<String>,
    /// `AIOPS_BACKSTAGE_URL` and `AIOPS_BACKSTAGE_TOKEN`, to default the namespace from
    /// the entity.
    pub backstage: Option<(String, String)>,
    /// Namespace labels from the cluster, when cluster access is configured.
    pub labels: Arc<dyn shared::policy::NamespaceLabels>,
}

impl Config {
    /// Reads every variable this binary uses; errors name the variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let backstage = match env.get("AIOPS_BACKSTAGE_URL") {
            Some(url) => Some((
                url,
                env.require(
                    "AIOPS_BACKSTAGE_TOKEN",
                    "the catalog's external-access token",
                )?,
            )),
            None => None,
        };
        let policy = Policy::from_env(env)?;
        Ok(Self {
            identity: IdentityConfig::from_env(env)?,
            labels: shared::cluster_labels::from_env(env, &policy)?,
            policy,
            audit: AuditConfig::from_env(env)?.with_function("rca-api"),
            redaction: RedactionConfig::from_env(env)?,
            runner: aiops_chain::RunnerConfig::from_env(env)?,
            cluster: env.get("AIOPS_CLUSTER_NAME"),
            public_url: env
                .get("AIOPS_PUBLIC_URL")
                .map(|u| u.trim_end_matches('/').to_owned()),
            state_machine_arn: env.get("AIOPS_STATE_MACHINE_ARN"),
            backstage,
        })
    }
}

/// What the handlers work with.
#[derive(Debug)]
pub struct Context {
    /// Validates, authorises and records requests.
    pub acceptor: Acceptor,
    /// Starts the chain for an accepted run.
    pub starter: SharedStarter,
    /// Base of `status_url`.
    pub public_url: Option<String>,
    /// Redacts error details before they leave.
    pub redactor: Arc<Redactor>,
}

/// Why the context could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The in-process chain could not be set up.
    #[error(transparent)]
    Chain(#[from] aiops_chain::Error),
    /// The run ledger's store could not be opened.
    #[error(transparent)]
    Store(#[from] shared::store::StoreError),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Invalid,
            Self::Chain(e) => e.kind(),
            Self::Store(e) => e.kind(),
        }
    }
}

impl Context {
    /// Builds clients from the configuration. Without a state machine the chain runs in
    /// this process, its steps configured from `env` like each function's own `main`.
    pub async fn from_env(config: Config, env: &impl Env) -> Result<Self, Error> {
        let clock: SharedClock = Arc::new(SystemClock);
        let redactor = Arc::new(Redactor::configured(&config.redaction)?);
        let ledger = config.runner.ledger(clock.clone()).await?;
        let starter: SharedStarter = if let Some(arn) = &config.state_machine_arn {
            Arc::new(starter::StepFunctions::from_env(arn.clone()).await)
        } else {
            let steps = aiops_chain::InProcessSteps::from_env(env).await?;
            let runner = shared::chain::Runner::new(
                ledger.clone(),
                Arc::new(steps),
                config.runner.retry,
                redactor.clone(),
                format!("rca-api:{}", std::process::id()),
            );
            Arc::new(starter::InProcess::new(runner))
        };
        Self::new(config, clock, ledger, starter, redactor)
    }

    /// From parts (tests pass their own starter and clock).
    pub fn new(
        config: Config,
        clock: SharedClock,
        ledger: shared::ledger::Ledger,
        starter: SharedStarter,
        redactor: Arc<Redactor>,
    ) -> Result<Self, Error> {
        let audit =
            AuditLogger::new(&config.audit, redactor.clone(), clock.clone()).map_err(|e| {
                ConfigError::invalid(
                    "AIOPS_VICTORIALOGS_URL",
                    "a reachable VictoriaLogs",
                    Some(e.to_string()),
                )
            })?;
        let catalog = match &config.backstage {
            Some((url, token)) => Some(Arc::new(BackstageCatalog::new(
                url,
                token,
                std::time::Duration::from_secs(10),
            )?) as Arc<dyn Catalog>),
            None => None,
        };
        let acceptor = Acceptor::new(
            &config.identity,
            config.policy,
            audit,
            clock,
            catalog,
            ledger,
            config.cluster,
            "rca-api",
            config.labels,
        )?;
        Ok(Self {
            acceptor,
            starter,
            public_url: config.public_url,
            redactor,
        })
    }
}
/// The router: `POST /v1/rca`, `GET /v1/rca/{id}`, `GET /healthz`.
pub fn app(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/rca", post(create))
        .route("/v1/rca/{id}", get(status))
        .with_state(ctx)
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn missing_token() -> Response {
    problem::unauthorized(
        "invalid_token",
        "an Authorization: Bearer <token> header is required",
    )
}

#[tracing::instrument(skip_all)]
async fn create(State(ctx): State<Arc<Context>>, headers: HeaderMap, body: Bytes) -> Response {
    let request: RcaRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let Some(token) = bearer(&headers) else {
        return missing_token();
    };
    let outcome = ctx
        .acceptor
        .accept(
            request,
            &Caller::Token(token.to_owned()),
            AcceptOptions::default(),
        )
        .await;
    // A frozen Lambda sends nothing: deliver the audit records before answering.
    ctx.acceptor.authorizer.audit().flush().await;
    let accepted = match outcome {
        Ok(accepted) => accepted,
        Err(refusal) => return refused(&ctx, refusal),
    };
    let record = accepted.record;
    if !accepted.created {
        tracing::info!(run_id = %record.id, "repeated idempotency key: the earlier run");
        return (StatusCode::OK, axum::Json(record)).into_response();
    }
    if let Err(StartError(message)) = ctx.starter.start(&record.id).await {
        let message = ctx.redactor.redact_text(&message).into_owned();
        tracing::error!(run_id = %record.id, "the chain could not be started: {message}");
        let failed = ctx
            .acceptor
            .ledger
            .modify(&record.id, |r| {
                r.status = shared::run::RunStatus::Failed;
                r.lease = None;
                r.error = Some(shared::run::RunError {
                    step: None,
                    message: format!("the chain could not be started: {message}"),
                    retryable: true,
                });
                Ok(())
            })
            .await;
        if let Err(error) = failed {
            tracing::error!(run_id = %record.id, %error, "could not record the failed start");
        }
        return problem::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "chain-unavailable",
            "The chain could not be started",
            &format!(
                "run {} is recorded as failed and will be retried: {message}",
                record.id
            ),
            None,
        );
    }
    tracing::info!(run_id = %record.id, entity = %record.request["entity"], "run accepted");
    let status_url = format!(
        "{}/v1/rca/{}",
        ctx.public_url.as_deref().unwrap_or(""),
        record.id
    );
    (
        StatusCode::ACCEPTED,
        [(header::LOCATION, status_url.clone())],
        axum::Json(json!({"run_id": record.id, "status_url": status_url})),
    )
        .into_response()
}

fn parse_body(body: &[u8]) -> Result<RcaRequest, Box<Response>> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { None } else { Some(path) };
        let detail = match &field {
            Some(field) => format!("{field}: {}", e.inner()),
            None => format!("the body is not an RCA request: {}", e.inner()),
        };
        Box::new(problem::problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "The request body is invalid",
            &detail,
            field.as_deref(),
        ))
    })
}

fn refused(ctx: &Context, refusal: Refusal) -> Response {
    match refusal {
        Refusal::Invalid { field, expected } => problem::problem(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "The request body is invalid",
            &format!("{field}: expected {expected}"),
            Some(&field),
        ),
        Refusal::Unauthenticated(decision) => {
            let reason = decision.reason.as_str();
            problem::unauthorized(reason, &format!("the token was refused: {reason}"))
        }
        Refusal::Denied(decision) => (StatusCode::FORBIDDEN, axum::Json(decision)).into_response(),
        Refusal::Unavailable(message) => problem::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency-unavailable",
            "A dependency is unavailable",
            &ctx.redactor.redact_text(&message),
            None,
        ),
    }
}

#[tracing::instrument(skip_all, fields(run_id = %id))]
async fn status(
    State(ctx): State<Arc<Context>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return missing_token();
    };
    let principal = match ctx.acceptor.principal(token).await {
        Ok(p) => p,
        Err(e) if e.kind() == ErrorKind::Dependency => {
            return problem::problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "dependency-unavailable",
                "The token's issuer is unavailable",
                &e.to_string(),
                None,
            );
        }
        Err(e) => {
            let reason = shared::policy::Reason::from(&e).as_str();
            return problem::unauthorized(reason, &format!("the token was refused: {reason}"));
        }
    };
    let not_found = || {
        problem::problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such run",
            &format!("no run {id} that you may read"),
            None,
        )
    };
    if shared::store::validate_key(&shared::run::RunRecord::store_key(&id)).is_err() {
        return not_found();
    }
    match ctx.acceptor.ledger.get(&id).await {
        Ok(Some(record)) if ctx.acceptor.may_read(&principal, &record) => {
            axum::Json(record).into_response()
        }
        Ok(_) => not_found(),
        Err(error) => problem::problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency-unavailable",
            "The run ledger is unavailable",
            &ctx.redactor.redact_text(&error.to_string()),
            None,
        ),
    }
}

/// Serves the router on `addr` until the process stops (`rca-api --listen`).
pub async fn serve_local(addr: &str, ctx: Arc<Context>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    // The bound address on stdout lets a caller that asked for port 0 find the server.
    println!("rca-api listening on http://{local}");
    tracing::info!(%local, "rca-api listening");
    axum::serve(listener, app(ctx)).await
}
