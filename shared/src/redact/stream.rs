//! Line-by-line redaction of mixed input (JSON lines, pretty JSON documents, plain
//! log text) in bounded memory.
//!
//! Plain lines are gathered into blocks before the text rules run, because some
//! secrets span lines: PEM keys, and YAML env entries (`- name: DB_PASSWORD` then
//! `value: …`). A line that opens a JSON document on its own (`{`) starts a document
//! that ends at the closing bracket with the same indentation, so nested secrets in
//! pretty-printed JSON get the key rules too.

use std::borrow::Cow;
use std::io::{self, BufRead, Read, Write};

use super::engine::Engine;
use super::raw::{self, Hits, KeyMemo};

/// Input is read and prefiltered this much at a time.
const CHUNK: usize = 1 << 20;
/// A text block is redacted once it is this long (at a line that cannot split a secret).
/// Small, because a block is searched with the rules its literals name: 64 KiB of log
/// text names so many that the slow combined regex of all rules was needed.
const TEXT_BLOCK: usize = 4 * 1024;
/// Past this, a block or document is redacted whatever it holds, to bound memory.
const MAX_BLOCK: usize = 16 * 1024 * 1024;
/// A text block is not held open for a secret that may continue past this: no PEM key
/// or YAML env entry is that long, and redacting a block costs time in its length.
const CONTINUE_LIMIT: usize = 1024 * 1024;

