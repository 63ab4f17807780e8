//! Audit configuration, read once from the environment.

use std::time::Duration;

use reqwest::Url;

use super::record::StreamFields;
use super::retry::RetryPolicy;
use crate::config::{ConfigError, Env};
use crate::victorialogs::Endpoint;

/// Records per POST when `AIOPS_AUDIT_BATCH_SIZE` is unset. Audit records are a few
/// hundred bytes, so a full batch stays well under any proxy's body limit.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// Records waiting to be sent when `AIOPS_AUDIT_BUFFER` is unset (a few MB at most).
pub const DEFAULT_BUFFER: usize = 10_000;
/// How long `flush` may hold an invocation when `AIOPS_AUDIT_FLUSH_TIMEOUT` is unset:
/// long enough for a healthy VictoriaLogs and one quick retry, short next to a Lambda's
/// timeout.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// The `env` stream field when `AIOPS_ENV` is unset.
pub const DEFAULT_ENV: &str = "local";
/// The `service` stream field.
pub const DEFAULT_SERVICE: &str = "aiops";
/// The `function` stream field until a binary names itself with
/// [`AuditConfig::with_function`]; it is the CLI's name.
pub const DEFAULT_FUNCTION: &str = "aiops";
/// One request to VictoriaLogs may take this long; the flush bound still caps what
/// the request path waits.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where audit records go and how they are batched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// `service`, `function`, `env`; `env` from `AIOPS_ENV` (default `local`).
    pub stream: StreamFields,
    /// `AIOPS_VICTORIALOGS_URL` and tenant; `None` (unset) writes to stdout.
    pub victorialogs: Option<VictoriaLogsConfig>,
    /// `AIOPS_AUDIT_BATCH_SIZE`: records per POST, at least 1 (default 100).
    pub batch_size: usize,
    /// `AIOPS_AUDIT_BUFFER`: records waiting to be sent, at least 1 (default 10 000).
    /// A record that finds the buffer full goes straight to stdout and counts as dropped.
    pub buffer: usize,
    /// `AIOPS_AUDIT_FLUSH_TIMEOUT`: the most `flush` waits for VictoriaLogs
    /// (default 1 s); what is undelivered then goes to stdout.
    pub flush_timeout: Duration,
    /// Backoff for 429 and 5xx answers and unreachable servers.
    pub retry: RetryPolicy,
    /// Where records go when VictoriaLogs is not configured, and the fallback when it
    /// is: stdout in Lambda (shipped to CloudWatch), stderr elsewhere, because a local
    /// run prints its result on stdout.
    pub console: Console,
}

/// The standard stream audit records are written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// The direct VictoriaLogs sink's address, tenant and timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VictoriaLogsConfig {
    /// `AIOPS_VICTORIALOGS_URL` and tenant (`AIOPS_VICTORIALOGS_ACCOUNT_ID`,
    /// `AIOPS_VICTORIALOGS_PROJECT_ID`); `/insert/jsonline` is appended to the URL.
    pub endpoint: Endpoint,
    /// Timeout of one POST (default 5 s).
    pub request_timeout: Duration,
}

impl VictoriaLogsConfig {
    /// A sink at `url` with the default tenant and timeout.
    pub fn new(url: Url) -> Self {
        Self::at(Endpoint::from_url(url))
    }

