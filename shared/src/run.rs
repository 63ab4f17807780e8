//! The run record (`runs/<run-id>.json`): what was asked, by whom, and how far it got.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Accepted, not started.
    Queued,
    /// A step is running.
    Running,
    /// The report is committed.
    Succeeded,
    /// A step failed after its retries; `error` says which and why.
    Failed,
    /// The policy refused the request.
    Denied,
}

/// The committed report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportRef {
    /// `owner/name` on GitHub, or the local repository's path.
    pub repo: String,
    /// Path of the report in the repository.
    pub path: String,
    /// Commit SHA that holds this version of the report.
    pub commit: String,
    /// A URL to view it (GitHub blob URL, or a `file://` URL locally).
    pub url: String,
}

/// A run record, as in the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id.
    pub id: String,
    /// The request as received.
    pub request: serde_json::Value,
    /// The principal who asked (`user:default/jane`, `local:<os user>`).
    pub requested_by: String,
    /// Where the run stands.
    pub status: RunStatus,
    /// The current or last step (`policy-check`, `collect-evidence`, …).
    #[serde(default)]
    pub step: Option<String>,
    /// Attempts of the current step.
    #[serde(default)]
    pub attempts: u32,
    /// The failure, when `status` is `failed` or `denied`.
    #[serde(default)]
    pub error: Option<String>,
    /// The report came from the built-in analyzers and awaits an LLM re-run.
    #[serde(default)]
    pub preliminary: bool,
    /// Store key of the evidence bundle.
    #[serde(default)]
    pub evidence_key: Option<String>,
    /// The committed report.
    #[serde(default)]
    pub report: Option<ReportRef>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update.
    pub updated_at: DateTime<Utc>,
}

impl RunRecord {
    /// The store key the record is kept under.
    pub fn store_key(run_id: &str) -> String {
        format!("runs/{run_id}.json")
    }
}
