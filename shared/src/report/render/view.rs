//! The view model: what the template shows, built from the bundle and the analysis.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::analysis::{Analysis, Analyzer, Confidence};
use crate::evidence::{ContainerState, EvidenceBundle, SourceState};

use super::super::ReportConfig;
use super::super::path::parse_entity_ref;
use super::super::timeline;
use super::digest::bundle_digest;

const CITED: &str = "★";

pub(super) fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[derive(Serialize)]
pub(super) struct View {
    run_id: String,
    entity: String,
    cluster: String,
    namespace: String,
    since: String,
    until: String,
    collected_at: String,
    generated_at: String,
    provider: Option<String>,
    model: Option<String>,
    preliminary: bool,
    structured: bool,
    fallback_reason: Option<String>,
    digest: String,
    summary: String,
    root_cause: String,
    confidence: &'static str,
    impact: String,
    raw_text: Option<String>,
    owner: Option<String>,
    mermaid: String,
    timeline: Vec<TimelineRow>,
    timeline_left_out: usize,
    pods: Vec<Vec<String>>,
    events: Vec<Vec<String>>,
    rollouts: Vec<Vec<String>>,
    logs: Vec<Vec<String>>,
    findings: Vec<Vec<String>>,
    remediation: Vec<String>,
    follow_ups: Vec<String>,
    links: Vec<LinkView>,
    objects: Vec<String>,
    unavailable: Vec<Vec<String>>,
    dropped: Vec<Vec<String>>,
    omitted: Vec<String>,
    unknown_evidence_ids: Vec<String>,
}

#[derive(Serialize)]
struct TimelineRow {
    time: String,
    id: String,
    text: String,
}

#[derive(Serialize)]
struct LinkView {
    title: String,
    url: String,
}

pub(super) fn build_view(
    bundle: &EvidenceBundle,
    analysis: &Analysis,
    config: &ReportConfig,
) -> View {
    let cited: BTreeSet<&str> = analysis.evidence_ids.iter().map(String::as_str).collect();
    let mark = |id: &str| {
        if cited.contains(id) {
            format!("{CITED} {id}")
        } else {
            id.to_owned()
        }
    };
    let (entries, timeline_left_out) = timeline::derive(bundle, analysis);
    let (provider, model) = match &analysis.analyzer {
        Analyzer::Llm { provider, model } => (Some(provider.clone()), Some(model.clone())),
        Analyzer::Builtin => (None, None),
    };
    let target = &bundle.target;
    View {
        run_id: bundle.run_id.clone(),
        entity: target.entity.clone(),
        cluster: target.cluster.clone(),
        namespace: target.namespace.clone(),
        since: time(Some(target.since)),
        until: time(Some(target.until)),
        collected_at: time(Some(bundle.collected_at)),
        generated_at: time(Some(analysis.generated_at)),
        provider,
        model,
        preliminary: analysis.preliminary,
        structured: analysis.structured,
        fallback_reason: analysis.fallback_reason.clone(),
        digest: bundle_digest(bundle),
        summary: analysis.summary.clone(),
        root_cause: analysis.root_cause.clone(),
        confidence: match analysis.confidence {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        },
        impact: analysis.impact.clone(),
        raw_text: analysis.raw_text.clone().filter(|_| !analysis.structured),
        owner: bundle.entity.as_ref().and_then(|e| e.owner.clone()),
        mermaid: timeline::mermaid(&entries, &|s| s.to_owned()),
        timeline: entries
            .iter()
            .map(|e| TimelineRow {
                time: time(Some(e.time)),
                id: mark(&e.evidence_id),
                text: e.text.clone(),
            })
            .collect(),
        timeline_left_out,
        pods: pod_rows(bundle, &mark),
        events: event_rows(bundle, &mark),
        rollouts: rollout_rows(bundle, &mark),
        logs: log_rows(bundle, analysis, &mark),
        findings: finding_rows(bundle, &mark),
        remediation: analysis.remediation.clone(),
        follow_ups: analysis.follow_ups.clone(),
        links: links(bundle, config),
        objects: objects(bundle),
        unavailable: unavailable_rows(bundle),
        dropped: dropped_rows(bundle),
        omitted: analysis.omitted.clone(),
        unknown_evidence_ids: analysis.unknown_evidence_ids.clone(),
    }
}

