//! One entry point for every function binary.
//!
//! With `AWS_LAMBDA_RUNTIME_API` set (in Lambda, or under `cargo lambda watch`) the
//! handler serves the Lambda runtime. Otherwise `--event FILE|-` runs it once: the event
//! is read from the file (or stdin), the response JSON is printed on stdout, and the
//! exit code follows the contract: 0 handled, 2 invalid input or configuration (one line
//! on stderr naming the field and what was expected), 1 a dependency failed.

use std::future::Future;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{Env, ProcessEnv};
use crate::error::{Classify, ErrorKind, one_line};

/// Exit code for a handled event.
pub const EXIT_OK: u8 = 0;
/// Exit code when a dependency failed after retries.
pub const EXIT_DEPENDENCY: u8 = 1;
/// Exit code for invalid input, arguments or configuration.
pub const EXIT_INVALID: u8 = 2;

/// A failure to run the handler, with the kind that decides exit code and error type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Invalid input/configuration or a dependency failure.
    pub kind: ErrorKind,
    /// Whether another attempt may succeed (decides the Lambda error type).
    pub retryable: bool,
    /// One line, naming the field or dependency.
    pub message: String,
}

impl Failure {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Invalid,
            retryable: false,
            message: message.into(),
        }
    }

    fn from_error<E: Classify>(err: &E) -> Self {
        let kind = err.kind();
        Self {
            kind,
            retryable: kind == ErrorKind::Dependency && err.is_retryable(),
            message: redacted(&one_line(err)),
        }
    }

    /// The Lambda error type: `Retryable.DependencyFailed`,
    /// `NonRetryable.DependencyFailed` or `NonRetryable.InvalidInput`.
    pub fn error_type(&self) -> &'static str {
        self.kind.lambda_error_type(self.retryable)
    }
}

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        Diagnostic {
            error_type: f.error_type().to_owned(),
            error_message: f.message,
        }
    }
}

/// Decodes an event, naming the offending field (`event.namespace: missing field`).
pub fn decode_event<I: DeserializeOwned>(value: Value) -> Result<I, Failure> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "event".to_owned()
        } else {
            format!("event.{path}")
        };
        Failure::invalid(format!("{field}: {}", e.inner()))
    })
}

/// Runs `handler` once on the decoded event: the core shared by both modes.
pub async fn handle_value<I, O, E, F, Fut>(handler: &F, event: Value) -> Result<Value, Failure>
where
    I: DeserializeOwned,
    O: Serialize,
    E: Classify,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, E>>,
{
    let input = decode_event::<I>(event)?;
    let output = handler(input).await.map_err(|e| Failure::from_error(&e))?;
    serde_json::to_value(output).map_err(|e| Failure {
        kind: ErrorKind::Dependency,
        retryable: false,
        message: format!("the response could not be serialised: {e}"),
    })
}

/// The entry point of a function binary: Lambda when `AWS_LAMBDA_RUNTIME_API` is set,
/// otherwise the local `--event` mode with the process's arguments and standard streams.
pub async fn run<I, O, E, F, Fut>(name: &str, handler: F) -> ExitCode
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: Classify + Send + 'static,
    F: Fn(I) -> Fut + Send + Sync,
    Fut: Future<Output = Result<O, E>> + Send,
{
    if ProcessEnv.get("AWS_LAMBDA_RUNTIME_API").is_some() {
        return run_lambda(handler).await;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = run_local(
        name,
        &args,
        &mut std::io::stdin().lock(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
        handler,
    )
    .await;
    ExitCode::from(code)
}

/// The whole `main` of a function binary: tracing, then the context built from
/// configuration (when that fails: one line on stderr and the error kind's exit code),
/// then [`run`] with every invocation sharing the context.
pub async fn serve<C, CE, CF, I, O, E, F, Fut>(name: &str, context: CF, handler: F) -> ExitCode
where
    CF: Future<Output = Result<C, CE>>,
    CE: Classify,
    C: Send + Sync + 'static,
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: Classify + Send + 'static,
    F: Fn(Arc<C>, I) -> Fut + Send + Sync,
    Fut: Future<Output = Result<O, E>> + Send,
{
    crate::telemetry::init(&ProcessEnv);
    // Both futures are boxed: contexts and the runtime loop are large, and `main`
    // should not carry them on its stack.
    let ctx = match Box::pin(context).await {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            eprintln!("{name}: {}", one_line(&e));
            return ExitCode::from(e.kind().exit_code());
        }
    };
    Box::pin(run(name, move |input| handler(Arc::clone(&ctx), input))).await
}

/// Serves the Lambda runtime API until it stops. Exit 1 if the runtime loop fails.
pub async fn run_lambda<I, O, E, F, Fut>(handler: F) -> ExitCode
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
    E: Classify + Send + 'static,
    F: Fn(I) -> Fut + Send + Sync,
    Fut: Future<Output = Result<O, E>> + Send,
{
    let handler = &handler;
    let service = service_fn(move |event: LambdaEvent<Value>| async move {
        let result = handle_value(handler, event.payload).await;
        if let Err(failure) = &result {
            tracing::warn!(
                request_id = %event.context.request_id,
                error_type = failure.error_type(),
                "invocation failed: {}",
                failure.message
            );
        }
        result
    });
    match lambda_runtime::run(service).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("the Lambda runtime loop stopped: {e}");
            ExitCode::from(EXIT_DEPENDENCY)
        }
    }
}

