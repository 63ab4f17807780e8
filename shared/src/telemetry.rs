//! Tracing set-up shared by every binary: JSON lines in Lambda (CloudWatch and log
//! pipelines parse them), readable lines in a terminal. Logs go to stderr; stdout is
//! reserved for results.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::Env;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

/// Chooses the format: `AIOPS_LOG_FORMAT` (`json`/`text`) wins; otherwise JSON in
/// Lambda (`AWS_LAMBDA_RUNTIME_API` set) and text elsewhere. Colours only on a terminal.
pub fn choose_format(env: &impl Env) -> LogFormat {
    match env.get("AIOPS_LOG_FORMAT").as_deref().map(str::trim) {
        Some("json") => LogFormat::Json,
        Some("text") => LogFormat::Text,
        _ if env.get("AWS_LAMBDA_RUNTIME_API").is_some() => LogFormat::Json,
        _ => LogFormat::Text,
    }
}

/// Installs the global subscriber once; later calls do nothing. The level comes from
/// `AIOPS_LOG` (an `EnvFilter` directive such as `info` or `shared=debug`), default `info`.
pub fn init(env: &impl Env) -> LogFormat {
    let format = choose_format(env);
    let filter = env
        .get("AIOPS_LOG")
        .and_then(|d| EnvFilter::try_new(d).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // An already-installed subscriber (tests, a second init) is fine: keep it.
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder
            .compact()
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    format
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn lambda_gets_json_and_a_terminal_gets_text() {
        let lambda = MapEnv::new().with("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        assert_eq!(choose_format(&lambda), LogFormat::Json);
        assert_eq!(choose_format(&MapEnv::new()), LogFormat::Text);
    }

    #[test]
    fn the_explicit_setting_wins() {
        let env = MapEnv::new()
            .with("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
            .with("AIOPS_LOG_FORMAT", "text");
        assert_eq!(choose_format(&env), LogFormat::Text);
        let env = MapEnv::new().with("AIOPS_LOG_FORMAT", "json");
        assert_eq!(choose_format(&env), LogFormat::Json);
    }
}
