//! Where reports are committed, from the environment.

use std::path::PathBuf;

use crate::config::{ConfigError, Env};

/// The configured destination.
#[derive(Debug, Clone)]
pub enum SinkConfig {
    /// `AIOPS_GITHUB_REPO` is set.
    GitHub(GitHubConfig),
    /// The default: a local repository.
    Local(LocalGitConfig),
}

/// A commit author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitAuthor {
    /// `AIOPS_GIT_AUTHOR_NAME`, default `aiops`.
    pub name: String,
    /// `AIOPS_GIT_AUTHOR_EMAIL`, default `aiops@localhost`.
    pub email: String,
}

/// The local repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalGitConfig {
    /// `AIOPS_REPORT_DIR`, default `./rca-reports`; created and initialised if missing.
    pub dir: PathBuf,
    /// Commit author and committer.
    pub author: GitAuthor,
}

/// How to authenticate to GitHub. Debug never shows the secrets.
#[derive(Clone)]
pub enum GitHubAuth {
    /// `AIOPS_GITHUB_TOKEN`.
    Token(String),
    /// `AIOPS_GITHUB_APP_ID` + `AIOPS_GITHUB_APP_PRIVATE_KEY`, and optionally
    /// `AIOPS_GITHUB_INSTALLATION_ID` (otherwise looked up for the repository).
    App {
        /// The App's id.
        app_id: u64,
        /// The App's private key, PEM.
        private_key_pem: String,
        /// The installation to act as.
        installation_id: Option<u64>,
    },
}

impl std::fmt::Debug for GitHubAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(_) => f.write_str("Token(..)"),
            Self::App {
                app_id,
                installation_id,
                ..
            } => f
                .debug_struct("App")
                .field("app_id", app_id)
                .field("installation_id", installation_id)
                .finish_non_exhaustive(),
        }
    }
}

/// The GitHub destination.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// Repository owner.
    pub owner: String,
    /// Repository name.
    pub name: String,
    /// `AIOPS_GITHUB_BRANCH`; `None`: the repository's default branch.
    pub branch: Option<String>,
    /// `AIOPS_GITHUB_API_URL`: `None` for github.com; a GitHub Enterprise server's URL
    /// (`https://ghe.example.com`, `/api/v3` is added) otherwise.
    pub api_url: Option<String>,
    /// Credentials.
    pub auth: GitHubAuth,
    /// `AIOPS_GITHUB_PR`: commit to `rca/<run-id>` and open a pull request.
    pub pull_request: bool,
    /// `AIOPS_GITHUB_PR_LABELS`: comma-separated labels for the pull request.
    pub labels: Vec<String>,
    /// Attempts when the branch moves during a commit (non-fast-forward).
    pub max_attempts: u32,
}

