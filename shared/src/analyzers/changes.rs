//! "What changed first": when the failing pods all belong to the newest revision of a
//! Deployment, StatefulSet or DaemonSet and the previous revision's pods ran, the change
//! between the two is the root cause, and rolling back is the first remediation.

use std::fmt::Write as _;

use super::Diagnosis;
use crate::analysis::Confidence;
use crate::evidence::{EvidenceBundle, PodEvidence, Revision};

fn failing(p: &PodEvidence) -> bool {
    !matches!(p.phase.as_str(), "Running" | "Succeeded")
        || p.containers.iter().any(|c| !c.ready || c.restart_count > 0)
}

/// The changes of a revision in words.
fn described(r: &Revision) -> Vec<String> {
    r.changes
        .iter()
        .map(|c| match (&c.before, &c.after) {
            (Some(b), Some(a)) => format!("{} from {b} to {a}", c.field),
            (None, Some(a)) => format!("{} added ({a})", c.field),
            (Some(b), None) => format!("{} removed (was {b})", c.field),
            (None, None) => c.field.clone(),
        })
        .collect()
}

/// The root cause in words: the change, where the failing pods are, and how they fail.
fn explained(
    workload: &crate::evidence::ObjectRef,
    newest: &Revision,
    previous: &Revision,
    changed: &[String],
    mechanism: Option<&Diagnosis>,
) -> String {
    let when = newest
        .created
        .map(|t| format!(" at {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    let mut root_cause = format!(
        "The failures began with revision {} of {}/{} ({} {}, created{when}), which changed {}. ",
        newest.revision,
        workload.kind,
        workload.name,
        newest.object.kind,
        newest.object.name,
        changed.join("; "),
    );
    let _ = write!(
        root_cause,
        "Every failing pod belongs to revision {}; revision {} ({}) had {} ready of {} and no failing pod.",
        newest.revision,
        previous.revision,
        previous.object.name,
        previous.ready,
        previous.replicas.max(previous.ready),
    );
    if let Some(mechanism) = mechanism {
        let _ = write!(root_cause, " How it fails: {}", mechanism.summary);
    }
    root_cause
}

/// The `kubectl rollout` resource of a workload kind that keeps revisions.
fn rollback_resource(kind: &str) -> Option<&'static str> {
    match kind {
        "Deployment" => Some("deployment"),
        "StatefulSet" => Some("statefulset"),
        "DaemonSet" => Some("daemonset"),
        _ => None,
    }
}

/// Adds the change diagnosis in front of `found` (which it quotes as the mechanism).
pub(super) fn run(b: &EvidenceBundle, found: &mut Vec<Diagnosis>) {
    let mut workloads: Vec<&crate::evidence::ObjectRef> =
        b.objects.revisions.iter().map(|r| &r.workload).collect();
    workloads.dedup();
    for workload in workloads {
        let revs: Vec<&Revision> = b
            .objects
            .revisions
            .iter()
            .filter(|r| &r.workload == workload)
            .collect();
        let [newest, previous, ..] = revs.as_slice() else {
            continue;
        };
        let Some(resource) = rollback_resource(&workload.kind) else {
            continue;
        };
        if newest.changes.is_empty() {
            continue;
        }
        // A ReplicaSet owns its pods; a ControllerRevision lists the pods that run it.
        let owned_by = |r: &Revision, p: &PodEvidence| {
            p.owner.as_ref().is_some_and(|o| *o == r.object) || r.pods.contains(&p.name)
        };
        let failing_new: Vec<&PodEvidence> = b
            .pods
            .iter()
            .filter(|p| owned_by(newest, p) && failing(p))
            .collect();
        let failing_old = b.pods.iter().any(|p| owned_by(previous, p) && failing(p));
        if failing_old || failing_new.is_empty() {
            continue;
        }
        let changed = described(newest);
        let root_cause = explained(workload, newest, previous, &changed, found.first());
        let mut evidence = vec![newest.id.clone(), previous.id.clone()];
        evidence.extend(failing_new.iter().map(|p| p.id.clone()));
        for id in found.first().iter().flat_map(|m| &m.evidence_ids) {
            if !evidence.contains(id) {
                evidence.push(id.clone());
            }
        }
        let first_change = newest
            .changes
            .first()
            .map_or("the change", |c| c.field.as_str());
        found.insert(
            0,
            Diagnosis {
                rule: "changed_revision",
                rank: 0,
                summary: format!(
                    "Revision {} of {} broke it: {}.",
                    newest.revision,
                    workload.name,
                    changed.first().map_or("its template changed", String::as_str)
                ),
                root_cause,
                confidence: Confidence::High,
                impact: format!(
                    "{} pod(s) of the new revision fail; the rollout of {} cannot complete.",
                    failing_new.len(),
                    workload.name
                ),
                evidence_ids: evidence,
                remediation: vec![
                    format!(
                        "Roll back to the last working revision: `kubectl rollout undo -n {} {resource}/{} --to-revision={}`",
                        b.target.namespace, workload.name, previous.revision
                    ),
                    format!(
                        "Then fix {first_change} in the release before rolling forward again."
                    ),
                ],
                follow_ups: vec![
                    "Gate releases on a canary or on rollout status, so a bad revision stops at the first pods."
                        .into(),
                ],
            },
        );
        return;
    }
}
