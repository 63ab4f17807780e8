//! Each rule on a bundle shaped like what the collector records from real Kubernetes
//! status (the crash-looping `web` pod and the unschedulable `billing-0` are the ones
//! captured from a real API server).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::*;
use crate::evidence::*;

pub(crate) fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test time")
        .with_timezone(&Utc)
}

pub(crate) fn bundle(namespace: &str) -> EvidenceBundle {
    EvidenceBundle {
        schema: BUNDLE_SCHEMA.into(),
        run_id: "run-1".into(),
        collected_at: t("2026-11-26T05:06:32Z"),
        target: Target {
            entity: "component:default/web".into(),
            cluster: "dev-eu1".into(),
            namespace: namespace.into(),
            since: t("2026-11-26T03:06:32Z"),
            until: t("2026-11-26T05:06:32Z"),
        },
        entity: None,
        pods: Vec::new(),
        events: Vec::new(),
        rollouts: Vec::new(),
        logs: Vec::new(),
        findings: Vec::new(),
        sources: BTreeMap::new(),
        objects: crate::evidence::RelatedObjects::default(),
    }
}

pub(crate) fn pod(name: &str, phase: &str, containers: Vec<ContainerEvidence>) -> PodEvidence {
    PodEvidence {
        id: format!("pod/{name}"),
        name: name.into(),
        phase: phase.into(),
        node: Some("node-1".into()),
        owner: Some(ObjectRef {
            kind: "ReplicaSet".into(),
            name: "web-6f9c7b8d4".into(),
        }),
        conditions: Vec::new(),
        containers,
        reason: None,
        message: None,
    }
}

pub(crate) fn container(name: &str, state: ContainerState) -> ContainerEvidence {
    ContainerEvidence {
        name: name.into(),
        image: Some(format!("ghcr.io/example/{name}:2.3.0")),
        ready: false,
        restart_count: 0,
        state,
        last_termination: None,
        requests: BTreeMap::new(),
        limits: BTreeMap::new(),
        previous_logs: Vec::new(),
    }
}

fn waiting(reason: &str, message: &str) -> ContainerState {
    ContainerState::Waiting {
        reason: Some(reason.into()),
        message: Some(message.into()),
    }
}

pub(crate) fn event(
    id: usize,
    type_: &str,
    reason: &str,
    pod: &str,
    message: &str,
    count: u64,
) -> EventGroup {
    EventGroup {
        id: format!("event/{id}"),
        type_: type_.into(),
        reason: reason.into(),
        object: ObjectRef {
            kind: "Pod".into(),
            name: pod.into(),
        },
        message: message.into(),
        count,
        first_seen: Some(t("2026-11-26T04:46:31Z")),
        last_seen: Some(t("2026-11-26T04:51:31Z")),
    }
}

pub(crate) fn log(id: usize, time: &str, pod: &str, level: &str, message: &str) -> LogLine {
    LogLine {
        id: format!("log/{id}"),
        time: Some(t(time)),
        pod: Some(pod.into()),
        container: Some("web".into()),
        level: Some(level.into()),
        message: message.into(),
    }
}

