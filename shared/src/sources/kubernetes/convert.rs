//! Kubernetes objects to evidence items: pure functions, tested on real API answers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{self as core, Event, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, OwnerReference, Time};

use crate::evidence::{
    Condition, ContainerEvidence, ContainerState, EventGroup, ObjectRef, PodEvidence,
    RolloutStatus, Termination,
};
use crate::sources::{Window, truncate_text};

pub(super) fn time(t: &Time) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.0.as_millisecond())
}

fn micro(t: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(t.0.as_millisecond())
}

fn count(n: Option<i32>) -> u32 {
    n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

/// The controlling owner of an object.
pub(super) fn controller(owners: Option<&Vec<OwnerReference>>) -> Option<ObjectRef> {
    owners?
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| ObjectRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        })
}

/// A pod's state; messages are cut to `line_bytes`.
pub(super) fn pod(pod: &Pod, line_bytes: usize) -> PodEvidence {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let specs: BTreeMap<&str, &core::Container> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| (c.name.as_str(), c)).collect())
        .unwrap_or_default();
    let statuses = status.container_statuses.unwrap_or_default();
    let mut containers: Vec<ContainerEvidence> = statuses
        .iter()
        .map(|s| container(s, specs.get(s.name.as_str()).copied(), line_bytes))
        .collect();
    // Containers without a status yet (a pod that was never scheduled) still matter.
    for (name, spec) in &specs {
        if !containers.iter().any(|c| c.name == *name) {
            let mut c = container(&core::ContainerStatus::default(), Some(spec), line_bytes);
            (*name).clone_into(&mut c.name);
            c.image.clone_from(&spec.image);
            containers.push(c);
        }
    }
    PodEvidence {
        id: format!("pod/{name}"),
        name,
        phase: status.phase.unwrap_or_else(|| "Unknown".into()),
        node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        owner: controller(pod.metadata.owner_references.as_ref()),
        conditions: status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                condition(
                    c.type_,
                    c.status,
                    c.reason,
                    c.message,
                    c.last_transition_time.as_ref(),
                    line_bytes,
                )
            })
            .collect(),
        containers,
        reason: status.reason,
        message: status.message.map(|mut m| {
            truncate_text(&mut m, line_bytes);
            m
        }),
    }
}

fn condition(
    type_: String,
    status: String,
    reason: Option<String>,
    message: Option<String>,
    last_transition: Option<&Time>,
    line_bytes: usize,
) -> Condition {
    Condition {
        type_,
        status,
        reason,
        message: message.map(|mut m| {
            truncate_text(&mut m, line_bytes);
            m
        }),
        last_transition: last_transition.and_then(time),
    }
}

fn container(
    status: &core::ContainerStatus,
    spec: Option<&core::Container>,
    line_bytes: usize,
) -> ContainerEvidence {
    let quantities = |pick: fn(
        &core::ResourceRequirements,
    ) -> Option<
        &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| {
        spec.and_then(|s| s.resources.as_ref())
            .and_then(pick)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
            .unwrap_or_default()
    };
    let state = match status.state.as_ref() {
        Some(core::ContainerState {
            waiting: Some(w), ..
        }) => ContainerState::Waiting {
            reason: w.reason.clone(),
            message: w.message.clone().map(|mut m| {
                truncate_text(&mut m, line_bytes);
                m
            }),
        },
        Some(core::ContainerState {
            running: Some(r), ..
        }) => ContainerState::Running {
            started_at: r.started_at.as_ref().and_then(time),
        },
        Some(core::ContainerState {
            terminated: Some(t),
            ..
        }) => ContainerState::Terminated(termination(t, line_bytes)),
        _ => ContainerState::Unknown,
    };
    ContainerEvidence {
        name: status.name.clone(),
        image: Some(status.image.clone()).filter(|i| !i.is_empty()),
        ready: status.ready,
        restart_count: u32::try_from(status.restart_count).unwrap_or(0),
        state,
        last_termination: status
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .map(|t| termination(t, line_bytes)),
        requests: quantities(|r| r.requests.as_ref()),
        limits: quantities(|r| r.limits.as_ref()),
        previous_logs: Vec::new(),
    }
}

fn termination(t: &core::ContainerStateTerminated, line_bytes: usize) -> Termination {
    Termination {
        reason: t.reason.clone(),
        exit_code: Some(t.exit_code),
        signal: t.signal,
        message: t.message.clone().map(|mut m| {
            truncate_text(&mut m, line_bytes);
            m
        }),
        started_at: t.started_at.as_ref().and_then(time),
        finished_at: t.finished_at.as_ref().and_then(time),
    }
}

