//! Accepting an RCA request: the one path rca-api and `aiops rca --request` share.
//!
//! The request is validated (fields named), its cluster and namespace default from the
//! entity's catalog annotations and the configured cluster, the caller is authorised for
//! the namespace (a token is verified and the decision audited, exactly as policy-check
//! does; a local operator is allowed with `local_operator`), an idempotency key is
//! claimed, and a `queued` run record holding a lease is stored. Starting the chain is
//! the caller's part.

use std::sync::Arc;

use serde_json::{Value, json};
use uuid::Uuid;

use super::RcaRequest;
use crate::audit::AuditLogger;
use crate::clock::SharedClock;
use crate::collect;
use crate::config::ConfigError;
use crate::entity::{EntityRef, Namespace};
use crate::identity::{IdentityConfig, Principal, Verifier};
use crate::ledger::{Ledger, LedgerError};
use crate::policy::{
    AccessError, AccessRequest, Action, Authorizer, Credential, Decision, NamespaceLabels, Policy,
};
use crate::run::{Lease, RunRecord};
use crate::sources::{Catalog, SourceError};

/// Who is asking.
#[derive(Clone, PartialEq, Eq)]
pub enum Caller {
    /// A bearer token (a Backstage user token, or a ZITADEL token).
    Token(String),
    /// The operator running the CLI locally: `local:<os user>`.
    Operator(String),
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(<redacted>)"),
            Self::Operator(who) => f.debug_tuple("Operator").field(who).finish(),
        }
    }
}

/// A request that was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A field is missing or malformed.
    #[error("{field}: expected {expected}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// The token was refused (bad, expired, untrusted): the decision says why.
    #[error("the token was refused: {}", .0.reason.as_str())]
    Unauthenticated(Box<Decision>),
    /// The policy refused: the decision says why; its audit record is written.
    #[error("the policy refused: {}", .0.reason.as_str())]
    Denied(Box<Decision>),
    /// A dependency (issuer keys, catalog, store) failed: retry later.
    #[error("{0}")]
    Unavailable(String),
}

impl crate::error::Classify for Refusal {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            Self::Unavailable(_) => crate::error::ErrorKind::Dependency,
            _ => crate::error::ErrorKind::Invalid,
        }
    }
}

/// How a request is recorded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AcceptOptions {
    /// Use this run id instead of a new UUID v7.
    pub run_id: Option<String>,
    /// A field added to the recorded request: (name, value).
    pub origin: Option<(&'static str, Value)>,
}

/// What was accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// The run record (new, or the earlier run of a repeated idempotency key).
    pub record: RunRecord,
    /// `false` when an idempotency key returned an earlier run.
    pub created: bool,
}

/// Everything acceptance needs.
#[derive(Debug, Clone)]
pub struct Acceptor {
    /// Verifies tokens (cached by digest).
    pub verifier: Arc<Verifier>,
    /// Decides and audits.
    pub authorizer: Authorizer,
    /// The catalog, for defaulting the namespace from the entity.
    pub catalog: Option<Arc<dyn Catalog>>,
    /// Run records.
    pub ledger: Ledger,
    /// The cluster of requests that name none (`AIOPS_CLUSTER_NAME`).
    pub default_cluster: Option<String>,
    /// The lease owner written into queued records (`rca-api`, `aiops`).
    pub owner: String,
}

fn invalid(field: &str, expected: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        field: field.to_owned(),
        expected: expected.into(),
    }
}