/// The captured `web-dev` incident: exit code 2 after a minute, liveness failing, and
/// the log lines the collector kept.
pub(crate) fn crash_looping_web() -> EvidenceBundle {
    let mut b = bundle("web-dev");
    let mut c = container(
        "web",
        waiting(
            "CrashLoopBackOff",
            "back-off 2m40s restarting failed container=web pod=web-6f9c7b8d4-q7w4z_web-dev",
        ),
    );
    c.restart_count = 5;
    c.last_termination = Some(Termination {
        reason: Some("Error".into()),
        exit_code: Some(2),
        signal: None,
        message: None,
        started_at: Some(t("2026-11-26T05:02:31Z")),
        finished_at: Some(t("2026-11-26T05:03:31Z")),
    });
    let mut p = pod("web-6f9c7b8d4-q7w4z", "Running", vec![c]);
    p.conditions.push(Condition {
        type_: "Ready".into(),
        status: "False".into(),
        reason: Some("ContainersNotReady".into()),
        message: None,
        last_transition: Some(t("2026-11-26T04:36:31Z")),
    });
    b.pods.push(p);
    let name = "web-6f9c7b8d4-q7w4z";
    b.events.push(event(
        0,
        "Warning",
        "Unhealthy",
        name,
        "Liveness probe failed: HTTP probe failed with statuscode: 500",
        5,
    ));
    b.events.push(event(
        1,
        "Warning",
        "BackOff",
        name,
        "Back-off restarting failed container web in pod web-6f9c7b8d4-q7w4z_web-dev",
        6,
    ));
    b.logs.push(log(
        0,
        "2026-11-26T05:02:31Z",
        name,
        "info",
        "starting web 2.3.0",
    ));
    b.logs.push(log(
        1,
        "2026-11-26T05:03:30Z",
        name,
        "error",
        "config: unknown flag --listen-port",
    ));
    b.logs.push(log(
        2,
        "2026-11-26T05:10:00Z",
        name,
        "info",
        "a line after the crash",
    ));
    b
}

fn rules(b: &EvidenceBundle) -> Vec<&'static str> {
    diagnose(b).iter().map(|d| d.rule).collect()
}

#[test]
fn crash_loop_names_exit_code_meaning_and_quotes_the_last_lines_before_the_crash() {
    let b = crash_looping_web();
    let found = diagnose(&b);
    let crash = found
        .iter()
        .find(|d| d.rule == "crash_loop")
        .expect("crash_loop");
    assert!(
        crash.root_cause.contains("exit code 2"),
        "{}",
        crash.root_cause
    );
    assert!(
        crash.root_cause.contains("usage error"),
        "{}",
        crash.root_cause
    );
    assert!(crash.root_cause.contains("5 restarts"));
    assert!(
        crash
            .root_cause
            .contains("[log/1] config: unknown flag --listen-port")
    );
    assert!(
        !crash.root_cause.contains("after the crash"),
        "lines after the termination are not quoted"
    );
    assert_eq!(
        crash.evidence_ids,
        ["pod/web-6f9c7b8d4-q7w4z", "event/1", "log/0", "log/1"]
    );
    assert_eq!(
        crash.confidence,
        Confidence::High,
        "an error line was logged before the crash"
    );
    assert_eq!(
        rules(&b),
        ["log_signature", "crash_loop", "failing_probe"],
        "the decisive line leads, the crash loop and the probe follow"
    );
}

#[test]
fn crash_loop_falls_back_to_previous_logs_when_no_log_source_answered() {
    let mut b = crash_looping_web();
    b.logs.clear();
    b.pods[0].containers[0].previous_logs =
        vec!["panic: open /etc/web/config.yaml: no such file".into()];
    let crash = diagnose(&b)
        .into_iter()
        .find(|d| d.rule == "crash_loop")
        .expect("crash_loop");
    assert!(
        crash
            .root_cause
            .contains("panic: open /etc/web/config.yaml")
    );
    assert_eq!(crash.confidence, Confidence::Medium);
}

