//! Where evidence comes from: one narrow port per source, and their adapters.
//!
//! - [`Catalog`]: the Backstage catalog entity ([`backstage`]).
//! - [`Cluster`]: pods, events and rollouts of a workload ([`kubernetes`]), one per
//!   cluster name through a [`ClusterProvider`] ([`clusters`]).
//! - [`LogSource`]: log lines in the window ([`victorialogs`], queries from [`logsql`]).
//! - [`FindingSource`]: k8sgpt `Result` objects ([`k8sgpt`]).
//!
//! Every source returns at most what its [`Caps`] allow and counts what it dropped.

pub mod backstage;
#[cfg(feature = "kube")]
pub mod clusters;
pub mod http;
#[cfg(feature = "kube")]
pub mod k8sgpt;
#[cfg(feature = "kube")]
pub mod kubernetes;
pub mod logsql;
pub mod selector;
pub mod victorialogs;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::classify::{Cause, Classify, ErrorKind};
use crate::evidence::{CatalogEntity, EventGroup, Finding, LogLine, PodEvidence, RolloutStatus};

/// A source failure, in words an operator can act on.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    /// The thing asked for does not exist (a catalog entity). Stops the run.
    #[error("{what} not found")]
    NotFound {
        /// What was looked up, e.g. `entity component:default/web`.
        what: String,
    },
    /// The source is not configured or not installed (no URL, no k8sgpt CRD).
    #[error("unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// The source refused our credentials: a configuration error.
    #[error("{source_name} refused the credentials ({status}): check {var}")]
    Unauthorized {
        /// `catalog`, `kubernetes`, …
        source_name: String,
        /// HTTP status seen.
        status: u16,
        /// The variable that holds the credential.
        var: String,
    },
    /// The source answered badly or not at all.
    #[error("{message}")]
    Failed {
        /// What happened, without credentials.
        message: String,
        /// Whether the same call may succeed later.
        retryable: bool,
        /// The client's own error (transport, Kubernetes, JSON), when there is one.
        #[source]
        cause: Option<Cause>,
    },
}

impl SourceError {
    /// A failure, retryable or not.
    pub fn failed(message: impl Into<String>, retryable: bool) -> Self {
        Self::Failed {
            message: message.into(),
            retryable,
            cause: None,
        }
    }

    /// A failure caused by a client error, which is kept as the typed source.
    pub fn caused(
        message: impl Into<String>,
        retryable: bool,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Failed {
            message: message.into(),
            retryable,
            cause: Some(Cause::new(cause)),
        }
    }

    /// The source is unavailable.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::Unavailable {
            reason: reason.into(),
        }
    }
}

impl Classify for SourceError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. } | Self::Unauthorized { .. } => ErrorKind::Invalid,
            Self::Unavailable { .. } | Self::Failed { .. } => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Failed {
                retryable: true,
                ..
            }
        )
    }
}

/// The catalog entity reference every module uses; a bare name here is a Component.
pub use crate::entity::EntityRef;

/// Parses `[kind:][namespace/]name` as the catalog source reads it: the kind defaults to
/// `component`, the namespace to `default`; `None` when it is not a valid entity ref.
pub fn component_ref(text: &str) -> Option<EntityRef> {
    EntityRef::parse_with_default_kind(text, "component").ok()
}

/// Where the workload runs and how its pods are selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Namespace.
    pub namespace: String,
    /// `backstage.io/kubernetes-id` (the entity name when absent).
    pub kubernetes_id: String,
    /// A Kubernetes label selector (`backstage.io/kubernetes-id=<id>` by default).
    pub selector: String,
}

impl Workload {
    /// The workload as Backstage's Kubernetes plugin locates it: the entity's
    /// annotations, falling back to its name and the requested namespace.
    pub fn locate(entity_name: &str, entity: Option<&CatalogEntity>, namespace: &str) -> Self {
        let kubernetes_id = entity
            .and_then(|e| e.kubernetes_id.clone())
            .unwrap_or_else(|| entity_name.to_owned());
        let selector = entity
            .and_then(|e| e.label_selector.clone())
            .unwrap_or_else(|| format!("backstage.io/kubernetes-id={kubernetes_id}"));
        Self {
            namespace: namespace.to_owned(),
            kubernetes_id,
            selector,
        }
    }
}

