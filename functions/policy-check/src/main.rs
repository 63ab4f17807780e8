//! `policy-check`: a Lambda (decision API, the state machine's chain step, Kubernetes
//! webhook), or
//! `--event FILE` locally.

use std::process::ExitCode;

use policy_check::{Config, Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    let context = async { Config::from_env(&ProcessEnv).and_then(Context::new) };
    Box::pin(shared::chain::lambda::serve(
        shared::chain::Step::PolicyCheck,
        context,
        |ctx, input| async move { handle(&ctx, input).await },
    ))
    .await
}