#[test]
fn oom_killed_compares_the_limit_with_the_usage_the_kernel_reported() {
    let mut b = bundle("web-dev");
    let mut c = container(
        "web",
        waiting(
            "CrashLoopBackOff",
            "back-off 5m0s restarting failed container",
        ),
    );
    c.restart_count = 9;
    c.limits.insert("memory".into(), "256Mi".into());
    c.requests.insert("memory".into(), "128Mi".into());
    c.last_termination = Some(Termination {
        reason: Some("OOMKilled".into()),
        exit_code: Some(137),
        signal: None,
        message: None,
        started_at: None,
        finished_at: Some(t("2026-11-26T05:00:00Z")),
    });
    b.pods.push(pod("web-1", "Running", vec![c]));
    let mut kernel = event(
        4,
        "Warning",
        "OOMKilling",
        "node-1",
        "Memory cgroup out of memory: Killed process 4242 (java) total-vm:4120000kB, anon-rss:262144kB, file-rss:0kB",
        1,
    );
    kernel.object.kind = "Node".into();
    b.events.push(kernel);
    let found = diagnose(&b);
    assert_eq!(
        found.iter().map(|d| d.rule).collect::<Vec<_>>(),
        ["oom_killed"],
        "OOM replaces the generic crash loop"
    );
    let oom = &found[0];
    assert!(
        oom.root_cause
            .contains("memory limit is 256Mi (request 128Mi)"),
        "{}",
        oom.root_cause
    );
    assert!(
        oom.root_cause.contains("256 MiB resident"),
        "{}",
        oom.root_cause
    );
    assert_eq!(oom.evidence_ids, ["pod/web-1", "event/4"]);
    assert_eq!(oom.confidence, Confidence::High);
}

#[test]
fn image_pull_failures_are_told_apart_by_the_registry_answer() {
    for (message, expected) in [
        (
            "rpc error: code = NotFound desc = failed to pull and unpack image \"ghcr.io/example/web:2.4.0\": ghcr.io/example/web:2.4.0: not found",
            "does not exist",
        ),
        (
            "failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
            "credentials",
        ),
        (
            "dial tcp: lookup ghcr.io on 10.96.0.10:53: no such host",
            "cannot reach the registry",
        ),
    ] {
        let mut b = bundle("web-dev");
        b.pods.push(pod(
            "web-2",
            "Pending",
            vec![container(
                "web",
                waiting(
                    "ImagePullBackOff",
                    "Back-off pulling image \"ghcr.io/example/web:2.4.0\"",
                ),
            )],
        ));
        b.events.push(event(
            7,
            "Warning",
            "Failed",
            "web-2",
            &format!("Failed to pull image \"ghcr.io/example/web:2.4.0\": {message}"),
            3,
        ));
        let d = diagnose(&b)
            .into_iter()
            .find(|d| d.rule == "image_pull")
            .expect("image_pull");
        assert!(d.summary.contains(expected), "{message}: {}", d.summary);
        assert_eq!(d.evidence_ids, ["pod/web-2", "event/7"]);
    }
}

#[test]
fn create_container_config_error_names_the_missing_secret_key() {
    let mut b = bundle("web-dev");
    b.pods.push(pod(
        "web-3",
        "Pending",
        vec![container(
            "web",
            waiting(
                "CreateContainerConfigError",
                "couldn't find key DB_PASSWORD in Secret web-dev/db-credentials",
            ),
        )],
    ));
    let d = &diagnose(&b)[0];
    assert_eq!(d.rule, "create_container_config_error");
    assert!(
        d.summary
            .contains("key DB_PASSWORD is missing from Secret web-dev/db-credentials"),
        "{}",
        d.summary
    );

    let mut b = bundle("web-dev");
    b.pods.push(pod(
        "web-4",
        "Pending",
        vec![container(
            "web",
            waiting(
                "CreateContainerConfigError",
                "configmap \"web-config\" not found",
            ),
        )],
    ));
    let d = &diagnose(&b)[0];
    assert!(
        d.summary
            .contains("ConfigMap web-config does not exist in namespace web-dev"),
        "{}",
        d.summary
    );
    assert_eq!(d.confidence, Confidence::High);
}