/// The time window under investigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start.
    pub since: DateTime<Utc>,
    /// End.
    pub until: DateTime<Utc>,
}

impl Window {
    /// Whether something seen from `first` to `last` overlaps the window. Unknown times
    /// count as inside: an event without timestamps is still evidence.
    pub fn overlaps(&self, first: Option<DateTime<Utc>>, last: Option<DateTime<Utc>>) -> bool {
        let ends_after_start = last.or(first).is_none_or(|t| t >= self.since);
        let starts_before_end = first.or(last).is_none_or(|t| t <= self.until);
        ends_after_start && starts_before_end
    }
}

/// How much each source may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Pods kept (unhealthy ones first).
    pub pods: usize,
    /// Event groups kept (warnings first, then the most recent).
    pub events: usize,
    /// Log lines kept.
    pub log_lines: usize,
    /// Total bytes of kept log messages.
    pub log_bytes: usize,
    /// Bytes of one message (log line, event message, previous-log line); longer ones
    /// are cut.
    pub line_bytes: usize,
    /// k8sgpt findings kept.
    pub findings: usize,
    /// Lines of a crashed container's previous log (when no log source exists).
    pub previous_log_lines: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            pods: 50,
            events: 200,
            log_lines: 500,
            log_bytes: 256 * 1024,
            line_bytes: 2048,
            findings: 50,
            previous_log_lines: 50,
        }
    }
}

/// Items kept, and what the caps dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capped<T> {
    /// What was kept.
    pub items: Vec<T>,
    /// Items dropped (a lower bound when the source stopped reading early).
    pub dropped_items: u64,
    /// Bytes dropped from kept or dropped items.
    pub dropped_bytes: u64,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            dropped_items: 0,
            dropped_bytes: 0,
        }
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary; returns the bytes cut.
pub fn truncate_text(text: &mut String, max: usize) -> u64 {
    if text.len() <= max {
        return 0;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    text.push('…');
    cut as u64
}

/// The catalog port.
#[async_trait]
pub trait Catalog: Send + Sync + fmt::Debug {
    /// The entity, or [`SourceError::NotFound`].
    async fn entity(&self, entity: &EntityRef) -> Result<CatalogEntity, SourceError>;
}

/// What a cluster tells about a workload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterEvidence {
    /// Pods, unhealthy first.
    pub pods: Vec<PodEvidence>,
    /// Events aggregated by (reason, object); ids are assigned by the collector.
    pub events: Vec<EventGroup>,
    /// Rollouts of the owning workloads.
    pub rollouts: Vec<RolloutStatus>,
    /// The objects around the pods.
    pub objects: crate::evidence::RelatedObjects,
    /// Reads of related objects that failed (refused by RBAC, not served); the rest of
    /// the evidence stands.
    pub notes: Vec<String>,
    /// Items dropped by the caps.
    pub dropped_items: u64,
    /// Bytes dropped by the caps.
    pub dropped_bytes: u64,
}

/// What the cluster source should fetch besides pods, events and rollouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterOptions {
    /// Caps.
    pub caps: Caps,
    /// Fetch crashed containers' previous logs (when no log source is configured).
    pub previous_logs: bool,
}

/// The Kubernetes port: one cluster.
#[async_trait]
pub trait Cluster: Send + Sync + fmt::Debug {
    /// Pods, events and rollouts of the workload within the window.
    async fn workload(
        &self,
        workload: &Workload,
        window: &Window,
        options: &ClusterOptions,
    ) -> Result<ClusterEvidence, SourceError>;

    /// One page of the cluster's namespaces with their labels and annotations:
    /// at most `limit` of them, after the page `continue_token` ended (`None`: the
    /// first page). Sources without namespace access answer unavailable.
    async fn namespaces(
        &self,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<NamespacePage, SourceError> {
        let _ = (limit, continue_token);
        Err(SourceError::unavailable(
            "this cluster source cannot list namespaces",
        ))
    }

    /// The labels of one namespace; `Ok(None)` when it does not exist.
    async fn namespace_labels(
        &self,
        namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, SourceError> {
        let _ = namespace;
        Err(SourceError::unavailable(
            "this cluster source cannot read namespaces",
        ))
    }
}

/// A namespace as the audit and the policy see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceInfo {
    /// The name.
    pub name: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
}

/// One page of a namespace list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespacePage {
    /// The namespaces of this page.
    pub items: Vec<NamespaceInfo>,
    /// The token for the next page; `None` on the last one.
    pub continue_token: Option<String>,
}

