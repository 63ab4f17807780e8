//! Container-level rules: CrashLoopBackOff, OOMKilled, image pulls, container
//! configuration (missing Secret/ConfigMap keys) and evictions.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use super::Diagnosis;
use crate::analysis::Confidence;
use crate::evidence::{
    ContainerEvidence, ContainerState, EventGroup, EvidenceBundle, LogLine, PodEvidence,
    Termination,
};

/// Log lines quoted from before a crash.
const QUOTED_LINES: usize = 5;

pub(super) fn run(b: &EvidenceBundle, out: &mut Vec<Diagnosis>) {
    for pod in &b.pods {
        for c in &pod.containers {
            let waiting = match &c.state {
                ContainerState::Waiting { reason, message } => {
                    Some((reason.as_deref().unwrap_or(""), message.as_deref()))
                }
                _ => None,
            };
            match waiting {
                Some(("CreateContainerConfigError", msg)) => out.push(config_error(b, pod, c, msg)),
                Some((
                    "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" | "ErrImageNeverPull",
                    msg,
                )) => {
                    out.push(image_pull(b, pod, c, msg));
                }
                _ => {}
            }
            let term = last_termination(c);
            if term.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
                out.push(oom(b, pod, c, term.unwrap_or(&EMPTY)));
            } else if matches!(waiting, Some(("CrashLoopBackOff", _))) {
                out.push(crash_loop(b, pod, c, term));
            }
        }
        if pod.reason.as_deref() == Some("Evicted") {
            out.push(evicted(b, pod));
        }
    }
}

static EMPTY: Termination = Termination {
    reason: None,
    exit_code: None,
    signal: None,
    message: None,
    started_at: None,
    finished_at: None,
};

pub(super) fn last_termination(c: &ContainerEvidence) -> Option<&Termination> {
    match &c.state {
        ContainerState::Terminated(t) => Some(t),
        _ => c.last_termination.as_ref(),
    }
}

/// Events about one object with one of `reasons`.
pub(super) fn events_for<'a>(
    b: &'a EvidenceBundle,
    kind: &str,
    name: &str,
    reasons: &[&str],
) -> Vec<&'a EventGroup> {
    b.events
        .iter()
        .filter(|e| {
            e.object.kind == kind && e.object.name == name && reasons.contains(&e.reason.as_str())
        })
        .collect()
}

fn ids<'a>(first: &str, rest: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut v = vec![first.to_owned()];
    for id in rest {
        if !v.iter().any(|x| x == id) {
            v.push(id.to_owned());
        }
    }
    v
}

/// What an exit code usually means.
pub(super) fn exit_meaning(code: i32) -> &'static str {
    match code {
        0 => "the process exited normally, yet the container is expected to keep running",
        1 => "the application exited with a generic error",
        2 => "the program rejected its arguments or configuration (a usage error)",
        126 => "the command is not executable (permissions or a wrong entrypoint)",
        127 => "the command was not found (a wrong entrypoint or a missing binary in the image)",
        134 => "the process aborted (SIGABRT)",
        137 => {
            "the process was killed with SIGKILL (out of memory, or a failed liveness probe after its grace period)"
        }
        139 => "the process crashed with a segmentation fault (SIGSEGV)",
        143 => "the process was stopped with SIGTERM (a liveness-probe restart or a shutdown)",
        _ => "the application failed",
    }
}

fn describe_exit(t: Option<&Termination>) -> String {
    match t {
        None => "no previous termination was recorded".into(),
        Some(t) => {
            let mut s = format!(
                "the last run ended with {}",
                t.reason.as_deref().unwrap_or("an unknown reason")
            );
            if let Some(code) = t.exit_code {
                let _ = write!(s, ", exit code {code}: {}", exit_meaning(code));
            }
            if let (Some(a), Some(f)) = (t.started_at, t.finished_at) {
                let _ = write!(s, ", after {} s", (f - a).num_seconds());
            }
            if let Some(m) = &t.message {
                let _ = write!(s, " (termination message: {m})");
            }
            s
        }
    }
}

/// The last log lines of a container before `t` finished, from the log source.
pub(super) fn lines_before<'a>(
    b: &'a EvidenceBundle,
    pod: &str,
    container: &str,
    t: Option<&Termination>,
) -> Vec<&'a LogLine> {
    let finished = t.and_then(|t| t.finished_at);
    let mut lines: Vec<&LogLine> = b
        .logs
        .iter()
        .filter(|l| {
            l.pod.as_deref() == Some(pod) && l.container.as_deref().is_none_or(|c| c == container)
        })
        .filter(|l| finished.is_none_or(|f| l.time.is_none_or(|lt| lt <= f)))
        .collect();
    lines.sort_by_key(|l| l.time);
    lines.split_off(lines.len().saturating_sub(QUOTED_LINES))
}

