//! Placement rules: FailedScheduling (resources, taints, affinity, volumes) and
//! FailedMount.

use super::Diagnosis;
use super::pods::events_for;
use crate::analysis::Confidence;
use crate::evidence::{EvidenceBundle, PodEvidence};

pub(super) fn run(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for pod in &b.pods {
        if let Some(d) = scheduling(b, pod) {
            out.push(d);
        }
        if let Some(d) = mount(b, pod) {
            out.push(d);
        }
    }
}

/// The scheduler's reasons, as it words them, with what each means and the fix.
const SCHEDULER_REASONS: &[(&str, &str, &str)] = &[
    (
        "insufficient cpu",
        "not enough unreserved CPU on any node",
        "Lower the pod's CPU request or add node capacity (cluster autoscaler, bigger nodes).",
    ),
    (
        "insufficient memory",
        "not enough unreserved memory on any node",
        "Lower the pod's memory request or add node capacity.",
    ),
    (
        "insufficient nvidia.com/gpu",
        "no node has a free GPU",
        "Add GPU nodes or free one.",
    ),
    (
        "untolerated taint",
        "the nodes carry taints the pod does not tolerate",
        "Add the matching toleration to the pod, or schedule it on untainted nodes.",
    ),
    (
        "didn't match pod's node affinity/selector",
        "no node matches the pod's nodeSelector or node affinity",
        "Fix the nodeSelector/affinity labels, or label nodes to match.",
    ),
    (
        "didn't match pod anti-affinity rules",
        "pod anti-affinity leaves no eligible node",
        "Relax the anti-affinity (preferred instead of required) or add nodes.",
    ),
    (
        "didn't match pod affinity rules",
        "no node runs the pods this pod must be placed with",
        "Check the pod-affinity selector and that the target pods run.",
    ),
    (
        "unbound immediate persistentvolumeclaims",
        "a PersistentVolumeClaim is not bound",
        "Check the PVC's StorageClass and provisioner, or create the volume.",
    ),
    (
        "volume node affinity conflict",
        "the pod's volume lives in a zone without eligible nodes",
        "Schedule in the volume's zone, or use a topology-aware StorageClass.",
    ),
    (
        "too many pods",
        "the nodes are at their pod limit",
        "Add nodes or raise max pods per node.",
    ),
    (
        "were unschedulable",
        "the nodes are cordoned",
        "Uncordon nodes or add schedulable ones.",
    ),
];

fn scheduling(b: &EvidenceBundle, pod: &PodEvidence) -> Option<Diagnosis> {
    let condition = pod.conditions.iter().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    });
    let events = events_for(b, "Pod", &pod.name, &["FailedScheduling"]);
    if condition.is_none() && events.is_empty() {
        return None;
    }
    let message = events
        .iter()
        .max_by_key(|e| e.last_seen)
        .map(|e| e.message.clone())
        .or_else(|| condition.and_then(|c| c.message.clone()))
        .unwrap_or_default();
    let lower = message.to_ascii_lowercase();
    let matched: Vec<&(&str, &str, &str)> = SCHEDULER_REASONS
        .iter()
        .filter(|(needle, _, _)| lower.contains(needle))
        .collect();
    let causes: Vec<&str> = matched.iter().map(|(_, what, _)| *what).collect();
    let attempts: u64 = events.iter().map(|e| e.count).sum();
    let cause = if causes.is_empty() {
        "the scheduler found no fitting node".to_owned()
    } else {
        causes.join("; ")
    };
    let mut evidence = vec![pod.id.clone()];
    evidence.extend(events.iter().map(|e| e.id.clone()));
    Some(Diagnosis {
        rule: "failed_scheduling",
        rank: 20,
        summary: format!("Pod {} cannot be scheduled: {cause}.", pod.name),
        root_cause: format!(
            "Pod {} is {} and unscheduled{}: {cause}. The scheduler says: {message}",
            pod.name,
            pod.phase,
            if attempts > 0 {
                format!(" after {attempts} scheduling attempts")
            } else {
                String::new()
            }
        ),
        confidence: if causes.is_empty() {
            Confidence::Medium
        } else {
            Confidence::High
        },
        impact: format!(
            "Pod {} never runs; its workload is short of replicas.",
            pod.name
        ),
        evidence_ids: evidence,
        remediation: if matched.is_empty() {
            vec![format!(
                "Read the scheduler's message: kubectl describe pod -n {} {}",
                b.target.namespace, pod.name
            )]
        } else {
            matched
                .iter()
                .map(|(_, _, fix)| (*fix).to_owned())
                .collect()
        },
        follow_ups: vec!["Alert on pods pending for more than a few minutes.".into()],
    })
}

fn mount(b: &EvidenceBundle, pod: &PodEvidence) -> Option<Diagnosis> {
    let events = events_for(b, "Pod", &pod.name, &["FailedMount", "FailedAttachVolume"]);
    let latest = events.iter().max_by_key(|e| e.last_seen)?;
    let lower = latest.message.to_ascii_lowercase();
    let (cause, fix) = if lower.contains("not found")
        && (lower.contains("configmap") || lower.contains("secret"))
    {
        (
            "a Secret or ConfigMap mounted as a volume does not exist",
            "Create the missing Secret/ConfigMap or fix its name in the volume.",
        )
    } else if lower.contains("multi-attach") {
        (
            "the volume is still attached to another node (ReadWriteOnce)",
            "Wait for or force the detach from the old node; use a Recreate strategy for single-writer volumes.",
        )
    } else if lower.contains("timed out") {
        (
            "the volume did not attach or mount in time",
            "Check the CSI driver's pods and the volume's state in the cloud provider.",
        )
    } else {
        (
            "a volume cannot be mounted",
            "Check the volume's source and the CSI driver's logs.",
        )
    };
    let count: u64 = events.iter().map(|e| e.count).sum();
    let mut evidence = vec![pod.id.clone()];
    evidence.extend(events.iter().map(|e| e.id.clone()));
    Some(Diagnosis {
        rule: "failed_mount",
        rank: 25,
        summary: format!("Pod {} cannot mount a volume: {cause}.", pod.name),
        root_cause: format!(
            "The kubelet failed to mount volumes for pod {} {count} times: {}",
            pod.name, latest.message
        ),
        confidence: Confidence::High,
        impact: format!("Pod {} stays in ContainerCreating.", pod.name),
        evidence_ids: evidence,
        remediation: vec![fix.to_owned()],
        follow_ups: vec!["Deploy the objects a pod mounts before the pod itself.".into()],
    })
}
