//! The objects around a workload's pods: revisions, owning Jobs, Services with their
//! EndpointSlices, Ingresses, PersistentVolumeClaims and StorageClasses, Nodes, HPAs and
//! ResourceQuotas. Each read is best effort: a refused or failed read becomes a note in
//! the kubernetes source status, not a failed collection.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, ResourceQuota, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};

use super::convert::{controller, time};
use super::{KubeCluster, LIST_LIMIT, kube_error, revisions};
use crate::evidence::{
    AutoscalerEvidence, Condition, IngressBackend, IngressEvidence, JobEvidence, NodeEvidence,
    ObjectRef, QuotaEvidence, RelatedObjects, ServiceEvidence, VolumeClaimEvidence,
};
use crate::sources::selector;

/// Objects of one kind looked up one by one (nodes, claims, Services' slices).
const PER_KIND: usize = 10;

/// What the workload's objects are, as the cluster source found them.
pub(super) struct Known<'a> {
    pub ns: &'a str,
    pub selector: &'a str,
    pub pods: &'a [Pod],
    pub owners: &'a BTreeSet<ObjectRef>,
    pub sets: &'a [ReplicaSet],
    pub deployments: &'a [Deployment],
    pub stateful: &'a [StatefulSet],
}

/// Reads every related object; failures come back as notes.
pub(super) async fn collect(cluster: &KubeCluster, k: &Known<'_>) -> (RelatedObjects, Vec<String>) {
    let mut failures = Vec::new();
    let mut out = RelatedObjects::default();
    let (revisions, jobs, services, claims, nodes, autoscalers, quotas) = tokio::join!(
        revisions(cluster, k),
        jobs(cluster, k),
        services_and_ingresses(cluster, k),
        claims(cluster, k),
        nodes(cluster, k),
        autoscalers(cluster, k),
        quotas(cluster, k),
    );
    let mut keep = |r: Result<(), String>| {
        if let Err(e) = r {
            failures.push(e);
        }
    };
    keep(revisions.map(|v| out.revisions = v));
    keep(jobs.map(|v| out.jobs = v));
    keep(services.map(|(s, i)| {
        out.services = s;
        out.ingresses = i;
    }));
    keep(claims.map(|v| out.volume_claims = v));
    keep(nodes.map(|v| out.nodes = v));
    keep(autoscalers.map(|v| out.autoscalers = v));
    keep(quotas.map(|v| out.quotas = v));
    (out, failures)
}

fn failed(what: &str) -> impl Fn(kube::Error) -> String + '_ {
    move |e| match kube_error(what, e) {
        e @ crate::sources::SourceError::Unauthorized { .. } => format!("{what}: {e}"),
        e => e.to_string(),
    }
}

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

fn condition(
    type_: &str,
    status: &str,
    reason: Option<&String>,
    message: Option<&String>,
    at: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.cloned(),
        message: message.cloned(),
        last_transition: at.and_then(time),
    }
}

async fn revisions(
    cluster: &KubeCluster,
    k: &Known<'_>,
) -> Result<Vec<crate::evidence::Revision>, String> {
    let mut out = Vec::new();
    for owner in k.owners.iter().filter(|o| o.kind == "Deployment") {
        out.extend(revisions::of_replica_sets(owner, k.sets));
    }
    let stateful: Vec<&ObjectRef> = k
        .owners
        .iter()
        .filter(|o| matches!(o.kind.as_str(), "StatefulSet" | "DaemonSet"))
        .collect();
    if !stateful.is_empty() {
        let params = ListParams::default().labels(k.selector).limit(LIST_LIMIT);
        let listed = cluster
            .api::<ControllerRevision>(k.ns)
            .list(&params)
            .await
            .map_err(failed("listing controllerrevisions"))?;
        for owner in stateful {
            out.extend(revisions::of_controller_revisions(
                owner,
                &listed.items,
                k.pods,
            ));
        }
    }
    Ok(out)
}

