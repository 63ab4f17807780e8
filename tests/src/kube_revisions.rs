//! A StatefulSet or DaemonSet mid-rollout, served by wiremock in the shapes the API server
//! answers (pods from tests/data/kubernetes, ControllerRevisions as `apps/v1` lists): the
//! pod on the newest revision crash-loops, the pod on the previous one runs. Every route
//! asserts its selectors and is expected exactly once.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::kube_api::data;

/// One workload under rollout.
#[derive(Debug, Clone)]
pub struct Rollout {
    /// `StatefulSet` or `DaemonSet`.
    pub kind: &'static str,
    /// The workload's name (also its `backstage.io/kubernetes-id`).
    pub name: &'static str,
    /// The pod on the previous revision (healthy).
    pub old_pod: String,
    /// The pod on the newest revision (crash-looping).
    pub new_pod: String,
    /// The ControllerRevision names, previous then newest.
    pub revisions: [String; 2],
    /// The images of the previous and the newest revision.
    pub images: [&'static str; 2],
}

impl Rollout {
    /// StatefulSet `pg`: `pg-0` still on revision 1 (postgres 16.4), `pg-1` on revision 2
    /// (postgres 17.0).
    pub fn stateful_set() -> Self {
        Self {
            kind: "StatefulSet",
            name: "pg",
            old_pod: "pg-0".into(),
            new_pod: "pg-1".into(),
            revisions: ["pg-5d8b6c7f9".into(), "pg-7c9f8d6b5".into()],
            images: ["postgres:16.4", "postgres:17.0"],
        }
    }

    /// DaemonSet `log-agent`: one pod per node, the updated one crash-looping.
    pub fn daemon_set() -> Self {
        Self {
            kind: "DaemonSet",
            name: "log-agent",
            old_pod: "log-agent-7xk2p".into(),
            new_pod: "log-agent-m4n8q".into(),
            revisions: ["log-agent-6b7d9f8c5".into(), "log-agent-84c6f5d7b9".into()],
            images: ["fluent/fluent-bit:3.1.9", "fluent/fluent-bit:3.2.0"],
        }
    }

    fn selector(&self) -> String {
        format!("backstage.io/kubernetes-id={}", self.name)
    }

    /// The `controller-revision-hash` pod label of a revision: StatefulSet pods carry the
    /// revision's name, DaemonSet pods only its hash.
    fn pod_hash(&self, revision: &str) -> String {
        if self.kind == "DaemonSet" {
            revision
                .strip_prefix(&format!("{}-", self.name))
                .unwrap_or(revision)
                .to_owned()
        } else {
            revision.to_owned()
        }
    }

    fn owner(&self) -> Value {
        json!([{"apiVersion": "apps/v1", "kind": self.kind, "name": self.name,
                "uid": "5b0c7c1e-2f8e-4a57-9d1a-7e6f3b2c1d40", "controller": true,
                "blockOwnerDeletion": true}])
    }

    /// The pods, from the real crash-looping and healthy pod answers.
    fn pods(&self) -> Value {
        let mut pods = data("kubernetes/pods-web.json");
        let healthy = pods["items"][0].clone();
        let crashing = pods["items"][1].clone();
        let mut items = Vec::new();
        for (mut pod, name, revision, image) in [
            (healthy, &self.old_pod, &self.revisions[0], self.images[0]),
            (crashing, &self.new_pod, &self.revisions[1], self.images[1]),
        ] {
            pod["metadata"]["name"] = json!(name);
            pod["metadata"]["labels"] = json!({
                "backstage.io/kubernetes-id": self.name,
                "controller-revision-hash": self.pod_hash(revision),
            });
            pod["metadata"]["ownerReferences"] = self.owner();
            pod["spec"]["containers"][0]["name"] = json!(self.name);
            pod["spec"]["containers"][0]["image"] = json!(image);
            if let Some(statuses) = pod["status"]["containerStatuses"].as_array_mut() {
                for s in statuses {
                    s["name"] = json!(self.name);
                    s["image"] = json!(image);
                }
            }
            items.push(pod);
        }
        pods["items"] = json!(items);
        pods
    }

