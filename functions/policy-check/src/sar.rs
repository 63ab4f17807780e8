//! The Kubernetes authorization webhook: `SubjectAccessReview` (`authorization.k8s.io/v1`).
//!
//! A cluster started with `--authorization-webhook-config-file` asks us about every
//! request, so kubectl and Backstage's Kubernetes plugin meet the same namespace policy
//! and leave the same audit records. We judge namespaced requests of ordinary users;
//! for the rest (cluster-scoped, non-resource, `system:` users and service accounts,
//! verbs outside the map) we have no opinion and RBAC decides.
//!
//! Actions: `get`/`list`/`watch` are `read`; `create`/`update`/`patch`/`delete`/
//! `deletecollection` are `write`; whatever gives a shell or a tunnel is `exec` whatever
//! the verb (`pods/exec`, `pods/attach`, `pods/portforward`, `pods/proxy`,
//! `pods/ephemeralcontainers`, `services/proxy`, `nodes/proxy`); and so is whatever
//! hands out more power than the caller holds: creating `serviceaccounts/token`, and
//! the verbs `impersonate`, `bind` and `escalate`.
//!
//! Service accounts (`system:serviceaccount:<ns>:<name>`) get no opinion: they are
//! workloads and controllers whose rights the namespace's own RBAC grants, and the
//! namespace policy is about people and their Backstage groups. A person who wants to
//! act as a service account must create a token for it or impersonate it, and both of
//! those are judged as `exec` in the account's namespace.
//!
//! Users map to principals: `jane` → `user:default/jane`, group `team-checkout` →
//! `group:default/team-checkout`; names that are entity refs already stay as they are;
//! `system:` groups are dropped. A user whose name cannot be an entity name
//! (`jane@example.com`) gets no opinion rather than a guess.
//!
//! When a review cannot be evaluated, a strict policy denies it (fail closed, said in
//! the reason, and audited); a non-strict one keeps no opinion.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::audit::{AuditEvent, Decision as AuditDecision, Severity};
use shared::entity::{EntityRef, Namespace};
use shared::identity::Principal;
use shared::policy::{AccessRequest, Action, Credential};

use crate::Context;

/// A review as the API server sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectAccessReview {
    /// Echoed back (`authorization.k8s.io/v1`).
    pub api_version: String,
    /// `SubjectAccessReview`.
    pub kind: String,
    /// The question.
    #[serde(default)]
    pub spec: Spec,
}

/// `spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// Present for resource requests.
    #[serde(default)]
    pub resource_attributes: Option<ResourceAttributes>,
    /// Present for non-resource requests (`/healthz`, `/api`).
    #[serde(default)]
    pub non_resource_attributes: Option<Value>,
    /// The user name.
    #[serde(default)]
    pub user: Option<String>,
    /// The user's groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `spec.resourceAttributes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceAttributes {
    /// Empty for cluster-scoped resources.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `get`, `list`, `create`, …
    #[serde(default)]
    pub verb: String,
    /// `pods`, `deployments`, …
    #[serde(default)]
    pub resource: String,
    /// `exec`, `log`, …
    #[serde(default)]
    pub subresource: Option<String>,
}

/// What we answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewResponse {
    /// Echoed.
    pub api_version: String,
    /// Echoed.
    pub kind: String,
    /// The verdict.
    pub status: Status,
}

/// `status`: allowed, denied (which stops other authorizers), or neither (no opinion).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Allowed.
    pub allowed: bool,
    /// Denied outright.
    pub denied: bool,
    /// Shown to the user by kubectl on a denial.
    pub reason: String,
    /// Set when the review could not be evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation_error: Option<String>,
}

/// What the review asks, or why we stay out of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Question {
    /// A namespaced request by an ordinary user.
    Ask {
        /// Who.
        principal: Principal,
        /// Where.
        namespace: Namespace,
        /// What for.
        action: Action,
    },
    /// A request we should judge but cannot: the namespace is not a valid name.
    Unanswerable {
        /// Who, when known.
        principal: Principal,
        /// What went wrong.
        error: String,
    },
    /// Not ours to judge; RBAC decides.
    NoOpinion(&'static str),
}

/// Subresources that give a shell into, or a tunnel to, a workload.
fn is_interactive(resource: &str, subresource: &str) -> bool {
    matches!(
        (resource, subresource),
        (
            "pods",
            "exec" | "attach" | "portforward" | "proxy" | "ephemeralcontainers"
        ) | ("services" | "nodes", "proxy")
    )
}