/// The log port.
#[async_trait]
pub trait LogSource: Send + Sync + fmt::Debug {
    /// Log lines of the workload in the window, errors and warnings first.
    async fn logs(
        &self,
        workload: &Workload,
        window: &Window,
        caps: &Caps,
    ) -> Result<Capped<LogLine>, SourceError>;

    /// Log lines of the named pods in the namespace, errors and warnings first: for
    /// records that carry the pod name but not the pod's labels. Sources that cannot
    /// select by name say so.
    async fn pod_logs(
        &self,
        namespace: &str,
        pods: &[String],
        window: &Window,
        caps: &Caps,
    ) -> Result<Capped<LogLine>, SourceError> {
        let _ = (namespace, pods, window, caps);
        Err(SourceError::unavailable(
            "this log source cannot select lines by pod name",
        ))
    }
}

/// The k8sgpt port.
#[async_trait]
pub trait FindingSource: Send + Sync + fmt::Debug {
    /// Findings about objects in the workload's namespace; the collector narrows them
    /// to the workload's objects.
    async fn findings(&self, workload: &Workload) -> Result<Capped<Finding>, SourceError>;
}

/// A cluster's sources.
#[derive(Debug, Clone)]
pub struct ClusterSources {
    /// Pods, events, rollouts.
    pub cluster: Arc<dyn Cluster>,
    /// k8sgpt findings.
    pub findings: Arc<dyn FindingSource>,
}

/// Clusters by name.
#[async_trait]
pub trait ClusterProvider: Send + Sync + fmt::Debug {
    /// The sources of the named cluster.
    async fn cluster(&self, name: &str) -> Result<ClusterSources, SourceError>;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn entity_refs_default_kind_and_namespace_and_refuse_garbage() {
        let full = component_ref("Component:default/web").unwrap();
        assert_eq!(full.to_string(), "component:default/web");
        assert_eq!(
            component_ref("web").unwrap().to_string(),
            "component:default/web"
        );
        assert_eq!(
            component_ref("team-a/web").unwrap().to_string(),
            "component:team-a/web"
        );
        for bad in [
            "",
            "component:",
            "component:default/",
            "a/b/c",
            "web?x=1",
            "a b",
        ] {
            assert!(component_ref(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn workload_uses_annotations_and_falls_back_to_the_entity_name() {
        let plain = Workload::locate("web", None, "web-dev");
        assert_eq!(plain.selector, "backstage.io/kubernetes-id=web");
        let entity = CatalogEntity {
            kubernetes_id: Some("shop".into()),
            label_selector: Some("app=shop,tier in (api)".into()),
            ..CatalogEntity::default()
        };
        let located = Workload::locate("web", Some(&entity), "shop-prod");
        assert_eq!(located.kubernetes_id, "shop");
        assert_eq!(located.selector, "app=shop,tier in (api)");
        assert_eq!(located.namespace, "shop-prod");
    }

    #[test]
    fn window_overlap_keeps_events_that_touch_it() {
        let t = |h| Utc.with_ymd_and_hms(2026, 11, 26, h, 0, 0).unwrap();
        let w = Window {
            since: t(3),
            until: t(5),
        };
        assert!(w.overlaps(Some(t(2)), Some(t(4))));
        assert!(w.overlaps(None, None));
        assert!(!w.overlaps(Some(t(1)), Some(t(2))));
        assert!(!w.overlaps(Some(t(6)), Some(t(7))));
    }

    #[test]
    fn truncation_respects_char_boundaries_and_counts_bytes() {
        let mut s = "ééé".to_owned();
        assert_eq!(truncate_text(&mut s, 3), 4);
        assert_eq!(s, "é…");
        let mut short = "ok".to_owned();
        assert_eq!(truncate_text(&mut short, 10), 0);
    }
}
