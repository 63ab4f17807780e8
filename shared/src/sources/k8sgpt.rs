//! k8sgpt findings: `core.k8sgpt.ai/v1alpha1` `Result` objects, which the k8sgpt
//! operator writes into its own namespace with `spec.name` = `<namespace>/<object>`.

use async_trait::async_trait;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde::Deserialize;

use super::kubernetes::kube_error;
use super::{Capped, FindingSource, SourceError, Workload, truncate_text};
use crate::evidence::Finding;

/// Namespace the Results are read from.
pub const NAMESPACE_VAR: &str = "AIOPS_K8SGPT_NAMESPACE";
/// The operator's default namespace.
pub const DEFAULT_NAMESPACE: &str = "k8sgpt-operator-system";

const LIST_LIMIT: u32 = 500;
const TEXT_BYTES: usize = 4096;

/// k8sgpt Results in one namespace of a cluster.
#[derive(Clone)]
pub struct K8sgptResults {
    client: kube::Client,
    namespace: String,
}

impl std::fmt::Debug for K8sgptResults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K8sgptResults")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl K8sgptResults {
    /// Results in `namespace` (normally [`DEFAULT_NAMESPACE`]).
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResultSpec {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent_object: Option<String>,
    #[serde(default)]
    error: Vec<ResultError>,
    #[serde(default)]
    details: Option<String>,
}

// `sensitive` (masked/unmasked pairs) is deliberately not read: it holds the very values
// k8sgpt masked before asking its own AI backend.
#[derive(Debug, Deserialize)]
struct ResultError {
    #[serde(default)]
    text: String,
}

#[async_trait]
impl FindingSource for K8sgptResults {
    async fn findings(&self, workload: &Workload) -> Result<Capped<Finding>, SourceError> {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("core.k8sgpt.ai", "v1alpha1", "Result"),
            "results",
        );
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &resource);
        let list = match api.list(&ListParams::default().limit(LIST_LIMIT)).await {
            Ok(list) => list,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(SourceError::unavailable(format!(
                    "no k8sgpt Result objects in {} (CRD core.k8sgpt.ai/v1alpha1 results not \
                     installed, or {NAMESPACE_VAR} names the wrong namespace)",
                    self.namespace
                )));
            }
            Err(e) => return Err(kube_error("listing k8sgpt results", e)),
        };
        let mut out = Capped {
            dropped_items: list
                .metadata
                .remaining_item_count
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            ..Capped::default()
        };
        let prefix = format!("{}/", workload.namespace);
        for object in list.items {
            let Some(spec) = object.data.get("spec").cloned() else {
                continue;
            };
            let Ok(spec) = serde_json::from_value::<ResultSpec>(spec) else {
                out.dropped_items += 1;
                continue;
            };
            // Results are namespaced by their name, not by where they are stored.
            let Some(name) = spec.name.strip_prefix(&prefix) else {
                continue;
            };
            let mut details = spec.details.filter(|d| !d.trim().is_empty());
            if let Some(d) = details.as_mut() {
                out.dropped_bytes += truncate_text(d, TEXT_BYTES);
            }
            out.items.push(Finding {
                id: String::new(),
                kind: spec.kind,
                name: name.to_owned(),
                parent_object: spec.parent_object.filter(|p| !p.is_empty()),
                errors: spec
                    .error
                    .into_iter()
                    .map(|e| {
                        let mut text = e.text;
                        out.dropped_bytes += truncate_text(&mut text, TEXT_BYTES);
                        text
                    })
                    .collect(),
                details,
            });
        }
        Ok(out)
    }
}
