//! `policy-check`: a Lambda (decision API, chain step, Kubernetes webhook), or
//! `--event FILE` locally.

use std::process::ExitCode;
use std::sync::Arc;

use policy_check::{Config, Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init(&ProcessEnv);
    let ctx = match Config::from_env(&ProcessEnv).and_then(Context::new) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            eprintln!("policy-check: {e}");
            return ExitCode::from(shared::invoke::EXIT_INVALID);
        }
    };
    shared::invoke::run("policy-check", move |input| {
        let ctx = ctx.clone();
        async move { handle(&ctx, input).await }
    })
    .await
}
