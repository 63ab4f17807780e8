//! A workload's rollout history: its pod-template revisions in flat facts, and what the
//! newest changed against the one before. Pure functions over API objects.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::core::v1::{self as core, Pod, PodTemplateSpec};

use super::convert::{controller, time};
use crate::evidence::{ObjectRef, Revision, TemplateChange};

/// Revisions kept per workload (the newest first).
pub(super) const KEPT: usize = 5;

/// What a literal env value becomes in the bundle: its presence, never its text.
const LITERAL: &str = "a literal value";

/// The revisions of `workload` among `sets` (ReplicaSets it controls), newest first, the
/// newest carrying its changes against the previous one.
pub(super) fn of_replica_sets(workload: &ObjectRef, sets: &[ReplicaSet]) -> Vec<Revision> {
    let found = sets
        .iter()
        .filter(|s| controller(s.metadata.owner_references.as_ref()).as_ref() == Some(workload))
        .filter_map(|s| {
            let number = s
                .metadata
                .annotations
                .as_ref()?
                .get("deployment.kubernetes.io/revision")?
                .parse::<u64>()
                .ok()?;
            let status = s.status.as_ref();
            let template = s.spec.template.as_ref();
            Some(Found {
                object: ObjectRef {
                    kind: "ReplicaSet".into(),
                    name: s.metadata.name.clone().unwrap_or_default(),
                },
                number,
                created: s.metadata.creation_timestamp.as_ref().and_then(time),
                replicas: count(s.spec.replicas),
                ready: count(status.and_then(|st| st.ready_replicas)),
                pods: Vec::new(),
                facts: template.map(facts).unwrap_or_default(),
            })
        })
        .collect();
    assemble(workload, found)
}

/// The revisions of a StatefulSet or DaemonSet from its ControllerRevisions, whose
/// `data` holds the template as a patch (`{"spec": {"template": …}}`). Which of `pods`
/// run a revision comes from their `controller-revision-hash` label: the revision's name
/// on StatefulSet pods, its hash (the name less `<workload>-`) on DaemonSet pods.
pub(super) fn of_controller_revisions(
    workload: &ObjectRef,
    revisions: &[ControllerRevision],
    pods: &[Pod],
) -> Vec<Revision> {
    let ours: Vec<(&str, &str, bool)> = pods
        .iter()
        .filter(|p| controller(p.metadata.owner_references.as_ref()).as_ref() == Some(workload))
        .filter_map(|p| {
            let hash = p
                .metadata
                .labels
                .as_ref()?
                .get("controller-revision-hash")?;
            Some((p.metadata.name.as_deref()?, hash.as_str(), ready(p)))
        })
        .collect();
    let found = revisions
        .iter()
        .filter(|r| controller(r.metadata.owner_references.as_ref()).as_ref() == Some(workload))
        .map(|r| {
            let template: Option<PodTemplateSpec> = r
                .data
                .0
                .pointer("/spec/template")
                .and_then(|t| serde_json::from_value(t.clone()).ok());
            let name = r.metadata.name.clone().unwrap_or_default();
            let hash = name.strip_prefix(&format!("{}-", workload.name));
            let on_it: Vec<&(&str, &str, bool)> = ours
                .iter()
                .filter(|(_, h, _)| *h == name || Some(*h) == hash)
                .collect();
            Found {
                object: ObjectRef {
                    kind: "ControllerRevision".into(),
                    name,
                },
                number: u64::try_from(r.revision.unwrap_or(0)).unwrap_or(0),
                created: r.metadata.creation_timestamp.as_ref().and_then(time),
                replicas: u32::try_from(on_it.len()).unwrap_or(u32::MAX),
                ready: u32::try_from(on_it.iter().filter(|(_, _, ready)| *ready).count())
                    .unwrap_or(u32::MAX),
                pods: on_it.iter().map(|(n, _, _)| (*n).to_owned()).collect(),
                facts: template.as_ref().map(facts).unwrap_or_default(),
            }
        })
        .collect();
    assemble(workload, found)
}

fn ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

struct Found {
    object: ObjectRef,
    number: u64,
    created: Option<chrono::DateTime<chrono::Utc>>,
    replicas: u32,
    ready: u32,
    pods: Vec<String>,
    /// Facts with literal env values fingerprinted, so that a changed value shows.
    facts: BTreeMap<String, String>,
}

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