#[test]
fn failed_scheduling_of_the_captured_billing_pod_points_at_node_affinity() {
    let mut b = bundle("billing-staging");
    let mut p = pod(
        "billing-0",
        "Pending",
        vec![container("billing", ContainerState::Unknown)],
    );
    p.node = None;
    p.owner = Some(ObjectRef {
        kind: "StatefulSet".into(),
        name: "billing".into(),
    });
    p.conditions.push(Condition {
        type_: "PodScheduled".into(),
        status: "False".into(),
        reason: Some("Unschedulable".into()),
        message: Some(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.".into(),
        ),
        last_transition: None,
    });
    b.pods.push(p);
    b.events.push(event(0, "Warning", "FailedScheduling", "billing-0", "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.", 12));
    let d = &diagnose(&b)[0];
    assert_eq!(d.rule, "failed_scheduling");
    assert!(
        d.summary
            .contains("no node matches the pod's nodeSelector or node affinity"),
        "{}",
        d.summary
    );
    assert!(d.root_cause.contains("after 12 scheduling attempts"));
    assert_eq!(d.evidence_ids, ["pod/billing-0", "event/0"]);
}

#[test]
fn failed_scheduling_lists_every_reason_the_scheduler_gave() {
    let mut b = bundle("web-dev");
    b.pods.push(pod("web-5", "Pending", Vec::new()));
    b.events.push(event(2, "Warning", "FailedScheduling", "web-5", "0/5 nodes are available: 2 Insufficient memory, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/5 nodes are available: 5 No preemption victims found for incoming pod.", 4));
    let d = &diagnose(&b)[0];
    for part in ["unreserved CPU", "unreserved memory", "taints"] {
        assert!(d.summary.contains(part), "{part}: {}", d.summary);
    }
    assert_eq!(d.remediation.len(), 3);
}

#[test]
fn failing_liveness_and_readiness_probes_are_reported_with_their_effect() {
    let mut b = bundle("web-dev");
    let mut c = container(
        "web",
        ContainerState::Running {
            started_at: Some(t("2026-11-26T04:40:00Z")),
        },
    );
    c.restart_count = 3;
    b.pods.push(pod("web-6", "Running", vec![c]));
    b.events.push(event(
        0,
        "Warning",
        "Unhealthy",
        "web-6",
        "Readiness probe failed: Get \"http://10.1.2.3:8080/ready\": context deadline exceeded",
        40,
    ));
    b.events.push(event(
        1,
        "Warning",
        "Unhealthy",
        "web-6",
        "Liveness probe failed: HTTP probe failed with statuscode: 503",
        9,
    ));
    b.events.push(event(
        2,
        "Normal",
        "Killing",
        "web-6",
        "Container web failed liveness probe, will be restarted",
        3,
    ));
    let found = diagnose(&b);
    let live = found
        .iter()
        .find(|d| d.summary.contains("liveness"))
        .expect("liveness");
    assert!(live.root_cause.contains("kills and restarts"));
    assert_eq!(live.evidence_ids, ["pod/web-6", "event/1", "event/2"]);
    let ready = found
        .iter()
        .find(|d| d.summary.contains("readiness"))
        .expect("readiness");
    assert!(ready.root_cause.contains("serves no traffic"));
    assert!(ready.root_cause.contains("failed 40 times"));
}

#[test]
fn failed_mount_of_a_missing_configmap() {
    let mut b = bundle("web-dev");
    b.pods.push(pod(
        "web-7",
        "Pending",
        vec![container("web", waiting("ContainerCreating", ""))],
    ));
    b.events.push(event(
        3,
        "Warning",
        "FailedMount",
        "web-7",
        "MountVolume.SetUp failed for volume \"config\" : configmap \"web-config\" not found",
        8,
    ));
    let d = &diagnose(&b)[0];
    assert_eq!(d.rule, "failed_mount");
    assert!(d.summary.contains("Secret or ConfigMap"), "{}", d.summary);
    assert!(d.root_cause.contains("8 times"));
}

