//! Prompt lines for the objects around the pods: what the newest revision changed,
//! Jobs, Services, Ingresses, claims, nodes, autoscalers and quotas.

use std::fmt::Write as _;

use crate::evidence::{Condition, EvidenceBundle};

fn conditions(cs: &[Condition]) -> String {
    cs.iter()
        .map(|c| {
            let mut s = format!("{}={}", c.type_, c.status);
            if let Some(r) = &c.reason {
                let _ = write!(s, " ({r})");
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per object.
pub(super) fn lines(b: &EvidenceBundle) -> Vec<String> {
    let o = &b.objects;
    let mut out = Vec::new();
    for r in &o.revisions {
        let mut s = format!(
            "[{}] {}/{} revision {} ({} {}), created {}, {} desired, {} ready",
            r.id,
            r.workload.kind,
            r.workload.name,
            r.revision,
            r.object.kind,
            r.object.name,
            r.created.map_or("?".into(), |t| t.to_rfc3339()),
            r.replicas,
            r.ready
        );
        for c in &r.changes {
            let _ = write!(
                s,
                "; changed {}: {} -> {}",
                c.field,
                c.before.as_deref().unwrap_or("(none)"),
                c.after.as_deref().unwrap_or("(none)")
            );
        }
        out.push(s);
    }
    for j in &o.jobs {
        out.push(format!(
            "[{}] Job {}{}: active {}, succeeded {}, failed {}, backoffLimit {}; {}",
            j.id,
            j.name,
            j.cron_job
                .as_ref()
                .map(|c| format!(" of CronJob {c}"))
                .unwrap_or_default(),
            j.active,
            j.succeeded,
            j.failed,
            j.backoff_limit.map_or("default".into(), |n| n.to_string()),
            conditions(&j.conditions)
        ));
    }
    workloads(b, &mut out);
    out
}

fn workloads(b: &EvidenceBundle, out: &mut Vec<String>) {
    let o = &b.objects;
    for s in &o.services {
        out.push(format!(
            "[{}] Service {} selector {:?} ports {}: {} ready and {} not-ready endpoints; selects workload pods: {}",
            s.id,
            s.name,
            s.selector,
            s.ports.join(", "),
            s.ready_endpoints,
            s.not_ready_endpoints,
            s.matches_pods
        ));
    }
    for i in &o.ingresses {
        let backends: Vec<String> = i
            .backends
            .iter()
            .map(|x| {
                format!(
                    "{}{} -> {}:{}{}",
                    x.host.as_deref().unwrap_or("*"),
                    x.path.as_deref().unwrap_or("/"),
                    x.service,
                    x.port.as_deref().unwrap_or("?"),
                    if x.service_exists {
                        ""
                    } else {
                        " (Service missing)"
                    }
                )
            })
            .collect();
        out.push(format!(
            "[{}] Ingress {}: {}",
            i.id,
            i.name,
            backends.join(", ")
        ));
    }
    for v in &o.volume_claims {
        out.push(format!(
            "[{}] PVC {}: {}, storageClass {}{}",
            v.id,
            v.name,
            v.phase,
            v.storage_class.as_deref().unwrap_or("(default)"),
            match v.storage_class_exists {
                Some(false) => " (does not exist)",
                _ => "",
            }
        ));
    }
    for n in &o.nodes {
        out.push(format!(
            "[{}] Node {}{}: {}",
            n.id,
            n.name,
            if n.unschedulable { " (cordoned)" } else { "" },
            conditions(&n.conditions)
        ));
    }
    for h in &o.autoscalers {
        out.push(format!(
            "[{}] HPA {} for {}/{}: min {}, max {}, current {}, desired {}; {}",
            h.id,
            h.name,
            h.target.kind,
            h.target.name,
            h.min_replicas,
            h.max_replicas,
            h.current_replicas,
            h.desired_replicas,
            conditions(&h.conditions)
        ));
    }
    for q in &o.quotas {
        let used: Vec<String> = q
            .hard
            .iter()
            .map(|(k, v)| format!("{k} {}/{v}", q.used.get(k).map_or("?", String::as_str)))
            .collect();
        out.push(format!(
            "[{}] ResourceQuota {}: {}",
            q.id,
            q.name,
            used.join(", ")
        ));
    }
}
