//! Clusters by name. `AIOPS_CLUSTERS` maps names to a kubeconfig context, to an API URL
//! with a token file and CA, or to in-cluster credentials; without it, a cluster name is
//! a kubeconfig context, and with no kubeconfig at all the in-cluster service account is
//! used.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::k8sgpt::{self, K8sgptResults};
use super::kubernetes::KubeCluster;
use super::{ClusterProvider, ClusterSources, SourceError};
use crate::config::{ConfigError, Env};

/// The cluster map: inline JSON/YAML, or a path to a JSON/YAML file.
pub const CLUSTERS_VAR: &str = "AIOPS_CLUSTERS";
const EXPECTED: &str = "a JSON/YAML map (or a file holding one) of cluster name to \
                        {\"context\"} or {\"url\", \"token_file\", \"ca_file\"} or {\"in_cluster\": true}";

/// How to reach one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// A kubeconfig context (from `KUBECONFIG` or `~/.kube/config`).
    #[serde(default)]
    pub context: Option<String>,
    /// The API server URL.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding a bearer token, re-read when it changes (projected tokens).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A PEM file of the CA that signed the API server's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The pod's own service account.
    #[serde(default)]
    pub in_cluster: bool,
}

/// Cluster access configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClustersConfig {
    /// Named clusters; `None` when [`CLUSTERS_VAR`] is unset.
    pub named: Option<BTreeMap<String, ClusterSpec>>,
    /// Where k8sgpt Results live.
    pub k8sgpt_namespace: String,
}

impl ClustersConfig {
    /// Reads [`CLUSTERS_VAR`] and [`k8sgpt::NAMESPACE_VAR`].
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let named = match env.get(CLUSTERS_VAR) {
            None => None,
            Some(raw) => Some(parse_map(&raw)?),
        };
        Ok(Self {
            named,
            k8sgpt_namespace: env
                .get(k8sgpt::NAMESPACE_VAR)
                .unwrap_or_else(|| k8sgpt::DEFAULT_NAMESPACE.into()),
        })
    }
}

fn parse_map(raw: &str) -> Result<BTreeMap<String, ClusterSpec>, ConfigError> {
    let trimmed = raw.trim();
    let text = if trimmed.starts_with('{') || trimmed.contains('\n') {
        trimmed.to_owned()
    } else {
        std::fs::read_to_string(trimmed).map_err(|e| {
            ConfigError::invalid(
                CLUSTERS_VAR,
                EXPECTED,
                Some(format!("cannot read the file: {e}")),
            )
        })?
    };
    let map: BTreeMap<String, ClusterSpec> = serde_saphyr::from_str(&text).map_err(|e| {
        // The parser quotes the input after its first line; keep only the position.
        let first = e.to_string().lines().next().unwrap_or_default().to_owned();
        ConfigError::invalid(CLUSTERS_VAR, EXPECTED, Some(first))
    })?;
    for (name, spec) in &map {
        let ways = usize::from(spec.context.is_some())
            + usize::from(spec.url.is_some())
            + usize::from(spec.in_cluster);
        if ways != 1 {
            return Err(ConfigError::invalid(
                CLUSTERS_VAR,
                EXPECTED,
                Some(format!(
                    "cluster {name:?} needs exactly one of context, url, in_cluster"
                )),
            ));
        }
        if spec.url.is_none() && (spec.token_file.is_some() || spec.ca_file.is_some()) {
            return Err(ConfigError::invalid(
                CLUSTERS_VAR,
                EXPECTED,
                Some(format!(
                    "cluster {name:?}: token_file and ca_file go with url"
                )),
            ));
        }
    }
    Ok(map)
}

/// Clusters reached with kube-rs; clients are built once per name and reused.
#[derive(Debug)]
pub struct KubeClusters {
    config: ClustersConfig,
    clients: Mutex<HashMap<String, ClusterSources>>,
}