#[test]
fn evicted_pods_name_the_resource_under_pressure() {
    let mut b = bundle("web-dev");
    let mut p = pod("web-8", "Failed", Vec::new());
    p.reason = Some("Evicted".into());
    p.message = Some("The node was low on resource: memory. Threshold quantity: 100Mi, available: 92Mi. Container web was using 1200Mi, which exceeds its request of 256Mi.".into());
    b.pods.push(p);
    let d = &diagnose(&b)[0];
    assert_eq!(d.rule, "evicted");
    assert!(d.summary.contains("low on memory"));
    assert!(d.root_cause.contains("exceeds its request of 256Mi"));
}

#[test]
fn a_stuck_rollout_is_a_symptom_ranked_after_its_cause() {
    let mut b = bundle("web-dev");
    b.pods.push(pod(
        "web-9",
        "Pending",
        vec![container(
            "web",
            waiting("ErrImagePull", "manifest unknown"),
        )],
    ));
    b.rollouts.push(RolloutStatus {
        id: "rollout/web".into(),
        object: ObjectRef {
            kind: "Deployment".into(),
            name: "web".into(),
        },
        desired: 3,
        updated: 1,
        ready: 2,
        available: 2,
        conditions: vec![Condition {
            type_: "Progressing".into(),
            status: "False".into(),
            reason: Some("ProgressDeadlineExceeded".into()),
            message: Some("ReplicaSet \"web-7c5d\" has timed out progressing.".into()),
            last_transition: None,
        }],
    });
    assert_eq!(rules(&b), ["image_pull", "stuck_rollout"]);
    let a = analyze(&b, t("2026-11-26T05:10:00Z"));
    assert!(a.summary.contains("cannot start container web"));
    assert!(
        a.root_cause.contains(
            "Also found: The rollout of Deployment/web is stuck: 1 of 3 replicas updated"
        )
    );
    assert_eq!(a.evidence_ids, ["pod/web-9", "rollout/web"]);
}

#[test]
fn k8sgpt_findings_are_carried_through_with_their_ids() {
    let mut b = bundle("web-dev");
    b.findings.push(Finding {
        id: "finding/0".into(),
        kind: "Pod".into(),
        name: "web-dev/web-6f9c7b8d4-q7w4z".into(),
        parent_object: Some("Deployment/web".into()),
        errors: vec![
            "the last termination reason is Error container=web pod=web-6f9c7b8d4-q7w4z".into(),
        ],
        details: Some("Error: the container exits with code 2 right after start.".into()),
    });
    let a = analyze(&b, t("2026-11-26T05:10:00Z"));
    assert_eq!(a.evidence_ids, ["finding/0"]);
    assert!(
        a.summary
            .starts_with("k8sgpt: Pod web-dev/web-6f9c7b8d4-q7w4z")
    );
    assert!(a.root_cause.contains("exits with code 2"));
}

#[test]
fn the_builtin_analysis_is_preliminary_cites_only_known_ids_and_never_claims_a_fallback() {
    let b = crash_looping_web();
    let a = analyze(&b, t("2026-11-26T05:10:00Z"));
    assert_eq!(a.analyzer, Analyzer::Builtin);
    assert!(a.preliminary && a.structured && !a.needs_rerun);
    assert_eq!(a.fallback_reason, None);
    assert!(a.unknown_evidence_ids.is_empty());
    assert!(
        a.summary
            .contains("does not accept the argument --listen-port"),
        "{}",
        a.summary
    );
    assert!(
        a.root_cause.contains("Also found: Container web in pod"),
        "{}",
        a.root_cause
    );
    assert!(
        a.root_cause.contains("Also found: The liveness probe"),
        "{}",
        a.root_cause
    );
}

#[test]
fn nothing_matched_says_so_with_low_confidence_and_the_warnings_seen() {
    let mut b = bundle("web-dev");
    b.events.push(event(
        9,
        "Warning",
        "DNSConfigForming",
        "web-1",
        "Nameserver limits were exceeded",
        2,
    ));
    let a = analyze(&b, t("2026-11-26T05:10:00Z"));
    assert_eq!(a.confidence, Confidence::Low);
    assert!(a.summary.starts_with("No known failure pattern"));
    assert_eq!(a.evidence_ids, ["event/9"]);
}

