//! The `AuditSink` port and the stdout sink (default, and the fallback of every other).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use super::AuditError;

/// Somewhere audit lines can be delivered.
#[async_trait]
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Delivers one batch of serialized, already redacted records, one JSON object per
    /// line. Makes a single attempt: retrying is the logger's job, since only it knows
    /// how long the request path may wait.
    async fn send(&self, lines: &[String]) -> Result<(), AuditError>;
}

/// JSON lines on stdout, which Lambda ships to CloudWatch. The writer is injectable so
/// the CLI can use stderr (its stdout carries results) and tests can capture output.
#[derive(Clone)]
pub struct StdoutSink {
    out: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl StdoutSink {
    /// The process's stdout.
    pub fn stdout() -> Self {
        Self::with_writer(std::io::stdout())
    }

    /// The process's stderr.
    pub fn stderr() -> Self {
        Self::with_writer(std::io::stderr())
    }

    /// Any writer; clones of the sink share it.
    pub fn with_writer(writer: impl Write + Send + 'static) -> Self {
        Self {
            out: Arc::new(Mutex::new(Box::new(writer))),
        }
    }

    /// Writes `lines` in one call, so that lines from concurrent writers (tracing shares
    /// stdout) never interleave mid-line.
    pub fn write_lines(&self, lines: &[String]) -> Result<(), AuditError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut buffer = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            buffer.push_str(line);
            buffer.push('\n');
        }
        // A panic elsewhere while holding the lock leaves the writer usable: losing
        // audit records over it would be worse.
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(buffer.as_bytes())
            .and_then(|()| out.flush())
            .map_err(AuditError::Write)
    }
}

impl Default for StdoutSink {
    fn default() -> Self {
        Self::stdout()
    }
}

impl std::fmt::Debug for StdoutSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink").finish_non_exhaustive()
    }
}

#[async_trait]
impl AuditSink for StdoutSink {
    async fn send(&self, lines: &[String]) -> Result<(), AuditError> {
        self.write_lines(lines)
    }
}

/// An in-memory writer whose clones share one buffer: give one clone to
/// [`StdoutSink::with_writer`] (or a tracing writer) and read what was written through
/// another. For tests, and for embedding the audit log in another process.
#[derive(Debug, Clone, Default)]
pub struct MemoryWriter(Arc<Mutex<Vec<u8>>>);

impl MemoryWriter {
    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Each line written so far as JSON; a line that is not JSON is kept as a string,
    /// so a comparison with the expected records still fails on it.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|_| serde_json::Value::String(line.to_owned()))
            })
            .collect()
    }
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_record_becomes_one_newline_terminated_line() {
        let capture = MemoryWriter::default();
        let sink = StdoutSink::with_writer(capture.clone());
        sink.send(&["{\"a\":1}".into(), "{\"b\":2}".into()])
            .await
            .expect("written");
        sink.write_lines(&[]).expect("nothing to write");
        assert_eq!(capture.text(), "{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(
            capture.records(),
            [serde_json::json!({"a": 1}), serde_json::json!({"b": 2})]
        );
    }
}
