//! GitHub through octocrab and the Git Data API: one commit per change (a report with
//! the updated index, or any set of files) (get ref → get commit → read both files at the head → create
//! blobs → create tree on the base tree → create commit → update ref without force). A
//! branch that moved meanwhile (422 "Update is not a fast forward", 409) is re-read and
//! the commit rebuilt on the new head, a bounded number of times.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use octocrab::Octocrab;
use octocrab::models::AppId;
use octocrab::models::InstallationId;
use octocrab::models::repos::Object;
use octocrab::params::repos::Reference;
use serde::Deserialize;

use crate::report::index::{self, INDEX_PATH};
use crate::report::{Report, ReportError};
use crate::run::ReportRef;

use super::{
    Committed, Content, FileChange, GitHubAuth, GitHubConfig, Published, ReportSink, check_paths,
    plan,
};

const CONTENTS: &str = "contents: write";
const PULLS: &str = "pull_requests: write";

/// Commits reports to a GitHub (or GitHub Enterprise) repository.
#[derive(Debug)]
pub struct GitHubSink {
    crab: Octocrab,
    config: GitHubConfig,
}

#[derive(Deserialize)]
struct RepoInfo {
    default_branch: String,
}

#[derive(Deserialize)]
struct FileContent {
    #[serde(default)]
    content: String,
    #[serde(default)]
    encoding: String,
}

/// The state of the branch an attempt builds on.
struct Head {
    commit: String,
    tree: String,
    html_url: String,
}

impl GitHubSink {
    /// A client for `config`: token, or GitHub App credentials exchanged for an
    /// installation token (the installation looked up for the repository when not
    /// configured).
    pub async fn connect(config: &GitHubConfig) -> Result<Self, ReportError> {
        // The builder is not `Send`: it is used up in a plain function, so this future
        // can run on a multi-threaded runtime.
        let (crab, look_up_installation) = Self::client(config)?;
        let crab = if look_up_installation {
            let repo = config.repo();
            let id = crab
                .apps()
                .get_repository_installation(&config.owner, &config.name)
                .await
                .map_err(|e| {
                    gh_error(
                        &repo,
                        "installation lookup",
                        "installation on this repository",
                        &e,
                    )
                })?
                .id
                .0;
            crab.installation(InstallationId(id))
                .map_err(|e| Self::build_error(config, &e))?
        } else {
            crab
        };
        Ok(Self {
            crab,
            config: config.clone(),
        })
    }

    fn build_error(config: &GitHubConfig, e: &octocrab::Error) -> ReportError {
        ReportError::GitHub {
            repo: config.repo(),
            operation: "client set-up",
            status: None,
            message: e.to_string(),
            retryable: false,
        }
    }

