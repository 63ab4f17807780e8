//! A Kubernetes cluster through kube-rs: the workload's pods (by label selector), their
//! owners' rollouts, the events of all of them, and, when no log source exists, the
//! previous logs of crashed containers.

mod around;
mod convert;
mod namespaces;
mod revisions;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, LogParams, ObjectList};

use super::{
    Cluster, ClusterEvidence, ClusterOptions, NamespacePage, SourceError, Window, Workload,
    truncate_text,
};
use crate::evidence::ObjectRef;

/// The variables that hold cluster credentials, named in credential errors.
pub const CREDENTIALS_VARS: &str = "AIOPS_CLUSTERS or KUBECONFIG";

/// How many objects one list call may return before the rest is counted as dropped.
const LIST_LIMIT: u32 = 500;
/// Concurrent event and log calls per collection.
const CONCURRENCY: usize = 8;

/// One cluster.
#[derive(Clone)]
pub struct KubeCluster {
    client: kube::Client,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster").finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// A cluster reached through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }

    fn api<K>(&self, namespace: &str) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), namespace)
    }
}

/// Maps a kube error to a source error, naming the credential variables on 401/403.
pub fn kube_error(what: &str, err: kube::Error) -> SourceError {
    match err {
        kube::Error::Api(status) if matches!(status.code, 401 | 403) => SourceError::Unauthorized {
            source_name: "the Kubernetes API".into(),
            status: status.code,
            var: CREDENTIALS_VARS.into(),
        },
        kube::Error::Api(status) => SourceError::failed(
            format!(
                "{what}: {} {}: {}",
                status.code, status.reason, status.message
            ),
            status.code >= 500 || status.code == 429,
        ),
        other => SourceError::caused(format!("{what}: {other}"), true, other),
    }
}

/// Items beyond the first page, as far as the server tells.
fn beyond<T: Clone>(list: &ObjectList<T>) -> u64 {
    let remaining = list
        .metadata
        .remaining_item_count
        .and_then(|n| u64::try_from(n).ok());
    let more = list
        .metadata
        .continue_
        .as_deref()
        .is_some_and(|c| !c.is_empty());
    remaining.unwrap_or(u64::from(more))
}

#[async_trait]
impl Cluster for KubeCluster {
    async fn workload(
        &self,
        workload: &Workload,
        window: &Window,
        options: &ClusterOptions,
    ) -> Result<ClusterEvidence, SourceError> {
        let ns = &workload.namespace;
        let caps = options.caps;
        let by_label = ListParams::default()
            .labels(&workload.selector)
            .limit(LIST_LIMIT);
        let (pods, sets, deployments, stateful) = tokio::try_join!(
            async {
                self.api::<Pod>(ns)
                    .list(&by_label)
                    .await
                    .map_err(|e| kube_error("listing pods", e))
            },
            async {
                self.api::<ReplicaSet>(ns)
                    .list(&by_label)
                    .await
                    .map_err(|e| kube_error("listing replicasets", e))
            },
            async {
                self.api::<Deployment>(ns)
                    .list(&by_label)
                    .await
                    .map_err(|e| kube_error("listing deployments", e))
            },
            async {
                self.api::<StatefulSet>(ns)
                    .list(&by_label)
                    .await
                    .map_err(|e| kube_error("listing statefulsets", e))
            },
        )?;
        let mut out = ClusterEvidence {
            dropped_items: beyond(&pods),
            ..ClusterEvidence::default()
        };

        let mut kept: Vec<_> = pods
            .items
            .iter()
            .map(|p| convert::pod(p, caps.line_bytes))
            .collect();
        kept.sort_by_key(|p| (!convert::unhealthy(p), p.name.clone()));
        out.dropped_items += kept.len().saturating_sub(caps.pods) as u64;
        kept.truncate(caps.pods);
        let kept_raw = raw_of(pods.items, &kept);

        let mut owners = self.owners(ns, &kept, sets.items.clone()).await?;
        for d in &deployments.items {
            owners.insert(ObjectRef {
                kind: "Deployment".into(),
                name: d.metadata.name.clone().unwrap_or_default(),
            });
        }
        for s in &stateful.items {
            owners.insert(ObjectRef {
                kind: "StatefulSet".into(),
                name: s.metadata.name.clone().unwrap_or_default(),
            });
        }

        let known = around::Known {
            ns,
            selector: &workload.selector,
            pods: &kept_raw,
            owners: &owners,
            sets: &sets.items,
            deployments: &deployments.items,
            stateful: &stateful.items,
        };
        (out.objects, out.notes) = Box::pin(around::collect(self, &known)).await;

        out.rollouts = self
            .rollouts(
                ns,
                &owners,
                &deployments.items,
                &stateful.items,
                caps.line_bytes,
            )
            .await?;

        let objects: Vec<ObjectRef> = kept
            .iter()
            .map(|p| ObjectRef {
                kind: "Pod".into(),
                name: p.name.clone(),
            })
            .chain(owners.iter().cloned())
            .collect();
        let events = self.events(ns, &objects).await?;
        let (groups, dropped) = convert::aggregate(events, window, caps.events, caps.line_bytes);
        out.events = groups;
        out.dropped_items += dropped;

        if options.previous_logs {
            out.dropped_bytes += self.previous_logs(ns, &mut kept, options).await;
        }
        out.pods = kept;
        Ok(out)
    }

