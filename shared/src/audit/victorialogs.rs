//! The direct VictoriaLogs audit sink: `POST /insert/jsonline`.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};

use super::AuditError;
use super::config::VictoriaLogsConfig;
use super::sink::AuditSink;
use crate::victorialogs::Endpoint;

/// VictoriaLogs answers 200 to any other content type and stores nothing, so this one
/// is not negotiable.
pub const CONTENT_TYPE_JSONLINE: &str = "application/stream+json";
/// The fields VictoriaLogs groups streams by; they match [`super::StreamFields`].
pub const STREAM_FIELDS: &str = "service,function,env";

/// Longest error body kept in [`AuditError::Rejected`].
const DETAIL_LIMIT: usize = 200;

/// Sends batches to one VictoriaLogs (optionally one tenant of it).
#[derive(Clone)]
pub struct VictoriaLogsSink {
    client: Client,
    target: Endpoint,
    endpoint: Url,
}

impl VictoriaLogsSink {
    /// A sink for `config`; fails only if the HTTP client cannot be built.
    pub fn new(config: &VictoriaLogsConfig) -> Result<Self, AuditError> {
        let client = Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(2)))
            .build()
            .map_err(|e| AuditError::Client(e.without_url()))?;
        Ok(Self {
            client,
            endpoint: config.endpoint.url("insert/jsonline"),
            target: config.endpoint.clone(),
        })
    }

    /// The ingest URL requests go to.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }
}

#[async_trait]
impl AuditSink for VictoriaLogsSink {
    async fn send(&self, lines: &[String]) -> Result<(), AuditError> {
        let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            body.push_str(line);
            body.push('\n');
        }
        let request = self
            .client
            .post(self.endpoint.clone())
            .query(&[
                ("_stream_fields", STREAM_FIELDS),
                ("_msg_field", "_msg"),
                ("_time_field", "_time"),
            ])
            .header(CONTENT_TYPE, CONTENT_TYPE_JSONLINE)
            .body(body);
        // Errors drop the URL: it may carry basic-auth credentials.
        let response = self
            .target
            .tenant(request)
            .send()
            .await
            .map_err(|e| AuditError::Transport(e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(AuditError::Unavailable {
                status: status.as_u16(),
                retry_after: retry_after(response.headers()),
            });
        }
        let text = response.text().await.unwrap_or_default();
        Err(AuditError::Rejected {
            status: status.as_u16(),
            detail: text.trim().chars().take(DETAIL_LIMIT).collect(),
        })
    }
}

/// `Retry-After` in seconds. The HTTP-date form is left to the backoff: it needs a
/// trustworthy shared clock, and VictoriaLogs and its proxies send seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl std::fmt::Debug for VictoriaLogsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VictoriaLogsSink")
            .field("host", &self.endpoint.host_str())
            .field("path", &self.endpoint.path())
            .field("account_id", &self.target.account_id())
            .field("project_id", &self.target.project_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn the_endpoint_keeps_a_path_prefix_with_or_without_a_trailing_slash() {
        for (base, expected) in [
            ("http://vl:9428", "http://vl:9428/insert/jsonline"),
            ("http://vl:9428/", "http://vl:9428/insert/jsonline"),
            ("https://gw/vl/", "https://gw/vl/insert/jsonline"),
            ("https://gw/vl?x=1", "https://gw/vl/insert/jsonline"),
        ] {
            let config = VictoriaLogsConfig::new(Url::parse(base).expect("url"));
            let sink = VictoriaLogsSink::new(&config).expect("client");
            assert_eq!(sink.endpoint().as_str(), expected);
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_ignores_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
