//! `llm-analyze`: a Lambda (its own event, or the state machine's chain state), or
//! `--event FILE` locally.

use std::process::ExitCode;

use llm_analyze::{Config, Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    Box::pin(shared::chain::lambda::serve(
        shared::chain::Step::LlmAnalyze,
        async {
            Context::connect(Config::from_env(&ProcessEnv).map_err(shared::Error::from)?).await
        },
        |ctx, input| async move { handle(&ctx, input).await },
    ))
    .await
}
