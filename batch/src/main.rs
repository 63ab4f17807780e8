//! `aiops`: the nightly batch job and the operator CLI. `main` only wires: it parses
//! the command line, hands each command the process environment and standard streams,
//! and maps the outcome to the exit codes of `docs/contract.md`.

use aiops::{audit, eval, nightly, policy, rca, redact, rerun, runs, sync_groups};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shared::Classify;
use shared::config::{Env as _, ProcessEnv};

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
    /// The namespace-ownership audit: every audited cluster's namespaces against the
    /// policy and the catalog. Findings JSON on stdout (and in the store under
    /// audits/namespaces/<date>.json), one audit record per finding, counts on stderr.
    /// Exit 0 when it ran, whatever it found.
    AuditNamespaces(audit::Args),
    /// Resume failed RCAs that may still succeed, and analyse preliminary reports again
    /// once the LLM's breaker is closed. Summary JSON on stdout.
    RerunFailed(rerun::Args),
    /// The audit and the re-run, once (--once) or on a cron schedule (--schedule
    /// "0 0 2 * * *", UTC, seconds first) until stopped. Exit 0 when every job ran, 1
    /// when one could not.
    Nightly(nightly::Args),
    /// ZITADEL role assignments → Backstage Users and Groups, committed to Git.
    ///
    /// Reads the roles of the ZITADEL issuer's projects (AIOPS_ZITADEL_URL, with
    /// AIOPS_ZITADEL_TOKEN or AIOPS_ZITADEL_KEY_FILE), maps them as the token path does,
    /// and commits AIOPS_SYNC_GROUPS_PATH when it changed. --dry-run prints the diff.
    SyncGroups(sync_groups::Args),
}

fn main() -> ExitCode {
    // In Lambda the function takes the scheduler's and the state machine's events.
    if ProcessEnv.get("AWS_LAMBDA_RUNTIME_API").is_some() {
        return run_lambda();
    }
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
        Command::AuditNamespaces(args) => return finish(run_audit(args)),
        Command::RerunFailed(args) => return finish(run_rerun(args)),
        Command::Nightly(args) => return finish(run_nightly(args)),
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
    let runtime = tokio::runtime::Runtime::new().map_err(|source| policy::Error::Io {
        what: "starting the async runtime",
        source,
    })?;
    runtime.block_on(policy::run(
        args,
        &ProcessEnv,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
    ))
}

fn run_eval(args: &eval::Args) -> Result<(), eval::Error> {
    let runtime = tokio::runtime::Runtime::new().map_err(|source| eval::Error::Output {
        what: "starting the async runtime",
        source,
    })?;
    runtime
        .block_on(eval::run(args, &ProcessEnv, &mut std::io::stdout().lock()))
        .map(drop)
}

fn runtime<E>(wrap: impl FnOnce(std::io::Error) -> E) -> Result<tokio::runtime::Runtime, E> {
    tokio::runtime::Runtime::new().map_err(wrap)
}

fn run_audit(args: &audit::Args) -> Result<(), audit::Error> {
    shared::telemetry::init(&ProcessEnv);
    runtime(audit::Error::Output)?.block_on(async {
        let auditor = audit::Auditor::from_env(&ProcessEnv, runs::system_clock()).await?;
        audit::run(&auditor, args, std::io::stdout().lock())
            .await
            .map(drop)
    })
}

fn run_rerun(args: &rerun::Args) -> Result<(), rerun::Error> {
    shared::telemetry::init(&ProcessEnv);
    runtime(rerun::Error::Output)?.block_on(async {
        let rerunner = rerun::Rerunner::from_env(&ProcessEnv, runs::system_clock()).await?;
        rerun::run(&rerunner, args, std::io::stdout().lock())
            .await
            .map(drop)
    })
}

fn run_nightly(args: &nightly::Args) -> Result<(), nightly::Error> {
    shared::telemetry::init(&ProcessEnv);
    runtime(nightly::Error::Output)?.block_on(nightly::run(
        args,
        &ProcessEnv,
        runs::system_clock(),
        stop_signal(),
        std::io::stdout(),
    ))
}

/// Ctrl-C or SIGTERM. A scheduled run stops at its next wait, never inside a run.
async fn stop_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}

fn run_lambda() -> ExitCode {
    shared::telemetry::init(&ProcessEnv);
    let Ok(runtime) = tokio::runtime::Runtime::new() else {
        eprintln!("aiops: the async runtime could not start");
        return ExitCode::from(shared::invoke::EXIT_DEPENDENCY);
    };
    // Secrets named by `<VAR>_SECRET_ARN` are read once, at cold start.
    let env = match runtime.block_on(shared::secrets::load(ProcessEnv)) {
        Ok(env) => std::sync::Arc::new(env),
        Err(e) => {
            eprintln!("aiops: {e}");
            return ExitCode::from(e.kind().exit_code());
        }
    };
    let clock = runs::system_clock();
    runtime.block_on(shared::invoke::run_lambda(
        move |event: nightly::LambdaEvent| {
            let clock = clock.clone();
            let env = env.clone();
            async move { nightly::handle_event(env.as_ref(), &clock, event).await }
        },
    ))
}

fn run_sync_groups(args: &sync_groups::Args) -> Result<(), sync_groups::Error> {
    shared::telemetry::init(&ProcessEnv);
    let runtime = tokio::runtime::Runtime::new().map_err(sync_groups::Error::Output)?;
    runtime
        .block_on(sync_groups::run(
            args,
            &ProcessEnv,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
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
