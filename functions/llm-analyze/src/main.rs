//! `llm-analyze`: a Lambda, or `--event FILE` locally.

use std::process::ExitCode;

use llm_analyze::{Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    shared::invoke::serve(
        "llm-analyze",
        Context::from_env(&ProcessEnv),
        |ctx, input| async move { handle(&ctx, input).await },
    )
    .await
}