    /// The ControllerRevision list: the workload's two revisions (their `data` is the
    /// pod template as a strategic-merge patch, as the controllers write it) and one of
    /// another workload that matches the selector too.
    fn controller_revisions(&self) -> Value {
        let revision = |name: &str, owner: &str, number: i64, image: &str, created: &str| {
            let hash = name.rsplit('-').next().unwrap_or(name);
            let hash_label = if self.kind == "DaemonSet" {
                "controller-revision-hash"
            } else {
                "controller.kubernetes.io/hash"
            };
            json!({
                "metadata": {
                    "name": name, "namespace": "web-dev",
                    "uid": format!("uid-{name}"), "resourceVersion": format!("{}", 300 + number),
                    "creationTimestamp": created,
                    "labels": {"backstage.io/kubernetes-id": self.name, hash_label: hash},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": self.kind, "name": owner,
                        "uid": "5b0c7c1e-2f8e-4a57-9d1a-7e6f3b2c1d40", "controller": true,
                        "blockOwnerDeletion": true}]
                },
                "data": {"spec": {"template": {"$patch": "replace",
                    "metadata": {"labels": {"backstage.io/kubernetes-id": self.name}},
                    "spec": {"containers": [{"name": self.name, "image": image,
                        "args": ["--config=/etc/agent/agent.conf"],
                        "resources": {"limits": {"memory": "512Mi"}},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
                    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                    "dnsPolicy": "ClusterFirst", "securityContext": {},
                    "schedulerName": "default-scheduler"}}}},
                "revision": number
            })
        };
        json!({
            "kind": "ControllerRevisionList", "apiVersion": "apps/v1",
            "metadata": {"resourceVersion": "412"},
            "items": [
                revision(&self.revisions[0], self.name, 1, self.images[0], "2026-11-19T10:00:00Z"),
                revision(&self.revisions[1], self.name, 2, self.images[1], "2026-11-26T04:30:00Z"),
                revision(&format!("{}-canary-6d5f4c3b2", self.name), &format!("{}-canary", self.name),
                         7, "busybox:1.36", "2026-11-25T08:00:00Z"),
            ]
        })
    }

    fn stateful_sets(&self) -> Value {
        let items = if self.kind == "StatefulSet" {
            json!([{
                "metadata": {"name": self.name, "namespace": "web-dev", "uid": "5b0c7c1e-2f8e-4a57-9d1a-7e6f3b2c1d40",
                    "resourceVersion": "409", "generation": 2, "creationTimestamp": "2026-11-19T10:00:00Z",
                    "labels": {"backstage.io/kubernetes-id": self.name}},
                "spec": {"replicas": 2, "serviceName": self.name,
                    "selector": {"matchLabels": {"backstage.io/kubernetes-id": self.name}},
                    "template": {"metadata": {"labels": {"backstage.io/kubernetes-id": self.name}},
                        "spec": {"containers": [{"name": self.name, "image": self.images[1]}]}},
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
                    "podManagementPolicy": "OrderedReady"},
                "status": {"observedGeneration": 2, "replicas": 2, "readyReplicas": 1,
                    "currentReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1,
                    "currentRevision": self.revisions[0], "updateRevision": self.revisions[1],
                    "collisionCount": 0}
            }])
        } else {
            json!([])
        };
        json!({"kind": "StatefulSetList", "apiVersion": "apps/v1",
               "metadata": {"resourceVersion": "412"}, "items": items})
    }

    /// Mounts the workload's reads on `server`; the objects around the pods are left
    /// unanswered (404), which the collector notes and goes on.
    pub async fn mount(&self, server: &MockServer) {
        let selector = self.selector();
        let by_label = |p: &str| {
            Mock::given(method("GET"))
                .and(path(format!("/apis/apps/v1/namespaces/web-dev/{p}")))
                .and(query_param("labelSelector", selector.as_str()))
                .and(query_param("limit", "500"))
        };
        let empty = |kind: &str| json!({"kind": kind, "apiVersion": "apps/v1", "metadata": {"resourceVersion": "412"}, "items": []});
        Mock::given(method("GET"))
            .and(path("/api/v1/namespaces/web-dev/pods"))
            .and(query_param("labelSelector", selector.as_str()))
            .and(query_param("limit", "500"))
            .respond_with(ResponseTemplate::new(200).set_body_json(self.pods()))
            .expect(1)
            .mount(server)
            .await;
        for (p, body) in [
            ("replicasets", empty("ReplicaSetList")),
            ("deployments", empty("DeploymentList")),
            ("statefulsets", self.stateful_sets()),
            ("controllerrevisions", self.controller_revisions()),
        ] {
            by_label(p)
                .respond_with(ResponseTemplate::new(200).set_body_json(body))
                .expect(1)
                .mount(server)
                .await;
        }
        for (kind, name) in [
            ("Pod", self.old_pod.as_str()),
            ("Pod", self.new_pod.as_str()),
            (self.kind, self.name),
        ] {
            Mock::given(method("GET"))
                .and(path("/api/v1/namespaces/web-dev/events"))
                .and(query_param(
                    "fieldSelector",
                    format!("involvedObject.kind={kind},involvedObject.name={name}"),
                ))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "kind": "EventList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "412"}, "items": []
                })))
                .expect(1)
                .mount(server)
                .await;
        }
    }
}