    /// A sink at `endpoint` with the default timeout.
    pub fn at(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

impl Default for AuditConfig {
    /// Stdout, `env` `local`, default batching.
    fn default() -> Self {
        Self {
            stream: StreamFields {
                service: DEFAULT_SERVICE.to_owned(),
                function: DEFAULT_FUNCTION.to_owned(),
                env: DEFAULT_ENV.to_owned(),
            },
            victorialogs: None,
            batch_size: DEFAULT_BATCH_SIZE,
            buffer: DEFAULT_BUFFER,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            retry: RetryPolicy::default(),
            console: Console::Stderr,
        }
    }
}

impl AuditConfig {
    /// Reads `AIOPS_VICTORIALOGS_URL`, `AIOPS_VICTORIALOGS_ACCOUNT_ID`,
    /// `AIOPS_VICTORIALOGS_PROJECT_ID`, `AIOPS_ENV`, `AIOPS_AUDIT_BATCH_SIZE`,
    /// `AIOPS_AUDIT_BUFFER` and `AIOPS_AUDIT_FLUSH_TIMEOUT`; defaults as documented on
    /// the fields.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let victorialogs = Endpoint::from_env(env)?.map(VictoriaLogsConfig::at);
        Ok(Self {
            stream: StreamFields {
                env: env.get("AIOPS_ENV").unwrap_or(defaults.stream.env),
                ..defaults.stream
            },
            victorialogs,
            batch_size: positive(env, "AIOPS_AUDIT_BATCH_SIZE")?.unwrap_or(DEFAULT_BATCH_SIZE),
            buffer: positive(env, "AIOPS_AUDIT_BUFFER")?.unwrap_or(DEFAULT_BUFFER),
            flush_timeout: env
                .duration("AIOPS_AUDIT_FLUSH_TIMEOUT")?
                .unwrap_or(DEFAULT_FLUSH_TIMEOUT),
            retry: defaults.retry,
            console: if env.get("AWS_LAMBDA_RUNTIME_API").is_some() {
                Console::Stdout
            } else {
                Console::Stderr
            },
        })
    }

    /// Names the binary writing the records (the `function` stream field).
    #[must_use]
    pub fn with_function(mut self, function: impl Into<String>) -> Self {
        self.stream.function = function.into();
        self
    }
}

fn positive(env: &impl Env, var: &str) -> Result<Option<usize>, ConfigError> {
    const EXPECTED: &str = "a whole number of records, at least 1";
    match env.parse::<usize>(var, EXPECTED)? {
        Some(0) => Err(ConfigError::invalid(
            var,
            EXPECTED,
            Some("0 would hold nothing".into()),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn an_empty_environment_means_stdout_with_documented_defaults() {
        let config = AuditConfig::from_env(&MapEnv::new()).expect("valid");
        assert_eq!(config, AuditConfig::default());
        assert!(config.victorialogs.is_none());
        assert_eq!(config.stream.env, "local");
        assert_eq!((config.batch_size, config.buffer), (100, 10_000));
        assert_eq!(config.flush_timeout, Duration::from_secs(1));
        assert_eq!(
            config.console,
            Console::Stderr,
            "stdout carries a local result"
        );
    }

    #[test]
    fn in_lambda_records_go_to_stdout_for_cloudwatch() {
        let env = MapEnv::new().with("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001");
        let config = AuditConfig::from_env(&env).expect("valid");
        assert_eq!(config.console, Console::Stdout);
    }

    #[test]
    fn every_variable_is_read() {
        let env = MapEnv::new()
            .with("AIOPS_VICTORIALOGS_URL", "http://vl:9428/")
            .with("AIOPS_VICTORIALOGS_ACCOUNT_ID", "12")
            .with("AIOPS_VICTORIALOGS_PROJECT_ID", "3")
            .with("AIOPS_ENV", "prod")
            .with("AIOPS_AUDIT_BATCH_SIZE", "7")
            .with("AIOPS_AUDIT_BUFFER", "70")
            .with("AIOPS_AUDIT_FLUSH_TIMEOUT", "250ms");
        let config = AuditConfig::from_env(&env)
            .expect("valid")
            .with_function("policy-check");
        let vl = config.victorialogs.expect("configured");
        assert_eq!(vl.endpoint.base().as_str(), "http://vl:9428/");
        assert_eq!(
            (vl.endpoint.account_id(), vl.endpoint.project_id()),
            (Some(12), Some(3))
        );
        assert_eq!(config.stream.env, "prod");
        assert_eq!(config.stream.function, "policy-check");
        assert_eq!((config.batch_size, config.buffer), (7, 70));
        assert_eq!(config.flush_timeout, Duration::from_millis(250));
    }

    #[test]
    fn bad_values_name_the_variable_and_never_echo_the_value() {
        let cases = [
            ("AIOPS_VICTORIALOGS_URL", "ftp://user:hunter2@vl"),
            ("AIOPS_VICTORIALOGS_URL", "hunter2 not a url"),
            ("AIOPS_AUDIT_BATCH_SIZE", "0"),
            ("AIOPS_AUDIT_BUFFER", "lots"),
            ("AIOPS_AUDIT_FLUSH_TIMEOUT", "soon"),
        ];
        for (var, value) in cases {
            let env = MapEnv::new()
                .with("AIOPS_VICTORIALOGS_URL", "http://vl:9428")
                .with(var, value);
            let err = AuditConfig::from_env(&env).expect_err(var);
            assert_eq!(err.var(), var);
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        let env = MapEnv::new()
            .with("AIOPS_VICTORIALOGS_URL", "http://vl:9428")
            .with("AIOPS_VICTORIALOGS_ACCOUNT_ID", "-1");
        let err = AuditConfig::from_env(&env).expect_err("negative tenant");
        assert_eq!(err.var(), "AIOPS_VICTORIALOGS_ACCOUNT_ID");
    }

    #[test]
    fn debug_output_hides_url_credentials() {
        let url = Url::parse("https://audit:s3cr3t@vl.example:9428").expect("url");
        let text = format!("{:?}", VictoriaLogsConfig::new(url));
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("vl.example"), "{text}");
    }
}