#[derive(Debug)]
pub(crate) struct LineRedactor<'e, W> {
    engine: &'e Engine,
    out: W,
    text: String,
    /// Whether `text` holds a `-----BEGIN` with no `-----END` after it.
    pem_open: bool,
    doc: Option<Doc>,
    /// What the JSON lines so far made of their keys.
    memo: KeyMemo<'e>,
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
            pem_open: false,
            doc: None,
            memo: KeyMemo::default(),
        }
    }

    pub(crate) fn run<R: BufRead>(mut self, mut reader: R) -> io::Result<()> {
        let mut buf: Vec<u8> = Vec::with_capacity(2 * CHUNK);
        loop {
            let read = (&mut reader).take(CHUNK as u64).read_to_end(&mut buf)?;
            let eof = read == 0;
            // Whole lines only; a line longer than a chunk waits for its end.
            let end = if eof {
                buf.len()
            } else {
                match memchr::memrchr(b'\n', &buf) {
                    Some(n) => n + 1,
                    None => continue,
                }
            };
            self.chunk(&buf[..end])?;
            buf.drain(..end);
            if eof {
                break;
            }
        }
        if let Some(doc) = self.doc.take() {
            self.finish_doc(&doc)?;
        }
        self.flush_text()?;
        self.out.flush()
    }

    /// Whole lines: one prefilter pass over all of them, then clean JSON lines are
    /// written through in runs and only the others are looked at one by one.
    fn chunk(&mut self, bytes: &[u8]) -> io::Result<()> {
        // `from_utf8` is much faster than the lossy conversion on valid text.
        let Ok(text) = std::str::from_utf8(bytes) else {
            for line in bytes.split_inclusive(|b| *b == b'\n') {
                match std::str::from_utf8(line) {
                    Ok(line) => self.line(line, None)?,
                    Err(_) => self.line(&String::from_utf8_lossy(line), None)?,
                }
            }
            return Ok(());
        };
        let mut hits = Vec::new();
        if !self.engine.for_each_hit(text, |m| hits.push(m)) {
            for line in text.split_inclusive('\n') {
                self.line(line, None)?;
            }
            return Ok(());
        }
        let mut next_hit = 0;
        let mut clean_run: Option<(usize, usize)> = None;
        let mut start = 0;
        while start < text.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(text.len(), |n| start + n + 1);
            let line = &text[start..end];
            while hits.get(next_hit).is_some_and(|h| h.start < start) {
                next_hit += 1;
            }
            let mut line_hits = next_hit;
            while hits.get(line_hits).is_some_and(|h| h.start < end) {
                line_hits += 1;
            }
            let hit = line_hits > next_hit;
            // Inside a text block a bracketed line may be text (`{{- if … }}` in a
            // Helm template): `line` decides, so the block is not split by it.
            if !hit && self.doc.is_none() && self.text.is_empty() && is_json_line(line) {
                if let Some((from, _)) = clean_run {
                    clean_run = Some((from, end));
                } else {
                    self.flush_text()?;
                    clean_run = Some((start, end));
                }
            } else {
                if let Some((from, to)) = clean_run.take() {
                    self.out.write_all(&bytes[from..to])?;
                }
                self.line(line, Some(Hits::new(&hits[next_hit..line_hits], start)))?;
            }
            start = end;
        }
        if let Some((from, to)) = clean_run {
            self.out.write_all(&bytes[from..to])?;
        }
        Ok(())
    }

    /// One line; `hits`, when known, says where the prefilter's hits in it are.
    fn line(&mut self, line: &str, hits: Option<Hits<'_>>) -> io::Result<()> {
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
                // The text block stays open until the document proves to be JSON.
                self.doc = Some(Doc {
                    text: line.to_owned(),
                    indent: indent(line),
                    close: if open == '{' { '}' } else { ']' },
                });
                return Ok(());
            }
            // A bracketed line that is not JSON is text, and must not split the block
            // it is in: the context of a secret (`kind: Secret`, `-----BEGIN`) may be
            // before it and the secret after it.
            let may_match = match hits {
                Some(hits) => hits.within((0, line.len())),
                None => self.engine.may_match(line),
            };
            if !may_match && (self.text.is_empty() || raw::is_json(line)) {
                self.flush_text()?;
                return self.out.write_all(line.as_bytes());
            }
            if let Some(redacted) = as_json(self.engine, line, hits, &mut self.memo) {
                self.flush_text()?;
                return self.out.write_all(redacted.as_bytes());
            }
        }
        self.push_text(line);
        if self.text.len() >= MAX_BLOCK
            || (self.text.len() >= TEXT_BLOCK && !self.may_continue_a_secret(line))
        {
            self.flush_text()?;
        }
        Ok(())
    }

    /// Adds text to the block, keeping track of an open PEM block in constant time per
    /// line (a search of the whole block per line made long text quadratic).
    fn push_text(&mut self, text: &str) {
        match (text.rfind("-----BEGIN"), text.rfind("-----END")) {
            (Some(begin), Some(end)) => self.pem_open = begin > end,
            (Some(_), None) => self.pem_open = true,
            (None, Some(_)) => self.pem_open = false,
            (None, None) => {}
        }
        self.text.push_str(text);
    }

    /// Whether the next line may hold the rest of a secret that starts in the block:
    /// inside a PEM block, or after a YAML `name:` entry whose `value:` follows.
    fn may_continue_a_secret(&self, line: &str) -> bool {
        if self.text.len() >= CONTINUE_LIMIT {
            return false;
        }
        let entry = line.trim_start().trim_start_matches("- ").trim_start();
        self.pem_open
            || entry
                .get(..5)
                .is_some_and(|k| k.eq_ignore_ascii_case("name:"))
    }

    fn finish_doc(&mut self, doc: &Doc) -> io::Result<()> {
        if let Some(redacted) = as_json(self.engine, &doc.text, None, &mut self.memo) {
            self.flush_text()?;
            return self.out.write_all(redacted.as_bytes());
        }
        // Not JSON after all (a brace in a stack trace): it is text.
        self.push_text(&doc.text);
        Ok(())
    }

    fn flush_text(&mut self) -> io::Result<()> {
        if self.text.is_empty() {
            return Ok(());
        }
        let redacted = self.engine.redact(&self.text);
        match &redacted {
            Cow::Borrowed(text) => self.out.write_all(text.as_bytes())?,
            // A secret across lines (`"-----BEGIN … KEY-----` then `\nkey":"v"}`) can
            // join text lines into a JSON line, which then gets the JSON rules, as it
            // would on a second pass.
            Cow::Owned(text) => {
                for line in text.split_inclusive('\n') {
                    match is_json_line(line)
                        .then(|| raw::redact(self.engine, line))
                        .flatten()
                    {
                        Some(json) => self.out.write_all(json.as_bytes())?,
                        None => self.out.write_all(line.as_bytes())?,
                    }
                }
            }
        }
        drop(redacted);
        self.text.clear();
        self.pem_open = false;
        Ok(())
    }
}

