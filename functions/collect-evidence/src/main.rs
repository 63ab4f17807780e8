//! `collect-evidence`: a Lambda, or `--event FILE` locally.

use std::process::ExitCode;

use collect_evidence::{Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    shared::invoke::serve(
        "collect-evidence",
        Context::from_env(&ProcessEnv),
        |ctx, input| async move { handle(&ctx, input).await },
    )
    .await
}
