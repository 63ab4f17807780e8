//! The one schema an RCA answer must follow, its validation, and the repair request.

use serde::Deserialize;
use serde_json::{Value, json};

use super::ChatReply;
use crate::analysis::Confidence;

/// The schema's name in the request (OpenAI `json_schema.name`, Anthropic tool name).
pub const SCHEMA_NAME: &str = "record_rca";

/// The JSON schema of an answer. Strict-mode compatible: every property required, no
/// additional properties.
pub fn rca_schema() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["summary", "root_cause", "confidence", "impact", "evidence_ids", "remediation", "follow_ups"],
        "properties": {
            "summary": {"type": "string", "description": "One or two sentences."},
            "root_cause": {"type": "string", "description": "The root cause, citing evidence ids in brackets."},
            "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
            "impact": {"type": "string", "description": "Who or what is affected."},
            "evidence_ids": {"type": "array", "items": {"type": "string"}, "description": "Ids of the evidence items relied on, exactly as given, e.g. pod/web-1, event/3, log/17."},
            "remediation": {"type": "array", "items": {"type": "string"}, "description": "Steps to fix it, in order."},
            "follow_ups": strings,
        },
    })
}

/// A valid answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RcaAnswer {
    /// One or two sentences.
    pub summary: String,
    /// The root cause.
    pub root_cause: String,
    /// How sure.
    pub confidence: Confidence,
    /// Who or what is affected.
    pub impact: String,
    /// Evidence ids relied on.
    pub evidence_ids: Vec<String>,
    /// Steps to fix it.
    pub remediation: Vec<String>,
    /// Follow-ups.
    pub follow_ups: Vec<String>,
}

/// Checks a reply against the schema. The error names the field and what was expected,
/// and is sent back to the model in the repair request.
pub fn validate(reply: &ChatReply) -> Result<RcaAnswer, String> {
    let value = match &reply.json {
        Some(v) => v.clone(),
        None => serde_json::from_str(strip_fences(&reply.text))
            .map_err(|e| format!("the answer is not a JSON object ({e})"))?,
    };
    let answer: RcaAnswer = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        format!("field {path}: {}", e.inner())
    })?;
    for (field, text) in [
        ("summary", &answer.summary),
        ("root_cause", &answer.root_cause),
    ] {
        if text.trim().is_empty() {
            return Err(format!("field {field}: expected a non-empty string"));
        }
    }
    Ok(answer)
}

/// Some compatible servers wrap JSON in a Markdown fence despite the schema.
fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    t.strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map_or(t, str::trim)
}

/// The follow-up message asking for one corrected answer.
pub fn repair_message(error: &str) -> String {
    format!(
        "Your answer did not match the required schema: {error}. Answer again with only \
         the JSON object: the fields summary, root_cause, confidence (low, medium or high), \
         impact, evidence_ids, remediation and follow_ups, nothing else."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{RateHint, Usage};

    fn reply(text: &str) -> ChatReply {
        ChatReply {
            text: text.into(),
            json: None,
            usage: Usage::default(),
            rate: RateHint::default(),
        }
    }

    const GOOD: &str = r#"{"summary": "s", "root_cause": "r [pod/a]", "confidence": "high", "impact": "i",
        "evidence_ids": ["pod/a"], "remediation": ["x"], "follow_ups": []}"#;

    #[test]
    fn a_complete_answer_validates_also_inside_a_fence() {
        let answer = validate(&reply(GOOD)).unwrap();
        assert_eq!(answer.confidence, Confidence::High);
        assert_eq!(
            validate(&reply(&format!("```json\n{GOOD}\n```"))).unwrap(),
            answer
        );
    }

    #[test]
    fn errors_name_the_field_for_the_repair_request() {
        let bad = GOOD.replace("\"high\"", "\"certain\"");
        assert!(
            validate(&reply(&bad))
                .unwrap_err()
                .starts_with("field confidence:")
        );
        let missing = r#"{"summary": "s"}"#;
        assert!(
            validate(&reply(missing))
                .unwrap_err()
                .contains("missing field")
        );
        let empty = GOOD.replace("\"s\"", "\"  \"");
        assert_eq!(
            validate(&reply(&empty)).unwrap_err(),
            "field summary: expected a non-empty string"
        );
        assert!(
            validate(&reply("The pod is crash looping."))
                .unwrap_err()
                .contains("not a JSON object")
        );
    }

    #[test]
    fn the_schema_is_strict_mode_compatible() {
        let schema = rca_schema();
        let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(props.len(), required.len());
        assert!(props.iter().all(|p| required.contains(&p.as_str())));
        assert_eq!(schema["additionalProperties"], false);
    }
}
