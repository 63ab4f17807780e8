//! [`ResilientLlm`]: one RCA request through the limiter, the shared breaker and
//! retries with backoff, all within the step's deadline, with one repair attempt when
//! the answer does not match the schema.

use std::sync::Arc;
use std::time::Duration;

use super::breaker::{CallResult, SharedBreaker};
use super::config::LlmConfig;
use super::prompt::Prompt;
use super::retry::{Backoff, Jitter, LlmBackoff, Sleeper};
use super::schema::{self, RcaAnswer, SCHEMA_NAME};
use super::{ChatReply, ChatRequest, Llm, LlmError, Message, Role, limiter::Limiter};
use crate::clock::SharedClock;
use crate::store::SharedStore;

/// The model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It matched the schema (at once or after the repair request).
    Structured(RcaAnswer),
    /// It did not, even after the repair request: the text is kept.
    Unstructured {
        /// The model's last answer.
        text: String,
        /// Why it did not validate.
        error: String,
    },
}

/// The pieces [`ResilientLlm`] is built from; tests swap the sleeper and jitter.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The provider adapter.
    pub llm: Arc<dyn Llm>,
    /// The store holding the breaker state.
    pub store: SharedStore,
    /// The clock.
    pub clock: SharedClock,
    /// How waits happen.
    pub sleeper: Arc<dyn Sleeper>,
    /// Where the backoff's randomness comes from.
    pub jitter: Arc<dyn Jitter>,
}

/// The provider behind its protections. One per process; shared by its calls.
#[derive(Debug)]
pub struct ResilientLlm {
    llm: Arc<dyn Llm>,
    breaker: SharedBreaker,
    limiter: Limiter,
    backoff: Backoff,
    sleeper: Arc<dyn Sleeper>,
    jitter: Arc<dyn Jitter>,
    clock: SharedClock,
    config: LlmConfig,
}

impl ResilientLlm {
    /// Wraps `parts.llm` as `config` says.
    pub fn new(config: LlmConfig, parts: Parts) -> Self {
        let breaker = SharedBreaker::new(
            parts.llm.provider(),
            parts.store,
            config.breaker.clone(),
            parts.clock.clone(),
        );
        Self {
            limiter: Limiter::new(
                config.requests_per_minute,
                config.tokens_per_minute,
                parts.clock.clone(),
            ),
            backoff: Backoff {
                base: config.backoff_base,
                max: config.backoff_max,
            },
            llm: parts.llm,
            breaker,
            sleeper: parts.sleeper,
            jitter: parts.jitter,
            clock: parts.clock,
            config,
        }
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        self.llm.provider()
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        self.llm.model()
    }

    /// The shared breaker, for inspection.
    pub fn breaker(&self) -> &SharedBreaker {
        &self.breaker
    }

    /// Asks for an RCA of `prompt`. An error means no usable answer came within the
    /// deadline (breaker open, provider failing, quota gone, request refused).
    pub async fn analyze(&self, prompt: &Prompt) -> Result<Answer, LlmError> {
        let deadline = self
            .clock
            .now_millis()
            .saturating_add(millis(self.config.deadline));
        let mut request = ChatRequest {
            system: prompt.system.clone(),
            messages: vec![Message {
                role: Role::User,
                content: prompt.user.clone(),
            }],
            schema_name: SCHEMA_NAME,
            schema: schema::rca_schema(),
            max_output_tokens: self.config.output_tokens,
        };
        let tokens = u32::try_from(prompt.tokens)
            .unwrap_or(u32::MAX)
            .saturating_add(self.config.output_tokens);
        let first = self.call(&request, tokens, deadline).await?;
        let error = match schema::validate(&first) {
            Ok(answer) => return Ok(Answer::Structured(answer)),
            Err(error) => error,
        };
        tracing::info!(
            provider = self.provider(),
            "answer did not match the schema, asking once more: {error}"
        );
        request.messages.push(Message {
            role: Role::Assistant,
            content: first.text.clone(),
        });
        request.messages.push(Message {
            role: Role::User,
            content: schema::repair_message(&error),
        });
        let repair_tokens =
            tokens.saturating_add(u32::try_from(first.usage.output_tokens).unwrap_or(0));
        match self.call(&request, repair_tokens, deadline).await {
            Ok(second) => match schema::validate(&second) {
                Ok(answer) => Ok(Answer::Structured(answer)),
                Err(error) => Ok(Answer::Unstructured {
                    text: second.text,
                    error,
                }),
            },
            // The first answer is still an answer: keep it rather than nothing.
            Err(e) => Ok(Answer::Unstructured {
                text: first.text,
                error: format!("{error}; the repair request failed: {e}"),
            }),
        }
    }

    /// One request with rate limiting, the breaker and retries, before `deadline`.
    async fn call(
        &self,
        request: &ChatRequest,
        tokens: u32,
        deadline: i64,
    ) -> Result<ChatReply, LlmError> {
        let mut attempt = 0;
        loop {
            self.wait_for_limiter(tokens, deadline).await?;
            let ticket = self.breaker.acquire().await?;
            let remaining = deadline.saturating_sub(self.clock.now_millis());
            if remaining <= 0 {
                return Err(LlmError::Deadline("send another request".into()));
            }
            let timeout = self
                .config
                .request_timeout
                .min(Duration::from_millis(remaining.unsigned_abs()));
            let result = self.llm.chat(request, timeout).await;
            match &result {
                Ok(reply) => self.limiter.note(reply.rate),
                Err(e) => self.limiter.note(super::RateHint {
                    wait: e.retry_after(),
                }),
            }
            self.breaker.record(ticket, CallResult::of(&result)).await;
            let err = match result {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            attempt += 1;
            let Some(wait) = self.backoff.wait_after(&err, attempt - 1, &*self.jitter) else {
                return Err(err);
            };
            if attempt >= self.config.max_attempts {
                return Err(err);
            }
            if self.clock.now_millis().saturating_add(millis(wait)) >= deadline {
                tracing::info!(
                    provider = self.provider(),
                    "not retrying: waiting {wait:?} would pass the deadline"
                );
                return Err(err);
            }
            tracing::info!(
                provider = self.provider(),
                attempt,
                "retrying in {wait:?} after: {err}"
            );
            self.sleeper.sleep(wait).await;
        }
    }

    async fn wait_for_limiter(&self, tokens: u32, deadline: i64) -> Result<(), LlmError> {
        loop {
            match self.limiter.try_acquire(tokens) {
                Ok(()) => return Ok(()),
                Err(wait) => {
                    if self.clock.now_millis().saturating_add(millis(wait)) >= deadline {
                        return Err(LlmError::Deadline(format!(
                            "wait {wait:?} for the rate limit"
                        )));
                    }
                    self.sleeper.sleep(wait).await;
                }
            }
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
