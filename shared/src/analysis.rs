//! The result of the analysis step: one schema whether it came from an LLM or from the
//! built-in analyzers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How sure the analysis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// A plausible lead.
    Low,
    /// Supported by evidence, alternatives not ruled out.
    Medium,
    /// Directly shown by the evidence.
    High,
}

/// What produced the analysis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Analyzer {
    /// A language model.
    Llm {
        /// `openai`, `anthropic`.
        provider: String,
        /// Model name.
        model: String,
    },
    /// The rule-based analyzers.
    Builtin,
}

/// A root-cause analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// The run analysed.
    pub run_id: String,
    /// What produced it.
    pub analyzer: Analyzer,
    /// Built-in or fallback result, to be upgraded by a later LLM run.
    pub preliminary: bool,
    /// False when the LLM's answer could not be parsed into the schema; `raw_text` then
    /// holds it.
    #[serde(default = "yes")]
    pub structured: bool,
    /// One or two sentences.
    pub summary: String,
    /// The root cause.
    pub root_cause: String,
    /// How sure.
    pub confidence: Confidence,
    /// Who or what is affected.
    #[serde(default)]
    pub impact: String,
    /// Evidence ids the analysis relies on.
    #[serde(default)]
    pub evidence_ids: Vec<String>,
    /// Cited ids that are not in the bundle (a guard against invented evidence).
    #[serde(default)]
    pub unknown_evidence_ids: Vec<String>,
    /// Steps to fix it, in order.
    #[serde(default)]
    pub remediation: Vec<String>,
    /// Follow-ups to prevent a recurrence.
    #[serde(default)]
    pub follow_ups: Vec<String>,
    /// The model's text when it was not structured.
    #[serde(default)]
    pub raw_text: Option<String>,
    /// What the prompt left out to stay within the token budget.
    #[serde(default)]
    pub omitted: Vec<String>,
    /// Why the built-in analyzers answered instead of the LLM (breaker open, provider
    /// failed); `None` when the LLM answered or none is configured.
    #[serde(default)]
    pub fallback_reason: Option<String>,
    /// The nightly job should re-run this analysis with the LLM.
    #[serde(default)]
    pub needs_rerun: bool,
    /// When the analysis was produced.
    pub generated_at: DateTime<Utc>,
}

fn yes() -> bool {
    true
}

impl Analysis {
    /// The store key an analysis is kept under.
    pub fn store_key(run_id: &str) -> String {
        format!("analyses/{run_id}.json")
    }

    /// Fills `unknown_evidence_ids` from the bundle: cited ids the bundle does not hold.
    pub fn flag_unknown_citations(&mut self, bundle: &crate::evidence::EvidenceBundle) {
        let known = bundle.evidence_ids();
        self.unknown_evidence_ids = self
            .evidence_ids
            .iter()
            .filter(|id| !known.contains(id.as_str()))
            .cloned()
            .collect();
    }
}