fn pod_rows(bundle: &EvidenceBundle, mark: &dyn Fn(&str) -> String) -> Vec<Vec<String>> {
    bundle
        .pods
        .iter()
        .map(|p| {
            let restarts: u32 = p.containers.iter().map(|c| c.restart_count).sum();
            let states = p
                .containers
                .iter()
                .map(|c| format!("{}: {}", c.name, container_state(&c.state)))
                .collect::<Vec<_>>()
                .join("; ");
            let last = p
                .containers
                .iter()
                .filter_map(|c| {
                    c.last_termination.as_ref().map(|t| {
                        format!(
                            "{}: {}{}",
                            c.name,
                            t.reason.as_deref().unwrap_or("terminated"),
                            t.exit_code
                                .map(|x| format!(" (exit {x})"))
                                .unwrap_or_default()
                        )
                    })
                })
                .collect::<Vec<_>>()
                .join("; ");
            let reason = [p.reason.as_deref(), p.message.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            vec![
                mark(&p.id),
                p.phase.clone(),
                p.node.clone().unwrap_or_default(),
                states,
                restarts.to_string(),
                last,
                reason,
            ]
        })
        .collect()
}

/// Events by when they began (then when they last happened), not by id.
fn event_rows(bundle: &EvidenceBundle, mark: &dyn Fn(&str) -> String) -> Vec<Vec<String>> {
    let mut events: Vec<&crate::evidence::EventGroup> = bundle.events.iter().collect();
    events.sort_by_key(|e| (e.first_seen.or(e.last_seen), e.last_seen));
    events
        .into_iter()
        .map(|e| {
            vec![
                mark(&e.id),
                e.type_.clone(),
                e.reason.clone(),
                format!("{}/{}", e.object.kind, e.object.name),
                e.count.to_string(),
                time(e.first_seen),
                time(e.last_seen),
                e.message.clone(),
            ]
        })
        .collect()
}

fn rollout_rows(bundle: &EvidenceBundle, mark: &dyn Fn(&str) -> String) -> Vec<Vec<String>> {
    bundle
        .rollouts
        .iter()
        .map(|r| {
            let conditions = r
                .conditions
                .iter()
                .map(|c| {
                    format!(
                        "{}={}{}",
                        c.type_,
                        c.status,
                        c.reason
                            .as_deref()
                            .map(|x| format!(" ({x})"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            vec![
                mark(&r.id),
                format!("{}/{}", r.object.kind, r.object.name),
                format!("{}/{}/{}/{}", r.desired, r.updated, r.ready, r.available),
                conditions,
            ]
        })
        .collect()
}

fn log_rows(
    bundle: &EvidenceBundle,
    analysis: &Analysis,
    mark: &dyn Fn(&str) -> String,
) -> Vec<Vec<String>> {
    timeline::decisive_logs(bundle, analysis)
        .into_iter()
        .map(|l| {
            vec![
                mark(&l.id),
                time(l.time),
                [l.pod.as_deref(), l.container.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("/"),
                l.level.clone().unwrap_or_default(),
                l.message.clone(),
            ]
        })
        .collect()
}

fn finding_rows(bundle: &EvidenceBundle, mark: &dyn Fn(&str) -> String) -> Vec<Vec<String>> {
    bundle
        .findings
        .iter()
        .map(|f| {
            vec![
                mark(&f.id),
                format!("{}/{}", f.kind, f.name),
                f.errors.join("; "),
                f.details.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

fn unavailable_rows(bundle: &EvidenceBundle) -> Vec<Vec<String>> {
    bundle
        .sources
        .iter()
        .filter(|(_, s)| s.status != SourceState::Ok || s.error.is_some())
        .map(|(name, s)| {
            vec![
                name.clone(),
                match s.status {
                    SourceState::Ok => "ok",
                    SourceState::Unavailable => "unavailable",
                    SourceState::Failed => "failed",
                    SourceState::Timeout => "timeout",
                    SourceState::Empty => "empty",
                }
                .to_owned(),
                s.error.clone().unwrap_or_default(),
            ]
        })
        .collect()
}

fn dropped_rows(bundle: &EvidenceBundle) -> Vec<Vec<String>> {
    bundle
        .sources
        .iter()
        .filter(|(_, s)| s.dropped_items > 0 || s.dropped_bytes > 0)
        .map(|(name, s)| {
            vec![
                name.clone(),
                s.items.to_string(),
                s.dropped_items.to_string(),
                s.dropped_bytes.to_string(),
            ]
        })
        .collect()
}

fn container_state(state: &ContainerState) -> String {
    match state {
        ContainerState::Waiting { reason, .. } => {
            format!("waiting ({})", reason.as_deref().unwrap_or("no reason"))
        }
        ContainerState::Running { .. } => "running".to_owned(),
        ContainerState::Terminated(t) => {
            format!(
                "terminated ({})",
                t.reason.as_deref().unwrap_or("no reason")
            )
        }
        ContainerState::Unknown => "unknown".to_owned(),
    }
}

fn links(bundle: &EvidenceBundle, config: &ReportConfig) -> Vec<LinkView> {
    let mut links = Vec::new();
    let entity = bundle
        .entity
        .as_ref()
        .map_or(bundle.target.entity.as_str(), |e| e.entity_ref.as_str());
    if let Some(base) = &config.backstage_ui_url {
        let (kind, namespace, name) = parse_entity_ref(entity);
        if let Ok(mut url) = reqwest::Url::parse(base) {
            if let Ok(mut segments) = url.path_segments_mut() {
                segments.pop_if_empty().extend([
                    "catalog",
                    namespace,
                    &kind.to_ascii_lowercase(),
                    name,
                ]);
            }
            links.push(LinkView {
                title: format!("Backstage: {entity}"),
                url: url.to_string(),
            });
        }
    }
    if let Some(endpoint) = &config.victorialogs_url {
        let mut url = endpoint.link("select/vmui/");
        let query = format!(
            "_time:[{}, {}] kubernetes.pod_namespace:={}",
            time(Some(bundle.target.since)),
            time(Some(bundle.target.until)),
            Value::String(bundle.target.namespace.clone())
        );
        url.query_pairs_mut().append_pair("query", &query);
        links.push(LinkView {
            title: format!("VictoriaLogs: {} over the window", bundle.target.namespace),
            url: url.to_string(),
        });
    }
    for link in bundle.entity.iter().flat_map(|e| &e.links) {
        links.push(LinkView {
            title: link.title.clone().unwrap_or_else(|| link.url.clone()),
            url: link.url.clone(),
        });
    }
    links
}

/// `kubectl` commands for the objects in the bundle, so a reader can look at them.
fn objects(bundle: &EvidenceBundle) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut add = |kind: &str, name: &str| {
        let object = format!("{}/{name}", kind.to_ascii_lowercase());
        if seen.insert(object.clone()) {
            let mut cmd = String::new();
            let _ = write!(
                cmd,
                "kubectl --context {} -n {} describe {object}",
                bundle.target.cluster, bundle.target.namespace
            );
            out.push(cmd);
        }
    };
    for r in &bundle.rollouts {
        add(&r.object.kind, &r.object.name);
    }
    for p in &bundle.pods {
        if let Some(owner) = &p.owner {
            add(&owner.kind, &owner.name);
        }
    }
    for p in &bundle.pods {
        add("Pod", &p.name);
    }
    out
}
