//! The `NamespaceLabels` port: a namespace's labels as the cluster has them.
//!
//! The Kubernetes adapter comes with collect-evidence's cluster access; until then the
//! policy runs with [`NoLabels`], and tests use [`InMemoryLabels`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;

/// Why labels could not be read. The policy then decides without them.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("namespace labels unavailable: {0}")]
pub struct LabelsError(pub String);

/// Reads a namespace's labels.
#[async_trait]
pub trait NamespaceLabels: Send + Sync + std::fmt::Debug {
    /// The labels of `namespace` in `cluster` (`None`: the default cluster); `Ok(None)`
    /// when the namespace does not exist or the cluster is not known.
    async fn labels(
        &self,
        cluster: Option<&str>,
        namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, LabelsError>;
}

/// No cluster access: every namespace is label-less.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLabels;

#[async_trait]
impl NamespaceLabels for NoLabels {
    async fn labels(
        &self,
        _cluster: Option<&str>,
        _namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, LabelsError> {
        Ok(None)
    }
}

type Key = (Option<String>, String);

/// Labels held in memory, by (cluster, namespace). Clones share the same map.
#[derive(Debug, Clone, Default)]
pub struct InMemoryLabels(Arc<RwLock<HashMap<Key, BTreeMap<String, String>>>>);

impl InMemoryLabels {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the labels of a namespace (`cluster` `None` answers requests without one).
    pub fn set(&self, cluster: Option<&str>, namespace: &str, labels: &[(&str, &str)]) {
        let labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((cluster.map(str::to_owned), namespace.to_owned()), labels);
    }
}

#[async_trait]
impl NamespaceLabels for InMemoryLabels {
    async fn labels(
        &self,
        cluster: Option<&str>,
        namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, LabelsError> {
        let map = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(map
            .get(&(cluster.map(str::to_owned), namespace.to_owned()))
            .cloned())
    }
}
