//! Health rules: failing probes, stuck rollouts, and k8sgpt's findings carried through.

use super::Diagnosis;
use super::pods::{events_for, last_termination};
use super::signatures;
use crate::analysis::Confidence;
use crate::evidence::EvidenceBundle;
use std::fmt::Write as _;

pub(super) fn run(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    liveness_kills(b, out);
    probes(b, out);
    rollouts(b, out);
    findings(b, out);
}

/// Exit 137 (or 143) without `OOMKilled`, with the kubelet's `Killing … failed liveness
/// probe`: the probe, not memory, ends the container.
fn liveness_kills(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for pod in &b.pods {
        let kills: Vec<_> = events_for(b, "Pod", &pod.name, &["Killing"])
            .into_iter()
            .filter(|e| e.message.contains("failed liveness probe"))
            .collect();
        if kills.is_empty() {
            continue;
        }
        for c in &pod.containers {
            let Some(t) = last_termination(c) else {
                continue;
            };
            if t.reason.as_deref() == Some("OOMKilled") || !matches!(t.exit_code, Some(137 | 143)) {
                continue;
            }
            let failures: Vec<_> = events_for(b, "Pod", &pod.name, &["Unhealthy"])
                .into_iter()
                .filter(|e| e.message.starts_with("Liveness probe failed"))
                .collect();
            let detail = failures.first().map_or_else(
                || "no probe failure message".to_owned(),
                |e| {
                    e.message
                        .trim_start_matches("Liveness probe failed:")
                        .trim()
                        .to_owned()
                },
            );
            let limit = c
                .limits
                .get("memory")
                .map(|l| {
                    format!(" Its memory limit ({l}) was not reached: the kernel did not kill it.")
                })
                .unwrap_or_default();
            let mut evidence = vec![pod.id.clone()];
            evidence.extend(kills.iter().map(|e| e.id.clone()));
            evidence.extend(failures.iter().map(|e| e.id.clone()));
            out.push(Diagnosis {
                rule: "liveness_kill",
                rank: 14,
                summary: format!(
                    "The kubelet kills container {} of pod {} because its liveness probe fails ({detail}), not for memory.",
                    c.name, pod.name
                ),
                root_cause: format!(
                    "Container {} of pod {} ends with exit code {} and reason {}, not OOMKilled: the kubelet killed it after the liveness probe failed ({detail}), {} times so far.{limit}",
                    c.name,
                    pod.name,
                    t.exit_code.unwrap_or(137),
                    t.reason.as_deref().unwrap_or("Error"),
                    kills.iter().map(|e| e.count).sum::<u64>(),
                ),
                confidence: Confidence::High,
                impact: format!("Pod {} restarts over and over and drops in-flight requests.", pod.name),
                evidence_ids: evidence,
                remediation: vec![
                    format!("Call the probe inside the pod to see why it fails: `kubectl exec -n {} {} -c {} -- <probe command>`", b.target.namespace, pod.name, c.name),
                    "If the endpoint is slow under load or at start-up, raise timeoutSeconds/failureThreshold or add a startupProbe; keep liveness free of downstream checks.".into(),
                ],
                follow_ups: vec!["Alert on liveness-probe restarts separately from OOM kills.".into()],
            });
        }
    }
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
            // A readiness endpoint that checks a dependency fails with it; the pod's own
            // log lines name which one.
            let dependency = (kind == "Readiness")
                .then(|| {
                    signatures::hits(b)
                        .into_iter()
                        .find(|h| h.dependency && h.pod.as_deref().is_none_or(|p| p == pod.name))
                })
                .flatten();
            if let Some(dep) = &dependency {
                evidence.push(dep.id.clone());
                let because = format!(
                    "The readiness probe of pod {} fails because {}: [{}] {}",
                    pod.name,
                    dep.what(),
                    dep.id,
                    dep.line
                );
                out.push(Diagnosis {
                    rule: "readiness_dependency",
                    rank: 11,
                    summary: format!("Pod {} is not ready: {}.", pod.name, dep.what()),
                    root_cause: format!("{because} ({count} probe failures: {detail})."),
                    confidence: Confidence::High,
                    impact: format!("Pod {}: {effect}.", pod.name),
                    evidence_ids: evidence,
                    remediation: vec![
                        dep.fix(),
                        "Once the dependency answers, the pod becomes ready without a restart."
                            .into(),
                    ],
                    follow_ups: vec![
                        "Make readiness report the dependency it waits for in its response body."
                            .into(),
                    ],
                });
                continue;
            }
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