fn revision(n: u64, rs: &str, ready: u32, changes: Vec<TemplateChange>) -> Revision {
    Revision {
        id: format!("revision/web/{n}"),
        workload: ObjectRef {
            kind: "Deployment".into(),
            name: "web".into(),
        },
        object: ObjectRef {
            kind: "ReplicaSet".into(),
            name: rs.into(),
        },
        revision: n,
        created: Some(t("2026-11-26T04:30:00Z")),
        replicas: 1,
        ready,
        pods: Vec::new(),
        template: BTreeMap::new(),
        changes,
    }
}

#[test]
fn failing_pods_on_the_newest_revision_make_the_change_the_root_cause() {
    let mut b = crash_looping_web();
    b.objects.revisions = vec![
        revision(
            3,
            "web-6f9c7b8d4",
            0,
            vec![TemplateChange {
                field: "web.args".into(),
                before: Some("--port=8080".into()),
                after: Some("--listen-port=8080".into()),
            }],
        ),
        revision(2, "web-5d8b6c7f9", 1, Vec::new()),
    ];
    let found = diagnose(&b);
    let lead = &found[0];
    assert_eq!(lead.rule, "changed_revision");
    assert!(
        lead.root_cause
            .contains("web.args from --port=8080 to --listen-port=8080"),
        "{}",
        lead.root_cause
    );
    assert!(
        lead.root_cause
            .contains("How it fails: Pod web-6f9c7b8d4-q7w4z fails"),
        "{}",
        lead.root_cause
    );
    assert!(
        lead.remediation[0]
            .contains("kubectl rollout undo -n web-dev deployment/web --to-revision=2")
    );
    assert_eq!(lead.evidence_ids[..2], ["revision/web/3", "revision/web/2"]);

    // A failing pod on the previous revision too: the change does not explain it.
    let mut old = b.pods[0].clone();
    old.name = "web-5d8b6c7f9-aaaaa".into();
    old.id = format!("pod/{}", old.name);
    old.owner.as_mut().unwrap().name = "web-5d8b6c7f9".into();
    b.pods.push(old);
    assert_ne!(diagnose(&b)[0].rule, "changed_revision");
}

#[test]
fn statefulset_and_daemonset_revisions_name_the_change_and_roll_back_their_kind() {
    for (kind, resource) in [("StatefulSet", "statefulset"), ("DaemonSet", "daemonset")] {
        let mut b = crash_looping_web();
        // The pods name the workload as owner; the revisions list which pods run them.
        let failing = b.pods[0].name.clone();
        let mut healthy = b.pods[0].clone();
        healthy.name = "web-0".into();
        healthy.id = "pod/web-0".into();
        for c in &mut healthy.containers {
            c.ready = true;
            c.restart_count = 0;
        }
        b.pods.push(healthy);
        for p in &mut b.pods {
            p.owner = Some(ObjectRef {
                kind: kind.into(),
                name: "web".into(),
            });
        }
        let mut newest = revision(
            5,
            "web-7c9f8d6b5",
            0,
            vec![TemplateChange {
                field: "web.image".into(),
                before: Some("shop/web:1.4".into()),
                after: Some("shop/web:1.5".into()),
            }],
        );
        let mut previous = revision(4, "web-5d8b6c7f9", 1, Vec::new());
        for r in [&mut newest, &mut previous] {
            r.workload.kind = kind.into();
            r.object.kind = "ControllerRevision".into();
        }
        newest.pods = vec![failing.clone()];
        previous.pods = vec!["web-0".into()];
        b.objects.revisions = vec![newest, previous];
        let lead = &diagnose(&b)[0];
        assert_eq!(lead.rule, "changed_revision", "{kind}");
        assert!(
            lead.root_cause.contains(&format!(
                "revision 5 of {kind}/web (ControllerRevision web-7c9f8d6b5"
            )) && lead
                .root_cause
                .contains("web.image from shop/web:1.4 to shop/web:1.5"),
            "{}",
            lead.root_cause
        );
        assert!(
            lead.remediation[0].contains(&format!(
                "kubectl rollout undo -n web-dev {resource}/web --to-revision=4"
            )),
            "{:?}",
            lead.remediation
        );
        assert!(lead.evidence_ids.contains(&format!("pod/{failing}")));

        // The pod on the previous revision fails too: the change does not explain it.
        let previous = &mut b.objects.revisions[1];
        previous.pods.push(failing.clone());
        assert_ne!(diagnose(&b)[0].rule, "changed_revision", "{kind}");
    }
}

