//! `aiops policy check`: the namespace policy decision for a token, as JSON on stdout.
//! A deny is a handled outcome (exit 0); bad input or configuration exits 2.

use std::io::{Read, Write};
use std::sync::Arc;

use clap::Subcommand;
use shared::Classify;
use shared::audit::{AuditConfig, AuditLogger, Console};
use shared::clock::{SharedClock, SystemClock};
use shared::config::{ConfigError, Env};
use shared::entity::Namespace;
use shared::error::ErrorKind;
use shared::policy::{AccessError, AccessRequest, Action, Authorizer, Credential};
use shared::redact::Redactor;

/// `aiops policy …`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decide whether a token's principal may act in a namespace; prints the decision
    /// JSON. Issuers from AIOPS_TRUSTED_ISSUERS, policy from AIOPS_POLICY_FILE.
    Check(CheckArgs),
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The user's JWT, or `-` to read it from stdin (keeps it out of the process list).
    #[arg(long)]
    token: String,
    /// The namespace.
    #[arg(long)]
    namespace: String,
    /// The cluster name (recorded in the audit record).
    #[arg(long)]
    cluster: Option<String>,
    /// read, write or exec.
    #[arg(long, default_value = "read")]
    action: Action,
}

impl std::fmt::Debug for CheckArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckArgs")
            .field("namespace", &self.namespace)
            .field("cluster", &self.cluster)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

/// Why the check could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Configuration is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The request is malformed, or the issuer is unreachable.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// Reading the token, writing the answer or starting the runtime failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Classify for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_) => ErrorKind::Invalid,
            Self::Access(e) => e.kind(),
            Self::Io { .. } => ErrorKind::Dependency,
        }
    }
}

/// Runs `aiops policy …`. Audit records go to stderr (stdout carries the result)
/// unless VictoriaLogs is configured.
pub async fn run(
    args: &Args,
    env: &impl Env,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
) -> Result<(), Error> {
    let Command::Check(check) = &args.command;
    let namespace =
        Namespace::parse(&check.namespace).map_err(|_| AccessError::InvalidRequest {
            field: "--namespace",
            expected: "a Kubernetes namespace name: lowercase letters, digits and '-', \
                       starting and ending with a letter or digit, at most 63 characters"
                .into(),
        })?;
    let clock: SharedClock = Arc::new(SystemClock);
    let mut audit_config = AuditConfig::from_env(env)?;
    let redactor = Arc::new(Redactor::from_env(env)?);
    // Stdout carries the decision: audit lines that are not sent go to stderr.
    audit_config.console = Console::Stderr;
    let audit = AuditLogger::new(&audit_config, redactor, clock.clone()).map_err(|e| {
        ConfigError::invalid(
            "AIOPS_VICTORIALOGS_URL",
            "a usable VictoriaLogs URL",
            Some(e.to_string()),
        )
    })?;
    let authorizer = Authorizer::from_env(env, audit, clock)?;
    let token = if check.token == "-" {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|source| Error::Io {
                what: "reading the token from stdin",
                source,
            })?;
        text.trim().to_owned()
    } else {
        check.token.clone()
    };
    let request = AccessRequest {
        credential: Credential::Token(token),
        cluster: check.cluster.clone(),
        namespace,
        action: check.action,
        request_id: None,
    };
    let decision = authorizer.check(&request).await;
    authorizer.audit().flush().await;
    let writing = |source| Error::Io {
        what: "writing the decision",
        source,
    };
    let text = serde_json::to_string_pretty(&decision?).map_err(|e| writing(e.into()))?;
    writeln!(stdout, "{text}").map_err(writing)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;
    use shared::config::MapEnv;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    async fn check(argv: &[&str], env: &MapEnv) -> (Result<(), Error>, String) {
        let Cli { command } = Cli::try_parse_from(argv).unwrap();
        let mut out = Vec::new();
        let result = run(&Args { command }, env, &mut std::io::empty(), &mut out).await;
        (result, String::from_utf8(out).unwrap())
    }

    #[tokio::test]
    async fn a_bad_token_is_a_printed_deny_and_bad_input_exits_2() {
        let env = MapEnv::new();
        let (result, out) = check(
            &[
                "x",
                "check",
                "--token",
                "not-a-jwt",
                "--namespace",
                "checkout-prod",
            ],
            &env,
        )
        .await;
        result.unwrap();
        let decision: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(decision["allowed"], false);
        assert_eq!(decision["reason"], "invalid_token");

        let (result, _) = check(
            &["x", "check", "--token", "t", "--namespace", "Bad_NS"],
            &env,
        )
        .await;
        assert_eq!(result.unwrap_err().kind().exit_code(), 2);
        let bad = MapEnv::new().with("AIOPS_POLICY_FILE", "/no/such/file.yaml");
        let (result, _) = check(
            &["x", "check", "--token", "t", "--namespace", "a-prod"],
            &bad,
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!(err.kind().exit_code(), 2);
        assert!(err.to_string().contains("AIOPS_POLICY_FILE"), "{err}");
        assert!(
            Cli::try_parse_from([
                "x",
                "check",
                "--token",
                "t",
                "--namespace",
                "n",
                "--action",
                "delete"
            ])
            .is_err()
        );
    }
}
