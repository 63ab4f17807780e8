//! The evidence bundle: everything collected for one RCA run, redacted and persisted as
//! `evidence/<run-id>.json` before analysis, so a later re-run works from it after the
//! cluster's events have expired.
//!
//! Every item carries an `id` (`pod/web-7d9c`, `event/3`, `log/17`, `finding/0`,
//! `rollout/web`) that an analysis cites; citations of ids not in the bundle are flagged.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The schema identifier written into every bundle.
pub const BUNDLE_SCHEMA: &str = "aiops.evidence/v1";

/// One run's evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBundle {
    /// Always [`BUNDLE_SCHEMA`] for this version.
    pub schema: String,
    /// The run this evidence belongs to.
    pub run_id: String,
    /// When collection finished.
    pub collected_at: DateTime<Utc>,
    /// What was investigated.
    pub target: Target,
    /// The catalog entity, when the catalog answered.
    #[serde(default)]
    pub entity: Option<CatalogEntity>,
    /// Pods selected by the entity's selector.
    #[serde(default)]
    pub pods: Vec<PodEvidence>,
    /// Events for those pods and their owners, aggregated by (reason, object).
    #[serde(default)]
    pub events: Vec<EventGroup>,
    /// Rollout status of the owning workloads.
    #[serde(default)]
    pub rollouts: Vec<RolloutStatus>,
    /// Log lines in the window, errors and warnings first.
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// k8sgpt findings for the workload's objects.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Per source (`catalog`, `kubernetes`, `logs`, `k8sgpt`): what happened.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceStatus>,
}

impl EvidenceBundle {
    /// Every evidence id in the bundle, for checking an analysis's citations.
    pub fn evidence_ids(&self) -> std::collections::BTreeSet<&str> {
        self.pods
            .iter()
            .map(|p| p.id.as_str())
            .chain(self.events.iter().map(|e| e.id.as_str()))
            .chain(self.rollouts.iter().map(|r| r.id.as_str()))
            .chain(self.logs.iter().map(|l| l.id.as_str()))
            .chain(self.findings.iter().map(|f| f.id.as_str()))
            .collect()
    }

    /// The store key the bundle is persisted under.
    pub fn store_key(run_id: &str) -> String {
        format!("evidence/{run_id}.json")
    }
}

/// The workload under investigation and the time window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Catalog entity ref, `component:default/checkout`.
    pub entity: String,
    /// Cluster name.
    pub cluster: String,
    /// Namespace.
    pub namespace: String,
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// End of the window.
    pub until: DateTime<Utc>,
}

/// The parts of a Backstage catalog entity that matter to an RCA.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntity {
    /// `component:default/checkout`.
    pub entity_ref: String,
    /// `spec.owner`, as a ref (`group:default/team-checkout`).
    #[serde(default)]
    pub owner: Option<String>,
    /// `spec.system`.
    #[serde(default)]
    pub system: Option<String>,
    /// `spec.lifecycle`.
    #[serde(default)]
    pub lifecycle: Option<String>,
    /// `metadata.links`.
    #[serde(default)]
    pub links: Vec<Link>,
    /// `backstage.io/kubernetes-id`.
    #[serde(default)]
    pub kubernetes_id: Option<String>,
    /// `backstage.io/kubernetes-namespace`.
    #[serde(default)]
    pub kubernetes_namespace: Option<String>,
    /// `backstage.io/kubernetes-label-selector`.
    #[serde(default)]
    pub label_selector: Option<String>,
}

/// A link from the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Target URL.
    pub url: String,
    /// Title, when given.
    #[serde(default)]
    pub title: Option<String>,
}

/// A Kubernetes object reference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectRef {
    /// `Pod`, `ReplicaSet`, `Deployment`, …
    pub kind: String,
    /// Object name.
    pub name: String,
}

/// One pod's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodEvidence {
    /// `pod/<name>`.
    pub id: String,
    /// Pod name.
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// Node the pod is bound to.
    #[serde(default)]
    pub node: Option<String>,
    /// The controlling owner (ReplicaSet, StatefulSet, …).
    #[serde(default)]
    pub owner: Option<ObjectRef>,
    /// Status conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Containers with status, resources and (when no log source exists) previous logs.
    #[serde(default)]
    pub containers: Vec<ContainerEvidence>,
    /// `status.reason` (e.g. `Evicted`).
    #[serde(default)]
    pub reason: Option<String>,
    /// `status.message`.
    #[serde(default)]
    pub message: Option<String>,
}

/// A status condition (pod or workload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// `Ready`, `PodScheduled`, `Progressing`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    #[serde(default)]
    pub reason: Option<String>,
    /// Human-readable message.
    #[serde(default)]
    pub message: Option<String>,
    /// Last transition.
    #[serde(default)]
    pub last_transition: Option<DateTime<Utc>>,
}

