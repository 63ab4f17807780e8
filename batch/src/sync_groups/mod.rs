//! `aiops sync-groups`: ZITADEL role assignments → Backstage `User` and `Group`
//! entities in one YAML file, committed through the report sink.
//!
//! The mapping is the token path's own ([`shared::identity::zitadel_role_group`],
//! [`shared::identity::zitadel_user_ref`]) under the ZITADEL issuer of
//! `AIOPS_TRUSTED_ISSUERS`, so a user who signs in gets the groups synced here. The
//! file is committed only when it changed; every membership added or removed is one
//! audit record.

pub mod catalog;
pub mod zitadel;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::Serialize;
use shared::audit::{AuditConfig, AuditEvent, AuditLogger, Console};
use shared::backoff::Backoff;
use shared::clock::SystemClock;
use shared::config::{ConfigError, Env};
use shared::error::{Classify, ErrorKind};
use shared::identity::{IdentityConfig, IssuerConfig, IssuerKind};
use shared::redact::Redactor;
use shared::report::ReportError;
use shared::report::sink::{FileChange, SharedSink, SinkConfig};

use self::zitadel::{ApiVersion, Client, Credential, ServiceKey};

/// Where the file goes when `AIOPS_SYNC_GROUPS_PATH` is unset.
pub const DEFAULT_PATH: &str = "catalog/zitadel/org.yaml";

/// `aiops sync-groups` arguments.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Args {
    /// Print the diff that would be committed; commit nothing, write no audit record.
    #[arg(long)]
    pub dry_run: bool,
}

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// ZITADEL refused the credential.
    #[error("ZITADEL refused the credential in {var}: {detail}")]
    Auth {
        /// The variable holding the credential.
        var: &'static str,
        /// What was refused (status, never the credential).
        detail: String,
    },
    /// ZITADEL failed or answered something unusable.
    #[error("ZITADEL: {0}")]
    Dependency(String),
    /// The commit failed.
    #[error("committing the group file: {0}")]
    Commit(#[from] ReportError),
    /// Writing the result failed.
    #[error("writing the result: {0}")]
    Output(#[from] std::io::Error),
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) | Self::Auth { .. } => ErrorKind::Invalid,
            Self::Dependency(_) | Self::Output(_) => ErrorKind::Dependency,
            Self::Commit(e) => e.kind(),
        }
    }
}

/// Keep or drop groups whose role has no users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmptyGroups {
    /// The default.
    Keep,
    /// Leave them out of the file.
    Drop,
}

/// The sync's configuration, read once.
#[derive(Debug, Clone)]
pub struct Config {
    /// `AIOPS_ZITADEL_URL`, ending in `/`.
    pub url: Url,
    /// `AIOPS_ZITADEL_TOKEN` or `AIOPS_ZITADEL_KEY_FILE`.
    pub credential: Credential,
    /// The ZITADEL issuer of `AIOPS_TRUSTED_ISSUERS`.
    pub issuer: IssuerConfig,
    /// `AIOPS_ROLE_GROUP_TEMPLATE`.
    pub template: String,
    /// `AIOPS_SYNC_GROUPS_PATH`.
    pub path: String,
    /// `AIOPS_SYNC_GROUPS_EMPTY`.
    pub empty: EmptyGroups,
    /// The report sink's destination.
    pub sink: SinkConfig,
    /// Audit records.
    pub audit: AuditConfig,
}

/// The ZITADEL instance URL; the nightly job runs the sync only where it is set.
pub const URL_VAR: &str = "AIOPS_ZITADEL_URL";

impl Config {
    /// Reads `AIOPS_ZITADEL_URL`, `AIOPS_ZITADEL_TOKEN` / `AIOPS_ZITADEL_KEY_FILE`,
    /// `AIOPS_TRUSTED_ISSUERS`, `AIOPS_ROLE_GROUP_TEMPLATE`, `AIOPS_SYNC_GROUPS_PATH`,
    /// `AIOPS_SYNC_GROUPS_EMPTY`, the report sink's and the audit variables.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let raw = env.require(
            URL_VAR,
            "the ZITADEL instance URL, such as https://acme.zitadel.cloud",
        )?;
        let mut url = Url::parse(raw.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                ConfigError::invalid("AIOPS_ZITADEL_URL", "an http:// or https:// URL", None)
            })?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let credential = match (
            env.get("AIOPS_ZITADEL_TOKEN"),
            env.path("AIOPS_ZITADEL_KEY_FILE"),
        ) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    "AIOPS_ZITADEL_TOKEN",
                    "either AIOPS_ZITADEL_TOKEN or AIOPS_ZITADEL_KEY_FILE, not both",
                    None,
                ));
            }
            (Some(token), None) => Credential::Token(token.trim().to_owned()),
            (None, Some(path)) => Credential::Key(read_key(&path)?),
            (None, None) => {
                return Err(ConfigError::missing(
                    "AIOPS_ZITADEL_TOKEN",
                    "a service user's personal access token (or AIOPS_ZITADEL_KEY_FILE, its JSON key file)",
                ));
            }
        };
        let identity = IdentityConfig::from_env(env)?;
        let issuer = zitadel_issuer(&identity.issuers, &url)?;
        let path = env
            .get("AIOPS_SYNC_GROUPS_PATH")
            .unwrap_or_else(|| DEFAULT_PATH.to_owned());
        let empty = match env
            .get("AIOPS_SYNC_GROUPS_EMPTY")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => EmptyGroups::Keep,
            Some(v) if v == "keep" => EmptyGroups::Keep,
            Some(v) if v == "drop" => EmptyGroups::Drop,
            Some(_) => {
                return Err(ConfigError::invalid(
                    "AIOPS_SYNC_GROUPS_EMPTY",
                    "keep or drop",
                    None,
                ));
            }
        };
        let mut audit = AuditConfig::from_env(env)?.with_function("sync-groups");
        // Stdout carries the result: audit lines that are not sent go to stderr.
        audit.console = Console::Stderr;
        Ok(Self {
            url,
            credential,
            issuer,
            template: identity.role_group_template,
            path,
            empty,
            sink: SinkConfig::from_env(env)?,
            audit,
        })
    }
}