async fn jobs(cluster: &KubeCluster, k: &Known<'_>) -> Result<Vec<JobEvidence>, String> {
    let mut out = Vec::new();
    for owner in k.owners.iter().filter(|o| o.kind == "Job").take(PER_KIND) {
        let Some(job) = cluster
            .api::<Job>(k.ns)
            .get_opt(&owner.name)
            .await
            .map_err(failed("reading a job"))?
        else {
            continue;
        };
        let spec = job.spec.as_ref();
        let status = job.status.clone().unwrap_or_default();
        out.push(JobEvidence {
            id: format!("job/{}", owner.name),
            name: owner.name.clone(),
            cron_job: controller(job.metadata.owner_references.as_ref())
                .filter(|o| o.kind == "CronJob")
                .map(|o| o.name),
            active: count(status.active),
            succeeded: count(status.succeeded),
            failed: count(status.failed),
            backoff_limit: spec
                .and_then(|s| s.backoff_limit)
                .and_then(|n| u32::try_from(n).ok()),
            active_deadline_seconds: spec
                .and_then(|s| s.active_deadline_seconds)
                .and_then(|n| u64::try_from(n).ok()),
            conditions: status
                .conditions
                .iter()
                .flatten()
                .map(|c| {
                    condition(
                        &c.type_,
                        &c.status,
                        c.reason.as_ref(),
                        c.message.as_ref(),
                        c.last_transition_time.as_ref(),
                    )
                })
                .collect(),
        });
    }
    Ok(out)
}

/// Label sets the workload's Services should select: the pods', and the templates' of
/// workloads that have no pods yet.
type Labels = BTreeMap<String, String>;

fn label_sets(k: &Known<'_>) -> (Vec<Labels>, Vec<Labels>) {
    let pods = k
        .pods
        .iter()
        .filter_map(|p| p.metadata.labels.clone())
        .collect();
    let templates = k
        .deployments
        .iter()
        .filter_map(|d| d.spec.template.metadata.as_ref()?.labels.clone())
        .chain(
            k.stateful
                .iter()
                .filter_map(|s| s.spec.template.metadata.as_ref()?.labels.clone()),
        )
        .collect();
    (pods, templates)
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

async fn services_and_ingresses(
    cluster: &KubeCluster,
    k: &Known<'_>,
) -> Result<(Vec<ServiceEvidence>, Vec<IngressEvidence>), String> {
    let all = ListParams::default().limit(LIST_LIMIT);
    let listed = cluster
        .api::<Service>(k.ns)
        .list(&all)
        .await
        .map_err(failed("listing services"))?;
    let workload_selector = selector::parse(k.selector).unwrap_or_default();
    let (pod_labels, template_labels) = label_sets(k);
    let mut services = Vec::new();
    for s in &listed.items {
        let name = s.metadata.name.clone().unwrap_or_default();
        let sel = s
            .spec
            .as_ref()
            .and_then(|spec| spec.selector.clone())
            .unwrap_or_default();
        let matches_pods = pod_labels.iter().any(|l| selects(&sel, l));
        let labelled = s.metadata.labels.as_ref().is_some_and(|l| {
            !workload_selector.is_empty() && selector::matches(&workload_selector, l)
        });
        let for_template = template_labels.iter().any(|l| selects(&sel, l));
        if !(matches_pods || labelled || for_template) || services.len() >= PER_KIND {
            continue;
        }
        let ports = s
            .spec
            .as_ref()
            .and_then(|spec| spec.ports.as_ref())
            .into_iter()
            .flatten()
            .map(|p| {
                let target = match &p.target_port {
                    Some(IntOrString::Int(n)) => n.to_string(),
                    Some(IntOrString::String(n)) => n.clone(),
                    None => p.port.to_string(),
                };
                format!(
                    "{}{}→{target}/{}",
                    p.name.as_ref().map(|n| format!("{n} ")).unwrap_or_default(),
                    p.port,
                    p.protocol.as_deref().unwrap_or("TCP")
                )
            })
            .collect();
        let params = ListParams::default()
            .labels(&format!("kubernetes.io/service-name={name}"))
            .limit(LIST_LIMIT);
        let slices = cluster
            .api::<EndpointSlice>(k.ns)
            .list(&params)
            .await
            .map_err(failed("listing endpointslices"))?;
        let (mut ready, mut not_ready) = (0, 0);
        for e in slices
            .items
            .iter()
            .flat_map(|s| s.endpoints.iter().flatten())
        {
            // The API says a missing `ready` means ready.
            if e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                ready += 1;
            } else {
                not_ready += 1;
            }
        }
        services.push(ServiceEvidence {
            id: format!("service/{name}"),
            name,
            selector: sel,
            ports,
            matches_pods,
            ready_endpoints: ready,
            not_ready_endpoints: not_ready,
        });
    }
    let existing: BTreeSet<String> = listed
        .items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect();
    let ingresses = ingresses(cluster, k, &workload_selector, &existing, &services).await?;
    Ok((services, ingresses))
}

