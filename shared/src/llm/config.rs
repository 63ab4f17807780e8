//! LLM configuration: provider, endpoint and the tuning of budget, limiter, retries and
//! breaker. Every tuning variable has a default; see the README's table.

use std::time::Duration;

use crate::config::{ConfigError, Env};

/// An API key. Its `Debug` never shows it, so no configuration dump or log line can.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self(key.to_owned())
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self(key)
    }
}

/// Which provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any OpenAI-compatible chat completions server.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// No LLM: the built-in analyzers answer.
    None,
}

impl ProviderKind {
    /// The name used in configuration, breaker keys and analyses.
    pub fn name(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::None => "none",
        }
    }
}

/// Circuit-breaker tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    /// Open when this share of calls in the window failed (0.0–1.0) …
    pub failure_rate: f64,
    /// … once the window holds at least this many calls.
    pub min_calls: u32,
    /// Open after this many failures in a row, whatever the rate.
    pub consecutive_failures: u32,
    /// The window over which the rate is counted.
    pub window: Duration,
    /// A call slower than this counts as a failure even when it succeeded.
    pub slow_call: Duration,
    /// How long the breaker stays open before probes may go through.
    pub open_for: Duration,
    /// How many probe calls may be in flight while half-open.
    pub probes: u32,
    /// How long a read of the shared state is trusted before it is read again.
    pub cache_for: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_rate: 0.5,
            min_calls: 5,
            consecutive_failures: 5,
            window: Duration::from_mins(1),
            slow_call: Duration::from_mins(1),
            open_for: Duration::from_mins(1),
            probes: 1,
            cache_for: Duration::from_secs(5),
        }
    }
}

/// Everything the LLM step needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// The provider; [`ProviderKind::None`] means built-in analyzers only.
    pub provider: ProviderKind,
    /// Base URL: `https://api.openai.com/v1`, `http://localhost:11434/v1` (Ollama),
    /// `https://<resource>.openai.azure.com/openai/v1`, `https://api.anthropic.com`.
    pub url: String,
    /// Model name.
    pub model: String,
    /// API key; `None` for servers that need none (a local Ollama or vLLM).
    pub api_key: Option<ApiKey>,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Deadline of the whole LLM step: retries, waits and the repair attempt.
    pub deadline: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// First backoff step (doubles per attempt, full jitter).
    pub backoff_base: Duration,
    /// Largest backoff step.
    pub backoff_max: Duration,
    /// Input-token budget of the prompt.
    pub input_tokens: usize,
    /// Output-token limit of the answer.
    pub output_tokens: u32,
    /// Requests per minute this instance may send.
    pub requests_per_minute: u32,
    /// Tokens (input + output) per minute this instance may use.
    pub tokens_per_minute: u32,
    /// Circuit-breaker tuning.
    pub breaker: BreakerPolicy,
}

impl LlmConfig {
    /// A configuration with the defaults for `provider`, for tests and code.
    pub fn new(provider: ProviderKind, url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            provider,
            url: url.into(),
            model: model.into(),
            api_key: None,
            request_timeout: Duration::from_mins(1),
            deadline: Duration::from_mins(3),
            max_attempts: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(20),
            input_tokens: 12_000,
            output_tokens: 2_000,
            requests_per_minute: 60,
            tokens_per_minute: 400_000,
            breaker: BreakerPolicy::default(),
        }
    }

    /// Reads the `AIOPS_LLM_*` and `AIOPS_BREAKER_*` variables.
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let provider = match env
            .get("AIOPS_LLM_PROVIDER")
            .map(|p| p.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("none") => ProviderKind::None,
            Some("openai") => ProviderKind::OpenAi,
            Some("anthropic") => ProviderKind::Anthropic,
            Some(_) => {
                return Err(ConfigError::invalid(
                    "AIOPS_LLM_PROVIDER",
                    "openai, anthropic or none",
                    None,
                ));
            }
        };
        let default_url = match provider {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::None => "",
        };
        let url = env.get("AIOPS_LLM_URL");
        if let Some(u) = &url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ConfigError::invalid(
                "AIOPS_LLM_URL",
                "an http:// or https:// base URL",
                None,
            ));
        }
        let api_key = env.get("AIOPS_LLM_API_KEY");
        // The public services need a key; a local OpenAI-compatible server may not.
        if provider != ProviderKind::None && url.is_none() && api_key.is_none() {
            return Err(ConfigError::missing(
                "AIOPS_LLM_API_KEY",
                format!(
                    "the API key for {} (or AIOPS_LLM_URL for a server that needs none)",
                    provider.name()
                ),
            ));
        }
        let model = if provider == ProviderKind::None {
            env.get("AIOPS_LLM_MODEL").unwrap_or_default()
        } else {
            env.require(
                "AIOPS_LLM_MODEL",
                "the model name, such as gpt-4.1-mini or claude-sonnet-4-5",
            )?
        };
        let mut cfg = Self::new(
            provider,
            url.unwrap_or_else(|| default_url.to_owned()),
            model,
        );
        cfg.api_key = api_key.map(ApiKey::from);
        read_tuning(env, &mut cfg)?;
        Ok(cfg)
    }
}

