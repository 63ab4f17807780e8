//! OpenAI-compatible chat completions: OpenAI, Azure OpenAI (v1 API), Ollama, vLLM,
//! LiteLLM. Structured output through `response_format: json_schema` with `strict`.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::ApiKey;
use super::{ChatReply, ChatRequest, Llm, LlmError, Role, Usage, http};
use crate::clock::SharedClock;

/// An OpenAI-compatible server.
#[derive(Debug, Clone)]
pub struct OpenAi {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<ApiKey>,
    clock: SharedClock,
}

impl OpenAi {
    /// A client for `{base_url}/chat/completions`.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        model: &str,
        api_key: Option<ApiKey>,
        clock: SharedClock,
    ) -> Self {
        Self {
            http,
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key,
            clock,
        }
    }

    fn body(&self, request: &ChatRequest) -> Value {
        let mut messages = vec![json!({"role": "system", "content": request.system})];
        messages.extend(request.messages.iter().map(|m| {
            let role = match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            };
            json!({"role": role, "content": m.content})
        }));
        json!({
            "model": self.model,
            "messages": messages,
            "max_completion_tokens": request.max_output_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "strict": true, "schema": request.schema},
            },
        })
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<CompletionUsage>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct CompletionUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

#[async_trait]
impl Llm for OpenAi {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn chat(&self, request: &ChatRequest, timeout: Duration) -> Result<ChatReply, LlmError> {
        let mut builder = self.http.post(&self.endpoint).json(&self.body(request));
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key.expose());
        }
        let (value, rate) = http::send_json(builder, timeout, &self.clock).await?;
        let completion: Completion = serde_json::from_value(value)
            .map_err(|e| LlmError::malformed("not a chat.completion", e))?;
        let message = completion
            .choices
            .into_iter()
            .next()
            .ok_or(LlmError::Malformed {
                what: "choices is empty",
                cause: None,
            })?
            .message;
        // A refusal is an answer, just not a structured one: keep its text.
        let text = message.content.or(message.refusal).unwrap_or_default();
        let usage = completion.usage.map_or_else(Usage::default, |u| Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        });
        Ok(ChatReply {
            text,
            json: None,
            usage,
            rate,
        })
    }
}
