//! A Kubernetes API served by wiremock from real answers (tests/data/kubernetes): the
//! crash-looping `web` Deployment in `web-dev`. Every route asserts the selectors kube-rs
//! must send, and expects to be called exactly as often as the collector should.

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The crash-looping pod.
pub const CRASHING_POD: &str = "web-6f9c7b8d4-q7w4z";
/// The healthy pod.
pub const HEALTHY_POD: &str = "web-6f9c7b8d4-hk2xp";

/// A test data file as JSON.
pub fn data(name: &str) -> Value {
    let path = format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A test data file as text.
pub fn text(name: &str) -> String {
    let path = format!("{}/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn list(kind: &str, api_version: &str, items: &[Value]) -> Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "227"}, "items": items})
}

/// What to seed into the real answers.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// An env var value given to the crashing pod's container.
    pub env_secret: Option<String>,
    /// Appended to the crashing pod's BackOff event message.
    pub event_secret: Option<String>,
    /// Expect a previous-log request for the crashing container, answered with this.
    pub previous_log: Option<String>,
    /// The pod cap leaves the healthy pod out, so its events must not be asked for.
    pub healthy_pod_capped: bool,
    /// The Deployment has a previous revision (ReplicaSet `web-5d8b6c7f9`, image 2.2.0,
    /// `--port=8080`) before the current one (2.3.0, `--listen-port=8080`).
    pub history: bool,
}

/// The ReplicaSet list, with the previous revision when `seed.history`.
fn replica_sets(seed: &Seed) -> Value {
    let mut sets = data("kubernetes/replicasets-web.json");
    if seed.history {
        let mut current = sets["items"][0].clone();
        current["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "2"});
        current["spec"]["template"]["spec"]["containers"][0]["args"] =
            json!(["--listen-port=8080"]);
        let mut previous = current.clone();
        previous["metadata"]["name"] = json!("web-5d8b6c7f9");
        previous["metadata"]["uid"] = json!("0c7d54a5-6b34-4b9e-8c1b-2f8d5c3b9a10");
        previous["metadata"]["creationTimestamp"] = json!("2026-11-20T09:12:00Z");
        previous["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
        previous["spec"]["replicas"] = json!(0);
        previous["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("ghcr.io/example/web:2.2.0");
        previous["spec"]["template"]["spec"]["containers"][0]["args"] = json!(["--port=8080"]);
        sets["items"] = json!([current, previous]);
    }
    sets
}

/// Mounts the `web` workload on `server`.
pub async fn mount_web(server: &MockServer, seed: &Seed) {
    let selector = "backstage.io/kubernetes-id=web";
    let mut pods = data("kubernetes/pods-web.json");
    if let Some(secret) = &seed.env_secret {
        pods["items"][1]["spec"]["containers"][0]["env"] =
            json!([{"name": "DB_PASSWORD", "value": secret}]);
    }
    let by_label = |p: &str| {
        Mock::given(method("GET"))
            .and(path(p.to_owned()))
            .and(query_param("labelSelector", selector))
            .and(query_param("limit", "500"))
    };
    by_label("/api/v1/namespaces/web-dev/pods")
        .respond_with(ResponseTemplate::new(200).set_body_json(pods))
        .expect(1)
        .mount(server)
        .await;
    let sets = replica_sets(seed);
    by_label("/apis/apps/v1/namespaces/web-dev/replicasets")
        .respond_with(ResponseTemplate::new(200).set_body_json(sets))
        .expect(1)
        .mount(server)
        .await;
    let mut deployment = data("kubernetes/deployment-web.json");
    deployment["status"] = json!({
        "observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1,
        "availableReplicas": 1, "unavailableReplicas": 1,
        "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                        "message": "Deployment does not have minimum availability.",
                        "lastTransitionTime": "2026-11-26T04:36:31Z", "lastUpdateTime": "2026-11-26T04:36:31Z"}]
    });
    by_label("/apis/apps/v1/namespaces/web-dev/deployments")
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "DeploymentList",
            "apps/v1",
            &[deployment],
        )))
        .expect(1)
        .mount(server)
        .await;
    by_label("/apis/apps/v1/namespaces/web-dev/statefulsets")
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "StatefulSetList",
            "apps/v1",
            &[],
        )))
        .expect(1)
        .mount(server)
        .await;

    let mut events = data("kubernetes/events-web-pod.json");
    if let Some(secret) = &seed.event_secret {
        let message = events["items"][3]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        events["items"][3]["message"] = json!(format!("{message}; env DB_PASSWORD={secret}"));
    }
    for (kind, name) in [
        ("Pod", CRASHING_POD),
        ("Pod", HEALTHY_POD),
        ("ReplicaSet", "web-6f9c7b8d4"),
        ("Deployment", "web"),
    ] {
        let body = if name == CRASHING_POD {
            events.clone()
        } else {
            list("EventList", "v1", &[])
        };
        Mock::given(method("GET"))
            .and(path("/api/v1/namespaces/web-dev/events"))
            .and(query_param(
                "fieldSelector",
                format!("involvedObject.kind={kind},involvedObject.name={name}"),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(u64::from(!(seed.healthy_pod_capped && name == HEALTHY_POD)))
            .mount(server)
            .await;
    }

    let logs = Mock::given(method("GET"))
        .and(path(format!(
            "/api/v1/namespaces/web-dev/pods/{CRASHING_POD}/log"
        )))
        .and(query_param("container", "web"))
        .and(query_param("previous", "true"))
        .and(query_param("tailLines", "50"));
    match &seed.previous_log {
        Some(text) => logs
            .respond_with(ResponseTemplate::new(200).set_body_string(text.clone()))
            .expect(1),
        None => logs.respond_with(ResponseTemplate::new(500)).expect(0),
    }
    .mount(server)
    .await;
}

/// Mounts the objects around the `web` pods, in the list shape the API server answers:
/// Service `web` (its EndpointSlice: one ready, one not), Service `web-canary` whose
/// selector matches no pod, Ingress `web` with a backend `web-v2` that does not exist,
/// node `node-1` under memory pressure, HPA `web` at its maximum and quota `compute`.
pub async fn mount_around(server: &MockServer) {
    let get = |p: &str| Mock::given(method("GET")).and(path(p.to_owned()));
    let meta = |name: &str| {
        json!({"name": name, "namespace": "web-dev", "uid": format!("uid-{name}"),
        "resourceVersion": "231", "creationTimestamp": "2026-11-26T04:30:00Z"})
    };
    let service = |name: &str, selector: Value| {
        let mut m = meta(name);
        if name.starts_with("web") {
            m["labels"] = json!({"backstage.io/kubernetes-id": "web"});
        }
        json!({"metadata": m, "spec": {"selector": selector, "type": "ClusterIP",
            "clusterIP": "10.96.12.7", "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]},
            "status": {"loadBalancer": {}}})
    };
    get("/api/v1/namespaces/web-dev/services")
        .and(query_param("limit", "500"))
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "ServiceList",
            "v1",
            &[
                service("web", json!({"app.kubernetes.io/name": "web"})),
                service(
                    "web-canary",
                    json!({"app.kubernetes.io/name": "web", "track": "canary"}),
                ),
                service("billing", json!({"app": "billing"})),
            ],
        )))
        .expect(1)
        .mount(server)
        .await;
    for (name, endpoints) in [
        (
            "web",
            json!([
                {"addresses": ["10.244.0.12"], "conditions": {"ready": true, "serving": true, "terminating": false},
                 "targetRef": {"kind": "Pod", "namespace": "web-dev", "name": HEALTHY_POD}, "nodeName": "node-1"},
                {"addresses": ["10.244.0.13"], "conditions": {"ready": false, "serving": false, "terminating": false},
                 "targetRef": {"kind": "Pod", "namespace": "web-dev", "name": CRASHING_POD}, "nodeName": "node-1"}
            ]),
        ),
        ("web-canary", json!(null)),
    ] {
        let mut slice = json!({"metadata": meta(&format!("{name}-x7k2p")), "addressType": "IPv4",
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]});
        slice["metadata"]["labels"] = json!({"kubernetes.io/service-name": name});
        if !endpoints.is_null() {
            slice["endpoints"] = endpoints;
        }
        get("/apis/discovery.k8s.io/v1/namespaces/web-dev/endpointslices")
            .and(query_param(
                "labelSelector",
                format!("kubernetes.io/service-name={name}"),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(list(
                "EndpointSliceList",
                "discovery.k8s.io/v1",
                &[slice],
            )))
            .expect(1)
            .mount(server)
            .await;
    }
    mount_routing_and_capacity(server).await;
}