    /// The client, and whether it is an App client whose installation must still be
    /// looked up.
    fn client(config: &GitHubConfig) -> Result<(Octocrab, bool), ReportError> {
        let repo = config.repo();
        let build_err = |e: octocrab::Error| ReportError::GitHub {
            repo: repo.clone(),
            operation: "client set-up",
            status: None,
            message: e.to_string(),
            retryable: false,
        };
        let mut builder = Octocrab::builder()
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)));
        if let Some(url) = &config.api_url {
            // GitHub Enterprise serves the REST API under /api/v3.
            builder = builder
                .base_uri(format!("{url}/api/v3"))
                .map_err(build_err)?;
        }
        let crab = match &config.auth {
            GitHubAuth::Token(token) => builder
                .personal_token(token.clone())
                .build()
                .map_err(build_err)?,
            GitHubAuth::App {
                app_id,
                private_key_pem,
                installation_id,
            } => {
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
                    .map_err(|_| {
                        ReportError::Config(crate::config::ConfigError::invalid(
                            "AIOPS_GITHUB_APP_PRIVATE_KEY",
                            "an RSA private key in PEM form",
                            None,
                        ))
                    })?;
                let app = builder
                    .app(AppId(*app_id), key)
                    .build()
                    .map_err(build_err)?;
                return match installation_id {
                    Some(id) => Ok((
                        app.installation(InstallationId(*id)).map_err(build_err)?,
                        false,
                    )),
                    None => Ok((app, true)),
                };
            }
        };
        Ok((crab, false))
    }

    fn repo(&self) -> String {
        self.config.repo()
    }

    async fn base_branch(&self) -> Result<String, ReportError> {
        if let Some(b) = &self.config.branch {
            return Ok(b.clone());
        }
        let info: RepoInfo = self
            .crab
            .get(
                format!("/repos/{}/{}", self.config.owner, self.config.name),
                None::<&()>,
            )
            .await
            .map_err(|e| gh_error(&self.repo(), "get repository", CONTENTS, &e))?;
        Ok(info.default_branch)
    }

    async fn head(&self, branch: &str) -> Result<Option<Head>, ReportError> {
        let git = self.crab.git(&self.config.owner, &self.config.name);
        let reference = match git.get_ref(&Reference::Branch(branch.to_owned())).await {
            Ok(r) => r,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(gh_error(&self.repo(), "get ref", CONTENTS, &e)),
        };
        let Object::Commit { sha, .. } = reference.object else {
            return Err(ReportError::GitHub {
                repo: self.repo(),
                operation: "get ref",
                status: None,
                message: format!("refs/heads/{branch} does not point at a commit"),
                retryable: false,
            });
        };
        let commit = git
            .get_commit(&sha)
            .await
            .map_err(|e| gh_error(&self.repo(), "get commit", CONTENTS, &e))?;
        Ok(Some(Head {
            commit: sha,
            tree: commit.tree.sha,
            html_url: commit.html_url,
        }))
    }

    /// The text of `path` at `commit`; `None` when the file does not exist there.
    async fn file_at(&self, path: &str, commit: &str) -> Result<Option<String>, ReportError> {
        let route = format!(
            "/repos/{}/{}/contents/{path}",
            self.config.owner, self.config.name
        );
        let file: FileContent = match self.crab.get(route, Some(&[("ref", commit)])).await {
            Ok(f) => f,
            Err(e) if status(&e) == Some(404) => return Ok(None),
            Err(e) => return Err(gh_error(&self.repo(), "get contents", CONTENTS, &e)),
        };
        if file.encoding != "base64" {
            // Files over 1 MB come without content: treat as changed and rewrite them.
            return Ok(Some(String::new()));
        }
        let cleaned: String = file.content.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(cleaned)
            .map_err(|e| ReportError::GitHub {
                repo: self.repo(),
                operation: "get contents",
                status: None,
                message: format!("{path}: content is not valid base64 ({e})"),
                retryable: false,
            })?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// Builds one commit of `files` on `head` ([`plan`]); `None` when `head` already
    /// holds exactly those contents.
    async fn commit_on(
        &self,
        message: &str,
        files: &[(&str, Content<'_>)],
        head: &Head,
    ) -> Result<Option<(String, String)>, ReportError> {
        let Some(writes) = plan(files, |path| self.file_at(path, &head.commit)).await? else {
            return Ok(None);
        };
        let git = self.crab.git(&self.config.owner, &self.config.name);
        let repo = self.repo();
        let mut entries = Vec::with_capacity(writes.len());
        for (path, content) in writes {
            let blob = git
                .create_blob(content)
                .encoding("utf-8")
                .send()
                .await
                .map(|b| b.sha)
                .map_err(|e| gh_error(&repo, "create blob", CONTENTS, &e))?;
            entries.push(
                octocrab::models::git::CreateTreeEntry::new(path, "100644", "blob").with_sha(blob),
            );
        }
        let tree = git
            .create_tree(entries)
            .base_tree(&head.tree)
            .send()
            .await
            .map_err(|e| gh_error(&repo, "create tree", CONTENTS, &e))?;
        let commit = git
            .create_commit(message, tree.sha)
            .parents(vec![head.commit.clone()])
            .send()
            .await
            .map_err(|e| gh_error(&repo, "create commit", CONTENTS, &e))?;
        Ok(Some((commit.sha, commit.html_url)))
    }

    /// The one commit path: commits on `branch` and moves it without force, rebuilding
    /// on the new head when it moved meanwhile. Returns the head commit, its link and
    /// whether a commit was made.
    async fn commit_with(
        &self,
        branch: &str,
        message: &str,
        files: &[(&str, Content<'_>)],
    ) -> Result<(String, String, bool), ReportError> {
        let attempts = self.config.max_attempts.max(1);
        for attempt in 1..=attempts {
            let Some(head) = self.head(branch).await? else {
                return Err(self.missing_branch(branch));
            };
            let Some((sha, html_url)) = self.commit_on(message, files, &head).await? else {
                return Ok((head.commit, head.html_url, false));
            };
            let update = self
                .crab
                .git(&self.config.owner, &self.config.name)
                .update_ref(&Reference::Branch(branch.to_owned()), &sha)
                .force(false)
                .send()
                .await;
            match update {
                Ok(_) => return Ok((sha, html_url, true)),
                Err(e) if is_conflict(&e) => {
                    tracing::info!(repo = %self.repo(), %branch, attempt, "branch moved during the commit; rebuilding on the new head");
                }
                Err(e) => return Err(gh_error(&self.repo(), "update ref", CONTENTS, &e)),
            }
        }
        Err(ReportError::Contended {
            repo: self.repo(),
            branch: branch.to_owned(),
            attempts,
        })
    }

    /// In pull-request mode: the branch `rca/<run-id>`, created from the base if missing.
    async fn ensure_branch(&self, branch: &str, base: &str) -> Result<(), ReportError> {
        if self.head(branch).await?.is_some() {
            return Ok(());
        }
        let Some(base_head) = self.head(base).await? else {
            return Err(self.missing_branch(base));
        };
        let git = self.crab.git(&self.config.owner, &self.config.name);
        match git
            .create_ref(&Reference::Branch(branch.to_owned()), base_head.commit)
            .await
        {
            // 422 "Reference already exists": another run created it first; fine.
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(422) => Ok(()),
            Err(e) => Err(gh_error(&self.repo(), "create ref", CONTENTS, &e)),
        }
    }

    async fn ensure_pull_request(
        &self,
        report: &Report,
        branch: &str,
        base: &str,
    ) -> Result<String, ReportError> {
        let pulls = self.crab.pulls(&self.config.owner, &self.config.name);
        let open = pulls
            .list()
            .state(octocrab::params::State::Open)
            .head(format!("{}:{branch}", self.config.owner))
            .base(base)
            .send()
            .await
            .map_err(|e| gh_error(&self.repo(), "list pull requests", PULLS, &e))?;
        if let Some(pr) = open.items.into_iter().next() {
            return Ok(pr_url(&pr));
        }
        let title = report
            .commit_message
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        let body = format!(
            "Root-cause analysis for run `{}`: [{}]({}).\n\n{}\n",
            report.run_id,
            report.path,
            report.path,
            if report.preliminary {
                "Preliminary: written by the built-in analyzers; an LLM re-run will update it."
            } else {
                "Written by the configured LLM."
            }
        );
        let pr = pulls
            .create(title, branch, base)
            .body(body)
            .send()
            .await
            .map_err(|e| gh_error(&self.repo(), "create pull request", PULLS, &e))?;
        if !self.config.labels.is_empty() {
            self.crab
                .issues(&self.config.owner, &self.config.name)
                .add_labels(pr.number, &self.config.labels)
                .await
                .map_err(|e| gh_error(&self.repo(), "add labels", PULLS, &e))?;
        }
        Ok(pr_url(&pr))
    }

    fn missing_branch(&self, branch: &str) -> ReportError {
        ReportError::NotFound {
            repo: self.repo(),
            what: format!("branch {branch}"),
        }
    }
}

#[async_trait]
impl ReportSink for GitHubSink {
    async fn publish(&self, report: &Report) -> Result<Published, ReportError> {
        let base = self.base_branch().await?;
        let branch = if self.config.pull_request {
            let branch = format!("rca/{}", report.run_id);
            if !super::config::valid_branch(&branch) {
                return Err(ReportError::invalid(
                    "run_id",
                    "a run id usable in a branch name",
                ));
            }
            self.ensure_branch(&branch, &base).await?;
            branch
        } else {
            base.clone()
        };
        let merge = |old: Option<&str>| index::merge(old, &report.entry);
        let files = [
            (report.path.as_str(), Content::Exact(&report.markdown)),
            (INDEX_PATH, Content::Merge(&merge)),
        ];
        let (commit, html_url, committed) = self
            .commit_with(&branch, &report.commit_message, &files)
            .await?;
        let pull_request = if self.config.pull_request {
            Some(self.ensure_pull_request(report, &branch, &base).await?)
        } else {
            None
        };
        tracing::info!(repo = %self.repo(), path = %report.path, %commit, committed, "report published");
        Ok(Published {
            report: ReportRef {
                repo: self.repo(),
                path: report.path.clone(),
                url: blob_url(&html_url, &commit, &report.path),
                commit,
            },
            committed,
            pull_request,
        })
    }

    /// Always the base branch: the files are configuration read from that branch
    /// (the catalog's location), so a pull request per run would leave them unread.
    async fn commit_files(&self, change: &FileChange) -> Result<Committed, ReportError> {
        check_paths(change)?;
        let branch = self.base_branch().await?;
        let files: Vec<(&str, Content<'_>)> = change
            .files
            .iter()
            .map(|(p, c)| (p.as_str(), Content::Exact(c)))
            .collect();
        let (commit, _, committed) = self.commit_with(&branch, &change.message, &files).await?;
        tracing::info!(repo = %self.repo(), %branch, files = files.len(), %commit, committed, "files committed");
        Ok(Committed {
            repo: self.repo(),
            branch: Some(branch),
            commit,
            committed,
        })
    }

    async fn read_file(&self, path: &str) -> Result<Option<String>, ReportError> {
        let branch = self.base_branch().await?;
        match self.head(&branch).await? {
            Some(head) => self.file_at(path, &head.commit).await,
            None => Err(self.missing_branch(&branch)),
        }
    }
}

fn pr_url(pr: &octocrab::models::pulls::PullRequest) -> String {
    pr.html_url
        .as_ref()
        .map_or_else(|| pr.url.clone(), ToString::to_string)
}

/// `https://github.com/o/r/commit/<sha>` → `https://github.com/o/r/blob/<sha>/<path>`:
/// derived from GitHub's own link, so GitHub Enterprise hosts come out right.
fn blob_url(commit_html_url: &str, sha: &str, path: &str) -> String {
    let suffix = format!("/commit/{sha}");
    let repo_url = commit_html_url
        .strip_suffix(&suffix)
        .unwrap_or(commit_html_url);
    format!("{repo_url}/blob/{sha}/{path}")
}

fn status(e: &octocrab::Error) -> Option<u16> {
    match e {
        octocrab::Error::GitHub { source, .. } => Some(source.status_code.as_u16()),
        _ => None,
    }
}

fn is_conflict(e: &octocrab::Error) -> bool {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let code = source.status_code.as_u16();
            code == 409
                || (code == 422 && source.message.to_ascii_lowercase().contains("fast forward"))
        }
        _ => false,
    }
}

fn gh_error(
    repo: &str,
    operation: &'static str,
    permission: &'static str,
    e: &octocrab::Error,
) -> ReportError {
    match e {
        octocrab::Error::GitHub { source, .. } => {
            let code = source.status_code.as_u16();
            let message = source.message.clone();
            let rate_limited = message.to_ascii_lowercase().contains("rate limit");
            if code == 403 && !rate_limited {
                return ReportError::Permission {
                    repo: repo.to_owned(),
                    permission,
                    detail: format!("{operation}: {message}"),
                };
            }
            ReportError::GitHub {
                repo: repo.to_owned(),
                operation,
                status: Some(code),
                message,
                retryable: rate_limited || code == 429 || code >= 500,
            }
        }
        other => {
            let mut message = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                message.push_str(": ");
                message.push_str(&c.to_string());
                cause = c.source();
            }
            let decode = matches!(
                other,
                octocrab::Error::Serde { .. } | octocrab::Error::Json { .. }
            );
            ReportError::GitHub {
                repo: repo.to_owned(),
                operation,
                status: None,
                message: if decode {
                    format!("unexpected response shape: {message}")
                } else {
                    message
                },
                retryable: !decode,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_urls_follow_the_commit_link_host() {
        assert_eq!(
            blob_url(
                "https://ghe.example.com/acme/pm/commit/abc",
                "abc",
                "rca/web/x.md"
            ),
            "https://ghe.example.com/acme/pm/blob/abc/rca/web/x.md"
        );
    }
}