/// Maps the verb (and subresource) to a policy action.
pub fn action(attrs: &ResourceAttributes) -> Option<Action> {
    let subresource = attrs.subresource.as_deref().unwrap_or_default();
    if is_interactive(&attrs.resource, subresource) {
        // kubectl exec over websockets uses `get`; the subresource is what matters.
        return Some(Action::Exec);
    }
    match (attrs.verb.as_str(), attrs.resource.as_str(), subresource) {
        // Each of these hands out more power than the caller holds.
        ("impersonate" | "bind" | "escalate", _, _) | ("create", "serviceaccounts", "token") => {
            Some(Action::Exec)
        }
        ("get" | "list" | "watch", _, _) => Some(Action::Read),
        ("create" | "update" | "patch" | "delete" | "deletecollection", _, _) => {
            Some(Action::Write)
        }
        _ => None,
    }
}

/// Reads the question out of a review.
pub fn question(spec: &Spec) -> Question {
    let Some(user) = spec.user.as_deref().filter(|u| !u.is_empty()) else {
        return Question::NoOpinion("no user");
    };
    if user.starts_with("system:serviceaccount:") {
        return Question::NoOpinion("service account");
    }
    if user.starts_with("system:") {
        return Question::NoOpinion("system user");
    }
    let (Some(attrs), None) = (&spec.resource_attributes, &spec.non_resource_attributes) else {
        return Question::NoOpinion("not a resource request");
    };
    let Some(namespace) = attrs.namespace.as_deref().filter(|n| !n.is_empty()) else {
        return Question::NoOpinion("cluster-scoped request");
    };
    let Some(action) = action(attrs) else {
        return Question::NoOpinion("verb outside the namespace policy");
    };
    let Some(user) = to_ref("user", user) else {
        return Question::NoOpinion("user name is not an entity name");
    };
    let groups = spec
        .groups
        .iter()
        .filter(|g| !g.starts_with("system:"))
        .filter_map(|g| to_ref("group", g))
        .collect();
    let principal = Principal { user, groups };
    match Namespace::parse(namespace) {
        Ok(namespace) => Question::Ask {
            principal,
            namespace,
            action,
        },
        Err(e) => Question::Unanswerable {
            principal,
            error: format!("resourceAttributes.namespace: {e}"),
        },
    }
}

/// `jane` → `user:default/jane`; `user:team/jane` stays; `oidc:jane` or
/// `jane@example.com` cannot be one.
fn to_ref(kind: &str, name: &str) -> Option<EntityRef> {
    EntityRef::parse_of_kind(name, kind)
        .ok()
        .map(|r| r.lowercased())
}

fn no_opinion(why: &str) -> Status {
    Status {
        allowed: false,
        denied: false,
        reason: format!("aiops: no opinion ({why})"),
        evaluation_error: None,
    }
}

/// Strict policies fail closed: an unanswerable review is a denial, audited like any
/// other; otherwise RBAC decides.
fn unanswerable(
    ctx: &Context,
    principal: &Principal,
    cluster: Option<&str>,
    request_id: Option<String>,
    error: String,
) -> Status {
    if !ctx.authorizer.policy().strict {
        return Status {
            evaluation_error: Some(error),
            ..no_opinion("the review could not be evaluated")
        };
    }
    let mut event = AuditEvent::new("namespace-access")
        .actor(principal.user.to_string())
        .severity(Severity::High)
        .decision(AuditDecision::Deny)
        .reason("evaluation_error")
        .meta("detail", error.clone())
        .meta("strict", true);
    if let Some(cluster) = cluster {
        event = event.cluster(cluster);
    }
    if let Some(id) = request_id {
        event = event.request_id(id);
    }
    let audit_id = ctx.authorizer.audit().record(event);
    Status {
        allowed: false,
        denied: true,
        reason: format!(
            "aiops: denied, the review could not be evaluated and the policy is strict (fail closed; audit {audit_id})"
        ),
        evaluation_error: Some(error),
    }
}