/// `text` redacted as JSON, or as text that redaction turns into JSON (which then gets
/// the JSON rules at once); `None` when it is neither, and is text.
fn as_json<'a, 'e>(
    engine: &'e Engine,
    text: &'a str,
    hits: Option<Hits<'_>>,
    memo: &mut KeyMemo<'e>,
) -> Option<Cow<'a, str>> {
    raw::redact_with_hits(engine, text, hits, Some(memo))
        .or_else(|| raw::redacted_into_json(engine, text).map(Cow::Owned))
}

/// A line that [`LineRedactor::line`] would treat as one JSON value (not the opening
/// bracket of a pretty-printed document).
fn is_json_line(line: &str) -> bool {
    let trimmed = line.trim();
    trimmed.len() > 1 && trimmed.starts_with(['{', '['])
}

#[cfg(test)]
mod tests {
    use std::io::{BufReader, Read};

    use crate::redact::Redactor;

    /// Lines of log text, each naming its namespace, then a read error.
    struct LogsThenError {
        left: usize,
        line: Vec<u8>,
        at: usize,
    }

    impl Read for LogsThenError {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("the input broke off"));
            }
            let mut n = 0;
            while n < buf.len() && self.left > 0 {
                buf[n] = self.line[self.at];
                n += 1;
                self.at += 1;
                if self.at == self.line.len() {
                    self.at = 0;
                    self.left -= 1;
                }
            }
            Ok(n)
        }
    }

    #[test]
    fn json_lines_in_a_stream_redact_as_each_line_alone_with_keys_remembered_across_lines() {
        // The stream redacts a string with the chunk's prefilter hits and remembers what
        // it made of each key; both must give what redacting each line alone gives,
        // also once the memo of keys has filled up and started over.
        use std::fmt::Write as _;

        use crate::redact::testgen::{fill, random};
        let redactor = Redactor::default();
        let keys = [
            "session_id",
            "prompt_tokens",
            "api_key",
            "dbPassword",
            "authorization",
            "msg",
            "url",
        ];
        let mut input = String::new();
        for i in 0..3_000 {
            let key = keys[i % keys.len()];
            // Many distinct keys with a key word in them, so the memo starts over.
            let unique = format!("token_{}", random("l", 8));
            let url = fill("/api/v1/items/{d:6}?session_id={h:32}&page={d:2}");
            let value = match i % 4 {
                0 => fill("sk_live_{a:24}"),
                1 => url.clone(),
                2 => fill("postgres://app:{a:12}@db:5432/shop"),
                _ => format!("{}", fastrand::u16(..)),
            };
            writeln!(
                input,
                "{{\"{key}\":\"{value}\",\"{unique}\":{i},\"url\":\"{url}\",\"n\":{{\"{key}\":[\"--password\",\"{}\"]}}}}",
                random("a", 12)
            )
            .expect("writing to a String cannot fail");
        }
        let mut out = Vec::new();
        redactor
            .redact_stream(input.as_bytes(), &mut out)
            .expect("writing to a Vec cannot fail");
        let out = String::from_utf8(out).expect("redaction keeps UTF-8");
        let mut changed = 0;
        for (line, got) in input.split_inclusive('\n').zip(out.split_inclusive('\n')) {
            let alone = crate::redact::raw::redact(&redactor.engine, line).expect("a JSON line");
            changed += usize::from(alone != line);
            assert_eq!(got, alone, "line {line:?}");
        }
        assert_eq!(out.lines().count(), 3_000);
        assert!(
            changed >= 2_999,
            "only {changed} lines had a secret redacted"
        );
    }

    #[test]
    fn long_plain_text_is_written_out_in_blocks_not_held_until_the_end() {
        // `namespace=` once made every line look like a YAML `name:` entry, so the block
        // was held (and searched per line) up to 16 MiB: quadratic time on log text.
        let line = format!(
            "level=info namespace=shop-prod pod=web-{} msg=\"request completed\"\n",
            fastrand::u32(..)
        )
        .into_bytes();
        let lines = 3 * 1024 * 1024 / line.len();
        let reader = LogsThenError {
            left: lines,
            line: line.clone(),
            at: 0,
        };
        let mut out = Vec::new();
        let err = Redactor::default()
            .redact_stream(BufReader::new(reader), &mut out)
            .expect_err("the input broke off");
        assert_eq!(err.to_string(), "the input broke off");
        assert!(
            out.len() >= 1024 * 1024,
            "only {} bytes were written before the end of the input",
            out.len()
        );
        assert!(out.starts_with(&line), "clean text passes unchanged");
    }
}
