//! Rules on the objects around the pods: failed Jobs, Services without ready endpoints,
//! Ingress backends that do not exist, claims pending on a missing StorageClass, nodes
//! under pressure or not ready, autoscalers pinned at their maximum, and quotas that
//! leave a workload without pods.

use std::sync::LazyLock;

use regex::Regex;

use super::Diagnosis;
use crate::analysis::Confidence;
use crate::evidence::EvidenceBundle;

pub(super) fn run(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    jobs(b, out);
    services(b, out);
    ingresses(b, out);
    claims(b, out);
    nodes(b, out);
    autoscalers(b, out);
    quotas(b, out);
}

fn ns(b: &EvidenceBundle) -> &str {
    &b.target.namespace
}

fn jobs(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for j in &b.objects.jobs {
        let Some(failed) = j
            .conditions
            .iter()
            .find(|c| c.type_ == "Failed" && c.status == "True")
        else {
            continue;
        };
        let reason = failed.reason.as_deref().unwrap_or("Failed");
        let why = match reason {
            "BackoffLimitExceeded" => format!(
                "its pods failed {} times, reaching the backoff limit of {}",
                j.failed,
                j.backoff_limit.map_or("6".into(), |n| n.to_string())
            ),
            "DeadlineExceeded" => format!(
                "it ran longer than its activeDeadlineSeconds ({} s) and was stopped",
                j.active_deadline_seconds
                    .map_or("?".into(), |n| n.to_string())
            ),
            other => format!("it failed ({other})"),
        };
        let parent = j
            .cron_job
            .as_ref()
            .map(|c| format!(" (created by CronJob {c})"))
            .unwrap_or_default();
        let pods: Vec<String> = b
            .pods
            .iter()
            .filter(|p| {
                p.owner
                    .as_ref()
                    .is_some_and(|o| o.kind == "Job" && o.name == j.name)
            })
            .map(|p| p.id.clone())
            .collect();
        let mut evidence = vec![j.id.clone()];
        evidence.extend(pods);
        let mut remediation = vec![format!(
            "Read why its pods failed: `kubectl logs -n {} job/{} --all-containers`",
            ns(b),
            j.name
        )];
        remediation.push(if reason == "DeadlineExceeded" {
            "Make the job finish within its deadline (less work per run, more parallelism) or raise activeDeadlineSeconds.".into()
        } else {
            "Fix the failure the pods log, then run the job again.".into()
        });
        if let Some(c) = &j.cron_job {
            remediation.push(format!(
                "Run it once by hand after the fix: `kubectl create job -n {} --from=cronjob/{c} {c}-manual`",
                ns(b)
            ));
        }
        out.push(Diagnosis {
            rule: "job_failed",
            rank: 25,
            summary: format!("Job {}{parent} failed: {reason}.", j.name),
            root_cause: format!(
                "Job {}{parent} failed with {reason}: {why}. {}",
                j.name,
                failed.message.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_owned(),
            confidence: Confidence::High,
            impact: format!("The work of job {} was not done.", j.name),
            evidence_ids: evidence,
            remediation,
            follow_ups: vec!["Alert on failed Jobs of this CronJob.".into()],
        });
    }
}

fn services(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for s in &b.objects.services {
        if s.ready_endpoints > 0 || s.selector.is_empty() {
            continue;
        }
        let selector = s
            .selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        if !s.matches_pods && !b.pods.is_empty() {
            let labels_hint = b.pods.first().map_or("", |p| p.name.as_str());
            out.push(Diagnosis {
                rule: "service_selector_mismatch",
                rank: 22,
                summary: format!("Service {} selects no pod: its selector {selector} matches none of the workload's pods.", s.name),
                root_cause: format!(
                    "Service {} has selector {selector}, which matches none of the {} pods of the workload, so it has no endpoints and every request to it fails.",
                    s.name,
                    b.pods.len()
                ),
                confidence: Confidence::High,
                impact: format!("Traffic to Service {} has nowhere to go.", s.name),
                evidence_ids: vec![s.id.clone()],
                remediation: vec![
                    format!("Compare the selector with the pods' labels: `kubectl get pod -n {} {labels_hint} --show-labels`", ns(b)),
                    format!("Fix the selector of Service {} (or the pod template's labels) so they agree.", s.name),
                ],
                follow_ups: vec!["Check in CI that every Service's selector matches its workload's template labels.".into()],
            });
        } else {
            out.push(Diagnosis {
                rule: "service_no_ready_endpoints",
                rank: 50,
                summary: format!("Service {} has no ready endpoint.", s.name),
                root_cause: format!(
                    "Service {} ({selector}) has {} endpoints, none ready: its pods fail their readiness, so it serves nothing.",
                    s.name, s.not_ready_endpoints
                ),
                confidence: Confidence::Medium,
                impact: format!("Requests to Service {} fail.", s.name),
                evidence_ids: vec![s.id.clone()],
                remediation: vec![format!(
                    "See why the pods are not ready: `kubectl get endpointslices -n {} -l kubernetes.io/service-name={}`",
                    ns(b), s.name
                )],
                follow_ups: Vec::new(),
            });
        }
    }
}

fn ingresses(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for i in &b.objects.ingresses {
        let missing: Vec<&crate::evidence::IngressBackend> =
            i.backends.iter().filter(|x| !x.service_exists).collect();
        let Some(first) = missing.first() else {
            continue;
        };
        let route = format!(
            "{}{}",
            first.host.as_deref().unwrap_or("*"),
            first.path.as_deref().unwrap_or("/")
        );
        out.push(Diagnosis {
            rule: "ingress_backend_missing",
            rank: 21,
            summary: format!(
                "Ingress {} routes {route} to Service {}, which does not exist.",
                i.name, first.service
            ),
            root_cause: format!(
                "Ingress {} sends {route} to Service {} (port {}), but no Service of that name exists in {}; the ingress controller answers 503 for it.",
                i.name,
                first.service,
                first.port.as_deref().unwrap_or("?"),
                ns(b)
            ),
            confidence: Confidence::High,
            impact: format!("Requests for {route} fail."),
            evidence_ids: vec![i.id.clone()],
            remediation: vec![format!(
                "Point the backend at the right Service or create it: `kubectl get svc -n {}`",
                ns(b)
            )],
            follow_ups: Vec::new(),
        });
    }
}

fn claims(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for c in &b.objects.volume_claims {
        let (why, fix, rank) = match (c.phase.as_str(), c.storage_class_exists) {
            ("Pending", Some(false)) => (
                format!(
                    "its StorageClass {} does not exist, so no volume is ever provisioned",
                    c.storage_class.as_deref().unwrap_or("?")
                ),
                format!(
                    "Set storageClassName of PVC {} to an existing class (`kubectl get storageclass`); the claim must be re-created, as the field cannot be changed.",
                    c.name
                ),
                8,
            ),
            ("Missing", _) => (
                "the claim does not exist".to_owned(),
                format!(
                    "Create PVC {} or fix the claimName in the pod template.",
                    c.name
                ),
                8,
            ),
            ("Pending", _) => (
                "no volume has been provisioned or bound for it".to_owned(),
                format!(
                    "Read the claim's events: `kubectl describe pvc -n {} {}`",
                    ns(b),
                    c.name
                ),
                40,
            ),
            _ => continue,
        };
        let pods: Vec<String> = b
            .pods
            .iter()
            .filter(|p| p.phase == "Pending")
            .map(|p| p.id.clone())
            .collect();
        let mut evidence = vec![c.id.clone()];
        evidence.extend(pods);
        out.push(Diagnosis {
            rule: "pvc_pending",
            rank,
            summary: format!("PVC {} is {}: {why}.", c.name, c.phase.to_ascii_lowercase()),
            root_cause: format!(
                "PersistentVolumeClaim {} is {}: {why}. Pods that mount it cannot be scheduled.",
                c.name, c.phase
            ),
            confidence: Confidence::High,
            impact: "Pods that mount the claim stay Pending.".into(),
            evidence_ids: evidence,
            remediation: vec![fix],
            follow_ups: Vec::new(),
        });
    }
}

fn nodes(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for n in &b.objects.nodes {
        let pods: Vec<String> = b
            .pods
            .iter()
            .filter(|p| p.node.as_deref() == Some(n.name.as_str()))
            .map(|p| p.id.clone())
            .collect();
        let mut evidence = vec![n.id.clone()];
        evidence.extend(pods);
        let ready = n.conditions.iter().find(|c| c.type_ == "Ready");
        if let Some(r) = ready.filter(|r| r.status != "True") {
            out.push(Diagnosis {
                rule: "node_not_ready",
                rank: 18,
                summary: format!("Node {} is NotReady ({}).", n.name, r.reason.as_deref().unwrap_or("no reason")),
                root_cause: format!(
                    "Node {} is not ready (Ready={}, {}: {}); its pods are not running or are being evicted.",
                    n.name,
                    r.status,
                    r.reason.as_deref().unwrap_or("no reason"),
                    r.message.as_deref().unwrap_or("no message")
                ),
                confidence: Confidence::High,
                impact: format!("Pods on {} do not serve.", n.name),
                evidence_ids: evidence,
                remediation: vec![
                    format!("Check the node and its kubelet: `kubectl describe node {}`", n.name),
                    format!("Move the workload off it: `kubectl drain {} --ignore-daemonsets --delete-emptydir-data`", n.name),
                ],
                follow_ups: vec!["Alert on NotReady nodes and spread replicas across nodes (topologySpreadConstraints).".into()],
            });
            continue;
        }
        for c in n.conditions.iter().filter(|c| {
            c.status == "True"
                && matches!(
                    c.type_.as_str(),
                    "MemoryPressure" | "DiskPressure" | "PIDPressure" | "NetworkUnavailable"
                )
        }) {
            out.push(Diagnosis {
                rule: "node_pressure",
                rank: 19,
                summary: format!("Node {} reports {}.", n.name, c.type_),
                root_cause: format!(
                    "Node {} reports {} ({}): the kubelet evicts pods and refuses new ones until it clears.",
                    n.name,
                    c.type_,
                    c.message.as_deref().unwrap_or("no message")
                ),
                confidence: Confidence::High,
                impact: format!("Pods on {} are evicted or cannot start.", n.name),
                evidence_ids: evidence.clone(),
                remediation: vec![format!(
                    "Free or add capacity on {} (what uses it: `kubectl describe node {}`), and set requests so the scheduler accounts for real use.",
                    n.name, n.name
                )],
                follow_ups: Vec::new(),
            });
        }
    }
}

fn autoscalers(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for h in &b.objects.autoscalers {
        let limited = h.conditions.iter().any(|c| {
            c.type_ == "ScalingLimited"
                && c.status == "True"
                && c.reason.as_deref() == Some("TooManyReplicas")
        });
        if !(h.current_replicas >= h.max_replicas
            && (h.desired_replicas >= h.max_replicas || limited))
        {
            continue;
        }
        out.push(Diagnosis {
            rule: "hpa_at_max",
            rank: 45,
            summary: format!(
                "HPA {} is pinned at its maximum of {} replicas.",
                h.name, h.max_replicas
            ),
            root_cause: format!(
                "HorizontalPodAutoscaler {} runs {}/{} at its maxReplicas {} and wants more: the load exceeds what {} replicas can serve.",
                h.name, h.target.kind, h.target.name, h.max_replicas, h.max_replicas
            ),
            confidence: Confidence::Medium,
            impact: format!("{} is saturated; latency and errors rise with load.", h.target.name),
            evidence_ids: vec![h.id.clone()],
            remediation: vec![
                format!("Raise maxReplicas if the cluster has room: `kubectl patch hpa -n {} {} -p '{{\"spec\":{{\"maxReplicas\":{}}}}}'`", ns(b), h.name, h.max_replicas * 2),
                "Find what drives the load (a retry storm, a slow dependency) before adding replicas.".into(),
            ],
            follow_ups: vec!["Alert when an HPA stays at its maximum for more than 15 minutes.".into()],
        });
    }
}

static QUOTA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"exceeded quota: (?P<quota>[\w.\-]+), requested: (?P<requested>[^,]+), used: (?P<used>[^,]+), limited: (?P<limited>[^\s,]+)")
        .expect("a valid regex")
});

