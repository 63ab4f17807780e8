//! `policy-check`: who may look into which namespace.
//!
//! One handler, three callers, told apart by the event's shape ([`Input`]):
//! - the chain and `--event`: a plain decision request with a token or a principal;
//! - the Function URL decision API: an HTTP event, token in `Authorization: Bearer`,
//!   answered 200 / 401 / 403 with the decision JSON ([`http`]);
//! - a Kubernetes API server's authorization webhook: a `SubjectAccessReview` ([`sar`]).
//!
//! Every decision is one audit record (`aiops.namespace-access`).

pub mod http;
pub mod listen;
pub mod sar;
pub mod step;

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use shared::audit::{AuditConfig, AuditLogger};
use shared::clock::{SharedClock, SystemClock};
use shared::config::{ConfigError, Env};
use shared::entity::Namespace;
use shared::error::{Classify, ErrorKind};
use shared::identity::{IdentityConfig, Principal, Verifier};
use shared::policy::{
    AccessError, AccessRequest, Action, Authorizer, Credential, Decision, NamespaceLabels, Policy,
};
use shared::redact::{RedactionConfig, Redactor};

/// This binary's configuration, parsed once.
#[derive(Debug, Clone)]
pub struct Config {
    /// Trusted issuers and verification settings.
    pub identity: IdentityConfig,
    /// The namespace policy (`AIOPS_POLICY_FILE`, or the built-in default).
    pub policy: Policy,
    /// Where audit records go.
    pub audit: AuditConfig,
    /// Redaction of audit records.
    pub redaction: RedactionConfig,
    /// `AIOPS_WEBHOOK_TOKEN`: the bearer token the Kubernetes API server presents when
    /// it sends SubjectAccessReviews to the Function URL. Unset: the URL refuses them.
    pub webhook_token: Option<String>,
    /// `AIOPS_CLUSTER_NAME`: the cluster a request without one is about.
    pub cluster: Option<String>,
    /// Namespace labels from the cluster when cluster access is configured
    /// (`shared::cluster_labels::from_env`).
    pub labels: Arc<dyn NamespaceLabels>,
}

impl Config {
    /// Reads every variable this binary uses; errors name the variable.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let policy = Policy::from_env(env)?;
        Ok(Self {
            identity: IdentityConfig::from_env(env)?,
            labels: shared::cluster_labels::from_env(env, &policy)?,
            policy,
            audit: AuditConfig::from_env(env)?.with_function("policy-check"),
            redaction: RedactionConfig::from_env(env)?,
            webhook_token: env.get("AIOPS_WEBHOOK_TOKEN"),
            cluster: env.get("AIOPS_CLUSTER_NAME"),
        })
    }
}

/// What the handler works with.
#[derive(Debug)]
pub struct Context {
    /// Verifies, decides, audits.
    pub authorizer: Authorizer,
    /// SHA-256 of the webhook bearer token, compared digest to digest.
    pub webhook_token_hash: Option<[u8; 32]>,
    /// The default cluster name.
    pub cluster: Option<String>,
}

impl Context {
    /// Builds clients from the configuration (needs a Tokio runtime for VictoriaLogs).
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let clock: SharedClock = Arc::new(SystemClock);
        let redactor = Redactor::configured(&config.redaction)?;
        let audit =
            AuditLogger::new(&config.audit, Arc::new(redactor), clock.clone()).map_err(|e| {
                ConfigError::invalid(
                    "AIOPS_VICTORIALOGS_URL",
                    "a reachable VictoriaLogs",
                    Some(e.to_string()),
                )
            })?;
        let verifier = Verifier::new(&config.identity, clock).map_err(|e| {
            ConfigError::invalid(
                "AIOPS_TRUSTED_ISSUERS",
                "issuers the HTTP client can reach",
                Some(e.to_string()),
            )
        })?;
        let authorizer = Authorizer::new(
            Arc::new(verifier),
            Arc::new(config.policy),
            config.labels,
            audit,
        );
        Ok(Self::with_authorizer(
            authorizer,
            config.webhook_token.as_deref(),
            config.cluster,
        ))
    }

    /// A context around a ready authorizer (tests, other wiring).
    pub fn with_authorizer(
        authorizer: Authorizer,
        webhook_token: Option<&str>,
        cluster: Option<String>,
    ) -> Self {
        Self {
            authorizer,
            webhook_token_hash: webhook_token.map(http::digest),
            cluster,
        }
    }
}

