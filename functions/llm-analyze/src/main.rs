//! `llm-analyze`: a Lambda (its own event, or the state machine's chain state), or
//! `--event FILE` locally.

use std::process::ExitCode;

use llm_analyze::{Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    Box::pin(shared::chain::lambda::serve(
        shared::chain::Step::LlmAnalyze,
        Context::from_env(&ProcessEnv),
        |ctx, input| async move { handle(&ctx, input).await },
    ))
    .await
}
