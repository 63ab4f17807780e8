//! `commit-report`: a Lambda, or `--event FILE` locally.

use std::process::ExitCode;
use std::sync::Arc;

use commit_report::{Context, handle};
use shared::Classify;
use shared::config::ProcessEnv;

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init(&ProcessEnv);
    let ctx = match Context::from_env(&ProcessEnv).await {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            eprintln!("commit-report: {e}");
            return ExitCode::from(e.kind().exit_code());
        }
    };
    shared::invoke::run("commit-report", move |input| {
        let ctx = ctx.clone();
        async move { handle(&ctx, input).await }
    })
    .await
}
