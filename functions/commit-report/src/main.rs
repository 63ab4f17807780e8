//! `commit-report`: a Lambda (its own event, or the state machine's chain state), or
//! `--event FILE` locally. Secrets named by `<VAR>_SECRET_ARN` are read at cold start.

use std::process::ExitCode;

use commit_report::{Config, Context, handle};

#[tokio::main]
async fn main() -> ExitCode {
    Box::pin(shared::chain::lambda::serve(
        shared::chain::Step::CommitReport,
        shared::secrets::with_secrets(|env| async move {
            Context::connect(Config::from_env(&env)?).await
        }),
        |ctx, input| async move { handle(&ctx, input).await },
    ))
    .await
}