fn read_tuning(env: &impl Env, cfg: &mut LlmConfig) -> Result<(), ConfigError> {
    let d = |name: &str, slot: &mut Duration| -> Result<(), ConfigError> {
        if let Some(v) = env.duration(name)? {
            if v.is_zero() {
                return Err(ConfigError::invalid(name, "a duration above zero", None));
            }
            *slot = v;
        }
        Ok(())
    };
    d("AIOPS_LLM_TIMEOUT", &mut cfg.request_timeout)?;
    d("AIOPS_LLM_DEADLINE", &mut cfg.deadline)?;
    d("AIOPS_LLM_BACKOFF_BASE", &mut cfg.backoff_base)?;
    d("AIOPS_LLM_BACKOFF_MAX", &mut cfg.backoff_max)?;
    let b = &mut cfg.breaker;
    d("AIOPS_BREAKER_WINDOW", &mut b.window)?;
    d("AIOPS_BREAKER_SLOW_CALL", &mut b.slow_call)?;
    d("AIOPS_BREAKER_OPEN_FOR", &mut b.open_for)?;
    d("AIOPS_BREAKER_CACHE", &mut b.cache_for)?;

    let n = |name: &str, slot: &mut u32| -> Result<(), ConfigError> {
        if let Some(v) = env.parse::<u32>(name, "a whole number above zero")? {
            if v == 0 {
                return Err(ConfigError::invalid(
                    name,
                    "a whole number above zero",
                    None,
                ));
            }
            *slot = v;
        }
        Ok(())
    };
    n("AIOPS_LLM_MAX_ATTEMPTS", &mut cfg.max_attempts)?;
    n("AIOPS_LLM_OUTPUT_TOKENS", &mut cfg.output_tokens)?;
    n("AIOPS_LLM_RPM", &mut cfg.requests_per_minute)?;
    n("AIOPS_LLM_TPM", &mut cfg.tokens_per_minute)?;
    n("AIOPS_BREAKER_MIN_CALLS", &mut cfg.breaker.min_calls)?;
    n(
        "AIOPS_BREAKER_CONSECUTIVE_FAILURES",
        &mut cfg.breaker.consecutive_failures,
    )?;
    n("AIOPS_BREAKER_PROBES", &mut cfg.breaker.probes)?;
    let mut input = u32::try_from(cfg.input_tokens).unwrap_or(u32::MAX);
    n("AIOPS_LLM_INPUT_TOKENS", &mut input)?;
    cfg.input_tokens = input as usize;
    if cfg.input_tokens < 1_000 {
        return Err(ConfigError::invalid(
            "AIOPS_LLM_INPUT_TOKENS",
            "at least 1000 tokens",
            None,
        ));
    }
    if let Some(pct) =
        env.parse::<u8>("AIOPS_BREAKER_FAILURE_RATE", "a percentage from 1 to 100")?
    {
        if !(1..=100).contains(&pct) {
            return Err(ConfigError::invalid(
                "AIOPS_BREAKER_FAILURE_RATE",
                "a percentage from 1 to 100",
                None,
            ));
        }
        cfg.breaker.failure_rate = f64::from(pct) / 100.0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MapEnv;

    #[test]
    fn no_provider_is_the_default_and_needs_nothing_else() {
        let cfg = LlmConfig::from_env(&MapEnv::new()).unwrap();
        assert_eq!(cfg.provider, ProviderKind::None);
        assert_eq!(cfg.input_tokens, 12_000);
    }

    #[test]
    fn a_public_provider_needs_a_key_and_a_model() {
        let env = MapEnv::new()
            .with("AIOPS_LLM_PROVIDER", "anthropic")
            .with("AIOPS_LLM_MODEL", "m");
        assert_eq!(
            LlmConfig::from_env(&env).unwrap_err().var(),
            "AIOPS_LLM_API_KEY"
        );
        let env = MapEnv::new()
            .with("AIOPS_LLM_PROVIDER", "openai")
            .with("AIOPS_LLM_API_KEY", "k");
        assert_eq!(
            LlmConfig::from_env(&env).unwrap_err().var(),
            "AIOPS_LLM_MODEL"
        );
        let env = MapEnv::new()
            .with("AIOPS_LLM_PROVIDER", "OpenAI")
            .with("AIOPS_LLM_URL", "http://localhost:11434/v1")
            .with("AIOPS_LLM_MODEL", "llama3.1");
        let cfg = LlmConfig::from_env(&env).unwrap();
        assert_eq!((cfg.provider, cfg.api_key), (ProviderKind::OpenAi, None));
        let env = MapEnv::new()
            .with("AIOPS_LLM_PROVIDER", "openai")
            .with("AIOPS_LLM_MODEL", "m")
            .with("AIOPS_LLM_API_KEY", "sk-live-abcdef123456");
        let cfg = LlmConfig::from_env(&env).unwrap();
        assert!(
            !format!("{cfg:?}").contains("sk-live-abcdef123456"),
            "Debug never shows the key"
        );
    }

    #[test]
    fn tuning_is_read_and_bad_values_name_their_variable() {
        let env = MapEnv::new()
            .with("AIOPS_LLM_INPUT_TOKENS", "8000")
            .with("AIOPS_BREAKER_FAILURE_RATE", "25")
            .with("AIOPS_BREAKER_OPEN_FOR", "2m")
            .with("AIOPS_LLM_RPM", "10");
        let cfg = LlmConfig::from_env(&env).unwrap();
        assert_eq!(cfg.input_tokens, 8_000);
        assert!((cfg.breaker.failure_rate - 0.25).abs() < f64::EPSILON);
        assert_eq!(cfg.breaker.open_for, Duration::from_mins(2));
        assert_eq!(cfg.requests_per_minute, 10);
        for (var, value) in [
            ("AIOPS_LLM_PROVIDER", "gemini"),
            ("AIOPS_LLM_URL", "api.openai.com"),
            ("AIOPS_BREAKER_FAILURE_RATE", "150"),
            ("AIOPS_LLM_RPM", "0"),
            ("AIOPS_LLM_TIMEOUT", "soon"),
            ("AIOPS_LLM_INPUT_TOKENS", "10"),
        ] {
            let err = LlmConfig::from_env(&MapEnv::new().with(var, value)).unwrap_err();
            assert_eq!(err.var(), var, "{err}");
        }
    }
}
