//! The whole check: credential → principal → mapping → decision → audit record.

use std::sync::Arc;

use serde_json::json;

use super::{Action, Decision, Mapping, NamespaceLabels, Outcome, Policy, decide};
use crate::audit::{AuditEvent, AuditLogger, Decision as AuditDecision, Severity, Status};
use crate::clock::SharedClock;
use crate::config::{ConfigError, Env};
use crate::entity::{EntityRef, Namespace};
use crate::error::{Classify, ErrorKind};
use crate::identity::{IdentityConfig, Principal, TokenError, Verifier};
use crate::policy::NoLabels;

/// Who is asking.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT still to be verified.
    Token(String),
    /// A principal someone upstream verified already (rca-api inside the chain, or the
    /// Kubernetes API server for a SubjectAccessReview).
    Principal(Principal),
}

// A token must never reach a log line, so Debug shows only which kind it is.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::Principal(p) => f.debug_tuple("Principal").field(p).finish(),
        }
    }
}

/// One access question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// Who.
    pub credential: Credential,
    /// Which cluster, when the caller knows it.
    pub cluster: Option<String>,
    /// Which namespace.
    pub namespace: Namespace,
    /// What for.
    pub action: Action,
    /// The invocation's request id, joined into the audit record.
    pub request_id: Option<String>,
}

/// A question that could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The request itself is malformed (a principal of the wrong kinds), naming the field.
    #[error("{field}: expected {expected}")]
    InvalidRequest {
        /// The offending field.
        field: &'static str,
        /// What a valid value looks like.
        expected: String,
    },
    /// The issuer's keys or userinfo could not be fetched: retry later.
    #[error(transparent)]
    IssuerUnavailable(TokenError),
}

impl Classify for AccessError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidRequest { .. } => ErrorKind::Invalid,
            Self::IssuerUnavailable(_) => ErrorKind::Dependency,
        }
    }
}

/// Verifies, decides and audits. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Authorizer {
    verifier: Arc<Verifier>,
    policy: Arc<Policy>,
    labels: Arc<dyn NamespaceLabels>,
    audit: AuditLogger,
}

impl Authorizer {
    /// Puts the parts together.
    pub fn new(
        verifier: Arc<Verifier>,
        policy: Arc<Policy>,
        labels: Arc<dyn NamespaceLabels>,
        audit: AuditLogger,
    ) -> Self {
        Self {
            verifier,
            policy,
            labels,
            audit,
        }
    }

