//! The Kubernetes authorization webhook: `SubjectAccessReview` (`authorization.k8s.io/v1`).
//!
//! A cluster started with `--authorization-webhook-config-file` asks us about every
//! request, so kubectl and Backstage's Kubernetes plugin meet the same namespace policy
//! and leave the same audit records. We answer only namespaced requests of ordinary
//! users; for the rest (cluster-scoped, non-resource, `system:` users, verbs outside the
//! map) we have no opinion and RBAC decides.
//!
//! Users map to principals: `jane` → `user:default/jane`, group `team-checkout` →
//! `group:default/team-checkout`; names that are entity refs already stay as they are;
//! `system:` groups are dropped. A user whose name cannot be an entity name
//! (`jane@example.com`) gets no opinion rather than a guess.

use serde::{Deserialize, Serialize};
use serde_json::Value;
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
        namespace: String,
        /// What for.
        action: Action,
    },
    /// Not ours to judge; RBAC decides.
    NoOpinion(&'static str),
}

/// Maps the verb (and subresource) to a policy action.
pub fn action(attrs: &ResourceAttributes) -> Option<Action> {
    let interactive = matches!(
        attrs.subresource.as_deref(),
        Some("exec" | "attach" | "portforward")
    );
    if attrs.resource == "pods" && interactive {
        // kubectl exec over websockets uses `get`; the subresource is what matters.
        return Some(Action::Exec);
    }
    match attrs.verb.as_str() {
        "get" | "list" | "watch" => Some(Action::Read),
        "create" | "update" | "patch" | "delete" | "deletecollection" => Some(Action::Write),
        _ => None,
    }
}

/// Reads the question out of a review.
pub fn question(spec: &Spec) -> Question {
    let Some(user) = spec.user.as_deref().filter(|u| !u.is_empty()) else {
        return Question::NoOpinion("no user");
    };
    if user.starts_with("system:") {
        return Question::NoOpinion("system user");
    }
    let (Some(attrs), None) = (&spec.resource_attributes, &spec.non_resource_attributes) else {
        return Question::NoOpinion("not a resource request");
    };
    let Some(namespace) = attrs.namespace.clone().filter(|n| !n.is_empty()) else {
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
    Question::Ask {
        principal: Principal { user, groups },
        namespace,
        action,
    }
}

/// `jane` → `user:default/jane`; `user:team/jane` stays.
fn to_ref(kind: &str, name: &str) -> Option<String> {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match name.split_once(':') {
        Some((k, rest)) if k.eq_ignore_ascii_case(kind) => {
            let (ns, n) = rest.split_once('/')?;
            (is_name(ns) && is_name(n)).then(|| name.to_ascii_lowercase())
        }
        Some(_) => None,
        None => is_name(name).then(|| format!("{kind}:default/{}", name.to_ascii_lowercase())),
    }
}

/// Answers a review; every decision is audited by the authorizer.
pub async fn handle(
    ctx: &Context,
    review: SubjectAccessReview,
    cluster: Option<String>,
) -> ReviewResponse {
    let status = match question(&review.spec) {
        Question::NoOpinion(why) => Status {
            allowed: false,
            denied: false,
            reason: format!("aiops: no opinion ({why})"),
            evaluation_error: None,
        },
        Question::Ask {
            principal,
            namespace,
            action,
        } => {
            let request = AccessRequest {
                credential: Credential::Principal(principal),
                cluster: cluster.or_else(|| ctx.cluster.clone()),
                namespace,
                action,
                request_id: None,
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
                Err(e) => Status {
                    allowed: false,
                    denied: false,
                    reason: "aiops: no opinion (the review could not be evaluated)".into(),
                    evaluation_error: Some(e.to_string()),
                },
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
    fn verbs_and_interactive_subresources_map_to_actions() {
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
        for sub in ["exec", "attach", "portforward"] {
            assert_eq!(
                action(&attrs("create", "pods", Some(sub))),
                Some(Action::Exec),
                "{sub}"
            );
            assert_eq!(
                action(&attrs("get", "pods", Some(sub))),
                Some(Action::Exec),
                "{sub}"
            );
        }
        assert_eq!(action(&attrs("impersonate", "users", None)), None);
        assert_eq!(action(&attrs("escalate", "roles", None)), None);
    }

    #[test]
    fn kubernetes_names_become_entity_refs_or_no_opinion() {
        assert_eq!(to_ref("user", "Jane").as_deref(), Some("user:default/jane"));
        assert_eq!(
            to_ref("user", "user:team-a/jane").as_deref(),
            Some("user:team-a/jane")
        );
        assert_eq!(
            to_ref("group", "team-checkout").as_deref(),
            Some("group:default/team-checkout")
        );
        assert_eq!(to_ref("user", "jane@example.com"), None);
        assert_eq!(to_ref("user", "oidc:jane"), None);
        let spec = Spec {
            resource_attributes: Some(attrs("get", "pods", None)),
            non_resource_attributes: None,
            user: Some("jane@example.com".into()),
            groups: vec![],
        };
        assert_eq!(
            question(&spec),
            Question::NoOpinion("user name is not an entity name")
        );
    }
}
