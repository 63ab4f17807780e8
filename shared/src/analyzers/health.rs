//! Health rules: failing probes, stuck rollouts, and k8sgpt's findings carried through.

use super::Diagnosis;
use super::pods::events_for;
use crate::analysis::Confidence;
use crate::evidence::EvidenceBundle;
use std::fmt::Write as _;

pub(super) fn run(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    probes(b, out);
    rollouts(b, out);
    findings(b, out);
}

fn probes(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for pod in &b.pods {
        let unhealthy = events_for(b, "Pod", &pod.name, &["Unhealthy"]);
        for kind in ["Liveness", "Readiness", "Startup"] {
            let prefix = format!("{kind} probe failed");
            let failing: Vec<_> = unhealthy
                .iter()
                .filter(|e| e.message.starts_with(&prefix))
                .collect();
            let Some(latest) = failing.iter().max_by_key(|e| e.last_seen) else {
                continue;
            };
            let count: u64 = failing.iter().map(|e| e.count).sum();
            let kills = events_for(b, "Pod", &pod.name, &["Killing"])
                .into_iter()
                .filter(|e| {
                    e.message
                        .to_ascii_lowercase()
                        .contains(&format!("failed {} probe", kind.to_ascii_lowercase()))
                })
                .collect::<Vec<_>>();
            let effect = match kind {
                "Readiness" => {
                    "the pod is taken out of its Service's endpoints and serves no traffic"
                }
                _ => "the kubelet kills and restarts the container",
            };
            let detail = latest
                .message
                .trim_start_matches(&prefix)
                .trim_start_matches(':')
                .trim();
            let mut evidence = vec![pod.id.clone()];
            evidence.extend(failing.iter().map(|e| e.id.clone()));
            evidence.extend(kills.iter().map(|e| e.id.clone()));
            out.push(Diagnosis {
                rule: "failing_probe",
                rank: 40,
                summary: format!("The {} probe of pod {} fails ({detail}).", kind.to_ascii_lowercase(), pod.name),
                root_cause: format!(
                    "The {} probe of pod {} failed {count} times ({detail}), so {effect}. Either the endpoint itself \
                     reports the failure (look at what it checks) or the probe's timing is too tight for the application's start-up.",
                    kind.to_ascii_lowercase(),
                    pod.name
                ),
                confidence: Confidence::Medium,
                impact: format!("Pod {}: {effect}.", pod.name),
                evidence_ids: evidence,
                remediation: vec![
                    format!("Call the probe's endpoint inside the pod and read why it fails: kubectl exec -n {} {} -- <probe command>", b.target.namespace, pod.name),
                    "If the application is only slow to start, add a startupProbe or raise initialDelaySeconds/failureThreshold.".into(),
                ],
                follow_ups: vec!["Keep liveness probes shallow: they should not depend on downstream services.".into()],
            });
        }
    }
}

fn rollouts(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for r in &b.rollouts {
        let Some(stuck) = r.conditions.iter().find(|c| {
            c.type_ == "Progressing"
                && c.status == "False"
                && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        }) else {
            continue;
        };
        out.push(Diagnosis {
            rule: "stuck_rollout",
            rank: 60,
            summary: format!(
                "The rollout of {}/{} is stuck: {} of {} replicas updated, {} ready.",
                r.object.kind, r.object.name, r.updated, r.desired, r.ready
            ),
            root_cause: format!(
                "{}/{} exceeded its progress deadline (ProgressDeadlineExceeded): {}. New pods do not become available; \
                 the pod findings say why.",
                r.object.kind,
                r.object.name,
                stuck.message.as_deref().unwrap_or("no message")
            ),
            confidence: Confidence::High,
            impact: format!("{} of {} desired replicas of {} are available.", r.available, r.desired, r.object.name),
            evidence_ids: vec![r.id.clone()],
            remediation: vec![format!(
                "Fix the new pods' failure, or roll back: kubectl rollout undo -n {} {}/{}",
                b.target.namespace,
                r.object.kind.to_ascii_lowercase(),
                r.object.name
            )],
            follow_ups: vec!["Gate deployments on rollout status in the delivery pipeline.".into()],
        });
    }
}

fn findings(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for f in &b.findings {
        let first = f
            .errors
            .first()
            .cloned()
            .unwrap_or_else(|| "a problem".into());
        let mut root_cause = format!(
            "k8sgpt reports for {} {}: {}",
            f.kind,
            f.name,
            f.errors.join("; ")
        );
        if let Some(d) = &f.details {
            let _ = write!(root_cause, "\nk8sgpt's explanation: {d}");
        }
        out.push(Diagnosis {
            rule: "k8sgpt",
            rank: 70,
            summary: format!("k8sgpt: {} {}: {first}.", f.kind, f.name),
            root_cause,
            confidence: Confidence::Medium,
            impact: f
                .parent_object
                .as_ref()
                .map(|p| format!("Affects {p}."))
                .unwrap_or_default(),
            evidence_ids: vec![f.id.clone()],
            remediation: Vec::new(),
            follow_ups: Vec::new(),
        });
    }
}
