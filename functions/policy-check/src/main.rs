//! `policy-check`: a Lambda (decision API, the state machine's chain step, Kubernetes
//! webhook), `--event FILE` locally, or `--listen [ADDR]` as a local HTTP server.
//! Secrets named by `<VAR>_SECRET_ARN` are read at cold start.

use std::process::ExitCode;

use policy_check::{Config, Context, handle};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(addr) = policy_check::listen::requested(&args) {
        return policy_check::listen::main(addr).await;
    }
    let context = shared::secrets::with_secrets(|env| async move {
        Config::from_env(&env).and_then(Context::new)
    });
    Box::pin(shared::chain::lambda::serve(
        shared::chain::Step::PolicyCheck,
        context,
        |ctx, input| async move { handle(&ctx, input).await },
    ))
    .await
}
