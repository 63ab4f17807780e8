//! `collect-evidence`: a Lambda, or `--event FILE` locally.

use std::process::ExitCode;
use std::sync::Arc;

use collect_evidence::{Context, handle};
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init(&ProcessEnv);
    let ctx = match Context::from_env(&ProcessEnv).await {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            eprintln!("collect-evidence: {e}");
            return ExitCode::from(shared::invoke::EXIT_INVALID);
        }
    };
    shared::invoke::run("collect-evidence", move |input| {
        let ctx = ctx.clone();
        async move { handle(&ctx, input).await }
    })
    .await
}
