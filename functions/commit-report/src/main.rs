//! `commit-report`: a Lambda (its own event, or the state machine's chain state), or
//! `--event FILE` locally.

use std::process::ExitCode;

use commit_report::{Config, Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    Box::pin(shared::chain::lambda::serve(
        shared::chain::Step::CommitReport,
        async { Context::connect(Config::from_env(&ProcessEnv)?).await },
        |ctx, input| async move { handle(&ctx, input).await },
    ))
    .await
}
