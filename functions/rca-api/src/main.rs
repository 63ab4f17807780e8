//! `rca-api`: a Lambda behind a Function URL when `AWS_LAMBDA_RUNTIME_API` is set, or a
//! plain local HTTP server with `--listen ADDR`.

use std::process::ExitCode;
use std::sync::Arc;

use rca_api::{Config, Context, app, serve_local};
use shared::Classify;
use shared::config::{Env, ProcessEnv};

const USAGE: &str = "usage: rca-api --listen ADDR\n\n\
Serves POST /v1/rca, GET /v1/rca/{id} and GET /healthz on ADDR (for example\n\
127.0.0.1:8080). With AWS_LAMBDA_RUNTIME_API set, serves the Lambda runtime instead.\n";

#[tokio::main]
async fn main() -> ExitCode {
    shared::telemetry::init(&ProcessEnv);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = match args.as_slice() {
        [flag, addr] if flag == "--listen" => Some(addr.clone()),
        [flag] if flag == "--help" || flag == "-h" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        [] if ProcessEnv.get("AWS_LAMBDA_RUNTIME_API").is_some() => None,
        _ => {
            eprint!("rca-api: expected --listen ADDR\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let lambda = listen.is_none();
    // Secrets named by `<VAR>_SECRET_ARN` are read once, before the configuration.
    let context = shared::secrets::with_secrets(|env| async move {
        let config = Config::from_env(&env)?;
        if lambda && config.state_machine_arn.is_none() {
            // A frozen Lambda would never finish a background run.
            return Err(rca_api::Error::Config(
                shared::config::ConfigError::missing(
                    "AIOPS_STATE_MACHINE_ARN",
                    "the state machine that runs the chain (required in Lambda)",
                ),
            ));
        }
        Box::pin(Context::from_env(config, &env)).await
    });
    let ctx = match Box::pin(context).await {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            eprintln!("rca-api: {e}");
            return ExitCode::from(e.kind().exit_code());
        }
    };
    match listen {
        Some(addr) => match serve_local(&addr, ctx).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rca-api: --listen {addr}: {e}");
                ExitCode::from(2)
            }
        },
        None => match lambda_http::run(app(ctx)).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rca-api: the Lambda runtime loop stopped: {e}");
                ExitCode::from(1)
            }
        },
    }
}
