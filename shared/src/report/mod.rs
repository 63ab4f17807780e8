//! The RCA report: what a user actually reads, committed to their Git repository.
//!
//! - [`render()`]: markdown with YAML front matter from an [`EvidenceBundle`] and its
//!   [`Analysis`], through a template, then through the redactor. Deterministic: the
//!   same inputs give the same bytes, so a re-run changes nothing.
//! - [`timeline`]: the incident timeline derived from the bundle, as mermaid and a table.
//! - [`index`]: the `rca/README.md` table of reports, newest first.
//! - [`path`]: where a report goes (`AIOPS_REPORT_PATH`).
//! - [`sink`]: the `ReportSink` port, with GitHub (octocrab) and local git adapters.

pub mod index;
pub mod path;
mod render;
pub mod sink;
pub mod timeline;

use crate::config::{ConfigError, Env};
use crate::error::{Classify, ErrorKind};
use crate::victorialogs::Endpoint;

pub use index::{INDEX_PATH, IndexEntry};
pub use path::PathPattern;
pub use render::{Report, bundle_digest, render};

/// How reports are rendered and where in the repository they go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportConfig {
    /// `AIOPS_BACKSTAGE_UI_URL`: Backstage's web UI, for the entity link. Unset: no link.
    pub backstage_ui_url: Option<String>,
    /// `AIOPS_VICTORIALOGS_URL`: for a query link over the window, without the URL's
    /// credentials. Unset: no link.
    pub victorialogs_url: Option<Endpoint>,
    /// `AIOPS_REPORT_PATH`: the report's path in the repository.
    pub path: PathPattern,
}

impl ReportConfig {
    /// Reads `AIOPS_BACKSTAGE_UI_URL`, `AIOPS_VICTORIALOGS_URL` and `AIOPS_REPORT_PATH`.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let url = |var: &str| -> Result<Option<String>, ConfigError> {
            env.get(var)
                .map(|raw| {
                    let raw = raw.trim().trim_end_matches('/').to_owned();
                    reqwest::Url::parse(&raw)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https"))
                        .map(|_| raw)
                        .ok_or_else(|| {
                            ConfigError::invalid(var, "an http:// or https:// URL", None)
                        })
                })
                .transpose()
        };
        let path = match env.get("AIOPS_REPORT_PATH") {
            Some(raw) => PathPattern::parse(&raw)
                .map_err(|e| ConfigError::invalid("AIOPS_REPORT_PATH", path::EXPECTED, Some(e)))?,
            None => PathPattern::default(),
        };
        Ok(Self {
            backstage_ui_url: url("AIOPS_BACKSTAGE_UI_URL")?,
            victorialogs_url: Endpoint::from_env(env)?,
            path,
        })
    }
}

/// Why a report could not be rendered or committed.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The bundle or analysis cannot make a report; names the field.
    #[error("invalid input: {field}: expected {expected}")]
    Invalid {
        /// Dotted path of the field (`analysis.run_id`).
        field: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// The template failed (a bug in the template, not in the input).
    #[error("rendering the report failed: {0}")]
    Template(#[from] minijinja::Error),
    /// The repository refused for lack of a permission.
    #[error(
        "{repo}: permission denied: the credential needs `{permission}` on this repository ({detail})"
    )]
    Permission {
        /// `owner/name`.
        repo: String,
        /// The permission the call needs (`contents: write`).
        permission: &'static str,
        /// GitHub's message.
        detail: String,
    },
    /// The repository or branch does not exist, or the credential cannot see it.
    #[error("{repo}: {what} not found (or not visible to the credential)")]
    NotFound {
        /// `owner/name`.
        repo: String,
        /// `repository`, `branch main`.
        what: String,
    },
    /// The branch kept moving under us.
    #[error("{repo}: gave up after {attempts} attempts: the branch {branch} kept changing")]
    Contended {
        /// `owner/name` or the local path.
        repo: String,
        /// The branch.
        branch: String,
        /// Attempts made.
        attempts: u32,
    },
    /// GitHub answered with an error.
    #[error("{repo}: GitHub {operation} failed{}: {message}", status.map(|s| format!(" ({s})")).unwrap_or_default())]
    GitHub {
        /// `owner/name`.
        repo: String,
        /// What was being done (`get ref`, `create tree`).
        operation: &'static str,
        /// HTTP status, when there was an answer.
        status: Option<u16>,
        /// GitHub's message or the transport error.
        message: String,
        /// Whether the same call may succeed later (5xx, 429, rate limit, transport).
        retryable: bool,
    },
    /// A `git` command failed in the local repository.
    #[error("{repo}: `git {command}` failed: {stderr}")]
    Git {
        /// The local repository.
        repo: String,
        /// The git subcommand.
        command: String,
        /// What git said.
        stderr: String,
    },
    /// A local file or process could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file or program involved.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl ReportError {
    pub(crate) fn invalid(field: impl Into<String>, expected: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            expected: expected.into(),
        }
    }
}

impl Classify for ReportError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_)
            | Self::Invalid { .. }
            | Self::Permission { .. }
            | Self::NotFound { .. }
            | Self::GitHub {
                status: Some(401 | 403 | 404),
                ..
            } => ErrorKind::Invalid,
            Self::Template(_)
            | Self::Contended { .. }
            | Self::GitHub { .. }
            | Self::Git { .. }
            | Self::Io { .. } => ErrorKind::Dependency,
        }
    }

    fn is_retryable(&self) -> bool {
        match self {
            Self::GitHub { retryable, .. } => *retryable,
            Self::Template(_) => false,
            other => other.kind() == ErrorKind::Dependency,
        }
    }
}