fn quotas(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    let refused: Vec<&crate::evidence::EventGroup> = b
        .events
        .iter()
        .filter(|e| e.reason == "FailedCreate" && e.message.contains("exceeded quota"))
        .collect();
    let Some(first) = refused.first() else {
        return;
    };
    let cap = QUOTA.captures(&first.message);
    let quota = cap.as_ref().map(|c| c["quota"].to_owned());
    let mut evidence: Vec<String> = refused.iter().map(|e| e.id.clone()).collect();
    evidence.extend(
        b.objects
            .quotas
            .iter()
            .filter(|q| quota.as_deref().is_none_or(|n| n == q.name))
            .map(|q| q.id.clone()),
    );
    let detail = cap.as_ref().map_or_else(
        || first.message.clone(),
        |c| {
            format!(
                "quota {} allows {}, {} is used and the pod requests {}",
                &c["quota"],
                c["limited"].trim(),
                c["used"].trim(),
                c["requested"].trim()
            )
        },
    );
    let pods = if b.pods.is_empty() {
        "the workload has no pods at all"
    } else {
        "new pods are not created"
    };
    out.push(Diagnosis {
        rule: "quota_exceeded",
        rank: 9,
        summary: format!(
            "{} {} cannot create pods: namespace quota {} is exhausted.",
            first.object.kind,
            first.object.name,
            quota.as_deref().unwrap_or("?")
        ),
        root_cause: format!(
            "{} {} is refused by the API server ({} times, FailedCreate): {detail}. So {pods}.",
            first.object.kind, first.object.name, first.count
        ),
        confidence: Confidence::High,
        impact: format!("{} runs fewer replicas than desired.", b.target.entity),
        evidence_ids: evidence,
        remediation: vec![
            format!(
                "See what uses the quota: `kubectl describe resourcequota -n {}`",
                ns(b)
            ),
            "Lower the pods' requests, remove what no longer runs, or raise the quota.".into(),
        ],
        follow_ups: vec!["Alert when a namespace uses more than 90 % of a quota.".into()],
    });
}
