//! `llm-analyze`: a Lambda (its own event, or the state machine's chain state), or
//! `--event FILE` locally. Secrets named by `<VAR>_SECRET_ARN` are read at cold start.

use std::process::ExitCode;

use llm_analyze::{Config, Context, handle};

#[tokio::main]
async fn main() -> ExitCode {
    Box::pin(shared::chain::lambda::serve(
        shared::chain::Step::LlmAnalyze,
        shared::secrets::with_secrets(|env| async move {
            Context::connect(Config::from_env(&env).map_err(shared::Error::from)?).await
        }),
        |ctx, input| async move { handle(&ctx, input).await },
    ))
    .await
}