fn assemble(workload: &ObjectRef, mut found: Vec<Found>) -> Vec<Revision> {
    found.sort_by_key(|f| std::cmp::Reverse(f.number));
    found.truncate(KEPT);
    let changes = match found.as_slice() {
        [newest, previous, ..] => diff(&previous.facts, &newest.facts),
        _ => Vec::new(),
    };
    found
        .into_iter()
        .enumerate()
        .map(|(i, f)| Revision {
            id: format!("revision/{}/{}", workload.name, f.number),
            workload: workload.clone(),
            object: f.object,
            revision: f.number,
            created: f.created,
            replicas: f.replicas,
            ready: f.ready,
            pods: f.pods,
            template: f
                .facts
                .into_iter()
                .map(|(k, v)| (k, shown(&v).to_owned()))
                .collect(),
            changes: if i == 0 { changes.clone() } else { Vec::new() },
        })
        .collect()
}

fn shown(value: &str) -> &str {
    if value.starts_with("literal:") {
        LITERAL
    } else {
        value
    }
}

/// What differs between two templates' facts; literal values show only that they
/// changed.
pub(super) fn diff(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<TemplateChange> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let (b, a) = (before.get(k), after.get(k));
            if b == a {
                return None;
            }
            let (b, a) = match (b, a) {
                (Some(b), Some(a)) if b.starts_with("literal:") && a.starts_with("literal:") => {
                    (LITERAL.to_owned(), "a different literal value".to_owned())
                }
                (b, a) => (
                    b.map(|v| shown(v).to_owned()).unwrap_or_default(),
                    a.map(|v| shown(v).to_owned()).unwrap_or_default(),
                ),
            };
            Some(TemplateChange {
                field: k.clone(),
                before: Some(b).filter(|v| !v.is_empty()),
                after: Some(a).filter(|v| !v.is_empty()),
            })
        })
        .collect()
}

/// A pod template in flat facts. Literal env values are kept as a fingerprint
/// (`literal:<sha256>`), replaced before anything leaves this module.
pub(super) fn facts(template: &PodTemplateSpec) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(spec) = template.spec.as_ref() else {
        return out;
    };
    let init = spec.init_containers.iter().flatten();
    for c in spec.containers.iter().chain(init) {
        container_facts(c, &mut out);
    }
    for v in spec.volumes.iter().flatten() {
        let source = if let Some(cm) = &v.config_map {
            format!("configmap {}", cm.name)
        } else if let Some(s) = &v.secret {
            format!("secret {}", s.secret_name.as_deref().unwrap_or("?"))
        } else if let Some(p) = &v.persistent_volume_claim {
            format!("pvc {}", p.claim_name)
        } else if v.empty_dir.is_some() {
            "emptyDir".to_owned()
        } else if v.projected.is_some() {
            "projected".to_owned()
        } else {
            "other".to_owned()
        };
        out.insert(format!("volume.{}", v.name), source);
    }
    if let Some(sa) = &spec.service_account_name {
        out.insert("serviceAccount".into(), sa.clone());
    }
    out
}

fn container_facts(c: &core::Container, out: &mut BTreeMap<String, String>) {
    let n = &c.name;
    if let Some(image) = &c.image {
        out.insert(format!("{n}.image"), image.clone());
    }
    if let Some(command) = c.command.as_ref().filter(|a| !a.is_empty()) {
        out.insert(format!("{n}.command"), command.join(" "));
    }
    if let Some(args) = c.args.as_ref().filter(|a| !a.is_empty()) {
        out.insert(format!("{n}.args"), args.join(" "));
    }
    for e in c.env.iter().flatten() {
        out.insert(format!("{n}.env.{}", e.name), env_source(e));
    }
    for from in c.env_from.iter().flatten() {
        let (kind, name) = match (&from.config_map_ref, &from.secret_ref) {
            (Some(cm), _) => ("configmap", cm.name.clone()),
            (None, Some(s)) => ("secret", s.name.clone()),
            (None, None) => continue,
        };
        out.insert(format!("{n}.envFrom.{kind} {name}"), "all keys".into());
    }
    if let Some(r) = &c.resources {
        for (which, map) in [("requests", &r.requests), ("limits", &r.limits)] {
            for (k, q) in map.iter().flatten() {
                out.insert(format!("{n}.{which}.{k}"), q.0.clone());
            }
        }
    }
    for m in c.volume_mounts.iter().flatten() {
        out.insert(format!("{n}.mount.{}", m.mount_path), m.name.clone());
    }
    for (kind, probe) in [
        ("liveness", &c.liveness_probe),
        ("readiness", &c.readiness_probe),
    ] {
        if let Some(p) = probe {
            out.insert(format!("{n}.{kind}Probe"), probe_summary(p));
        }
    }
}