fn crash_loop(
    b: &EvidenceBundle,
    pod: &PodEvidence,
    c: &ContainerEvidence,
    t: Option<&Termination>,
) -> Diagnosis {
    let backoff = events_for(b, "Pod", &pod.name, &["BackOff"]);
    let lines = lines_before(b, &pod.name, &c.name, t);
    let mut root_cause = format!(
        "Container {} in pod {} is in CrashLoopBackOff after {} restarts: {}.",
        c.name,
        pod.name,
        c.restart_count,
        describe_exit(t)
    );
    let quoted: Vec<String> = if lines.is_empty() {
        c.previous_logs
            .iter()
            .rev()
            .take(QUOTED_LINES)
            .rev()
            .cloned()
            .collect()
    } else {
        lines
            .iter()
            .map(|l| format!("[{}] {}", l.id, l.message))
            .collect()
    };
    if !quoted.is_empty() {
        root_cause.push_str(" Last log lines before the crash:\n");
        root_cause.push_str(&quoted.join("\n"));
    }
    let errors_logged = lines.iter().any(|l| {
        l.level
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("error") || v.eq_ignore_ascii_case("fatal"))
    });
    let code = t.and_then(|t| t.exit_code);
    let mut remediation = vec![format!(
        "Read the previous container's log: kubectl logs -n {} {} -c {} --previous",
        b.target.namespace, pod.name, c.name
    )];
    remediation.push(match code {
        Some(127 | 126) => "Check the image's entrypoint and command: the binary is missing or not executable.".into(),
        Some(2) => "Check the container's arguments and configuration (env vars, mounted config) against what this image version expects.".into(),
        Some(137 | 143) => "Check the liveness probe (delay, timeout, threshold) and the memory limit: the kubelet killed the process.".into(),
        _ => "Fix the error the application logs at start-up, or roll back to the last working image.".into(),
    });
    remediation.push(format!(
        "If the last change broke it, roll back: kubectl rollout undo -n {} <deployment>",
        b.target.namespace
    ));
    Diagnosis {
        rule: "crash_loop",
        rank: 30,
        summary: format!(
            "Container {} in pod {} is crash-looping ({}).",
            c.name,
            pod.name,
            t.map_or_else(
                || "no exit code recorded".to_owned(),
                |t| format!(
                    "{}, exit code {}",
                    t.reason.as_deref().unwrap_or("?"),
                    t.exit_code.map_or("?".into(), |c| c.to_string())
                )
            )
        ),
        root_cause,
        confidence: if errors_logged {
            Confidence::High
        } else {
            Confidence::Medium
        },
        impact: format!("Pod {} is not ready and serves no traffic.", pod.name),
        evidence_ids: ids(
            &pod.id,
            backoff
                .iter()
                .map(|e| e.id.as_str())
                .chain(lines.iter().map(|l| l.id.as_str())),
        ),
        remediation,
        follow_ups: vec![
            "Add a start-up check in CI that runs the image with the production configuration."
                .into(),
        ],
    }
}

static ANON_RSS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"anon-rss:(\d+)kB").expect("a valid regex"));