#[test]
fn exit_137_after_liveness_kills_is_the_probe_not_memory() {
    let mut b = crash_looping_web();
    let c = &mut b.pods[0].containers[0];
    c.last_termination.as_mut().unwrap().exit_code = Some(137);
    c.limits.insert("memory".into(), "512Mi".into());
    b.logs.clear();
    b.events.push(event(
        2,
        "Normal",
        "Killing",
        "web-6f9c7b8d4-q7w4z",
        "Container web failed liveness probe, will be restarted",
        4,
    ));
    let found = diagnose(&b);
    assert_eq!(found[0].rule, "liveness_kill");
    assert!(found[0].root_cause.contains("not OOMKilled"));
    assert!(found[0].evidence_ids.contains(&"event/2".to_owned()));
    assert!(!found.iter().any(|d| d.rule == "oom_killed"));

    let c = &mut b.pods[0].containers[0];
    c.last_termination.as_mut().unwrap().reason = Some("OOMKilled".into());
    let rules: Vec<_> = diagnose(&b).iter().map(|d| d.rule).collect();
    assert!(rules.contains(&"oom_killed") && !rules.contains(&"liveness_kill"));
}

#[test]
fn a_decisive_line_among_routine_noise_leads_and_is_cited() {
    let mut b = crash_looping_web();
    b.logs.clear();
    for i in 0..2_000 {
        b.logs.push(log(
            i,
            "2026-11-26T05:01:00Z",
            "web-6f9c7b8d4-q7w4z",
            if i % 7 == 0 { "warn" } else { "info" },
            &format!("GET /api/items/{i} 200 {} ms", i % 90),
        ));
    }
    b.logs.push(log(
        2_000,
        "2026-11-26T05:03:00Z",
        "web-6f9c7b8d4-q7w4z",
        "error",
        "dial tcp: lookup db.web-dev.svc on 10.96.0.10:53: no such host",
    ));
    let lead = &diagnose(&b)[0];
    assert_eq!(lead.rule, "log_signature");
    assert!(lead.summary.contains("db.web-dev.svc does not resolve"));
    assert_eq!(lead.evidence_ids[0], "log/2000");
}

#[test]
fn nothing_found_lists_what_was_checked_and_the_sources_not_seen() {
    let mut b = bundle("web-dev");
    b.sources.insert(
        "logs".into(),
        SourceStatus {
            status: SourceState::Empty,
            error: Some("no log line for 2 started pods".into()),
            items: 0,
            dropped_items: 0,
            dropped_bytes: 0,
            elapsed_ms: 3,
        },
    );
    let a = analyze(&b, t("2026-11-26T05:10:00Z"));
    assert!(a.root_cause.contains("Checked: 0 pods"), "{}", a.root_cause);
    assert!(
        a.root_cause.contains("changed_revision"),
        "{}",
        a.root_cause
    );
    assert!(
        a.root_cause
            .contains("Not seen: the logs source was Empty (no log line for 2 started pods)"),
        "{}",
        a.root_cause
    );
}
