//! VictoriaLogs as a log source: `/select/logsql/query`, whose JSON-lines answer is read
//! chunk by chunk and abandoned at the cap, so memory follows the caps and not the
//! answer.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::http::{body_excerpt, read_capped, transport_error};
use super::logsql::{self, LogSchema, Part};
use super::{Capped, Caps, LogSource, SourceError, Window, Workload, truncate_text};
use crate::config::{ConfigError, Env};
use crate::evidence::LogLine;
use crate::victorialogs::Endpoint;

/// VictoriaLogs base URL.
pub use crate::victorialogs::URL_VAR;

/// The log source adapter.
#[derive(Debug, Clone)]
pub struct VictoriaLogs {
    http: reqwest::Client,
    endpoint: Endpoint,
    query_url: reqwest::Url,
    schema: LogSchema,
}

impl VictoriaLogs {
    /// A source at `endpoint` (its tenant headers go with every query) reading records
    /// shaped by `schema`.
    pub fn new(
        endpoint: &Endpoint,
        schema: LogSchema,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| ConfigError::invalid(URL_VAR, "a usable URL", Some(e.to_string())))?;
        Ok(Self {
            http,
            query_url: endpoint.url("select/logsql/query"),
            endpoint: endpoint.clone(),
            schema,
        })
    }

    /// From the endpoint variables and the schema variables; `None` when the URL is
    /// unset.
    pub fn from_env(env: &impl Env, timeout: Duration) -> Result<Option<Self>, ConfigError> {
        let Some(endpoint) = Endpoint::from_env(env)? else {
            return Ok(None);
        };
        Self::new(&endpoint, LogSchema::from_env(env)?, timeout).map(Some)
    }

    async fn run(
        &self,
        query: &str,
        window: &Window,
        caps: &Caps,
        collector: &mut LineCollector,
    ) -> Result<(), SourceError> {
        let limit = (caps.log_lines - collector.kept.items.len() + 1).to_string();
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Millis, true);
        let request = self.http.post(self.query_url.clone());
        let mut response = self
            .endpoint
            .tenant(request)
            .query(&[
                ("query", query),
                ("limit", limit.as_str()),
                ("start", time(&window.since).as_str()),
                ("end", time(&window.until).as_str()),
            ])
            .send()
            .await
            .map_err(|e| transport_error("VictoriaLogs", e))?;
        let status = response.status();
        if !status.is_success() {
            let body = read_capped(response, 64 * 1024, "VictoriaLogs").await?;
            return Err(SourceError::failed(
                format!("VictoriaLogs answered {status}: {}", body_excerpt(&body)),
                status.is_server_error() || status.as_u16() == 429,
            ));
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error("VictoriaLogs", e))?
        {
            if collector.feed(&chunk) {
                // Dropping the response closes the connection: the rest is never read.
                return Ok(());
            }
        }
        collector.finish();
        Ok(())
    }
}

#[async_trait]
impl LogSource for VictoriaLogs {
    async fn logs(
        &self,
        workload: &Workload,
        window: &Window,
        caps: &Caps,
    ) -> Result<Capped<LogLine>, SourceError> {
        let mut collector = LineCollector::new(&self.schema, *caps);
        for part in [Part::Problems, Part::Rest] {
            let query = logsql::query(&self.schema, workload, part).map_err(|e| {
                SourceError::failed(
                    format!(
                        "the label selector {:?} cannot be used: {e}",
                        workload.selector
                    ),
                    false,
                )
            })?;
            self.run(&query, window, caps, &mut collector).await?;
            if collector.full {
                break;
            }
        }
        Ok(collector.kept)
    }

    async fn pod_logs(
        &self,
        namespace: &str,
        pods: &[String],
        window: &Window,
        caps: &Caps,
    ) -> Result<Capped<LogLine>, SourceError> {
        let mut collector = LineCollector::new(&self.schema, *caps);
        if pods.is_empty() {
            return Ok(collector.kept);
        }
        for part in [Part::Problems, Part::Rest] {
            let query = logsql::pod_query(&self.schema, namespace, pods, part);
            self.run(&query, window, caps, &mut collector).await?;
            if collector.full {
                break;
            }
        }
        Ok(collector.kept)
    }
}

/// Turns JSON-lines chunks into capped [`LogLine`]s. Holds at most one partial line of
/// `caps.line_bytes` (plus a margin for the record's other fields).
#[derive(Debug)]
pub struct LineCollector {
    schema: LogSchema,
    caps: Caps,
    pending: Vec<u8>,
    skipping_long_line: bool,
    kept_bytes: usize,
    full: bool,
    /// What was kept and dropped so far.
    pub kept: Capped<LogLine>,
}

impl LineCollector {
    /// An empty collector.
    pub fn new(schema: &LogSchema, caps: Caps) -> Self {
        Self {
            schema: schema.clone(),
            caps,
            pending: Vec::new(),
            skipping_long_line: false,
            kept_bytes: 0,
            full: caps.log_lines == 0,
            kept: Capped::default(),
        }
    }

    fn max_record(&self) -> usize {
        self.caps.line_bytes.saturating_mul(4).max(16 * 1024)
    }