/// Answers a review; every decision is audited (with `request_id` when the transport
/// gave one).
pub async fn handle(
    ctx: &Context,
    review: SubjectAccessReview,
    cluster: Option<String>,
    request_id: Option<String>,
) -> ReviewResponse {
    let cluster = cluster.or_else(|| ctx.cluster.clone());
    let status = match question(&review.spec) {
        Question::NoOpinion(why) => no_opinion(why),
        Question::Unanswerable { principal, error } => {
            unanswerable(ctx, &principal, cluster.as_deref(), request_id, error)
        }
        Question::Ask {
            principal,
            namespace,
            action,
        } => {
            let request = AccessRequest {
                credential: Credential::Principal(principal.clone()),
                cluster: cluster.clone(),
                namespace,
                action,
                request_id: request_id.clone(),
            };
            match ctx.authorizer.check(&request).await {
                Ok(d) => Status {
                    allowed: d.allowed,
                    denied: !d.allowed,
                    reason: match &d.owner {
                        Some(owner) if !d.allowed => {
                            format!("aiops: {} (owner {owner}, audit {})", d.reason, d.audit_id)
                        }
                        _ => format!("aiops: {} (audit {})", d.reason, d.audit_id),
                    },
                    evaluation_error: None,
                },
                Err(e) => unanswerable(
                    ctx,
                    &principal,
                    cluster.as_deref(),
                    request_id,
                    e.to_string(),
                ),
            }
        }
    };
    ReviewResponse {
        api_version: review.api_version,
        kind: review.kind,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(verb: &str, resource: &str, sub: Option<&str>) -> ResourceAttributes {
        ResourceAttributes {
            namespace: Some("ns".into()),
            verb: verb.into(),
            resource: resource.into(),
            subresource: sub.map(str::to_owned),
        }
    }

    #[test]
    fn verbs_map_to_read_and_write() {
        for verb in ["get", "list", "watch"] {
            assert_eq!(
                action(&attrs(verb, "pods", None)),
                Some(Action::Read),
                "{verb}"
            );
            assert_eq!(
                action(&attrs(verb, "pods", Some("log"))),
                Some(Action::Read),
                "{verb}"
            );
        }
        for verb in ["create", "update", "patch", "delete", "deletecollection"] {
            assert_eq!(
                action(&attrs(verb, "deployments", None)),
                Some(Action::Write),
                "{verb}"
            );
        }
        assert_eq!(
            action(&attrs("get", "serviceaccounts", Some("token"))),
            Some(Action::Read)
        );
        assert_eq!(
            action(&attrs("approve", "certificatesigningrequests", None)),
            None
        );
    }

    #[test]
    fn every_shell_or_tunnel_subresource_is_exec_whatever_the_verb() {
        let interactive = [
            ("pods", "exec"),
            ("pods", "attach"),
            ("pods", "portforward"),
            ("pods", "proxy"),
            ("pods", "ephemeralcontainers"),
            ("services", "proxy"),
            ("nodes", "proxy"),
        ];
        for (resource, sub) in interactive {
            for verb in ["get", "create", "update", "patch"] {
                assert_eq!(
                    action(&attrs(verb, resource, Some(sub))),
                    Some(Action::Exec),
                    "{verb} {resource}/{sub}"
                );
            }
        }
        assert_eq!(action(&attrs("get", "services", None)), Some(Action::Read));
        assert_eq!(
            action(&attrs("get", "pods", Some("status"))),
            Some(Action::Read)
        );
    }

    #[test]
    fn verbs_that_hand_out_power_are_judged_as_exec() {
        assert_eq!(
            action(&attrs("create", "serviceaccounts", Some("token"))),
            Some(Action::Exec)
        );
        assert_eq!(
            action(&attrs("impersonate", "serviceaccounts", None)),
            Some(Action::Exec)
        );
        assert_eq!(
            action(&attrs("impersonate", "users", None)),
            Some(Action::Exec)
        );
        assert_eq!(action(&attrs("bind", "roles", None)), Some(Action::Exec));
        assert_eq!(
            action(&attrs("escalate", "roles", None)),
            Some(Action::Exec)
        );
    }

    #[test]
    fn kubernetes_names_become_entity_refs_or_no_opinion() {
        let r = |kind, name| to_ref(kind, name).map(|r| r.to_string());
        assert_eq!(r("user", "Jane").as_deref(), Some("user:default/jane"));
        assert_eq!(
            r("user", "user:team-a/jane").as_deref(),
            Some("user:team-a/jane")
        );
        assert_eq!(
            r("group", "team-checkout").as_deref(),
            Some("group:default/team-checkout")
        );
        assert_eq!(r("user", "jane@example.com"), None);
        assert_eq!(r("user", "oidc:jane"), None);
        let spec = |user: &str| Spec {
            resource_attributes: Some(attrs("get", "pods", None)),
            non_resource_attributes: None,
            user: Some(user.into()),
            groups: vec![],
        };
        assert_eq!(
            question(&spec("jane@example.com")),
            Question::NoOpinion("user name is not an entity name")
        );
        assert_eq!(
            question(&spec("system:serviceaccount:team-a-dev:deployer")),
            Question::NoOpinion("service account")
        );
        assert_eq!(
            question(&spec("system:kube-controller-manager")),
            Question::NoOpinion("system user")
        );
    }

    #[test]
    fn an_invalid_namespace_makes_the_review_unanswerable() {
        let mut a = attrs("get", "pods", None);
        a.namespace = Some("Not_A_Namespace".into());
        let spec = Spec {
            resource_attributes: Some(a),
            non_resource_attributes: None,
            user: Some("jane".into()),
            groups: vec![],
        };
        let Question::Unanswerable { error, .. } = question(&spec) else {
            panic!("expected an unanswerable review")
        };
        assert!(
            error.starts_with("resourceAttributes.namespace:"),
            "{error}"
        );
    }
}