    /// Verifier and policy from the environment (`AIOPS_TRUSTED_ISSUERS`,
    /// `AIOPS_JWT_LEEWAY`, `AIOPS_ROLE_GROUP_TEMPLATE`, `AIOPS_JWKS_*`,
    /// `AIOPS_TOKEN_CACHE_SIZE`, `AIOPS_POLICY_FILE`), without cluster labels until a
    /// Kubernetes adapter is passed to [`Authorizer::new`].
    pub fn from_env(
        env: &impl Env,
        audit: AuditLogger,
        clock: SharedClock,
    ) -> Result<Self, ConfigError> {
        let identity = IdentityConfig::from_env(env)?;
        let policy = Policy::from_env(env)?;
        let verifier = Verifier::new(&identity, clock).map_err(|e| {
            ConfigError::invalid(
                "AIOPS_TRUSTED_ISSUERS",
                "issuers the HTTP client can reach",
                Some(e.to_string()),
            )
        })?;
        Ok(Self::new(
            Arc::new(verifier),
            Arc::new(policy),
            Arc::new(NoLabels),
            audit,
        ))
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The audit logger decisions go to (flush it before a Lambda invocation returns).
    pub fn audit(&self) -> &AuditLogger {
        &self.audit
    }

    /// Decides one request and writes its audit record. A deny is an `Ok` decision.
    pub async fn check(&self, request: &AccessRequest) -> Result<Decision, AccessError> {
        let principal = match &request.credential {
            Credential::Principal(p) => normalise(p)?,
            Credential::Token(token) => match self.verifier.verify(token).await {
                Ok(p) => p,
                Err(error) if error.kind() == ErrorKind::Dependency => {
                    self.audit.record(
                        event(request, None)
                            .status(Status::Failed)
                            .severity(Severity::Medium)
                            .meta("detail", error.detail()),
                    );
                    return Err(AccessError::IssuerUnavailable(error));
                }
                Err(error) => return Ok(self.refuse_credential(request, &error)),
            },
        };
        let mapping = self.mapping(request).await;
        let outcome = decide(&self.policy, &mapping, &principal, request.action);
        Ok(self.record(request, &principal, &mapping, outcome))
    }

    async fn mapping(&self, request: &AccessRequest) -> Mapping {
        if self.policy.labels.is_none() {
            return self.policy.resolve(&request.namespace, None);
        }
        let labels = match self
            .labels
            .labels(request.cluster.as_deref(), request.namespace.as_str())
            .await
        {
            Ok(labels) => labels,
            Err(error) => {
                tracing::warn!(%error, namespace = %request.namespace, "deciding without namespace labels");
                None
            }
        };
        self.policy.resolve(&request.namespace, labels.as_ref())
    }

    fn refuse_credential(&self, request: &AccessRequest, error: &TokenError) -> Decision {
        let reason = super::Reason::from(error);
        let event = event(request, None)
            .severity(Severity::High)
            .decision(AuditDecision::Deny)
            .reason(reason.as_str())
            .meta("detail", error.detail());
        let audit_id = self.audit.record(event);
        Decision {
            allowed: false,
            reason,
            environment: None,
            owner: None,
            principal: None,
            audit_id,
        }
    }

    fn record(
        &self,
        request: &AccessRequest,
        principal: &Principal,
        mapping: &Mapping,
        outcome: Outcome,
    ) -> Decision {
        let severity = match (outcome.allowed, outcome.warning) {
            (false, _) => Severity::High,
            (true, true) => Severity::Medium,
            (true, false) => self.policy.allow_severity,
        };
        let actor = principal.user.to_string();
        let mut event = event(request, Some(&actor))
            .severity(severity)
            .decision(if outcome.allowed {
                AuditDecision::Allow
            } else {
                AuditDecision::Deny
            })
            .reason(outcome.reason.as_str())
            .meta("groups", json!(principal.groups))
            .meta("environment", json!(mapping.environment))
            .meta("owner", json!(mapping.owner))
            .meta("owner_source", json!(mapping.owner_source))
            .meta("environment_source", json!(mapping.environment_source))
            .meta("strict", self.policy.strict);
        if let Some(text) = &mapping.unknown_environment {
            event = event.meta("unknown_environment", text.clone());
        }
        if outcome.warning {
            event = event.meta("warning", "allowed only because the policy is not strict");
        }
        let audit_id = self.audit.record(event);
        Decision {
            allowed: outcome.allowed,
            reason: outcome.reason,
            environment: mapping.environment,
            owner: mapping.owner.clone(),
            principal: Some(principal.user.clone()),
            audit_id,
        }
    }
}

fn event(request: &AccessRequest, principal: Option<&str>) -> AuditEvent {
    let mut event = AuditEvent::new("namespace-access")
        .namespace(request.namespace.as_str())
        .meta("action", request.action.as_str());
    if let Some(cluster) = &request.cluster {
        event = event.cluster(cluster.clone());
    }
    if let Some(id) = &request.request_id {
        event = event.request_id(id.clone());
    }
    if let Some(p) = principal {
        event = event.actor(p);
    }
    event
}

/// A principal named upstream must be a user with groups; refs are compared
/// case-insensitively but kept lowercased so records print them alike.
fn normalise(principal: &Principal) -> Result<Principal, AccessError> {
    if !principal.user.is_kind("user") {
        return Err(AccessError::InvalidRequest {
            field: "principal.user",
            expected: "a user entity ref such as user:default/jane".into(),
        });
    }
    if let Some(bad) = principal.groups.iter().find(|g| !g.is_kind("group")) {
        return Err(AccessError::InvalidRequest {
            field: "principal.groups",
            expected: format!(
                "group entity refs such as group:default/team-checkout, not a {}",
                bad.kind()
            ),
        });
    }
    Ok(Principal {
        user: principal.user.lowercased(),
        groups: principal.groups.iter().map(EntityRef::lowercased).collect(),
    })
}
