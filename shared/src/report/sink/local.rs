//! The embedded default: a local git repository, driven through the real `git` binary.
//!
//! Every command runs with the configured author and no gpg signing given on the
//! command line, and with global and system git configuration switched off, so the
//! result never depends on the operator's `~/.gitconfig`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use tokio::process::Command;

use crate::report::index::{self, INDEX_PATH};
use crate::report::{Report, ReportError};
use crate::run::ReportRef;

use super::{
    Committed, Content, FileChange, LocalGitConfig, Published, ReportSink, check_paths, plan,
};

/// Commits reports to a local repository.
#[derive(Debug, Clone)]
pub struct LocalGitSink {
    config: LocalGitConfig,
}

impl LocalGitSink {
    /// A sink for `config.dir`; the repository is created on first publish.
    pub fn new(config: LocalGitConfig) -> Self {
        Self { config }
    }

    fn label(&self) -> String {
        self.config.dir.display().to_string()
    }

    /// An exclusive OS lock on a file named after the repository's absolute path, in
    /// the system's temporary directory (so nothing appears inside the repository).
    async fn lock(&self) -> Result<std::fs::File, ReportError> {
        use sha2::{Digest, Sha256};
        let dir = std::path::absolute(&self.config.dir).unwrap_or_else(|_| self.config.dir.clone());
        let digest = hex::encode(Sha256::digest(dir.to_string_lossy().as_bytes()));
        let path = std::env::temp_dir().join(format!("aiops-git-{}.lock", &digest[..16]));
        let label = path.display().to_string();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|source| ReportError::Io {
            path: label,
            source,
        })
    }

    async fn git(&self, args: &[&str]) -> Result<GitOutput, ReportError> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.config.dir)
            .args(["-c", &format!("user.name={}", self.config.author.name)])
            .args(["-c", &format!("user.email={}", self.config.author.email)])
            .args([
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args([
                "-c",
                "core.autocrlf=false",
                "-c",
                "core.hooksPath=/dev/null",
            ])
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", null_device())
            .env("GIT_TERMINAL_PROMPT", "0")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| ReportError::Io {
                path: "git (is it installed and on PATH?)".into(),
                source,
            })?;
        Ok(GitOutput {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }

    async fn git_ok(&self, args: &[&str]) -> Result<String, ReportError> {
        let out = self.git(args).await?;
        if out.code == Some(0) {
            Ok(out.stdout)
        } else {
            Err(ReportError::Git {
                repo: self.label(),
                command: args.join(" "),
                stderr: out.stderr,
            })
        }
    }

    async fn ensure_repository(&self) -> Result<(), ReportError> {
        let dir = &self.config.dir;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|source| ReportError::Io {
                path: self.label(),
                source,
            })?;
        let inside = self.git(&["rev-parse", "--show-toplevel"]).await?;
        let is_root =
            inside.code == Some(0) && same_dir(Path::new(inside.stdout.trim()), dir).await;
        if !is_root {
            // A report folder nested inside some other repository gets its own.
            self.git_ok(&["init", "--quiet"]).await?;
        }
        Ok(())
    }

    /// The file at `path` in HEAD; `None` when there is no HEAD yet or no such file.
    async fn at_head(&self, path: &str) -> Result<Option<String>, ReportError> {
        let out = self.git(&["show", &format!("HEAD:{path}")]).await?;
        Ok((out.code == Some(0)).then_some(out.stdout))
    }

    async fn write(&self, path: &str, content: &str) -> Result<(), ReportError> {
        let file: PathBuf = path
            .split('/')
            .fold(self.config.dir.clone(), |p, s| p.join(s));
        let io = |source| ReportError::Io {
            path: file.display().to_string(),
            source,
        };
        if let Some(parent) = file.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        tokio::fs::write(&file, content).await.map_err(io)
    }

    async fn url_for(&self, path: &str) -> String {
        let dir = tokio::fs::canonicalize(&self.config.dir)
            .await
            .unwrap_or_else(|_| self.config.dir.clone());
        reqwest::Url::from_file_path(dir.join(path)).map_or_else(
            |()| format!("file://{}/{path}", dir.display()),
            |u| u.to_string(),
        )
    }
}

impl LocalGitSink {
    /// The one commit path: decides the contents from HEAD ([`plan`]) and commits
    /// those paths (and only those) when anything differs. Returns the head commit and
    /// whether a commit was made.
    async fn commit_with(
        &self,
        message: &str,
        files: &[(&str, Content<'_>)],
    ) -> Result<(String, bool), ReportError> {
        // Held until this commit returns: a second process (or task) committing into
        // the same repository waits instead of failing on git's index.lock.
        let _lock = self.lock().await?;
        self.ensure_repository().await?;
        let planned = plan(files, |path| self.at_head(path)).await?;
        if let Some(writes) = &planned {
            let paths: Vec<&str> = writes.iter().map(|(p, _)| *p).collect();
            for (path, content) in writes {
                self.write(path, content).await?;
            }
            let mut add = vec!["add", "--"];
            add.extend_from_slice(&paths);
            self.git_ok(&add).await?;
            // Only these paths: anything else staged in the folder stays staged.
            let mut commit = vec!["commit", "--quiet", "--no-verify", "-m", message, "--"];
            commit.extend_from_slice(&paths);
            self.git_ok(&commit).await?;
        }
        let commit = self.git_ok(&["rev-parse", "HEAD"]).await?.trim().to_owned();
        Ok((commit, planned.is_some()))
    }
}

#[async_trait]
impl ReportSink for LocalGitSink {
    async fn publish(&self, report: &Report) -> Result<Published, ReportError> {
        let merge = |old: Option<&str>| index::merge(old, &report.entry);
        let files = [
            (report.path.as_str(), Content::Exact(&report.markdown)),
            (INDEX_PATH, Content::Merge(&merge)),
        ];
        let (commit, committed) = self.commit_with(&report.commit_message, &files).await?;
        tracing::info!(repo = %self.label(), path = %report.path, %commit, committed, "report published");
        Ok(Published {
            report: ReportRef {
                repo: self.label(),
                path: report.path.clone(),
                commit,
                url: self.url_for(&report.path).await,
            },
            committed,
            pull_request: None,
        })
    }

    async fn commit_files(&self, change: &FileChange) -> Result<Committed, ReportError> {
        check_paths(change)?;
        let files: Vec<(&str, Content<'_>)> = change
            .files
            .iter()
            .map(|(p, c)| (p.as_str(), Content::Exact(c)))
            .collect();
        let (commit, committed) = self.commit_with(&change.message, &files).await?;
        tracing::info!(repo = %self.label(), files = files.len(), %commit, committed, "files committed");
        Ok(Committed {
            repo: self.label(),
            branch: None,
            commit,
            committed,
        })
    }

    async fn read_file(&self, path: &str) -> Result<Option<String>, ReportError> {
        if tokio::fs::metadata(&self.config.dir).await.is_err() {
            return Ok(None);
        }
        let _lock = self.lock().await?;
        let inside = self.git(&["rev-parse", "--show-toplevel"]).await?;
        if inside.code != Some(0)
            || !same_dir(Path::new(inside.stdout.trim()), &self.config.dir).await
        {
            return Ok(None);
        }
        self.at_head(path).await
    }
}

struct GitOutput {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn same_dir(a: &Path, b: &Path) -> bool {
    match (
        tokio::fs::canonicalize(a).await,
        tokio::fs::canonicalize(b).await,
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn null_device() -> &'static str {
    if cfg!(windows) { "NUL" } else { "/dev/null" }
}