fn oom(b: &EvidenceBundle, pod: &PodEvidence, c: &ContainerEvidence, t: &Termination) -> Diagnosis {
    let limit = c.limits.get("memory");
    let request = c.requests.get("memory");
    // The kernel's OOM report (a node event or a log line) carries the usage at the kill.
    let kernel: Vec<(&str, u64)> = b
        .events
        .iter()
        .map(|e| (e.id.as_str(), e.message.as_str()))
        .chain(b.logs.iter().map(|l| (l.id.as_str(), l.message.as_str())))
        .filter_map(|(id, m)| {
            ANON_RSS
                .captures(m)
                .and_then(|cap| cap[1].parse::<u64>().ok())
                .map(|kb| (id, kb))
        })
        .collect();
    let usage = kernel.iter().map(|(_, kb)| *kb).max();
    let mut root_cause = format!(
        "Container {} in pod {} was killed for running out of memory (OOMKilled",
        c.name, pod.name
    );
    if let Some(code) = t.exit_code {
        let _ = write!(root_cause, ", exit code {code}");
    }
    let _ = write!(root_cause, "), {} restarts so far. ", c.restart_count);
    match limit {
        Some(l) => {
            let _ = write!(root_cause, "Its memory limit is {l}");
        }
        None => root_cause.push_str("It has no memory limit, so the node ran out of memory"),
    }
    if let Some(r) = request {
        let _ = write!(root_cause, " (request {r})");
    }
    match usage {
        Some(kb) => {
            let _ = write!(
                root_cause,
                "; the kernel reported {} MiB resident at the kill.",
                kb / 1024
            );
        }
        None => root_cause.push_str(
            "; its usage reached that limit when it was killed (no usage figure was recorded).",
        ),
    }
    let mut remediation = Vec::new();
    remediation.push(match limit {
        Some(l) => format!("Raise the memory limit of {} above its peak use (now {l}), or lower the application's memory use.", c.name),
        None => format!("Set a memory request and limit for {} that match its real use.", c.name),
    });
    remediation.push("For JVM or Node.js workloads, size the heap from the container limit (-XX:MaxRAMPercentage, --max-old-space-size).".into());
    Diagnosis {
        rule: "oom_killed",
        rank: 15,
        summary: format!(
            "Container {} in pod {} is being OOMKilled{}.",
            c.name,
            pod.name,
            limit
                .map(|l| format!(" at its {l} memory limit"))
                .unwrap_or_default()
        ),
        root_cause,
        confidence: Confidence::High,
        impact: format!(
            "Pod {} restarts repeatedly and loses in-flight work.",
            pod.name
        ),
        evidence_ids: ids(&pod.id, kernel.iter().map(|(id, _)| *id)),
        remediation,
        follow_ups: vec![
            "Alert on container memory above 90 % of its limit before the kill.".into(),
        ],
    }
}

fn image_pull(
    b: &EvidenceBundle,
    pod: &PodEvidence,
    c: &ContainerEvidence,
    msg: Option<&str>,
) -> Diagnosis {
    let events = events_for(
        b,
        "Pod",
        &pod.name,
        &["Failed", "BackOff", "ErrImagePull", "InspectFailed"],
    );
    let text = msg
        .map(str::to_owned)
        .into_iter()
        .chain(events.iter().map(|e| e.message.clone()))
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let image = c.image.as_deref().unwrap_or("the image");
    let (cause, fix) = if ["not found", "manifest unknown", "notfound"]
        .iter()
        .any(|w| text.contains(w))
    {
        (
            format!("the image {image} does not exist in the registry (wrong tag or repository)"),
            format!("Push {image} or correct the tag in the workload."),
        )
    } else if [
        "unauthorized",
        "authentication required",
        "denied",
        "403",
        "401",
    ]
    .iter()
    .any(|w| text.contains(w))
    {
        (format!("the registry refused to serve {image} without valid credentials"), "Add or fix the imagePullSecrets of the pod (or its service account) for this registry.".to_owned())
    } else if [
        "no such host",
        "i/o timeout",
        "connection refused",
        "dial tcp",
    ]
    .iter()
    .any(|w| text.contains(w))
    {
        (
            "the node cannot reach the registry (DNS or network)".to_owned(),
            "Check DNS and egress from the nodes to the registry.".to_owned(),
        )
    } else if ["toomanyrequests", "rate limit"]
        .iter()
        .any(|w| text.contains(w))
    {
        (
            "the registry is rate limiting pulls".to_owned(),
            "Authenticate pulls or mirror the image to a registry without pull limits.".to_owned(),
        )
    } else {
        (
            format!("pulling {image} fails"),
            format!("Check that {image} exists and that the node may pull it."),
        )
    };
    let waiting = match &c.state {
        ContainerState::Waiting { reason, .. } => reason.clone().unwrap_or_default(),
        _ => String::new(),
    };
    Diagnosis {
        rule: "image_pull",
        rank: 10,
        summary: format!(
            "Pod {} cannot start container {}: {waiting}, {cause}.",
            pod.name, c.name
        ),
        root_cause: format!(
            "Container {} is waiting in {waiting}: {cause}.{}",
            c.name,
            msg.map(|m| format!(" The kubelet reports: {m}"))
                .unwrap_or_default()
        ),
        confidence: Confidence::High,
        impact: format!(
            "Pod {} never starts; a rollout to this image cannot progress.",
            pod.name
        ),
        evidence_ids: ids(&pod.id, events.iter().map(|e| e.id.as_str())),
        remediation: vec![fix],
        follow_ups: vec!["Check in CI that the image tag exists before deploying it.".into()],
    }
}

