//! The `ReportSink` port: commit files to the report repository, idempotently, in one
//! commit. [`ReportSink::publish`] commits a rendered report and the updated index
//! together; [`ReportSink::commit_files`] commits any set of files (the ZITADEL group
//! sync's catalog file). Both go through the one commit path of each adapter: GitHub
//! through octocrab ([`GitHubSink`]), and a local git repository through the `git`
//! binary ([`LocalGitSink`]), the default.

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

/// Files to commit together, with the commit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// `(path in the repository, full content)`; paths use `/`.
    pub files: Vec<(String, String)>,
    /// The commit message.
    pub message: String,
}

/// The outcome of [`ReportSink::commit_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// `owner/name`, or the local repository's path.
    pub repo: String,
    /// The branch written to (GitHub), `None` for the local repository's current branch.
    pub branch: Option<String>,
    /// The commit that holds these contents: the new one, or the head when unchanged.
    pub commit: String,
    /// False when the destination already held exactly these contents.
    pub committed: bool,
}

/// The new content of one path of a commit.
#[derive(Clone, Copy)]
pub(crate) enum Content<'a> {
    /// Exactly this.
    Exact(&'a str),
    /// Built from the content at the head (`None`: no such file), once per attempt,
    /// so a merge (the report index) is redone on a branch that moved.
    Merge(&'a (dyn Fn(Option<&str>) -> String + Send + Sync)),
}

/// Decides what a commit writes: every `Merge` path is read and built first, then the
/// `Exact` paths are read only while nothing differs yet (a changed file is written
/// anyway). `None` when the head already holds every content exactly.
pub(crate) async fn plan<'a, F, Fut>(
    files: &[(&'a str, Content<'_>)],
    mut read: F,
) -> Result<Option<Vec<(&'a str, String)>>, ReportError>
where
    F: FnMut(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<Option<String>, ReportError>>,
{
    let mut new: Vec<Option<String>> = vec![None; files.len()];
    let mut changed = false;
    for (i, (path, content)) in files.iter().enumerate() {
        if let Content::Merge(build) = content {
            let old = read(path).await?;
            let built = build(old.as_deref());
            changed |= old.as_deref() != Some(built.as_str());
            new[i] = Some(built);
        }
    }
    for (i, (path, content)) in files.iter().enumerate() {
        if let Content::Exact(text) = content {
            if !changed {
                changed = read(path).await?.as_deref() != Some(*text);
            }
            new[i] = Some((*text).to_owned());
        }
    }
    Ok(changed.then(|| {
        files
            .iter()
            .zip(new)
            .map(|((path, _), content)| (*path, content.unwrap_or_default()))
            .collect()
    }))
}

/// Commits reports and other files to the report repository.
#[async_trait]
pub trait ReportSink: Send + Sync + std::fmt::Debug {
    /// Commits `report` and the index updated with its row, in one commit, unless the
    /// destination already holds both exactly (then nothing is written).
    async fn publish(&self, report: &Report) -> Result<Published, ReportError>;

    /// Commits `change.files` in one commit, unless the destination already holds
    /// exactly these contents (then nothing is written). On GitHub this writes the
    /// base branch directly, also in pull-request mode.
    async fn commit_files(&self, change: &FileChange) -> Result<Committed, ReportError>;

    /// The content of `path` where [`commit_files`](Self::commit_files) writes it (the
    /// local repository's HEAD, GitHub's base branch); `None` when there is no such
    /// file (or no commit yet).
    async fn read_file(&self, path: &str) -> Result<Option<String>, ReportError>;
}

/// Refuses paths that would leave the repository or that git cannot hold.
pub(crate) fn check_paths(change: &FileChange) -> Result<(), ReportError> {
    if change.files.is_empty() {
        return Err(ReportError::invalid("files", "at least one file to commit"));
    }
    for (path, _) in &change.files {
        let bad = path.is_empty()
            || path.starts_with('/')
            || path.contains('\\')
            || path
                .split('/')
                .any(|s| s.is_empty() || s == "." || s == ".." || s == ".git");
        if bad {
            return Err(ReportError::invalid(
                "path",
                "a relative path inside the repository, '/'-separated, without '.', '..' or .git",
            ));
        }
    }
    if change.message.trim().is_empty() {
        return Err(ReportError::invalid("message", "a commit message"));
    }
    Ok(())
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
