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
    by_label("/apis/apps/v1/namespaces/web-dev/replicasets")
        .respond_with(
            ResponseTemplate::new(200).set_body_json(data("kubernetes/replicasets-web.json")),
        )
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