/// A decision request: `token` (a JWT) or `principal` (verified upstream), not both.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// A JWT to verify.
    #[serde(default)]
    pub token: Option<String>,
    /// A principal verified upstream (rca-api in the chain).
    #[serde(default)]
    pub principal: Option<Principal>,
    /// The cluster.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The namespace (a Kubernetes namespace name).
    pub namespace: Namespace,
    /// `read` (default), `write` or `exec`.
    #[serde(default = "read")]
    pub action: Action,
}

fn read() -> Action {
    Action::Read
}

impl std::fmt::Debug for DecisionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecisionRequest")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("principal", &self.principal)
            .field("cluster", &self.cluster)
            .field("namespace", &self.namespace)
            .field("action", &self.action)
            .finish()
    }
}

/// The event, by shape.
#[derive(Debug)]
pub enum Input {
    /// A plain decision request (chain step, `--event`).
    Decision(DecisionRequest),
    /// A Function URL (API Gateway v2 HTTP) event.
    Http(http::HttpEvent),
    /// A Kubernetes authorization webhook request.
    Review(sar::SubjectAccessReview),
}

// Untagged enums report only "did not match any variant"; dispatching on a telling
// field first keeps the field-level error of the variant that was meant.
impl<'de> Deserialize<'de> for Input {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let value = Value::deserialize(d)?;
        let result = if value.get("requestContext").is_some() {
            serde_json::from_value(value).map(Input::Http)
        } else if value.get("kind").and_then(Value::as_str) == Some("SubjectAccessReview") {
            serde_json::from_value(value).map(Input::Review)
        } else {
            serde_json::from_value(value).map(Input::Decision)
        };
        result.map_err(D::Error::custom)
    }
}

/// The answer, shaped for its caller.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Output {
    /// The decision JSON.
    Decision(Decision),
    /// `{"statusCode", "headers", "body"}` for the Function URL.
    Http(http::HttpResponse),
    /// The SubjectAccessReview with its status.
    Review(sar::ReviewResponse),
}

/// Why a request could not be decided.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; names the field.
    #[error("event.{field}: expected {expected}")]
    Invalid {
        /// The offending field.
        field: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// The issuer could not be reached to verify the token: retry.
    #[error(transparent)]
    Access(#[from] AccessError),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::Invalid,
            Self::Access(e) => e.kind(),
        }
    }
}

/// Handles one event. Denials are `Ok`; only malformed requests and unreachable
/// issuers are errors (HTTP events turn those into 400 / 503 answers instead).
pub async fn handle(ctx: &Context, input: Input) -> Result<Output, Error> {
    let output = match input {
        Input::Decision(request) => Output::Decision(decide(ctx, request, None).await?),
        Input::Http(event) => Output::Http(http::handle(ctx, event).await),
        Input::Review(review) => Output::Review(sar::handle(ctx, review, None, None).await),
    };
    // A frozen Lambda sends nothing: deliver the audit records before answering.
    ctx.authorizer.audit().flush().await;
    Ok(output)
}

/// A plain decision request, as the chain sends it.
pub async fn decide(
    ctx: &Context,
    request: DecisionRequest,
    request_id: Option<String>,
) -> Result<Decision, Error> {
    let credential = match (request.token, request.principal) {
        (Some(token), None) => Credential::Token(token),
        (None, Some(principal)) => Credential::Principal(principal),
        _ => {
            return Err(Error::Invalid {
                field: "token".into(),
                expected: "either token (a JWT) or principal ({user, groups}), not both".into(),
            });
        }
    };
    let access = AccessRequest {
        credential,
        cluster: request.cluster.or_else(|| ctx.cluster.clone()),
        namespace: request.namespace,
        action: request.action,
        request_id,
    };
    Ok(ctx.authorizer.check(&access).await?)
}