fn read_key(path: &PathBuf) -> Result<ServiceKey, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::invalid(
            "AIOPS_ZITADEL_KEY_FILE",
            "a readable ZITADEL key file",
            Some(e.kind().to_string()),
        )
    })?;
    ServiceKey::parse(&text)
}

/// The one ZITADEL issuer, or the one whose `issuer` is this instance.
fn zitadel_issuer(issuers: &[IssuerConfig], url: &Url) -> Result<IssuerConfig, ConfigError> {
    let zitadel: Vec<&IssuerConfig> = issuers
        .iter()
        .filter(|i| i.kind == IssuerKind::Zitadel)
        .collect();
    let base = url.as_str().trim_end_matches('/');
    let chosen = match zitadel.as_slice() {
        [one] => Some(*one),
        many => many
            .iter()
            .copied()
            .find(|i| i.issuer.trim_end_matches('/') == base),
    };
    chosen.cloned().ok_or_else(|| {
        ConfigError::invalid(
            "AIOPS_TRUSTED_ISSUERS",
            "one issuer of kind zitadel (or one whose issuer is AIOPS_ZITADEL_URL) with project_ids and org_ids: the sync uses the token path's mapping",
            None,
        )
    })
}

/// Built once per process: the configuration, the sink and the audit logger.
#[derive(Debug)]
pub struct Context {
    /// The configuration.
    pub config: Config,
    /// Where the file is committed.
    pub sink: SharedSink,
    /// Membership changes.
    pub audit: AuditLogger,
    /// Waits between ZITADEL retries.
    pub backoff: Backoff,
}

impl Context {
    /// Reads the configuration and opens the sink and the audit logger.
    pub async fn from_env(env: &impl Env) -> Result<Self, Error> {
        let config = Config::from_env(env)?;
        let redactor = Arc::new(Redactor::from_env(env)?);
        let audit =
            AuditLogger::new(&config.audit, redactor, Arc::new(SystemClock)).map_err(|e| {
                ConfigError::invalid(
                    "AIOPS_VICTORIALOGS_URL",
                    "a usable VictoriaLogs URL",
                    Some(e.to_string()),
                )
            })?;
        let sink = config.sink.open().await?;
        Ok(Self {
            config,
            sink,
            audit,
            backoff: Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(5),
            },
        })
    }
}

/// One membership change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `added` or `removed`.
    pub change: &'static str,
    /// `group:default/sre`.
    pub group: String,
    /// `user:default/jane`.
    pub user: String,
}

/// What a sync did (stdout JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// Which ZITADEL API answered.
    pub api: ApiVersion,
    /// Path in the repository.
    pub path: String,
    /// Users written.
    pub users: usize,
    /// Groups written.
    pub groups: usize,
    /// Membership changes against the committed file.
    pub changes: Vec<Change>,
    /// Role keys that make no group ref (ignored).
    pub unmapped_roles: Vec<String>,
    /// Assignments of other projects or organisations, or inactive (ignored).
    pub ignored_assignments: usize,
    /// ZITADEL user ids left out because two users would share one entity name.
    pub name_conflicts: Vec<String>,
    /// Whether a commit was made (never in a dry run).
    pub committed: bool,
    /// The commit holding the file (none in a dry run).
    pub commit: Option<String>,
    /// A dry run.
    pub dry_run: bool,
    /// Empty groups kept or dropped.
    pub empty_groups: EmptyGroups,
    /// In a dry run: the diff that would be committed (empty when nothing changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// Runs one sync; the nightly job calls this with its own context. In a dry run,