impl KubeClusters {
    /// Clusters as configured.
    pub fn new(config: ClustersConfig) -> Self {
        Self {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    async fn kube_config(&self, name: &str) -> Result<kube::Config, SourceError> {
        let failed = |what: String| SourceError::failed(what, false);
        let Some(named) = &self.config.named else {
            let options = kube::config::KubeConfigOptions {
                context: Some(name.to_owned()),
                ..Default::default()
            };
            return match kube::Config::from_kubeconfig(&options).await {
                Ok(config) => Ok(config),
                Err(kubeconfig) => kube::Config::incluster().map_err(|incluster| {
                    failed(format!(
                        "cluster {name:?}: no kubeconfig context of that name ({kubeconfig}) and \
                         no in-cluster service account ({incluster}); set {CLUSTERS_VAR}"
                    ))
                }),
            };
        };
        let spec = named.get(name).ok_or_else(|| {
            let known: Vec<&str> = named.keys().map(String::as_str).collect();
            failed(format!(
                "cluster {name:?} is not in {CLUSTERS_VAR} (known: {})",
                known.join(", ")
            ))
        })?;
        if let Some(context) = &spec.context {
            let options = kube::config::KubeConfigOptions {
                context: Some(context.clone()),
                ..Default::default()
            };
            return kube::Config::from_kubeconfig(&options).await.map_err(|e| {
                failed(format!(
                    "cluster {name:?}: kubeconfig context {context:?}: {e}"
                ))
            });
        }
        if spec.in_cluster {
            return kube::Config::incluster()
                .map_err(|e| failed(format!("cluster {name:?}: in-cluster credentials: {e}")));
        }
        let url = spec.url.as_deref().unwrap_or_default();
        let uri = url
            .parse()
            .map_err(|_| failed(format!("cluster {name:?}: {CLUSTERS_VAR} url is not a URL")))?;
        let mut config = kube::Config::new(uri);
        config.root_cert_file.clone_from(&spec.ca_file);
        config.auth_info.token_file = spec
            .token_file
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        Ok(config)
    }
}

#[async_trait]
impl ClusterProvider for KubeClusters {
    async fn cluster(&self, name: &str) -> Result<ClusterSources, SourceError> {
        let mut clients = self.clients.lock().await;
        if let Some(found) = clients.get(name) {
            return Ok(found.clone());
        }
        let config = self.kube_config(name).await?;
        let client = kube::Client::try_from(config).map_err(|e| {
            SourceError::failed(
                format!("cluster {name:?}: cannot build a client: {e}"),
                false,
            )
        })?;
        let sources = ClusterSources {
            cluster: Arc::new(KubeCluster::new(client.clone())),
            findings: Arc::new(K8sgptResults::new(client, &self.config.k8sgpt_namespace)),
        };
        clients.insert(name.to_owned(), sources.clone());
        Ok(sources)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn the_cluster_map_accepts_json_and_yaml_and_checks_each_entry() {
        let env = MapEnv::new().with(
            CLUSTERS_VAR,
            r#"{"prod-eu1": {"url": "https://10.0.0.1:6443", "token_file": "/var/run/t", "ca_file": "/etc/ca.pem"}, "dev": {"context": "kind-dev"}}"#,
        );
        let config = ClustersConfig::from_env(&env).unwrap();
        let named = config.named.unwrap();
        assert_eq!(named["dev"].context.as_deref(), Some("kind-dev"));
        assert_eq!(config.k8sgpt_namespace, k8sgpt::DEFAULT_NAMESPACE);

        let yaml = MapEnv::new().with(CLUSTERS_VAR, "local:\n  in_cluster: true\n");
        assert!(ClustersConfig::from_env(&yaml).unwrap().named.unwrap()["local"].in_cluster);

        for bad in [
            r#"{"x": {}}"#,
            r#"{"x": {"context": "a", "url": "http://b"}}"#,
            r#"{"x": {"context": "a", "token_file": "/t"}}"#,
            r#"{"x": {"cluster": "a"}}"#,
        ] {
            let err = ClustersConfig::from_env(&MapEnv::new().with(CLUSTERS_VAR, bad)).unwrap_err();
            assert_eq!(err.var(), CLUSTERS_VAR, "{bad}");
        }
    }

    #[tokio::test]
    async fn an_unknown_cluster_name_lists_the_known_ones() {
        let env = MapEnv::new().with(CLUSTERS_VAR, r#"{"a": {"url": "http://127.0.0.1:1"}}"#);
        let clusters = KubeClusters::new(ClustersConfig::from_env(&env).unwrap());
        let err = clusters.cluster("b").await.unwrap_err();
        assert!(err.to_string().contains("known: a"), "{err}");
        assert!(clusters.cluster("a").await.is_ok());
    }
}
