//! The `ReportSink` port: commit a rendered report and the updated index together, in
//! one commit, idempotently. Adapters: GitHub through octocrab ([`GitHubSink`]), and a
//! local git repository through the `git` binary ([`LocalGitSink`]), the default.

mod config;
mod github;
mod local;

use std::sync::Arc;

use async_trait::async_trait;

use crate::run::ReportRef;

use super::{Report, ReportError};

pub use config::{GitAuthor, GitHubAuth, GitHubConfig, LocalGitConfig, SinkConfig};
pub use github::GitHubSink;
pub use local::LocalGitSink;

/// The outcome of a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Where the report is, at the commit that holds this content.
    pub report: ReportRef,
    /// False when the branch already held exactly this report and index.
    pub committed: bool,
    /// The pull request, in pull-request mode.
    pub pull_request: Option<String>,
}

/// Commits reports.
#[async_trait]
pub trait ReportSink: Send + Sync + std::fmt::Debug {
    /// Commits `report` and the index updated with its row, in one commit, unless the
    /// destination already holds both exactly (then nothing is written).
    async fn publish(&self, report: &Report) -> Result<Published, ReportError>;
}

/// A sink handle as carried in a context.
pub type SharedSink = Arc<dyn ReportSink>;

impl SinkConfig {
    /// Builds the configured sink. GitHub App credentials are exchanged for an
    /// installation token here (looking the installation up when not configured).
    pub async fn open(&self) -> Result<SharedSink, ReportError> {
        match self {
            Self::GitHub(cfg) => Ok(Arc::new(GitHubSink::connect(cfg).await?)),
            Self::Local(cfg) => Ok(Arc::new(LocalGitSink::new(cfg.clone()))),
        }
    }
}