    async fn namespaces(
        &self,
        limit: u32,
        continue_token: Option<&str>,
    ) -> Result<NamespacePage, SourceError> {
        namespaces::page(&self.client, limit, continue_token).await
    }

    async fn namespace_labels(
        &self,
        namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, SourceError> {
        namespaces::labels(&self.client, namespace).await
    }
}

/// The API objects of the pods that were kept.
fn raw_of(pods: Vec<Pod>, kept: &[crate::evidence::PodEvidence]) -> Vec<Pod> {
    pods.into_iter()
        .filter(|p| {
            kept.iter()
                .any(|k| p.metadata.name.as_deref() == Some(k.name.as_str()))
        })
        .collect()
}

impl KubeCluster {
    /// Owners: those the kept pods name, plus what the selector matched directly (a
    /// Deployment whose pods cannot even be created has none). Old ReplicaSets that own
    /// no kept pod and are scaled to zero are left out.
    async fn owners(
        &self,
        ns: &str,
        kept: &[crate::evidence::PodEvidence],
        listed_sets: Vec<ReplicaSet>,
    ) -> Result<BTreeSet<ObjectRef>, SourceError> {
        let mut owners: BTreeSet<ObjectRef> = kept.iter().filter_map(|p| p.owner.clone()).collect();
        let named_sets: BTreeSet<String> = owners
            .iter()
            .filter(|o| o.kind == "ReplicaSet")
            .map(|o| o.name.clone())
            .collect();
        let mut listed_sets = listed_sets;
        for name in &named_sets {
            if !listed_sets
                .iter()
                .any(|r| r.metadata.name.as_ref() == Some(name))
            {
                let got = self.api::<ReplicaSet>(ns).get_opt(name).await;
                listed_sets.extend(got.map_err(|e| kube_error("reading a replicaset", e))?);
            }
        }
        for set in &listed_sets {
            let name = set.metadata.name.clone().unwrap_or_default();
            let active = set.spec.replicas.unwrap_or(0) > 0;
            if active || named_sets.contains(&name) {
                owners.insert(ObjectRef {
                    kind: "ReplicaSet".into(),
                    name,
                });
                owners.extend(convert::controller(set.metadata.owner_references.as_ref()));
            }
        }
        Ok(owners)
    }

