//! Rendering: a view of the bundle and analysis, redacted field by field, through the
//! embedded template, then through the redactor once more as a whole.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};
use minijinja::syntax::SyntaxConfig;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::analysis::{Analysis, Analyzer, Confidence};
use crate::evidence::{BUNDLE_SCHEMA, ContainerState, EvidenceBundle, SourceState};
use crate::redact::Redactor;

use super::index::IndexEntry;
use super::path::parse_entity_ref;
use super::timeline;
use super::{ReportConfig, ReportError};

const REPORT_TEMPLATE: &str = include_str!("templates/report.md.j2");
const CITED: &str = "★";

/// A rendered, redacted report, ready for a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The run.
    pub run_id: String,
    /// Path in the repository.
    pub path: String,
    /// The markdown, front matter included.
    pub markdown: String,
    /// The report's row in the index.
    pub entry: IndexEntry,
    /// Whether the analysis was preliminary.
    pub preliminary: bool,
    /// The commit message for this report.
    pub commit_message: String,
}

/// Renders the report for `bundle` and its `analysis`. The same inputs give the same
/// bytes: nothing here reads the clock or depends on hash order.
pub fn render(
    bundle: &EvidenceBundle,
    analysis: &Analysis,
    config: &ReportConfig,
    redactor: &Redactor,
) -> Result<Report, ReportError> {
    if bundle.schema != BUNDLE_SCHEMA {
        return Err(ReportError::invalid(
            "bundle.schema",
            format!("{BUNDLE_SCHEMA:?}"),
        ));
    }
    if analysis.run_id != bundle.run_id {
        return Err(ReportError::invalid(
            "analysis.run_id",
            format!("the bundle's run id {:?}", bundle.run_id),
        ));
    }
    let mut view = serde_json::to_value(build_view(bundle, analysis, config))
        .map_err(|e| ReportError::invalid("bundle", format!("serialisable evidence ({e})")))?;
    redact_strings(redactor, &mut view);
    let markdown = environment()
        .get_template("report.md")?
        .render(minijinja::value::Serde(&view))?;
    let markdown = redactor.redact_text(&markdown).into_owned();

    let path = config.path.path_for(bundle);
    let summary = redactor.redact_text(&analysis.summary).into_owned();
    let (_, _, name) = parse_entity_ref(&bundle.target.entity);
    let commit_message = redactor
        .redact_text(&format!(
            "rca({name}): {}{}\n\nRun {} in {}/{}.\n",
            first_line(&summary, 60),
            if analysis.preliminary {
                " [preliminary]"
            } else {
                ""
            },
            bundle.run_id,
            bundle.target.cluster,
            bundle.target.namespace,
        ))
        .into_owned();
    Ok(Report {
        run_id: bundle.run_id.clone(),
        entry: IndexEntry {
            date: bundle.collected_at.format("%Y-%m-%d").to_string(),
            entity: redactor.redact_text(&bundle.target.entity).into_owned(),
            summary,
            preliminary: analysis.preliminary,
            path: path.clone(),
        },
        path,
        markdown,
        preliminary: analysis.preliminary,
        commit_message,
    })
}

/// sha256 (hex) of the bundle's canonical JSON: keys sorted at every level, no
/// whitespace. Independent of field order and of serde_json's map implementation.
pub fn bundle_digest(bundle: &EvidenceBundle) -> String {
    let value = serde_json::to_value(bundle).unwrap_or(Value::Null);
    let mut text = String::new();
    canonical(&value, &mut text);
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn redact_strings(redactor: &Redactor, value: &mut Value) {
    match value {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(clean) = redactor.redact_text(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_strings(redactor, v)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_strings(redactor, v)),
        _ => {}
    }
}

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        match SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
        {
            Ok(syntax) => env.set_syntax(syntax),
            Err(e) => tracing::error!("the report template syntax settings are refused: {e}"),
        }
        env.add_filter("cell", |s: String| cell(&s));
        env.add_filter("text", |s: String| block_text(&s));
        env.add_filter("yaml", |s: String| Value::String(s).to_string());
        env.add_filter("code", |s: String| inline_code(&s));
        env.add_filter("fence", |s: String| fenced(&s));
        // The template is part of the binary; a syntax error is caught by every test.
        if let Err(e) = env.add_template("report.md", REPORT_TEMPLATE) {
            tracing::error!("the embedded report template does not parse: {e}");
        }
        env
    })
}

