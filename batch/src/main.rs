//! `aiops`: the nightly batch job and the operator CLI. `main` only wires: it parses
//! the command line, hands each command the process environment and standard streams,
//! and maps the outcome to the exit codes of `docs/contract.md`.

use aiops::{eval, policy, rca, redact, runs, sync_groups};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shared::Classify;
use shared::config::ProcessEnv;

/// The aiops operator CLI: progress on stderr, results on stdout.
#[derive(Debug, Parser)]
#[command(name = "aiops", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the shared redactor over a file or stdin and print the result on stdout.
    ///
    /// JSON lines are redacted as JSON (values under sensitive keys, secrets in
    /// strings); other lines as text. Extra rules come from AIOPS_REDACT_PATTERNS and
    /// AIOPS_REDACT_KEYS.
    Redact(redact::Args),
    /// Run one RCA through the chain in this process and print the final run record.
    ///
    /// --request FILE runs every step against the configured sources; --bundle FILE
    /// analyzes and commits a recorded evidence bundle (no cluster needed). Uses the LLM
    /// when AIOPS_LLM_PROVIDER is set (the built-in analyzers otherwise) and commits to
    /// AIOPS_GITHUB_REPO when set (a local git repository at AIOPS_REPORT_DIR, default
    /// ./rca-reports, otherwise). Exit 0 succeeded or denied, 1 failed (retryable),
    /// 2 invalid input or configuration.
    Rca(rca::Args),
    /// Read run records: `aiops runs list [--status S] [--entity E]`, `aiops runs show ID`.
    Runs(runs::Args),
    /// Namespace policy: `aiops policy check --token JWT --namespace NS [--cluster C]
    /// [--action read|write|exec]` prints the decision JSON (exit 0 for allow and deny).
    Policy(policy::Args),
    /// Score the analysis on a folder of incident cases (exit 1 below 100 %).
    Eval(eval::Args),
    /// ZITADEL role assignments → Backstage Users and Groups, committed to Git.
    ///
    /// Reads the roles of the ZITADEL issuer's projects (AIOPS_ZITADEL_URL, with
    /// AIOPS_ZITADEL_TOKEN or AIOPS_ZITADEL_KEY_FILE), maps them as the token path does,
    /// and commits AIOPS_SYNC_GROUPS_PATH when it changed. --dry-run prints the diff.
    SyncGroups(sync_groups::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Redact(args) => redact::run(
            args,
            &ProcessEnv,
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        ),
        Command::Rca(args) => return finish(run_rca(args)),
        Command::Policy(args) => return finish(run_policy(args)),
        Command::Runs(args) => return finish(run_runs(args)),
        Command::Eval(args) => return finish(run_eval(args)),
        Command::SyncGroups(args) => return finish(run_sync_groups(args)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aiops: {e}");
            ExitCode::from(e.kind().exit_code())
        }
    }
}

fn run_rca(args: &rca::Args) -> Result<(), rca::Error> {
    shared::telemetry::init(&ProcessEnv);
    let runtime = tokio::runtime::Runtime::new().map_err(rca::Error::Output)?;
    runtime.block_on(async {
        let ctx = rca::Context::from_env(&ProcessEnv, runs::system_clock()).await?;
        rca::run(
            &ctx,
            args,
            &mut std::io::stdin().lock(),
            std::io::stdout().lock(),
        )
        .await
        .map(drop)
    })
}

fn run_runs(args: &runs::Args) -> Result<(), runs::Error> {
    let runtime = tokio::runtime::Runtime::new().map_err(runs::Error::Output)?;
    runtime.block_on(runs::run(
        args,
        &ProcessEnv,
        runs::system_clock(),
        std::io::stdout().lock(),
    ))
}

fn run_policy(args: &policy::Args) -> Result<(), policy::Error> {
    shared::telemetry::init(&ProcessEnv);
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| policy::Error::Io(format!("starting the async runtime: {e}")))?;
    runtime.block_on(policy::run(
        args,
        &ProcessEnv,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    ))
}

fn run_eval(args: &eval::Args) -> Result<(), eval::Error> {
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| eval::Error::Output(format!("starting the async runtime: {e}")))?;
    runtime
        .block_on(eval::run(args, &ProcessEnv, &mut std::io::stdout().lock()))
        .map(drop)
}

fn run_sync_groups(args: &sync_groups::Args) -> Result<(), sync_groups::Error> {
    shared::telemetry::init(&ProcessEnv);
    let runtime = tokio::runtime::Runtime::new().map_err(sync_groups::Error::Output)?;
    runtime
        .block_on(sync_groups::run(
            args,
            &ProcessEnv,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        ))
        .map(drop)
}

fn finish<E: Classify + std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aiops: {e}");
            ExitCode::from(e.kind().exit_code())
        }
    }
}
