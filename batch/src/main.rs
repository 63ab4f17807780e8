//! `aiops`: the nightly batch job and the operator CLI. `main` only wires: it parses
//! the command line, hands each command the process environment and standard streams,
//! and maps the outcome to the exit codes of `docs/contract.md`.

mod eval;
mod policy;
mod rca;
mod redact;

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
    /// Analyze a recorded evidence bundle, commit the RCA report and print the run
    /// record.
    ///
    /// Uses the LLM when AIOPS_LLM_PROVIDER is set (the built-in analyzers otherwise)
    /// and commits to AIOPS_GITHUB_REPO when set (a local git repository at
    /// AIOPS_REPORT_DIR, default ./rca-reports, otherwise).
    Rca(rca::Args),
    /// Namespace policy: `aiops policy check --token JWT --namespace NS [--cluster C]
    /// [--action read|write|exec]` prints the decision JSON (exit 0 for allow and deny).
    Policy(policy::Args),
    /// Score the analysis on a folder of incident cases (exit 1 below 100 %).
    Eval(eval::Args),
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
        Command::Eval(args) => return finish(run_eval(args)),
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
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| rca::Error::Output(format!("starting the async runtime: {e}")))?;
    runtime.block_on(async {
        let clock: shared::clock::SharedClock = std::sync::Arc::new(shared::clock::SystemClock);
        let ctx = rca::Context::from_env(&ProcessEnv, clock).await?;
        rca::run(&ctx, args, std::io::stdout().lock())
            .await
            .map(drop)
    })
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

fn finish<E: Classify + std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("aiops: {e}");
            ExitCode::from(e.kind().exit_code())
        }
    }
}