impl GitHubConfig {
    /// `owner/name`.
    pub fn repo(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

const REPO_EXPECTED: &str = "owner/name of a GitHub repository";
const KEY_EXPECTED: &str = "an RSA private key in PEM form, or the path of a file holding one";

impl SinkConfig {
    /// Reads the `AIOPS_GITHUB_*` variables when `AIOPS_GITHUB_REPO` is set, otherwise
    /// `AIOPS_REPORT_DIR`; `AIOPS_GIT_AUTHOR_NAME`/`_EMAIL` for local commits.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let Some(repo) = env.get("AIOPS_GITHUB_REPO") else {
            return Ok(Self::Local(LocalGitConfig {
                dir: env
                    .path("AIOPS_REPORT_DIR")
                    .unwrap_or_else(|| "./rca-reports".into()),
                author: GitAuthor {
                    name: env
                        .get("AIOPS_GIT_AUTHOR_NAME")
                        .unwrap_or_else(|| "aiops".into()),
                    email: env
                        .get("AIOPS_GIT_AUTHOR_EMAIL")
                        .unwrap_or_else(|| "aiops@localhost".into()),
                },
            }));
        };
        let (owner, name) = repo
            .trim()
            .split_once('/')
            .filter(|(o, n)| valid_name(o) && valid_name(n))
            .ok_or_else(|| ConfigError::invalid("AIOPS_GITHUB_REPO", REPO_EXPECTED, None))?;
        let api_url = env
            .get("AIOPS_GITHUB_API_URL")
            .map(|raw| {
                let raw = raw.trim().trim_end_matches('/').to_owned();
                reqwest::Url::parse(&raw)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .map(|_| raw)
                    .ok_or_else(|| {
                        ConfigError::invalid(
                            "AIOPS_GITHUB_API_URL",
                            "the http(s) URL of a GitHub Enterprise server",
                            None,
                        )
                    })
            })
            .transpose()?;
        let branch = env.get("AIOPS_GITHUB_BRANCH").map(|b| b.trim().to_owned());
        if let Some(b) = &branch
            && !valid_branch(b)
        {
            return Err(ConfigError::invalid(
                "AIOPS_GITHUB_BRANCH",
                "a branch name (no spaces, `..`, `~`, `^`, `:` or leading `-`)",
                None,
            ));
        }
        Ok(Self::GitHub(GitHubConfig {
            owner: owner.to_owned(),
            name: name.to_owned(),
            branch,
            api_url,
            auth: auth_from_env(env)?,
            pull_request: env.flag("AIOPS_GITHUB_PR")?.unwrap_or(false),
            labels: env
                .get("AIOPS_GITHUB_PR_LABELS")
                .map(|l| {
                    l.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            max_attempts: 5,
        }))
    }
}

fn auth_from_env(env: &impl Env) -> Result<GitHubAuth, ConfigError> {
    if let Some(token) = env.get("AIOPS_GITHUB_TOKEN") {
        return Ok(GitHubAuth::Token(token.trim().to_owned()));
    }
    let Some(app_id) = env.parse::<u64>("AIOPS_GITHUB_APP_ID", "the GitHub App's numeric id")?
    else {
        return Err(ConfigError::missing(
            "AIOPS_GITHUB_TOKEN",
            "a GitHub token with contents: write, or AIOPS_GITHUB_APP_ID with \
             AIOPS_GITHUB_APP_PRIVATE_KEY, since AIOPS_GITHUB_REPO is set",
        ));
    };
    let key = env.require("AIOPS_GITHUB_APP_PRIVATE_KEY", KEY_EXPECTED)?;
    let private_key_pem = if key.trim_start().starts_with("-----BEGIN") {
        key
    } else {
        std::fs::read_to_string(key.trim()).map_err(|e| {
            ConfigError::invalid(
                "AIOPS_GITHUB_APP_PRIVATE_KEY",
                KEY_EXPECTED,
                Some(format!("the file cannot be read: {}", e.kind())),
            )
        })?
    };
    if jsonwebtoken::EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).is_err() {
        return Err(ConfigError::invalid(
            "AIOPS_GITHUB_APP_PRIVATE_KEY",
            KEY_EXPECTED,
            Some("not an RSA private key".into()),
        ));
    }
    Ok(GitHubAuth::App {
        app_id,
        private_key_pem,
        installation_id: env.parse(
            "AIOPS_GITHUB_INSTALLATION_ID",
            "the numeric id of the App's installation",
        )?,
    })
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub(crate) fn valid_branch(b: &str) -> bool {
    !b.is_empty()
        && !b.starts_with('-')
        && !b.starts_with('/')
        && !b.ends_with('/')
        && !std::path::Path::new(b)
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("lock"))
        && !b.contains("..")
        && !b.contains("//")
        && !b
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn without_a_repo_reports_go_to_a_local_repository_with_default_author() {
        let SinkConfig::Local(cfg) = SinkConfig::from_env(&MapEnv::new()).unwrap() else {
            panic!("expected the local sink");
        };
        assert_eq!(cfg.dir, PathBuf::from("./rca-reports"));
        assert_eq!(cfg.author.name, "aiops");
        assert_eq!(cfg.author.email, "aiops@localhost");
    }

    #[test]
    fn a_repo_needs_credentials_and_a_valid_name() {
        let env = MapEnv::new().with("AIOPS_GITHUB_REPO", "acme/postmortems");
        let err = SinkConfig::from_env(&env).unwrap_err();
        assert_eq!(err.var(), "AIOPS_GITHUB_TOKEN");
        let env = env.with("AIOPS_GITHUB_TOKEN", "t0ken");
        let SinkConfig::GitHub(cfg) = SinkConfig::from_env(&env).unwrap() else {
            panic!("expected GitHub");
        };
        assert_eq!(cfg.repo(), "acme/postmortems");
        assert!(
            !format!("{cfg:?}").contains("t0ken"),
            "Debug must hide the token"
        );
        for bad in ["acme", "acme/", "/x", "a/b/c", "a b/c"] {
            let env = MapEnv::new()
                .with("AIOPS_GITHUB_REPO", bad)
                .with("AIOPS_GITHUB_TOKEN", "t");
            assert_eq!(
                SinkConfig::from_env(&env).unwrap_err().var(),
                "AIOPS_GITHUB_REPO",
                "{bad}"
            );
        }
    }

    #[test]
    fn pull_request_mode_labels_and_branch_are_read() {
        let env = MapEnv::new()
            .with("AIOPS_GITHUB_REPO", "acme/postmortems")
            .with("AIOPS_GITHUB_TOKEN", "t")
            .with("AIOPS_GITHUB_PR", "true")
            .with("AIOPS_GITHUB_PR_LABELS", "rca, incident ,")
            .with("AIOPS_GITHUB_BRANCH", "reports")
            .with("AIOPS_GITHUB_API_URL", "https://ghe.example.com/");
        let SinkConfig::GitHub(cfg) = SinkConfig::from_env(&env).unwrap() else {
            panic!("expected GitHub");
        };
        assert!(cfg.pull_request);
        assert_eq!(cfg.labels, ["rca", "incident"]);
        assert_eq!(cfg.branch.as_deref(), Some("reports"));
        assert_eq!(cfg.api_url.as_deref(), Some("https://ghe.example.com"));
        let env = env.with("AIOPS_GITHUB_BRANCH", "bad..branch");
        assert_eq!(
            SinkConfig::from_env(&env).unwrap_err().var(),
            "AIOPS_GITHUB_BRANCH"
        );
    }

    #[test]
    fn an_app_key_that_is_not_a_pem_or_readable_file_is_refused_without_echoing_it() {
        let env = MapEnv::new()
            .with("AIOPS_GITHUB_REPO", "acme/postmortems")
            .with("AIOPS_GITHUB_APP_ID", "42")
            .with(
                "AIOPS_GITHUB_APP_PRIVATE_KEY",
                "-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----",
            );
        let err = SinkConfig::from_env(&env).unwrap_err();
        assert_eq!(err.var(), "AIOPS_GITHUB_APP_PRIVATE_KEY");
        assert!(!err.to_string().contains("nope"));
        let env = env.with("AIOPS_GITHUB_APP_PRIVATE_KEY", "/nonexistent/key.pem");
        assert!(
            SinkConfig::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("cannot be read")
        );
    }
}
