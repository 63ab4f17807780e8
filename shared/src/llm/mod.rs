//! The LLM port, its adapters and the protection around them.
//!
//! - [`Llm`]: one chat call returning text or JSON; adapters [`OpenAi`] (any
//!   OpenAI-compatible server) and [`Anthropic`].
//! - [`prompt`]: the prompt built from an evidence bundle within a token budget.
//! - [`schema`]: the RCA answer schema, validation and the repair request.
//! - [`limiter`], [`retry`], [`breaker`]: requests/tokens per minute, backoff with
//!   injected jitter, and a circuit breaker whose state is shared through the store.
//! - [`client`]: [`ResilientLlm`], which puts them together for one RCA.

mod anthropic;
pub mod breaker;
pub mod client;
pub mod config;
mod http;
pub mod limiter;
mod openai;
pub mod prompt;
pub mod retry;
pub mod schema;
pub mod tokens;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{Classify, ErrorKind};

pub use anthropic::{ANTHROPIC_VERSION, Anthropic};
pub use client::ResilientLlm;
pub use config::{ApiKey, LlmConfig, ProviderKind};
pub use openai::OpenAi;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller.
    User,
    /// The model (a previous answer, when asking for a repair).
    Assistant,
}

/// One message of the conversation after the system prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

/// One chat request: a system prompt, the conversation, and the JSON schema the answer
/// must follow (sent through the provider's native structured-output mechanism).
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Instructions.
    pub system: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// The schema's name (OpenAI `json_schema.name`, Anthropic tool name).
    pub schema_name: &'static str,
    /// The JSON schema of the answer.
    pub schema: Value,
    /// The most output tokens to allow.
    pub max_output_tokens: u32,
}

/// Tokens the provider reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

/// What the provider's rate-limit headers said about the near future.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHint {
    /// Wait this long before the next request (`Retry-After`, or the reset time of an
    /// exhausted request/token allowance).
    pub wait: Option<Duration>,
}

/// A provider's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    /// The answer as text (OpenAI `message.content`; for Anthropic the tool input
    /// serialised, or the text blocks when the model did not call the tool).
    pub text: String,
    /// The structured answer when the provider delivered one as JSON (Anthropic
    /// `tool_use.input`); `None` means `text` must be parsed.
    pub json: Option<Value>,
    /// Tokens used.
    pub usage: Usage,
    /// Rate-limit headers of the response.
    pub rate: RateHint,
}

/// A failed provider call, classified for retry and breaker decisions.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// 429: the provider asks us to slow down; `retry_after` when it said how long.
    #[error("the LLM provider is rate limiting (429){}", .retry_after.map(|d| format!(", retry after {d:?}")).unwrap_or_default())]
    RateLimited {
        /// How long the provider asked us to wait.
        retry_after: Option<Duration>,
    },
    /// 429 `insufficient_quota` (or an exhausted credit balance): retrying cannot help.
    #[error("the LLM account has no quota left: {message}")]
    QuotaExhausted {
        /// The provider's message.
        message: String,
    },
    /// 5xx or Anthropic's 529 "overloaded".
    #[error("the LLM provider failed with HTTP {status}: {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// No complete answer within the per-request timeout.
    #[error("the LLM provider did not answer within {0:?}")]
    Timeout(Duration),
    /// Connection refused, reset, DNS: counted like a server failure.
    #[error("could not reach the LLM provider: {0}")]
    Transport(#[source] reqwest::Error),
    /// A 4xx other than 429: our request or credentials are wrong. Not retried and not
    /// counted against the provider's health.
    #[error("the LLM provider refused the request with HTTP {status}: {message}")]
    Request {
        /// HTTP status.
        status: u16,
        /// The provider's message.
        message: String,
    },
    /// A 2xx whose body is not the provider's documented response shape.
    #[error("the LLM provider's response could not be read: {what}{}", .cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Malformed {
        /// What was wrong with it.
        what: &'static str,
        /// The JSON error, when the body did not parse.
        #[source]
        cause: Option<serde_json::Error>,
    },
    /// The circuit breaker is open: no call was made.
    #[error("the circuit breaker for {provider} is open until {until_millis} (epoch ms)")]
    BreakerOpen {
        /// The provider.
        provider: String,
        /// When probes may start again.
        until_millis: i64,
    },
    /// The local rate limiter or a provider's wait would pass the step's deadline.
    #[error("the LLM step's deadline does not leave time to {0}")]
    Deadline(String),
}

impl LlmError {
    /// A 2xx body that did not parse as `what` said.
    pub fn malformed(what: &'static str, cause: serde_json::Error) -> Self {
        Self::Malformed {
            what,
            cause: Some(cause),
        }
    }

    /// Whether another attempt may succeed (and should be made, time permitting).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::Server { .. }
                | Self::Timeout(_)
                | Self::Transport(_)
                | Self::Malformed { .. }
        )
    }

    /// Whether the circuit breaker counts this as a failure of the provider: 429, 5xx,
    /// 529, timeouts and unreachable servers; never our own request errors.
    pub fn counts_against_provider(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::QuotaExhausted { .. }
                | Self::Server { .. }
                | Self::Timeout(_)
                | Self::Transport(_)
        )
    }

    /// How long the provider asked us to wait, when it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl Classify for LlmError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Dependency
    }

    fn is_retryable(&self) -> bool {
        self.retryable()
    }
}

/// The LLM port: one chat call with structured output.
#[async_trait]
pub trait Llm: Send + Sync + fmt::Debug {
    /// `openai`, `anthropic`: names the breaker and the analysis.
    fn provider(&self) -> &str;

    /// The model asked.
    fn model(&self) -> &str;

    /// Sends one request; no retries here. `timeout` bounds the whole exchange.
    async fn chat(&self, request: &ChatRequest, timeout: Duration) -> Result<ChatReply, LlmError>;
}

/// The adapter `config` names, or `None` for provider `none`.
pub fn provider(
    config: &LlmConfig,
    clock: &crate::clock::SharedClock,
) -> Result<Option<std::sync::Arc<dyn Llm>>, crate::config::ConfigError> {
    let http = reqwest::Client::builder().build().map_err(|e| {
        crate::config::ConfigError::invalid(
            "AIOPS_LLM_URL",
            "a usable HTTP client configuration",
            Some(e.to_string()),
        )
    })?;
    let key = config.api_key.clone();
    let (url, model) = (config.url.as_str(), config.model.as_str());
    Ok(match config.provider {
        ProviderKind::None => None,
        ProviderKind::OpenAi => Some(std::sync::Arc::new(OpenAi::new(
            http,
            url,
            model,
            key,
            clock.clone(),
        ))),
        ProviderKind::Anthropic => Some(std::sync::Arc::new(Anthropic::new(
            http,
            url,
            model,
            key,
            clock.clone(),
        ))),
    })
}