/// One container's status and resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerEvidence {
    /// Container name.
    pub name: String,
    /// Image reference.
    #[serde(default)]
    pub image: Option<String>,
    /// Ready flag.
    #[serde(default)]
    pub ready: bool,
    /// Restart count.
    #[serde(default)]
    pub restart_count: u32,
    /// Current state.
    pub state: ContainerState,
    /// The previous termination, when the container restarted.
    #[serde(default)]
    pub last_termination: Option<Termination>,
    /// Resource requests (`cpu`, `memory`).
    #[serde(default)]
    pub requests: BTreeMap<String, String>,
    /// Resource limits.
    #[serde(default)]
    pub limits: BTreeMap<String, String>,
    /// Last lines of the previous container's log (only when no log source exists).
    #[serde(default)]
    pub previous_logs: Vec<String>,
}

/// A container's current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContainerState {
    /// Waiting (`CrashLoopBackOff`, `ImagePullBackOff`, `CreateContainerConfigError`, …).
    Waiting {
        /// Reason.
        #[serde(default)]
        reason: Option<String>,
        /// Message.
        #[serde(default)]
        message: Option<String>,
    },
    /// Running since.
    Running {
        /// Start time.
        #[serde(default)]
        started_at: Option<DateTime<Utc>>,
    },
    /// Terminated.
    Terminated(Termination),
    /// No state reported.
    Unknown,
}

/// A container termination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    /// `Error`, `OOMKilled`, `Completed`, …
    #[serde(default)]
    pub reason: Option<String>,
    /// Exit code.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Signal, when killed by one.
    #[serde(default)]
    pub signal: Option<i32>,
    /// Termination message.
    #[serde(default)]
    pub message: Option<String>,
    /// Start of the terminated run.
    #[serde(default)]
    pub started_at: Option<DateTime<Utc>>,
    /// End of the terminated run.
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
}

/// Events with the same (reason, object), aggregated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventGroup {
    /// `event/<n>`.
    pub id: String,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `BackOff`, `FailedScheduling`, `Killing`, …
    pub reason: String,
    /// The object the events are about.
    pub object: ObjectRef,
    /// The most recent message.
    pub message: String,
    /// How many times it happened (sum of `count`/series counts).
    pub count: u64,
    /// First occurrence.
    #[serde(default)]
    pub first_seen: Option<DateTime<Utc>>,
    /// Last occurrence.
    #[serde(default)]
    pub last_seen: Option<DateTime<Utc>>,
}

/// A workload's rollout status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutStatus {
    /// `rollout/<name>`.
    pub id: String,
    /// The workload.
    pub object: ObjectRef,
    /// Desired replicas.
    #[serde(default)]
    pub desired: u32,
    /// Updated replicas.
    #[serde(default)]
    pub updated: u32,
    /// Ready replicas.
    #[serde(default)]
    pub ready: u32,
    /// Available replicas.
    #[serde(default)]
    pub available: u32,
    /// Status conditions (`Progressing`, `Available`).
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// One log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    /// `log/<n>`.
    pub id: String,
    /// Timestamp.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// Pod name.
    #[serde(default)]
    pub pod: Option<String>,
    /// Container name.
    #[serde(default)]
    pub container: Option<String>,
    /// Level (`error`, `warn`, `info`, …) when the collector recorded one.
    #[serde(default)]
    pub level: Option<String>,
    /// The message.
    pub message: String,
}

/// A k8sgpt `Result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// `finding/<n>`.
    pub id: String,
    /// Kind of the object (`Pod`, `Deployment`, …).
    pub kind: String,
    /// Object name.
    pub name: String,
    /// `parentObject`.
    #[serde(default)]
    pub parent_object: Option<String>,
    /// The analyzer's error texts.
    #[serde(default)]
    pub errors: Vec<String>,
    /// The analyzer's details (an explanation, when k8sgpt had an AI backend).
    #[serde(default)]
    pub details: Option<String>,
}

/// What a source did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceStatus {
    /// How it went.
    pub status: SourceState,
    /// Why it failed or was unavailable.
    #[serde(default)]
    pub error: Option<String>,
    /// Items kept.
    #[serde(default)]
    pub items: u64,
    /// Items dropped by the caps.
    #[serde(default)]
    pub dropped_items: u64,
    /// Bytes dropped by the caps.
    #[serde(default)]
    pub dropped_bytes: u64,
    /// Wall time of the source.
    #[serde(default)]
    pub elapsed_ms: u64,
}

/// A source's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceState {
    /// Answered.
    Ok,
    /// Not configured or not installed (no catalog URL, no k8sgpt CRD).
    Unavailable,
    /// Failed.
    Failed,
    /// Did not answer within its timeout.
    Timeout,
}
