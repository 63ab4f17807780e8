//! Anthropic Messages. Structured output through a tool whose `input_schema` is the
//! answer schema, forced with `tool_choice: {type: tool, name}`.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::ApiKey;
use super::{ChatReply, ChatRequest, Llm, LlmError, Role, Usage, http};
use crate::clock::SharedClock;

/// The Messages API version this adapter speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The Anthropic Messages API.
#[derive(Debug, Clone)]
pub struct Anthropic {
    http: reqwest::Client,
    endpoint: String,
    model: String,
    api_key: Option<ApiKey>,
    clock: SharedClock,
}

impl Anthropic {
    /// A client for `{base_url}/v1/messages`.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        model: &str,
        api_key: Option<ApiKey>,
        clock: SharedClock,
    ) -> Self {
        Self {
            http,
            endpoint: format!("{}/v1/messages", base_url.trim_end_matches('/')),
            model: model.to_owned(),
            api_key,
            clock,
        }
    }

    fn body(&self, request: &ChatRequest) -> Value {
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                json!({"role": role, "content": m.content})
            })
            .collect();
        json!({
            "model": self.model,
            "max_tokens": request.max_output_tokens,
            "system": request.system,
            "messages": messages,
            "tools": [{
                "name": request.schema_name,
                "description": "Record the root-cause analysis.",
                "input_schema": request.schema,
            }],
            "tool_choice": {"type": "tool", "name": request.schema_name},
        })
    }
}

#[derive(Deserialize)]
struct MessageResponse {
    content: Vec<Block>,
    #[serde(default)]
    usage: Option<MessageUsage>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        name: String,
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct MessageUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
}

#[async_trait]
impl Llm for Anthropic {
    fn provider(&self) -> &'static str {
        "anthropic"
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn chat(&self, request: &ChatRequest, timeout: Duration) -> Result<ChatReply, LlmError> {
        let mut builder = self
            .http
            .post(&self.endpoint)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&self.body(request));
        if let Some(key) = &self.api_key {
            builder = builder.header("x-api-key", key.expose());
        }
        let (value, rate) = http::send_json(builder, timeout, &self.clock).await?;
        let response: MessageResponse =
            serde_json::from_value(value).map_err(|e| LlmError::malformed("not a message", e))?;
        let mut json = None;
        let mut texts = Vec::new();
        for block in response.content {
            match block {
                Block::ToolUse { name, input } if name == request.schema_name => json = Some(input),
                Block::Text { text } => texts.push(text),
                Block::ToolUse { .. } | Block::Other => {}
            }
        }
        let text = match &json {
            Some(input) => input.to_string(),
            None => texts.join("\n"),
        };
        let usage = response.usage.map_or_else(Usage::default, |u| Usage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
        });
        Ok(ChatReply {
            text,
            json,
            usage,
            rate,
        })
    }
}