/// A markdown table cell: pipes escaped, newlines folded, HTML neutralised.
pub(crate) fn cell(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let escaped = folded
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;");
    if escaped.is_empty() {
        "–".to_owned()
    } else {
        escaped
    }
}

/// Free text as paragraphs that cannot open headings, fences, front matter or HTML.
fn block_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('<', "&lt;");
            let trimmed = line.trim_start();
            let starts_block = trimmed.starts_with('#')
                || trimmed.starts_with("```")
                || trimmed.starts_with("~~~")
                || trimmed.starts_with("---")
                || trimmed.starts_with("===");
            if starts_block {
                format!("\\{trimmed}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn longest_run(text: &str, c: char) -> usize {
    text.split(|x| x != c).map(str::len).max().unwrap_or(0)
}

fn inline_code(text: &str) -> String {
    let ticks = "`".repeat(longest_run(text, '`') + 1);
    format!("{ticks} {} {ticks}", cell(text).replace("\\\\", "\\"))
}

fn fenced(text: &str) -> String {
    let ticks = "`".repeat((longest_run(text, '`') + 1).max(3));
    format!("{ticks}text\n{}\n{ticks}", text.trim_end())
}

fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= max_chars {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(max_chars - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

fn time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[derive(Serialize)]
struct View {
    run_id: String,
    entity: String,
    cluster: String,
    namespace: String,
    since: String,
    until: String,
    collected_at: String,
    generated_at: String,
    analyzer: &'static str,
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

fn build_view(bundle: &EvidenceBundle, analysis: &Analysis, config: &ReportConfig) -> View {
    let cited: BTreeSet<&str> = analysis.evidence_ids.iter().map(String::as_str).collect();
    let mark = |id: &str| {
        if cited.contains(id) {
            format!("{CITED} {id}")
        } else {
            id.to_owned()
        }
    };
    let (entries, timeline_left_out) = timeline::derive(bundle, analysis);
    let (analyzer, provider, model) = match &analysis.analyzer {
        Analyzer::Llm { provider, model } => ("llm", Some(provider.clone()), Some(model.clone())),
        Analyzer::Builtin => ("builtin", None, None),
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
        analyzer,
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

fn event_rows(bundle: &EvidenceBundle, mark: &dyn Fn(&str) -> String) -> Vec<Vec<String>> {
    bundle
        .events
        .iter()
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
    if let Some(base) = &config.victorialogs_url
        && let Ok(mut url) = reqwest::Url::parse(&format!("{base}/select/vmui/"))
    {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_cells_escape_pipes_newlines_and_html() {
        assert_eq!(cell("a | b\nc  <x>"), "a \\| b c &lt;x>");
        assert_eq!(cell(""), "–");
    }

    #[test]
    fn block_text_cannot_open_headings_or_fences() {
        assert_eq!(
            block_text("ok\n## Fake\n```sh\n<b>"),
            "ok\n\\## Fake\n\\```sh\n&lt;b>"
        );
    }

    #[test]
    fn fences_and_code_spans_outgrow_backticks_inside() {
        assert_eq!(fenced("a ```` b"), "`````text\na ```` b\n`````");
        assert_eq!(inline_code("x `y` z"), "`` x `y` z ``");
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let mut out = String::new();
        canonical(
            &serde_json::json!({"b": [{"d": 1, "c": "x"}], "a": null}),
            &mut out,
        );
        assert_eq!(out, r#"{"a":null,"b":[{"c":"x","d":1}]}"#);
    }
}