async fn ingresses(
    cluster: &KubeCluster,
    k: &Known<'_>,
    workload_selector: &[selector::Requirement],
    existing: &BTreeSet<String>,
    services: &[ServiceEvidence],
) -> Result<Vec<IngressEvidence>, String> {
    let all = ListParams::default().limit(LIST_LIMIT);
    let ours: BTreeSet<&str> = services.iter().map(|s| s.name.as_str()).collect();
    let ingresses = cluster
        .api::<Ingress>(k.ns)
        .list(&all)
        .await
        .map_err(failed("listing ingresses"))?;
    let mut kept = Vec::new();
    for ing in &ingresses.items {
        let spec = ing.spec.clone().unwrap_or_default();
        let mut backends = Vec::new();
        let mut push =
            |host: Option<&String>,
             path: Option<&String>,
             b: &k8s_openapi::api::networking::v1::IngressBackend| {
                if let Some(svc) = &b.service {
                    let port = svc
                        .port
                        .as_ref()
                        .and_then(|p| p.number.map(|n| n.to_string()).or_else(|| p.name.clone()));
                    backends.push(IngressBackend {
                        host: host.cloned(),
                        path: path.cloned(),
                        service: svc.name.clone(),
                        port,
                        service_exists: existing.contains(&svc.name),
                    });
                }
            };
        if let Some(b) = &spec.default_backend {
            push(None, None, b);
        }
        for rule in spec.rules.iter().flatten() {
            for p in rule.http.iter().flat_map(|h| &h.paths) {
                push(rule.host.as_ref(), p.path.as_ref(), &p.backend);
            }
        }
        let labelled = ing.metadata.labels.as_ref().is_some_and(|l| {
            !workload_selector.is_empty() && selector::matches(workload_selector, l)
        });
        if (labelled || backends.iter().any(|b| ours.contains(b.service.as_str())))
            && kept.len() < PER_KIND
        {
            let name = ing.metadata.name.clone().unwrap_or_default();
            kept.push(IngressEvidence {
                id: format!("ingress/{name}"),
                name,
                class: spec.ingress_class_name.clone(),
                backends,
            });
        }
    }
    Ok(kept)
}

async fn claims(cluster: &KubeCluster, k: &Known<'_>) -> Result<Vec<VolumeClaimEvidence>, String> {
    let names: BTreeSet<String> = k
        .pods
        .iter()
        .filter_map(|p| p.spec.as_ref())
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .map(|c| c.claim_name.clone())
        .take(PER_KIND)
        .collect();
    let mut out = Vec::new();
    let classes: Api<StorageClass> = Api::all(cluster.client.clone());
    for name in names {
        let claim = cluster
            .api::<PersistentVolumeClaim>(k.ns)
            .get_opt(&name)
            .await
            .map_err(failed("reading a persistentvolumeclaim"))?;
        let Some(claim) = claim else {
            out.push(VolumeClaimEvidence {
                id: format!("pvc/{name}"),
                name,
                phase: "Missing".into(),
                storage_class: None,
                storage_class_exists: None,
                requested: None,
            });
            continue;
        };
        let spec = claim.spec.clone().unwrap_or_default();
        let class = spec.storage_class_name.clone().filter(|c| !c.is_empty());
        let exists = match &class {
            Some(c) => Some(
                classes
                    .get_opt(c)
                    .await
                    .map_err(failed("reading a storageclass"))?
                    .is_some(),
            ),
            None => None,
        };
        out.push(VolumeClaimEvidence {
            id: format!("pvc/{name}"),
            name,
            phase: claim
                .status
                .and_then(|s| s.phase)
                .unwrap_or_else(|| "Pending".into()),
            storage_class: class,
            storage_class_exists: exists,
            requested: spec
                .resources
                .and_then(|r| r.requests)
                .and_then(|r| r.get("storage").map(|q| q.0.clone())),
        });
    }
    Ok(out)
}