/// `diff_out` receives the diff that would be committed.
#[tracing::instrument(skip_all, fields(dry_run = args.dry_run))]
pub async fn sync(
    ctx: &Context,
    args: &Args,
    diff_out: &mut (dyn Write + Send),
) -> Result<Outcome, Error> {
    let cfg = &ctx.config;
    let client = Client::connect(cfg.url.clone(), &cfg.credential, ctx.backoff).await?;
    let mut api = ApiVersion::V2;
    let mut assignments = Vec::new();
    let mut roles = BTreeMap::new();
    for project in cfg.issuer.project_ids() {
        let (version, list) = client.assignments(&project, &cfg.issuer.org_ids).await?;
        api = version;
        assignments.extend(list);
        roles.insert(project.clone(), client.project_roles(&project).await?);
    }
    let domains = if api == ApiVersion::V2 {
        client.org_domains(&cfg.issuer.org_ids).await?
    } else {
        BTreeMap::new()
    };
    let org = catalog::build(
        &assignments,
        &roles,
        &domains,
        &cfg.issuer,
        &cfg.template,
        cfg.empty == EmptyGroups::Keep,
    );
    let text = catalog::render(&org);
    let previous = ctx.sink.read_file(&cfg.path).await?.unwrap_or_default();
    let before = catalog::memberships(&previous);
    let after = catalog::org_memberships(&org);
    let mut changes: Vec<Change> = before
        .difference(&after)
        .map(|(g, u)| Change {
            change: "removed",
            group: g.clone(),
            user: u.clone(),
        })
        .collect();
    changes.extend(after.difference(&before).map(|(g, u)| Change {
        change: "added",
        group: g.clone(),
        user: u.clone(),
    }));
    let mut diff = None;
    let (committed, commit) = if args.dry_run {
        let text = catalog::diff(&previous, &text, &cfg.path);
        diff_out.write_all(text.as_bytes())?;
        diff = Some(text);
        (false, None)
    } else {
        let change = FileChange {
            files: vec![(cfg.path.clone(), text)],
            message: commit_message(&changes, org.users.len(), org.groups.len()),
        };
        let done = ctx.sink.commit_files(&change).await?;
        for c in &changes {
            ctx.audit.record(
                AuditEvent::new(format!("group-member-{}", c.change))
                    .actor("aiops:sync-groups")
                    .entity(c.group.clone())
                    .reason(format!("zitadel role assignment {}", c.change))
                    .meta("member", c.user.clone())
                    .meta("commit", done.commit.clone())
                    .meta("path", cfg.path.clone()),
            );
        }
        ctx.audit.flush().await;
        (done.committed, Some(done.commit))
    };
    Ok(Outcome {
        api,
        path: cfg.path.clone(),
        users: org.users.len(),
        groups: org.groups.len(),
        changes,
        unmapped_roles: org.unmapped_roles.into_iter().collect(),
        ignored_assignments: org.ignored_assignments,
        name_conflicts: org.name_conflicts.into_iter().collect(),
        committed,
        commit,
        dry_run: args.dry_run,
        empty_groups: cfg.empty,
        diff,
    })
}

fn commit_message(changes: &[Change], users: usize, groups: usize) -> String {
    let added = changes.iter().filter(|c| c.change == "added").count();
    let removed = changes.len() - added;
    let mut message = format!(
        "Group sync from ZITADEL: {users} users, {groups} groups; {added} memberships added, {removed} removed\n"
    );
    if !changes.is_empty() {
        message.push('\n');
        for c in changes {
            let _ = writeln!(message, "- {} {} {}", c.change, c.user, c.group);
        }
    }
    message
}

/// The summary for stderr.
pub fn summary(o: &Outcome) -> String {
    let mut s = format!(
        "sync-groups: ZITADEL {:?} API; {} users, {} groups (empty groups {:?}); {} membership changes; {}",
        o.api,
        o.users,
        o.groups,
        o.empty_groups,
        o.changes.len(),
        if o.dry_run {
            "dry run, nothing committed".to_owned()
        } else if o.committed {
            format!(
                "committed {} to {}",
                o.commit.as_deref().unwrap_or_default(),
                o.path
            )
        } else {
            format!("{} unchanged, no commit", o.path)
        }
    );
    if !o.unmapped_roles.is_empty() {
        let _ = write!(
            s,
            "\nunmapped roles (ignored): {}",
            o.unmapped_roles.join(", ")
        );
    }
    if o.ignored_assignments > 0 {
        let _ = write!(
            s,
            "\nassignments ignored (other project or organisation, or inactive): {}",
            o.ignored_assignments
        );
    }
    if !o.name_conflicts.is_empty() {
        let _ = write!(
            s,
            "\nusers left out (two ZITADEL users would share one entity name): {}",
            o.name_conflicts.join(", ")
        );
    }
    s
}

/// `aiops sync-groups`: builds the context, syncs, prints the summary on stderr and
/// the outcome JSON on stdout (the diff too, in a dry run).
pub async fn run(
    args: &Args,
    env: &impl Env,
    stdout: &mut (dyn Write + Send),
    stderr: &mut (dyn Write + Send),
) -> Result<Outcome, Error> {
    let ctx = Context::from_env(env).await?;
    let outcome = sync(&ctx, args, stderr).await?;
    writeln!(stderr, "{}", summary(&outcome))?;
    let json = serde_json::to_string_pretty(&outcome).map_err(std::io::Error::other)?;
    writeln!(stdout, "{json}")?;
    Ok(outcome)
}