static MISSING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:couldn't find key (?P<key>\S+) in (?P<kind1>Secret|ConfigMap) (?P<ref1>[\w.\-/]+))|(?:(?P<kind2>secret|configmap) "(?P<ref2>[\w.\-]+)" not found)"#)
        .expect("a valid regex")
});

fn config_error(
    b: &EvidenceBundle,
    pod: &PodEvidence,
    c: &ContainerEvidence,
    msg: Option<&str>,
) -> Diagnosis {
    let events = events_for(b, "Pod", &pod.name, &["Failed"]);
    let texts: Vec<&str> = msg
        .into_iter()
        .chain(events.iter().map(|e| e.message.as_str()))
        .collect();
    let found = texts.iter().find_map(|t| MISSING.captures(t));
    let (what, fix) = match &found {
        Some(cap) if cap.name("key").is_some() => {
            let kind = &cap["kind1"];
            let name = &cap["ref1"];
            (
                format!("key {} is missing from {kind} {name}", &cap["key"]),
                format!(
                    "Add the key {} to {kind} {name}, or correct the key name in the pod's env/envFrom.",
                    &cap["key"]
                ),
            )
        }
        Some(cap) => {
            let kind = if cap["kind2"].eq_ignore_ascii_case("secret") {
                "Secret"
            } else {
                "ConfigMap"
            };
            (
                format!(
                    "{kind} {} does not exist in namespace {}",
                    &cap["ref2"], b.target.namespace
                ),
                format!(
                    "Create {kind} {} in {} (or fix its name in the pod spec).",
                    &cap["ref2"], b.target.namespace
                ),
            )
        }
        None => (
            "the container's configuration refers to something that cannot be resolved".to_owned(),
            "Check the Secrets and ConfigMaps the container's env and volumes refer to.".to_owned(),
        ),
    };
    Diagnosis {
        rule: "create_container_config_error",
        rank: 10,
        summary: format!("Container {} in pod {} cannot be created: {what}.", c.name, pod.name),
        root_cause: format!(
            "Container {} is waiting in CreateContainerConfigError: {what}.{}",
            c.name,
            texts.first().map(|m| format!(" The kubelet reports: {m}")).unwrap_or_default()
        ),
        confidence: if found.is_some() { Confidence::High } else { Confidence::Medium },
        impact: format!("Pod {} never starts.", pod.name),
        evidence_ids: ids(&pod.id, events.iter().map(|e| e.id.as_str())),
        remediation: vec![fix],
        follow_ups: vec!["Deploy Secrets and ConfigMaps together with the workload that needs them (same release).".into()],
    }
}

fn evicted(b: &EvidenceBundle, pod: &PodEvidence) -> Diagnosis {
    let events = events_for(b, "Pod", &pod.name, &["Evicted"]);
    let message = pod
        .message
        .clone()
        .or_else(|| events.first().map(|e| e.message.clone()))
        .unwrap_or_default();
    // The kubelet words a pod over its own local-storage limit "ephemeral local storage".
    let resource = [
        ("memory", "memory"),
        ("ephemeral-storage", "ephemeral-storage"),
        ("ephemeral local storage", "ephemeral-storage"),
        ("nodefs", "nodefs"),
        ("imagefs", "imagefs"),
        ("pid", "pid"),
    ]
    .into_iter()
    .find(|(said, _)| message.contains(said))
    .map_or("a resource", |(_, r)| r);
    let fix = if resource == "memory" {
        "Set the memory request to the container's real use, so the scheduler places it on a node with room and it is not first in line for eviction."
    } else {
        "Limit the pod's local disk use (emptyDir sizeLimit, log volume) and set an ephemeral-storage request."
    };
    Diagnosis {
        rule: "evicted",
        rank: 20,
        summary: format!(
            "Pod {} was evicted: its node ran low on {resource}.",
            pod.name
        ),
        root_cause: format!(
            "The kubelet evicted pod {} under node pressure on {resource}. {message}",
            pod.name
        ),
        confidence: Confidence::High,
        impact: format!(
            "Pod {} was stopped and had to be replaced on another node.",
            pod.name
        ),
        evidence_ids: ids(&pod.id, events.iter().map(|e| e.id.as_str())),
        remediation: vec![
            fix.to_owned(),
            format!(
                "Delete the evicted pod objects once understood: kubectl delete pod -n {} {}",
                b.target.namespace, pod.name
            ),
        ],
        follow_ups: vec!["Alert on node memory and disk pressure conditions.".into()],
    }
}