async fn nodes(cluster: &KubeCluster, k: &Known<'_>) -> Result<Vec<NodeEvidence>, String> {
    let names: BTreeSet<String> = k
        .pods
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .take(PER_KIND)
        .collect();
    let api: Api<Node> = Api::all(cluster.client.clone());
    let mut out = Vec::new();
    for name in names {
        let Some(node) = api.get_opt(&name).await.map_err(failed("reading a node"))? else {
            continue;
        };
        out.push(NodeEvidence {
            id: format!("node/{name}"),
            name,
            unschedulable: node
                .spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false),
            conditions: node
                .status
                .and_then(|s| s.conditions)
                .into_iter()
                .flatten()
                .map(|c| {
                    condition(
                        &c.type_,
                        &c.status,
                        c.reason.as_ref(),
                        c.message.as_ref(),
                        c.last_transition_time.as_ref(),
                    )
                })
                .collect(),
        });
    }
    Ok(out)
}

async fn autoscalers(
    cluster: &KubeCluster,
    k: &Known<'_>,
) -> Result<Vec<AutoscalerEvidence>, String> {
    let listed = cluster
        .api::<HorizontalPodAutoscaler>(k.ns)
        .list(&ListParams::default().limit(LIST_LIMIT))
        .await
        .map_err(failed("listing horizontalpodautoscalers"))?;
    Ok(listed
        .items
        .iter()
        .filter_map(|h| {
            let spec = &h.spec;
            let target = ObjectRef {
                kind: spec.scale_target_ref.kind.clone(),
                name: spec.scale_target_ref.name.clone(),
            };
            if !k.owners.contains(&target) {
                return None;
            }
            let status = h.status.clone().unwrap_or_default();
            let name = h.metadata.name.clone().unwrap_or_default();
            Some(AutoscalerEvidence {
                id: format!("hpa/{name}"),
                name,
                target,
                min_replicas: count(spec.min_replicas.or(Some(1))),
                max_replicas: count(Some(spec.max_replicas)),
                current_replicas: count(status.current_replicas),
                desired_replicas: count(Some(status.desired_replicas)),
                conditions: status
                    .conditions
                    .iter()
                    .flatten()
                    .map(|c| {
                        condition(
                            &c.type_,
                            &c.status,
                            c.reason.as_ref(),
                            c.message.as_ref(),
                            c.last_transition_time.as_ref(),
                        )
                    })
                    .collect(),
            })
        })
        .collect())
}

async fn quotas(cluster: &KubeCluster, k: &Known<'_>) -> Result<Vec<QuotaEvidence>, String> {
    let listed = cluster
        .api::<ResourceQuota>(k.ns)
        .list(&ListParams::default().limit(LIST_LIMIT))
        .await
        .map_err(failed("listing resourcequotas"))?;
    let quantities =
        |m: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>| {
            m.into_iter()
                .flatten()
                .map(|(k, q)| (k.clone(), q.0.clone()))
                .collect()
        };
    Ok(listed
        .items
        .iter()
        .take(PER_KIND)
        .map(|q| {
            let name = q.metadata.name.clone().unwrap_or_default();
            let status = q.status.as_ref();
            QuotaEvidence {
                id: format!("quota/{name}"),
                name,
                hard: quantities(status.and_then(|s| s.hard.as_ref())),
                used: quantities(status.and_then(|s| s.used.as_ref())),
            }
        })
        .collect())
}