impl Acceptor {
    /// Builds the verifier and authorizer from configuration.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        identity: &IdentityConfig,
        policy: Policy,
        audit: AuditLogger,
        clock: SharedClock,
        catalog: Option<Arc<dyn Catalog>>,
        ledger: Ledger,
        default_cluster: Option<String>,
        owner: impl Into<String>,
        labels: Arc<dyn NamespaceLabels>,
    ) -> Result<Self, ConfigError> {
        let verifier = Arc::new(Verifier::new(identity, clock).map_err(|e| {
            ConfigError::invalid(
                "AIOPS_TRUSTED_ISSUERS",
                "issuers the HTTP client can reach",
                Some(e.to_string()),
            )
        })?);
        let authorizer = Authorizer::new(verifier.clone(), Arc::new(policy), labels, audit);
        Ok(Self {
            verifier,
            authorizer,
            catalog,
            ledger,
            default_cluster,
            owner: owner.into(),
        })
    }

    /// Validates, authorises and records `request` for `caller`. `options` may fix the
    /// run id (a recorded bundle keeps its own) and add to the recorded request (a
    /// bundle run records the bundle's path there). An existing record under a fixed
    /// run id is returned as it is (`created: false`).
    pub async fn accept(
        &self,
        request: RcaRequest,
        caller: &Caller,
        options: AcceptOptions,
    ) -> Result<Accepted, Refusal> {
        let entity = crate::sources::component_ref(&request.entity)
            .ok_or_else(|| invalid("entity", "an entity ref such as component:default/checkout"))?;
        let (cluster, namespace) = self.target(&request, &entity).await?;
        let now = self.ledger.clock().now();
        let run_id = options
            .run_id
            .clone()
            .unwrap_or_else(|| Uuid::now_v7().to_string());
        // The same validation collect-evidence applies, so nothing accepted fails later
        // for a malformed field.
        collect::parse_request(
            &run_id,
            &request.entity,
            &cluster,
            Some(&namespace),
            &request.since,
            request.until.as_deref(),
            now,
        )
        .map_err(|e| match e {
            crate::Error::InvalidInput { field, expected } => Refusal::Invalid { field, expected },
            other => Refusal::Unavailable(other.to_string()),
        })?;

        let (requested_by, principal) = match caller {
            Caller::Operator(who) => (who.clone(), None),
            Caller::Token(token) => {
                let principal = self.authorize(token, &cluster, &namespace, &run_id).await?;
                (principal.user.to_string(), Some(principal))
            }
        };

        if let Some(key) = request.idempotency_key.as_deref() {
            if key.is_empty() || key.len() > 256 {
                return Err(invalid("idempotency_key", "1 to 256 characters"));
            }
            let earlier = self
                .ledger
                .claim_idempotency(&requested_by, key, &run_id)
                .await
                .map_err(|e| unavailable(&e))?;
            if let Some(earlier) = earlier {
                let record = self
                    .ledger
                    .get(&earlier)
                    .await
                    .map_err(|e| unavailable(&e))?;
                if let Some(record) = record {
                    return Ok(Accepted {
                        record,
                        created: false,
                    });
                }
            }
        }

        let mut recorded = serde_json::to_value(&request).unwrap_or_else(|_| json!({}));
        recorded["cluster"] = json!(cluster);
        recorded["namespace"] = json!(namespace);
        if let Some((name, value)) = options.origin {
            recorded[name] = value;
        }
        let record = RunRecord::queued(
            run_id,
            recorded,
            requested_by,
            principal,
            now,
            Lease {
                owner: self.owner.clone(),
                expires_at: self.ledger.lease_until(),
            },
        );
        let stored = self
            .ledger
            .create(record.clone())
            .await
            .map_err(|e| unavailable(&e))?;
        Ok(Accepted {
            created: stored == record,
            record: stored,
        })
    }

    async fn target(
        &self,
        request: &RcaRequest,
        entity: &EntityRef,
    ) -> Result<(String, String), Refusal> {
        let cluster = request
            .cluster
            .clone()
            .or_else(|| self.default_cluster.clone())
            .ok_or_else(|| {
                invalid(
                    "cluster",
                    "a cluster name (none in the request and AIOPS_CLUSTER_NAME is unset)",
                )
            })?;
        if let Some(namespace) = request.namespace.clone() {
            return Ok((cluster, namespace));
        }
        let Some(catalog) = &self.catalog else {
            return Err(invalid(
                "namespace",
                "a namespace (none in the request, and no catalog is configured to read the entity's backstage.io/kubernetes-namespace)",
            ));
        };
        let found = match catalog.entity(entity).await {
            Ok(found) => found,
            Err(SourceError::NotFound { what }) => {
                return Err(invalid(
                    "entity",
                    format!("an entity that exists in the catalog ({what} was not found)"),
                ));
            }
            Err(other) => return Err(Refusal::Unavailable(other.to_string())),
        };
        let namespace = found.kubernetes_namespace.ok_or_else(|| {
            invalid(
                "namespace",
                "a namespace (none in the request and the entity has no backstage.io/kubernetes-namespace annotation)",
            )
        })?;
        Ok((cluster, namespace))
    }

    /// Verifies the token and decides, writing the audit record; returns the
    /// principal with its groups when allowed.
    pub async fn authorize(
        &self,
        token: &str,
        cluster: &str,
        namespace: &str,
        request_id: &str,
    ) -> Result<Principal, Refusal> {
        let namespace = Namespace::parse(namespace)
            .map_err(|e| invalid("namespace", format!("a Kubernetes namespace name ({e})")))?;
        let access = AccessRequest {
            credential: Credential::Token(token.to_owned()),
            cluster: Some(cluster.to_owned()),
            namespace,
            action: Action::Read,
            request_id: Some(request_id.to_owned()),
        };
        let decision = match self.authorizer.check(&access).await {
            Ok(decision) => decision,
            Err(AccessError::InvalidRequest { field, expected }) => {
                return Err(invalid(field, expected));
            }
            Err(other @ AccessError::IssuerUnavailable(_)) => {
                return Err(Refusal::Unavailable(other.to_string()));
            }
        };
        if decision.reason.is_authentication() && !decision.allowed {
            return Err(Refusal::Unauthenticated(Box::new(decision)));
        }
        if !decision.allowed {
            return Err(Refusal::Denied(Box::new(decision)));
        }
        // Verified a moment ago: this is a cache hit.
        self.verifier
            .verify(token)
            .await
            .map_err(|e| Refusal::Unavailable(e.to_string()))
    }

    /// Verifies a token for reading run records (no namespace decision).
    pub async fn principal(&self, token: &str) -> Result<Principal, crate::identity::TokenError> {
        self.verifier.verify(token).await
    }

    /// Whether `principal` may read `record`: its requester, or a member of the group
    /// that owns the run's namespace.
    pub fn may_read(&self, principal: &Principal, record: &RunRecord) -> bool {
        if EntityRef::parse(&record.requested_by).is_ok_and(|r| r == principal.user) {
            return true;
        }
        let Some(namespace) = record
            .request
            .get("namespace")
            .and_then(Value::as_str)
            .and_then(|n| Namespace::parse(n).ok())
        else {
            return false;
        };
        let owner = self.authorizer.policy().resolve(&namespace, None).owner;
        owner.is_some_and(|owner| principal.groups.contains(&owner))
    }
}

fn unavailable(e: &LedgerError) -> Refusal {
    Refusal::Unavailable(e.to_string())
}
