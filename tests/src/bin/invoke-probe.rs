//! Test helper: a function binary whose handler is defined by the tests, to prove
//! `shared::invoke` in both modes (local `--event`, and the Lambda runtime API).

use std::process::ExitCode;

use aiops_tests::probe::handle;

#[tokio::main]
async fn main() -> ExitCode {
    shared::invoke::run("invoke-probe", handle).await
}