const USAGE: &str = "usage: {name} --event FILE|-\n\n\
Runs the handler once on the JSON event in FILE (- for stdin) and prints the response\n\
JSON on stdout. With AWS_LAMBDA_RUNTIME_API set, serves the Lambda runtime instead.\n\n\
exit codes: 0 handled, 2 invalid input or configuration, 1 a dependency failed\n";

/// The local mode, with explicit streams so tests run it in-process. Returns the exit
/// code.
pub async fn run_local<I, O, E, F, Fut>(
    name: &str,
    args: &[String],
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
    handler: F,
) -> u8
where
    I: DeserializeOwned,
    O: Serialize,
    E: Classify,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<O, E>>,
{
    let usage = USAGE.replace("{name}", name);
    let source = match parse_args(args) {
        Ok(Args::Help) => {
            let _ = stdout.write_all(usage.as_bytes());
            return EXIT_OK;
        }
        Ok(Args::Event(source)) => source,
        Err(message) => {
            let _ = writeln!(stderr, "{name}: {message}\n\n{usage}");
            return EXIT_INVALID;
        }
    };
    let result = match read_event(&source, stdin) {
        Ok(value) => handle_value(&handler, value).await,
        Err(failure) => Err(failure),
    };
    match result {
        Ok(value) => {
            let text = serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string());
            if writeln!(stdout, "{text}").is_err() {
                return EXIT_DEPENDENCY;
            }
            EXIT_OK
        }
        Err(failure) => {
            let _ = writeln!(stderr, "{name}: {}", failure.message);
            failure.kind.exit_code()
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Args {
    Help,
    Event(String),
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut event = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Args::Help),
            "--event" => match iter.next() {
                Some(v) => event = Some(v.clone()),
                None => return Err("--event needs a value: a file path or - for stdin".into()),
            },
            other => match other.strip_prefix("--event=") {
                Some(v) => event = Some(v.to_owned()),
                None => return Err(format!("unexpected argument {other:?}")),
            },
        }
    }
    event
        .map(Args::Event)
        .ok_or_else(|| "--event is required: a file path or - for stdin".into())
}

fn read_event(source: &str, stdin: &mut dyn Read) -> Result<Value, Failure> {
    let mut text = String::new();
    let (label, read) = if source == "-" {
        ("stdin".to_owned(), stdin.read_to_string(&mut text))
    } else {
        (
            source.to_owned(),
            std::fs::File::open(source).and_then(|mut f| f.read_to_string(&mut text)),
        )
    };
    read.map_err(|e| Failure::invalid(format!("--event {label}: cannot read the event: {e}")))?;
    serde_json::from_str(&text).map_err(|e| {
        Failure::invalid(format!(
            "--event {label}: expected a JSON event, found invalid JSON ({e})"
        ))
    })
}

/// The message an invocation returns, through the redactor (with the process's own
/// `AIOPS_REDACT_*` rules): an error that quotes a connection string or a token must
/// not carry it to the caller or to CloudWatch.
fn redacted(message: &str) -> String {
    static REDACTOR: std::sync::OnceLock<crate::redact::Redactor> = std::sync::OnceLock::new();
    REDACTOR
        .get_or_init(|| crate::redact::Redactor::from_env(&ProcessEnv).unwrap_or_default())
        .redact_text(message)
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments_accept_both_spellings_and_refuse_strays() {
        assert_eq!(
            parse_args(&args(&["--event", "e.json"])),
            Ok(Args::Event("e.json".into()))
        );
        assert_eq!(
            parse_args(&args(&["--event=-"])),
            Ok(Args::Event("-".into()))
        );
        assert_eq!(parse_args(&args(&["--help"])), Ok(Args::Help));
        assert!(
            parse_args(&args(&[]))
                .unwrap_err()
                .contains("--event is required")
        );
        assert!(
            parse_args(&args(&["--event"]))
                .unwrap_err()
                .contains("needs a value")
        );
        assert!(
            parse_args(&args(&["--evnt", "x"]))
                .unwrap_err()
                .contains("--evnt")
        );
    }

    #[test]
    fn a_failure_message_is_redacted() {
        #[derive(Debug, thiserror::Error)]
        #[error("connecting to postgres://app:{0}@db:5432/app failed")]
        struct Leaky(String);
        impl Classify for Leaky {
            fn kind(&self) -> ErrorKind {
                ErrorKind::Dependency
            }
        }
        let secret = format!("pw{}", fastrand::u64(..));
        let failure = Failure::from_error(&Leaky(secret.clone()));
        assert!(!failure.message.contains(&secret), "{}", failure.message);
        assert!(failure.message.contains("db:5432"), "{}", failure.message);
        assert_eq!(failure.error_type(), "Retryable.DependencyFailed");
    }

    #[test]
    fn decode_names_the_nested_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            count: u32,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Event {
            inner: Inner,
        }
        let err =
            decode_event::<Event>(serde_json::json!({"inner": {"count": "many"}})).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(
            err.message.starts_with("event.inner.count: "),
            "{}",
            err.message
        );
        assert!(err.message.contains("expected u32"), "{}", err.message);
    }
}