    async fn rollouts(
        &self,
        ns: &str,
        owners: &BTreeSet<ObjectRef>,
        deployments: &[Deployment],
        stateful: &[StatefulSet],
        line_bytes: usize,
    ) -> Result<Vec<crate::evidence::RolloutStatus>, SourceError> {
        let mut out = Vec::new();
        for owner in owners {
            let listed = |name: Option<&String>| name == Some(&owner.name);
            match owner.kind.as_str() {
                "Deployment" => {
                    let found = match deployments
                        .iter()
                        .find(|d| listed(d.metadata.name.as_ref()))
                    {
                        Some(d) => Some(d.clone()),
                        None => self
                            .api::<Deployment>(ns)
                            .get_opt(&owner.name)
                            .await
                            .map_err(|e| kube_error("reading a deployment", e))?,
                    };
                    out.extend(found.map(|d| convert::deployment(&d, line_bytes)));
                }
                "StatefulSet" => {
                    let found = match stateful.iter().find(|s| listed(s.metadata.name.as_ref())) {
                        Some(s) => Some(s.clone()),
                        None => self
                            .api::<StatefulSet>(ns)
                            .get_opt(&owner.name)
                            .await
                            .map_err(|e| kube_error("reading a statefulset", e))?,
                    };
                    out.extend(found.map(|s| convert::stateful_set(&s, line_bytes)));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// Events per object, selected on the server by `involvedObject` fields.
    async fn events(&self, ns: &str, objects: &[ObjectRef]) -> Result<Vec<Event>, SourceError> {
        let api = self.api::<Event>(ns);
        // Owned items: a borrowed stream item makes the future not `Send` for every
        // lifetime, which `async_trait` requires.
        let lists: Vec<ObjectList<Event>> = stream::iter(objects.to_vec())
            .map(|o| {
                let params = ListParams::default()
                    .fields(&format!(
                        "involvedObject.kind={},involvedObject.name={}",
                        o.kind, o.name
                    ))
                    .limit(LIST_LIMIT);
                let api = api.clone();
                async move {
                    api.list(&params)
                        .await
                        .map_err(|e| kube_error("listing events", e))
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(lists.into_iter().flat_map(|l| l.items).collect())
    }

    /// The tail of crashed containers' previous logs. A container whose previous log
    /// is gone (the kubelet keeps one) is skipped. Returns the bytes cut.
    async fn previous_logs(
        &self,
        ns: &str,
        pods: &mut [crate::evidence::PodEvidence],
        options: &ClusterOptions,
    ) -> u64 {
        let caps = options.caps;
        let wanted: Vec<(usize, String, String)> = pods
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                convert::crashed(p)
                    .into_iter()
                    .map(move |c| (i, p.name.clone(), c))
            })
            .collect();
        let api = self.api::<Pod>(ns);
        let fetched: Vec<(usize, String, Option<String>)> = stream::iter(wanted)
            .map(|(i, pod, container)| {
                let api = api.clone();
                let params = LogParams {
                    container: Some(container.clone()),
                    previous: true,
                    tail_lines: i64::try_from(caps.previous_log_lines).ok(),
                    limit_bytes: i64::try_from(caps.previous_log_lines * caps.line_bytes).ok(),
                    ..LogParams::default()
                };
                async move {
                    let text = api.logs(&pod, &params).await;
                    if let Err(e) = &text {
                        tracing::debug!(pod, container, "previous log unavailable: {e}");
                    }
                    (i, container, text.ok())
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let mut cut = 0;
        for (i, container, text) in fetched {
            let Some(text) = text else { continue };
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            let skip = lines.len().saturating_sub(caps.previous_log_lines);
            lines.drain(..skip);
            for line in &mut lines {
                cut += truncate_text(line, caps.line_bytes);
            }
            if let Some(c) = pods[i].containers.iter_mut().find(|c| c.name == container) {
                c.previous_logs = lines;
            }
        }
        cut
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::convert;
    use crate::sources::Window;
    use chrono::{TimeZone, Utc};
    use k8s_openapi::api::core::v1::Event;

    fn window() -> Window {
        Window {
            since: Utc.with_ymd_and_hms(2026, 11, 26, 3, 0, 0).unwrap(),
            until: Utc.with_ymd_and_hms(2026, 11, 26, 6, 0, 0).unwrap(),
        }
    }

    fn event(v: serde_json::Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn both_event_shapes_aggregate_by_reason_and_object() {
        let legacy = event(serde_json::json!({
            "metadata": {"name": "a"}, "involvedObject": {"kind": "Pod", "name": "web-1"},
            "reason": "BackOff", "message": "old", "type": "Warning", "count": 6,
            "firstTimestamp": "2026-11-26T04:51:31Z", "lastTimestamp": "2026-11-26T04:56:31Z"
        }));
        let series = event(serde_json::json!({
            "metadata": {"name": "b"}, "involvedObject": {"kind": "Pod", "name": "web-1"},
            "reason": "BackOff", "message": "newest", "type": "Warning",
            "eventTime": "2026-11-26T05:00:00.000000Z",
            "series": {"count": 4, "lastObservedTime": "2026-11-26T05:10:00.000000Z"}
        }));
        let expired = event(serde_json::json!({
            "metadata": {"name": "c"}, "involvedObject": {"kind": "Pod", "name": "web-1"},
            "reason": "Pulled", "type": "Normal", "count": 1,
            "firstTimestamp": "2026-11-26T01:00:00Z", "lastTimestamp": "2026-11-26T01:00:00Z"
        }));
        let (groups, dropped) = convert::aggregate([legacy, series, expired], &window(), 10, 100);
        assert_eq!(dropped, 0);
        assert_eq!(groups.len(), 1, "{groups:?}");
        let g = &groups[0];
        assert_eq!(g.count, 10);
        assert_eq!(g.message, "newest");
        assert_eq!(
            g.first_seen.unwrap().to_rfc3339(),
            "2026-11-26T04:51:31+00:00"
        );
        assert_eq!(
            g.last_seen.unwrap().to_rfc3339(),
            "2026-11-26T05:10:00+00:00"
        );
    }

    #[test]
    fn warnings_come_first_and_the_cap_counts_the_rest() {
        let mk = |reason: &str, kind: &str, at: &str| {
            event(serde_json::json!({
                "metadata": {"name": reason}, "involvedObject": {"kind": "Pod", "name": "p"},
                "reason": reason, "type": kind, "lastTimestamp": at, "firstTimestamp": at
            }))
        };
        let (groups, dropped) = convert::aggregate(
            [
                mk("Pulled", "Normal", "2026-11-26T05:00:00Z"),
                mk("Unhealthy", "Warning", "2026-11-26T04:00:00Z"),
                mk("Started", "Normal", "2026-11-26T05:30:00Z"),
            ],
            &window(),
            2,
            100,
        );
        let reasons: Vec<_> = groups.iter().map(|g| g.reason.as_str()).collect();
        assert_eq!(reasons, ["Unhealthy", "Started"]);
        assert_eq!(dropped, 1);
    }
}
