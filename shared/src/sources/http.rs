//! Small helpers shared by the HTTP adapters (catalog, VictoriaLogs).

use super::SourceError;

/// Reads a response body of at most `max` bytes, chunk by chunk, so that a runaway
/// answer fails instead of filling memory.
pub async fn read_capped(
    mut response: reqwest::Response,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, SourceError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(what, e))?
    {
        if body.len() + chunk.len() > max {
            return Err(SourceError::failed(
                format!("{what}: the answer is larger than {max} bytes"),
                false,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport failure (connect, timeout, reset), retryable, without the URL's query.
pub fn transport_error(what: &str, err: reqwest::Error) -> SourceError {
    let err = err.without_url();
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut message = format!("{what}: {kind}");
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    SourceError::caused(message, true, err)
}

/// The first line of an error body, shortened: enough to say what the server meant.
pub fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().next().unwrap_or_default().trim();
    let mut line = line.to_owned();
    super::truncate_text(&mut line, 300);
    line
}
