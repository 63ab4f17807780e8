//! The policy's namespace labels read from the cluster (a wiremock kube-apiserver
//! answering like a real one): policy-check, configured with cluster access, decides
//! with the owner a namespace's label names, which the naming convention alone would
//! not give; a namespace the cluster does not have answers no labels.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::json;
use shared::cluster_labels::ClusterLabels;
use shared::config::MapEnv;
use shared::entity::{EntityRef, Namespace};
use shared::identity::Principal;
use shared::policy::{AccessRequest, Action, Credential, NamespaceLabels};
use shared::sources::clusters::{ClustersConfig, KubeClusters};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn kube_with(name: &str, team: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v1/namespaces/{name}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "kind": "Namespace", "apiVersion": "v1",
            "metadata": {
                "name": name, "uid": format!("{:016x}", fastrand::u64(..)), "resourceVersion": "211",
                "creationTimestamp": "2026-11-26T05:06:31Z",
                "labels": {"aiops.io/owner": team, "aiops.io/environment": "dev",
                           "kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/namespaces/gone"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "namespaces \"gone\" not found", "reason": "NotFound",
            "details": {"name": "gone", "kind": "namespaces"}, "code": 404
        })))
        .mount(&server)
        .await;
    server
}

fn env(kube: &MockServer) -> MapEnv {
    MapEnv::new()
        .with(
            "AIOPS_CLUSTERS",
            json!({"dev": {"url": kube.uri()}}).to_string(),
        )
        .with("AIOPS_CLUSTER_NAME", "dev")
}

#[tokio::test]
async fn labels_come_from_the_cluster_and_a_missing_namespace_has_none() {
    let team = format!("team-{:08x}", fastrand::u32(..));
    let kube = kube_with("sandbox", &team).await;
    let config = ClustersConfig::from_env(&env(&kube)).unwrap();
    let labels = ClusterLabels::new(Arc::new(KubeClusters::new(config)), Some("dev".into()));
    let found = labels.labels(None, "sandbox").await.unwrap().unwrap();
    assert_eq!(found["aiops.io/owner"], team);
    assert_eq!(labels.labels(Some("dev"), "gone").await.unwrap(), None);
    let err = labels
        .labels(Some("elsewhere"), "sandbox")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("elsewhere"), "{err}");
}

#[tokio::test]
async fn policy_check_with_cluster_access_allows_the_team_a_label_names_owner() {
    let team = format!("team-{:08x}", fastrand::u32(..));
    let kube = kube_with("sandbox", &team).await;
    let principal = |group: &str| Principal {
        user: EntityRef::parse("user:default/jane").unwrap(),
        groups: vec![EntityRef::parse(group).unwrap()],
    };
    let request = |group: &str| AccessRequest {
        credential: Credential::Principal(principal(group)),
        cluster: None,
        namespace: Namespace::parse("sandbox").unwrap(),
        action: Action::Read,
        request_id: None,
    };
    let owner = format!("group:default/{team}");

    let with_cluster =
        policy_check::Context::new(policy_check::Config::from_env(&env(&kube)).unwrap()).unwrap();
    let decision = with_cluster
        .authorizer
        .check(&request(&owner))
        .await
        .unwrap();
    assert!(decision.allowed, "{decision:?}");
    assert_eq!(decision.owner.unwrap().to_string(), owner);
    let other = with_cluster
        .authorizer
        .check(&request("group:default/payments"))
        .await
        .unwrap();
    assert!(!other.allowed, "{other:?}");

    // Without cluster access `sandbox` matches no naming pattern: strict mode denies.
    let without =
        policy_check::Context::new(policy_check::Config::from_env(&MapEnv::new()).unwrap())
            .unwrap();
    let decision = without.authorizer.check(&request(&owner)).await.unwrap();
    assert!(!decision.allowed, "{decision:?}");
}
