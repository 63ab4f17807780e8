//! The built-in analyzers: rule-based root causes from the evidence, in the same
//! [`Analysis`] schema as an LLM's answer. They answer when no LLM is configured, and
//! stand in (marked preliminary) when the LLM is unavailable.
//!
//! Each rule looks for one well-known failure pattern and cites the evidence ids it
//! used. The most specific finding leads; the others follow as contributing findings.

mod changes;
mod health;
mod objects;
mod pods;
mod scheduling;
pub mod signatures;

use chrono::{DateTime, Utc};
use std::fmt::Write as _;

use crate::analysis::{Analysis, Analyzer, Confidence};
use crate::evidence::EvidenceBundle;

/// One rule's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The rule (`crash_loop`, `oom_killed`, …).
    pub rule: &'static str,
    /// Lower leads: causes before symptoms (a missing Secret before the stuck rollout).
    pub rank: u8,
    /// One sentence.
    pub summary: String,
    /// The cause, with the numbers that show it.
    pub root_cause: String,
    /// How directly the evidence shows it.
    pub confidence: Confidence,
    /// What is affected.
    pub impact: String,
    /// Evidence used.
    pub evidence_ids: Vec<String>,
    /// Steps to fix it.
    pub remediation: Vec<String>,
    /// Steps to prevent a recurrence.
    pub follow_ups: Vec<String>,
}

/// Every rule's findings for `bundle`, most specific first.
pub fn diagnose(bundle: &EvidenceBundle) -> Vec<Diagnosis> {
    let mut all = Vec::new();
    pods::run(bundle, &mut all);
    scheduling::run(bundle, &mut all);
    health::run(bundle, &mut all);
    signatures::run(bundle, &mut all);
    objects::run(bundle, &mut all);
    all.sort_by(|a, b| (a.rank, &a.evidence_ids).cmp(&(b.rank, &b.evidence_ids)));
    changes::run(bundle, &mut all);
    all
}

/// Every rule the built-in analyzers know, for scorecards and documentation.
pub const RULES: &[&str] = &[
    "changed_revision",
    "pvc_pending",
    "quota_exceeded",
    "image_pull",
    "create_container_config_error",
    "log_signature",
    "readiness_dependency",
    "liveness_kill",
    "oom_killed",
    "node_not_ready",
    "node_pressure",
    "evicted",
    "ingress_backend_missing",
    "service_selector_mismatch",
    "job_failed",
    "crash_loop",
    "failed_scheduling",
    "failed_mount",
    "failing_probe",
    "hpa_at_max",
    "service_no_ready_endpoints",
    "stuck_rollout",
    "k8sgpt",
];

/// The built-in analysis of `bundle`: preliminary, with no fallback reason (the caller
/// sets one when the built-ins stand in for a failed LLM).
pub fn analyze(bundle: &EvidenceBundle, now: DateTime<Utc>) -> Analysis {
    let found = diagnose(bundle);
    let mut analysis = match found.split_first() {
        None => nothing_found(bundle, now),
        Some((lead, rest)) => {
            let mut root_cause = lead.root_cause.clone();
            for other in rest {
                root_cause.push_str("\nAlso found: ");
                root_cause.push_str(&other.summary);
            }
            let mut a = base(
                bundle,
                now,
                lead.summary.clone(),
                root_cause,
                lead.confidence,
            );
            a.impact.clone_from(&lead.impact);
            for d in &found {
                push_unique(&mut a.evidence_ids, &d.evidence_ids);
                push_unique(&mut a.remediation, &d.remediation);
                push_unique(&mut a.follow_ups, &d.follow_ups);
            }
            a
        }
    };
    analysis.flag_unknown_citations(bundle);
    analysis
}

fn base(
    bundle: &EvidenceBundle,
    now: DateTime<Utc>,
    summary: String,
    root_cause: String,
    confidence: Confidence,
) -> Analysis {
    Analysis {
        run_id: bundle.run_id.clone(),
        analyzer: Analyzer::Builtin,
        preliminary: true,
        structured: true,
        summary,
        root_cause,
        confidence,
        impact: String::new(),
        evidence_ids: Vec::new(),
        unknown_evidence_ids: Vec::new(),
        remediation: Vec::new(),
        follow_ups: Vec::new(),
        raw_text: None,
        omitted: Vec::new(),
        fallback_reason: None,
        needs_rerun: false,
        generated_at: now,
    }
}

fn nothing_found(bundle: &EvidenceBundle, now: DateTime<Utc>) -> Analysis {
    let warnings: Vec<&crate::evidence::EventGroup> = bundle
        .events
        .iter()
        .filter(|e| e.type_ == "Warning")
        .take(5)
        .collect();
    let mut root_cause =
        "None of the built-in rules matched the evidence; the cause needs a closer look."
            .to_owned();
    let o = &bundle.objects;
    let _ = write!(
        root_cause,
        "\nChecked: {} pods (container states, terminations, probes), {} event groups, {} log lines \
         (decisive signatures), {} rollouts and {} revisions (what changed), {} jobs, {} services \
         (endpoints, selectors), {} ingresses, {} volume claims, {} nodes, {} autoscalers, {} quotas \
         and {} k8sgpt findings, against the rules {}.",
        bundle.pods.len(),
        bundle.events.len(),
        bundle.logs.len(),
        bundle.rollouts.len(),
        o.revisions.len(),
        o.jobs.len(),
        o.services.len(),
        o.ingresses.len(),
        o.volume_claims.len(),
        o.nodes.len(),
        o.autoscalers.len(),
        o.quotas.len(),
        bundle.findings.len(),
        RULES.join(", ")
    );
    for (name, s) in bundle
        .sources
        .iter()
        .filter(|(_, s)| s.status != crate::evidence::SourceState::Ok)
    {
        let _ = write!(
            root_cause,
            "\nNot seen: the {name} source was {:?}{}.",
            s.status,
            s.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    for e in &warnings {
        let _ = write!(
            root_cause,
            "\nWarning [{}] {} on {}/{}: {}",
            e.id, e.reason, e.object.kind, e.object.name, e.message
        );
    }
    let mut a = base(
        bundle,
        now,
        format!(
            "No known failure pattern found for {}.",
            bundle.target.entity
        ),
        root_cause,
        Confidence::Low,
    );
    a.evidence_ids = warnings.iter().map(|e| e.id.clone()).collect();
    a.follow_ups = vec![
        "Re-run the analysis with an LLM provider configured for a deeper reading of the logs."
            .into(),
    ];
    a
}

fn push_unique(into: &mut Vec<String>, from: &[String]) {
    for item in from {
        if !into.contains(item) {
            into.push(item.clone());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
