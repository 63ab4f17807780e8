//! The Kubernetes adapter of the policy's [`NamespaceLabels`] port: a namespace's labels
//! read from its cluster through the same cluster access collect-evidence uses, so
//! policy-check, the chain and the nightly audit resolve owners from the same labels.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::config::{ConfigError, Env};
use crate::policy::{LabelsError, NamespaceLabels, NoLabels, Policy};
use crate::sources::{ClusterProvider, SourceError};

/// The variables that give this process cluster access, any one of them is enough.
const CLUSTER_ACCESS_VARS: [&str; 3] = ["AIOPS_CLUSTERS", "KUBECONFIG", "KUBERNETES_SERVICE_HOST"];

/// Labels from the named clusters; a request without a cluster asks `default_cluster`.
#[derive(Debug, Clone)]
pub struct ClusterLabels {
    clusters: Arc<dyn ClusterProvider>,
    default_cluster: Option<String>,
}

impl ClusterLabels {
    /// Labels read through `clusters`.
    pub fn new(clusters: Arc<dyn ClusterProvider>, default_cluster: Option<String>) -> Self {
        Self {
            clusters,
            default_cluster,
        }
    }
}

#[async_trait]
impl NamespaceLabels for ClusterLabels {
    async fn labels(
        &self,
        cluster: Option<&str>,
        namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, LabelsError> {
        let Some(name) = cluster.or(self.default_cluster.as_deref()) else {
            return Ok(None);
        };
        let failed = |e: SourceError| LabelsError(format!("cluster {name:?}: {e}"));
        let sources = self.clusters.cluster(name).await.map_err(failed)?;
        sources
            .cluster
            .namespace_labels(namespace)
            .await
            .map_err(failed)
    }
}

/// The labels port the policy should use here: cluster labels when the policy reads
/// labels at all and cluster access is configured (`AIOPS_CLUSTERS`, `KUBECONFIG`, or
/// running inside a cluster), none otherwise (so a process without cluster access does
/// not try to reach one on every decision).
///
/// A build without the `kube` feature cannot read labels: there, a labels policy with
/// cluster access configured decides without labels (fails closed) and logs a warning
/// naming the variable once, at start-up.
pub fn from_env(env: &impl Env, policy: &Policy) -> Result<Arc<dyn NamespaceLabels>, ConfigError> {
    let configured = CLUSTER_ACCESS_VARS
        .iter()
        .copied()
        .find(|var| env.get(var).is_some_and(|v| !v.trim().is_empty()));
    let Some(var) = configured.filter(|_| policy.labels.is_some()) else {
        return Ok(Arc::new(NoLabels));
    };
    kube_labels(env, var)
}

#[cfg(feature = "kube")]
fn kube_labels(env: &impl Env, _var: &str) -> Result<Arc<dyn NamespaceLabels>, ConfigError> {
    use crate::sources::clusters::{ClustersConfig, KubeClusters};

    let clusters = KubeClusters::new(ClustersConfig::from_env(env)?);
    Ok(Arc::new(ClusterLabels::new(
        Arc::new(clusters),
        env.get("AIOPS_CLUSTER_NAME"),
    )))
}

#[cfg(not(feature = "kube"))]
#[allow(
    clippy::unnecessary_wraps,
    reason = "the same signature as the kube build's"
)]
fn kube_labels(_env: &impl Env, var: &str) -> Result<Arc<dyn NamespaceLabels>, ConfigError> {
    // The deployed decision API has no cluster access; locally KUBECONFIG is often set
    // for other tools. Deciding without labels fails closed (owners come from the
    // policy file and the naming convention only), so say so once and go on.
    tracing::warn!(
        var,
        "the policy reads namespace labels, but this build has no cluster access: deciding \
         without labels (build policy-check with --features cluster-labels to read them)"
    );
    Ok(Arc::new(NoLabels))
}
