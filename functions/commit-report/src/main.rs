//! `commit-report`: a Lambda, or `--event FILE` locally.

use std::process::ExitCode;

use commit_report::{Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    shared::invoke::serve(
        "commit-report",
        Context::from_env(&ProcessEnv),
        |ctx, input| async move { handle(&ctx, input).await },
    )
    .await
}
