//! The Kubernetes and k8sgpt sources against a Kubernetes API served from real answers.
#![allow(clippy::unwrap_used)]

use aiops_tests::kube_api::{self, CRASHING_POD, Seed};
use chrono::{DateTime, Utc};
use shared::evidence::ContainerState;
use shared::sources::k8sgpt::K8sgptResults;
use shared::sources::kubernetes::KubeCluster;
use shared::sources::{
    Caps, Cluster, ClusterOptions, FindingSource, SourceError, Window, Workload,
};
use wiremock::MockServer;

fn window() -> Window {
    let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    Window {
        since: t("2026-11-26T03:00:00Z"),
        until: t("2026-11-26T06:00:00Z"),
    }
}

fn web() -> Workload {
    Workload::locate("web", None, "web-dev")
}

#[tokio::test]
async fn pods_events_and_rollout_of_a_crash_looping_deployment() {
    let server = MockServer::start().await;
    kube_api::mount_web(
        &server,
        &Seed {
            previous_log: Some("boot\nconfig: unknown key\n".into()),
            ..Seed::default()
        },
    )
    .await;
    let cluster = KubeCluster::new(kube_api::client(&server));
    let options = ClusterOptions {
        caps: Caps::default(),
        previous_logs: true,
    };
    let got = cluster.workload(&web(), &window(), &options).await.unwrap();

    let names: Vec<_> = got.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [CRASHING_POD, "web-6f9c7b8d4-hk2xp"],
        "unhealthy pods first"
    );
    let crashing = &got.pods[0];
    assert_eq!(crashing.node.as_deref(), Some("node-1"));
    assert_eq!(crashing.owner.as_ref().unwrap().name, "web-6f9c7b8d4");
    let c = &crashing.containers[0];
    assert_eq!(c.restart_count, 5);
    assert!(
        matches!(&c.state, ContainerState::Waiting { reason: Some(r), .. } if r == "CrashLoopBackOff")
    );
    let last = c.last_termination.as_ref().unwrap();
    assert_eq!(
        (last.reason.as_deref(), last.exit_code),
        (Some("Error"), Some(2))
    );
    assert_eq!(c.previous_logs, ["boot", "config: unknown key"]);
    assert_eq!(
        crashing.conditions[0].reason.as_deref(),
        Some("ContainersNotReady")
    );

    let reasons: Vec<_> = got
        .events
        .iter()
        .map(|e| (e.type_.as_str(), e.reason.as_str(), e.count))
        .collect();
    assert_eq!(
        reasons,
        [
            ("Warning", "BackOff", 6),
            ("Warning", "Unhealthy", 5),
            ("Normal", "Pulled", 4),
            ("Normal", "Scheduled", 3)
        ]
    );
    assert_eq!(
        got.events[0].first_seen.unwrap().to_rfc3339(),
        "2026-11-26T04:51:31+00:00"
    );

    assert_eq!(got.rollouts.len(), 1);
    let rollout = &got.rollouts[0];
    assert_eq!(
        (rollout.id.as_str(), rollout.desired, rollout.ready),
        ("rollout/web", 2, 1)
    );
    assert_eq!(
        rollout.conditions[0].reason.as_deref(),
        Some("MinimumReplicasUnavailable")
    );
    assert_eq!(got.dropped_items, 0);
}

#[tokio::test]
async fn the_caps_drop_pods_and_events_and_count_them() {
    let server = MockServer::start().await;
    kube_api::mount_web(
        &server,
        &Seed {
            healthy_pod_capped: true,
            ..Seed::default()
        },
    )
    .await;
    let cluster = KubeCluster::new(kube_api::client(&server));
    let caps = Caps {
        pods: 1,
        events: 2,
        ..Caps::default()
    };
    let got = cluster
        .workload(
            &web(),
            &window(),
            &ClusterOptions {
                caps,
                previous_logs: false,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(got.pods.len(), 1);
    assert_eq!(got.pods[0].name, CRASHING_POD);
    assert_eq!(got.events.len(), 2);
    assert_eq!(got.dropped_items, 1 + 2);
}

#[tokio::test]
async fn k8sgpt_results_are_read_from_the_operator_namespace() {
    let server = MockServer::start().await;
    kube_api::mount_k8sgpt(&server, true, 2).await;
    let findings = K8sgptResults::new(kube_api::client(&server), "k8sgpt-operator-system");
    let got = findings.findings(&web()).await.unwrap();
    assert_eq!(got.items.len(), 1);
    let f = &got.items[0];
    assert_eq!((f.kind.as_str(), f.name.as_str()), ("Pod", CRASHING_POD));
    assert_eq!(f.parent_object.as_deref(), Some("Deployment/web"));
    assert_eq!(
        f.errors,
        ["the last termination reason is Error container=web pod=web-6f9c7b8d4-q7w4z"]
    );
    assert!(
        f.details
            .as_deref()
            .unwrap()
            .starts_with("Error: the container exits with code 2")
    );
    // Results about other namespaces are not this workload's.
    let other = Workload::locate("web", None, "web-prod");
    assert!(findings.findings(&other).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn a_missing_k8sgpt_crd_is_unavailable_not_an_error() {
    let server = MockServer::start().await;
    kube_api::mount_k8sgpt(&server, false, 1).await;
    let findings = K8sgptResults::new(kube_api::client(&server), "k8sgpt-operator-system");
    match findings.findings(&web()).await {
        Err(SourceError::Unavailable { reason }) => assert!(reason.contains("CRD"), "{reason}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn refused_credentials_name_the_variables() {
    let server = MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .respond_with(
            wiremock::ResponseTemplate::new(401)
                .set_body_json(kube_api::data("kubernetes/unauthorized.json")),
        )
        .mount(&server)
        .await;
    let cluster = KubeCluster::new(kube_api::client(&server));
    let options = ClusterOptions {
        caps: Caps::default(),
        previous_logs: false,
    };
    let err = cluster
        .workload(&web(), &window(), &options)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("AIOPS_CLUSTERS or KUBECONFIG"),
        "{err}"
    );
    assert!(matches!(err, SourceError::Unauthorized { status: 401, .. }));
}
