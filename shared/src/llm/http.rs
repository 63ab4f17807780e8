//! What both adapters share: sending one request, turning HTTP failures into
//! [`LlmError`]s, and reading `Retry-After` and the rate-limit headers.

use std::time::Duration;

use chrono::DateTime;
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{LlmError, RateHint};
use crate::clock::SharedClock;

/// Provider messages end up in logs and reports: keep them short.
const MAX_MESSAGE: usize = 300;

/// Sends `request` and returns the parsed JSON body of a 2xx answer with its rate hint.
pub(crate) async fn send_json(
    request: reqwest::RequestBuilder,
    timeout: Duration,
    clock: &SharedClock,
) -> Result<(Value, RateHint), LlmError> {
    let response = request
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| transport(e, timeout))?;
    let status = response.status();
    let rate = rate_hint(response.headers(), clock.now_millis());
    let body = response.bytes().await.map_err(|e| transport(e, timeout))?;
    if status.is_success() {
        let value = serde_json::from_slice(&body)
            .map_err(|e| LlmError::malformed("the body is not JSON", e))?;
        return Ok((value, rate));
    }
    let (kind, message) = error_text(&body);
    let code = status.as_u16();
    Err(match code {
        429 if kind.contains("insufficient_quota") => LlmError::QuotaExhausted { message },
        429 => LlmError::RateLimited {
            retry_after: rate.wait,
        },
        500..=599 => LlmError::Server {
            status: code,
            message,
            retry_after: rate.wait,
        },
        _ => LlmError::Request {
            status: code,
            message,
        },
    })
}

fn transport(err: reqwest::Error, timeout: Duration) -> LlmError {
    if err.is_timeout() {
        LlmError::Timeout(timeout)
    } else {
        // Without the URL: it is configuration, and the message stays one clause.
        LlmError::Transport(err.without_url())
    }
}

/// The error's type/code and message from either provider's error body:
/// OpenAI `{"error": {"message", "type", "code"}}`, Anthropic
/// `{"type": "error", "error": {"type", "message"}}`.
fn error_text(body: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let err = &value["error"];
    let kind = [&err["type"], &err["code"]]
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let message = err["message"]
        .as_str()
        .map_or_else(|| String::from_utf8_lossy(body).into_owned(), str::to_owned);
    (kind, truncate(message.trim()))
}

fn truncate(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// How long the headers ask us to wait: `Retry-After` (seconds or an HTTP date),
/// `retry-after-ms`, or the reset of an exhausted allowance in OpenAI's
/// `x-ratelimit-*` (durations such as `6m0s`) or Anthropic's `anthropic-ratelimit-*`
/// (RFC 3339 times) headers. The longest wins.
pub(crate) fn rate_hint(headers: &HeaderMap, now_millis: i64) -> RateHint {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let mut waits = Vec::new();
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        waits.push(secs(ms / 1000.0));
    }
    if let Some(v) = get("retry-after") {
        if let Ok(s) = v.parse::<f64>() {
            waits.push(secs(s));
        } else if let Ok(at) = DateTime::parse_from_rfc2822(v) {
            waits.push(until(at.timestamp_millis(), now_millis));
        }
    }
    for what in ["requests", "tokens"] {
        if get(&format!("x-ratelimit-remaining-{what}")) == Some("0")
            && let Some(reset) = get(&format!("x-ratelimit-reset-{what}")).and_then(go_duration)
        {
            waits.push(reset);
        }
    }
    for what in ["requests", "tokens", "input-tokens", "output-tokens"] {
        if get(&format!("anthropic-ratelimit-{what}-remaining")) == Some("0")
            && let Some(at) = get(&format!("anthropic-ratelimit-{what}-reset"))
                .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        {
            waits.push(until(at.timestamp_millis(), now_millis));
        }
    }
    RateHint {
        wait: waits.into_iter().max(),
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::ZERO)
}

fn until(at_millis: i64, now_millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(at_millis.saturating_sub(now_millis)).unwrap_or(0))
}

/// Parses Go-style durations as OpenAI sends them: `20ms`, `1s`, `6m0s`, `1h2m3.5s`.
fn go_duration(text: &str) -> Option<Duration> {
    let mut total = 0.0_f64;
    let mut rest = text;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let (number, tail) = rest.split_at(split);
        let value: f64 = number.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        total += value
            * match unit {
                "ms" => 0.001,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return None,
            };
        rest = next;
    }
    Some(secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn go_durations_as_openai_sends_them() {
        assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(go_duration("6m0s"), Some(Duration::from_mins(6)));
        assert_eq!(
            go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(go_duration("soon"), None);
    }

    #[test]
    fn the_longest_wait_of_all_rate_headers_wins() {
        let now = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .timestamp_millis();
        let h = headers(&[("retry-after", "7")]);
        assert_eq!(rate_hint(&h, now).wait, Some(Duration::from_secs(7)));
        let h = headers(&[("retry-after", "Thu, 26 Nov 2026 10:00:30 GMT")]);
        assert_eq!(rate_hint(&h, now).wait, Some(Duration::from_secs(30)));
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1m30s"),
            ("x-ratelimit-remaining-tokens", "15000"),
            ("x-ratelimit-reset-tokens", "10m"),
        ]);
        assert_eq!(rate_hint(&h, now).wait, Some(Duration::from_secs(90)));
        let h = headers(&[
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2026-11-26T10:00:12Z"),
            ("retry-after", "3"),
        ]);
        assert_eq!(rate_hint(&h, now).wait, Some(Duration::from_secs(12)));
        assert_eq!(rate_hint(&HeaderMap::new(), now).wait, None);
    }

    #[test]
    fn error_bodies_of_both_providers_are_read() {
        let (kind, msg) = error_text(
            br#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#,
        );
        assert!(kind.contains("insufficient_quota"));
        assert_eq!(msg, "You exceeded your current quota");
        let (kind, msg) = error_text(
            br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#,
        );
        assert_eq!(
            (kind.as_str(), msg.as_str()),
            ("overloaded_error", "Overloaded")
        );
        let (_, msg) = error_text(b"upstream connect error");
        assert_eq!(msg, "upstream connect error");
    }
}
