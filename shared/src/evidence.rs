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
    /// The objects around the pods: revisions, Jobs, Services, Ingresses, volumes,
    /// nodes, autoscalers and quotas. Absent in bundles from before they were collected.
    #[serde(default, skip_serializing_if = "RelatedObjects::is_empty")]
    pub objects: RelatedObjects,
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
            .chain(self.objects.ids())
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
    /// Why it failed, was unavailable or came back empty.
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
    /// Answered, yet held nothing about objects that exist (no log line for pods the
    /// Kubernetes API listed): the collector's field names or retention need a look.
    Empty,
}

/// The objects around a workload's pods.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelatedObjects {
    /// Pod-template revisions of the workloads, newest first per workload.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
    /// Jobs owning the pods (and the CronJobs that created them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobEvidence>,
    /// Services selecting the workload's pods or labelled as the workload's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceEvidence>,
    /// Ingresses routing to those Services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ingresses: Vec<IngressEvidence>,
    /// PersistentVolumeClaims the pods mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_claims: Vec<VolumeClaimEvidence>,
    /// Nodes the pods run on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeEvidence>,
    /// HorizontalPodAutoscalers targeting the workloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub autoscalers: Vec<AutoscalerEvidence>,
    /// ResourceQuotas of the namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotas: Vec<QuotaEvidence>,
}

impl RelatedObjects {
    /// Every evidence id among them.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.revisions
            .iter()
            .map(|r| r.id.as_str())
            .chain(self.jobs.iter().map(|j| j.id.as_str()))
            .chain(self.services.iter().map(|s| s.id.as_str()))
            .chain(self.ingresses.iter().map(|i| i.id.as_str()))
            .chain(self.volume_claims.iter().map(|v| v.id.as_str()))
            .chain(self.nodes.iter().map(|n| n.id.as_str()))
            .chain(self.autoscalers.iter().map(|h| h.id.as_str()))
            .chain(self.quotas.iter().map(|q| q.id.as_str()))
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.ids().next().is_none()
    }
}

/// One revision of a workload's pod template: a Deployment's ReplicaSet, or a
/// StatefulSet's or DaemonSet's ControllerRevision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revision {
    /// `revision/<workload>/<n>`.
    pub id: String,
    /// The workload (`Deployment/web`).
    pub workload: ObjectRef,
    /// The object holding the template (`ReplicaSet/web-6f9c7b8d4`).
    pub object: ObjectRef,
    /// The revision number.
    pub revision: u64,
    /// When the revision was created (the rollout that made it started then).
    #[serde(default)]
    pub created: Option<DateTime<Utc>>,
    /// Desired replicas of this revision (a ReplicaSet's spec; for a ControllerRevision
    /// the pods found on it).
    #[serde(default)]
    pub replicas: u32,
    /// Ready replicas of this revision.
    #[serde(default)]
    pub ready: u32,
    /// The pods running this revision, for StatefulSet and DaemonSet revisions (their
    /// pods name the workload as owner and the revision in the `controller-revision-hash`
    /// label); a ReplicaSet's pods name the ReplicaSet itself as their owner.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
    /// The template in flat facts: `web.image`, `web.args`, `web.env.DB_HOST`
    /// (its value source, never a literal value), `web.limits.memory`,
    /// `web.mount./etc/web`, `volume.config`.
    #[serde(default)]
    pub template: BTreeMap<String, String>,
    /// What differs from the previous revision (on the newest revision only).
    #[serde(default)]
    pub changes: Vec<TemplateChange>,
}

/// One fact that differs between two revisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateChange {
    /// The fact (`web.image`).
    pub field: String,
    /// Its value in the previous revision; `None` when it was added.
    #[serde(default)]
    pub before: Option<String>,
    /// Its value now; `None` when it was removed.
    #[serde(default)]
    pub after: Option<String>,
}

