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
async fn the_objects_around_the_pods_are_read_with_the_rollout_history() {
    let server = MockServer::start().await;
    kube_api::mount_web(
        &server,
        &Seed {
            history: true,
            ..Seed::default()
        },
    )
    .await;
    kube_api::mount_around(&server).await;
    let cluster = KubeCluster::new(kube_api::client(&server));
    let options = ClusterOptions {
        caps: Caps::default(),
        previous_logs: false,
    };
    let got = cluster.workload(&web(), &window(), &options).await.unwrap();
    assert!(got.notes.is_empty(), "{:?}", got.notes);
    let o = &got.objects;

    let revs: Vec<_> = o
        .revisions
        .iter()
        .map(|r| (r.id.as_str(), r.object.name.as_str()))
        .collect();
    assert_eq!(
        revs,
        [
            ("revision/web/2", "web-6f9c7b8d4"),
            ("revision/web/1", "web-5d8b6c7f9")
        ]
    );
    let changes: Vec<_> = o.revisions[0]
        .changes
        .iter()
        .map(|c| (c.field.as_str(), c.before.as_deref(), c.after.as_deref()))
        .collect();
    assert_eq!(
        changes,
        [
            ("web.args", Some("--port=8080"), Some("--listen-port=8080")),
            (
                "web.image",
                Some("ghcr.io/example/web:2.2.0"),
                Some("ghcr.io/example/web:2.3.0")
            ),
        ]
    );

    let services: Vec<_> = o
        .services
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.matches_pods,
                s.ready_endpoints,
                s.not_ready_endpoints,
            )
        })
        .collect();
    assert_eq!(
        services,
        [("web", true, 1, 1), ("web-canary", false, 0, 0)],
        "billing selects other pods and is left out"
    );
    assert_eq!(o.services[0].ports, ["http 80→8080/TCP"]);

    let backends: Vec<_> = o.ingresses[0]
        .backends
        .iter()
        .map(|b| (b.service.as_str(), b.port.as_deref(), b.service_exists))
        .collect();
    assert_eq!(
        backends,
        [("web", Some("80"), true), ("web-v2", Some("http"), false)]
    );

    assert_eq!(o.nodes.len(), 1);
    let pressure = &o.nodes[0].conditions[0];
    assert_eq!(
        (pressure.type_.as_str(), pressure.status.as_str()),
        ("MemoryPressure", "True")
    );
    let hpa = &o.autoscalers[0];
    assert_eq!(
        (
            hpa.max_replicas,
            hpa.current_replicas,
            hpa.target.name.as_str()
        ),
        (2, 2, "web")
    );
    assert_eq!(o.quotas[0].used["requests.memory"], "512Mi");
    assert!(o.jobs.is_empty() && o.volume_claims.is_empty());
}

#[tokio::test]
async fn refused_reads_of_related_objects_are_notes_and_the_pods_still_come_back() {
    let server = MockServer::start().await;
    kube_api::mount_web(&server, &Seed::default()).await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/api/v1/namespaces/web-dev/services"))
        .respond_with(
            wiremock::ResponseTemplate::new(403).set_body_json(serde_json::json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "services is forbidden: User \"system:serviceaccount:aiops:collector\" cannot list resource \"services\" in API group \"\" in the namespace \"web-dev\"",
                "reason": "Forbidden", "details": {"kind": "services"}, "code": 403
            })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let cluster = KubeCluster::new(kube_api::client(&server));
    let options = ClusterOptions {
        caps: Caps::default(),
        previous_logs: false,
    };
    let got = cluster.workload(&web(), &window(), &options).await.unwrap();
    assert_eq!(got.pods.len(), 2);
    assert!(
        got.notes
            .iter()
            .any(|n| n.starts_with("listing services: ") && n.contains("403")),
        "{:?}",
        got.notes
    );
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

#[tokio::test]
async fn statefulset_and_daemonset_history_comes_from_controller_revisions_with_their_pods() {
    use aiops_tests::kube_revisions::Rollout;
    for rollout in [Rollout::stateful_set(), Rollout::daemon_set()] {
        let server = MockServer::start().await;
        rollout.mount(&server).await;
        let cluster = KubeCluster::new(kube_api::client(&server));
        let options = ClusterOptions {
            caps: Caps::default(),
            previous_logs: false,
        };
        let workload = Workload::locate(rollout.name, None, "web-dev");
        let got = cluster
            .workload(&workload, &window(), &options)
            .await
            .unwrap();
        let kind = rollout.kind;
        assert!(
            got.pods
                .iter()
                .all(|p| p.owner.as_ref().is_some_and(|o| o.kind == kind)),
            "{kind}: the pods name the workload as owner"
        );
        // Newest first; the other workload's revision is not part of this history.
        let revs: Vec<_> = got
            .objects
            .revisions
            .iter()
            .map(|r| (r.id.clone(), r.object.name.clone(), r.pods.clone(), r.ready))
            .collect();
        assert_eq!(
            revs,
            [
                (
                    format!("revision/{}/2", rollout.name),
                    rollout.revisions[1].clone(),
                    vec![rollout.new_pod.clone()],
                    0
                ),
                (
                    format!("revision/{}/1", rollout.name),
                    rollout.revisions[0].clone(),
                    vec![rollout.old_pod.clone()],
                    1
                ),
            ],
            "{kind}"
        );
        let changes: Vec<_> = got.objects.revisions[0]
            .changes
            .iter()
            .map(|c| (c.field.clone(), c.before.clone(), c.after.clone()))
            .collect();
        assert_eq!(
            changes,
            [(
                format!("{}.image", rollout.name),
                Some(rollout.images[0].to_owned()),
                Some(rollout.images[1].to_owned())
            )],
            "{kind}"
        );
    }
}