/// Whether a pod needs attention: it sorts first and its crashed containers' previous
/// logs are worth fetching.
pub(super) fn unhealthy(p: &PodEvidence) -> bool {
    !matches!(p.phase.as_str(), "Running" | "Succeeded")
        || p.containers.iter().any(|c| !c.ready || c.restart_count > 0)
}

/// Containers whose previous run crashed.
pub(super) fn crashed(p: &PodEvidence) -> Vec<String> {
    p.containers
        .iter()
        .filter(|c| c.restart_count > 0 && c.last_termination.is_some())
        .map(|c| c.name.clone())
        .collect()
}

/// (count, first seen, last seen) from either event shape: the core/v1
/// `count`/`firstTimestamp`/`lastTimestamp`, or the events.k8s.io
/// `series`/`eventTime` that newer reporters write through the same API.
pub(super) fn occurrences(e: &Event) -> (u64, Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let created = e.metadata.creation_timestamp.as_ref().and_then(time);
    let event_time = e.event_time.as_ref().and_then(micro);
    if let Some(series) = &e.series {
        let first = event_time
            .or_else(|| e.first_timestamp.as_ref().and_then(time))
            .or(created);
        let last = series.last_observed_time.as_ref().and_then(micro).or(first);
        return (u64::from(count(series.count).max(1)), first, last);
    }
    let first = e
        .first_timestamp
        .as_ref()
        .and_then(time)
        .or(event_time)
        .or(created);
    let last = e
        .last_timestamp
        .as_ref()
        .and_then(time)
        .or(event_time)
        .or(first);
    (u64::from(count(e.count).max(1)), first, last)
}

/// Events in the window grouped by (reason, object): warnings first, then the most
/// recent; at most `cap` groups, the rest counted in the second value.
pub(super) fn aggregate(
    events: impl IntoIterator<Item = Event>,
    window: &Window,
    cap: usize,
    line_bytes: usize,
) -> (Vec<EventGroup>, u64) {
    let mut groups: BTreeMap<(String, String, String), EventGroup> = BTreeMap::new();
    for e in events {
        let (n, first, last) = occurrences(&e);
        if !window.overlaps(first, last) {
            continue;
        }
        let reason = e.reason.clone().unwrap_or_default();
        let object = ObjectRef {
            kind: e.involved_object.kind.clone().unwrap_or_default(),
            name: e.involved_object.name.clone().unwrap_or_default(),
        };
        let key = (reason.clone(), object.kind.clone(), object.name.clone());
        let mut message = e.message.clone().unwrap_or_default();
        truncate_text(&mut message, line_bytes);
        let type_ = e.type_.clone().unwrap_or_else(|| "Normal".into());
        let group = groups.entry(key).or_insert_with(|| EventGroup {
            id: String::new(),
            type_: type_.clone(),
            reason,
            object,
            message: message.clone(),
            count: 0,
            first_seen: first,
            last_seen: last,
        });
        group.count += n;
        if type_ == "Warning" {
            group.type_ = type_;
        }
        group.first_seen = min_opt(group.first_seen, first);
        if last >= group.last_seen {
            group.last_seen = last;
            group.message = message;
        }
    }
    let mut list: Vec<EventGroup> = groups.into_values().collect();
    list.sort_by(|a, b| {
        (b.type_ == "Warning")
            .cmp(&(a.type_ == "Warning"))
            .then(b.last_seen.cmp(&a.last_seen))
    });
    let dropped = list.len().saturating_sub(cap) as u64;
    list.truncate(cap);
    (list, dropped)
}

fn min_opt(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Deployments and StatefulSets report their rollout in fields of the same names but
/// of different types, so one macro converts both.
macro_rules! rollout {
    ($object:expr, $kind:literal, $line_bytes:expr) => {{
        let object = $object;
        let name = object.metadata.name.clone().unwrap_or_default();
        let status = object.status.clone().unwrap_or_default();
        RolloutStatus {
            id: format!("rollout/{name}"),
            object: ObjectRef {
                kind: $kind.into(),
                name,
            },
            desired: count(object.spec.replicas.or(Some(1))),
            updated: count(status.updated_replicas),
            ready: count(status.ready_replicas),
            available: count(status.available_replicas),
            conditions: status
                .conditions
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    condition(
                        c.type_.unwrap_or_default(),
                        c.status.unwrap_or_default(),
                        c.reason,
                        c.message,
                        c.last_transition_time.as_ref(),
                        $line_bytes,
                    )
                })
                .collect(),
        }
    }};
}

/// A Deployment's rollout.
pub(super) fn deployment(d: &Deployment, line_bytes: usize) -> RolloutStatus {
    rollout!(d, "Deployment", line_bytes)
}

/// A StatefulSet's rollout.
pub(super) fn stateful_set(s: &StatefulSet, line_bytes: usize) -> RolloutStatus {
    rollout!(s, "StatefulSet", line_bytes)
}