fn env_source(e: &core::EnvVar) -> String {
    use sha2::Digest as _;
    if let Some(v) = &e.value {
        return format!(
            "literal:{}",
            hex::encode(sha2::Sha256::digest(v.as_bytes()))
        );
    }
    let Some(from) = &e.value_from else {
        return "empty".into();
    };
    if let Some(s) = &from.secret_key_ref {
        format!("secret {} key {}", s.name, s.key)
    } else if let Some(cm) = &from.config_map_key_ref {
        format!("configmap {} key {}", cm.name, cm.key)
    } else if let Some(f) = &from.field_ref {
        format!("field {}", f.field_path)
    } else if let Some(r) = &from.resource_field_ref {
        format!("resource {}", r.resource)
    } else {
        "other".into()
    }
}

fn probe_summary(p: &core::Probe) -> String {
    let target = if let Some(h) = &p.http_get {
        format!("GET {}", h.path.as_deref().unwrap_or("/"))
    } else if p.tcp_socket.is_some() {
        "tcp".to_owned()
    } else if p.exec.is_some() {
        "exec".to_owned()
    } else {
        "grpc".to_owned()
    };
    format!(
        "{target} delay {}s timeout {}s period {}s failures {}",
        p.initial_delay_seconds.unwrap_or(0),
        p.timeout_seconds.unwrap_or(1),
        p.period_seconds.unwrap_or(10),
        p.failure_threshold.unwrap_or(3)
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn set(name: &str, revision: u64, image: &str, log_level: &str, db: &str) -> ReplicaSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": name,
                "creationTimestamp": format!("2026-11-26T0{revision}:00:00Z"),
                "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                     "uid": "u", "controller": true}]
            },
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"spec": {"containers": [{
                    "name": "web", "image": image, "args": ["--port=8080"],
                    "env": [
                        {"name": "LOG_LEVEL", "value": log_level},
                        {"name": "DB_HOST", "valueFrom": {"configMapKeyRef": {"name": db, "key": "host"}}}
                    ],
                    "resources": {"limits": {"memory": "256Mi"}}
                }]}}
            },
            "status": {"replicas": 1, "readyReplicas": u8::from(revision == 1)}
        }))
        .unwrap()
    }

    fn web() -> ObjectRef {
        ObjectRef {
            kind: "Deployment".into(),
            name: "web".into(),
        }
    }

    #[test]
    fn the_newest_revision_names_what_changed_and_hides_literal_values() {
        let secret_level = format!("debug-{}", fastrand::u64(..));
        let sets = [
            set("web-1", 1, "shop/web:1.4.1", "info", "db"),
            set("web-3", 3, "shop/web:1.5.0", &secret_level, "db-v2"),
            set("web-2", 2, "shop/web:1.4.1", "info", "db"),
        ];
        let revs = of_replica_sets(&web(), &sets);
        let numbers: Vec<u64> = revs.iter().map(|r| r.revision).collect();
        assert_eq!(numbers, [3, 2, 1]);
        assert_eq!(revs[0].id, "revision/web/3");
        let changed: Vec<(&str, Option<&str>, Option<&str>)> = revs[0]
            .changes
            .iter()
            .map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref()))
            .collect();
        assert_eq!(
            changed,
            [
                (
                    "web.env.DB_HOST",
                    Some("configmap db key host"),
                    Some("configmap db-v2 key host")
                ),
                (
                    "web.env.LOG_LEVEL",
                    Some(LITERAL),
                    Some("a different literal value")
                ),
                ("web.image", Some("shop/web:1.4.1"), Some("shop/web:1.5.0")),
            ]
        );
        assert!(revs[1].changes.is_empty());
        let text = serde_json::to_string(&revs).unwrap();
        assert!(!text.contains(&secret_level), "{text}");
        assert!(!text.contains("literal:"), "{text}");
        assert_eq!(revs[0].template["web.args"], "--port=8080");
        assert_eq!(revs[0].template["web.limits.memory"], "256Mi");
    }

    #[test]
    fn replica_sets_of_other_workloads_are_not_its_history() {
        let mut other = set("api-1", 1, "shop/api:1", "info", "db");
        other.metadata.owner_references.as_mut().unwrap()[0].name = "api".into();
        assert!(of_replica_sets(&web(), &[other]).is_empty());
    }

    fn owned(kind: &str, name: &str) -> serde_json::Value {
        serde_json::json!([{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": "u", "controller": true}])
    }

    fn controller_revision(
        kind: &str,
        owner: &str,
        name: &str,
        n: i64,
        image: &str,
    ) -> ControllerRevision {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "ownerReferences": owned(kind, owner)},
            "revision": n,
            "data": {"spec": {"template": {"$patch": "replace", "spec": {"containers": [
                {"name": owner, "image": image}]}}}}
        }))
        .unwrap()
    }

    fn pod_on(kind: &str, owner: &str, name: &str, hash: &str, ready: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"controller-revision-hash": hash},
                         "ownerReferences": owned(kind, owner)},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    #[test]
    fn statefulset_revisions_carry_the_template_as_a_patch_and_the_pods_named_by_revision() {
        let db = ObjectRef {
            kind: "StatefulSet".into(),
            name: "db".into(),
        };
        let revs = of_controller_revisions(
            &db,
            &[
                controller_revision("StatefulSet", "db", "db-5d8b6c7f9", 1, "pg:16"),
                controller_revision("StatefulSet", "db", "db-7c9f8d6b5", 2, "pg:17"),
                controller_revision("StatefulSet", "other", "other-1", 9, "x:1"),
            ],
            &[
                // StatefulSet pods carry the revision's full name.
                pod_on("StatefulSet", "db", "db-0", "db-5d8b6c7f9", true),
                pod_on("StatefulSet", "db", "db-1", "db-7c9f8d6b5", false),
                pod_on("StatefulSet", "other", "other-0", "db-7c9f8d6b5", false),
            ],
        );
        let got: Vec<(u64, &str, Vec<&str>, u32, u32)> = revs
            .iter()
            .map(|r| {
                let pods = r.pods.iter().map(String::as_str).collect();
                (
                    r.revision,
                    r.object.name.as_str(),
                    pods,
                    r.replicas,
                    r.ready,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (2, "db-7c9f8d6b5", vec!["db-1"], 1, 0),
                (1, "db-5d8b6c7f9", vec!["db-0"], 1, 1)
            ]
        );
        assert_eq!(revs[0].object.kind, "ControllerRevision");
        assert_eq!(revs[0].changes[0].field, "db.image");
        assert_eq!(revs[0].changes[0].after.as_deref(), Some("pg:17"));
    }

    #[test]
    fn daemonset_pods_name_their_revision_by_hash_only() {
        let agent = ObjectRef {
            kind: "DaemonSet".into(),
            name: "agent".into(),
        };
        let revs = of_controller_revisions(
            &agent,
            &[
                controller_revision("DaemonSet", "agent", "agent-6b7d9f8c5", 3, "fluent-bit:3.1"),
                controller_revision(
                    "DaemonSet",
                    "agent",
                    "agent-84c6f5d7b9",
                    4,
                    "fluent-bit:3.2",
                ),
            ],
            &[
                pod_on("DaemonSet", "agent", "agent-7xk2p", "6b7d9f8c5", true),
                pod_on("DaemonSet", "agent", "agent-q2w3e", "6b7d9f8c5", true),
                pod_on("DaemonSet", "agent", "agent-m4n8q", "84c6f5d7b9", false),
            ],
        );
        assert_eq!(revs[0].id, "revision/agent/4");
        assert_eq!(revs[0].pods, ["agent-m4n8q"]);
        assert_eq!((revs[1].replicas, revs[1].ready), (2, 2));
        assert_eq!(revs[0].changes[0].before.as_deref(), Some("fluent-bit:3.1"));
    }
}