async fn mount_routing_and_capacity(server: &MockServer) {
    let get = |p: &str| Mock::given(method("GET")).and(path(p.to_owned()));
    let meta = |name: &str| {
        json!({"name": name, "namespace": "web-dev", "uid": format!("uid-{name}"),
        "resourceVersion": "231", "creationTimestamp": "2026-11-26T04:30:00Z"})
    };
    let ingress = json!({"metadata": meta("web"), "spec": {"ingressClassName": "nginx", "rules": [
        {"host": "web.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/v2", "pathType": "Prefix", "backend": {"service": {"name": "web-v2", "port": {"name": "http"}}}}
        ]}}]}, "status": {"loadBalancer": {}}});
    get("/apis/networking.k8s.io/v1/namespaces/web-dev/ingresses")
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "IngressList",
            "networking.k8s.io/v1",
            &[ingress],
        )))
        .expect(1)
        .mount(server)
        .await;
    let node = json!({"kind": "Node", "apiVersion": "v1", "metadata": {"name": "node-1", "uid": "uid-node-1",
        "resourceVersion": "240", "creationTimestamp": "2026-11-01T00:00:00Z"},
        "spec": {"podCIDR": "10.244.0.0/24"},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "True", "reason": "KubeletHasInsufficientMemory",
             "message": "kubelet has insufficient memory available", "lastHeartbeatTime": "2026-11-26T05:00:00Z",
             "lastTransitionTime": "2026-11-26T04:40:00Z"},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
             "lastHeartbeatTime": "2026-11-26T05:00:00Z", "lastTransitionTime": "2026-11-01T00:01:00Z"}]}});
    get("/api/v1/nodes/node-1")
        .respond_with(ResponseTemplate::new(200).set_body_json(node))
        .expect(1)
        .mount(server)
        .await;
    let hpa = json!({"metadata": meta("web"), "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
        "minReplicas": 1, "maxReplicas": 2},
        "status": {"currentReplicas": 2, "desiredReplicas": 2, "conditions": [
            {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas",
             "message": "the desired replica count is more than the maximum replica count", "lastTransitionTime": "2026-11-26T04:45:00Z"}]}});
    get("/apis/autoscaling/v2/namespaces/web-dev/horizontalpodautoscalers")
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "HorizontalPodAutoscalerList",
            "autoscaling/v2",
            &[hpa],
        )))
        .expect(1)
        .mount(server)
        .await;
    let quota = json!({"metadata": meta("compute"), "spec": {"hard": {"requests.memory": "1Gi", "pods": "10"}},
        "status": {"hard": {"requests.memory": "1Gi", "pods": "10"}, "used": {"requests.memory": "512Mi", "pods": "2"}}});
    get("/api/v1/namespaces/web-dev/resourcequotas")
        .respond_with(ResponseTemplate::new(200).set_body_json(list(
            "ResourceQuotaList",
            "v1",
            &[quota],
        )))
        .expect(1)
        .mount(server)
        .await;
}

/// Mounts the k8sgpt Result list of the operator namespace: the real list when
/// `installed`, otherwise the answer of an API server without the CRD.
pub async fn mount_k8sgpt(server: &MockServer, installed: bool, calls: u64) {
    let results = Mock::given(method("GET")).and(path(
        "/apis/core.k8sgpt.ai/v1alpha1/namespaces/k8sgpt-operator-system/results",
    ));
    if installed {
        results
            .respond_with(
                ResponseTemplate::new(200).set_body_json(data("kubernetes/k8sgpt-results.json")),
            )
            .expect(calls)
    } else {
        results
            .respond_with(
                ResponseTemplate::new(404)
                    .insert_header("content-type", "text/plain; charset=utf-8")
                    .set_body_string(text("kubernetes/k8sgpt-crd-missing.txt")),
            )
            .expect(calls)
    }
    .mount(server)
    .await;
}

/// A kube client for the mock server.
pub fn client(server: &MockServer) -> kube::Client {
    let uri = server.uri().parse().expect("the mock server URI");
    kube::Client::try_from(kube::Config::new(uri)).expect("a kube client")
}