/// A Job (and the CronJob that created it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobEvidence {
    /// `job/<name>`.
    pub id: String,
    /// Job name.
    pub name: String,
    /// The CronJob that created it.
    #[serde(default)]
    pub cron_job: Option<String>,
    /// Pods running.
    #[serde(default)]
    pub active: u32,
    /// Pods that succeeded.
    #[serde(default)]
    pub succeeded: u32,
    /// Pods that failed.
    #[serde(default)]
    pub failed: u32,
    /// `spec.backoffLimit`.
    #[serde(default)]
    pub backoff_limit: Option<u32>,
    /// `spec.activeDeadlineSeconds`.
    #[serde(default)]
    pub active_deadline_seconds: Option<u64>,
    /// `Complete`, `Failed` (`BackoffLimitExceeded`, `DeadlineExceeded`), `Suspended`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A Service and its endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEvidence {
    /// `service/<name>`.
    pub id: String,
    /// Service name.
    pub name: String,
    /// `spec.selector`; empty for a Service without one (endpoints managed by hand).
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    /// Ports as `name port→targetPort/protocol`.
    #[serde(default)]
    pub ports: Vec<String>,
    /// Whether the selector matches any pod the cluster source listed.
    #[serde(default)]
    pub matches_pods: bool,
    /// Ready endpoints over its EndpointSlices.
    #[serde(default)]
    pub ready_endpoints: u32,
    /// Endpoints not ready.
    #[serde(default)]
    pub not_ready_endpoints: u32,
}

/// An Ingress routing to the workload's Services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressEvidence {
    /// `ingress/<name>`.
    pub id: String,
    /// Ingress name.
    pub name: String,
    /// `spec.ingressClassName`.
    #[serde(default)]
    pub class: Option<String>,
    /// Its backends.
    #[serde(default)]
    pub backends: Vec<IngressBackend>,
}

/// One backend of an Ingress rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressBackend {
    /// Host, when the rule names one.
    #[serde(default)]
    pub host: Option<String>,
    /// Path, when the rule names one.
    #[serde(default)]
    pub path: Option<String>,
    /// The Service it routes to.
    pub service: String,
    /// The port, by number or name.
    #[serde(default)]
    pub port: Option<String>,
    /// Whether that Service exists in the namespace.
    pub service_exists: bool,
}

/// A PersistentVolumeClaim and its StorageClass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeClaimEvidence {
    /// `pvc/<name>`.
    pub id: String,
    /// Claim name.
    pub name: String,
    /// `Pending`, `Bound`, `Lost`; `Missing` when the claim does not exist.
    pub phase: String,
    /// `spec.storageClassName`.
    #[serde(default)]
    pub storage_class: Option<String>,
    /// Whether that StorageClass exists (`None` when no class is named or it was not
    /// checked).
    #[serde(default)]
    pub storage_class_exists: Option<bool>,
    /// Requested size.
    #[serde(default)]
    pub requested: Option<String>,
}

/// A node the pods run on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEvidence {
    /// `node/<name>`.
    pub id: String,
    /// Node name.
    pub name: String,
    /// Cordoned.
    #[serde(default)]
    pub unschedulable: bool,
    /// `Ready`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A HorizontalPodAutoscaler targeting the workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoscalerEvidence {
    /// `hpa/<name>`.
    pub id: String,
    /// HPA name.
    pub name: String,
    /// What it scales.
    pub target: ObjectRef,
    /// `minReplicas`.
    #[serde(default)]
    pub min_replicas: u32,
    /// `maxReplicas`.
    pub max_replicas: u32,
    /// Replicas now.
    #[serde(default)]
    pub current_replicas: u32,
    /// Replicas it wants.
    #[serde(default)]
    pub desired_replicas: u32,
    /// `AbleToScale`, `ScalingActive`, `ScalingLimited`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A ResourceQuota of the namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaEvidence {
    /// `quota/<name>`.
    pub id: String,
    /// Quota name.
    pub name: String,
    /// Hard limits.
    #[serde(default)]
    pub hard: BTreeMap<String, String>,
    /// Use now.
    #[serde(default)]
    pub used: BTreeMap<String, String>,
}