    /// Feeds one chunk; `true` once the caps are reached and reading should stop.
    /// Complete lines still in hand at that point are counted as dropped.
    pub fn feed(&mut self, chunk: &[u8]) -> bool {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(pos);
            rest = &tail[1..];
            if self.skipping_long_line {
                self.kept.dropped_bytes += line.len() as u64;
                self.skipping_long_line = false;
                continue;
            }
            if self.full {
                self.kept.dropped_items += 1;
                self.kept.dropped_bytes += (self.pending.len() + line.len()) as u64;
                self.pending.clear();
                continue;
            }
            if self.pending.is_empty() {
                self.accept(line);
            } else {
                let mut whole = std::mem::take(&mut self.pending);
                whole.extend_from_slice(line);
                self.accept(&whole);
            }
        }
        if self.skipping_long_line || self.full {
            self.kept.dropped_bytes += rest.len() as u64;
        } else if self.pending.len() + rest.len() > self.max_record() {
            self.kept.dropped_items += 1;
            self.kept.dropped_bytes += (self.pending.len() + rest.len()) as u64;
            self.pending.clear();
            self.skipping_long_line = true;
        } else {
            self.pending.extend_from_slice(rest);
        }
        self.full
    }

    /// The end of one answer: a last line without a newline still counts.
    pub fn finish(&mut self) {
        let last = std::mem::take(&mut self.pending);
        if !last.is_empty() && !self.full && !self.skipping_long_line {
            self.accept(&last);
        }
        self.skipping_long_line = false;
    }

    fn accept(&mut self, raw: &[u8]) {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Some(mut line) = self.parse(raw) else {
            self.kept.dropped_items += 1;
            self.kept.dropped_bytes += raw.len() as u64;
            return;
        };
        self.kept.dropped_bytes += truncate_text(&mut line.message, self.caps.line_bytes);
        if self.kept_bytes + line.message.len() > self.caps.log_bytes {
            self.kept.dropped_items += 1;
            self.kept.dropped_bytes += line.message.len() as u64;
            self.full = true;
            return;
        }
        self.kept_bytes += line.message.len();
        line.id = format!("log/{}", self.kept.items.len());
        self.kept.items.push(line);
        if self.kept.items.len() >= self.caps.log_lines {
            self.full = true;
        }
    }

    fn parse(&self, raw: &[u8]) -> Option<LogLine> {
        let Value::Object(mut record) = serde_json::from_slice::<Value>(raw).ok()? else {
            return None;
        };
        let mut take = |key: &str| match record.remove(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s),
            _ => None,
        };
        let message = take("_msg")?;
        let time = take("_time")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc));
        Some(LogLine {
            id: String::new(),
            time,
            pod: take(&self.schema.pod),
            container: take(&self.schema.container),
            level: take(&self.schema.level).map(|l| l.to_ascii_lowercase()),
            message,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"_time":"2026-11-26T05:04:31Z","_msg":"exit status 2","kubernetes.container_name":"web","kubernetes.pod_name":"web-1","level":"ERROR"}"#;

    fn caps(lines: usize) -> Caps {
        Caps {
            log_lines: lines,
            ..Caps::default()
        }
    }

    #[test]
    fn lines_split_across_chunks_are_joined_and_fields_mapped() {
        let mut c = LineCollector::new(&LogSchema::vector(), caps(10));
        let text = format!("{LINE}\n{LINE}");
        let (a, b) = text.split_at(40);
        assert!(!c.feed(a.as_bytes()));
        assert!(!c.feed(b.as_bytes()));
        c.finish();
        assert_eq!(c.kept.items.len(), 2);
        let first = &c.kept.items[0];
        assert_eq!(first.id, "log/0");
        assert_eq!(first.pod.as_deref(), Some("web-1"));
        assert_eq!(first.level.as_deref(), Some("error"));
        assert_eq!(first.message, "exit status 2");
        assert_eq!(c.kept.items[1].id, "log/1");
    }

    #[test]
    fn reading_stops_at_the_line_cap_and_counts_what_was_in_hand() {
        let mut c = LineCollector::new(&LogSchema::vector(), caps(2));
        let chunk = format!("{LINE}\n{LINE}\n{LINE}\n{LINE}\n");
        assert!(c.feed(chunk.as_bytes()));
        assert_eq!(c.kept.items.len(), 2);
        assert_eq!(c.kept.dropped_items, 2);
    }

    #[test]
    fn an_endless_line_is_dropped_without_being_held() {
        let mut c = LineCollector::new(&LogSchema::vector(), caps(10));
        let junk = vec![b'x'; 64 * 1024];
        for _ in 0..10 {
            c.feed(&junk);
        }
        assert!(c.pending.is_empty());
        c.feed(format!("\n{LINE}\n").as_bytes());
        assert_eq!(c.kept.items.len(), 1);
        assert_eq!(c.kept.dropped_items, 1);
        assert_eq!(c.kept.dropped_bytes, 10 * 64 * 1024);
    }

    #[test]
    fn long_messages_are_cut_and_the_byte_budget_ends_collection() {
        let schema = LogSchema::vector();
        let mut c = LineCollector::new(
            &schema,
            Caps {
                line_bytes: 10,
                log_bytes: 30,
                ..Caps::default()
            },
        );
        let long = r#"{"_msg":"0123456789abcdef"}"#;
        assert!(!c.feed(format!("{long}\n{long}\n").as_bytes()));
        assert!(c.feed(format!("{long}\n").as_bytes()));
        assert_eq!(c.kept.items.len(), 2);
        assert!(c.kept.items[0].message.starts_with("0123456789"));
        assert_eq!(c.kept.dropped_items, 1);
    }
}
