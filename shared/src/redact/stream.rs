//! Line-by-line redaction of mixed input (JSON lines, pretty JSON documents, plain
//! log text) in bounded memory.
//!
//! Plain lines are gathered into blocks before the text rules run, because some
//! secrets span lines: PEM keys, and YAML env entries (`- name: DB_PASSWORD` then
//! `value: …`). A line that opens a JSON document on its own (`{`) starts a document
//! that ends at the closing bracket with the same indentation, so nested secrets in
//! pretty-printed JSON get the key rules too.

use std::io::{self, BufRead, Write};

use serde_json::Value;

use super::engine::Engine;
use super::json::redact_value;

/// A text block is redacted once it is this long (at a line that cannot split a secret).
const TEXT_BLOCK: usize = 64 * 1024;
/// Past this, a block or document is redacted whatever it holds, to bound memory.
const MAX_BLOCK: usize = 16 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct LineRedactor<'e, W> {
    engine: &'e Engine,
    out: W,
    text: String,
    doc: Option<Doc>,
}

/// A pretty-printed JSON document being gathered.
#[derive(Debug)]
struct Doc {
    text: String,
    indent: usize,
    close: char,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

impl<'e, W: Write> LineRedactor<'e, W> {
    pub(crate) fn new(engine: &'e Engine, out: W) -> Self {
        Self {
            engine,
            out,
            text: String::new(),
            doc: None,
        }
    }

    pub(crate) fn run<R: BufRead>(mut self, mut reader: R) -> io::Result<()> {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            // `from_utf8` is much faster than the lossy conversion on valid text.
            match std::str::from_utf8(&buf) {
                Ok(line) => self.line(line)?,
                Err(_) => self.line(&String::from_utf8_lossy(&buf))?,
            }
        }
        if let Some(doc) = self.doc.take() {
            self.finish_doc(&doc)?;
        }
        self.flush_text()?;
        self.out.flush()
    }

    fn line(&mut self, line: &str) -> io::Result<()> {
        if let Some(doc) = &mut self.doc {
            doc.text.push_str(line);
            let closes = line.trim_start().starts_with(doc.close) && indent(line) == doc.indent;
            if (closes || doc.text.len() > MAX_BLOCK)
                && let Some(doc) = self.doc.take()
            {
                self.finish_doc(&doc)?;
            }
            return Ok(());
        }
        let trimmed = line.trim();
        if let Some(open) = trimmed.chars().next().filter(|c| matches!(c, '{' | '[')) {
            if trimmed.len() == 1 {
                self.flush_text()?;
                self.doc = Some(Doc {
                    text: line.to_owned(),
                    indent: indent(line),
                    close: if open == '{' { '}' } else { ']' },
                });
                return Ok(());
            }
            if !self.engine.may_match(line) {
                self.flush_text()?;
                return self.out.write_all(line.as_bytes());
            }
            if let Ok(mut value) = serde_json::from_str::<Value>(trimmed) {
                self.flush_text()?;
                if !redact_value(self.engine, &mut value) {
                    return self.out.write_all(line.as_bytes());
                }
                serde_json::to_writer(&mut self.out, &value)?;
                return self.out.write_all(terminator(line).as_bytes());
            }
        }
        self.text.push_str(line);
        if self.text.len() >= MAX_BLOCK
            || (self.text.len() >= TEXT_BLOCK && !self.may_continue_a_secret(line))
        {
            self.flush_text()?;
        }
        Ok(())
    }

    /// Whether the next line may hold the rest of a secret that starts in the block.
    fn may_continue_a_secret(&self, line: &str) -> bool {
        let pem_open = match (self.text.rfind("-----BEGIN"), self.text.rfind("-----END")) {
            (Some(begin), Some(end)) => begin > end,
            (Some(_), None) => true,
            _ => false,
        };
        pem_open || line.to_ascii_lowercase().contains("name")
    }

    fn finish_doc(&mut self, doc: &Doc) -> io::Result<()> {
        let Ok(mut value) = serde_json::from_str::<Value>(&doc.text) else {
            // Not JSON after all (a brace in a stack trace): it is text.
            self.text.push_str(&doc.text);
            return Ok(());
        };
        if !redact_value(self.engine, &mut value) {
            return self.out.write_all(doc.text.as_bytes());
        }
        serde_json::to_writer_pretty(&mut self.out, &value)?;
        self.out.write_all(terminator(&doc.text).as_bytes())
    }

    fn flush_text(&mut self) -> io::Result<()> {
        if self.text.is_empty() {
            return Ok(());
        }
        let redacted = self.engine.redact(&self.text);
        self.out.write_all(redacted.as_bytes())?;
        drop(redacted);
        self.text.clear();
        Ok(())
    }
}

fn terminator(line: &str) -> &'static str {
    if line.ends_with("\r\n") {
        "\r\n"
    } else if line.ends_with('\n') {
        "\n"
    } else {
        ""
    }
}
